// One attention test case shared by the CUDA attention tests: random q, k, v
// for a head layout, t new tokens over `past` cached ones, q and out rows with
// padding, and the CPU Attention's answer (the reference).
#ifndef MATSPEC_TESTS_CUDA_ATTENTION_CASE_H_
#define MATSPEC_TESTS_CUDA_ATTENTION_CASE_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec::cuda_test {

struct AttentionShape {
  int64_t heads, kv_heads, head_dim;
  float softcap;
  int64_t window;
};

// GQA, odd head sizes, soft-cap and sliding windows shorter than the caches.
inline constexpr AttentionShape kAttentionShapes[] = {
    {8, 2, 128, 0.f, 0},                       // llama-like GQA
    {3, 1, 17, 30.f, 7},                       // odd head_dim, soft-cap, tiny window
    {4, 4, 256, 0.f, 100},                     // Gemma-like head_dim, window shorter than the cache
    {2, 1, 64, 50.f, 0},   {5, 5, 1, 0.f, 0},  // head_dim 1
};

struct AttentionCase {
  AttentionShape shape;
  int64_t t = 0, past = 0;
  int64_t q_stride = 0, out_stride = 0, kv_row = 0;
  std::vector<float> q, k, v;  // k, v: [past + t, kv_row]
  std::vector<float> out0;     // the initial out rows (padding must keep it)
  std::vector<float> want;     // the CPU Attention's out rows

  // Parameters over the host vectors (out = nullptr); swap in device pointers to launch.
  AttentionParams Params() const {
    AttentionParams p;
    p.q = q.data();
    p.q_stride = q_stride;
    p.k_cache = k.data();
    p.v_cache = v.data();
    p.past = past;
    p.t = t;
    p.num_heads = shape.heads;
    p.num_kv_heads = shape.kv_heads;
    p.head_dim = shape.head_dim;
    p.scale = shape.softcap > 0.f ? 1.f : 1.f / std::sqrt(static_cast<float>(shape.head_dim));
    p.softcap = shape.softcap;
    p.sliding_window = shape.window;
    p.out_stride = out_stride;
    return p;
  }

  std::string Describe() const {
    return "heads " + std::to_string(shape.heads) + "/" + std::to_string(shape.kv_heads) + " head_dim " +
           std::to_string(shape.head_dim) + " softcap " + std::to_string(shape.softcap) + " window " +
           std::to_string(shape.window) + " t " + std::to_string(t) + " past " + std::to_string(past);
  }
};

inline AttentionCase MakeAttentionCase(const AttentionShape& shape, int64_t t, int64_t past, uint32_t seed) {
  AttentionCase c;
  c.shape = shape;
  c.t = t;
  c.past = past;
  const int64_t width = shape.heads * shape.head_dim;
  c.q_stride = width + 5;
  c.out_stride = width + 3;
  c.kv_row = shape.kv_heads * shape.head_dim;
  c.q = RandomFloats(t * c.q_stride, seed, -2.f, 2.f);
  c.k = RandomFloats((past + t) * c.kv_row, seed + 1);
  c.v = RandomFloats((past + t) * c.kv_row, seed + 2);
  c.out0.assign(t * c.out_stride, 9.f);
  c.want = c.out0;
  AttentionParams p = c.Params();
  p.out = c.want.data();
  const CpuContext cpu_ctx{2};
  std::vector<float> scratch(AttentionScratchFloats(past + t, cpu_ctx.num_threads));
  p.scratch = scratch.data();
  Attention(cpu_ctx, p);
  return c;
}

}  // namespace matspec::cuda_test

#endif  // MATSPEC_TESTS_CUDA_ATTENTION_CASE_H_
