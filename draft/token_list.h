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
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

// Reads the list at `path` in file order. NotFound when it cannot be opened;
// InvalidArgument naming the file and the position for a token that is not a
// number, an id outside [0, vocab), a repeated id or an empty list.
absl::StatusOr<std::vector<int32_t>> LoadTokenList(const std::string& path, int64_t vocab);

}  // namespace matspec

#endif  // MATSPEC_DRAFT_TOKEN_LIST_H_
