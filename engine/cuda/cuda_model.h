// CudaModel: what every model of the CUDA backend offers on top of Model, so
// that CudaRoundRunner can queue a whole speculation round on the GPU without
// knowing the architecture (CudaLlamaModel, CudaGemma3nModel).
//
// Two entry points:
//   Forward()        the Model interface: host tokens in, host logits out,
//                    synchronous. Implemented here over ForwardDevice, so every
//                    Model-level test runs on the GPU. The GPU model still has
//                    one stream and one scratch of its own (not yet per
//                    sequence), so host Forwards are serialised by a mutex and
//                    the Engine runs one GPU generation at a time.
//   ForwardDevice()  the hot path: device tokens in, device logits out,
//                    queued on context().stream() without any host
//                    synchronisation.
// ForwardBatch()   continuous batching (decoding/batch_scheduler.h): host in,
//                    host out, synchronous, under the same mutex as Forward.
//                    An architecture with a batched forward (batched_forward():
//                    CudaLlamaModel, CudaGemma3nModel) queues the rows of every
//                    segment as ONE forward (QueueBatch); one without would
//                    keep Model's default, the segments in turn through Forward.
// ForwardDeviceLength() is the same forward with the cache length read from
// device memory (CudaKvCache::device_length()), which is what lets a round be
// captured once as a CUDA graph and replayed. An architecture implements
// CheckSliceAndCache and Queue (both length modes); the entry points are here.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_MODEL_H_
#define MATSPEC_ENGINE_CUDA_CUDA_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/batch_layout.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/model.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

class CudaModel : public Model {
 public:
  // Host in, host out; synchronises. args.kv must be a CudaKvCache from
  // NewKvCache. Taps are not supported on the GPU (Unimplemented).
  absl::Status Forward(const ForwardArgs& args) const final;
  // The GPU forward ignores ForwardArgs::scratch (its scratch is its own).
  std::unique_ptr<ForwardScratch> NewScratch() const final { return std::make_unique<ForwardScratch>(); }
  void set_num_threads(int) override {}
  void set_f32_activations(bool) override {}

  // Model::ForwardBatch on the GPU: the segments' tokens go up as one block,
  // QueueBatch runs them as one forward, each segment's logits come back to
  // its host buffer; one synchronisation. Each segment's logits and cache are
  // bit-identical to a Forward of that segment alone (the products are split
  // by ProductGroups so that every row keeps its kernel path:
  // engine/batch_layout.h). Checks everything (ValidateBatch, each cache a
  // CudaKvCache with storage for the slice, errors naming the segment) before
  // queueing; the caches advance only once the forward completed, so on error
  // none has. `scratch` is ignored. Without batched_forward(): Model's default.
  absl::Status ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                            ForwardScratch* scratch) const final;
  // Whether this architecture runs a batch as one forward (QueueBatch); the
  // CUDA backend lets the engine's batch scheduler drive only such models
  // (engine/cuda/cuda_backend.cc).
  virtual bool batched_forward() const { return false; }

  // Queues the slice over t tokens read from device memory (`tokens`) on
  // context().stream(); advances kv by t (host length). logits:
  // [all_logits ? t : 1, vocab] f32 device memory, or nullptr to skip the
  // head. t must not exceed the capacity reserved by EnsureCapacity
  // (InvalidArgument otherwise).
  absl::Status ForwardDevice(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                             float* logits, bool all_logits);

  // Whether ForwardDeviceLength works (then rounds can be captured as CUDA
  // graphs). Every model of engine/cuda/ supports it; one that cannot would
  // override this and refuse a device length in Queue.
  virtual bool supports_device_length() const { return true; }
  // ForwardDevice of t tokens whose cache length is *kv.device_length(), read
  // when the kernels run: the forward writes its k/v at that offset, attends
  // over it and adds t to it on the device. Neither reads nor advances the host
  // length (the caller advances it by what the replays added). The caller
  // keeps *device_length + t <= kv.capacity().
  absl::Status ForwardDeviceLength(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                                   float* logits, bool all_logits);

  // Uploads what the slice needs on the device beyond the weights (the token
  // ids of a reduced-vocabulary head), once per slice; allocates, so call it
  // before queueing or capturing forwards of the slice (the host Forward does).
  absl::Status PrepareSlice(const SliceView& slice);

  // Sizes scratch and workspace for forwards of up to t tokens (synchronises
  // when it grows; never call it while a round is queued or captured).
  virtual absl::Status EnsureCapacity(int64_t t) = 0;
  // Grows the shared workspace for a caller's own launchers on stream().
  absl::Status ReserveWorkspace(size_t bytes);

  CudaContext& context() { return *ctx_; }
  // Changes whenever EnsureCapacity or ReserveWorkspace moves scratch or
  // workspace memory; a captured CUDA graph is stale once it changed.
  int64_t scratch_generation() const { return scratch_generation_; }
  // Bytes of weights held on the GPU (each tensor once).
  int64_t device_weight_bytes() const override = 0;

 protected:
  CudaModel() = default;

  // The architecture's checks of a slice against a cache (widths, stored
  // layers), after the common ones of ForwardDevice.
  virtual absl::Status CheckSliceAndCache(const SliceView& slice, const CudaKvCache& kv) const = 0;
  // Queues the forward. d_past == nullptr: the cache length is `past` (host),
  // k/v go straight into the cache rows; else it is *d_past, read on the
  // device, k/v are appended there and *d_past grows by t.
  virtual absl::Status Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                             int64_t past, const int64_t* d_past, float* logits, bool all_logits) = 0;

  // Queues the batched forward laid out by `layout` (every segment's
  // checks done): tokens [layout.rows] in device memory; caches[i] the cache
  // of segment i at its host length, which this must not advance; logits
  // [layout.logit_rows, vocab] device memory (segment i's rows from
  // layout.logit_offset[i]), nullptr when no segment wants logits. Scratch is
  // sized for layout.rows (EnsureCapacity). Unimplemented here.
  virtual absl::Status QueueBatch(const SliceView& slice, const BatchLayout& layout, const int32_t* tokens,
                                  std::span<CudaKvCache* const> caches, float* logits);

  // Call after moving any scratch buffer a forward reads or writes.
  void ScratchMoved() { ++scratch_generation_; }
  // Queues logits[rows, vocab] = x[rows, hidden] head^T over the tokens the
  // slice scores (-inf for the others), as layer_ops::HeadLogits on the CPU.
  // A slice with head_ids needs PrepareSlice first (FailedPrecondition).
  absl::Status QueueHeadLogits(const float* x, int64_t hidden, int64_t rows, const MatrixView& head,
                               const SliceView& slice, float* logits);

  std::unique_ptr<CudaContext> ctx_;
  int64_t capacity_t_ = 0;  // tokens the scratch holds (EnsureCapacity)

 private:
  absl::Status ForwardHost(const ForwardArgs& args);
  absl::Status ForwardBatchHost(const SliceView& slice, std::span<const BatchSegment> segments);
  // Queues the copy of n host tokens into the staging buffer; returns it.
  absl::StatusOr<int32_t*> StageTokens(const int32_t* tokens, int64_t n);
  // The logits staging buffer, grown to `bytes` (synchronises when it grows).
  absl::StatusOr<float*> LogitsStaging(size_t bytes);
  // The common checks, then CheckSliceAndCache.
  absl::Status CheckForward(const SliceView& slice, const int32_t* tokens, int64_t t, const CudaKvCache& kv) const;

  int64_t scratch_generation_ = 0;
  mutable std::mutex host_forward_mutex_;  // one host Forward at a time
  // The host Forward's staging: tokens and logits in device memory.
  DeviceBuffer host_tokens_, host_logits_;
  // Device copies of head_ids, keyed by the host vector (kept alive here).
  struct DeviceIds {
    std::shared_ptr<const std::vector<int32_t>> host;
    DeviceBuffer device;
  };
  std::map<const std::vector<int32_t>*, DeviceIds> head_ids_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_MODEL_H_
