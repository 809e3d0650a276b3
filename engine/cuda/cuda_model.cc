#include "engine/cuda/cuda_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/logits_cuda.h"
#include "kernels/cuda/matmul_cuda.h"

namespace matspec {
absl::Status CudaModel::ReserveWorkspace(size_t bytes) {
  if (bytes <= ctx_->workspace_bytes()) return absl::OkStatus();
  ScratchMoved();
  return ctx_->ReserveWorkspace(bytes);
}

absl::Status CudaModel::PrepareSlice(const SliceView& slice) {
  if (!slice.head_ids || head_ids_.count(slice.head_ids.get())) return absl::OkStatus();
  const std::vector<int32_t>& ids = *slice.head_ids;
  for (int32_t id : ids) {
    if (id < 0 || id >= config().vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\": head token id ", id,
                                                     " is outside the vocabulary"));
    }
  }
  DeviceIds entry{slice.head_ids, DeviceBuffer()};
  RETURN_IF_ERROR(entry.device.Reserve(std::max<size_t>(ids.size(), 1) * sizeof(int32_t)));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(entry.device.data(), ids.data(), ids.size() * sizeof(int32_t),
                                  cudaMemcpyHostToDevice));
  head_ids_[slice.head_ids.get()] = std::move(entry);
  return absl::OkStatus();
}

absl::Status CudaModel::QueueHeadLogits(const float* x, int64_t hidden, int64_t rows, const MatrixView& head,
                                        const SliceView& slice, float* logits) {
  const int64_t vocab = config().vocab_size;
  const cudaStream_t s = ctx_->stream();
  MatMulParams p{x, hidden, rows, head, logits, vocab, false};
  if (slice.head_ids) {
    auto it = head_ids_.find(slice.head_ids.get());
    if (it == head_ids_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("slice \"", slice.name, "\": its head token ids are not on the GPU (PrepareSlice)"));
    }
    RETURN_IF_ERROR(MaskLogitsTailCuda(logits, rows, vocab, 0, s));
    p.row_ids = it->second.device.As<int32_t>();
    p.num_row_ids = static_cast<int64_t>(slice.head_ids->size());
    return MatMulCuda(*ctx_, p, ctx_->workspace(), s);
  }
  const int64_t scored = HeadRows(slice, vocab);
  p.w = head.FirstRows(scored);
  RETURN_IF_ERROR(MatMulCuda(*ctx_, p, ctx_->workspace(), s));
  return MaskLogitsTailCuda(logits, rows, vocab, scored, s);
}

absl::Status CudaModel::CheckForward(const SliceView& slice, const int32_t* tokens, int64_t t,
                                     const CudaKvCache& kv) const {
  RETURN_IF_ERROR(kv.status());
  if (t < 1 || tokens == nullptr) return absl::InvalidArgumentError("ForwardDevice: no tokens");
  if (t > capacity_t_) {
    return absl::InvalidArgumentError(
        absl::StrCat("ForwardDevice: ", t, " tokens but scratch for ", capacity_t_, " (call EnsureCapacity)"));
  }
  return CheckSliceAndCache(slice, kv);
}

absl::Status CudaModel::ForwardDevice(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                                      float* logits, bool all_logits) {
  RETURN_IF_ERROR(CheckForward(slice, tokens, t, kv));
  RETURN_IF_ERROR(kv.CheckRoom(t));
  RETURN_IF_ERROR(Queue(slice, tokens, t, kv, kv.length(), nullptr, logits, all_logits));
  kv.Advance(t);
  return absl::OkStatus();
}

absl::Status CudaModel::ForwardDeviceLength(const SliceView& slice, const int32_t* tokens, int64_t t,
                                            CudaKvCache& kv, float* logits, bool all_logits) {
  if (!supports_device_length()) {
    return absl::UnimplementedError("this CUDA model has no device-length forward (no CUDA-graph replay)");
  }
  RETURN_IF_ERROR(CheckForward(slice, tokens, t, kv));
  return Queue(slice, tokens, t, kv, 0, kv.device_length(), logits, all_logits);
}

absl::Status CudaModel::Forward(const ForwardArgs& args) const {
  // The stream, scratch and staging buffers are the model's: one host forward
  // at a time, each complete (synchronised) before the lock is released.
  std::lock_guard<std::mutex> lock(host_forward_mutex_);
  return const_cast<CudaModel*>(this)->ForwardHost(args);
}

absl::StatusOr<int32_t*> CudaModel::StageTokens(const int32_t* tokens, int64_t n) {
  if (n * sizeof(int32_t) > host_tokens_.size()) {
    RETURN_IF_ERROR(ctx_->Synchronize());
    RETURN_IF_ERROR(host_tokens_.Reserve(n * sizeof(int32_t)));
  }
  int32_t* device = host_tokens_.As<int32_t>();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(device, tokens, n * sizeof(int32_t), cudaMemcpyHostToDevice, ctx_->stream()));
  return device;
}

absl::StatusOr<float*> CudaModel::LogitsStaging(size_t bytes) {
  if (bytes > host_logits_.size()) {
    RETURN_IF_ERROR(ctx_->Synchronize());
    RETURN_IF_ERROR(host_logits_.Reserve(bytes));
  }
  return host_logits_.As<float>();
}

absl::Status CudaModel::ForwardHost(const ForwardArgs& args) {
  const int64_t vocab = config().vocab_size;
  RETURN_IF_ERROR(args.Validate(vocab));
  if (args.tap != nullptr) return absl::UnimplementedError("activation taps are not supported on the GPU");
  auto* kv = dynamic_cast<CudaKvCache*>(args.kv);
  if (kv == nullptr) return absl::InvalidArgumentError("the CUDA model needs a KV cache from its NewKvCache");
  RETURN_IF_ERROR(EnsureCapacity(args.t));
  RETURN_IF_ERROR(PrepareSlice(*args.slice));
  const cudaStream_t s = ctx_->stream();
  ASSIGN_OR_RETURN(int32_t* tokens, StageTokens(args.tokens, args.t));
  const int64_t rows = args.all_logits ? args.t : 1;
  const size_t logits_bytes = args.logits ? rows * vocab * sizeof(float) : 0;
  ASSIGN_OR_RETURN(float* logits, LogitsStaging(logits_bytes));
  RETURN_IF_ERROR(
      ForwardDevice(*args.slice, tokens, args.t, *kv, args.logits ? logits : nullptr, args.all_logits));
  if (args.logits != nullptr) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(args.logits, logits, logits_bytes, cudaMemcpyDeviceToHost, s));
  }
  return ctx_->Synchronize();
}

absl::Status CudaModel::ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                                     ForwardScratch* scratch) const {
  if (!batched_forward()) return Model::ForwardBatch(slice, segments, scratch);
  std::lock_guard<std::mutex> lock(host_forward_mutex_);  // the one stream and scratch, as Forward
  return const_cast<CudaModel*>(this)->ForwardBatchHost(slice, segments);
}

absl::Status CudaModel::ForwardBatchHost(const SliceView& slice, std::span<const BatchSegment> segments) {
  const int64_t vocab = config().vocab_size;
  RETURN_IF_ERROR(ValidateBatch(segments, vocab));
  std::vector<CudaKvCache*> caches(segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    caches[i] = dynamic_cast<CudaKvCache*>(segments[i].kv);
    absl::Status s = caches[i] == nullptr
                         ? absl::InvalidArgumentError("the CUDA model needs a KV cache from its NewKvCache")
                         : caches[i]->status();
    if (s.ok()) s = CheckSliceAndCache(slice, *caches[i]);
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("segment ", i, " of the batch: ", s.message()));
  }
  const BatchLayout layout = LayoutBatch(segments);
  RETURN_IF_ERROR(EnsureCapacity(layout.rows));
  RETURN_IF_ERROR(PrepareSlice(slice));
  ASSIGN_OR_RETURN(int32_t* tokens, StageTokens(layout.tokens.data(), layout.rows));
  ASSIGN_OR_RETURN(float* logits, LogitsStaging(layout.logit_rows * vocab * sizeof(float)));
  RETURN_IF_ERROR(QueueBatch(slice, layout, tokens, caches, layout.logit_rows > 0 ? logits : nullptr));
  const cudaStream_t s = ctx_->stream();
  for (size_t i = 0; i < segments.size(); ++i) {
    const int64_t rows = layout.head_rows[i].rows;
    if (rows == 0) continue;
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(segments[i].logits, logits + layout.logit_offset[i] * vocab,
                                         rows * vocab * sizeof(float), cudaMemcpyDeviceToHost, s));
  }
  RETURN_IF_ERROR(ctx_->Synchronize());
  for (size_t i = 0; i < segments.size(); ++i) caches[i]->Advance(segments[i].t);
  return absl::OkStatus();
}

absl::Status CudaModel::QueueBatch(const SliceView&, const BatchLayout&, const int32_t*,
                                   std::span<CudaKvCache* const>, float*) {
  return absl::UnimplementedError("this CUDA model has no batched forward");
}

}  // namespace matspec
