// matspec/json.h: options by their CLI long names (through SetRunOption, so
// the same parsing as flags and presets), errors naming the key, and the
// --json result object.
#include "matspec/json.h"

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, OptionsUseTheLongFlagNames) {
  RunConfig c;
  ASSERT_TRUE(ApplyOptionsJson(R"({"n-predict": 7, "temp": 0.123456789012, "seed": 18446744073709551615,
                                   "draft-ffn": [192, 96], "draft-skip": "3,4", "no-speculative": true,
                                   "threads": 2, "m": "by its short alias"})",
                               "opts", &c)
                  .ok());
  EXPECT_EQ(c.generation.max_new_tokens, 7);
  EXPECT_EQ(c.generation.temperature, 0.123456789012);  // no loss through the text form
  EXPECT_EQ(c.generation.seed, 18446744073709551615u);
  EXPECT_EQ(c.generation.draft.ffn, "192,96");
  EXPECT_EQ(c.generation.draft.skip, "3,4");
  EXPECT_FALSE(c.generation.speculative);
  EXPECT_EQ(c.load.num_threads, 2);
  EXPECT_EQ(c.load.model_dir, "by its short alias");
  RunConfig empty;
  EXPECT_TRUE(ApplyOptionsJson("{}", "opts", &empty).ok());
}

TEST(JsonTest, ErrorsNameTheKey) {
  RunConfig c;
  EXPECT_THAT(ApplyOptionsJson(R"({"draft-max": "x"})", "opts", &c).message(), HasSubstr("opts: draft-max"));
  EXPECT_THAT(ApplyOptionsJson(R"({"bogus": 1})", "opts", &c).message(),
              HasSubstr("opts: bogus: unknown option"));
  EXPECT_THAT(ApplyOptionsJson(R"({"seed": null})", "opts", &c).message(), HasSubstr("opts: seed"));
  EXPECT_THAT(ApplyOptionsJson(R"({"draft-ffn": [1.5]})", "opts", &c).message(), HasSubstr("draft-ffn"));
  EXPECT_THAT(ApplyOptionsJson(R"({"temp": {"a": 1}})", "opts", &c).message(), HasSubstr("opts: temp"));
  EXPECT_THAT(ApplyOptionsJson(R"({"temp": )", "opts", &c).message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(ApplyOptionsJson("[]", "opts", &c).message(), HasSubstr("JSON object"));
  EXPECT_THAT(ApplyOptionsJson("\"\xff\"", "opts", &c).message(), HasSubstr("not valid JSON"));
  auto refuse = [](std::string_view name) {
    return name == "device" ? absl::InvalidArgumentError("not here") : absl::OkStatus();
  };
  EXPECT_THAT(ApplyOptionsJson(R"({"d": 1, "device": "cpu"})", "opts", &c, refuse).message(),
              HasSubstr("opts: d"));  // unknown before refused
  EXPECT_THAT(ApplyOptionsJson(R"({"device": "cpu"})", "opts", &c, refuse).message(),
              HasSubstr("opts: device: not here"));
}

TEST(JsonTest, ResultHasTheCliFields) {
  GenerationResult r;
  r.tokens = {5, 6};
  r.prompt_tokens = {1};
  r.text = "ab\xff";  // invalid UTF-8 is replaced, not thrown on
  r.stats.stop_reason = "cancelled";
  r.stats.generated_tokens = 2;
  const nlohmann::json j = nlohmann::json::parse(GenerationResultJson(r));
  EXPECT_EQ(j["tokens"], nlohmann::json({5, 6}));
  EXPECT_EQ(j["prompt_tokens"], nlohmann::json({1}));
  EXPECT_EQ(j["stats"]["stop_reason"], "cancelled");
  EXPECT_EQ(j["stats"]["generated_tokens"], 2);
  for (const char* key :
       {"drafted_tokens", "accepted_tokens", "acceptance_rate", "mean_acceptance_length",
        "per_position_acceptance", "rounds", "tokens_per_second", "draft_seconds", "verify_seconds"}) {
    EXPECT_TRUE(j["stats"].contains(key)) << key;
  }
  const nlohmann::json e = nlohmann::json::parse(RequestEventJson({.tokens = {3}, .text = "x"}));
  EXPECT_EQ(e["tokens"], nlohmann::json({3}));
  EXPECT_EQ(e["text"], "x");
}

}  // namespace
}  // namespace matspec
