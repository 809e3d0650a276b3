// ParseModelConfig / LoadModelConfig: Hugging Face llama configs parse with
// the documented defaults, and every unsupported or malformed field is
// refused with InvalidArgument naming the file and the field.
#include "engine/model_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::matspec::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr char kSource[] = "models/x/config.json";

Json MinimalConfig() {
  return Json{{"model_type", "llama"},  {"vocab_size", 32000},        {"hidden_size", 4096},
              {"num_hidden_layers", 4}, {"intermediate_size", 11008}, {"num_attention_heads", 32}};
}

absl::StatusOr<ModelConfig> Parse(const Json& j) { return ParseModelConfig(j.dump(), kSource); }

// InvalidArgument naming the source file, the field and the fragment.
void ExpectFieldError(const Json& j, const std::string& field, const std::string& fragment) {
  EXPECT_THAT(Parse(j), StatusIs(kInvalid, AllOf(HasSubstr(kSource), HasSubstr("\"" + field + "\""),
                                                 HasSubstr(fragment))));
}

TEST(ModelConfigTest, MinimalConfigGetsDefaults) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(MinimalConfig()));
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_THAT(c.ffn_widths, ElementsAre(11008, 11008, 11008, 11008));
  EXPECT_EQ(c.max_ffn_width(), 11008);
  EXPECT_EQ(c.num_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.torch_dtype, "");
}

TEST(ModelConfigTest, FullConfigAndPerLayerWidths) {
  Json j = MinimalConfig();
  j["intermediate_size"] = {1024, 512, 768, 256};
  j["num_key_value_heads"] = 8;
  j["head_dim"] = 96;  // q dim 3072 != hidden 4096 is allowed
  j["rms_norm_eps"] = 1e-5;
  j["rope_theta"] = 500000.0;
  j["max_position_embeddings"] = 8192;
  j["tie_word_embeddings"] = true;
  j["hidden_act"] = "silu";
  j["eos_token_id"] = {128001, 128009};
  j["bos_token_id"] = 128000;
  j["torch_dtype"] = "bfloat16";
  j["rope_scaling"] = nullptr;
  j["attention_bias"] = false;
  j["architectures"] = {"LlamaForCausalLM"};  // unknown fields are ignored
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(j));
  EXPECT_THAT(c.ffn_widths, ElementsAre(1024, 512, 768, 256));
  EXPECT_EQ(c.max_ffn_width(), 1024);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 96);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(128001, 128009));
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(ModelConfigTest, ScalarEosNullFieldsAndNewDtypeKey) {
  Json j = MinimalConfig();
  j["eos_token_id"] = 2;
  j["bos_token_id"] = nullptr;
  j["num_key_value_heads"] = nullptr;  // HF writes null for "same as heads"
  j["dtype"] = "float16";              // transformers >= 4.56 spelling
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(j));
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.num_kv_heads, 32);
  EXPECT_EQ(c.torch_dtype, "float16");
}

TEST(ModelConfigTest, DefaultRopeParametersAreAccepted) {
  Json j = MinimalConfig();
  j["rope_scaling"] = {{"rope_type", "default"}};
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(j));
  EXPECT_EQ(c.rope_theta, 1e6);
}

TEST(ModelConfigTest, MalformedJson) {
  EXPECT_THAT(ParseModelConfig(R"({"model_type": "llama", "vocab_size": )", kSource),
              StatusIs(kInvalid, AllOf(HasSubstr(kSource), HasSubstr("not valid JSON"))));
}

TEST(ModelConfigTest, TopLevelNotAnObject) {
  EXPECT_THAT(ParseModelConfig("[1, 2]", kSource), StatusIs(kInvalid, HasSubstr(kSource)));
}

TEST(ModelConfigTest, MissingRequiredField) {
  for (const char* field : {"model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                            "intermediate_size", "num_attention_heads"}) {
    Json j = MinimalConfig();
    j.erase(field);
    ExpectFieldError(j, field, "missing");
  }
}

TEST(ModelConfigTest, WrongTypedFieldIsNamed) {
  Json j = MinimalConfig();
  j["hidden_size"] = "abc";
  ExpectFieldError(j, "hidden_size", "must be an integer, got string \"abc\"");
}

TEST(ModelConfigTest, FractionalSizeIsRejected) {
  Json j = MinimalConfig();
  j["vocab_size"] = 32000.5;
  ExpectFieldError(j, "vocab_size", "must be an integer");
}

TEST(ModelConfigTest, WrongTypedOptionalFields) {
  Json j = MinimalConfig();
  j["tie_word_embeddings"] = "yes";
  ExpectFieldError(j, "tie_word_embeddings", "true or false");
  j = MinimalConfig();
  j["rms_norm_eps"] = "small";
  ExpectFieldError(j, "rms_norm_eps", "must be a number");
  j = MinimalConfig();
  j["eos_token_id"] = {1, "two"};
  ExpectFieldError(j, "eos_token_id[1]", "token id");
}

TEST(ModelConfigTest, NonPositiveSizes) {
  for (const char* field : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"}) {
    Json j = MinimalConfig();
    j[field] = 0;
    ExpectFieldError(j, field, "must be positive, got 0");
  }
  Json j = MinimalConfig();
  j["intermediate_size"] = -5;
  ExpectFieldError(j, "intermediate_size", "must be positive");
  j = MinimalConfig();
  j["rope_theta"] = -1.0;
  ExpectFieldError(j, "rope_theta", "must be positive");
}

TEST(ModelConfigTest, IntermediateSizeListOfWrongLength) {
  Json j = MinimalConfig();
  j["intermediate_size"] = {1024, 1024, 1024};
  ExpectFieldError(j, "intermediate_size", "list of 3 widths but num_hidden_layers is 4");
}

TEST(ModelConfigTest, IntermediateSizeListWithBadEntry) {
  Json j = MinimalConfig();
  j["intermediate_size"] = {1024, 0, 1024, 1024};
  ExpectFieldError(j, "intermediate_size[1]", "must be positive");
}

TEST(ModelConfigTest, UnsupportedModelType) {
  Json j = MinimalConfig();
  j["model_type"] = "gemma3n";
  ExpectFieldError(j, "model_type", "\"gemma3n\", which is not supported (supported: llama)");
}

TEST(ModelConfigTest, UnsupportedHiddenAct) {
  Json j = MinimalConfig();
  j["hidden_act"] = "gelu";
  ExpectFieldError(j, "hidden_act", "\"gelu\", which is not supported");
}

TEST(ModelConfigTest, RopeScalingIsRefused) {
  Json j = MinimalConfig();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  ExpectFieldError(j, "rope_scaling", "\"llama3\", which is not supported");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  ExpectFieldError(j, "rope_scaling", "\"linear\"");
}

TEST(ModelConfigTest, BiasTermsAreRefused) {
  Json j = MinimalConfig();
  j["attention_bias"] = true;
  ExpectFieldError(j, "attention_bias", "not supported");
}

TEST(ModelConfigTest, KvHeadsMustDivideHeads) {
  Json j = MinimalConfig();
  j["num_key_value_heads"] = 5;
  ExpectFieldError(j, "num_key_value_heads", "does not divide num_attention_heads (32)");
}

TEST(ModelConfigTest, DefaultHeadDimNeedsDivisibleHidden) {
  Json j = MinimalConfig();
  j["hidden_size"] = 4000;
  j["num_attention_heads"] = 48;
  ExpectFieldError(j, "head_dim", "not divisible");
  j["head_dim"] = 64;  // explicit head_dim makes it fine
  EXPECT_OK(Parse(j));
}

TEST(ModelConfigTest, LoadMissingFileIsNotFound) {
  EXPECT_THAT(LoadModelConfig("/nonexistent/dir/config.json"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/dir/config.json")));
}

TEST(ModelConfigTest, LoadsTheTestWritersConfig) {
  testing::ScopedTempDir tmp("model_config_test_");
  testing::TinyLlamaOptions opt;
  opt.ffn_widths = {96, 64, 32};
  opt.head_dim = 16;
  opt.tie_embeddings = true;
  opt.dtype = DType::kBF16;
  ASSERT_OK(testing::WriteTinyLlama(tmp.path(), opt));
  ASSERT_OK_AND_ASSIGN(ModelConfig c, LoadModelConfig(tmp.Sub("config.json")));
  EXPECT_EQ(c.vocab_size, 64);
  EXPECT_EQ(c.hidden_size, 48);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_THAT(c.ffn_widths, ElementsAre(96, 64, 32));
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
}

TEST(ModelConfigTest, LoadNamesTheFileOnError) {
  testing::ScopedTempDir tmp("model_config_test_");
  const std::string path = tmp.Sub("config.json");
  ASSERT_OK(testing::WriteFileBytes(path, "{not json"));
  EXPECT_THAT(LoadModelConfig(path), StatusIs(kInvalid, HasSubstr(path)));
}

}  // namespace
}  // namespace matspec
