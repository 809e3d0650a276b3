// Device acceptance (see acceptance_cuda.h). Greedy: argmax of every p row, then
// one thread walks the matches. Sampling: one thread makes the accept / reject
// decisions, a grid builds the residual (or copies the bonus row), a grid falls
// back to p when the residual is empty, then SampleFromWeightsCuda draws.
#include <cstdint>

#include "kernels/cuda/acceptance_cuda.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/logits_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

struct Decision {
  int64_t accepted;      // also the row of p (and q) the final draw uses
  int32_t bonus;         // 1: all k accepted, draw from p[k]; 0: residual of row `accepted`
  int32_t any_positive;  // residual has a positive weight (set by ResidualKernel)
  double u;              // final_uniforms[accepted]
  int32_t token;         // the drawn token
  int32_t unused;
};

struct AcceptPlan {
  int32_t* argmax = nullptr;  // greedy: [k+1]
  void* argmax_ws = nullptr;
  size_t argmax_bytes = 0;
  Decision* decision = nullptr;  // sampling
  float* residual = nullptr;     // sampling: [vocab]
  void* sample_ws = nullptr;
  size_t sample_bytes = 0;
  size_t total_bytes = 0;
};

absl::StatusOr<AcceptPlan> PlanAccept(void* base, int64_t k, int64_t vocab, bool greedy) {
  AcceptPlan plan;
  WorkspaceArena arena(base);
  if (greedy) {
    plan.argmax = arena.Take<int32_t>(k + 1);
    plan.argmax_bytes = ArgmaxCudaWorkspaceBytes(k + 1, vocab);
    plan.argmax_ws = arena.Take<char>(plan.argmax_bytes);
  } else {
    plan.decision = arena.Take<Decision>(1);
    plan.residual = arena.Take<float>(vocab);
    absl::StatusOr<size_t> bytes = SampleFromWeightsCudaWorkspaceBytes(vocab);
    if (!bytes.ok()) return bytes.status();
    plan.sample_bytes = *bytes;
    plan.sample_ws = arena.Take<char>(plan.sample_bytes);
  }
  plan.total_bytes = arena.used();
  return plan;
}

__global__ void GreedyKernel(const int32_t* argmax, const int32_t* draft, int64_t k,
                             AcceptanceCudaResult* result) {
  int64_t i = 0;
  while (i < k && argmax[i] == draft[i]) ++i;
  result->accepted = i;
  result->next_token = argmax[i];
  result->reserved = 0;
}

// One thread: the accept test u_i * q_i(x_i) <= p_i(x_i) in f64, as on the CPU.
__global__ void DecideKernel(const int32_t* draft, const float* q, const float* p, const double* accept_u,
                             const double* final_u, int64_t k, int64_t vocab, Decision* d) {
  int64_t i = 0;
  for (; i < k; ++i) {
    const int32_t x = draft[i];
    if (x < 0 || x >= vocab) break;  // not a token: q(x) = 0 rejects
    const double px = p[i * vocab + x];
    const double qx = q[i * vocab + x];
    if (!(qx > 0.0 && accept_u[i] * qx <= px)) break;
  }
  d->accepted = i;
  d->bonus = i == k ? 1 : 0;
  d->any_positive = 0;
  d->u = final_u[i];
  d->token = -1;
}

// residual = max(0, p_i - q_i) for a rejection at row i, or p_k for the bonus.
__global__ void ResidualKernel(const float* q, const float* p, int64_t vocab, Decision* d, float* residual) {
  const int64_t row = d->accepted;
  const bool bonus = d->bonus != 0;
  const float* pr = p + row * vocab;
  const float* qr = bonus ? nullptr : q + row * vocab;  // q has only k rows
  int positive = 0;
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vocab;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float r;
    if (bonus) {
      r = pr[v];
    } else {
      const float diff = __fsub_rn(pr[v], qr[v]);
      r = diff > 0.f ? diff : 0.f;
    }
    residual[v] = r;
    positive |= r > 0.f ? 1 : 0;
  }
  if (__syncthreads_or(positive) && threadIdx.x == 0) atomicOr(&d->any_positive, 1);
}

// p == q on the rejected row leaves no residual mass: draw from p instead.
__global__ void FallbackKernel(const float* p, int64_t vocab, const Decision* d, float* residual) {
  if (d->bonus != 0 || d->any_positive != 0) return;
  const float* pr = p + d->accepted * vocab;
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v < vocab;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    residual[v] = pr[v];
  }
}

__global__ void FinishKernel(const Decision* d, AcceptanceCudaResult* result) {
  result->accepted = d->accepted;
  result->next_token = d->token;
  result->reserved = 0;
}

}  // namespace

bool AcceptanceCudaParams::Valid() const {
  if (k < 0 || k >= 65535 || vocab < 1 || vocab > INT32_MAX) return false;
  if (p == nullptr || result == nullptr || (k > 0 && draft_tokens == nullptr)) return false;
  if (!greedy && (final_uniforms == nullptr || (k > 0 && (q == nullptr || accept_uniforms == nullptr)))) {
    return false;
  }
  return true;
}

absl::StatusOr<size_t> AcceptCudaWorkspaceBytes(int64_t k, int64_t vocab, bool greedy) {
  if (k < 0 || k >= 65535 || vocab < 1 || vocab > INT32_MAX) {
    return absl::InvalidArgumentError("AcceptCuda: k in [0, 65535), vocab in [1, 2^31)");
  }
  absl::StatusOr<AcceptPlan> plan = PlanAccept(nullptr, k, vocab, greedy);
  if (!plan.ok()) return plan.status();
  return plan->total_bytes;
}

absl::Status AcceptCuda(const AcceptanceCudaParams& a, CudaWorkspace workspace, cudaStream_t stream) {
  if (!a.Valid()) return absl::InvalidArgumentError("AcceptCuda: invalid AcceptanceCudaParams");
  if (workspace.data == nullptr) return absl::InvalidArgumentError("AcceptCuda: no workspace");
  absl::StatusOr<AcceptPlan> planned = PlanAccept(workspace.data, a.k, a.vocab, a.greedy);
  if (!planned.ok()) return planned.status();
  const AcceptPlan& plan = *planned;
  if (workspace.bytes < plan.total_bytes) {
    return absl::InvalidArgumentError("AcceptCuda: workspace smaller than AcceptCudaWorkspaceBytes");
  }
  if (a.greedy) {
    if (absl::Status s = ArgmaxCuda(a.p, a.k + 1, a.vocab, plan.argmax,
                                    CudaWorkspace{plan.argmax_ws, plan.argmax_bytes}, stream);
        !s.ok()) {
      return s;
    }
    GreedyKernel<<<1, 1, 0, stream>>>(plan.argmax, a.draft_tokens, a.k, a.result);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return absl::OkStatus();
  }
  DecideKernel<<<1, 1, 0, stream>>>(a.draft_tokens, a.q, a.p, a.accept_uniforms, a.final_uniforms, a.k,
                                    a.vocab, plan.decision);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  const unsigned grid = cuda_detail::GridFor(a.vocab, kThreads);
  ResidualKernel<<<grid, kThreads, 0, stream>>>(a.q, a.p, a.vocab, plan.decision, plan.residual);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  FallbackKernel<<<grid, kThreads, 0, stream>>>(a.p, a.vocab, plan.decision, plan.residual);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  if (absl::Status s = SampleFromWeightsCuda(plan.residual, a.vocab, &plan.decision->u, &plan.decision->token,
                                             CudaWorkspace{plan.sample_ws, plan.sample_bytes}, stream);
      !s.ok()) {
    return s;
  }
  FinishKernel<<<1, 1, 0, stream>>>(plan.decision, a.result);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
