// Turns an OpenAI `messages` array into the prompt text the model sees.
//
// kGemmaTurns (Gemma checkpoints): the Gemma turn format,
//   <start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n{assistant}<end_of_turn>\n...
//   <start_of_turn>model\n
// built on the engine's own `chat` option (GenerationOptions::chat), which
// adds the outermost user/model markers and stops at <end_of_turn>; the text
// returned here is what goes between them. Roles must alternate user /
// assistant, starting and ending with user; system messages are folded into the
// first user turn, as Gemma's own template does.
//
// kPlain (models without a chat template, e.g. the bundled matlm-tiny): one
// line per message, "System: ...", "User: ...", "Assistant: ...", then
// "Assistant:" for the reply, which stops at the next "\nUser:".
#ifndef MATSPEC_SERVER_CHAT_TEMPLATE_H_
#define MATSPEC_SERVER_CHAT_TEMPLATE_H_

#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"

namespace matspec::server {

enum class ChatTemplate { kPlain, kGemmaTurns };

// The template for a model type ("gemma3n", "llama", ...).
ChatTemplate ChatTemplateFor(const std::string& model_type);

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // text (array-of-parts content is joined before this point)
};

struct RenderedChat {
  std::string prompt;                      // the text to encode
  bool engine_chat = false;                // set GenerationOptions::chat (kGemmaTurns)
  std::vector<std::string> stop_strings;  // stops the template needs (kPlain: "\nUser:")
};

// A 400 naming "messages" when the conversation does not fit the template.
std::optional<ApiError> RenderChat(ChatTemplate chat_template, const std::vector<ChatMessage>& messages,
                                   RenderedChat* out);

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_CHAT_TEMPLATE_H_
