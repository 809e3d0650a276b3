// CUDA attention (see attention_cuda.h): a tiled online-softmax kernel per
// (token, head[, split]) and a merge kernel for split ranges.
#include <cmath>
#include <cstdint>
#include <cub/block/block_reduce.cuh>
#include <cuda/functional>
#include <string>

#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"

namespace matspec {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 128;  // cache slots scored per pass (shared memory)
constexpr int kSlotsPerWarp = 4;  // slots a warp scores at once
constexpr int kMaxPerThread = static_cast<int>(kAttentionCudaMaxHeadDim / kThreads);
// Blocks worth launching before splitting the cache range pays off (a few per
// SM on an H100); a split gets at least kMinSplitSlots slots.
constexpr int64_t kTargetBlocks = 512;
constexpr int64_t kMinSplitSlots = 64;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Upper bound of the splits for t * num_heads pairs, whatever the cache length.
int64_t MaxSplits(int64_t pairs) { return pairs >= kTargetBlocks ? 1 : CeilDiv(kTargetBlocks, pairs); }

int64_t NumSplits(int64_t pairs, int64_t max_visible) {
  return std::min(MaxSplits(pairs), std::max<int64_t>(1, CeilDiv(max_visible, kMinSplitSlots)));
}

struct AttnArgs {
  const float* q;
  int64_t q_stride;
  const float* k;
  const float* v;
  int64_t past;
  // When set, the kernels read `past` from here at run time (device-length
  // launcher; the grid was sized from a host bound) and size each pair's splits
  // from the actual length; `past` and `num_splits` above are then unused / an
  // upper bound.
  const int64_t* past_ptr;
  int64_t num_tokens;  // t
  int64_t num_heads;
  int64_t group;   // query heads per KV head
  int64_t kv_row;  // floats between cache slots
  int64_t head_dim;
  float scale;
  float softcap;
  int64_t window;
  float* out;
  int64_t out_stride;
  int64_t num_splits;
  float* part_acc;  // [pairs, splits, head_dim] unnormalised outputs
  float* part_max;  // [pairs, splits] running max (-inf for an empty split)
  float* part_sum;  // [pairs, splits] running sum (0 for an empty split)
};

// The cache range [begin, end) that split `split` of token j covers. With a
// device length, the splits in use are those AttentionCuda would launch for the
// actual length (so both give the same bits); the other blocks of the grid get
// an empty range.
struct SplitRange {
  int64_t begin, end;
};

__device__ __forceinline__ SplitRange SplitFor(const AttnArgs& a, int64_t j, int64_t split) {
  const int64_t past = a.past_ptr != nullptr ? *a.past_ptr : a.past;
  const int64_t pos = past + j;
  int64_t splits = a.num_splits;
  if (a.past_ptr != nullptr) {
    const int64_t kv_len = past + a.num_tokens;
    const int64_t max_visible = a.window > 0 ? min(a.window, kv_len) : kv_len;
    splits = min(splits, max(int64_t{1}, (max_visible + kMinSplitSlots - 1) / kMinSplitSlots));
  }
  const int64_t first = a.window > 0 ? max(int64_t{0}, pos - a.window + 1) : int64_t{0};
  const int64_t count = pos - first + 1;
  const int64_t per_split = (count + splits - 1) / splits;
  const int64_t begin = first + split * per_split;
  const int64_t end = split < splits ? min(pos + 1, begin + per_split) : begin;
  return {begin, end};
}

template <bool kSplit>
__global__ void __launch_bounds__(kThreads) AttentionKernel(AttnArgs a) {
  using BlockReduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ float bcast;
  extern __shared__ float smem[];
  float* q_s = smem;                  // [head_dim]
  float* scores = smem + a.head_dim;  // [kTile]

  const int tid = threadIdx.x;
  const int64_t pair = blockIdx.x;
  const int64_t j = pair / a.num_heads;
  const int64_t h = pair - j * a.num_heads;
  const int64_t d = a.head_dim;
  const int64_t kv_off = (h / a.group) * d;
  const SplitRange range = SplitFor(a, j, blockIdx.y);
  const int64_t s_begin = range.begin;
  const int64_t s_end = range.end;

  float acc[kMaxPerThread];
#pragma unroll
  for (int r = 0; r < kMaxPerThread; ++r) acc[r] = 0.f;
  float m = -INFINITY;
  float l = 0.f;

  if (s_begin < s_end) {  // the same for every thread of the block
    const float* q = a.q + j * a.q_stride + h * d;
    for (int64_t i = tid; i < d; i += kThreads) q_s[i] = q[i];
    __syncthreads();
    const int warp = tid / 32, lane = tid % 32;
    for (int64_t tile = s_begin; tile < s_end; tile += kTile) {
      const int n = static_cast<int>(min(static_cast<int64_t>(kTile), s_end - tile));
      // Each warp scores kSlotsPerWarp slots at once, so their key loads are in
      // flight together (one slot at a time is latency-bound).
      for (int s0 = warp * kSlotsPerWarp; s0 < n; s0 += kWarps * kSlotsPerWarp) {
        float partial[kSlotsPerWarp];
#pragma unroll
        for (int u = 0; u < kSlotsPerWarp; ++u) partial[u] = 0.f;
        for (int64_t i = lane; i < d; i += 32) {
          const float qv = q_s[i];
#pragma unroll
          for (int u = 0; u < kSlotsPerWarp; ++u) {
            if (s0 + u < n) partial[u] += qv * a.k[(tile + s0 + u) * a.kv_row + kv_off + i];
          }
        }
#pragma unroll
        for (int u = 0; u < kSlotsPerWarp; ++u) {
          const float dot = cuda_detail::WarpSum(partial[u]);
          if (lane == 0 && s0 + u < n) {
            float score = dot * a.scale;
            if (a.softcap > 0.f) score = a.softcap * tanhf(score / a.softcap);
            scores[s0 + u] = score;
          }
        }
      }
      __syncthreads();
      float local_max = -INFINITY;
      for (int s = tid; s < n; s += kThreads) local_max = fmaxf(local_max, scores[s]);
      const float tile_max = BlockReduce(temp).Reduce(local_max, ::cuda::maximum<float>{});
      if (tid == 0) bcast = tile_max;
      __syncthreads();
      const float m_new = fmaxf(m, bcast);
      float local_sum = 0.f;
      for (int s = tid; s < n; s += kThreads) {
        const float e = expf(scores[s] - m_new);
        scores[s] = e;
        local_sum += e;
      }
      __syncthreads();  // exponentials visible; everyone has read bcast
      const float tile_sum = BlockReduce(temp).Sum(local_sum);
      if (tid == 0) bcast = tile_sum;
      __syncthreads();
      const float alpha = expf(m - m_new);  // 0 on the first tile, where m = -inf
      l = l * alpha + bcast;
      const float* vp = a.v + tile * a.kv_row + kv_off;
#pragma unroll
      for (int r = 0; r < kMaxPerThread; ++r) {
        const int64_t i = tid + static_cast<int64_t>(r) * kThreads;
        if (i < d) {
          float sum = 0.f;
#pragma unroll 8
          for (int s = 0; s < n; ++s) sum += scores[s] * vp[s * a.kv_row + i];
          acc[r] = acc[r] * alpha + sum;
        }
      }
      m = m_new;
      __syncthreads();  // before the next tile overwrites scores and bcast
    }
  }

  if constexpr (kSplit) {
    const int64_t idx = pair * a.num_splits + blockIdx.y;
#pragma unroll
    for (int r = 0; r < kMaxPerThread; ++r) {
      const int64_t i = tid + static_cast<int64_t>(r) * kThreads;
      if (i < d) a.part_acc[idx * d + i] = acc[r];
    }
    if (tid == 0) {
      a.part_max[idx] = m;
      a.part_sum[idx] = l;
    }
  } else {
    const float inv = 1.f / l;
    float* out = a.out + j * a.out_stride + h * d;
#pragma unroll
    for (int r = 0; r < kMaxPerThread; ++r) {
      const int64_t i = tid + static_cast<int64_t>(r) * kThreads;
      if (i < d) out[i] = acc[r] * inv;
    }
  }
}

// Merges the splits of one (token, head) pair per block.
__global__ void __launch_bounds__(kThreads) MergeKernel(AttnArgs a) {
  using BlockReduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ float bcast;
  __shared__ float weight[kTargetBlocks];  // num_splits <= MaxSplits <= kTargetBlocks

  const int tid = threadIdx.x;
  const int64_t pair = blockIdx.x;
  const int64_t j = pair / a.num_heads;
  const int64_t h = pair - j * a.num_heads;
  const int64_t d = a.head_dim;
  const int64_t base = pair * a.num_splits;
  const int splits = static_cast<int>(a.num_splits);

  float local_max = -INFINITY;
  for (int s = tid; s < splits; s += kThreads) {
    if (a.part_sum[base + s] > 0.f) local_max = fmaxf(local_max, a.part_max[base + s]);
  }
  const float max_all = BlockReduce(temp).Reduce(local_max, ::cuda::maximum<float>{});
  if (tid == 0) bcast = max_all;
  __syncthreads();
  const float m = bcast;
  float local_sum = 0.f;
  for (int s = tid; s < splits; s += kThreads) {
    const float sum = a.part_sum[base + s];
    const float w = sum > 0.f ? expf(a.part_max[base + s] - m) : 0.f;
    weight[s] = w;
    local_sum += sum * w;
  }
  __syncthreads();  // weights visible; everyone has read bcast
  const float total = BlockReduce(temp).Sum(local_sum);
  if (tid == 0) bcast = total;
  __syncthreads();
  const float inv = 1.f / bcast;
  float* out = a.out + j * a.out_stride + h * d;
  for (int64_t i = tid; i < d; i += kThreads) {
    float o = 0.f;
    for (int s = 0; s < splits; ++s) {
      if (weight[s] != 0.f) o += a.part_acc[(base + s) * d + i] * weight[s];
    }
    out[i] = o * inv;
  }
}

// Bytes of the split partials for `splits` splits of each pair (0 for one).
size_t SplitWorkspaceBytes(int64_t pairs, int64_t splits, int64_t head_dim) {
  if (pairs <= 0 || head_dim <= 0 || splits <= 1) return 0;
  WorkspaceArena arena(nullptr);
  arena.Take<float>(static_cast<size_t>(pairs * splits * head_dim));
  arena.Take<float>(static_cast<size_t>(pairs * splits));
  arena.Take<float>(static_cast<size_t>(pairs * splits));
  return arena.used();
}

// The body of both launchers. d_past == nullptr: past is p.past and
// max_kv_len = p.past + p.t. Otherwise past is *d_past, read by the kernels,
// and max_kv_len only sizes the grid. `name` prefixes the error messages.
absl::Status LaunchAttention(const AttentionParams& p, const int64_t* d_past, int64_t max_kv_len,
                             CudaWorkspace workspace, cudaStream_t stream, const char* name) {
  // Builds the message only on failure: the launch path stays free of host allocations.
  auto bad = [name](const char* what) { return absl::InvalidArgumentError(std::string(name) + ": " + what); };
  if (p.t < 0) return bad("t < 0");
  if (d_past == nullptr && p.past < 0) return bad("past < 0");
  if (p.num_heads < 0) return bad("num_heads < 0");
  if (p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0) {
    return bad("num_kv_heads must be positive and divide num_heads");
  }
  if (p.head_dim <= 0 || p.head_dim > kAttentionCudaMaxHeadDim) return bad("head_dim must be in 1..1024");
  if (p.sliding_window < 0) return bad("sliding_window < 0");
  if (!(p.softcap >= 0.f)) return bad("softcap must be >= 0");
  if (p.t == 0 || p.num_heads == 0) return absl::OkStatus();
  if (d_past != nullptr && max_kv_len < p.t) return bad("max_kv_len < t (it bounds past + t)");
  if (p.q == nullptr) return bad("q is null");
  if (p.k_cache == nullptr) return bad("k_cache is null");
  if (p.v_cache == nullptr) return bad("v_cache is null");
  if (p.out == nullptr) return bad("out is null");
  const int64_t width = p.num_heads * p.head_dim;
  if (p.q_stride < width) return bad("q_stride < num_heads * head_dim");
  if (p.out_stride < width) return bad("out_stride < num_heads * head_dim");
  const int64_t pairs = p.t * p.num_heads;
  if (pairs > INT32_MAX) return bad("too many (token, head) pairs");

  const int64_t max_visible = p.sliding_window > 0 ? std::min(p.sliding_window, max_kv_len) : max_kv_len;
  AttnArgs a{.q = p.q,
             .q_stride = p.q_stride,
             .k = p.k_cache,
             .v = p.v_cache,
             .past = p.past,
             .past_ptr = d_past,
             .num_tokens = p.t,
             .num_heads = p.num_heads,
             .group = p.num_heads / p.num_kv_heads,
             .kv_row = p.num_kv_heads * p.head_dim,
             .head_dim = p.head_dim,
             .scale = p.scale,
             .softcap = p.softcap,
             .window = p.sliding_window,
             .out = p.out,
             .out_stride = p.out_stride,
             .num_splits = NumSplits(pairs, max_visible),
             .part_acc = nullptr,
             .part_max = nullptr,
             .part_sum = nullptr};
  const size_t smem = static_cast<size_t>(p.head_dim + kTile) * sizeof(float);
  if (a.num_splits == 1) {
    AttentionKernel<false><<<static_cast<unsigned>(pairs), kThreads, smem, stream>>>(a);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return absl::OkStatus();
  }
  // AttentionCuda keeps its documented requirement (the size for any length).
  const size_t needed = d_past == nullptr ? AttentionCudaWorkspaceBytes(p.t, p.num_heads, p.head_dim)
                                          : SplitWorkspaceBytes(pairs, a.num_splits, p.head_dim);
  if (workspace.data == nullptr || workspace.bytes < needed) {
    return bad(d_past == nullptr ? "workspace smaller than AttentionCudaWorkspaceBytes"
                                 : "workspace smaller than AttentionCudaDeviceLengthWorkspaceBytes");
  }
  // Same layout as SplitWorkspaceBytes, sized for the current splits.
  WorkspaceArena arena(workspace.data);
  const size_t entries = static_cast<size_t>(pairs * a.num_splits);
  a.part_acc = arena.Take<float>(entries * static_cast<size_t>(p.head_dim));
  a.part_max = arena.Take<float>(entries);
  a.part_sum = arena.Take<float>(entries);
  const dim3 grid(static_cast<unsigned>(pairs), static_cast<unsigned>(a.num_splits));
  AttentionKernel<true><<<grid, kThreads, smem, stream>>>(a);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  MergeKernel<<<static_cast<unsigned>(pairs), kThreads, 0, stream>>>(a);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace

size_t AttentionCudaWorkspaceBytes(int64_t t, int64_t num_heads, int64_t head_dim) {
  const int64_t pairs = t * num_heads;
  return pairs <= 0 ? 0 : SplitWorkspaceBytes(pairs, MaxSplits(pairs), head_dim);
}

size_t AttentionCudaDeviceLengthWorkspaceBytes(int64_t t, int64_t num_heads, int64_t head_dim,
                                               int64_t max_kv_len) {
  const int64_t pairs = t * num_heads;
  if (pairs <= 0 || max_kv_len <= 0) return 0;
  return SplitWorkspaceBytes(pairs, NumSplits(pairs, max_kv_len), head_dim);
}

absl::Status AttentionCuda(const AttentionParams& p, CudaWorkspace workspace, cudaStream_t stream) {
  return LaunchAttention(p, nullptr, p.past + p.t, workspace, stream, "AttentionCuda");
}

absl::Status AttentionCudaDeviceLength(const AttentionParams& p, const int64_t* d_past, int64_t max_kv_len,
                                       CudaWorkspace workspace, cudaStream_t stream) {
  if (d_past == nullptr) return absl::InvalidArgumentError("AttentionCudaDeviceLength: d_past is null");
  return LaunchAttention(p, d_past, max_kv_len, workspace, stream, "AttentionCudaDeviceLength");
}

}  // namespace matspec
