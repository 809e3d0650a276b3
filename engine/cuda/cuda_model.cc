#include "engine/cuda/cuda_model.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace matspec {
absl::Status CudaModel::ReserveWorkspace(size_t bytes) {
  if (bytes <= ctx_->workspace_bytes()) return absl::OkStatus();
  ScratchMoved();
  return ctx_->ReserveWorkspace(bytes);
}

absl::Status CudaModel::ForwardDeviceLength(const SliceView&, const int32_t*, int64_t, CudaKvCache&, float*, bool) {
  return absl::UnimplementedError("this CUDA model has no device-length forward (no CUDA-graph replay)");
}

absl::Status CudaModel::Forward(const ForwardArgs& args) {
  const int64_t vocab = config().vocab_size;
  RETURN_IF_ERROR(args.Validate(vocab));
  if (args.tap != nullptr) return absl::UnimplementedError("activation taps are not supported on the GPU");
  auto* kv = dynamic_cast<CudaKvCache*>(args.kv);
  if (kv == nullptr) return absl::InvalidArgumentError("the CUDA model needs a KV cache from its NewKvCache");
  RETURN_IF_ERROR(EnsureCapacity(args.t));
  const cudaStream_t s = ctx_->stream();
  if (args.t * sizeof(int32_t) > host_tokens_.size()) {
    RETURN_IF_ERROR(ctx_->Synchronize());
    RETURN_IF_ERROR(host_tokens_.Reserve(args.t * sizeof(int32_t)));
  }
  int32_t* tokens = host_tokens_.As<int32_t>();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tokens, args.tokens, args.t * sizeof(int32_t), cudaMemcpyHostToDevice, s));
  const int64_t rows = args.all_logits ? args.t : 1;
  const size_t logits_bytes = args.logits ? rows * vocab * sizeof(float) : 0;
  if (logits_bytes > host_logits_.size()) {
    RETURN_IF_ERROR(ctx_->Synchronize());
    RETURN_IF_ERROR(host_logits_.Reserve(logits_bytes));
  }
  RETURN_IF_ERROR(ForwardDevice(*args.slice, tokens, args.t, *kv, args.logits ? host_logits_.As<float>() : nullptr,
                                args.all_logits));
  if (args.logits != nullptr) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(args.logits, host_logits_.data(), logits_bytes, cudaMemcpyDeviceToHost, s));
  }
  return ctx_->Synchronize();
}

}  // namespace matspec
