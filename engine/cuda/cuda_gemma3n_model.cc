#include "engine/cuda/cuda_gemma3n_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/cuda/device_weights.h"
#include "engine/status_macros.h"
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"
#include "kernels/gemma3n_ops.h"

namespace matspec {
namespace {

float* F(const DeviceBuffer& b) { return b.As<float>(); }

absl::Status Norm(const float* x, const VectorView& w, double eps, int64_t rows, int64_t dim, float* out,
                  cudaStream_t s) {
  return RmsNormCuda({x, w, 0.f, static_cast<float>(eps), rows, dim, out}, s);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaGemma3nModel>> CudaGemma3nModel::Create(const std::string& config_json_path,
                                                                           const WeightStore& store, int device) {
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

absl::Status CudaGemma3nModel::Linear(const float* x, int64_t x_ld, int64_t t, const MatrixView& w, float* y,
                                      int64_t y_ld) {
  return MatMulCuda(*ctx_, MatMulParams{x, x_ld, t, w, y, y_ld, false}, ctx_->workspace(), ctx_->stream());
}

absl::Status CudaGemma3nModel::PerLayerInputs(const int32_t* tokens, int64_t t, const SliceView& slice) {
  const ModelConfig& b = config_.base;
  const int64_t D = b.hidden_size, L = b.num_layers, P = config_.hidden_size_per_layer_input;
  const cudaStream_t s = ctx_->stream();
  RETURN_IF_ERROR(ClampIdsCuda(tokens, t, config_.vocab_size_per_layer_input, ids_pl_.As<int32_t>(), s));
  const float proj_scale = 1.f / std::sqrt(static_cast<float>(D));
  const float input_scale = 1.f / std::sqrt(2.f);
  for (int64_t l : slice.layers) {
    RETURN_IF_ERROR(Linear(F(streams_[0]), D, t, per_layer_projection_.RowBlock(l * P, P), F(gpl_), P));
    RETURN_IF_ERROR(ScaleCuda(F(gpl_), t * P, proj_scale, s));
    RETURN_IF_ERROR(Norm(F(gpl_), per_layer_projection_norm_, b.rms_norm_eps, t, P, F(gpl_), s));
    RETURN_IF_ERROR(EmbeddingGatherCuda(embed_per_layer_.ColBlock(l * P, P), ids_pl_.As<int32_t>(), t,
                                        std::sqrt(static_cast<float>(P)), F(pl_emb_), s));
    RETURN_IF_ERROR(PerLayerInputCuda(F(gpl_), F(pl_emb_), t, P, L, l, input_scale, F(pli_), s));
  }
  return absl::OkStatus();
}

absl::Status CudaGemma3nModel::Router(const Gemma3nLayerWeights& w, const float* x, int64_t t, float* raw) {
  const int64_t D = config_.base.hidden_size, N = config_.altup_num_inputs;
  const cudaStream_t s = ctx_->stream();
  RETURN_IF_ERROR(Norm(x, w.router_norm, config_.base.rms_norm_eps, t, D, F(tmp_), s));
  RETURN_IF_ERROR(ScaleCuda(F(tmp_), t * D, 1.f / static_cast<float>(D), s));
  return Linear(F(tmp_), D, t, w.router, raw, N);
}

absl::Status CudaGemma3nModel::Attention(int64_t l, int64_t t, int64_t past, const int64_t* d_past,
                                         CudaKvCache& kv) {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, hd = b.head_dim;
  const int64_t qdim = b.num_heads * hd, kvdim = b.num_kv_heads * hd;
  const bool sliding = config_.sliding[l];
  const double theta = sliding ? config_.rope_theta_sliding : config_.rope_theta_full;
  const cudaStream_t s = ctx_->stream();
  const int64_t* pos = positions_.As<int64_t>();

  RETURN_IF_ERROR(Linear(F(an_), D, t, w.q, F(q_), qdim));
  RETURN_IF_ERROR(Norm(F(q_), w.q_norm, b.rms_norm_eps, t * b.num_heads, hd, F(q_), s));
  RETURN_IF_ERROR(ApplyRopeCuda({F(q_), qdim, t, b.num_heads, hd, pos, theta}, s));
  if (!config_.IsConsumer(l)) {
    // With a host length k and v go straight into the cache rows; with a
    // device length into k_new_/v_new_, then appended at *d_past.
    float* keys = d_past ? F(k_new_) : kv.device_keys(l) + past * kvdim;
    float* values = d_past ? F(v_new_) : kv.device_values(l) + past * kvdim;
    RETURN_IF_ERROR(Linear(F(an_), D, t, w.k, keys, kvdim));
    RETURN_IF_ERROR(Norm(keys, w.k_norm, b.rms_norm_eps, t * b.num_kv_heads, hd, keys, s));
    RETURN_IF_ERROR(ApplyRopeCuda({keys, kvdim, t, b.num_kv_heads, hd, pos, theta}, s));
    RETURN_IF_ERROR(Linear(F(an_), D, t, w.v, values, kvdim));
    RETURN_IF_ERROR(Norm(values, VectorView{}, b.rms_norm_eps, t * b.num_kv_heads, hd, values, s));
    if (d_past != nullptr) {
      RETURN_IF_ERROR(KvAppendCuda(keys, kvdim, t, kvdim, d_past, kv.device_keys(l), s));
      RETURN_IF_ERROR(KvAppendCuda(values, kvdim, t, kvdim, d_past, kv.device_values(l), s));
    }
  }
  const int64_t src = config_.kv_source[l];  // the producer for a consumer, else l
  const AttentionParams ap = Gemma3nAttentionParams(config_, l, F(q_), kv.device_keys(src), kv.device_values(src),
                                                    past, t, F(attn_));
  if (d_past != nullptr) {
    RETURN_IF_ERROR(AttentionCudaDeviceLength(ap, d_past, kv.capacity(), ctx_->workspace(), s));
  } else {
    RETURN_IF_ERROR(AttentionCuda(ap, ctx_->workspace(), s));
  }
  return Linear(F(attn_), qdim, t, w.o, F(tmp_), D);
}

absl::Status CudaGemma3nModel::Mlp(int64_t l, int64_t width, int64_t t) {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, ld = b.max_ffn_width();
  const cudaStream_t s = ctx_->stream();
  RETURN_IF_ERROR(Linear(F(an_), D, t, w.gate.FirstRows(width), F(gate_), ld));
  if (sparsity_multiplier_[l] != 0.f) {
    RETURN_IF_ERROR(GaussianTopKCuda(F(gate_), t, width, ld, sparsity_multiplier_[l], s));
  }
  RETURN_IF_ERROR(Linear(F(an_), D, t, w.up.FirstRows(width), F(up_), ld));
  RETURN_IF_ERROR(GatedActivationCuda({Activation::kGeluTanh, F(gate_), F(up_), F(gate_), t, width, ld}, s));
  return Linear(F(gate_), ld, t, w.down.FirstCols(width), F(tmp_), D);
}

absl::Status CudaGemma3nModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, const int64_t* d_past,
                                        CudaKvCache& kv) {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs, act = config_.altup_active_idx;
  const int64_t P = config_.hidden_size_per_layer_input, L = b.num_layers;
  const double eps = b.rms_norm_eps;
  const cudaStream_t s = ctx_->stream();
  std::vector<const float*> xs(N);
  std::vector<float*> preds(N);
  for (int64_t i = 0; i < N; ++i) {
    xs[i] = F(streams_[i]);
    preds[i] = F(pred_[i]);
  }

  // AltUp predict: coefs[t, N*N] = W_pred tanh(router(x_act)).
  RETURN_IF_ERROR(Router(w, F(streams_[act]), t, F(raw_)));
  RETURN_IF_ERROR(AltUpCoefsCuda(F(raw_), t, N, prediction_[l], N * N, false, nullptr, F(coefs_), s));
  RETURN_IF_ERROR(AltUpPredictCuda(xs.data(), F(coefs_), N, t, D, preds.data(), s));
  const float* a = F(pred_[act]);

  // Input norm and LAuReL: lau = an + rmsnorm(R (L an)).
  RETURN_IF_ERROR(Norm(a, w.input_norm, eps, t, D, F(an_), s));
  RETURN_IF_ERROR(Linear(F(an_), D, t, w.laurel_left, F(low_), config_.laurel_rank));
  RETURN_IF_ERROR(Linear(F(low_), config_.laurel_rank, t, w.laurel_right, F(lau_), D));
  RETURN_IF_ERROR(Norm(F(lau_), w.laurel_norm, eps, t, D, F(lau_), s));
  RETURN_IF_ERROR(AddInPlaceCuda(F(lau_), F(an_), t * D, s));

  // Attention, then hmid = ((a + post_attn_norm(attn)) + lau) / sqrt(2).
  RETURN_IF_ERROR(Attention(l, t, past, d_past, kv));
  RETURN_IF_ERROR(Norm(F(tmp_), w.post_attn_norm, eps, t, D, F(tmp_), s));
  RETURN_IF_ERROR(SumDivCuda(a, F(tmp_), F(lau_), t * D, std::sqrt(2.f), F(hmid_), s));

  // MLP: y = hmid + post_ffn_norm(mlp(pre_ffn_norm(hmid))).
  RETURN_IF_ERROR(Norm(F(hmid_), w.pre_ffn_norm, eps, t, D, F(an_), s));
  RETURN_IF_ERROR(Mlp(l, width, t));
  RETURN_IF_ERROR(Norm(F(tmp_), w.post_ffn_norm, eps, t, D, F(tmp_), s));
  RETURN_IF_ERROR(SumDivCuda(F(hmid_), F(tmp_), nullptr, t * D, 1.f, F(y_), s));

  // AltUp correct: k = clamp(W_corr) tanh(router(y)) + 1.
  RETURN_IF_ERROR(Router(w, F(y_), t, F(raw_)));
  RETURN_IF_ERROR(AltUpCoefsCuda(F(raw_), t, N, correction_[l], N, true, nullptr, F(coefs_), s));
  RETURN_IF_ERROR(AltUpCorrectCuda(preds.data(), F(y_), F(coefs_), N, act, t, D, s));

  // Per-layer input: gate = gelu(W_gate (out_act * scale)) * pli_l; added to streams 1..N-1.
  const float* out_act = F(pred_[act]);
  if (config_.altup_correct_scale) {
    RETURN_IF_ERROR(ScaleColumnsCuda(out_act, t, D, w.correct_output_scale, F(an_), s));
  } else {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(F(an_), out_act, t * D * sizeof(float), cudaMemcpyDeviceToDevice, s));
  }
  RETURN_IF_ERROR(Linear(F(an_), D, t, w.pli_gate, F(gpl_), P));
  // This layer's slot of the per-layer inputs, as contiguous [t, P] rows.
  CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(F(pl_up_), P * sizeof(float), F(pli_) + l * P, L * P * sizeof(float),
                                         P * sizeof(float), t, cudaMemcpyDeviceToDevice, s));
  RETURN_IF_ERROR(GatedActivationCuda({Activation::kGeluTanh, F(gpl_), F(pl_up_), F(gpl_), t, P, P}, s));
  RETURN_IF_ERROR(Linear(F(gpl_), P, t, w.pli_proj, F(tmp_), D));
  RETURN_IF_ERROR(Norm(F(tmp_), w.post_pli_norm, eps, t, D, F(tmp_), s));
  for (int64_t i = 1; i < N; ++i) RETURN_IF_ERROR(AddInPlaceCuda(F(pred_[i]), F(tmp_), t * D, s));

  std::swap(streams_, pred_);
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

absl::Status CudaGemma3nModel::Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv,
                                     int64_t past, const int64_t* d_past, float* logits, bool all_logits) {
  const ModelConfig& b = config_.base;
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs;
  const cudaStream_t s = ctx_->stream();
  if (d_past != nullptr) {
    RETURN_IF_ERROR(RopePositionsCuda(d_past, 0, t, positions_.As<int64_t>(), s));
  } else {
    RETURN_IF_ERROR(FillPositionsCuda(past, t, positions_.As<int64_t>(), s));
  }
  // Scaled embedding = stream 0; per-layer inputs; streams 1..N-1.
  RETURN_IF_ERROR(EmbeddingGatherCuda(embed_, tokens, t, std::sqrt(static_cast<float>(D)), F(streams_[0]), s));
  RETURN_IF_ERROR(PerLayerInputs(tokens, t, slice));
  for (int64_t i = 1; i < N; ++i) {
    RETURN_IF_ERROR(Linear(F(streams_[0]), D, t, altup_proj_[i - 1], F(streams_[i]), D));
    RETURN_IF_ERROR(MatchMagnitudeCuda(F(streams_[i]), F(streams_[0]), t, D, kGemma3nMagnitudeFloor, s));
  }
  for (int64_t l : slice.layers) RETURN_IF_ERROR(RunLayer(l, slice.ffn_widths[l], t, past, d_past, kv));
  if (d_past != nullptr) RETURN_IF_ERROR(AddToCounterCuda(kv.device_length(), t, s));
  if (logits == nullptr) return absl::OkStatus();

  // Collapse the streams (mean of stream 0 and the rescaled unembedded others), norm, head, soft-cap.
  const int64_t rows = all_logits ? t : 1;
  const int64_t first = (t - rows) * D;
  const float* x0 = F(streams_[0]) + first;
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(F(hmid_), x0, rows * D * sizeof(float), cudaMemcpyDeviceToDevice, s));
  for (int64_t i = 1; i < N; ++i) {
    RETURN_IF_ERROR(Linear(F(streams_[i]) + first, D, rows, altup_unembed_[i - 1], F(tmp_), D));
    RETURN_IF_ERROR(MatchMagnitudeCuda(F(tmp_), x0, rows, D, kGemma3nMagnitudeFloor, s));
    RETURN_IF_ERROR(AddInPlaceCuda(F(hmid_), F(tmp_), rows * D, s));
  }
  RETURN_IF_ERROR(ScaleCuda(F(hmid_), rows * D, 1.f / static_cast<float>(N), s));
  RETURN_IF_ERROR(Norm(F(hmid_), final_norm_, b.rms_norm_eps, rows, D, F(an_), s));
  RETURN_IF_ERROR(QueueHeadLogits(F(an_), D, rows, embed_, slice, logits));
  if (config_.final_logit_softcapping > 0) {  // the -inf of unscored tokens stay -inf
    RETURN_IF_ERROR(LogitSoftcapCuda(logits, rows * b.vocab_size, static_cast<float>(config_.final_logit_softcapping), s));
  }
  return absl::OkStatus();
}

}  // namespace matspec
