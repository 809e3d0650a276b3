// Integer width expressions and bracketed lists of them, as written in the
// `FFN Hidden Dims` and `Layers Skipped` columns of a MatFormer slice table
// ("[2_048 * 4, 2_048 * 8]", "[20, 21, 22]").
//
// Expression grammar (whitespace allowed between tokens):
//   expr   := term (('+' | '-') term)*
//   term   := factor ('*' factor)*
//   factor := ('+' | '-') factor | '(' expr ')' | number
//   number := digit ('_'? digit)*        e.g. 16384, 16_384
// Arithmetic is int64 and checked: overflow is an error, never a wrap.
#ifndef MATSPEC_DRAFT_INT_EXPR_H_
#define MATSPEC_DRAFT_INT_EXPR_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

// Evaluates one expression. InvalidArgument quoting `text` on a syntax error
// (with the 0-based offset), trailing text, an empty expression, parentheses
// nested deeper than 64, or int64 overflow.
absl::StatusOr<int64_t> EvalIntExpr(std::string_view text);

// Parses "[e1, e2, ...]" (whitespace-tolerant) into the values of its items.
// "[]" is accepted only when `allow_empty`. InvalidArgument quoting the list
// when the brackets are missing, an item is empty ("[1,,2]", "[1,]") or an
// item does not evaluate (the message then says which item, 1-based).
absl::StatusOr<std::vector<int64_t>> ParseIntList(std::string_view text, bool allow_empty);

}  // namespace matspec

#endif  // MATSPEC_DRAFT_INT_EXPR_H_
