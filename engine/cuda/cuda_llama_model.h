// CudaLlamaModel: the llama-family forward (see engine/llama_model.h) on one
// GPU. The checkpoint's tensors are uploaded once, in their dtype, into one
// device buffer; the views of LlamaWeights are re-pointed at it. A draft slice
// reads the same device weights through narrower views (FFN prefixes through
// the leading dimension), so it adds no weight memory on the GPU either.
//
// Two entry points:
//   Forward()        the Model interface: host tokens in, host logits out,
//                    synchronous. Lets every engine test run on the GPU.
//   ForwardDevice()  the hot path: device tokens in, device logits out,
//                    queued on the context's stream without any host
//                    synchronisation, so a speculation round can queue its draft
//                    steps, verification and acceptance back to back.
// Both use the CUDA launchers of kernels/cuda/ and scratch that is sized up
// front (EnsureCapacity), so nothing allocates while a round is queued.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_
#define MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/llama_model.h"
#include "engine/model.h"
#include "engine/weight_store.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

class CudaLlamaModel final : public Model {
 public:
  // Binds the checkpoint's tensors (NotFound / InvalidArgument as on the CPU),
  // then uploads them to GPU `device`. Unavailable without a usable GPU;
  // ResourceExhausted "... needed X bytes, Y free" when the weights do not fit.
  static absl::StatusOr<std::unique_ptr<CudaLlamaModel>> Create(const ModelConfig& config,
                                                                const WeightStore& store, int device = 0);

  const ModelConfig& config() const override { return config_; }
  // A CudaKvCache; check its status() (GPU memory may run out).
  std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const override;
  // Host in, host out; synchronises. args.kv must come from NewKvCache. Taps are
  // not supported on the GPU (Unimplemented).
  absl::Status Forward(const ForwardArgs& args) override;
  int64_t ParameterCount(const SliceView& slice) const override;
  int64_t WeightBytesRead(const SliceView& slice) const override;
  void set_num_threads(int) override {}

  // Queues the slice over t tokens read from device memory (`tokens`) on
  // context().stream(); advances kv by t. logits: [all_logits ? t : 1, vocab]
  // f32 device memory, or nullptr to skip the head. t must not exceed the
  // capacity reserved by EnsureCapacity (InvalidArgument otherwise).
  absl::Status ForwardDevice(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                             float* logits, bool all_logits);

  // Sizes scratch and workspace for forwards of up to t tokens (synchronises
  // when it grows; never call it while a round is queued or captured).
  absl::Status EnsureCapacity(int64_t t);
  // Grows the shared workspace for a caller's own launchers on stream().
  absl::Status ReserveWorkspace(size_t bytes);

  CudaContext& context() { return *ctx_; }
  // Bytes of weights held on the GPU (each tensor once).
  int64_t device_weight_bytes() const { return static_cast<int64_t>(weights_.size()); }

 private:
  CudaLlamaModel() = default;
  absl::Status RunLayer(int64_t layer, int64_t width, int64_t t, int64_t past, CudaKvCache& kv);

  ModelConfig config_;
  std::unique_ptr<CudaContext> ctx_;
  DeviceBuffer weights_;
  LlamaWeights w_;  // views into weights_ (device == kCuda)

  // Scratch for up to capacity_t_ tokens ([t, ...] f32 rows) and the host
  // Forward's staging.
  int64_t capacity_t_ = 0;
  DeviceBuffer x_, h_, q_, attn_, gate_, up_, positions_, host_tokens_, host_logits_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_
