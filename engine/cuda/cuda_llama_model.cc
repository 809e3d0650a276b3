#include "engine/cuda/cuda_llama_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cuda/device_weights.h"
#include "engine/status_macros.h"
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"

namespace matspec {
namespace {

// Every weight view of the model, each once.
std::vector<MatrixView*> Matrices(LlamaWeights& w) {
  std::vector<MatrixView*> out = {&w.embed, &w.lm_head};
  for (LlamaLayerWeights& l : w.layers) {
    for (MatrixView* m : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) out.push_back(m);
  }
  return out;
}
std::vector<VectorView*> Vectors(LlamaWeights& w) {
  std::vector<VectorView*> out = {&w.final_norm};
  for (LlamaLayerWeights& l : w.layers) {
    out.push_back(&l.input_norm);
    out.push_back(&l.post_norm);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaLlamaModel>> CudaLlamaModel::Create(const ModelConfig& config,
                                                                       const WeightStore& store, int device) {
  std::unique_ptr<CudaLlamaModel> m(new CudaLlamaModel());
  m->config_ = config;
  ASSIGN_OR_RETURN(m->w_, BindLlamaWeights(config, store));
  ASSIGN_OR_RETURN(m->ctx_, CudaContext::Create(0, device));
  ASSIGN_OR_RETURN(m->weights_, UploadWeightViews(Matrices(m->w_), Vectors(m->w_)));
  RETURN_IF_ERROR(m->EnsureCapacity(1));
  return m;
}

std::unique_ptr<KvCache> CudaLlamaModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  std::vector<bool> stored(config_.num_layers, false);
  for (int64_t l : slice.layers) stored[l] = true;
  return std::make_unique<CudaKvCache>(stored, config_.num_kv_heads, config_.head_dim, capacity);
}

absl::Status CudaLlamaModel::EnsureCapacity(int64_t t) {
  if (t <= capacity_t_) return absl::OkStatus();
  RETURN_IF_ERROR(ctx_->Synchronize());  // the old scratch may still be in use
  ScratchMoved();
  const int64_t hidden = config_.hidden_size;
  const int64_t qdim = config_.num_heads * config_.head_dim;
  const int64_t ffn = config_.max_ffn_width();
  const size_t f = sizeof(float);
  RETURN_IF_ERROR(x_.Reserve(t * hidden * f));
  RETURN_IF_ERROR(h_.Reserve(t * hidden * f));
  RETURN_IF_ERROR(q_.Reserve(t * qdim * f));
  RETURN_IF_ERROR(attn_.Reserve(t * qdim * f));
  RETURN_IF_ERROR(gate_.Reserve(t * ffn * f));
  RETURN_IF_ERROR(up_.Reserve(t * ffn * f));
  RETURN_IF_ERROR(positions_.Reserve(t * sizeof(int64_t)));
  RETURN_IF_ERROR(k_new_.Reserve(t * config_.num_kv_heads * config_.head_dim * f));
  RETURN_IF_ERROR(v_new_.Reserve(t * config_.num_kv_heads * config_.head_dim * f));
  const DType wt = w_.layers.empty() ? w_.embed.dtype : w_.layers[0].q.dtype;
  const int64_t widest = std::max({hidden, qdim, ffn});
  RETURN_IF_ERROR(ReserveWorkspace(std::max(MatMulCudaWorkspaceBytes(t, widest, wt),
                                            AttentionCudaWorkspaceBytes(t, config_.num_heads, config_.head_dim))));
  capacity_t_ = t;
  return absl::OkStatus();
}

absl::Status CudaLlamaModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, const int64_t* d_past,
                                      CudaKvCache& kv) {
  const LlamaLayerWeights& w = w_.layers[l];
  const int64_t hidden = config_.hidden_size;
  const int64_t hd = config_.head_dim;
  const int64_t qdim = config_.num_heads * hd;
  const int64_t kvdim = config_.num_kv_heads * hd;
  const int64_t ffn_ld = config_.max_ffn_width();
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const cudaStream_t s = ctx_->stream();
  const CudaWorkspace ws = ctx_->workspace();
  float* x = x_.As<float>();
  float* h = h_.As<float>();
  float* q = q_.As<float>();
  // With a host length k and v are projected straight into the cache rows;
  // with a device length into k_new_/v_new_, then appended at *d_past.
  float* keys = d_past ? k_new_.As<float>() : kv.device_keys(l) + past * kvdim;
  float* values = d_past ? v_new_.As<float>() : kv.device_values(l) + past * kvdim;
  auto linear = [&](const float* in, int64_t in_ld, const MatrixView& wv, float* out, int64_t out_ld, bool acc) {
    return MatMulCuda(*ctx_, MatMulParams{in, in_ld, t, wv, out, out_ld, acc}, ws, s);
  };

  // Attention block.
  RETURN_IF_ERROR(RmsNormCuda({x, w.input_norm, 0.f, eps, t, hidden, h}, s));
  RETURN_IF_ERROR(linear(h, hidden, w.q, q, qdim, false));
  RETURN_IF_ERROR(linear(h, hidden, w.k, keys, kvdim, false));
  RETURN_IF_ERROR(linear(h, hidden, w.v, values, kvdim, false));
  const int64_t* pos = positions_.As<int64_t>();
  RETURN_IF_ERROR(ApplyRopeCuda({q, qdim, t, config_.num_heads, hd, pos, config_.rope_theta}, s));
  RETURN_IF_ERROR(ApplyRopeCuda({keys, kvdim, t, config_.num_kv_heads, hd, pos, config_.rope_theta}, s));
  const AttentionParams ap =
      LlamaAttentionParams(config_, q, kv.device_keys(l), kv.device_values(l), past, t, attn_.As<float>());
  if (d_past != nullptr) {
    RETURN_IF_ERROR(KvAppendCuda(keys, kvdim, t, kvdim, d_past, kv.device_keys(l), s));
    RETURN_IF_ERROR(KvAppendCuda(values, kvdim, t, kvdim, d_past, kv.device_values(l), s));
    RETURN_IF_ERROR(AttentionCudaDeviceLength(ap, d_past, kv.capacity(), ws, s));
  } else {
    RETURN_IF_ERROR(AttentionCuda(ap, ws, s));
  }
  RETURN_IF_ERROR(linear(attn_.As<float>(), qdim, w.o, x, hidden, true));

  // FFN block over the slice's prefix of the hidden units.
  float* gate = gate_.As<float>();
  float* up = up_.As<float>();
  RETURN_IF_ERROR(RmsNormCuda({x, w.post_norm, 0.f, eps, t, hidden, h}, s));
  RETURN_IF_ERROR(linear(h, hidden, w.gate.FirstRows(width), gate, ffn_ld, false));
  RETURN_IF_ERROR(linear(h, hidden, w.up.FirstRows(width), up, ffn_ld, false));
  RETURN_IF_ERROR(GatedActivationCuda({Activation::kSilu, gate, up, gate, t, width, ffn_ld}, s));
  return linear(gate, ffn_ld, w.down.FirstCols(width), x, hidden, true);
}

absl::Status CudaLlamaModel::CheckSliceAndCache(const SliceView& slice, const CudaKvCache& kv) const {
  if (static_cast<int64_t>(slice.ffn_widths.size()) != config_.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\" has ", slice.ffn_widths.size(),
                                                   " layer widths; the model has ", config_.num_layers, " layers"));
  }
  for (int64_t l : slice.layers) {
    if (!kv.stores_on_device(l)) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache has no storage for layer ", l, " of slice \"",
                                                     slice.name, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status CudaLlamaModel::Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                                   int64_t past, const int64_t* d_past, float* logits, bool all_logits) {
  const int64_t hidden = config_.hidden_size;
  const cudaStream_t s = ctx_->stream();
  if (d_past != nullptr) {
    RETURN_IF_ERROR(RopePositionsCuda(d_past, 0, t, positions_.As<int64_t>(), s));
  } else {
    RETURN_IF_ERROR(FillPositionsCuda(past, t, positions_.As<int64_t>(), s));
  }
  RETURN_IF_ERROR(EmbeddingGatherCuda(w_.embed, tokens, t, 1.f, x_.As<float>(), s));
  for (int64_t l : slice.layers) RETURN_IF_ERROR(RunLayer(l, slice.ffn_widths[l], t, past, d_past, kv));
  if (d_past != nullptr) RETURN_IF_ERROR(AddToCounterCuda(kv.device_length(), t, s));
  if (logits == nullptr) return absl::OkStatus();

  const int64_t rows = all_logits ? t : 1;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  RETURN_IF_ERROR(
      RmsNormCuda({x_.As<float>() + (t - rows) * hidden, w_.final_norm, 0.f, eps, rows, hidden, h_.As<float>()}, s));
  return QueueHeadLogits(h_.As<float>(), hidden, rows, w_.lm_head, slice, logits);
}

int64_t CudaLlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t CudaLlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
