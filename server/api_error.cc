#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace matspec::server {
namespace {

nlohmann::json NullIfEmpty(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

ApiError BadRequest(std::string message, std::string param, std::string code) {
  return ApiError{.http_status = 400,
                  .message = std::move(message),
                  .type = "invalid_request_error",
                  .param = std::move(param),
                  .code = std::move(code)};
}

ApiError ServerError(int http_status, std::string message, std::string code) {
  return ApiError{.http_status = http_status,
                  .message = std::move(message),
                  .type = "server_error",
                  .param = "",
                  .code = std::move(code)};
}

ApiError FromStatus(const absl::Status& status, std::string param) {
  ApiError e = BadRequest(std::string(status.message()), std::move(param));
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      e.http_status = 400;
      break;
    case absl::StatusCode::kOutOfRange:
      e.http_status = 400;
      e.code = "context_length_exceeded";
      break;
    case absl::StatusCode::kResourceExhausted:
      e.http_status = 503;
      e.type = "server_error";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

std::string ErrorJson(const ApiError& error) {
  const nlohmann::json body = {{"error",
                                {{"message", error.message},
                                 {"type", error.type},
                                 {"param", NullIfEmpty(error.param)},
                                 {"code", NullIfEmpty(error.code)}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace matspec::server
