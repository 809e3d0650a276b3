// Causal scaled-dot-product attention of T new query tokens over a KV cache
// with grouped-query heads. Used at T = 1 (decode / draft step) and T = k+1
// (verification): new token j (absolute position past + j) sees cache slots
// 0 .. past + j, i.e. every cached token and the new tokens up to itself. The
// new tokens' keys and values are already written to the cache.
//   score = (q . k) * scale, optionally soft-capped: cap * tanh(score / cap)
//   sliding_window > 0: token at position p only sees positions > p - window.
#ifndef MATSPEC_KERNELS_ATTENTION_H_
#define MATSPEC_KERNELS_ATTENTION_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu_context.h"

namespace matspec {

struct AttentionParams {
  const float* q = nullptr;        // [t, num_heads, head_dim] f32, rows q_stride apart
  int64_t q_stride = 0;
  const float* k_cache = nullptr;  // [kv_len, num_kv_heads, head_dim] f32, contiguous
  const float* v_cache = nullptr;  // [kv_len, num_kv_heads, head_dim] f32, contiguous
  int64_t past = 0;                // cached tokens before the first new one
  int64_t t = 0;                   // new tokens; kv_len = past + t
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;        // divides num_heads
  int64_t head_dim = 0;
  float scale = 1.f;               // usually 1/sqrt(head_dim)
  float softcap = 0.f;             // 0: none
  int64_t sliding_window = 0;      // 0: full attention
  float* out = nullptr;            // [t, num_heads * head_dim] f32, rows out_stride apart
  int64_t out_stride = 0;
  float* scratch = nullptr;        // >= AttentionScratchFloats(...) floats
};

// The cache slots new token j (at position past + j) sees: count slots from
// `first`, the window rule of the header.
struct VisibleSlots {
  int64_t first;
  int64_t count;
};
inline VisibleSlots VisibleSlotsOf(const AttentionParams& p, int64_t j) {
  const int64_t pos = p.past + j;
  const int64_t first = p.sliding_window > 0 ? std::max<int64_t>(0, pos - p.sliding_window + 1) : 0;
  return {first, pos - first + 1};
}

// Parameters for t new tokens after `past` over contiguous caches, with q and
// out rows packed ([t, num_heads * head_dim]); scale 1/sqrt(head_dim), no
// soft-cap, no window, no scratch: callers change what their model needs.
inline AttentionParams PackedAttentionParams(int64_t num_heads, int64_t num_kv_heads, int64_t head_dim,
                                             const float* q, const float* k_cache, const float* v_cache,
                                             int64_t past, int64_t t, float* out) {
  AttentionParams ap;
  ap.q = q;
  ap.q_stride = num_heads * head_dim;
  ap.k_cache = k_cache;
  ap.v_cache = v_cache;
  ap.past = past;
  ap.t = t;
  ap.num_heads = num_heads;
  ap.num_kv_heads = num_kv_heads;
  ap.head_dim = head_dim;
  ap.scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  ap.out = out;
  ap.out_stride = num_heads * head_dim;
  return ap;
}

// Scratch (floats) the CPU kernel needs for these dimensions and thread count.
int64_t AttentionScratchFloats(int64_t kv_len, int num_threads);

void Attention(const CpuContext& ctx, const AttentionParams& p);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_ATTENTION_H_
