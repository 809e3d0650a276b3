// CUDA logits processing, argmax and inverse-CDF sampling (see logits_cuda.h).
//
// Per row, sampling with a filter runs: weights (+ sort keys) -> stable radix
// sort by logit -> f64 scan of the sorted weights -> a one-thread select of the
// kept prefix -> normalisation. Without a filter: weights -> f64 reduce ->
// normalisation. Every scalar a later kernel needs (argmax, kept set, total)
// stays in device memory.
#include <cmath>
#include <cstdint>
#include <cub/block/block_reduce.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda/functional>
#include <cuda/std/functional>
#include <cuda/std/limits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/logits_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kArgItemsPerBlock = kThreads * 8;
constexpr int64_t kMaxArgBlocks = 128;

// ------------------------------------------------------------------ argmax --

struct ArgPair {
  float value;
  int32_t index;
};

// The CPU scan's order as a total order: non-NaN beats NaN, then larger value,
// then lower index. The maximum under it is the CPU's answer whenever x[0] is
// not NaN (that case is patched in ArgmaxFinalKernel).
__device__ __forceinline__ bool Beats(const ArgPair& a, const ArgPair& b) {
  const bool a_nan = isnan(a.value), b_nan = isnan(b.value);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a.value != b.value) return a.value > b.value;
  return a.index < b.index;
}

struct BestOp {
  __device__ ArgPair operator()(const ArgPair& a, const ArgPair& b) const { return Beats(b, a) ? b : a; }
};

__device__ __forceinline__ ArgPair NoCandidate() { return {NAN, INT32_MAX}; }

int64_t ArgBlocks(int64_t n) {
  return std::clamp<int64_t>((n + kArgItemsPerBlock - 1) / kArgItemsPerBlock, 1, kMaxArgBlocks);
}

__global__ void ArgmaxPartialKernel(const float* x, int64_t n, int64_t chunk, ArgPair* partial) {
  using BlockReduce = cub::BlockReduce<ArgPair, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const float* xr = x + static_cast<int64_t>(blockIdx.y) * n;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * chunk;
  const int64_t end = min(n, begin + chunk);
  ArgPair best = NoCandidate();
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const ArgPair c{xr[i], static_cast<int32_t>(i)};
    if (Beats(c, best)) best = c;
  }
  best = BlockReduce(temp).Reduce(best, BestOp{});
  if (threadIdx.x == 0) partial[static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x] = best;
}

__global__ void ArgmaxFinalKernel(const float* x, int64_t n, const ArgPair* partial, int blocks,
                                  int32_t* out) {
  using BlockReduce = cub::BlockReduce<ArgPair, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const int64_t row = blockIdx.x;
  ArgPair best = NoCandidate();
  for (int i = threadIdx.x; i < blocks; i += kThreads) {
    const ArgPair c = partial[row * blocks + i];
    if (Beats(c, best)) best = c;
  }
  best = BlockReduce(temp).Reduce(best, BestOp{});
  if (threadIdx.x == 0) out[row] = isnan(x[row * n]) ? 0 : best.index;
}

// Launches the two argmax kernels; `partial` holds rows * ArgBlocks(n) pairs.
absl::Status LaunchArgmax(const float* x, int64_t rows, int64_t n, ArgPair* partial, int32_t* out,
                          cudaStream_t stream) {
  const int64_t blocks = ArgBlocks(n);
  const int64_t chunk = (n + blocks - 1) / blocks;
  ArgmaxPartialKernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(rows)), kThreads, 0,
                        stream>>>(x, n, chunk, partial);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  ArgmaxFinalKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, n, partial,
                                                                          static_cast<int>(blocks), out);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

// ---------------------------------------------------------- process logits --

struct RowState {
  double total;  // mass of the kept set (unnormalised weights)
  int32_t last;  // the last kept token in the order (filtered rows only)
  int32_t unused;
};

__global__ void OneHotKernel(const int32_t* tops, int64_t rows, int64_t vocab, float* probs) {
  const int64_t total = rows * vocab;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / vocab;
    probs[idx] = (idx - r * vocab) == tops[r] ? 1.f : 0.f;
  }
}

// One row: probs = expf((l - max) * inv_temp); keys / ids for the sort when set.
__global__ void WeightsKernel(const float* logits, int64_t vocab, const int32_t* top, float inv_temp,
                              float* probs, float* keys, int32_t* ids) {
  const float m = logits[*top];
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vocab;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float l = logits[v];
    probs[v] = expf(__fmul_rn(__fsub_rn(l, m), inv_temp));
    if (keys != nullptr) {
      keys[v] = __fadd_rn(l, 0.f);  // -0 -> +0: the CPU compares them as equal
      ids[v] = static_cast<int32_t>(v);
    }
  }
}

__global__ void GatherSortedKernel(const float* probs, const int32_t* sorted_ids, int64_t n, double* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = static_cast<double>(probs[sorted_ids[i]]);
  }
}

// One thread: the kept prefix of the sorted candidates (top-k already applied
// by taking only n of them), its last token and its mass.
__global__ void SelectKeptKernel(const double* cum, const int32_t* sorted_ids, int64_t n, bool use_top_p,
                                 float top_p, RowState* state) {
  int64_t kept = n;
  if (use_top_p) {
    const double target = static_cast<double>(top_p) * cum[n - 1];
    int64_t lo = 0, hi = n;  // first i with cum[i] >= target
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (cum[mid] >= target) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    kept = lo < n ? lo + 1 : n;
  }
  state->last = sorted_ids[kept - 1];
  state->total = cum[kept - 1];
}

__global__ void NormalizeKernel(const float* logits, int64_t vocab, const int32_t* top, const RowState* state,
                                bool filtered, float* probs) {
  const int32_t t = *top;
  const float m = logits[t];
  const bool finite = isfinite(m);
  const float inv = static_cast<float>(1.0 / state->total);
  const int32_t last = filtered ? state->last : 0;
  const float last_logit = logits[last];
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vocab;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (!finite) {
      probs[v] = v == t ? 1.f : 0.f;
    } else if (!filtered) {
      probs[v] = __fmul_rn(probs[v], inv);
    } else {
      const float l = logits[v];
      const bool in = v == last || l > last_logit || (l == last_logit && v < last);
      probs[v] = in ? __fmul_rn(probs[v], inv) : 0.f;
    }
  }
}

struct LogitsPlan {
  bool filtered = false;
  bool use_top_p = false;
  int64_t candidates = 0;  // tokens entering top-p: top_k, or the whole vocabulary
  int32_t* tops = nullptr;
  ArgPair* partial = nullptr;
  RowState* states = nullptr;
  float* keys_in = nullptr;
  int32_t* ids_in = nullptr;
  float* keys_out = nullptr;
  int32_t* ids_out = nullptr;
  double* cum_in = nullptr;
  double* cum = nullptr;
  void* cub_temp = nullptr;
  size_t cub_bytes = 0;
  size_t total_bytes = 0;
};

// The workspace layout; with base == nullptr only sizes are meaningful.
absl::StatusOr<LogitsPlan> PlanLogits(void* base, int64_t rows, int64_t vocab, const SamplingConfig& cfg) {
  LogitsPlan plan;
  WorkspaceArena arena(base);
  plan.tops = arena.Take<int32_t>(rows);
  plan.partial = arena.Take<ArgPair>(rows * ArgBlocks(vocab));
  if (!cfg.greedy()) {
    const bool use_top_k = cfg.top_k > 0 && cfg.top_k < vocab;
    plan.use_top_p = cfg.top_p < 1.f;
    plan.filtered = use_top_k || plan.use_top_p;
    plan.candidates = use_top_k ? cfg.top_k : vocab;
    plan.states = arena.Take<RowState>(rows);
    const int n = static_cast<int>(vocab);
    if (plan.filtered) {
      plan.keys_in = arena.Take<float>(vocab);
      plan.ids_in = arena.Take<int32_t>(vocab);
      plan.keys_out = arena.Take<float>(vocab);
      plan.ids_out = arena.Take<int32_t>(vocab);
      plan.cum_in = arena.Take<double>(plan.candidates);
      plan.cum = arena.Take<double>(plan.candidates);
      size_t sort_bytes = 0, scan_bytes = 0;
      CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairsDescending(
          nullptr, sort_bytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr),
          static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), n));
      CUDA_RETURN_IF_ERROR(
          cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<const double*>(nullptr),
                                        static_cast<double*>(nullptr), static_cast<int>(plan.candidates)));
      plan.cub_bytes = std::max(sort_bytes, scan_bytes);
    } else {
      CUDA_RETURN_IF_ERROR(
          cub::DeviceReduce::Reduce(nullptr, plan.cub_bytes, static_cast<const float*>(nullptr),
                                    static_cast<double*>(nullptr), n, ::cuda::std::plus<>{}, 0.0));
    }
    plan.cub_temp = arena.Take<char>(plan.cub_bytes);
  }
  plan.total_bytes = arena.used();
  return plan;
}

// ---------------------------------------------------------------- sampling --

struct SamplePlan {
  int32_t* last_positive = nullptr;
  double* cum_in = nullptr;
  double* cum = nullptr;
  void* cub_temp = nullptr;
  size_t cub_bytes = 0;
  size_t total_bytes = 0;
};

absl::StatusOr<SamplePlan> PlanSample(void* base, int64_t n) {
  SamplePlan plan;
  WorkspaceArena arena(base);
  plan.last_positive = arena.Take<int32_t>(1);
  plan.cum_in = arena.Take<double>(n);
  plan.cum = arena.Take<double>(n);
  CUDA_RETURN_IF_ERROR(cub::DeviceScan::InclusiveSum(nullptr, plan.cub_bytes,
                                                     static_cast<const double*>(nullptr),
                                                     static_cast<double*>(nullptr), static_cast<int>(n)));
  plan.cub_temp = arena.Take<char>(plan.cub_bytes);
  plan.total_bytes = arena.used();
  return plan;
}

// cum_in[v] = max(w[v], 0) in f64 (NaN counts as 0); *last_positive = the
// largest v with w[v] > 0 (must start at -1).
__global__ void PositiveWeightsKernel(const float* w, int64_t n, double* cum_in, int32_t* last_positive) {
  using BlockReduce = cub::BlockReduce<int32_t, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  int32_t last = -1;
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < n;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const bool positive = w[v] > 0.f;
    cum_in[v] = positive ? static_cast<double>(w[v]) : 0.0;
    if (positive) last = static_cast<int32_t>(v);
  }
  last = BlockReduce(temp).Reduce(last, ::cuda::maximum<int32_t>{});
  if (threadIdx.x == 0 && last >= 0) atomicMax(last_positive, last);
}

// One thread: the CPU's inverse-CDF rule on the scanned weights.
__global__ void DrawKernel(const float* w, int64_t n, const double* cum, const int32_t* last_positive,
                           const double* u, int32_t* out) {
  const int32_t last = *last_positive;
  if (last < 0) {
    *out = -1;
    return;
  }
  const double uu = *u < 0.0 ? 0.0 : (1.0 < *u ? 1.0 : *u);  // std::clamp, NaN included
  const double target = uu * cum[n - 1];
  int64_t lo = 0, hi = last;  // first v < last with cum[v] > target
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cum[mid] > target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  // cum is monotone up to rounding of the parallel scan: never stop on a
  // zero-weight token.
  while (lo < last && !(w[lo] > 0.f)) ++lo;
  *out = static_cast<int32_t>(lo);
}

__global__ void MaskTailKernel(float* logits, int64_t rows, int64_t vocab, int64_t keep) {
  const int64_t tail = vocab - keep;
  const int64_t n = rows * tail;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / tail;
    logits[r * vocab + keep + (e - r * tail)] = -cuda::std::numeric_limits<float>::infinity();
  }
}

}  // namespace

absl::Status MaskLogitsTailCuda(float* logits, int64_t rows, int64_t vocab, int64_t keep, cudaStream_t stream) {
  if (rows < 0 || vocab < 0 || keep < 0) return absl::InvalidArgumentError("MaskLogitsTailCuda: negative size");
  if (rows == 0 || keep >= vocab) return absl::OkStatus();
  if (logits == nullptr) return absl::InvalidArgumentError("MaskLogitsTailCuda: logits is null");
  constexpr int kThreads = 256;
  MaskTailKernel<<<cuda_detail::GridFor(rows * (vocab - keep), kThreads), kThreads, 0, stream>>>(logits, rows, vocab,
                                                                                                 keep);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

size_t ArgmaxCudaWorkspaceBytes(int64_t rows, int64_t n) {
  if (rows <= 0 || n <= 0) return 0;
  return WorkspaceArena::AlignUp(static_cast<size_t>(rows * ArgBlocks(n)) * sizeof(ArgPair));
}

absl::Status ArgmaxCuda(const float* x, int64_t rows, int64_t n, int32_t* out, CudaWorkspace workspace,
                        cudaStream_t stream) {
  if (rows < 0 || rows > 65535 || n < 1 || n > INT32_MAX) {
    return absl::InvalidArgumentError("ArgmaxCuda: rows must be in [0, 65535], n in [1, 2^31)");
  }
  if (rows == 0) return absl::OkStatus();
  if (x == nullptr || out == nullptr || workspace.data == nullptr ||
      workspace.bytes < ArgmaxCudaWorkspaceBytes(rows, n)) {
    return absl::InvalidArgumentError("ArgmaxCuda: null pointer or workspace too small");
  }
  return LaunchArgmax(x, rows, n, static_cast<ArgPair*>(workspace.data), out, stream);
}

absl::StatusOr<size_t> ProcessLogitsCudaWorkspaceBytes(int64_t rows, int64_t vocab,
                                                       const SamplingConfig& cfg) {
  if (rows < 0 || rows > 65535 || vocab < 1 || vocab > INT32_MAX) {
    return absl::InvalidArgumentError("ProcessLogitsCuda: rows in [0, 65535], vocab in [1, 2^31)");
  }
  absl::StatusOr<LogitsPlan> plan = PlanLogits(nullptr, rows, vocab, cfg);
  if (!plan.ok()) return plan.status();
  return plan->total_bytes;
}

absl::Status ProcessLogitsCuda(const float* logits, int64_t rows, int64_t vocab, const SamplingConfig& cfg,
                               float* probs, CudaWorkspace workspace, cudaStream_t stream) {
  if (rows < 0 || rows > 65535 || vocab < 1 || vocab > INT32_MAX) {
    return absl::InvalidArgumentError("ProcessLogitsCuda: rows in [0, 65535], vocab in [1, 2^31)");
  }
  if (rows == 0) return absl::OkStatus();
  if (logits == nullptr || probs == nullptr || logits == probs || workspace.data == nullptr) {
    return absl::InvalidArgumentError("ProcessLogitsCuda: null or aliased pointers");
  }
  absl::StatusOr<LogitsPlan> planned = PlanLogits(workspace.data, rows, vocab, cfg);
  if (!planned.ok()) return planned.status();
  const LogitsPlan& plan = *planned;
  if (workspace.bytes < plan.total_bytes) {
    return absl::InvalidArgumentError("ProcessLogitsCuda: workspace smaller than its size query");
  }
  if (absl::Status s = LaunchArgmax(logits, rows, vocab, plan.partial, plan.tops, stream); !s.ok()) {
    return s;
  }
  if (cfg.greedy()) {
    OneHotKernel<<<cuda_detail::GridFor(rows * vocab, kThreads), kThreads, 0, stream>>>(plan.tops, rows,
                                                                                        vocab, probs);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return absl::OkStatus();
  }

  const float inv_temp = 1.f / cfg.temperature;
  const int n = static_cast<int>(vocab);
  const unsigned grid = cuda_detail::GridFor(vocab, kThreads);
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = logits + r * vocab;
    float* pr = probs + r * vocab;
    const int32_t* top = plan.tops + r;
    RowState* state = plan.states + r;
    WeightsKernel<<<grid, kThreads, 0, stream>>>(lr, vocab, top, inv_temp, pr, plan.keys_in, plan.ids_in);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    size_t cub_bytes = plan.cub_bytes;
    if (!plan.filtered) {
      CUDA_RETURN_IF_ERROR(cub::DeviceReduce::Reduce(plan.cub_temp, cub_bytes, static_cast<const float*>(pr),
                                                     &state->total, n, ::cuda::std::plus<>{}, 0.0, stream));
    } else {
      CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairsDescending(
          plan.cub_temp, cub_bytes, static_cast<const float*>(plan.keys_in), plan.keys_out,
          static_cast<const int32_t*>(plan.ids_in), plan.ids_out, n, 0, 32, stream));
      GatherSortedKernel<<<cuda_detail::GridFor(plan.candidates, kThreads), kThreads, 0, stream>>>(
          pr, plan.ids_out, plan.candidates, plan.cum_in);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      cub_bytes = plan.cub_bytes;
      CUDA_RETURN_IF_ERROR(cub::DeviceScan::InclusiveSum(plan.cub_temp, cub_bytes,
                                                         static_cast<const double*>(plan.cum_in), plan.cum,
                                                         static_cast<int>(plan.candidates), stream));
      SelectKeptKernel<<<1, 1, 0, stream>>>(plan.cum, plan.ids_out, plan.candidates, plan.use_top_p,
                                            cfg.top_p, state);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
    }
    NormalizeKernel<<<grid, kThreads, 0, stream>>>(lr, vocab, top, state, plan.filtered, pr);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> SampleFromWeightsCudaWorkspaceBytes(int64_t n) {
  if (n < 1 || n > INT32_MAX) return absl::InvalidArgumentError("SampleFromWeightsCuda: bad n");
  absl::StatusOr<SamplePlan> plan = PlanSample(nullptr, n);
  if (!plan.ok()) return plan.status();
  return plan->total_bytes;
}

absl::Status SampleFromWeightsCuda(const float* weights, int64_t n, const double* u, int32_t* out,
                                   CudaWorkspace workspace, cudaStream_t stream) {
  if (n < 1 || n > INT32_MAX) return absl::InvalidArgumentError("SampleFromWeightsCuda: bad n");
  if (weights == nullptr || u == nullptr || out == nullptr || workspace.data == nullptr) {
    return absl::InvalidArgumentError("SampleFromWeightsCuda: null pointer");
  }
  absl::StatusOr<SamplePlan> planned = PlanSample(workspace.data, n);
  if (!planned.ok()) return planned.status();
  const SamplePlan& plan = *planned;
  if (workspace.bytes < plan.total_bytes) {
    return absl::InvalidArgumentError("SampleFromWeightsCuda: workspace smaller than its size query");
  }
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(plan.last_positive, 0xff, sizeof(int32_t), stream));  // -1
  PositiveWeightsKernel<<<cuda_detail::GridFor(n, kThreads), kThreads, 0, stream>>>(weights, n, plan.cum_in,
                                                                                    plan.last_positive);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  size_t cub_bytes = plan.cub_bytes;
  CUDA_RETURN_IF_ERROR(cub::DeviceScan::InclusiveSum(plan.cub_temp, cub_bytes,
                                                     static_cast<const double*>(plan.cum_in), plan.cum,
                                                     static_cast<int>(n), stream));
  DrawKernel<<<1, 1, 0, stream>>>(weights, n, plan.cum, plan.last_positive, u, out);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
