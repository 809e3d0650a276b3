// Helpers shared by the kernel tests (CPU against a reference now, CUDA against
// the CPU later): the tolerance table of tests/TOLERANCES.md as constants, an
// element-wise comparison that reports the first mismatches and the worst
// error, seeded random data, and weight buffers in any dtype whose unused
// elements (padding of a slice) are NaN so that reading one fails the test.
// Header-only so it needs no build change.
#ifndef MATSPEC_TESTS_TESTING_KERNEL_CHECKS_H_
#define MATSPEC_TESTS_TESTING_KERNEL_CHECKS_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/tensor_view.h"

namespace matspec::testing {

// |got - ref| <= atol + rtol * |ref|, element-wise.
struct Tolerance {
  double atol;
  double rtol;
};

// The rows of tests/TOLERANCES.md. Change both together.
inline constexpr Tolerance kMatMulTol{2e-5, 2e-5};       // CPU vs f64 reference, any weight dtype
// The bf16-x path (AVX512_BF16, bf16 weights): vs the reference fed the same
// bf16-rounded x (RoundToBf16LikeMatMul), and vs the reference on the f32 x.
inline constexpr Tolerance kMatMulBf16SameXTol{2e-6, 2e-6};
inline constexpr Tolerance kMatMulBf16XTol{1e-2, 1e-2};
// Quantized weights (q8, q4): vs the reference on the same dequantized weights
// fed the same quantized x (QuantizeActivationsLikeMatMul), and vs the
// reference on the f32 x.
inline constexpr Tolerance kMatMulQuantSameXTol{2e-5, 2e-5};
inline constexpr Tolerance kMatMulQuantXTol{2e-2, 2e-2};
inline constexpr Tolerance kAttentionTol{2e-6, 2e-5};    // CPU vs f64 reference
inline constexpr Tolerance kRmsNormTol{1e-6, 2e-6};      // CPU vs f64 reference, any weight dtype
inline constexpr Tolerance kRopeTol{1e-6, 1e-6};         // CPU vs f64 reference, same f32 angle
inline constexpr Tolerance kRopeExactAngleTol{1.2e-5, 0};  // CPU vs exact f64 angle, positions < 64
inline constexpr Tolerance kActivationTol{1e-6, 1e-6};   // CPU vs f64 reference
inline constexpr Tolerance kEmbeddingTol{0.0, 0.0};      // exact: a conversion and one product
inline constexpr Tolerance kProbsTol{1e-7, 1e-5};        // probabilities vs f64 reference
inline constexpr double kProbSumTol = 1e-5;              // |sum(probs) - 1|

// MATSPEC_TOLERANCE_SCALE (a positive number, default 1) scales every
// tolerance AllClose applies: tests/TOLERANCES.md's margin claim ("every
// test passes at 0.3x the table") is checked with MATSPEC_TOLERANCE_SCALE=0.3.
inline double ToleranceScale() {
  const char* env = std::getenv("MATSPEC_TOLERANCE_SCALE");
  if (env == nullptr) return 1.0;
  const double scale = std::atof(env);
  return scale > 0.0 ? scale : 1.0;
}

// Compares n values; on failure lists the first mismatches and the worst error.
inline ::testing::AssertionResult AllClose(const float* got, const double* ref, int64_t n,
                                           Tolerance tol) {
  const double scale = ToleranceScale();
  tol.atol *= scale;
  tol.rtol *= scale;
  int64_t bad = 0, worst = -1;
  double worst_excess = 0.0;
  std::ostringstream first;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double allowed = tol.atol + tol.rtol * std::fabs(ref[i]);
    const bool ok = err <= allowed;  // false for NaN
    if (!ok) {
      if (bad < 5) first << "\n  [" << i << "] got " << got[i] << " want " << ref[i] << " err " << err;
      ++bad;
    }
    const double excess = std::isnan(err) ? std::numeric_limits<double>::infinity() : err - allowed;
    if (worst < 0 || excess > worst_excess) {
      worst = i;
      worst_excess = excess;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << n << " values outside atol " << tol.atol << " + rtol " << tol.rtol
         << " * |ref|; first:" << first.str() << "\n  worst [" << worst << "] got " << got[worst]
         << " want " << ref[worst];
}

inline ::testing::AssertionResult AllClose(const std::vector<float>& got,
                                           const std::vector<double>& ref, Tolerance tol) {
  if (got.size() != ref.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << ref.size();
  }
  return AllClose(got.data(), ref.data(), static_cast<int64_t>(got.size()), tol);
}

inline std::vector<float> RandomFloats(std::mt19937& rng, int64_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// A [rows, ld] weight buffer of one dtype. Only the view's rows x cols block
// holds data; every other element (ld padding, rows past the view) is NaN.
class WeightBuffer {
 public:
  // values: [view_rows, view_cols] row-major; stored rounded to `dtype`.
  WeightBuffer(DType dtype, int64_t rows, int64_t ld, int64_t view_rows, int64_t view_cols,
               const std::vector<float>& values)
      : dtype_(dtype), rows_(rows), ld_(ld), bytes_(rows * ld * DTypeSize(dtype)) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int64_t i = 0; i < rows * ld; ++i) Store(i, nan);
    for (int64_t r = 0; r < view_rows; ++r) {
      for (int64_t c = 0; c < view_cols; ++c) Store(r * ld + c, values[r * view_cols + c]);
    }
    view_ = MatrixView{bytes_.data(), dtype, view_rows, view_cols, ld};
  }

  // The [view_rows, view_cols] view with leading dimension ld.
  const MatrixView& view() const { return view_; }

 private:
  void Store(int64_t i, float f) {
    switch (dtype_) {
      case DType::kF32: std::memcpy(bytes_.data() + 4 * i, &f, 4); return;
      case DType::kBF16: {
        const uint16_t h = F32ToBf16(f);
        std::memcpy(bytes_.data() + 2 * i, &h, 2);
        return;
      }
      case DType::kF16: {
        const uint16_t h = F32ToF16(f);
        std::memcpy(bytes_.data() + 2 * i, &h, 2);
        return;
      }
      case DType::kQ8:
      case DType::kQ4: return;  // quantized buffers come from QuantizeMatrix
    }
  }

  DType dtype_;
  int64_t rows_;
  int64_t ld_;
  std::vector<uint8_t> bytes_;
  MatrixView view_;
};

inline const DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_KERNEL_CHECKS_H_
