// The two status macros Abseil 20220623 lacks. Errors are values: every module
// boundary returns absl::Status / absl::StatusOr, and these keep call sites flat.
#ifndef MATSPEC_ENGINE_STATUS_MACROS_H_
#define MATSPEC_ENGINE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MATSPEC_CONCAT_INNER_(a, b) a##b
#define MATSPEC_CONCAT_(a, b) MATSPEC_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status matspec_status_ = (expr);           \
    if (!matspec_status_.ok()) return matspec_status_; \
  } while (0)

// `lhs` = value of the StatusOr `expr`, or return its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(MATSPEC_CONCAT_(matspec_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // MATSPEC_ENGINE_STATUS_MACROS_H_
