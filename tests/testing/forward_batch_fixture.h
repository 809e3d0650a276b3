// What the batched-forward tests share (tests/forward_batch_test.cc on the
// CPU, tests/cuda/forward_batch_test.cc on a GPU): the tiny llama they build,
// its draft slice and random token ids.
#ifndef MATSPEC_TESTS_TESTING_FORWARD_BATCH_FIXTURE_H_
#define MATSPEC_TESTS_TESTING_FORWARD_BATCH_FIXTURE_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "draft/slice_spec.h"
#include "engine/model_config.h"
#include "engine/slice_view.h"
#include "kernels/dtype.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec::testing {

// A 2-layer llama (hidden 128, 4 heads over 2 KV heads, FFN widths 256 and
// 192: the second layer already narrower than the first) of `dtype` weights.
inline TinyLlamaOptions ForwardBatchLlama(int64_t vocab, DType dtype) {
  TinyLlamaOptions opt;
  opt.vocab = vocab;
  opt.hidden = 128;
  opt.layers = 2;
  opt.heads = 4;
  opt.kv_heads = 2;
  opt.ffn_widths = {256, 192};
  opt.dtype = dtype;
  opt.seed = 77;
  return opt;
}

// Its draft: every layer at FFN width 64.
inline absl::StatusOr<SliceView> ForwardBatchDraft(const ModelConfig& config) {
  absl::StatusOr<SliceSpec> spec = SliceSpecFromFlags("64", "", config);
  if (!spec.ok()) return spec.status();
  return ValidateSlice(*spec, config);
}

inline std::vector<int32_t> RandomTokens(std::mt19937& rng, int64_t n, int64_t vocab) {
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = id(rng);
  return out;
}

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_FORWARD_BATCH_FIXTURE_H_
