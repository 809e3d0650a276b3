#include "tests/testing/frequency.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/model.h"
#include "gtest/gtest.h"
#include "kernels/logits.h"
#include "tests/testing/model_loading.h"

namespace matspec::testing {

double ChiSquareZ(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t n) {
  constexpr double kFail = std::numeric_limits<double>::infinity();
  if (counts.size() != probs.size()) {
    ADD_FAILURE() << counts.size() << " counts for " << probs.size() << " probabilities";
    return kFail;
  }
  double prob_sum = 0.0;
  int64_t count_sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    prob_sum += probs[i];
    count_sum += counts[i];
  }
  if (std::abs(prob_sum - 1.0) > 1e-4 || count_sum != n) {
    ADD_FAILURE() << "probabilities sum to " << prob_sum << " and counts to " << count_sum << " of " << n;
    return kFail;
  }
  struct Cell {
    int64_t count;
    double expected;
  };
  std::vector<Cell> cells;
  Cell pool{0, 0.0};
  bool forbidden_drawn = false;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = probs[i] * n;
    if (e == 0.0) {
      EXPECT_EQ(counts[i], 0) << "cell " << i << " has probability 0 but was drawn";
      forbidden_drawn = forbidden_drawn || counts[i] != 0;
      continue;
    }
    Cell& to = e < kMinExpectedCount ? pool : cells.emplace_back(Cell{0, 0.0});
    to.count += counts[i];
    to.expected += e;
  }
  if (forbidden_drawn) return kFail;
  if (pool.expected >= kMinExpectedCount || (pool.expected > 0.0 && cells.empty())) {
    cells.push_back(pool);
  } else if (pool.expected > 0.0) {
    auto smallest = std::min_element(cells.begin(), cells.end(),
                                     [](const Cell& a, const Cell& b) { return a.expected < b.expected; });
    smallest->count += pool.count;
    smallest->expected += pool.expected;
  }
  const int64_t dof = static_cast<int64_t>(cells.size()) - 1;
  if (dof < 1) {
    ADD_FAILURE() << "chi-square test with " << dof << " degrees of freedom: " << cells.size()
                  << " cell(s) after pooling, so it cannot fail; draw more samples or use a less certain "
                     "distribution";
    return kFail;
  }
  double chi = 0.0;
  for (const Cell& c : cells) chi += (c.count - c.expected) * (c.count - c.expected) / c.expected;
  const double k = static_cast<double>(dof);
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
                         int64_t samples, int64_t length, int64_t* after_rejection) {
  const int64_t vocab = engine.model().vocab_size();
  // expected[s] for every sequence s of `length` tokens, s read as a base-vocab number.
  std::vector<double> expected(1, 1.0);
  for (int64_t step = 0; step < length; ++step) {
    std::vector<double> next(expected.size() * vocab, 0.0);
    for (size_t prefix = 0; prefix < expected.size(); ++prefix) {
      if (expected[prefix] == 0.0) continue;
      std::vector<int32_t> digits(step);
      for (int64_t i = step - 1, rest = static_cast<int64_t>(prefix); i >= 0; --i, rest /= vocab) {
        digits[i] = static_cast<int32_t>(rest % vocab);
      }
      std::vector<int32_t> ext = prompt;
      ext.insert(ext.end(), digits.begin(), digits.end());
      const std::vector<double> p = TargetDistribution(engine, ext, options);
      for (int64_t t = 0; t < vocab; ++t) next[prefix * vocab + t] = expected[prefix] * p[t];
    }
    expected = std::move(next);
  }
  options.max_new_tokens = length;
  options.stop_at_eos = false;
  std::vector<int64_t> counts(expected.size(), 0);
  if (after_rejection) *after_rejection = 0;
  for (int64_t s = 0; s < samples; ++s) {
    options.seed = static_cast<uint64_t>(s) * 7919 + 17;
    auto r = engine.GenerateTokens(prompt, options);
    if (!r.ok() || static_cast<int64_t>(r->tokens.size()) != length) {
      ADD_FAILURE() << "generation failed: " << (r.ok() ? "wrong length" : std::string(r.status().message()));
      return 1e9;
    }
    int64_t cell = 0;
    for (int32_t t : r->tokens) cell = cell * vocab + t;
    counts[cell] += 1;
    if (after_rejection && r->stats.rounds > 1 && r->stats.accepted_tokens < r->stats.drafted_tokens) {
      ++*after_rejection;
    }
  }
  return ChiSquareZ(counts, expected, samples);
}

}  // namespace matspec::testing
