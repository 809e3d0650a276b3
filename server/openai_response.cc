#include "server/openai_response.h"

#include <nlohmann/json.hpp>

#include "server/metrics.h"

namespace matspec::server {
namespace {

using Json = nlohmann::json;

// Text may end inside a UTF-8 character only if the model emitted invalid
// bytes; they are replaced rather than thrown on.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json Usage(const GenerationStats& s) {
  return {
      {"prompt_tokens", s.prompt_tokens},
      {"completion_tokens", s.generated_tokens},
      {"total_tokens", s.prompt_tokens + s.generated_tokens},
      {"drafted_tokens", s.drafted_tokens},
      {"accepted_tokens", s.accepted_tokens},
      {"acceptance_rate", s.acceptance_rate},
      {"mean_acceptance_length", s.mean_acceptance_length},
      {"num_drafts", NumDrafts(s)},
      {"accepted_per_position", s.per_position_accepted},
      {"draft_slice", s.draft_slice},
  };
}

Json Base(const ResponseHeader& h, bool chunk) {
  const bool chat = h.endpoint == Endpoint::kChatCompletions;
  return {{"id", h.id},
          {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
          {"created", h.created},
          {"model", h.model}};
}

Json NullIfEmpty(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

}  // namespace

std::string FinishReason(const std::string& stop_reason, bool stop_string_matched) {
  if (stop_string_matched || stop_reason == "eos") return "stop";
  if (stop_reason == "length" || stop_reason == "context") return "length";
  return "abort";
}

std::string UsageJson(const GenerationStats& stats) { return Dump(Usage(stats)); }

std::string CompletionJson(const ResponseHeader& header, const std::string& text, const std::string& finish_reason,
                           const GenerationStats& stats) {
  Json body = Base(header, /*chunk=*/false);
  Json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  if (header.endpoint == Endpoint::kChatCompletions) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  body["choices"] = Json::array({choice});
  body["usage"] = Usage(stats);
  return Dump(body);
}

std::string ChunkJson(const ResponseHeader& header, const std::string& text, const std::string& finish_reason,
                      bool first) {
  Json body = Base(header, /*chunk=*/true);
  Json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", NullIfEmpty(finish_reason)}};
  if (header.endpoint == Endpoint::kChatCompletions) {
    Json delta = {{"content", text}};
    if (first) delta["role"] = "assistant";
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  body["choices"] = Json::array({choice});
  return Dump(body);
}

std::string UsageChunkJson(const ResponseHeader& header, const GenerationStats& stats) {
  Json body = Base(header, /*chunk=*/true);
  body["choices"] = Json::array();
  body["usage"] = Usage(stats);
  return Dump(body);
}

std::string SseEvent(const std::string& json) { return "data: " + json + "\n\n"; }

std::string ModelsJson(const std::string& model, int64_t created) {
  return Dump(Json{{"object", "list"},
                   {"data", Json::array({{{"id", model}, {"object", "model"}, {"created", created},
                                          {"owned_by", "matspec"}}})}});
}

}  // namespace matspec::server
