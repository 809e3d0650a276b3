// The CPU Gemma 3n ops the shared decoder (engine/gemma3n_layer.h) runs
// through Ops, and their CpuOps entries: each against the plain f32 loop the
// CPU layer ran before (bit-exact: the decoder's numerics must not move), and
// the AltUp coefficients against an f64 evaluation of the formula.
// (NormalQuantile, GaussianTopK, MatchMagnitude and AltUp predict/correct have
// their formula tests in gemma3n_config_test.cc; the soft-cap has its own here.)
#include "kernels/gemma3n_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/cpu_ops.h"
#include "kernels/activation.h"
#include "kernels/cpu_context.h"
#include "kernels/embedding.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::RandomFloats;

TEST(Gemma3nOpsTest, AltUpCoefsIsTheOldRouterLoop) {
  std::mt19937 rng(1);
  const int64_t rows = 3, n = 4;
  const std::vector<float> raw = RandomFloats(rng, rows * n, -3.f, 3.f);
  for (bool add_one : {false, true}) {
    const int64_t out_n = add_one ? n : n * n;
    const std::vector<float> w = RandomFloats(rng, out_n * n, -2.f, 2.f);
    std::vector<float> got(rows * out_n, 99.f);
    AltUpCoefs(AltUpCoefsParams{
        .raw = raw.data(), .rows = rows, .n = n, .w = w.data(), .out_n = out_n, .add_one = add_one,
        .out = got.data()});
    // The loop of the old CPU layer: modal = tanh(raw) first, then the f32 sums.
    std::vector<float> modal(raw);
    for (float& m : modal) m = std::tanh(m);
    for (int64_t j = 0; j < rows; ++j) {
      for (int64_t r = 0; r < out_n; ++r) {
        float acc = 0.f;
        for (int64_t c = 0; c < n; ++c) acc += w[r * n + c] * modal[j * n + c];
        const float want = add_one ? acc + 1.f : acc;
        EXPECT_EQ(got[j * out_n + r], want) << "row " << j << " coef " << r;
        double ref = add_one ? 1.0 : 0.0;
        for (int64_t c = 0; c < n; ++c) ref += double(w[r * n + c]) * std::tanh(double(raw[j * n + c]));
        EXPECT_NEAR(got[j * out_n + r], ref, 1e-5);
      }
    }
  }
}

TEST(Gemma3nOpsTest, ElementWiseOpsAreTheOldLoops) {
  std::mt19937 rng(2);
  const int64_t n = 37;
  const std::vector<float> a = RandomFloats(rng, n, -4.f, 4.f);
  const std::vector<float> b = RandomFloats(rng, n, -4.f, 4.f);
  const std::vector<float> c = RandomFloats(rng, n, -4.f, 4.f);
  const float sqrt2 = std::sqrt(2.f);

  std::vector<float> out(n), out2(n);
  SumDiv(a.data(), b.data(), c.data(), n, sqrt2, out.data());
  SumDiv(a.data(), b.data(), nullptr, n, 1.f, out2.data());
  std::vector<float> scaled(a);
  Scale(scaled.data(), n, 1.f / 7.f);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(out[i], ((a[i] + b[i]) + c[i]) / sqrt2) << i;
    EXPECT_EQ(out2[i], a[i] + b[i]) << i;
    float s = a[i];
    s *= 1.f / 7.f;
    EXPECT_EQ(scaled[i], s) << i;
  }
  // In place on the first operand.
  std::vector<float> in_place(a);
  SumDiv(in_place.data(), b.data(), c.data(), n, sqrt2, in_place.data());
  EXPECT_EQ(in_place, out);
}

// The final soft-cap against cap * tanh(x / cap) in f64: within 1e-5 (f32
// exp, a few ulp of cap = 30); ±inf (a reduced head's unscored tokens) and NaN
// (for the finite check after it) stay as they are; lengths that leave a tail.
TEST(Gemma3nOpsTest, LogitSoftcapIsCapTimesTanh) {
  std::mt19937 rng(4);
  for (int64_t n : {1, 17, 1000}) {
    std::vector<float> x = RandomFloats(rng, n, -200.f, 200.f);
    for (int64_t i = 0; i < n; i += 5) x[i] *= 0.01f;  // small logits: tanh's linear part
    if (n > 3) {
      x[1] = INFINITY;
      x[2] = -INFINITY;
      x[3] = NAN;
    }
    std::vector<float> got = x;
    LogitSoftcap(got.data(), n, 30.f);
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) {
        EXPECT_TRUE(std::isnan(x[i]) ? std::isnan(got[i]) : got[i] == x[i]) << i;
        continue;
      }
      const double want = 30.0 * std::tanh(static_cast<double>(x[i]) / 30.0);
      EXPECT_NEAR(got[i], want, 1e-5) << "x = " << x[i];
      EXPECT_LE(std::abs(got[i]), 30.f) << i;
    }
  }
}

TEST(Gemma3nOpsTest, ScaleColumnsReadsTheScaleInItsDtype) {
  std::mt19937 rng(3);
  const int64_t rows = 3, dim = 5;
  const std::vector<float> x = RandomFloats(rng, rows * dim, -2.f, 2.f);
  const std::vector<float> scale = RandomFloats(rng, dim, 0.5f, 1.5f);
  const std::vector<uint16_t> scale_bf16 = {0x3f80, 0x4000, 0xbf00, 0x3e80, 0x0000};  // 1, 2, -0.5, 0.25, 0
  const float bf16_values[] = {1.f, 2.f, -0.5f, 0.25f, 0.f};
  std::vector<float> got(rows * dim), got_bf16(rows * dim);
  ScaleColumns(x.data(), rows, dim, VectorView{.data = scale.data(), .dtype = DType::kF32, .size = dim}, got.data());
  ScaleColumns(x.data(), rows, dim, VectorView{.data = scale_bf16.data(), .dtype = DType::kBF16, .size = dim},
               got_bf16.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < dim; ++e) {
      EXPECT_EQ(got[r * dim + e], x[r * dim + e] * scale[e]);
      EXPECT_EQ(got_bf16[r * dim + e], x[r * dim + e] * bf16_values[e]);
    }
  }
}

TEST(Gemma3nOpsTest, PerLayerInputFillsOneSlotAndClampIdsMapsOutsideIdsToZero) {
  std::mt19937 rng(4);
  const int64_t t = 3, p = 4, layers = 5, l = 2;
  const std::vector<float> proj = RandomFloats(rng, t * p), emb = RandomFloats(rng, t * p);
  const float scale = 1.f / std::sqrt(2.f);
  std::vector<float> pli(t * layers * p, 99.f);
  PerLayerInput(proj.data(), emb.data(), t, p, layers, l, scale, pli.data());
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t s = 0; s < layers; ++s) {
      for (int64_t i = 0; i < p; ++i) {
        const float want = s == l ? (proj[j * p + i] + emb[j * p + i]) * scale : 99.f;
        EXPECT_EQ(pli[(j * layers + s) * p + i], want) << "token " << j << " slot " << s << " i " << i;
      }
    }
  }

  const std::vector<int32_t> ids = {0, 79, 80, 95, 3};
  std::vector<int32_t> out(ids.size(), -1);
  ClampIds(ids.data(), static_cast<int64_t>(ids.size()), 80, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{0, 79, 0, 0, 3}));
}

// The CpuOps entries run the same kernels with the params unpacked.
TEST(Gemma3nOpsTest, CpuOpsRunTheCpuKernels) {
  CpuContext ctx;
  const CpuOps ops(ctx);
  std::mt19937 rng(5);
  const int64_t n_streams = 4, rows = 2, dim = 6;
  std::vector<std::vector<float>> x(n_streams), pred_ops(n_streams), pred_ref(n_streams);
  std::vector<const float*> xs;
  std::vector<float*> p_ops, p_ref;
  for (int64_t i = 0; i < n_streams; ++i) {
    x[i] = RandomFloats(rng, rows * dim);
    pred_ops[i].assign(rows * dim, 0.f);
    pred_ref[i].assign(rows * dim, 0.f);
    xs.push_back(x[i].data());
    p_ops.push_back(pred_ops[i].data());
    p_ref.push_back(pred_ref[i].data());
  }
  const std::vector<float> coefs = RandomFloats(rng, rows * n_streams * n_streams);
  ASSERT_TRUE(ops.AltUpPredict(AltUpPredictParams{.streams = xs.data(), .coefs = coefs.data(),
                                                  .n_streams = n_streams, .rows = rows, .dim = dim,
                                                  .pred = p_ops.data()})
                  .ok());
  AltUpPredict(xs.data(), coefs.data(), n_streams, rows, dim, p_ref.data());
  EXPECT_EQ(pred_ops, pred_ref);

  const std::vector<float> y = RandomFloats(rng, rows * dim);
  const std::vector<float> k = RandomFloats(rng, rows * n_streams);
  ASSERT_TRUE(ops.AltUpCorrect(AltUpCorrectParams{.pred = p_ops.data(), .y = y.data(), .k = k.data(),
                                                  .n_streams = n_streams, .active = 1, .rows = rows, .dim = dim})
                  .ok());
  AltUpCorrect(p_ref.data(), y.data(), k.data(), n_streams, 1, rows, dim);
  EXPECT_EQ(pred_ops, pred_ref);

  // CopyRows between row strides; AddInPlace; GaussianTopK and MatchMagnitude.
  std::vector<float> src = RandomFloats(rng, 3 * 7), dst(3 * 5, 99.f);
  ASSERT_TRUE(ops.CopyRows(src.data(), 7, 3, 4, dst.data(), 5).ok());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 5; ++c) EXPECT_EQ(dst[r * 5 + c], c < 4 ? src[r * 7 + c] : 99.f);
  }
  std::vector<float> acc = RandomFloats(rng, 9), acc_ref(acc);
  const std::vector<float> add = RandomFloats(rng, 9);
  ASSERT_TRUE(ops.AddInPlace(acc.data(), add.data(), 9).ok());
  AddInPlace(acc_ref.data(), add.data(), 9);
  EXPECT_EQ(acc, acc_ref);
  std::vector<float> z = RandomFloats(rng, 2 * 8), z_ref(z);
  ASSERT_TRUE(ops.GaussianTopK(z.data(), 2, 6, 8, 0.3f).ok());
  GaussianTopK(z_ref.data(), 2, 6, 8, 0.3f);
  EXPECT_EQ(z, z_ref);
  std::vector<float> m = RandomFloats(rng, 2 * 5), m_ref(m);
  const std::vector<float> target = RandomFloats(rng, 2 * 5);
  ASSERT_TRUE(ops.MatchMagnitude(m.data(), target.data(), 2, 5, kGemma3nMagnitudeFloor).ok());
  MatchMagnitude(m_ref.data(), target.data(), 2, 5, kGemma3nMagnitudeFloor);
  EXPECT_EQ(m, m_ref);

  // EmbeddingGather of a scaled row.
  const std::vector<float> table = RandomFloats(rng, 4 * 3);
  const std::vector<int32_t> ids = {2, 0};
  std::vector<float> emb(2 * 3), emb_ref(2 * 3);
  const MatrixView tv{.data = table.data(), .dtype = DType::kF32, .rows = 4, .cols = 3, .ld = 3};
  ASSERT_TRUE(ops.EmbeddingGather(tv, ids.data(), 2, 1.5f, emb.data()).ok());
  EmbeddingGather(tv, ids.data(), 2, 1.5f, emb_ref.data());
  EXPECT_EQ(emb, emb_ref);

  // The element-wise entries and the router coefficients.
  const std::vector<float> u = RandomFloats(rng, 8), w = RandomFloats(rng, 8), c = RandomFloats(rng, 8);
  std::vector<float> sd(8), sd_ref(8), sc(u), sc_ref(u), cols(8), cols_ref(8);
  ASSERT_TRUE(ops.SumDiv(u.data(), w.data(), c.data(), 8, 1.25f, sd.data()).ok());
  SumDiv(u.data(), w.data(), c.data(), 8, 1.25f, sd_ref.data());
  EXPECT_EQ(sd, sd_ref);
  ASSERT_TRUE(ops.Scale(sc.data(), 8, 0.3f).ok());
  Scale(sc_ref.data(), 8, 0.3f);
  EXPECT_EQ(sc, sc_ref);
  const VectorView cv{.data = c.data(), .dtype = DType::kF32, .size = 4};
  ASSERT_TRUE(ops.ScaleColumns(u.data(), 2, 4, cv, cols.data()).ok());
  ScaleColumns(u.data(), 2, 4, cv, cols_ref.data());
  EXPECT_EQ(cols, cols_ref);
  std::vector<float> pli(2 * 3 * 4, 7.f), pli_ref(pli);
  ASSERT_TRUE(ops.PerLayerInput(u.data(), w.data(), 2, 4, 3, 1, 0.5f, pli.data()).ok());
  PerLayerInput(u.data(), w.data(), 2, 4, 3, 1, 0.5f, pli_ref.data());
  EXPECT_EQ(pli, pli_ref);
  const std::vector<int32_t> raw_ids = {5, 1};
  std::vector<int32_t> clamped(2);
  ASSERT_TRUE(ops.ClampIds(raw_ids.data(), 2, 3, clamped.data()).ok());
  EXPECT_EQ(clamped, (std::vector<int32_t>{0, 1}));
  std::vector<float> co(2 * 4), co_ref(2 * 4);
  const AltUpCoefsParams cp{
      .raw = u.data(), .rows = 2, .n = 4, .w = c.data(), .out_n = 2, .add_one = true, .out = co.data()};
  ASSERT_TRUE(ops.AltUpCoefs(cp).ok());
  AltUpCoefsParams cp_ref = cp;
  cp_ref.out = co_ref.data();
  AltUpCoefs(cp_ref);
  EXPECT_EQ(co, co_ref);
}

}  // namespace
}  // namespace matspec
