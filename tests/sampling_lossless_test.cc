// Lossless speculative sampling, end to end: on a tiny-vocabulary model whose
// draft slice disagrees with the full model, the first two tokens emitted by
// speculative decoding follow the full model's (processed) distribution,
// for plain temperature sampling and for top-k where the draft puts mass on
// tokens the target forbids. 20,000 samples per case, chi-square test.
#include <cmath>
#include <filesystem>

#include "draft/slice_spec.h"
#include "engine/decoding/speculative_decoder.h"
#include "gtest/gtest.h"
#include "kernels/logits.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr int64_t kVocab = 6;
constexpr int64_t kSamples = 20000;

class SamplingLosslessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("sampling_lossless");
    testing::TinyLlamaOptions opt;
    opt.vocab = kVocab;
    opt.hidden = 16;
    opt.layers = 2;
    opt.heads = 2;
    opt.kv_heads = 1;
    opt.ffn_widths = {48, 48};
    opt.seed = 11;
    opt.scale = 2.0f;  // strong layers, so the cut draft really differs
    ASSERT_TRUE(testing::WriteTinyLlama(dir_, opt).ok());
    auto loaded = testing::LoadLlama(dir_);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
    // A draft that differs: layer 1 skipped, layer 0 at 1/8 width.
    auto spec = SliceSpecFromFlags("6", "1", m_.config);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto slice = ValidateSlice(*spec, m_.config);
    ASSERT_TRUE(slice.ok()) << slice.status();
    draft_ = *slice;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Processed distribution of the next token after `tokens` under `slice`.
  std::vector<double> Dist(const SliceView& slice, const std::vector<int32_t>& tokens, const SamplingConfig& sc) {
    std::vector<float> logits = testing::RunLogits(*m_.model, slice, tokens, false);
    std::vector<float> probs(kVocab);
    std::vector<int32_t> scratch(kVocab);
    ProcessLogits(logits.data(), kVocab, sc, probs.data(), scratch.data());
    return std::vector<double>(probs.begin(), probs.end());
  }

  // Chi-square of the joint (x1, x2) counts against p(x1) p(x2 | x1); returns
  // the Wilson-Hilferty z score (about N(0,1) under the null hypothesis).
  double JointZ(const std::vector<int32_t>& prompt, const SamplingConfig& sc, int64_t draft_max) {
    std::vector<double> expected(kVocab * kVocab, 0.0);
    const std::vector<double> p1 = Dist(m_.model->FullSlice(), prompt, sc);
    for (int32_t a = 0; a < kVocab; ++a) {
      if (p1[a] == 0.0) continue;
      std::vector<int32_t> ext = prompt;
      ext.push_back(a);
      const std::vector<double> p2 = Dist(m_.model->FullSlice(), ext, sc);
      for (int32_t b = 0; b < kVocab; ++b) expected[a * kVocab + b] = p1[a] * p2[b];
    }
    std::vector<int64_t> counts(kVocab * kVocab, 0);
    for (int64_t s = 0; s < kSamples; ++s) {
      DecodeParams p;
      p.max_new_tokens = 2;
      p.context_size = 32;
      p.sampling = sc;
      p.seed = static_cast<uint64_t>(s) * 7919 + 17;
      p.draft = draft_;
      p.policy.draft_max = draft_max;
      SpeculativeDecoder d(m_.model.get(), p);
      std::vector<int32_t> out;
      GenerationStats stats;
      EXPECT_TRUE(d.Run(prompt, nullptr, &out, &stats).ok());
      if (out.size() != 2) {
        ADD_FAILURE() << "expected 2 tokens";
        return 1e9;
      }
      counts[out[0] * kVocab + out[1]] += 1;
    }
    double chi = 0.0;
    int dof = -1;
    for (size_t i = 0; i < counts.size(); ++i) {
      const double e = expected[i] * kSamples;
      if (e == 0.0) {
        EXPECT_EQ(counts[i], 0) << "emitted (" << i / kVocab << ", " << i % kVocab << ") of target probability 0";
        continue;
      }
      chi += (counts[i] - e) * (counts[i] - e) / e;
      ++dof;
    }
    const double k = dof;
    return (std::cbrt(chi / k) - (1.0 - 2.0 / (9.0 * k))) / std::sqrt(2.0 / (9.0 * k));
  }

  std::string dir_;
  testing::LoadedModel m_;
  SliceView draft_;
};

TEST_F(SamplingLosslessTest, TemperatureSamplingFollowsTarget) {
  SamplingConfig sc;
  sc.temperature = 1.0f;
  const std::vector<int32_t> prompt = {1, 4, 2};
  // The draft must actually differ from the target for the test to mean anything.
  const auto p = Dist(m_.model->FullSlice(), prompt, sc);
  const auto q = Dist(draft_, prompt, sc);
  double tv = 0.0;
  for (int i = 0; i < kVocab; ++i) tv += std::abs(p[i] - q[i]) / 2;
  ASSERT_GT(tv, 0.05) << "draft and target distributions are too close";
  for (int64_t k : {1, 3}) EXPECT_LT(JointZ(prompt, sc, k), 4.0) << "k=" << k;
}

TEST_F(SamplingLosslessTest, TopKWhereDraftPutsMassOnForbiddenTokens) {
  SamplingConfig sc;
  sc.temperature = 0.8f;
  sc.top_k = 2;
  // Find a prompt where the draft's kept set includes a token the target forbids.
  std::vector<int32_t> prompt;
  for (int trial = 0; trial < 200 && prompt.empty(); ++trial) {
    std::vector<int32_t> cand = {trial % kVocab, (trial / kVocab) % kVocab, (trial * 7 + 3) % kVocab};
    const auto p = Dist(m_.model->FullSlice(), cand, sc);
    const auto q = Dist(draft_, cand, sc);
    for (int i = 0; i < kVocab; ++i) {
      if (q[i] > 0.05 && p[i] == 0.0) prompt = cand;
    }
  }
  ASSERT_FALSE(prompt.empty()) << "no prompt where the draft favours a token the target's top-k forbids";
  EXPECT_LT(JointZ(prompt, sc, 2), 4.0);
}

}  // namespace
}  // namespace matspec
