#include "engine/cuda/cuda_gemma3n_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/device_weights.h"
#include "engine/gemma3n_layer.h"
#include "engine/status_macros.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/skinny_matmul_cuda.h"

namespace matspec {
namespace {

float* F(const DeviceBuffer& b) { return b.As<float>(); }

}  // namespace

absl::StatusOr<std::unique_ptr<CudaGemma3nModel>> CudaGemma3nModel::Create(const std::string& config_json_path,
                                                                           const WeightStore& store, int device) {
  for (const auto& [name, rec] : store.index()) {
    if (IsQuantized(rec->dtype)) {
      return absl::UnimplementedError(absl::StrCat("tensor '", name, "' is quantized (",
                                                   std::string(DTypeName(rec->dtype)),
                                                   "); --device cuda runs Gemma 3n on dense weights only (drop "
                                                   "--quantize, or use --device cpu)"));
    }
  }
  std::unique_ptr<CudaGemma3nModel> m(new CudaGemma3nModel());
  ASSIGN_OR_RETURN(m->config_, LoadGemma3nConfig(config_json_path));
  ASSIGN_OR_RETURN(m->cpu_, Gemma3nModel::Create(m->config_, store));
  ASSIGN_OR_RETURN(m->ctx_, CudaContext::Create(0, device));
  RETURN_IF_ERROR(m->Upload());
  RETURN_IF_ERROR(m->EnsureCapacity(1));
  return m;
}

CudaGemma3nModel::~CudaGemma3nModel() {
  if (host_table_ != nullptr) cudaFreeHost(host_table_);
}

absl::Status CudaGemma3nModel::Upload() {
  const Gemma3nModel& c = *cpu_;
  embed_ = c.embed_;
  per_layer_projection_ = c.per_layer_projection_;
  per_layer_projection_norm_ = c.per_layer_projection_norm_;
  final_norm_ = c.final_norm_;
  altup_proj_ = c.altup_proj_;
  altup_unembed_ = c.altup_unembed_;
  layers_ = c.layers_;
  sparsity_multiplier_ = c.sparsity_multiplier_;

  std::vector<MatrixView*> matrices = {&embed_, &per_layer_projection_};
  std::vector<VectorView*> vectors = {&per_layer_projection_norm_, &final_norm_};
  for (MatrixView& m : altup_proj_) matrices.push_back(&m);
  for (MatrixView& m : altup_unembed_) matrices.push_back(&m);
  for (Gemma3nLayerWeights& w : layers_) {
    for (MatrixView* m : {&w.q, &w.k, &w.v, &w.o, &w.gate, &w.up, &w.down, &w.router, &w.laurel_left,
                          &w.laurel_right, &w.pli_gate, &w.pli_proj}) {
      matrices.push_back(m);  // consumers' unbound k/v (null data) are skipped
    }
    for (VectorView* v : {&w.input_norm, &w.post_attn_norm, &w.pre_ffn_norm, &w.post_ffn_norm, &w.q_norm, &w.k_norm,
                          &w.correct_output_scale, &w.router_norm, &w.laurel_norm, &w.post_pli_norm}) {
      vectors.push_back(v);
    }
  }
  ASSIGN_OR_RETURN(weights_, UploadWeightViews(matrices, vectors));

  // AltUp's small f32 matrices, one block per layer.
  const int64_t N = config_.altup_num_inputs, L = config_.num_layers();
  const int64_t per_layer = N * N * N + N * N;
  std::vector<float> host(L * per_layer);
  for (int64_t l = 0; l < L; ++l) {
    std::copy(layers_[l].prediction.begin(), layers_[l].prediction.end(), host.begin() + l * per_layer);
    std::copy(layers_[l].correction.begin(), layers_[l].correction.end(), host.begin() + l * per_layer + N * N * N);
  }
  RETURN_IF_ERROR(altup_matrices_.Reserve(host.size() * sizeof(float)));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(altup_matrices_.data(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  for (int64_t l = 0; l < L; ++l) {
    prediction_.push_back(F(altup_matrices_) + l * per_layer);
    correction_.push_back(F(altup_matrices_) + l * per_layer + N * N * N);
  }

  // The per-layer embedding table: pinned, mapped host memory.
  const MatrixView& table = c.embed_per_layer_;
  host_table_bytes_ = table.rows * table.ld * DTypeSize(table.dtype);
  const cudaError_t pinned = cudaHostAlloc(&host_table_, static_cast<size_t>(host_table_bytes_), cudaHostAllocMapped);
  if (pinned != cudaSuccess) {
    (void)cudaGetLastError();
    host_table_ = nullptr;
    return absl::ResourceExhaustedError(absl::StrCat("pinning ", host_table_bytes_,
                                                     " bytes of host memory for embed_tokens_per_layer: ",
                                                     cudaGetErrorString(pinned)));
  }
  std::memcpy(host_table_, table.data, static_cast<size_t>(host_table_bytes_));
  void* mapped = nullptr;
  CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(&mapped, host_table_, 0));
  embed_per_layer_ = table;
  embed_per_layer_.data = mapped;
  embed_per_layer_.device = Device::kCuda;
  return absl::OkStatus();
}

std::unique_ptr<KvCache> CudaGemma3nModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  std::vector<bool> stored(config_.num_layers(), false);
  for (int64_t l : slice.layers) {
    if (l >= 0 && l < config_.num_layers() && !config_.IsConsumer(l)) stored[l] = true;
  }
  return std::make_unique<CudaKvCache>(stored, config_.base.num_kv_heads, config_.base.head_dim, capacity);
}

absl::Status CudaGemma3nModel::EnsureCapacity(int64_t t) {
  if (t <= capacity_t_) return absl::OkStatus();
  RETURN_IF_ERROR(ctx_->Synchronize());  // the old scratch may still be in use
  ScratchMoved();
  const ModelConfig& b = config_.base;
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs, L = b.num_layers;
  const int64_t P = config_.hidden_size_per_layer_input, R = config_.laurel_rank;
  const int64_t qdim = b.num_heads * b.head_dim, F = b.max_ffn_width();
  const size_t f = sizeof(float);
  streams_.resize(N);
  pred_.resize(N);
  for (int64_t i = 0; i < N; ++i) {
    RETURN_IF_ERROR(streams_[i].Reserve(t * D * f));
    RETURN_IF_ERROR(pred_[i].Reserve(t * D * f));
  }
  for (DeviceBuffer* buf : {&an_, &lau_, &tmp_, &hmid_, &y_}) RETURN_IF_ERROR(buf->Reserve(t * D * f));
  RETURN_IF_ERROR(pli_.Reserve(t * L * P * f));
  RETURN_IF_ERROR(low_.Reserve(t * R * f));
  RETURN_IF_ERROR(q_.Reserve(t * qdim * f));
  RETURN_IF_ERROR(attn_.Reserve(t * qdim * f));
  RETURN_IF_ERROR(gate_.Reserve(t * F * f));
  RETURN_IF_ERROR(up_.Reserve(t * F * f));
  RETURN_IF_ERROR(raw_.Reserve(t * N * f));
  RETURN_IF_ERROR(coefs_.Reserve(t * N * N * f));
  for (DeviceBuffer* buf : {&gpl_, &pl_emb_, &pl_up_}) RETURN_IF_ERROR(buf->Reserve(t * P * f));
  RETURN_IF_ERROR(positions_.Reserve(t * sizeof(int64_t)));
  RETURN_IF_ERROR(k_new_.Reserve(t * b.num_kv_heads * b.head_dim * f));
  RETURN_IF_ERROR(v_new_.Reserve(t * b.num_kv_heads * b.head_dim * f));
  RETURN_IF_ERROR(ids_pl_.Reserve(t * sizeof(int32_t)));
  const DType wt = layers_.empty() ? embed_.dtype : layers_[0].q.dtype;
  const int64_t widest = std::max({D, qdim, F, P, R});
  RETURN_IF_ERROR(ReserveWorkspace(std::max(MatMulCudaWorkspaceBytes(t, widest, wt),
                                            AttentionCudaWorkspaceBytes(t, b.num_heads, b.head_dim))));
  capacity_t_ = t;
  return absl::OkStatus();
}

absl::Status CudaGemma3nModel::CheckSliceAndCache(const SliceView& slice, const CudaKvCache& kv) const {
  const ModelConfig& b = config_.base;
  RETURN_IF_ERROR(cpu_->CheckSlice(slice));
  if (kv.num_layers() != b.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache has ", kv.num_layers(), " layers; the model has ",
                                                   b.num_layers));
  }
  for (int64_t l : slice.layers) {
    const int64_t src = config_.kv_source[l];
    if (!kv.stores_on_device(src)) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache has no storage for layer ", src, " needed by layer ",
                                                     l, " of slice \"", slice.name, "\""));
    }
  }
  return absl::OkStatus();
}

Gemma3nActivations CudaGemma3nModel::Activations() {
  const int64_t N = config_.altup_num_inputs;
  std::vector<float*> streams(N), pred(N);
  for (int64_t i = 0; i < N; ++i) {
    streams[i] = F(streams_[i]);
    pred[i] = F(pred_[i]);
  }
  return Gemma3nActivations{.streams = std::move(streams),
                            .pred = std::move(pred),
                            .pli = F(pli_),
                            .an = F(an_),
                            .lau = F(lau_),
                            .low = F(low_),
                            .q = F(q_),
                            .k = F(k_new_),
                            .v = F(v_new_),
                            .attn = F(attn_),
                            .tmp = F(tmp_),
                            .hmid = F(hmid_),
                            .y = F(y_),
                            .gate = F(gate_),
                            .up = F(up_),
                            .raw = F(raw_),
                            .coefs = F(coefs_),
                            .gpl = F(gpl_),
                            .pl_emb = F(pl_emb_),
                            .pl_up = F(pl_up_),
                            .ids_pl = ids_pl_.As<int32_t>(),
                            .positions = positions_.As<int64_t>()};
}

Gemma3nStreamWeights CudaGemma3nModel::StreamWeights() const {
  return Gemma3nStreamWeights{.embed = embed_,
                              .embed_per_layer = embed_per_layer_,
                              .per_layer_projection = per_layer_projection_,
                              .per_layer_projection_norm = per_layer_projection_norm_,
                              .final_norm = final_norm_,
                              .altup_proj = altup_proj_.data(),
                              .altup_unembed = altup_unembed_.data()};
}

absl::Status CudaGemma3nModel::Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                                     int64_t past, const int64_t* d_past, float* logits, bool all_logits) {
  const ModelConfig& b = config_.base;
  const cudaStream_t s = ctx_->stream();
  if (d_past != nullptr) {
    RETURN_IF_ERROR(RopePositionsCuda(d_past, 0, t, positions_.As<int64_t>(), s));
  } else {
    RETURN_IF_ERROR(FillPositionsCuda(past, t, positions_.As<int64_t>(), s));
  }
  // The decoder is the CPU's (engine/gemma3n_layer.h) over the CUDA ops.
  const CudaOps ops(*ctx_);
  Gemma3nActivations a = Activations();
  const Gemma3nStreamWeights sw = StreamWeights();
  RETURN_IF_ERROR(RunGemma3nEmbed(ops, config_, sw, slice, tokens, t, a, nullptr));
  for (int64_t l : slice.layers) {
    // Every owner at full capacity (no rings): with a host length k/v go
    // straight into the cache rows, with a device length through k_new_/v_new_.
    const int64_t src = config_.kv_source[l];
    const Gemma3nLayerKv layer_kv{.t = t,
                                  .keys = kv.device_keys(l),
                                  .values = kv.device_values(l),
                                  .src_keys = kv.device_keys(src),
                                  .src_values = kv.device_values(src),
                                  .len = {.past = past, .d_past = d_past, .capacity = kv.capacity()}};
    RETURN_IF_ERROR(RunGemma3nLayer(ops, config_, layers_[l], LayerArgs(slice, l, t), {&layer_kv, 1}, a, nullptr));
  }
  if (d_past != nullptr) RETURN_IF_ERROR(AddToCounterCuda(kv.device_length(), t, s));
  if (logits == nullptr) return absl::OkStatus();

  // Collapse the streams, norm, head, soft-cap.
  const int64_t rows = all_logits ? t : 1;
  RETURN_IF_ERROR(RunGemma3nCollapse(ops, config_, sw, t, rows, a, nullptr));
  RETURN_IF_ERROR(QueueHeadLogits(a.an, b.hidden_size, rows, embed_, slice, logits));
  if (config_.final_logit_softcapping > 0) {  // the -inf of unscored tokens stay -inf
    RETURN_IF_ERROR(LogitSoftcapCuda(logits, rows * b.vocab_size, static_cast<float>(config_.final_logit_softcapping), s));
  }
  return absl::OkStatus();
}

Gemma3nLayerArgs CudaGemma3nModel::LayerArgs(const SliceView& slice, int64_t l, int64_t t) const {
  return Gemma3nLayerArgs{.layer = l,
                          .width = slice.ffn_widths[l],
                          .t = t,
                          .sparsity = sparsity_multiplier_[l],
                          .prediction = prediction_[l],
                          .correction = correction_[l]};
}

int64_t CudaGemma3nModel::SharedProductRows(const SliceView& slice) const {
  int64_t rows = kSkinnyMatMulMaxRows;
  auto limit = [&rows](const MatrixView& m) {
    if (m.data != nullptr) rows = std::min(rows, MatMulCudaRowInvariantRows(m.dtype));
  };
  limit(per_layer_projection_);
  for (const MatrixView& m : altup_proj_) limit(m);
  for (int64_t l : slice.layers) {
    const Gemma3nLayerWeights& w = layers_[l];
    for (const MatrixView* m : {&w.q, &w.k, &w.v, &w.o, &w.gate, &w.up, &w.down, &w.router, &w.laurel_left,
                                &w.laurel_right, &w.pli_gate, &w.pli_proj}) {
      limit(*m);
    }
  }
  return rows;
}

absl::Status CudaGemma3nModel::QueueBatch(const SliceView& slice, const BatchLayout& layout, const int32_t* tokens,
                                          std::span<CudaKvCache* const> caches, float* logits) {
  const ModelConfig& b = config_.base;
  const int64_t D = b.hidden_size, vocab = b.vocab_size, t = layout.rows;
  const cudaStream_t s = ctx_->stream();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(positions_.data(), layout.positions.data(), t * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, s));
  // Every product split so that each row keeps the kernel path of its
  // segment's forward alone (engine/batch_layout.h).
  const std::vector<RowRange> products = ProductGroups(RowCounts(layout.segment_rows), SharedProductRows(slice));
  const CudaOps ops(*ctx_, products);
  Gemma3nActivations a = Activations();
  const Gemma3nStreamWeights sw = StreamWeights();
  RETURN_IF_ERROR(RunGemma3nEmbed(ops, config_, sw, slice, tokens, t, a, nullptr));
  std::vector<Gemma3nLayerKv> seqs(caches.size());
  for (int64_t l : slice.layers) {
    const int64_t src = config_.kv_source[l];
    for (size_t i = 0; i < caches.size(); ++i) {
      CudaKvCache& kv = *caches[i];
      seqs[i] = Gemma3nLayerKv{.t = layout.segment_rows[i].rows,
                               .keys = kv.device_keys(l),
                               .values = kv.device_values(l),
                               .src_keys = kv.device_keys(src),
                               .src_values = kv.device_values(src),
                               .len = {.past = kv.length(), .capacity = kv.capacity()}};
    }
    RETURN_IF_ERROR(RunGemma3nLayer(ops, config_, layers_[l], LayerArgs(slice, l, t), seqs, a, nullptr));
  }
  if (logits == nullptr) return absl::OkStatus();

  // Each segment's head rows collapsed as its forward alone does them (its
  // rows as one product), into consecutive rows of a.an; then the head.
  const CudaOps alone(*ctx_);
  for (size_t i = 0; i < caches.size(); ++i) {
    const RowRange& r = layout.head_rows[i];
    if (r.rows == 0) continue;
    const RowRange& rows = layout.segment_rows[i];
    Gemma3nActivations seg = a;
    for (float*& stream : seg.streams) stream += rows.begin * D;
    seg.an = a.an + layout.logit_offset[i] * D;
    RETURN_IF_ERROR(RunGemma3nCollapse(alone, config_, sw, rows.rows, r.rows, seg, nullptr));
  }
  const int64_t head_shared = MatMulCudaRowInvariantRows(embed_.dtype);
  for (const RowRange& r : ProductGroups(RowCounts(layout.head_rows), head_shared)) {
    RETURN_IF_ERROR(QueueHeadLogits(a.an + r.begin * D, D, r.rows, embed_, slice, logits + r.begin * vocab));
  }
  if (config_.final_logit_softcapping > 0) {  // the -inf of unscored tokens stay -inf
    RETURN_IF_ERROR(LogitSoftcapCuda(logits, layout.logit_rows * vocab,
                                     static_cast<float>(config_.final_logit_softcapping), s));
  }
  return absl::OkStatus();
}

}  // namespace matspec
