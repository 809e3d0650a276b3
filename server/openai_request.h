// Parsing and validating the body of POST /v1/completions and
// /v1/chat/completions into what the engine takes (GenerationOptions) plus
// what only the server handles (stop strings, streaming). Pure functions of
// the body and the server's defaults: no engine, no sockets (fuzzed by
// tests/fuzz/server_request_fuzz.cc).
//
// Fields (OpenAI's, with their types checked; null means "the default"):
//   model (string; the served name), prompt (completions: a string, [string]
//   or [token ids]), messages (chat: [{role, content}] where content is a
//   string or [{"type": "text", "text": ...}]), max_tokens (chat also
//   max_completion_tokens; 1 .. the context), temperature [0, 2], top_p (0, 1],
//   seed (>= 0), stop (string or up to 16 strings), n (1 only), stream,
//   stream_options.include_usage.
// Extensions (vLLM's names): top_k (0 or -1 = off), ignore_eos, and the
// per-request speculation object
//   "speculative": {"enabled": false}  or  {"slice": "quarter", "draft_max": 3, ...}
// whose keys are the long flags of `matspec generate` for the draft
// (draft-max, draft-min, draft-p-min, draft-vocab, draft-ffn, draft-skip,
// matformer-slice-name; "_" may stand for "-"; "slice" is short for
// matformer-slice-name). The slice table and other files stay the server's.
// Fields a client may send that the server cannot honour (n > 1, best_of > 1,
// logprobs, echo, suffix, penalties, logit_bias, tools) are refused with 400;
// other unknown fields are ignored, as vLLM does.
#ifndef MATSPEC_SERVER_OPENAI_REQUEST_H_
#define MATSPEC_SERVER_OPENAI_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matspec/matspec.h"
#include "server/api_error.h"
#include "server/chat_template.h"

namespace matspec::server {

enum class Endpoint { kCompletions, kChatCompletions };

// What every request starts from: the server's command line.
struct ServingDefaults {
  GenerationOptions generation;  // the default draft, n-predict, sampling and context
  std::string model_name;        // the name /v1/models lists and requests may give
  int64_t context_size = 0;      // tokens the context holds (--ctx-size, or the model's maximum)
  ChatTemplate chat_template = ChatTemplate::kPlain;
};

// Bodies nested deeper than this are refused before anything is built from them.
inline constexpr int kMaxBodyJsonDepth = 32;
// Stop strings per request, and bytes per stop string.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;                 // as the client gave it ("" = not given)
  std::string prompt;                // text to encode (chat: after the template)
  std::vector<int32_t> prompt_ids;   // completions with token ids: submitted as they are
  bool has_prompt_ids = false;
  GenerationOptions options;         // defaults + this request's fields
  std::vector<std::string> stop;     // stop strings (the template's included)
  bool stream = false;
  bool include_usage = false;        // stream_options.include_usage: a last chunk with usage
  std::string max_tokens_field = "max_tokens";  // or "max_completion_tokens" (chat): named in errors
};

// Parses `body` for `endpoint`. On success fills *out and returns nullopt;
// otherwise the 400 (or 404 for an unknown model) to answer, naming the field.
std::optional<ApiError> ParseCompletionRequest(std::string_view body, Endpoint endpoint,
                                               const ServingDefaults& defaults, CompletionRequest* out);

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_OPENAI_REQUEST_H_
