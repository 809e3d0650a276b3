// ParseCompletionRequest: OpenAI bodies to GenerationOptions, every refusal
// naming its field.
#include "server/openai_request.h"

#include <gtest/gtest.h>

namespace matspec::server {
namespace {

ServingDefaults Defaults() {
  ServingDefaults d;
  d.model_name = "matlm-tiny";
  d.context_size = 1024;
  d.generation.max_new_tokens = 100;
  d.generation.draft.slice_table = "table.csv";
  d.generation.draft.slice_name = "quarter";
  return d;
}

CompletionRequest ParseOk(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  CompletionRequest r;
  std::optional<ApiError> e = ParseCompletionRequest(body, endpoint, Defaults(), &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->message : "");
  return r;
}

ApiError ParseError(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  CompletionRequest r;
  std::optional<ApiError> e = ParseCompletionRequest(body, endpoint, Defaults(), &r);
  EXPECT_TRUE(e.has_value()) << body;
  return e.value_or(ApiError{});
}

TEST(OpenAiRequestTest, SamplingFieldsBecomeOptions) {
  CompletionRequest r = ParseOk(
      R"({"model": "matlm-tiny", "prompt": "Hi", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
          "top_k": 40, "seed": 3, "stop": ["a", "bc"], "stream": true, "stream_options": {"include_usage": true}})");
  EXPECT_EQ(r.prompt, "Hi");
  EXPECT_EQ(r.options.max_new_tokens, 7);
  EXPECT_DOUBLE_EQ(r.options.temperature, 0.5);
  EXPECT_DOUBLE_EQ(r.options.top_p, 0.9);
  EXPECT_EQ(r.options.top_k, 40);
  EXPECT_EQ(r.options.seed, 3u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.options.draft.slice_name, "quarter");  // the server's default draft
}

TEST(OpenAiRequestTest, NullsAndAbsentFieldsKeepTheDefaults) {
  CompletionRequest r = ParseOk(R"({"prompt": "Hi", "max_tokens": null, "temperature": null, "stop": null})");
  EXPECT_EQ(r.options.max_new_tokens, 100);
  EXPECT_DOUBLE_EQ(r.options.temperature, 0.0);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.stream);
}

TEST(OpenAiRequestTest, PromptForms) {
  EXPECT_EQ(ParseOk(R"({"prompt": ["one"]})").prompt, "one");
  CompletionRequest ids = ParseOk(R"({"prompt": [1, 5, 9]})");
  EXPECT_TRUE(ids.has_prompt_ids);
  EXPECT_EQ(ids.prompt_ids, (std::vector<int32_t>{1, 5, 9}));
  EXPECT_EQ(ParseError(R"({"prompt": ["a", "b"]})").param, "prompt");
  EXPECT_EQ(ParseError(R"({"prompt": [1, -2]})").param, "prompt");
  EXPECT_EQ(ParseError(R"({"prompt": []})").param, "prompt");
  EXPECT_EQ(ParseError(R"({"max_tokens": 3})").param, "prompt");
}

TEST(OpenAiRequestTest, SpeculativeObjectSetsTheDraftPerRequest) {
  CompletionRequest off = ParseOk(R"({"prompt": "x", "speculative": {"enabled": false}})");
  EXPECT_FALSE(off.options.speculative);
  CompletionRequest slice = ParseOk(R"({"prompt": "x", "speculative": {"slice": "eighth", "draft_max": 2}})");
  EXPECT_TRUE(slice.options.speculative);
  EXPECT_EQ(slice.options.draft.slice_name, "eighth");
  EXPECT_EQ(slice.options.draft.slice_table, "table.csv");
  EXPECT_EQ(slice.options.draft.draft_max, 2);
  // A slice from flags replaces the server's table row.
  CompletionRequest flags = ParseOk(R"({"prompt": "x", "speculative": {"draft-ffn": 192, "draft_skip": [3, 4]}})");
  EXPECT_EQ(flags.options.draft.slice_name, "");
  EXPECT_EQ(flags.options.draft.slice_table, "");
  EXPECT_EQ(flags.options.draft.ffn, "192");
  EXPECT_EQ(flags.options.draft.skip, "3,4");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "speculative": {"draft_vocab_file": "/etc/passwd"}})").param,
            "speculative.draft_vocab_file");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "speculative": {"matformer_config_path": "/x"}})").param,
            "speculative.matformer_config_path");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "speculative": {"draft_max": "many"}})").param, "speculative");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "speculative": {"draft_max": 0}})").http_status, 400);  // Validate()
  EXPECT_EQ(ParseError(R"({"prompt": "x", "speculative": [1]})").param, "speculative");
}

TEST(OpenAiRequestTest, WrongTypesAndRangesNameTheField) {
  EXPECT_EQ(ParseError(R"({"prompt": "x", "max_tokens": "5"})").param, "max_tokens");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "max_tokens": 1.5})").param, "max_tokens");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "max_tokens": 0})").param, "max_tokens");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "max_tokens": 18446744073709551615})").code, "context_length_exceeded");
  ApiError beyond = ParseError(R"({"prompt": "x", "max_tokens": 1025})");
  EXPECT_EQ(beyond.param, "max_tokens");
  EXPECT_EQ(beyond.code, "context_length_exceeded");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "temperature": -0.1})").param, "temperature");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "temperature": "hot"})").param, "temperature");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "top_p": 0})").param, "top_p");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "seed": -1})").param, "seed");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "stream": "yes"})").param, "stream");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "stop": [""]})").param, "stop");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "stop": 3})").param, "stop");
  EXPECT_EQ(ParseError(R"({"prompt": 3})").param, "prompt");
}

TEST(OpenAiRequestTest, UnsupportedFeaturesAreRefused) {
  EXPECT_EQ(ParseError(R"({"prompt": "x", "n": 2})").param, "n");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "logprobs": 3})").param, "logprobs");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "echo": true})").param, "echo");
  EXPECT_EQ(ParseError(R"({"prompt": "x", "presence_penalty": 0.5})").param, "presence_penalty");
  EXPECT_EQ(ParseError(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{}]})",
                       Endpoint::kChatCompletions)
                .param,
            "tools");
  // Defaults a stock client may send are fine, and unknown fields are ignored.
  ParseOk(R"({"prompt": "x", "n": 1, "logprobs": null, "echo": false, "presence_penalty": 0, "user": "u"})");
}

TEST(OpenAiRequestTest, BadJsonAndModel) {
  EXPECT_EQ(ParseError(R"({"prompt": )").http_status, 400);
  EXPECT_EQ(ParseError("[1]").http_status, 400);
  EXPECT_EQ(ParseError(std::string(100, '[') + std::string(100, ']')).http_status, 400);
  ApiError model = ParseError(R"({"prompt": "x", "model": "gpt-9"})");
  EXPECT_EQ(model.http_status, 404);
  EXPECT_EQ(model.code, "model_not_found");
}

TEST(OpenAiRequestTest, ChatUsesThePlainTemplateAndItsStop) {
  CompletionRequest r = ParseOk(R"({"messages": [{"role": "system", "content": "Be brief."},
                                                 {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})",
                                Endpoint::kChatCompletions);
  EXPECT_EQ(r.prompt, "System: Be brief.\nUser: Hi\nAssistant:");
  EXPECT_FALSE(r.options.chat);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\nUser:"}));
  EXPECT_EQ(ParseError(R"({"messages": []})", Endpoint::kChatCompletions).param, "messages");
  EXPECT_EQ(ParseError(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                       Endpoint::kChatCompletions)
                .param,
            "messages");
}

TEST(ChatTemplateTest, GemmaTurnsFoldSystemAndAlternate) {
  RenderedChat chat;
  ASSERT_FALSE(RenderChat(ChatTemplate::kGemmaTurns,
                          {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}}, &chat));
  EXPECT_TRUE(chat.engine_chat);
  EXPECT_EQ(chat.prompt, "S\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n<start_of_turn>user\nU2");
  EXPECT_TRUE(RenderChat(ChatTemplate::kGemmaTurns, {{"user", "U"}, {"assistant", "A"}}, &chat).has_value());
  EXPECT_TRUE(RenderChat(ChatTemplate::kGemmaTurns, {{"assistant", "A"}}, &chat).has_value());
  EXPECT_EQ(ChatTemplateFor("gemma3n"), ChatTemplate::kGemmaTurns);
  EXPECT_EQ(ChatTemplateFor("llama"), ChatTemplate::kPlain);
}

}  // namespace
}  // namespace matspec::server
