// A strict RFC 4180 CSV reader for the small tables matspec keeps as data
// (matformer_configs/*.csv). Strict, because a silently mis-split row of a
// slice table would give a wrong draft model rather than an error.
//
// Accepted: fields separated by `,`; records ended by CRLF, LF or a lone CR;
// quoted fields ("...") that may hold commas, line breaks and doubled quotes
// (""), kept verbatim; a UTF-8 byte-order mark at the very start (skipped);
// empty lines anywhere (skipped, so blank trailing lines are fine). Fields are
// not trimmed. Rejected with InvalidArgument naming `source`, the line and the
// column: a quote inside an unquoted field, a quoted field never closed, and
// anything but `,` or a line break after a closing quote.
#ifndef MATSPEC_DRAFT_CSV_H_
#define MATSPEC_DRAFT_CSV_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

struct CsvRecord {
  int64_t line = 0;                 // 1-based line on which the record starts
  std::vector<std::string> fields;  // unquoted field values, in order
};

// Splits `text` into records. `source` (usually a path) prefixes every error,
// e.g. `t.csv:3:7: broken CSV quoting: quote inside an unquoted field`.
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view source);

}  // namespace matspec

#endif  // MATSPEC_DRAFT_CSV_H_
