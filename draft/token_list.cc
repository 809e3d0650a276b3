#include "draft/token_list.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace matspec {

absl::StatusOr<std::vector<int32_t>> LoadTokenList(const std::string& path, int64_t vocab) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the token list"));
  std::vector<int32_t> ids;
  std::unordered_set<int32_t> seen;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    for (char& c : line) {
      if (c == ',') c = ' ';
    }
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(word, &id)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ": \"", word, "\" is not a token id (a non-negative integer)"));
      }
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ": token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
      }
      if (!seen.insert(static_cast<int32_t>(id)).second) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": token id ", id, " is listed twice"));
      }
      ids.push_back(static_cast<int32_t>(id));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": the token list is empty"));
  return ids;
}

}  // namespace matspec
