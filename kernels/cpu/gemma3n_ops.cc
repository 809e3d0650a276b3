// CPU implementations of the Gemma 3n-only ops. Reductions accumulate in f64
// (as the other CPU kernels do) and round once.
#include "kernels/gemma3n_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/activation_avx512.h"

namespace matspec {

double NormalQuantile(double p) {
  if (p <= 0.0) return -HUGE_VAL;
  if (p >= 1.0) return HUGE_VAL;
  // Acklam's coefficients.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // Halley refinement against the exact CDF.
  for (int it = 0; it < 2; ++it) {
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
  }
  return x;
}

void GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier) {
  if (n <= 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = z + r * stride;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += row[i];
    const double mean = sum / static_cast<double>(n);
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += (row[i] - mean) * (row[i] - mean);
    const float stdev = static_cast<float>(std::sqrt(ss / static_cast<double>(n)));
    const float cutoff = static_cast<float>(mean) + stdev * multiplier;
    for (int64_t i = 0; i < n; ++i) row[i] = std::max(0.f, row[i] - cutoff);
  }
}

void MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim, float floor) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* tg = target + r * dim;
    float* xr = x + r * dim;
    double st = 0.0, sx = 0.0;
    for (int64_t i = 0; i < dim; ++i) {
      st += static_cast<double>(tg[i]) * tg[i];
      sx += static_cast<double>(xr[i]) * xr[i];
    }
    const float tgt = static_cast<float>(std::sqrt(st / static_cast<double>(dim)));
    const float mag = std::sqrt(std::max(static_cast<float>(sx / static_cast<double>(dim)), floor));
    for (int64_t i = 0; i < dim; ++i) xr[i] = xr[i] * tgt / mag;
  }
}

void AltUpPredict(const float* const* streams, const float* coefs, int64_t n_streams, int64_t rows,
                  int64_t dim, float* const* pred) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = coefs + r * n_streams * n_streams;
    for (int64_t i = 0; i < n_streams; ++i) {
      float* out = pred[i] + r * dim;
      const float* xi = streams[i] + r * dim;
      for (int64_t e = 0; e < dim; ++e) {
        float acc = 0.f;
        for (int64_t j = 0; j < n_streams; ++j) acc += c[i * n_streams + j] * streams[j][r * dim + e];
        out[e] = xi[e] + acc;
      }
    }
  }
}

void AltUpCorrect(float* const* pred, const float* y, const float* k, int64_t n_streams, int64_t active,
                  int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * dim;
    float* act = pred[active] + r * dim;
    // The innovation uses the active prediction before it is updated.
    for (int64_t e = 0; e < dim; ++e) {
      const float innov = yr[e] - act[e];
      for (int64_t i = 0; i < n_streams; ++i) {
        if (i == active) continue;
        pred[i][r * dim + e] += k[r * n_streams + i] * innov;
      }
      act[e] += k[r * n_streams + active] * innov;
    }
  }
}

void AltUpCoefs(const AltUpCoefsParams& p) {
  for (int64_t t = 0; t < p.rows; ++t) {
    const float* raw = p.raw + t * p.n;
    for (int64_t r = 0; r < p.out_n; ++r) {
      float acc = 0.f;
      for (int64_t c = 0; c < p.n; ++c) acc += p.w[r * p.n + c] * std::tanh(raw[c]);
      p.out[t * p.out_n + r] = p.add_one ? acc + 1.f : acc;
    }
  }
}

void Scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor, float* out) {
  if (c == nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = (a[i] + b[i]) / divisor;
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = ((a[i] + b[i]) + c[i]) / divisor;
}

void ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < dim; ++e) out[r * dim + e] = x[r * dim + e] * scale.At(e);
  }
}

void PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers, int64_t l,
                   float scale, float* pli) {
  for (int64_t j = 0; j < t; ++j) {
    float* out = pli + (j * layers + l) * p;
    for (int64_t i = 0; i < p; ++i) out[i] = (proj[j * p + i] + emb[j * p + i]) * scale;
  }
}

void ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) {
  for (int64_t i = 0; i < t; ++i) out[i] = ids[i] < limit ? ids[i] : 0;
}

void LogitSoftcap(float* x, int64_t n, float cap) {
  if (activation_internal::HasAvx512Activations()) {
    activation_internal::LogitSoftcapAvx512(x, n, cap);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isinf(x[i])) x[i] = cap * std::tanh(x[i] / cap);
  }
}

}  // namespace matspec
