// The core engine's invariants on Gemma 3n (tiny random configs with HF parity
// fixtures): greedy speculative decoding equals plain greedy decoding for every
// slice of each fixture's table and k in {1, 2, 4}; KV producers may not be
// skipped. The sampling frequency test is in gemma3n_sampling_slow_test.cc.
#include <fstream>

#include "draft/slice_spec.h"
#include "gtest/gtest.h"
#include "engine/model.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec {
namespace {

class Gemma3nSpeculativeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = "tests/fixtures/" + GetParam();  // read only: files the test writes go to list_dir_
    LoadOptions lo;
    lo.model_dir = dir_;
    lo.num_threads = 1;
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  std::string dir_;
  testing::ScopedTempDir list_dir_{"gemma3n_token_list"};
  std::unique_ptr<Engine> engine_;
};

TEST_P(Gemma3nSpeculativeTest, GreedySpeculativeEqualsPlainForEverySliceAndK) {
  auto slices = engine_->DescribeSlices(dir_ + "/slices.csv");
  ASSERT_TRUE(slices.ok()) << slices.status();
  const int64_t vocab = engine_->model().vocab_size();
  for (int prompt_i = 0; prompt_i < 4; ++prompt_i) {
    std::vector<int32_t> prompt;  // lengths 3..24: some beyond the sliding window
    for (int j = 0; j < 3 + prompt_i * 7; ++j) prompt.push_back((prompt_i * 31 + j * 17 + 5) % vocab);
    GenerationOptions plain;
    plain.max_new_tokens = 40;
    plain.stop_at_eos = false;
    plain.speculative = false;
    auto ref = engine_->GenerateTokens(prompt, plain);
    ASSERT_TRUE(ref.ok()) << ref.status();
    for (const SliceInfo& s : *slices) {
      ASSERT_TRUE(s.valid) << s.name << ": " << s.error;
      for (int64_t k : {1, 2, 4}) {
        GenerationOptions o = plain;
        o.speculative = true;
        o.draft.slice_table = dir_ + "/slices.csv";
        o.draft.slice_name = s.name;
        o.draft.draft_max = k;
        auto r = engine_->GenerateTokens(prompt, o);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->tokens, ref->tokens) << "slice " << s.name << " k=" << k << " prompt " << prompt_i;
      }
      // The same slice with a reduced-vocabulary head (soft-cap, then the tail masked).
      GenerationOptions o = plain;
      o.speculative = true;
      o.draft.slice_table = dir_ + "/slices.csv";
      o.draft.slice_name = s.name;
      o.draft.draft_max = 3;
      o.draft.draft_vocab = vocab / 2;
      auto r = engine_->GenerateTokens(prompt, o);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->tokens, ref->tokens) << "slice " << s.name << " draft_vocab " << vocab / 2 << " prompt " << prompt_i;
      // And with a token list: every third id, listed from the top.
      o.draft.draft_vocab = 0;
      o.draft.draft_vocab_file = list_dir_.Sub("draft_vocab.txt");
      {
        std::ofstream list(o.draft.draft_vocab_file);
        for (int64_t id = vocab - 1; id >= 0; id -= 3) list << id << "\n";
      }
      auto l = engine_->GenerateTokens(prompt, o);
      ASSERT_TRUE(l.ok()) << l.status();
      EXPECT_EQ(l->tokens, ref->tokens) << "slice " << s.name << " token list, prompt " << prompt_i;
    }
  }
}

TEST_P(Gemma3nSpeculativeTest, SkippingAKvProducerIsRefused) {
  const std::vector<int64_t> reserved = engine_->model().ReservedLayers();
  if (reserved.empty()) GTEST_SKIP() << GetParam() << " has no KV-sharing layers";
  GenerationOptions o;
  o.max_new_tokens = 4;
  o.draft.skip = std::to_string(reserved.front());
  auto r = engine_->GenerateTokens({2, 3, 4}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("layer " + std::to_string(reserved.front())), std::string::npos)
      << r.status();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma3nSpeculativeTest, ::testing::Values("gemma3n_window", "gemma3n_kvshare"));

}  // namespace
}  // namespace matspec
