// Engine::Generate's text callback on the bundled model (it has a tokenizer):
// returning true streams exactly the result's text; returning false stops
// generation after that round, with stop reason "callback", plain and
// speculative. Every engine test elsewhere passes no callback or one that
// always returns true.
#include <string>

#include "gtest/gtest.h"
#include "matspec/matspec.h"

namespace matspec {
namespace {

class EngineTextCallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LoadOptions lo;
    lo.model_dir = "models/matlm-tiny";
    lo.num_threads = 1;
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTextCallbackTest, StreamedTextIsTheResultText) {
  GenerationOptions o;
  o.max_new_tokens = 24;
  o.stop_at_eos = false;
  std::string streamed;
  auto r = engine_->Generate("Once upon a time", o, [&](std::string_view text) {
    streamed += text;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tokens.size(), 24u);
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->stats.stop_reason, "length");
}

TEST_F(EngineTextCallbackTest, ReturningFalseStopsGeneration) {
  for (bool speculative : {false, true}) {
    SCOPED_TRACE(speculative ? "speculative" : "plain");
    GenerationOptions o;
    o.max_new_tokens = 48;
    o.stop_at_eos = false;
    o.speculative = speculative;
    o.draft.draft_max = 3;
    int calls = 0;
    std::string streamed;
    auto r = engine_->Generate("Once upon a time", o, [&](std::string_view text) {
      streamed += text;
      return ++calls < 2;
    });
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stats.stop_reason, "callback");
    EXPECT_LT(r->tokens.size(), 48u);
    EXPECT_GE(calls, 2);
    EXPECT_FALSE(streamed.empty());
    EXPECT_EQ(r->text.substr(0, streamed.size()), streamed);
  }
}

}  // namespace
}  // namespace matspec
