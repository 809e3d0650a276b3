// CPU attention: for each (new token, query head), a two-pass softmax over the
// cache slots that token may see. Pass one writes the scores into the thread's
// scratch row and finds their maximum; pass two exponentiates, sums, and
// accumulates the weighted values straight into the output row.
// Work is spread over (token, head) pairs, dealt out one at a time in turn
// (a static schedule in blocks would give the thread holding the last tokens
// of a causal prompt most of the work), grouped by KV head so that the cache
// rows being read stay in L2 (a 512-token prompt's rows of all heads do not). On AVX-512 CPUs a pair runs the
// vectorised code of kernels/cpu/attention_avx512.h when head_dim allows, on
// AVX2 CPUs without AVX-512 that of kernels/cpu/attention_avx2.h.
// Threads: an OpenMP team, or the context's CpuThreadPool when it has one
// (thread r's share, items r, r + threads, ..., becomes one task with its
// own scratch rows, claimed dynamically).
#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/attention_avx2.h"
#include "kernels/cpu/attention_avx512.h"
#include "kernels/cpu_thread_pool.h"

namespace matspec {
namespace {

// Below this many multiply-adds (q.k plus p.v) one thread is faster than a team.
constexpr int64_t kMinParallelMacs = int64_t{1} << 15;
// Scratch rows are padded to this many floats so threads do not share lines.
constexpr int64_t kScratchAlign = 16;
// Score rows per thread: the AVX-512 code runs up to 3 heads at once.
constexpr int64_t kScoreRows = 3;

int64_t ScratchRow(int64_t kv_len) {
  return (kv_len + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

// Eight partial sums: the compiler vectorises this without reassociation flags.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// One (token j, head h) pair. `scores` holds >= past + t floats.
void AttendOne(const AttentionParams& p, int64_t j, int64_t h, float* scores) {
  const int64_t d = p.head_dim;
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t kv_head = h / group;
  const int64_t kv_row = p.num_kv_heads * d;  // floats between cache slots
  const auto [first, count] = VisibleSlotsOf(p, j);

  const float* q = p.q + j * p.q_stride + h * d;
  const float* k = p.k_cache + first * kv_row + kv_head * d;
  const float* v = p.v_cache + first * kv_row + kv_head * d;
  float* out = p.out + j * p.out_stride + h * d;

  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < count; ++s) {
    float score = Dot(q, k + s * kv_row, d) * p.scale;
    if (p.softcap > 0.f) score = p.softcap * std::tanh(score / p.softcap);
    scores[s] = score;
    max_score = std::max(max_score, score);
  }

  std::fill_n(out, d, 0.f);
  double sum = 0.0;
  for (int64_t s = 0; s < count; ++s) {
    const float w = std::exp(scores[s] - max_score);
    sum += w;
    const float* vs = v + s * kv_row;
    for (int64_t i = 0; i < d; ++i) out[i] += w * vs[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < d; ++i) out[i] *= inv;
}

}  // namespace

int64_t AttentionScratchFloats(int64_t kv_len, int num_threads) {
  return kScoreRows * ScratchRow(kv_len) * std::max(num_threads, 1);
}

void Attention(const CpuContext& ctx, const AttentionParams& p) {
  if (p.t <= 0 || p.num_heads <= 0) return;
  const int64_t pairs = p.t * p.num_heads;
  const int64_t row = ScratchRow(p.past + p.t);
  const int64_t avg_visible =
      p.sliding_window > 0 ? std::min(p.sliding_window, p.past + p.t) : p.past + (p.t + 1) / 2;
  const bool avx512 = attention_internal::Avx512AttentionApplies(p);
  const bool avx2 = !avx512 && attention_internal::Avx2AttentionApplies(p);
  // Query heads per work item (consecutive heads of one KV head).
  const int64_t heads = avx512 ? attention_internal::AttentionAvx512Heads(p) : 1;
  const int64_t group = p.num_heads / p.num_kv_heads, items_per_token = group / heads;
  const int64_t items = pairs / heads;
  int threads = static_cast<int>(std::clamp<int64_t>(ctx.num_threads, 1, items));
  if (pairs * avg_visible * p.head_dim * 2 < kMinParallelMacs) threads = 1;
  // Items by KV head, then token, then query heads of the group: the items in
  // flight share one KV head's cache rows, which stay in L2.
  auto run_item = [&](int64_t i, float* scores) {
    const int64_t kv_head = i / (p.t * items_per_token), rest = i % (p.t * items_per_token);
    const int64_t j = rest / items_per_token, h = kv_head * group + rest % items_per_token * heads;
    if (avx512) {
      attention_internal::AttendAvx512(p, j, h, scores, row);
    } else if (avx2) {
      attention_internal::AttendAvx2(p, j, h, scores);
    } else {
      AttendOne(p, j, h, scores);
    }
  };
  if (ctx.pool != nullptr && threads > 1) {
    threads = std::min(threads, ctx.pool->num_threads());
    ctx.pool->ParallelFor(threads, [&](int64_t r) {
      float* scores = p.scratch + kScoreRows * row * r;
      for (int64_t i = r; i < items; i += threads) run_item(i, scores);
    });
    return;
  }
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* scores = p.scratch + kScoreRows * row * omp_get_thread_num();
#pragma omp for schedule(static, 1)
    for (int64_t i = 0; i < items; ++i) run_item(i, scores);
  }
}

}  // namespace matspec
