#include "tests/testing/frequency.h"

#include <cmath>

#include "engine/model.h"
#include "gtest/gtest.h"
#include "kernels/logits.h"
#include "tests/testing/model_loading.h"

namespace matspec::testing {

double ChiSquareZ(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t n) {
  double chi = 0.0;
  int dof = -1;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = probs[i] * n;
    if (e == 0.0) {
      EXPECT_EQ(counts[i], 0) << "cell " << i << " has probability 0 but was drawn";
      continue;
    }
    chi += (counts[i] - e) * (counts[i] - e) / e;
    ++dof;
  }
  if (dof < 1) return 0.0;
  const double k = dof;
  return (std::cbrt(chi / k) - (1.0 - 2.0 / (9.0 * k))) / std::sqrt(2.0 / (9.0 * k));
}

std::vector<double> TargetDistribution(Engine& engine, const std::vector<int32_t>& tokens,
                                       const GenerationOptions& options) {
  return Distribution(engine, engine.model().FullSlice(), tokens, options);
}

std::vector<double> Distribution(Engine& engine, const SliceView& slice, const std::vector<int32_t>& tokens,
                                 const GenerationOptions& options) {
  Model& model = engine.model();
  const int64_t vocab = model.vocab_size();
  const std::vector<float> logits = RunLogits(model, slice, tokens, false);
  SamplingConfig sc;
  sc.temperature = static_cast<float>(options.temperature);
  sc.top_k = static_cast<int32_t>(options.top_k);
  sc.top_p = static_cast<float>(options.top_p);
  std::vector<float> probs(vocab);
  std::vector<int32_t> scratch(vocab);
  ProcessLogits(logits.data(), vocab, sc, probs.data(), scratch.data());
  return std::vector<double>(probs.begin(), probs.end());
}

TinyLlamaOptions LosslessSamplingModel() {
  TinyLlamaOptions opt;
  opt.vocab = 6;
  opt.hidden = 16;
  opt.layers = 2;
  opt.heads = 2;
  opt.kv_heads = 1;
  opt.ffn_widths = {48, 48};
  opt.seed = 11;
  opt.scale = 2.0f;
  return opt;
}

double SpeculativeJointZ(Engine& engine, const std::vector<int32_t>& prompt, GenerationOptions options,
                         int64_t samples) {
  const int64_t vocab = engine.model().vocab_size();
  std::vector<double> expected(vocab * vocab, 0.0);
  const std::vector<double> p1 = TargetDistribution(engine, prompt, options);
  for (int32_t a = 0; a < vocab; ++a) {
    if (p1[a] == 0.0) continue;
    std::vector<int32_t> ext = prompt;
    ext.push_back(a);
    const std::vector<double> p2 = TargetDistribution(engine, ext, options);
    for (int32_t b = 0; b < vocab; ++b) expected[a * vocab + b] = p1[a] * p2[b];
  }
  options.max_new_tokens = 2;
  options.stop_at_eos = false;
  std::vector<int64_t> counts(vocab * vocab, 0);
  for (int64_t s = 0; s < samples; ++s) {
    options.seed = static_cast<uint64_t>(s) * 7919 + 17;
    auto r = engine.GenerateTokens(prompt, options);
    if (!r.ok() || r->tokens.size() != 2) {
      ADD_FAILURE() << "generation failed: " << (r.ok() ? "wrong length" : std::string(r.status().message()));
      return 1e9;
    }
    counts[r->tokens[0] * vocab + r->tokens[1]] += 1;
  }
  return ChiSquareZ(counts, expected, samples);
}

}  // namespace matspec::testing
