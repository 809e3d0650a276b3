#include "draft/token_list.h"

#include <unordered_set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/bounded_file.h"
#include "engine/status_macros.h"

namespace matspec {

absl::StatusOr<std::vector<int32_t>> ParseTokenList(std::string_view text, std::string_view std_source,
                                                    int64_t vocab) {
  const std::string source(std_source);
  std::vector<int32_t> ids;
  std::unordered_set<int32_t> seen;
  int64_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    for (absl::string_view word : absl::StrSplit(line, absl::ByAnyChar(", \t\r\v\f"), absl::SkipEmpty())) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(word, &id)) {
        std::string shown(word.substr(0, 40));
        if (word.size() > 40) shown += "...";
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", line_no, ": \"", shown, "\" is not a token id (a non-negative integer)"));
      }
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", line_no, ": token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
      }
      if (!seen.insert(static_cast<int32_t>(id)).second) {
        return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": token id ", id, " is listed twice"));
      }
      ids.push_back(static_cast<int32_t>(id));
    }
  }
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": the token list is empty"));
  return ids;
}

absl::StatusOr<std::vector<int32_t>> LoadTokenList(const std::string& path, int64_t vocab) {
  ASSIGN_OR_RETURN(const std::string text, ReadBoundedFile(path, kMaxTokenListBytes, "token list"));
  return ParseTokenList(text, path, vocab);
}

}  // namespace matspec
