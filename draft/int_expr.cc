#include "draft/int_expr.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

constexpr int kMaxDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Recursive-descent evaluator over one expression; `pos_` is the next byte.
class ExprParser {
 public:
  explicit ExprParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<int64_t> Run() {
    SkipSpace();
    if (pos_ == text_.size()) return Error("empty expression");
    ASSIGN_OR_RETURN(int64_t value, Expr(0));
    SkipSpace();
    if (pos_ != text_.size()) {
      return Error(absl::StrCat("unexpected trailing text \"", text_.substr(pos_), "\" at offset ", pos_));
    }
    return value;
  }

 private:
  absl::StatusOr<int64_t> Expr(int depth) {
    ASSIGN_OR_RETURN(int64_t value, Term(depth));
    while (true) {
      SkipSpace();
      if (pos_ == text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) return value;
      const char op = text_[pos_++];
      ASSIGN_OR_RETURN(int64_t rhs, Term(depth));
      const bool overflow =
          op == '+' ? __builtin_add_overflow(value, rhs, &value) : __builtin_sub_overflow(value, rhs, &value);
      if (overflow) return Error("integer overflow");
    }
  }

  absl::StatusOr<int64_t> Term(int depth) {
    ASSIGN_OR_RETURN(int64_t value, Factor(depth));
    while (true) {
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != '*') return value;
      ++pos_;
      ASSIGN_OR_RETURN(int64_t rhs, Factor(depth));
      if (__builtin_mul_overflow(value, rhs, &value)) return Error("integer overflow");
    }
  }

  absl::StatusOr<int64_t> Factor(int depth) {
    if (depth > kMaxDepth) return Error("expression nested too deeply");
    SkipSpace();
    if (pos_ == text_.size()) return Error("expression ends where a number was expected");
    const char c = text_[pos_];
    if (c == '+' || c == '-') {
      ++pos_;
      ASSIGN_OR_RETURN(int64_t value, Factor(depth + 1));
      if (c == '-' && __builtin_sub_overflow(int64_t{0}, value, &value)) {
        return Error("integer overflow");
      }
      return value;
    }
    if (c == '(') {
      const size_t open = pos_++;
      ASSIGN_OR_RETURN(int64_t value, Expr(depth + 1));
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != ')') {
        return Error(absl::StrCat("'(' at offset ", open, " is never closed"));
      }
      ++pos_;
      return value;
    }
    if (IsDigit(c)) return Number();
    return Error(absl::StrCat("unexpected '", std::string(1, c), "' at offset ", pos_,
                              " where a number was expected"));
  }

  absl::StatusOr<int64_t> Number() {
    int64_t value = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '_') {
        if (pos_ + 1 >= text_.size() || !IsDigit(text_[pos_ + 1])) {
          return Error(absl::StrCat("'_' at offset ", pos_, " must sit between two digits"));
        }
        ++pos_;
        continue;
      }
      if (!IsDigit(c)) break;
      if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
          __builtin_add_overflow(value, int64_t{c - '0'}, &value)) {
        return Error("integer overflow");
      }
      ++pos_;
    }
    return value;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("bad integer expression \"", text_, "\": ", what));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

// Abseil 20220623 here has its own absl::string_view (not std's): convert once
// at the boundary and use absl views inside.
absl::StatusOr<int64_t> EvalIntExpr(std::string_view text) {
  return ExprParser(absl::string_view(text.data(), text.size())).Run();
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(std::string_view std_text, bool allow_empty) {
  const absl::string_view text(std_text.data(), std_text.size());
  const absl::string_view list = absl::StripAsciiWhitespace(text);
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("bad list \"", text, "\": ", what));
  };
  if (list.size() < 2 || list.front() != '[' || list.back() != ']') {
    return error("expected a bracketed list such as [1, 2, 3]");
  }
  const absl::string_view inner = absl::StripAsciiWhitespace(list.substr(1, list.size() - 2));
  std::vector<int64_t> values;
  if (inner.empty()) {
    if (!allow_empty) return error("the list is empty");
    return values;
  }
  int item_index = 0;
  for (absl::string_view item : absl::StrSplit(inner, ',')) {
    ++item_index;
    if (absl::StripAsciiWhitespace(item).empty()) {
      return error(absl::StrCat("item ", item_index, " is empty"));
    }
    const absl::string_view expr = absl::StripAsciiWhitespace(item);
    absl::StatusOr<int64_t> value = EvalIntExpr(std::string_view(expr.data(), expr.size()));
    if (!value.ok()) return error(absl::StrCat("item ", item_index, ": ", value.status().message()));
    values.push_back(*value);
  }
  return values;
}

}  // namespace matspec
