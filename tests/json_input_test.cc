// Tests for engine/json_input.h and the hostile-input classes of issue 12 in
// the JSON parsers (config.json for llama and Gemma 3n, safetensors headers,
// the shard index): deep nesting, numbers beyond a double, absurd sizes. Each
// must be an InvalidArgument naming the file (and the field), never an
// exception, a stack overflow or an allocation of the absurd size.
#include "engine/json_input.h"

#include <unistd.h>

#include <string>

#include "engine/config_limits.h"
#include "engine/gemma3n_config.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/weight_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::StatusIs;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const char kLlama[] =
    R"({"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "silu")";

std::string Llama(const std::string& extra) { return std::string(kLlama) + extra + "}"; }

TEST(JsonInputTest, NestingIsCappedOutsideStringsOnly) {
  EXPECT_TRUE(CheckJsonNesting(Nested(kMaxJsonDepth), "f").ok());
  EXPECT_THAT(CheckJsonNesting(Nested(kMaxJsonDepth + 1), "f.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("f.json"), HasSubstr("nested deeper than 64"))));
  EXPECT_TRUE(CheckJsonNesting("\"" + std::string(1000, '[') + "\\\"\"", "f").ok());
}

TEST(JsonInputTest, SnippetDoesNotRenderContainers) {
  nlohmann::json deep = nlohmann::json::array();
  EXPECT_EQ(JsonSnippet(nlohmann::json::parse("[1, [2, 3]]")), "an array of 2 elements");
  EXPECT_EQ(JsonSnippet(nlohmann::json::parse(R"({"a": {}})")), "an object of 1 keys");
  EXPECT_EQ(JsonSnippet(nlohmann::json(std::string(100, 'x'))).size(), 40u);
}

TEST(HostileConfigTest, NumberBeyondADoubleIsAnError) {
  EXPECT_THAT(ParseModelConfig(Llama(R"(, "rope_theta": 1e400)"), "c/config.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("c/config.json"), HasSubstr("not valid JSON"))));
  EXPECT_THAT(ParseGemma3nConfig(R"({"model_type": "gemma3n_text", "rope_theta": -1e999})", "g/config.json"),
              StatusIs(kInvalid, HasSubstr("g/config.json")));
  EXPECT_FALSE(IsGemma3nConfigJson(R"({"model_type": "gemma3n", "x": 1e400})"));
}

TEST(HostileConfigTest, DeeplyNestedFieldIsRefusedWithoutRecursion) {
  // 100000 levels would overflow the stack of a recursive dump or destructor.
  EXPECT_THAT(ParseModelConfig(Llama(R"(, "torch_dtype": )" + Nested(100000)), "c/config.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("c/config.json"), HasSubstr("nested deeper"))));
  EXPECT_THAT(ParseGemma3nConfig(R"({"model_type": "gemma3n_text", "x": )" + Nested(100000) + "}", "g/config.json"),
              StatusIs(kInvalid, HasSubstr("nested deeper")));
  // Within the cap, a wrong-typed container is described, not dumped.
  EXPECT_THAT(ParseModelConfig(Llama(R"(, "torch_dtype": )" + Nested(60)), "c/config.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("\"torch_dtype\""), HasSubstr("an array of 1 elements"))));
}

TEST(HostileConfigTest, AbsurdSizesNameTheFieldAndTheCap) {
  const std::string huge_layers = std::string(kLlama);
  std::string text = Llama("");
  text.replace(text.find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 1000000000000");
  EXPECT_THAT(ParseModelConfig(text, "c/config.json"),
              StatusIs(kInvalid, AllOf(HasSubstr("\"num_hidden_layers\""), HasSubstr("limit of 1024"))));
  EXPECT_THAT(ParseModelConfig(Llama(R"(, "max_position_embeddings": 99999999999999)"), "c/config.json"),
              StatusIs(kInvalid, HasSubstr("\"max_position_embeddings\"")));
  EXPECT_THAT(ParseModelConfig(Llama(R"(, "head_dim": 100000)"), "c/config.json"),
              StatusIs(kInvalid, HasSubstr("\"head_dim\"")));
  for (const char* field : {"num_hidden_layers", "vocab_size", "hidden_size", "intermediate_size",
                            "max_position_embeddings", "laurel_rank", "altup_num_inputs"}) {
    const std::string g = std::string(R"({"model_type": "gemma3n_text", ")") + field + R"(": 1000000000000})";
    EXPECT_THAT(ParseGemma3nConfig(g, "g/config.json"),
                StatusIs(kInvalid, AllOf(HasSubstr("g/config.json"), HasSubstr(field), HasSubstr("limit"))))
        << field;
  }
  EXPECT_THAT(ParseGemma3nConfig(R"({"model_type": "gemma3n_text", "eos_token_id": [1, 99999999999]})", "g"),
              StatusIs(kInvalid, HasSubstr("eos_token_id")));
}

TEST(HostileSafetensorsTest, DeepHeaderAndDeepIndexAreErrors) {
  testing::ScopedTempDir dir;
  const std::string header = R"({"a": {"dtype": "F32", "shape": )" + Nested(50000) + R"(, "data_offsets": [0, 4]}})";
  ASSERT_TRUE(testing::WriteRawSafetensors(dir.Sub("model.safetensors"), header, std::string(4, '\0')).ok());
  EXPECT_THAT(SafetensorsFile::Open(dir.Sub("model.safetensors")),
              StatusIs(kInvalid, AllOf(HasSubstr("model.safetensors"), HasSubstr("nested deeper"))));
  // Within the cap: a nested shape dimension is described, not dumped.
  const std::string shallow = R"({"a": {"dtype": "F32", "shape": [)" + Nested(30) + R"(], "data_offsets": [0, 4]}})";
  ASSERT_TRUE(testing::WriteRawSafetensors(dir.Sub("model.safetensors"), shallow, std::string(4, '\0')).ok());
  EXPECT_THAT(SafetensorsFile::Open(dir.Sub("model.safetensors")),
              StatusIs(kInvalid, HasSubstr("shape dimension an array of 1 elements")));

  testing::ScopedTempDir sharded;
  ASSERT_TRUE(testing::WriteFileBytes(sharded.Sub("model.safetensors.index.json"),
                                      R"({"weight_map": )" + Nested(50000) + "}")
                  .ok());
  EXPECT_THAT(WeightStore::Open(sharded.path()),
              StatusIs(kInvalid, AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("nested deeper"))));
}

TEST(HostileSafetensorsTest, HeaderAbove100MBIsRefusedBeforeParsing) {
  testing::ScopedTempDir dir;
  const std::string path = dir.Sub("model.safetensors");
  std::string len(8, '\0');
  const uint64_t header_len = 150'000'000;
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  ASSERT_TRUE(testing::WriteFileBytes(path, len + "{").ok());
  ASSERT_EQ(truncate(path.c_str(), 200'000'000), 0);  // sparse: no disk space used
  EXPECT_THAT(SafetensorsFile::Open(path),
              StatusIs(kInvalid, AllOf(HasSubstr("header length 150000000"), HasSubstr("limit"))));
}

}  // namespace
}  // namespace matspec
