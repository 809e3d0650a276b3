// Gemma 3n ops on the GPU (see gemma3n_ops_cuda.h). Row reductions: one block
// per row, CUB block sums of f64; element-wise work uses __fmul_rn/__fadd_rn/
// __fdiv_rn so nvcc does not contract into FMAs the CPU does not use.
#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

// Stream pointers passed by value into a launch.
struct StreamPtrs {
  const float* in[kAltUpMaxStreams];
  float* out[kAltUpMaxStreams];
};

__global__ void GaussianTopKKernel(float* z, int64_t n, int64_t stride, float multiplier) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ double mean_shared;
  __shared__ float cutoff_shared;
  float* row = z + static_cast<int64_t>(blockIdx.x) * stride;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += row[i];
  const double total = BlockReduce(temp).Sum(sum);
  if (threadIdx.x == 0) mean_shared = total / static_cast<double>(n);
  __syncthreads();
  const double mean = mean_shared;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const double d = static_cast<double>(row[i]) - mean;
    ss += d * d;
  }
  const double total_ss = BlockReduce(temp).Sum(ss);
  if (threadIdx.x == 0) {
    const float stdev = static_cast<float>(sqrt(total_ss / static_cast<double>(n)));
    cutoff_shared = __fadd_rn(static_cast<float>(mean), __fmul_rn(stdev, multiplier));
  }
  __syncthreads();
  const float cutoff = cutoff_shared;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) row[i] = fmaxf(0.f, __fsub_rn(row[i], cutoff));
}

__global__ void MatchMagnitudeKernel(float* x, const float* target, int64_t dim, float floor) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ float tgt_shared, mag_shared;
  const int64_t r = blockIdx.x;
  float* xr = x + r * dim;
  const float* tg = target + r * dim;
  double st = 0.0, sx = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    st += static_cast<double>(tg[i]) * tg[i];
    sx += static_cast<double>(xr[i]) * xr[i];
  }
  const double total_t = BlockReduce(temp).Sum(st);
  __syncthreads();  // the temp storage is reused
  const double total_x = BlockReduce(temp).Sum(sx);
  if (threadIdx.x == 0) {
    tgt_shared = static_cast<float>(sqrt(total_t / static_cast<double>(dim)));
    mag_shared = sqrtf(fmaxf(static_cast<float>(total_x / static_cast<double>(dim)), floor));
  }
  __syncthreads();
  const float tgt = tgt_shared, mag = mag_shared;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) xr[i] = __fdiv_rn(__fmul_rn(xr[i], tgt), mag);
}

__global__ void AltUpPredictKernel(StreamPtrs s, const float* coefs, int n_streams, int64_t rows, int64_t dim) {
  const int64_t total = rows * dim;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / dim;
    const float* c = coefs + r * n_streams * n_streams;
    float x[kAltUpMaxStreams];
    for (int j = 0; j < n_streams; ++j) x[j] = s.in[j][idx];
    for (int i = 0; i < n_streams; ++i) {
      float acc = 0.f;
      for (int j = 0; j < n_streams; ++j) acc = __fadd_rn(acc, __fmul_rn(c[i * n_streams + j], x[j]));
      s.out[i][idx] = __fadd_rn(x[i], acc);
    }
  }
}

__global__ void AltUpCorrectKernel(StreamPtrs s, const float* y, const float* k, int n_streams, int active,
                                   int64_t rows, int64_t dim) {
  const int64_t total = rows * dim;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / dim;
    const float innov = __fsub_rn(y[idx], s.out[active][idx]);
    for (int i = 0; i < n_streams; ++i) {
      s.out[i][idx] = __fadd_rn(s.out[i][idx], __fmul_rn(k[r * n_streams + i], innov));
    }
  }
}

__global__ void AltUpCoefsKernel(const float* raw, int64_t rows, int n, const float* w, int64_t out_n, bool add_one,
                                 float* out) {
  const int64_t total = rows * out_n;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = idx / out_n;
    const int64_t r = idx - t * out_n;
    float acc = 0.f;
    for (int c = 0; c < n; ++c) acc = __fadd_rn(acc, __fmul_rn(w[r * n + c], tanhf(raw[t * n + c])));
    out[idx] = add_one ? __fadd_rn(acc, 1.f) : acc;
  }
}

__global__ void TanhKernel(const float* raw, int64_t count, float* out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = tanhf(raw[i]);
  }
}

__global__ void SoftcapKernel(float* x, int64_t n, float cap) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (!isinf(x[i])) x[i] = __fmul_rn(cap, tanhf(__fdiv_rn(x[i], cap)));
  }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = __fmul_rn(x[i], s);
  }
}

__global__ void SumDivKernel(const float* a, const float* b, const float* c, int64_t n, float divisor, float* out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = __fadd_rn(a[i], b[i]);
    if (c != nullptr) v = __fadd_rn(v, c[i]);
    out[i] = __fdiv_rn(v, divisor);
  }
}

template <DType D>
__global__ void ScaleColumnsKernel(const float* x, int64_t rows, int64_t dim, const void* scale, float* out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * dim;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __fmul_rn(x[i], cuda_detail::LoadF32<D>(scale, i % dim));
  }
}

__global__ void PerLayerInputKernel(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers,
                                    int64_t l, float scale, float* pli) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < t * p;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i / p;
    pli[(j * layers + l) * p + (i - j * p)] = __fmul_rn(__fadd_rn(proj[i], emb[i]), scale);
  }
}

__global__ void ClampIdsKernel(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < t) out[i] = ids[i] < limit ? ids[i] : 0;
}

absl::Status Launched() {
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status Bad(const char* what) { return absl::InvalidArgumentError(what); }

}  // namespace

absl::Status GaussianTopKCuda(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier,
                              cudaStream_t stream) {
  if (rows < 0 || rows > INT32_MAX || n < 0 || stride < n) return Bad("GaussianTopKCuda: bad rows, n or stride");
  if (rows == 0 || n == 0) return absl::OkStatus();
  if (z == nullptr) return Bad("GaussianTopKCuda: z is null");
  GaussianTopKKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(z, n, stride, multiplier);
  return Launched();
}

absl::Status MatchMagnitudeCuda(float* x, const float* target, int64_t rows, int64_t dim, float floor,
                                cudaStream_t stream) {
  if (rows < 0 || rows > INT32_MAX || dim < 0) return Bad("MatchMagnitudeCuda: bad rows or dim");
  if (rows == 0 || dim == 0) return absl::OkStatus();
  if (x == nullptr || target == nullptr) return Bad("MatchMagnitudeCuda: null x or target");
  MatchMagnitudeKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, target, dim, floor);
  return Launched();
}

absl::Status AltUpPredictCuda(const float* const* streams, const float* coefs, int64_t n_streams, int64_t rows,
                              int64_t dim, float* const* pred, cudaStream_t stream) {
  if (n_streams < 1 || n_streams > kAltUpMaxStreams || rows < 0 || dim < 0) {
    return Bad("AltUpPredictCuda: bad stream count (1..8), rows or dim");
  }
  if (rows == 0 || dim == 0) return absl::OkStatus();
  if (streams == nullptr || pred == nullptr || coefs == nullptr) return Bad("AltUpPredictCuda: null pointer");
  StreamPtrs s{};
  for (int64_t i = 0; i < n_streams; ++i) {
    if (streams[i] == nullptr || pred[i] == nullptr) return Bad("AltUpPredictCuda: null stream");
    s.in[i] = streams[i];
    s.out[i] = pred[i];
  }
  AltUpPredictKernel<<<cuda_detail::GridFor(rows * dim, kThreads), kThreads, 0, stream>>>(
      s, coefs, static_cast<int>(n_streams), rows, dim);
  return Launched();
}

absl::Status AltUpCorrectCuda(float* const* pred, const float* y, const float* k, int64_t n_streams,
                              int64_t active, int64_t rows, int64_t dim, cudaStream_t stream) {
  if (n_streams < 1 || n_streams > kAltUpMaxStreams || active < 0 || active >= n_streams || rows < 0 || dim < 0) {
    return Bad("AltUpCorrectCuda: bad stream count (1..8), active stream, rows or dim");
  }
  if (rows == 0 || dim == 0) return absl::OkStatus();
  if (pred == nullptr || y == nullptr || k == nullptr) return Bad("AltUpCorrectCuda: null pointer");
  StreamPtrs s{};
  for (int64_t i = 0; i < n_streams; ++i) {
    if (pred[i] == nullptr) return Bad("AltUpCorrectCuda: null stream");
    s.out[i] = pred[i];
  }
  AltUpCorrectKernel<<<cuda_detail::GridFor(rows * dim, kThreads), kThreads, 0, stream>>>(
      s, y, k, static_cast<int>(n_streams), static_cast<int>(active), rows, dim);
  return Launched();
}

absl::Status AltUpCoefsCuda(const float* raw, int64_t rows, int64_t n, const float* w, int64_t out_n, bool add_one,
                            float* modal_out, float* out, cudaStream_t stream) {
  if (rows < 0 || n < 1 || n > kAltUpMaxStreams || out_n < 0) return Bad("AltUpCoefsCuda: bad rows, n or out_n");
  if (rows == 0) return absl::OkStatus();
  if (raw == nullptr || w == nullptr || out == nullptr) return Bad("AltUpCoefsCuda: null pointer");
  if (out_n > 0) {
    AltUpCoefsKernel<<<cuda_detail::GridFor(rows * out_n, kThreads), kThreads, 0, stream>>>(
        raw, rows, static_cast<int>(n), w, out_n, add_one, out);
    if (absl::Status s = Launched(); !s.ok()) return s;
  }
  if (modal_out != nullptr) {  // after the coefficients: raw may be modal_out
    TanhKernel<<<cuda_detail::GridFor(rows * n, kThreads), kThreads, 0, stream>>>(raw, rows * n, modal_out);
    return Launched();
  }
  return absl::OkStatus();
}

absl::Status ScaleCuda(float* x, int64_t n, float s, cudaStream_t stream) {
  if (n < 0) return Bad("ScaleCuda: n < 0");
  if (n == 0) return absl::OkStatus();
  if (x == nullptr) return Bad("ScaleCuda: x is null");
  ScaleKernel<<<cuda_detail::GridFor(n, kThreads), kThreads, 0, stream>>>(x, n, s);
  return Launched();
}

absl::Status SumDivCuda(const float* a, const float* b, const float* c, int64_t n, float divisor, float* out,
                        cudaStream_t stream) {
  if (n < 0) return Bad("SumDivCuda: n < 0");
  if (n == 0) return absl::OkStatus();
  if (a == nullptr || b == nullptr || out == nullptr) return Bad("SumDivCuda: null pointer");
  SumDivKernel<<<cuda_detail::GridFor(n, kThreads), kThreads, 0, stream>>>(a, b, c, n, divisor, out);
  return Launched();
}

absl::Status ScaleColumnsCuda(const float* x, int64_t rows, int64_t dim, const VectorView& scale, float* out,
                              cudaStream_t stream) {
  if (rows < 0 || dim < 0) return Bad("ScaleColumnsCuda: negative size");
  if (rows == 0 || dim == 0) return absl::OkStatus();
  if (x == nullptr || out == nullptr || scale.data == nullptr || scale.device != Device::kCuda ||
      scale.size < dim) {
    return Bad("ScaleColumnsCuda: null pointer or scale not a device vector of dim elements");
  }
  const unsigned grid = cuda_detail::GridFor(rows * dim, kThreads);
  cuda_detail::DispatchDType(scale.dtype, [&]<DType D>() {
    ScaleColumnsKernel<D><<<grid, kThreads, 0, stream>>>(x, rows, dim, scale.data, out);
  });
  return Launched();
}

absl::Status PerLayerInputCuda(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers, int64_t l,
                               float scale, float* pli, cudaStream_t stream) {
  if (t < 0 || p < 0 || l < 0 || l >= layers) return Bad("PerLayerInputCuda: bad t, p or layer");
  if (t == 0 || p == 0) return absl::OkStatus();
  if (proj == nullptr || emb == nullptr || pli == nullptr) return Bad("PerLayerInputCuda: null pointer");
  PerLayerInputKernel<<<cuda_detail::GridFor(t * p, kThreads), kThreads, 0, stream>>>(proj, emb, t, p, layers, l,
                                                                                      scale, pli);
  return Launched();
}

absl::Status ClampIdsCuda(const int32_t* ids, int64_t t, int64_t limit, int32_t* out, cudaStream_t stream) {
  if (t < 0 || t > INT32_MAX) return Bad("ClampIdsCuda: bad t");
  if (t == 0) return absl::OkStatus();
  if (ids == nullptr || out == nullptr) return Bad("ClampIdsCuda: null pointer");
  ClampIdsKernel<<<static_cast<unsigned>((t + kThreads - 1) / kThreads), kThreads, 0, stream>>>(ids, t, limit, out);
  return Launched();
}

absl::Status LogitSoftcapCuda(float* x, int64_t n, float cap, cudaStream_t stream) {
  if (n < 0 || !(cap > 0.f)) return Bad("LogitSoftcapCuda: n < 0 or cap <= 0");
  if (n == 0) return absl::OkStatus();
  if (x == nullptr) return Bad("LogitSoftcapCuda: x is null");
  SoftcapKernel<<<cuda_detail::GridFor(n, kThreads), kThreads, 0, stream>>>(x, n, cap);
  return Launched();
}

}  // namespace matspec
