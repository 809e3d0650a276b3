// Attention against an f64 evaluation of the header's definition, over
// past in {0, 5, 37}, t in {1, 2, 5, 9, 17}, GQA ratios 1 / 2 / 3 / 4 / 6, head dims
// that are not multiples of 8, sliding windows, soft-capping, strided q and
// out rows (padding untouched), 1 and 2 threads, with scratch sized exactly by
// AttentionScratchFloats (ASan catches an overrun). Causality: T tokens at
// once give bit-identical rows to T calls of one token each, whose caches end
// at the token and hold NaN in the slots its window excludes. Query heads run
// together (sharing a KV head's loads) give the bits each gives alone. On a
// CpuThreadPool the kernel gives the OpenMP team's bits.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_thread_pool.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kAttentionTol;
using ::matspec::testing::RandomFloats;

struct Case {
  int64_t past, t, heads, kv_heads, d;
  int64_t window;
  float softcap;
};

std::string Describe(const Case& c) {
  return "past=" + std::to_string(c.past) + " t=" + std::to_string(c.t) + " heads=" +
         std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) + " d=" + std::to_string(c.d) +
         " window=" + std::to_string(c.window) + " softcap=" + std::to_string(c.softcap);
}

// Inputs of one case; q and out rows carry padding.
struct Inputs {
  Inputs(const Case& c, uint32_t seed) : c(c) {
    std::mt19937 rng(seed);
    q_stride = c.heads * c.d + 3;
    out_stride = c.heads * c.d + 5;
    const int64_t kv_len = c.past + c.t;
    q = RandomFloats(rng, c.t * q_stride, -2.f, 2.f);
    k = RandomFloats(rng, kv_len * c.kv_heads * c.d, -2.f, 2.f);
    v = RandomFloats(rng, kv_len * c.kv_heads * c.d);
  }
  AttentionParams Params(float* out, float* scratch) const {
    AttentionParams p;
    p.q = q.data();
    p.q_stride = q_stride;
    p.k_cache = k.data();
    p.v_cache = v.data();
    p.past = c.past;
    p.t = c.t;
    p.num_heads = c.heads;
    p.num_kv_heads = c.kv_heads;
    p.head_dim = c.d;
    p.scale = 1.f / std::sqrt(static_cast<float>(c.d));
    p.softcap = c.softcap;
    p.sliding_window = c.window;
    p.out = out;
    p.out_stride = out_stride;
    p.scratch = scratch;
    return p;
  }
  Case c;
  int64_t q_stride, out_stride;
  std::vector<float> q, k, v;
};

// out[j, h * d + i] in f64, straight from the definition.
std::vector<double> Reference(const Inputs& in) {
  const Case& c = in.c;
  const double scale = 1.0 / std::sqrt(static_cast<float>(c.d));
  std::vector<double> out(c.t * c.heads * c.d);
  for (int64_t j = 0; j < c.t; ++j) {
    const int64_t pos = c.past + j;
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t kvh = h / (c.heads / c.kv_heads);
      std::vector<double> w;
      std::vector<int64_t> slots;
      for (int64_t s = 0; s <= pos; ++s) {
        if (c.window > 0 && s <= pos - c.window) continue;
        double dot = 0;
        for (int64_t i = 0; i < c.d; ++i) {
          dot += double(in.q[j * in.q_stride + h * c.d + i]) * in.k[(s * c.kv_heads + kvh) * c.d + i];
        }
        double score = dot * static_cast<float>(scale);
        if (c.softcap > 0) score = c.softcap * std::tanh(score / c.softcap);
        w.push_back(score);
        slots.push_back(s);
      }
      const double m = *std::max_element(w.begin(), w.end());
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - m));
      for (int64_t i = 0; i < c.d; ++i) {
        double acc = 0;
        for (size_t n = 0; n < slots.size(); ++n) {
          acc += w[n] * in.v[(slots[n] * c.kv_heads + kvh) * c.d + i];
        }
        out[(j * c.heads + h) * c.d + i] = acc / sum;
      }
    }
  }
  return out;
}

// Runs the kernel; checks the padding of out and returns the used values.
std::vector<float> RunKernel(const Inputs& in, int threads, CpuThreadPool* pool = nullptr) {
  const Case& c = in.c;
  std::vector<float> out(c.t * in.out_stride, 7.f);
  std::vector<float> scratch(AttentionScratchFloats(c.past + c.t, threads));
  CpuContext ctx{threads};
  ctx.pool = pool;
  Attention(ctx, in.Params(out.data(), scratch.data()));
  std::vector<float> used;
  for (int64_t j = 0; j < c.t; ++j) {
    for (int64_t i = 0; i < in.out_stride; ++i) {
      if (i < c.heads * c.d) {
        used.push_back(out[j * in.out_stride + i]);
      } else {
        EXPECT_EQ(out[j * in.out_stride + i], 7.f) << "padding written at token " << j;
      }
    }
  }
  return used;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  // (heads, kv_heads, head_dim): from {6, 2, 64} on they take the AVX-512
  // code where the CPU has it (one head at a time: odd group, head_dim 64 or
  // 128; two heads: group 2, head_dim 32; three heads: group 3, head_dim 32, and
  // group 6, head_dim 16); {8, 2, 64} takes it two heads at a time too.
  const int64_t head_shapes[][3] = {{4, 4, 3}, {4, 2, 17}, {8, 2, 64}, {2, 1, 1}, {6, 2, 64},
                                    {2, 2, 128}, {4, 2, 32}, {6, 2, 32}, {6, 1, 16}};
  for (int64_t past : {0, 5, 37}) {
    for (int64_t t : {1, 2, 5, 9, 17}) {
      for (const auto& hs : head_shapes) {
        cases.push_back({past, t, hs[0], hs[1], hs[2], 0, 0.f});
      }
      cases.push_back({past, t, 4, 2, 17, 4, 0.f});    // window shorter than the new tokens
      cases.push_back({past, t, 4, 1, 8, 1, 0.f});     // each token sees only itself
      cases.push_back({past, t, 4, 2, 17, 0, 5.f});    // soft-capped scores
      cases.push_back({past, t, 8, 4, 9, 20, 3.f});    // both
    }
  }
  cases.push_back({300, 17, 8, 2, 64, 0, 0.f});  // large enough for a team
  cases.push_back({300, 9, 8, 4, 64, 128, 0.f});
  return cases;
}

TEST(AttentionTest, MatchesReference) {
  uint32_t seed = 1;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(Describe(c));
    Inputs in(c, seed++);
    const std::vector<double> want = Reference(in);
    for (int threads : {1, 2}) {
      SCOPED_TRACE("threads=" + std::to_string(threads));
      EXPECT_TRUE(AllClose(RunKernel(in, threads), want, kAttentionTol));
    }
  }
}

// Token j of a T-token call must equal a 1-token call at past + j whose cache
// ends at slot past + j (and, with a window, holds NaN in the slots before it).
// A causality bug reads the later new tokens in the T-token call and differs.
TEST(AttentionTest, ManyTokensAtOnceEqualOneByOne) {
  uint32_t seed = 100;
  for (const Case& base : {Case{0, 17, 4, 2, 17, 0, 0.f}, Case{6, 9, 8, 2, 64, 0, 0.f},
                           Case{23, 5, 4, 4, 3, 4, 0.f}, Case{3, 9, 4, 1, 16, 0, 5.f},
                           Case{5, 7, 6, 2, 64, 0, 0.f}, Case{2, 6, 4, 2, 32, 3, 0.f},
                           Case{4, 9, 6, 2, 32, 0, 0.f}}) {
    SCOPED_TRACE(Describe(base));
    const Inputs all(base, seed++);
    const std::vector<float> together = RunKernel(all, 2);
    const int64_t row = base.heads * base.d, kv_row = base.kv_heads * base.d;
    for (int64_t j = 0; j < base.t; ++j) {
      Case one = base;
      one.past = base.past + j;
      one.t = 1;
      Inputs single = all;
      single.c = one;
      single.q.assign(all.q.begin() + j * all.q_stride, all.q.begin() + (j + 1) * all.q_stride);
      const int64_t pos = base.past + j;
      const float nan = std::numeric_limits<float>::quiet_NaN();
      single.k = std::vector<float>(all.k.begin(), all.k.begin() + (pos + 1) * kv_row);
      single.v = std::vector<float>(all.v.begin(), all.v.begin() + (pos + 1) * kv_row);
      if (base.window > 0) {
        for (int64_t s = 0; s <= pos - base.window; ++s) {
          std::fill_n(single.k.begin() + s * kv_row, kv_row, nan);
          std::fill_n(single.v.begin() + s * kv_row, kv_row, nan);
        }
      }
      const std::vector<float> alone = RunKernel(single, 1);
      for (int64_t i = 0; i < row; ++i) {
        ASSERT_EQ(alone[i], together[j * row + i]) << "token " << j << " element " << i;
      }
    }
  }
}

// Query heads that share a KV head run together where the AVX-512 code can
// (two or three at once, sharing each cache row load); each must give the
// bits it gives alone: the same inputs with every query head given its own
// copy of its KV head's rows (a group of 1, one head at a time).
TEST(AttentionTest, HeadsRunTogetherEqualEachHeadAlone) {
  uint32_t seed = 300;
  for (const Case& c : {Case{37, 1, 6, 2, 32, 0, 0.f}, Case{5, 9, 6, 2, 32, 0, 0.f}, Case{37, 2, 6, 1, 16, 0, 0.f},
                        Case{37, 1, 4, 2, 32, 0, 0.f}, Case{0, 5, 8, 2, 64, 0, 0.f}, Case{9, 3, 6, 2, 32, 4, 3.f}}) {
    SCOPED_TRACE(Describe(c));
    const Inputs grouped(c, seed++);
    Case ungrouped_case = c;
    ungrouped_case.kv_heads = c.heads;
    Inputs ungrouped = grouped;
    ungrouped.c = ungrouped_case;
    const int64_t group = c.heads / c.kv_heads, slots = c.past + c.t;
    ungrouped.k.assign(slots * c.heads * c.d, 0.f);
    ungrouped.v.assign(slots * c.heads * c.d, 0.f);
    for (int64_t s = 0; s < slots; ++s) {
      for (int64_t h = 0; h < c.heads; ++h) {
        for (int64_t i = 0; i < c.d; ++i) {
          ungrouped.k[(s * c.heads + h) * c.d + i] = grouped.k[(s * c.kv_heads + h / group) * c.d + i];
          ungrouped.v[(s * c.heads + h) * c.d + i] = grouped.v[(s * c.kv_heads + h / group) * c.d + i];
        }
      }
    }
    for (int threads : {1, 2}) EXPECT_EQ(RunKernel(grouped, threads), RunKernel(ungrouped, threads));
  }
}

// Every case, and the large ones that split over a team, on a pool of 2 and
// of 3 (more workers than the context's threads: capped) against OpenMP.
TEST(AttentionTest, OnAPoolMatchesOpenMpBits) {
  CpuThreadPool pool2(2), pool3(3);
  uint32_t seed = 500;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(Describe(c));
    const Inputs in(c, seed++);
    const std::vector<float> omp = RunKernel(in, 2);
    EXPECT_EQ(RunKernel(in, 2, &pool2), omp);
    EXPECT_EQ(RunKernel(in, 2, &pool3), omp);
  }
}

TEST(AttentionTest, WindowCoveringEverythingIsFullAttention) {
  const Case full{11, 5, 4, 2, 17, 0, 0.f};
  Case windowed = full;
  windowed.window = full.past + full.t;
  const Inputs a(full, 9);
  Inputs b = a;
  b.c = windowed;
  EXPECT_EQ(RunKernel(a, 1), RunKernel(b, 1));
}

// Softmax stability: scores of several hundred, all positive, all negative or
// both, where exp without subtracting the row maximum overflows to inf (or
// underflows to a zero sum) and gives NaN. Integer q and k entries and a head
// dim of 16 (scale 1/4) make every score exact in f32, so the kernel must
// still meet the table's tolerance against the f64 reference. Head dim 4
// (scale 1/2, scores up to 640) takes the scalar path on every CPU, head dim
// 16 the AVX-512 one where the CPU has it.
TEST(AttentionTest, LargeScoresStayFiniteAndExact) {
  uint32_t seed = 300;
  for (int sign : {1, -1, 0}) {
    for (const Case& c : {Case{9, 4, 4, 2, 16, 0, 0.f}, Case{30, 3, 4, 1, 16, 8, 0.f},
                          Case{9, 4, 4, 2, 4, 0, 0.f}, Case{30, 3, 4, 1, 4, 8, 0.f}}) {
      SCOPED_TRACE(Describe(c) + " sign " + std::to_string(sign));
      Inputs in(c, seed);
      std::mt19937 rng(seed++);
      std::uniform_int_distribution<int> small(1, 8), large(20, 40), coin(0, 1);
      for (float& x : in.q) x = static_cast<float>(small(rng));
      for (float& x : in.k) {
        const int s = sign != 0 ? sign : (coin(rng) ? 1 : -1);
        x = static_cast<float>(s * large(rng));
      }
      const std::vector<double> want = Reference(in);
      for (int threads : {1, 2}) {
        const std::vector<float> got = RunKernel(in, threads);
        for (float v : got) ASSERT_TRUE(std::isfinite(v)) << "threads " << threads;
        EXPECT_TRUE(AllClose(got, want, kAttentionTol)) << "threads " << threads;
      }
    }
  }
}

TEST(AttentionTest, ScratchGrowsWithThreadsAndLength) {
  EXPECT_GE(AttentionScratchFloats(1, 1), 1);
  EXPECT_GE(AttentionScratchFloats(100, 2), 200);
  EXPECT_GE(AttentionScratchFloats(4096, 1), 4096);
}

}  // namespace
}  // namespace matspec
