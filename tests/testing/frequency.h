// Frequency tests for lossless speculative sampling: draw many two-token
// generations and compare the joint distribution of the emitted tokens with
// the full model's exact (processed) distribution p(x1) p(x2 | x1).
#ifndef MATSPEC_TESTS_TESTING_FREQUENCY_H_
#define MATSPEC_TESTS_TESTING_FREQUENCY_H_

#include <cstdint>
#include <vector>

#include "engine/slice_view.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec::testing {

// Pearson chi-square of counts against probabilities, as a Wilson-Hilferty z
// score (about N(0, 1) when the counts follow probs). Sound for small cells:
// cells expected fewer than kMinExpectedCount draws are pooled into one cell
// (folded into the smallest other cell while the pool itself is that small).
// Adds a test failure, and returns +infinity, when no degree of freedom is
// left (a test on one cell cannot fail), when the probabilities do not sum to
// 1 or the counts to n, and for any count in a cell of probability 0.
inline constexpr double kMinExpectedCount = 5.0;
double ChiSquareZ(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t n);

// The processed next-token distribution of `slice` after `tokens`.
std::vector<double> Distribution(Engine& engine, const SliceView& slice, const std::vector<int32_t>& tokens,
                                 const GenerationOptions& options);
// The same for the full model.
std::vector<double> TargetDistribution(Engine& engine, const std::vector<int32_t>& tokens,
                                       const GenerationOptions& options);

// The lossless-sampling test model: vocabulary 6, 2 strong layers (scale 2),
// so a draft that skips layer 1 and cuts layer 0 to width 6 really differs.
TinyLlamaOptions LosslessSamplingModel();

// Runs `samples` generations of `length` tokens (seeds 0..samples-1 mixed)
// with `options` and returns the z score of their joint distribution against
// the full model's. `after_rejection` (optional) receives how many of them ran
// a round after a round that rejected a drafted token (a rolled-back round).
double SpeculativeJointZ(Engine& engine, const std::vector<int32_t>& prompt, GenerationOptions options,
                         int64_t samples, int64_t length = 2, int64_t* after_rejection = nullptr);

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_FREQUENCY_H_
