#include "engine/cuda/cuda_llama_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"

namespace matspec {
namespace {

double GiB(size_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

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

// Uploads every distinct host tensor once (a tied head shares the embedding)
// and re-points the views at the copies.
absl::StatusOr<DeviceBuffer> UploadWeights(LlamaWeights& w) {
  std::map<const void*, size_t> offsets;  // host data -> offset in the device buffer
  std::map<const void*, size_t> sizes;
  size_t total = 0;
  auto reserve = [&](const void* data, size_t bytes) {
    if (offsets.count(data)) return;
    offsets[data] = total;
    sizes[data] = bytes;
    total += WorkspaceArena::AlignUp(bytes);
  };
  for (MatrixView* m : Matrices(w)) reserve(m->data, static_cast<size_t>(m->rows * m->ld * DTypeSize(m->dtype)));
  for (VectorView* v : Vectors(w)) reserve(v->data, static_cast<size_t>(v->size * DTypeSize(v->dtype)));

  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(total);
  if (!buffer.ok()) {
    return absl::Status(buffer.status().code(), absl::StrCat("uploading ", GiB(total), " GiB of weights: ",
                                                             buffer.status().message()));
  }
  char* base = buffer->As<char>();
  for (const auto& [data, offset] : offsets) {
    CUDA_RETURN_IF_ERROR(cudaMemcpy(base + offset, data, sizes[data], cudaMemcpyHostToDevice));
  }
  for (MatrixView* m : Matrices(w)) {
    m->data = base + offsets[m->data];
    m->device = Device::kCuda;
  }
  for (VectorView* v : Vectors(w)) {
    v->data = base + offsets[v->data];
    v->device = Device::kCuda;
  }
  return buffer;
}

absl::StatusOr<DeviceBuffer> Grow(DeviceBuffer buffer, size_t bytes) {
  if (buffer.size() >= bytes) return buffer;
  return DeviceBuffer::Allocate(bytes);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaLlamaModel>> CudaLlamaModel::Create(const ModelConfig& config,
                                                                       const WeightStore& store, int device) {
  std::unique_ptr<CudaLlamaModel> m(new CudaLlamaModel());
  m->config_ = config;
  ASSIGN_OR_RETURN(m->w_, BindLlamaWeights(config, store));
  ASSIGN_OR_RETURN(m->ctx_, CudaContext::Create(0, device));
  ASSIGN_OR_RETURN(m->weights_, UploadWeights(m->w_));
  RETURN_IF_ERROR(m->EnsureCapacity(1));
  return m;
}

std::unique_ptr<KvCache> CudaLlamaModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  std::vector<bool> stored(config_.num_layers, false);
  for (int64_t l : slice.layers) stored[l] = true;
  return std::make_unique<CudaKvCache>(stored, config_.num_kv_heads, config_.head_dim, capacity);
}

absl::Status CudaLlamaModel::ReserveWorkspace(size_t bytes) {
  if (bytes <= ctx_->workspace_bytes()) return absl::OkStatus();
  return ctx_->ReserveWorkspace(bytes);
}

absl::Status CudaLlamaModel::EnsureCapacity(int64_t t) {
  if (t <= capacity_t_) return absl::OkStatus();
  RETURN_IF_ERROR(ctx_->Synchronize());  // the old scratch may still be in use
  const int64_t hidden = config_.hidden_size;
  const int64_t qdim = config_.num_heads * config_.head_dim;
  const int64_t ffn = config_.max_ffn_width();
  const size_t f = sizeof(float);
  ASSIGN_OR_RETURN(x_, Grow(std::move(x_), t * hidden * f));
  ASSIGN_OR_RETURN(h_, Grow(std::move(h_), t * hidden * f));
  ASSIGN_OR_RETURN(q_, Grow(std::move(q_), t * qdim * f));
  ASSIGN_OR_RETURN(attn_, Grow(std::move(attn_), t * qdim * f));
  ASSIGN_OR_RETURN(gate_, Grow(std::move(gate_), t * ffn * f));
  ASSIGN_OR_RETURN(up_, Grow(std::move(up_), t * ffn * f));
  ASSIGN_OR_RETURN(positions_, Grow(std::move(positions_), t * sizeof(int64_t)));
  ASSIGN_OR_RETURN(host_tokens_, Grow(std::move(host_tokens_), t * sizeof(int32_t)));
  const DType wt = w_.layers.empty() ? w_.embed.dtype : w_.layers[0].q.dtype;
  const int64_t widest = std::max({hidden, qdim, ffn});
  RETURN_IF_ERROR(ReserveWorkspace(std::max(MatMulCudaWorkspaceBytes(t, widest, wt),
                                            AttentionCudaWorkspaceBytes(t, config_.num_heads, config_.head_dim))));
  capacity_t_ = t;
  return absl::OkStatus();
}

absl::Status CudaLlamaModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, CudaKvCache& kv) {
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
  float* keys = kv.device_keys(l) + past * kvdim;
  float* values = kv.device_values(l) + past * kvdim;
  auto linear = [&](const float* in, int64_t in_ld, const MatrixView& wv, float* out, int64_t out_ld, bool acc) {
    return MatMulCuda(*ctx_, MatMulParams{in, in_ld, t, wv, out, out_ld, acc}, ws, s);
  };

  // Attention block: k and v are projected straight into the cache rows.
  RETURN_IF_ERROR(RmsNormCuda({x, w.input_norm, 0.f, eps, t, hidden, h}, s));
  RETURN_IF_ERROR(linear(h, hidden, w.q, q, qdim, false));
  RETURN_IF_ERROR(linear(h, hidden, w.k, keys, kvdim, false));
  RETURN_IF_ERROR(linear(h, hidden, w.v, values, kvdim, false));
  const int64_t* pos = positions_.As<int64_t>();
  RETURN_IF_ERROR(ApplyRopeCuda({q, qdim, t, config_.num_heads, hd, pos, config_.rope_theta}, s));
  RETURN_IF_ERROR(ApplyRopeCuda({keys, kvdim, t, config_.num_kv_heads, hd, pos, config_.rope_theta}, s));
  const AttentionParams ap =
      LlamaAttentionParams(config_, q, kv.device_keys(l), kv.device_values(l), past, t, attn_.As<float>());
  RETURN_IF_ERROR(AttentionCuda(ap, ws, s));
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

absl::Status CudaLlamaModel::ForwardDevice(const SliceView& slice, const int32_t* tokens, int64_t t,
                                           CudaKvCache& kv, float* logits, bool all_logits) {
  RETURN_IF_ERROR(kv.status());
  if (t < 1 || tokens == nullptr) return absl::InvalidArgumentError("ForwardDevice: no tokens");
  if (t > capacity_t_) {
    return absl::InvalidArgumentError(
        absl::StrCat("ForwardDevice: ", t, " tokens but scratch for ", capacity_t_, " (call EnsureCapacity)"));
  }
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
  RETURN_IF_ERROR(kv.CheckRoom(t));
  const int64_t past = kv.length();
  const int64_t hidden = config_.hidden_size;
  const cudaStream_t s = ctx_->stream();
  RETURN_IF_ERROR(FillPositionsCuda(past, t, positions_.As<int64_t>(), s));
  RETURN_IF_ERROR(EmbeddingGatherCuda(w_.embed, tokens, t, 1.f, x_.As<float>(), s));
  for (int64_t l : slice.layers) RETURN_IF_ERROR(RunLayer(l, slice.ffn_widths[l], t, past, kv));
  kv.Advance(t);
  if (logits == nullptr) return absl::OkStatus();

  const int64_t rows = all_logits ? t : 1;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  RETURN_IF_ERROR(
      RmsNormCuda({x_.As<float>() + (t - rows) * hidden, w_.final_norm, 0.f, eps, rows, hidden, h_.As<float>()}, s));
  return MatMulCuda(*ctx_, MatMulParams{h_.As<float>(), hidden, rows, w_.lm_head, logits, config_.vocab_size, false},
                    ctx_->workspace(), s);
}

absl::Status CudaLlamaModel::Forward(const ForwardArgs& args) {
  RETURN_IF_ERROR(args.Validate(config_.vocab_size));
  if (args.tap != nullptr) return absl::UnimplementedError("activation taps are not supported on the GPU");
  auto* kv = dynamic_cast<CudaKvCache*>(args.kv);
  if (kv == nullptr) return absl::InvalidArgumentError("the CUDA model needs a KV cache from its NewKvCache");
  RETURN_IF_ERROR(EnsureCapacity(args.t));
  const cudaStream_t s = ctx_->stream();
  int32_t* tokens = host_tokens_.As<int32_t>();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tokens, args.tokens, args.t * sizeof(int32_t), cudaMemcpyHostToDevice, s));
  const int64_t rows = args.all_logits ? args.t : 1;
  const size_t logits_bytes = args.logits ? rows * config_.vocab_size * sizeof(float) : 0;
  if (logits_bytes > host_logits_.size()) {
    RETURN_IF_ERROR(ctx_->Synchronize());
    ASSIGN_OR_RETURN(host_logits_, Grow(std::move(host_logits_), logits_bytes));
  }
  RETURN_IF_ERROR(ForwardDevice(*args.slice, tokens, args.t, *kv, args.logits ? host_logits_.As<float>() : nullptr,
                                args.all_logits));
  if (args.logits != nullptr) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(args.logits, host_logits_.data(), logits_bytes, cudaMemcpyDeviceToHost, s));
  }
  return ctx_->Synchronize();
}

int64_t CudaLlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t CudaLlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
