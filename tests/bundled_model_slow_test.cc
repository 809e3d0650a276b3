// The bundled model end to end (models/matlm-tiny): matspec's greedy
// continuation equals Hugging Face LlamaForCausalLM's (fixture made by
// tools/fixtures/make_matlm_greedy_fixture.py), and greedy speculative decoding
// equals plain greedy decoding for every slice of matformer_configs/matlm-tiny.csv
// and k in {1, 2, 4, 8}, fixed and adaptive (--draft-adaptive), on 10 prompts x 64 new tokens.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "matspec/matspec.h"

namespace matspec {
namespace {

constexpr char kModel[] = "models/matlm-tiny";
constexpr char kTable[] = "matformer_configs/matlm-tiny.csv";

class BundledModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LoadOptions lo;
    lo.model_dir = kModel;
    lo.num_threads = 1;  // ctest runs two suites at once on two cores
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = e->release();
  }
  static void TearDownTestSuite() { delete engine_; }
  static Engine* engine_;
};
Engine* BundledModelTest::engine_ = nullptr;

TEST_F(BundledModelTest, GreedyContinuationMatchesTransformers) {
  std::ifstream in("tests/fixtures/matlm_tiny_hf_greedy.json");
  ASSERT_TRUE(in) << "missing tests/fixtures/matlm_tiny_hf_greedy.json";
  std::stringstream ss;
  ss << in.rdbuf();
  const auto fixture = nlohmann::json::parse(ss.str());
  ASSERT_EQ(fixture["cases"].size(), 3u);
  for (const auto& c : fixture["cases"]) {
    const auto prompt = c["prompt"].get<std::vector<int32_t>>();
    const auto want = c["greedy"].get<std::vector<int32_t>>();
    GenerationOptions o;
    o.max_new_tokens = static_cast<int64_t>(want.size());
    o.stop_at_eos = false;
    for (bool speculative : {false, true}) {
      o.speculative = speculative;
      auto r = engine_->GenerateTokens(prompt, o);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->tokens, want) << c["text"] << (speculative ? " (speculative)" : " (plain)");
    }
  }
}

TEST_F(BundledModelTest, GreedySpeculativeEqualsPlainForEverySliceAndK) {
  const std::vector<std::string> prompts = {
      "In the beginning", "And it came to pass", "The LORD is my shepherd", "Blessed are the",
      "Now the serpent was", "A soft answer", "Love is", "The early bird", "You will", "It is a truth"};
  auto slices = engine_->DescribeSlices(kTable);
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_GE(slices->size(), 10u);
  int64_t adaptive_runs = 0, adaptive_short_rounds = 0;  // rounds that drafted fewer than 8 with k <= 8 adaptive
  int64_t adaptive_drafted = 0;                          // tokens the k <= 8 adaptive runs drafted
  for (const std::string& p : prompts) {
    GenerationOptions plain;
    plain.max_new_tokens = 64;
    plain.stop_at_eos = false;
    plain.speculative = false;
    auto ref = engine_->Generate(p, plain);
    ASSERT_TRUE(ref.ok()) << ref.status();
    ASSERT_EQ(ref->tokens.size(), 64u);
    for (const SliceInfo& s : *slices) {
      ASSERT_TRUE(s.valid) << s.name << ": " << s.error;
      for (int64_t k : {1, 2, 4, 8}) {
        for (bool adaptive : {false, true}) {
          GenerationOptions o = plain;
          o.speculative = true;
          o.draft.slice_table = kTable;
          o.draft.slice_name = s.name;
          o.draft.draft_max = k;
          o.draft.draft_adaptive = adaptive;
          auto r = engine_->Generate(p, o);
          ASSERT_TRUE(r.ok()) << r.status();
          EXPECT_EQ(r->tokens, ref->tokens) << "prompt \"" << p << "\" slice " << s.name << " k=" << k
                                            << (adaptive ? " adaptive" : "");
          EXPECT_EQ(r->text, ref->text);
          if (adaptive && k == 8) {
            adaptive_runs += 1;
            adaptive_drafted += r->stats.drafted_tokens;
            // Rounds that drafted fewer than k (none drafted k when the vector is shorter).
            const std::vector<int64_t>& drafted = r->stats.per_position_drafted;
            adaptive_short_rounds +=
                r->stats.rounds - (static_cast<int64_t>(drafted.size()) >= k ? drafted[k - 1] : 0);
          }
        }
      }
    }
  }
  // Adaptation must really change k: more short rounds than the one budget-limited last round per run.
  EXPECT_GT(adaptive_short_rounds, 2 * adaptive_runs);
  // ... and still draft (an adaptive run may go plain where drafting does not pay, but not all of them here:
  // the comparison with plain decoding above would then test nothing).
  EXPECT_GT(adaptive_drafted, 64 * adaptive_runs / 4);
}

TEST_F(BundledModelTest, StreamedTextEqualsFinalText) {
  GenerationOptions o;
  o.max_new_tokens = 48;
  o.temperature = 0.8;
  o.seed = 5;
  std::string streamed;
  auto r = engine_->Generate("And God said", o, [&](std::string_view t) {
    streamed.append(t);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(streamed, r->text);
  EXPECT_FALSE(r->text.empty());
}

}  // namespace
}  // namespace matspec
