#include "server/chat_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace matspec::server {
namespace {

std::optional<ApiError> RenderGemma(const std::vector<ChatMessage>& messages, RenderedChat* out) {
  std::string system;
  std::vector<const ChatMessage*> turns;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      absl::StrAppend(&system, system.empty() ? "" : "\n", m.content);
    } else {
      turns.push_back(&m);
    }
  }
  for (size_t i = 0; i < turns.size(); ++i) {
    const char* expected = i % 2 == 0 ? "user" : "assistant";
    if (turns[i]->role != expected) {
      return BadRequest(absl::StrCat("messages: the Gemma chat template needs user and assistant turns in "
                                     "alternation, starting with user; message ",
                                     i, " (not counting system messages) has role \"", turns[i]->role, "\""),
                        "messages");
    }
  }
  if (turns.empty() || turns.size() % 2 == 0) {
    return BadRequest("messages: the conversation must end with a user message", "messages");
  }
  // The engine wraps the whole text in "<start_of_turn>user\n" ... "<end_of_turn>\n<start_of_turn>model\n".
  std::string text = system.empty() ? "" : absl::StrCat(system, "\n\n");
  for (size_t i = 0; i < turns.size(); ++i) {
    if (i > 0) {
      absl::StrAppend(&text, "<end_of_turn>\n<start_of_turn>", i % 2 == 0 ? "user" : "model", "\n");
    }
    absl::StrAppend(&text, turns[i]->content);
  }
  out->prompt = std::move(text);
  out->engine_chat = true;
  return std::nullopt;
}

std::optional<ApiError> RenderPlain(const std::vector<ChatMessage>& messages, RenderedChat* out) {
  std::string text;
  for (const ChatMessage& m : messages) {
    const char* label = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
    absl::StrAppend(&text, label, ": ", m.content, "\n");
  }
  absl::StrAppend(&text, "Assistant:");
  out->prompt = std::move(text);
  out->engine_chat = false;
  out->stop_strings = {"\nUser:"};
  return std::nullopt;
}

}  // namespace

ChatTemplate ChatTemplateFor(const std::string& model_type) {
  return absl::StartsWith(model_type, "gemma") ? ChatTemplate::kGemmaTurns : ChatTemplate::kPlain;
}

std::optional<ApiError> RenderChat(ChatTemplate chat_template, const std::vector<ChatMessage>& messages,
                                   RenderedChat* out) {
  if (messages.empty()) return BadRequest("messages: at least one message is needed", "messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return BadRequest(absl::StrCat("messages[", i, "].role: expected system, user or assistant, got \"", role,
                                     "\""),
                        "messages");
    }
  }
  return chat_template == ChatTemplate::kGemmaTurns ? RenderGemma(messages, out) : RenderPlain(messages, out);
}

}  // namespace matspec::server
