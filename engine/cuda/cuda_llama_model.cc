#include "engine/cuda/cuda_llama_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/device_weights.h"
#include "engine/status_macros.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"
#include "kernels/cuda/skinny_matmul_cuda.h"

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
  // Quantized FFN weights (as LlamaModel): a slice keeps whole blocks of down's columns.
  for (const LlamaLayerWeights& lw : m->w_.layers) {
    if (IsQuantized(lw.down.dtype)) m->config_.ffn_width_multiple = kQuantBlock;
  }
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
  // The layer is the CPU's (engine/llama_layer.h) over the CUDA ops.
  const CudaOps ops(*ctx_);
  const LlamaActivations a = Activations();
  for (int64_t l : slice.layers) {
    const LlamaLayerKv layer_kv{.keys = kv.device_keys(l),
                                .values = kv.device_values(l),
                                .len = {.past = past, .d_past = d_past, .capacity = kv.capacity()},
                                .t = t};
    RETURN_IF_ERROR(RunLlamaLayer(ops, config_, w_.layers[l], l, slice.ffn_widths[l], {&layer_kv, 1}, a, nullptr));
  }
  if (d_past != nullptr) RETURN_IF_ERROR(AddToCounterCuda(kv.device_length(), t, s));
  if (logits == nullptr) return absl::OkStatus();

  const int64_t rows = all_logits ? t : 1;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  RETURN_IF_ERROR(
      RmsNormCuda({x_.As<float>() + (t - rows) * hidden, w_.final_norm, 0.f, eps, rows, hidden, h_.As<float>()}, s));
  return QueueHeadLogits(h_.As<float>(), hidden, rows, w_.lm_head, slice, logits);
}

LlamaActivations CudaLlamaModel::Activations() {
  return LlamaActivations{.x = x_.As<float>(),
                          .h = h_.As<float>(),
                          .q = q_.As<float>(),
                          .k = k_new_.As<float>(),
                          .v = v_new_.As<float>(),
                          .attn = attn_.As<float>(),
                          .gate = gate_.As<float>(),
                          .up = up_.As<float>(),
                          .positions = positions_.As<int64_t>()};
}

int64_t CudaLlamaModel::SharedProductRows(const SliceView& slice) const {
  int64_t rows = kSkinnyMatMulMaxRows;
  for (int64_t l : slice.layers) {
    const LlamaLayerWeights& lw = w_.layers[l];
    for (const MatrixView* m : {&lw.q, &lw.k, &lw.v, &lw.o, &lw.gate, &lw.up, &lw.down}) {
      rows = std::min(rows, MatMulCudaRowInvariantRows(m->dtype));
    }
  }
  return rows;
}

absl::Status CudaLlamaModel::QueueBatch(const SliceView& slice, const BatchLayout& layout, const int32_t* tokens,
                                        std::span<CudaKvCache* const> caches, float* logits) {
  const int64_t hidden = config_.hidden_size;
  const int64_t vocab = config_.vocab_size;
  const int64_t t = layout.rows;
  const cudaStream_t s = ctx_->stream();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(positions_.data(), layout.positions.data(), t * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, s));
  RETURN_IF_ERROR(EmbeddingGatherCuda(w_.embed, tokens, t, 1.f, x_.As<float>(), s));
  const std::vector<RowRange> products = ProductGroups(RowCounts(layout.segment_rows), SharedProductRows(slice));
  const CudaOps ops(*ctx_, products);
  const LlamaActivations a = Activations();
  std::vector<LlamaLayerKv> seqs(caches.size());
  for (size_t i = 0; i < caches.size(); ++i) {
    seqs[i] = LlamaLayerKv{.len = {.past = caches[i]->length(), .capacity = caches[i]->capacity()},
                           .t = layout.segment_rows[i].rows};
  }
  for (int64_t l : slice.layers) {
    for (size_t i = 0; i < caches.size(); ++i) {
      seqs[i].keys = caches[i]->device_keys(l);
      seqs[i].values = caches[i]->device_values(l);
    }
    RETURN_IF_ERROR(RunLlamaLayer(ops, config_, w_.layers[l], l, slice.ffn_widths[l], seqs, a, nullptr));
  }
  if (logits == nullptr) return absl::OkStatus();

  // The rows each segment scores, normalised into consecutive rows of h_.
  const float eps = static_cast<float>(config_.rms_norm_eps);
  for (size_t i = 0; i < caches.size(); ++i) {
    const RowRange& r = layout.head_rows[i];
    if (r.rows == 0) continue;
    RETURN_IF_ERROR(RmsNormCuda({.x = x_.As<float>() + r.begin * hidden,
                                 .weight = w_.final_norm,
                                 .eps = eps,
                                 .rows = r.rows,
                                 .dim = hidden,
                                 .out = h_.As<float>() + layout.logit_offset[i] * hidden},
                                s));
  }
  const int64_t head_shared = MatMulCudaRowInvariantRows(w_.lm_head.dtype);
  for (const RowRange& r : ProductGroups(RowCounts(layout.head_rows), head_shared)) {
    RETURN_IF_ERROR(QueueHeadLogits(h_.As<float>() + r.begin * hidden, hidden, r.rows, w_.lm_head, slice,
                                    logits + r.begin * vocab));
  }
  return absl::OkStatus();
}

int64_t CudaLlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t CudaLlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
