// CPU logits processing and inverse-CDF sampling.
//
// Order of tokens: by logit, descending, equal logits by lower id. Probability
// is monotone in the logit, so this is the "most probable first" order of the
// header, and ties are decided on the logits themselves, which every backend
// sees identically (not on exponentials that may round differently).
// Top-k selects with nth_element; top-p sorts a growing prefix only, so a
// 262k-token vocabulary is never fully sorted unless its mass demands it.
#include "kernels/logits.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace matspec {
namespace {

// First prefix length tried for top-p when top-k is off; grows 8x per retry.
constexpr int64_t kTopPFirstPrefix = 256;

struct ByLogitThenId {
  const float* logits;
  bool operator()(int32_t a, int32_t b) const {
    if (logits[a] != logits[b]) return logits[a] > logits[b];
    return a < b;
  }
};

void OneHot(int64_t vocab, int32_t id, float* probs) {
  std::fill_n(probs, vocab, 0.f);
  probs[id] = 1.f;
}

// Puts the `m` first tokens of ids[0, n) in order at the front (m <= n).
void SortPrefix(int32_t* ids, int64_t n, int64_t m, const ByLogitThenId& cmp) {
  if (m < n) std::nth_element(ids, ids + m, ids + n, cmp);
  std::sort(ids, ids + m, cmp);
}

}  // namespace

int32_t Argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

void ProcessLogits(const float* logits, int64_t vocab, const SamplingConfig& cfg, float* probs,
                   int32_t* scratch) {
  if (vocab <= 0) return;
  const int32_t top = Argmax(logits, vocab);
  const float max_logit = logits[top];
  if (cfg.greedy() || !std::isfinite(max_logit)) {
    OneHot(vocab, top, probs);
    return;
  }

  // Unnormalised softmax weights of every token.
  const float inv_temp = 1.f / cfg.temperature;
  double total = 0.0;
  for (int64_t v = 0; v < vocab; ++v) {
    probs[v] = std::exp((logits[v] - max_logit) * inv_temp);
    total += probs[v];
  }

  const bool use_top_k = cfg.top_k > 0 && cfg.top_k < vocab;
  const bool use_top_p = cfg.top_p < 1.f;
  if (!use_top_k && !use_top_p) {
    const float inv_total = static_cast<float>(1.0 / total);
    for (int64_t v = 0; v < vocab; ++v) probs[v] *= inv_total;
    return;
  }

  // The kept set is scratch[0, kept), most probable first.
  const ByLogitThenId cmp{logits};
  for (int64_t v = 0; v < vocab; ++v) scratch[v] = static_cast<int32_t>(v);
  int64_t kept = vocab;
  if (use_top_k) {
    kept = cfg.top_k;
    SortPrefix(scratch, vocab, kept, cmp);
    total = 0.0;
    for (int64_t i = 0; i < kept; ++i) total += probs[scratch[i]];
  }
  if (use_top_p) {
    // Smallest prefix whose mass (relative to the top-k set) reaches top_p.
    const double target = static_cast<double>(cfg.top_p) * total;
    int64_t sorted = use_top_k ? kept : 0;
    int64_t prefix = 0;
    double mass = 0.0;
    while (true) {
      if (prefix == sorted) {  // extend the sorted prefix of the candidates
        const int64_t grow = sorted == 0 ? kTopPFirstPrefix : sorted * 8;
        const int64_t next = std::min(kept, grow);
        SortPrefix(scratch + sorted, kept - sorted, next - sorted, cmp);
        sorted = next;
      }
      mass += probs[scratch[prefix]];
      ++prefix;
      if (mass >= target || prefix == kept) break;
    }
    kept = prefix;
    total = mass;
  }

  // The kept set is a prefix of the order, so membership is one comparison with
  // its last token; the weights already in probs are rescaled in place.
  const int32_t last = scratch[kept - 1];
  const float inv_total = static_cast<float>(1.0 / total);
  for (int64_t v = 0; v < vocab; ++v) {
    const bool in = v == last || cmp(static_cast<int32_t>(v), last);
    probs[v] = in ? probs[v] * inv_total : 0.f;
  }
}

int32_t SampleFromWeights(const float* weights, int64_t n, double u) {
  double total = 0.0;
  int64_t last_positive = -1;
  for (int64_t v = 0; v < n; ++v) {
    if (weights[v] > 0.f) {
      total += weights[v];
      last_positive = v;
    }
  }
  if (last_positive < 0) return -1;
  const double target = std::clamp(u, 0.0, 1.0) * total;
  double cum = 0.0;
  for (int64_t v = 0; v < last_positive; ++v) {
    if (weights[v] > 0.f) {
      cum += weights[v];
      if (cum > target) return static_cast<int32_t>(v);
    }
  }
  // Either the draw lands on the last positive token, or u * total rounded up
  // to total: both end on the last token that has weight.
  return static_cast<int32_t>(last_positive);
}

void MaskLogitsTail(float* logits, int64_t rows, int64_t vocab, int64_t keep) {
  if (keep < 0) keep = 0;
  if (keep >= vocab) return;
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(logits + r * vocab + keep, logits + (r + 1) * vocab, -std::numeric_limits<float>::infinity());
  }
}

}  // namespace matspec
