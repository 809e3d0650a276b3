// Token lists for a reduced-vocabulary draft head (--draft-vocab-file): the
// token ids a draft may propose, most useful first (e.g. ranked by frequency
// in a corpus, as tools/token_frequencies.py writes them).
//
// File format: token ids as decimal integers separated by whitespace or
// commas; '#' starts a comment that runs to the end of the line.
#ifndef MATSPEC_DRAFT_TOKEN_LIST_H_
#define MATSPEC_DRAFT_TOKEN_LIST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

// Reads the list at `path` in file order. NotFound when it does not exist;
// InvalidArgument for a directory, device or FIFO, a file over
// kMaxTokenListBytes (engine/bounded_file.h), and whatever ParseTokenList refuses.
absl::StatusOr<std::vector<int32_t>> LoadTokenList(const std::string& path, int64_t vocab);

// Parses a list's text; `source` prefixes errors. InvalidArgument naming the
// source and the line for a token that is not a number, an id outside
// [0, vocab), a repeated id or an empty list.
absl::StatusOr<std::vector<int32_t>> ParseTokenList(std::string_view text, std::string_view source, int64_t vocab);

}  // namespace matspec

#endif  // MATSPEC_DRAFT_TOKEN_LIST_H_
