// The JSON the server answers with, in OpenAI's shapes: completion and chat
// completion objects, their streaming chunks (server-sent events, ending with
// "data: [DONE]"), `usage` with this request's speculation statistics, and
// the model list.
//
// usage = {prompt_tokens, completion_tokens, total_tokens,            (OpenAI)
//          drafted_tokens, accepted_tokens, acceptance_rate,          (vLLM's definitions)
//          mean_acceptance_length, num_drafts, accepted_per_position,
//          draft_slice ("" when not speculative)}
#ifndef MATSPEC_SERVER_OPENAI_RESPONSE_H_
#define MATSPEC_SERVER_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>

#include "matspec/matspec.h"
#include "server/openai_request.h"

namespace matspec::server {

// Identifies one response: its id ("cmpl-N" / "chatcmpl-N"), creation time and model.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// OpenAI's finish_reason for an engine stop_reason ("eos" -> "stop",
// "length"/"context" -> "length", "cancelled" -> "abort"); a stop string
// that matched makes it "stop".
std::string FinishReason(const std::string& stop_reason, bool stop_string_matched);

std::string UsageJson(const GenerationStats& stats);

// The whole non-streaming answer.
std::string CompletionJson(const ResponseHeader& header, const std::string& text, const std::string& finish_reason,
                           const GenerationStats& stats);

// One streaming chunk: `text` so far unseen; `finish_reason` "" until the last
// text chunk; chat's first chunk carries the role (`first`).
std::string ChunkJson(const ResponseHeader& header, const std::string& text, const std::string& finish_reason,
                      bool first);
// The chunk that streams usage (stream_options.include_usage): no choices.
std::string UsageChunkJson(const ResponseHeader& header, const GenerationStats& stats);

// "data: <json>\n\n", the server-sent event that carries one chunk.
std::string SseEvent(const std::string& json);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

// GET /v1/models
std::string ModelsJson(const std::string& model, int64_t created);

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_OPENAI_RESPONSE_H_
