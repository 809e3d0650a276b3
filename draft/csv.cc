#include "draft/csv.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace matspec {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Where a CSV reader stands inside the current field.
enum class FieldState {
  kStart,       // nothing read yet
  kUnquoted,    // inside a plain field
  kQuoted,      // inside "...", the closing quote not yet seen
  kAfterQuote,  // just past the closing quote: only `,` or a line break may follow
};

class CsvReader {
 public:
  // Abseil 20220623 here has its own absl::string_view (not std's), so the
  // reader works on absl views built from the caller's std views.
  CsvReader(std::string_view text, std::string_view source)
      : text_(text.data(), text.size()), source_(source.data(), source.size()) {}

  absl::StatusOr<std::vector<CsvRecord>> Read() {
    if (text_.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
      pos_ = line_start_ = kUtf8Bom.size();
    }
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      switch (state_) {
        case FieldState::kStart:
        case FieldState::kUnquoted:
          if (c == ',') {
            EndField();
          } else if (c == '\n' || c == '\r') {
            EndRecord();
            ConsumeLineBreak();
            continue;
          } else if (c == '"') {
            if (state_ == FieldState::kUnquoted) {
              return Error(line_, Column(),
                           "quote inside an unquoted field (quote the whole field "
                           "and double the quote)");
            }
            state_ = FieldState::kQuoted;
            quoted_ = true;
            quote_line_ = line_;
            quote_column_ = Column();
          } else {
            field_.push_back(c);
            state_ = FieldState::kUnquoted;
          }
          break;
        case FieldState::kQuoted:
          if (c == '"') {
            if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
              field_.push_back('"');
              ++pos_;
            } else {
              state_ = FieldState::kAfterQuote;
            }
          } else if (c == '\n' || c == '\r') {
            // A line break inside quotes is data; keep it verbatim (CRLF too).
            field_.push_back(c);
            if (c == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') field_.push_back('\n');
            ConsumeLineBreak();
            continue;
          } else {
            field_.push_back(c);
          }
          break;
        case FieldState::kAfterQuote:
          if (c == ',') {
            EndField();
          } else if (c == '\n' || c == '\r') {
            EndRecord();
            ConsumeLineBreak();
            continue;
          } else {
            return Error(line_, Column(),
                         absl::StrCat("unexpected '", std::string(1, c),
                                      "' after the closing quote of a field (expected ',' or end of "
                                      "line)"));
          }
          break;
      }
      ++pos_;
    }
    if (state_ == FieldState::kQuoted) {
      return Error(quote_line_, quote_column_, "quoted field is never closed (missing closing quote)");
    }
    // The last record need not end with a line break.
    if (state_ != FieldState::kStart || !fields_.empty()) EndRecord();
    return std::move(records_);
  }

 private:
  int64_t Column() const { return static_cast<int64_t>(pos_ - line_start_) + 1; }

  // Advances past the line break at pos_ (CRLF, LF or a lone CR).
  void ConsumeLineBreak() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }

  void EndField() {
    fields_.push_back(std::move(field_));
    field_.clear();
    state_ = FieldState::kStart;
    quoted_ = false;
  }

  void EndRecord() {
    const bool blank_line = fields_.empty() && field_.empty() && !quoted_;
    EndField();
    if (!blank_line) records_.push_back(CsvRecord{record_line_, std::move(fields_)});
    fields_.clear();
    // The next record starts on the line after this record's line break.
    record_line_ = line_ + 1;
  }

  absl::Status Error(int64_t line, int64_t column, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": line ", line, ", column ", column, ": broken CSV quoting: ", what));
  }

  absl::string_view text_;
  absl::string_view source_;
  size_t pos_ = 0;
  size_t line_start_ = 0;  // offset of the first byte of the current line
  int64_t line_ = 1;
  int64_t record_line_ = 1;
  FieldState state_ = FieldState::kStart;
  bool quoted_ = false;  // the current field was quoted
  int64_t quote_line_ = 0;
  int64_t quote_column_ = 0;
  std::string field_;
  std::vector<std::string> fields_;
  std::vector<CsvRecord> records_;
};

}  // namespace

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view source) {
  return CsvReader(text, source).Read();
}

}  // namespace matspec
