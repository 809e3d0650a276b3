// libFuzzer: the body of POST /v1/completions and /v1/chat/completions
// (server/openai_request.h), parsed for both endpoints. Every body must end
// as either a request whose options pass GenerationOptions::Validate() or an
// OpenAI error object with a status of 400 or 404 and a message; never a
// throw, a crash or a sanitizer report.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/api_error.h"
#include "server/openai_request.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

matspec::server::ServingDefaults Defaults() {
  matspec::server::ServingDefaults d;
  d.model_name = "matlm-tiny";
  d.context_size = 1024;
  d.generation.draft.slice_table = "matformer_configs/matlm-tiny.csv";
  d.generation.draft.slice_name = "quarter";
  return d;
}

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "broken promise: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const matspec::server::ServingDefaults defaults = Defaults();
  const std::string_view body = matspec::fuzz::AsText(data, size);
  for (auto endpoint : {matspec::server::Endpoint::kCompletions, matspec::server::Endpoint::kChatCompletions}) {
    matspec::server::CompletionRequest request;
    const std::optional<matspec::server::ApiError> error =
        matspec::server::ParseCompletionRequest(body, endpoint, defaults, &request);
    if (error) {
      Check(error->http_status == 400 || error->http_status == 404, "an error status other than 400/404");
      Check(!error->message.empty(), "an error without a message");
      Check(!matspec::server::ErrorJson(*error).empty(), "an empty error object");
      continue;
    }
    Check(request.options.Validate().ok(), "accepted options that Validate() refuses");
    Check(request.options.max_new_tokens >= 1 && request.options.max_new_tokens <= defaults.context_size,
          "max_tokens outside [1, context]");
    for (const std::string& stop : request.stop) Check(!stop.empty(), "an empty stop string");
  }
  return 0;
}
