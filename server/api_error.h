// OpenAI's error object and the HTTP status that goes with it. Every error the
// server answers, from a malformed body to a full queue, is one of these:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
#ifndef MATSPEC_SERVER_API_ERROR_H_
#define MATSPEC_SERVER_API_ERROR_H_

#include <string>

#include "absl/status/status.h"

namespace matspec::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // OpenAI's error types
  std::string param;                           // the offending body field ("" = null)
  std::string code;                            // a machine-readable code ("" = null)
};

// 400 invalid_request_error naming `param`.
ApiError BadRequest(std::string message, std::string param = "", std::string code = "");
// A server_error (503 full or shutting down, 500) with a machine-readable code.
ApiError ServerError(int http_status, std::string message, std::string code = "");

// An engine status as the client should see it: InvalidArgument, NotFound,
// OutOfRange and FailedPrecondition are the request's fault (400; OutOfRange
// is "context_length_exceeded"); ResourceExhausted is 503; the rest are 500.
ApiError FromStatus(const absl::Status& status, std::string param = "");

// The JSON body {"error": {...}}.
std::string ErrorJson(const ApiError& error);

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_API_ERROR_H_
