#include "server/openai_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "matspec/json.h"
#include "matspec/run_config.h"

namespace matspec::server {
namespace {

using Json = nlohmann::json;

// Type names as a client reads them in an error.
const char* TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    case Json::value_t::number_float: return "a number with a fraction";
    default: return "an integer";
  }
}

ApiError WrongType(const std::string& field, const char* want, const Json& got) {
  return BadRequest(absl::StrCat(field, ": expected ", want, ", got ", TypeName(got)), field);
}

// Parses without exceptions; bodies nested deeper than kMaxBodyJsonDepth are
// refused (the callback keeps nothing below that depth, so nothing deep is built).
std::optional<ApiError> ParseBody(std::string_view body, Json* out) {
  bool too_deep = false;
  Json::parser_callback_t limit_depth = [&too_deep](int depth, Json::parse_event_t event, Json&) {
    if (depth > kMaxBodyJsonDepth) {
      too_deep = true;
      return false;
    }
    return true;
  };
  *out = Json::parse(body.begin(), body.end(), limit_depth, /*allow_exceptions=*/false);
  if (too_deep) {
    return BadRequest(absl::StrCat("the body nests JSON deeper than ", kMaxBodyJsonDepth, " levels"));
  }
  if (out->is_discarded()) return BadRequest("the body is not valid JSON");
  if (!out->is_object()) return BadRequest(absl::StrCat("the body must be a JSON object, got ", TypeName(*out)));
  return std::nullopt;
}

// Reads an optional field: nullptr when absent or null.
const Json* Field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<ApiError> ReadInt(const Json& body, const char* name, int64_t min, int64_t max, int64_t* out) {
  const Json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) return WrongType(name, "an integer", *v);
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return BadRequest(absl::StrCat(name, ": must be at most ", max), name);
  }
  const int64_t i = v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
  if (i < min || i > max) return BadRequest(absl::StrCat(name, ": must be in [", min, ", ", max, "], got ", i), name);
  *out = i;
  return std::nullopt;
}

std::optional<ApiError> ReadNumber(const Json& body, const char* name, double min, double max, bool min_open,
                                   double* out) {
  const Json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return WrongType(name, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || d > max || d < min || (min_open && d == min)) {
    return BadRequest(absl::StrCat(name, ": must be in ", min_open ? "(" : "[", min, ", ", max, "], got ", d), name);
  }
  *out = d;
  return std::nullopt;
}

std::optional<ApiError> ReadBool(const Json& body, const char* name, bool* out) {
  const Json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return WrongType(name, "a boolean", *v);
  *out = v->get<bool>();
  return std::nullopt;
}

// Fields a client may send whose non-default values the server cannot honour.
std::optional<ApiError> RefuseUnsupported(const Json& body, Endpoint endpoint) {
  if (const Json* n = Field(body, "n"); n != nullptr && !(n->is_number_integer() && n->get<int64_t>() == 1)) {
    return BadRequest("n: only n = 1 is supported (one choice per request)", "n");
  }
  if (const Json* b = Field(body, "best_of"); b != nullptr && !(b->is_number_integer() && b->get<int64_t>() == 1)) {
    return BadRequest("best_of: only best_of = 1 is supported", "best_of");
  }
  if (const Json* l = Field(body, "logprobs");
      l != nullptr && !(l->is_boolean() && !l->get<bool>()) && !(l->is_number_integer() && l->get<int64_t>() == 0)) {
    return BadRequest("logprobs: log probabilities are not supported", "logprobs");
  }
  if (const Json* t = Field(body, "top_logprobs");
      t != nullptr && !(t->is_number_integer() && t->get<int64_t>() == 0)) {
    return BadRequest("top_logprobs: log probabilities are not supported", "top_logprobs");
  }
  if (const Json* e = Field(body, "echo"); e != nullptr && !(e->is_boolean() && !e->get<bool>())) {
    return BadRequest("echo: echoing the prompt is not supported", "echo");
  }
  if (const Json* s = Field(body, "suffix"); s != nullptr && !(s->is_string() && s->get<std::string>().empty())) {
    return BadRequest("suffix: suffixes are not supported", "suffix");
  }
  for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
    if (const Json* p = Field(body, penalty); p != nullptr && !(p->is_number() && p->get<double>() == 0.0)) {
      return BadRequest(absl::StrCat(penalty, ": penalties are not supported (0 only)"), penalty);
    }
  }
  if (const Json* b = Field(body, "logit_bias"); b != nullptr && !(b->is_object() && b->empty())) {
    return BadRequest("logit_bias: logit biases are not supported", "logit_bias");
  }
  if (endpoint == Endpoint::kChatCompletions) {
    for (const char* tools : {"tools", "functions"}) {
      if (const Json* t = Field(body, tools); t != nullptr && !(t->is_array() && t->empty())) {
        return BadRequest(absl::StrCat(tools, ": tool calling is not supported"), tools);
      }
    }
    if (const Json* f = Field(body, "response_format"); f != nullptr) {
      const Json* type = f->is_object() ? Field(*f, "type") : nullptr;
      if (type == nullptr || !type->is_string() || type->get<std::string>() != "text") {
        return BadRequest("response_format: only {\"type\": \"text\"} is supported", "response_format");
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ReadStop(const Json& body, std::vector<std::string>* stop) {
  const Json* v = Field(body, "stop");
  if (v == nullptr) return std::nullopt;
  std::vector<const Json*> items;
  if (v->is_string()) {
    items.push_back(v);
  } else if (v->is_array()) {
    if (v->size() > kMaxStopStrings) {
      return BadRequest(absl::StrCat("stop: at most ", kMaxStopStrings, " stop strings"), "stop");
    }
    for (const Json& item : *v) items.push_back(&item);
  } else {
    return WrongType("stop", "a string or an array of strings", *v);
  }
  for (const Json* item : items) {
    if (!item->is_string()) return WrongType("stop", "a string or an array of strings", *item);
    const std::string& s = item->get_ref<const std::string&>();
    if (s.empty() || s.size() > kMaxStopStringBytes) {
      return BadRequest(absl::StrCat("stop: each stop string must hold 1 to ", kMaxStopStringBytes, " bytes"), "stop");
    }
    stop->push_back(s);
  }
  return std::nullopt;
}

// The keys of "speculative" that a request may set: the draft's CLI flags.
bool IsPerRequestDraftOption(std::string_view name) {
  return name == "draft-max" || name == "draft-min" || name == "draft-p-min" || name == "draft-vocab" ||
         name == "draft-ffn" || name == "draft-skip" || name == "matformer-slice-name";
}

std::optional<ApiError> ReadSpeculative(const Json& body, GenerationOptions* options) {
  const Json* v = Field(body, "speculative");
  if (v == nullptr) return std::nullopt;
  if (v->is_boolean()) {  // "speculative": false is short for {"enabled": false}
    options->speculative = v->get<bool>();
    return std::nullopt;
  }
  if (!v->is_object()) return WrongType("speculative", "an object", *v);
  Json flags = Json::object();
  bool names_slice = false, names_flags = false;
  for (const auto& [key, value] : v->items()) {
    const std::string where = absl::StrCat("speculative.", key);
    if (key == "enabled") {
      if (!value.is_boolean()) return WrongType(where, "a boolean", value);
      options->speculative = value.get<bool>();
      continue;
    }
    std::string name = key == "slice" ? "matformer-slice-name" : absl::StrReplaceAll(key, {{"_", "-"}});
    if (!IsPerRequestDraftOption(name)) {
      return BadRequest(absl::StrCat(where,
                                     ": unknown or not settable per request (enabled, slice, draft_max, draft_min, "
                                     "draft_p_min, draft_vocab, draft_ffn, draft_skip)"),
                        where);
    }
    if (value.is_null()) continue;
    names_slice |= name == "matformer-slice-name";
    names_flags |= name == "draft-ffn" || name == "draft-skip";
    flags[name] = value;
  }
  // A slice from this request replaces the server's default draft.
  if (names_slice) {
    options->draft.ffn.clear();
    options->draft.skip.clear();
  } else if (names_flags) {
    options->draft.slice_table.clear();
    options->draft.slice_name.clear();
    options->draft.ffn.clear();
    options->draft.skip.clear();
  }
  RunConfig config;
  config.generation = *options;
  const absl::Status s = ApplyOptionsJson(flags.dump(), "speculative", &config, [](std::string_view name) {
    return IsPerRequestDraftOption(name) ? absl::OkStatus()
                                         : absl::InvalidArgumentError("not settable per request");
  });
  if (!s.ok()) return BadRequest(std::string(s.message()), "speculative");
  *options = config.generation;
  return std::nullopt;
}

std::optional<ApiError> ReadCompletionPrompt(const Json& body, CompletionRequest* out) {
  const Json* p = Field(body, "prompt");
  if (p == nullptr) return BadRequest("prompt: required", "prompt");
  if (p->is_string()) {
    out->prompt = p->get<std::string>();
    return std::nullopt;
  }
  if (!p->is_array()) return WrongType("prompt", "a string, an array of one string or an array of token ids", *p);
  if (p->size() == 1 && (*p)[0].is_string()) {
    out->prompt = (*p)[0].get<std::string>();
    return std::nullopt;
  }
  if (p->empty()) return BadRequest("prompt: the prompt is empty", "prompt");
  for (const Json& id : *p) {
    if (id.is_string()) return BadRequest("prompt: one prompt per request (n = 1)", "prompt");
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return BadRequest("prompt: token ids must be integers >= 0", "prompt");
    }
    out->prompt_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  out->has_prompt_ids = true;
  return std::nullopt;
}

std::optional<ApiError> ReadMessageContent(const Json& content, const std::string& where, std::string* text) {
  if (content.is_string()) {
    *text = content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) return WrongType(where, "a string or an array of text parts", content);
  for (const Json& part : content) {
    const Json* type = part.is_object() ? Field(part, "type") : nullptr;
    const Json* part_text = part.is_object() ? Field(part, "text") : nullptr;
    if (type == nullptr || !type->is_string() || type->get<std::string>() != "text" || part_text == nullptr ||
        !part_text->is_string()) {
      return BadRequest(absl::StrCat(where, ": only {\"type\": \"text\", \"text\": ...} parts are supported"), "messages");
    }
    text->append(part_text->get<std::string>());
  }
  return std::nullopt;
}

std::optional<ApiError> ReadChatPrompt(const Json& body, const ServingDefaults& defaults, CompletionRequest* out) {
  const Json* m = Field(body, "messages");
  if (m == nullptr) return BadRequest("messages: required", "messages");
  if (!m->is_array()) return WrongType("messages", "an array of messages", *m);
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < m->size(); ++i) {
    const Json& message = (*m)[i];
    const std::string where = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return WrongType(where, "an object", message);
    const Json* role = Field(message, "role");
    if (role == nullptr || !role->is_string()) {
      return BadRequest(absl::StrCat(where, ".role: expected a string"), "messages");
    }
    ChatMessage parsed{.role = role->get<std::string>(), .content = ""};
    if (parsed.role == "developer") parsed.role = "system";  // OpenAI's newer name for it
    if (const Json* content = Field(message, "content"); content != nullptr) {
      if (auto e = ReadMessageContent(*content, where + ".content", &parsed.content)) return e;
    }
    messages.push_back(std::move(parsed));
  }
  RenderedChat chat;
  if (auto e = RenderChat(defaults.chat_template, messages, &chat)) return e;
  out->prompt = std::move(chat.prompt);
  out->options.chat = chat.engine_chat;
  out->stop.insert(out->stop.end(), chat.stop_strings.begin(), chat.stop_strings.end());
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseCompletionRequest(std::string_view body_text, Endpoint endpoint,
                                               const ServingDefaults& defaults, CompletionRequest* out) {
  Json body;
  if (auto e = ParseBody(body_text, &body)) return e;
  *out = CompletionRequest{};
  out->endpoint = endpoint;
  out->options = defaults.generation;
  GenerationOptions& opt = out->options;

  if (const Json* model = Field(body, "model"); model != nullptr) {
    if (!model->is_string()) return WrongType("model", "a string", *model);
    out->model = model->get<std::string>();
    if (out->model != defaults.model_name) {
      ApiError e = BadRequest(absl::StrCat("model: \"", out->model, "\" is not served here (this server serves \"",
                                           defaults.model_name, "\")"),
                              "model", "model_not_found");
      e.http_status = 404;
      return e;
    }
  }
  if (auto e = RefuseUnsupported(body, endpoint)) return e;
  if (auto e = ReadBool(body, "stream", &out->stream)) return e;
  if (const Json* so = Field(body, "stream_options"); so != nullptr) {
    if (!so->is_object()) return WrongType("stream_options", "an object", *so);
    if (auto e = ReadBool(*so, "include_usage", &out->include_usage)) return e;
  }
  const int64_t context = defaults.context_size > 0 ? defaults.context_size : std::numeric_limits<int32_t>::max();
  const char* max_tokens_field =
      endpoint == Endpoint::kChatCompletions && Field(body, "max_completion_tokens") != nullptr ? "max_completion_tokens"
                                                                                                : "max_tokens";
  if (const Json* v = Field(body, max_tokens_field); v != nullptr && v->is_number_integer() && !v->is_number_unsigned() &&
                                                     v->get<int64_t>() < 1) {
    return BadRequest(absl::StrCat(max_tokens_field, ": must be at least 1"), max_tokens_field);
  }
  if (const Json* v = Field(body, max_tokens_field);
      v != nullptr && v->is_number_integer() &&
      (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(context) : v->get<int64_t>() > context)) {
    return BadRequest(absl::StrCat(max_tokens_field, ": ", v->dump(), " tokens do not fit in the context of ", context,
                                   " tokens"),
                      max_tokens_field, "context_length_exceeded");
  }
  if (auto e = ReadInt(body, max_tokens_field, 1, context, &opt.max_new_tokens)) return e;
  // A named max_tokens must fit beside the prompt (checked once the prompt is
  // tokenized: GenerationOptions::reserve_max_new_tokens); without one the
  // completion runs to the end of the context.
  opt.reserve_max_new_tokens = Field(body, max_tokens_field) != nullptr;
  out->max_tokens_field = max_tokens_field;
  if (auto e = ReadNumber(body, "temperature", 0.0, 2.0, false, &opt.temperature)) return e;
  if (auto e = ReadNumber(body, "top_p", 0.0, 1.0, true, &opt.top_p)) return e;
  if (auto e = ReadInt(body, "top_k", -1, std::numeric_limits<int32_t>::max(), &opt.top_k)) return e;
  if (opt.top_k < 0) opt.top_k = 0;  // vLLM's -1 = off
  int64_t seed = 0;
  if (const Json* s = Field(body, "seed"); s != nullptr && s->is_number_unsigned()) {
    opt.seed = s->get<uint64_t>();
  } else if (auto e = ReadInt(body, "seed", 0, std::numeric_limits<int64_t>::max(), &seed)) {
    return e;
  } else if (s != nullptr) {
    opt.seed = static_cast<uint64_t>(seed);
  }
  bool ignore_eos = !opt.stop_at_eos;
  if (auto e = ReadBool(body, "ignore_eos", &ignore_eos)) return e;
  opt.stop_at_eos = !ignore_eos;
  if (auto e = ReadStop(body, &out->stop)) return e;
  if (auto e = ReadSpeculative(body, &opt)) return e;
  if (endpoint == Endpoint::kCompletions) {
    opt.chat = false;
    if (auto e = ReadCompletionPrompt(body, out)) return e;
  } else {
    if (auto e = ReadChatPrompt(body, defaults, out)) return e;
  }
  if (absl::Status s = opt.Validate(); !s.ok()) return BadRequest(std::string(s.message()));
  return std::nullopt;
}

}  // namespace matspec::server
