// Final logits processing. Turns one row of logits into the probability
// distribution a sampler draws from, applying the same rules to the draft's q
// and the verifier's p (the condition for lossless speculative sampling):
//   temperature == 0: one-hot at the argmax (ties: lowest id)
//   otherwise: softmax(logits / temperature), then top-k (keep the k most
//   probable; ties at the boundary broken by lower id), then top-p (keep the
//   smallest most-probable prefix whose mass >= top_p), renormalised.
// Tokens outside the kept set get probability exactly 0.
#ifndef MATSPEC_KERNELS_LOGITS_H_
#define MATSPEC_KERNELS_LOGITS_H_

#include <cstdint>

namespace matspec {

struct SamplingConfig {
  float temperature = 0.f;  // 0 = greedy
  int32_t top_k = 0;        // 0 = off
  float top_p = 1.f;        // 1 = off; in (0, 1]
  bool greedy() const { return temperature <= 0.f; }
};

// Index of the largest value (lowest index among equals).
int32_t Argmax(const float* x, int64_t n);

// probs[v] for v < vocab, summing to 1. `scratch` holds >= vocab int32 values.
void ProcessLogits(const float* logits, int64_t vocab, const SamplingConfig& cfg, float* probs,
                   int32_t* scratch);

// Inverse-CDF draw: smallest v whose cumulative probability exceeds u * total,
// where total = sum(probs) (so unnormalised weights work too). u in [0, 1).
// Never returns a token of zero weight. Returns -1 if all weights are 0.
int32_t SampleFromWeights(const float* weights, int64_t n, double u);

// logits[r * vocab + v] = -inf for keep <= v < vocab, r < rows: the tokens a
// reduced-vocabulary head does not score (they get probability 0).
void MaskLogitsTail(float* logits, int64_t rows, int64_t vocab, int64_t keep);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_LOGITS_H_
