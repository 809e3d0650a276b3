#include "engine/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/layer_ops.h"
#include "engine/status_macros.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/rms_norm.h"
#include "kernels/logits.h"
#include "kernels/rope.h"

namespace matspec {
namespace {

using layer_ops::Linear;
using layer_ops::Norm;

std::string LayerName(int64_t l, const char* leaf) { return absl::StrCat("model.layers.", l, ".", leaf); }

}  // namespace

absl::StatusOr<LlamaWeights> BindLlamaWeights(const ModelConfig& config, const WeightStore& store) {
  if (config.model_type != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat("the llama forward cannot run model_type \"", config.model_type, "\""));
  }
  LlamaWeights w;
  const int64_t hidden = config.hidden_size;
  const int64_t qdim = config.num_heads * config.head_dim;
  const int64_t kvdim = config.num_kv_heads * config.head_dim;
  ASSIGN_OR_RETURN(w.embed, store.Matrix("model.embed_tokens.weight", config.vocab_size, hidden));
  ASSIGN_OR_RETURN(w.final_norm, store.Vector("model.norm.weight", hidden));
  if (config.tie_word_embeddings && !store.Has("lm_head.weight")) {
    w.lm_head = w.embed;
  } else {
    ASSIGN_OR_RETURN(w.lm_head, store.Matrix("lm_head.weight", config.vocab_size, hidden));
  }
  w.layers.resize(config.num_layers);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    LlamaLayerWeights& lw = w.layers[l];
    const int64_t ffn = config.ffn_widths[l];
    ASSIGN_OR_RETURN(lw.input_norm, store.Vector(LayerName(l, "input_layernorm.weight"), hidden));
    ASSIGN_OR_RETURN(lw.post_norm, store.Vector(LayerName(l, "post_attention_layernorm.weight"), hidden));
    ASSIGN_OR_RETURN(lw.q, store.Matrix(LayerName(l, "self_attn.q_proj.weight"), qdim, hidden));
    ASSIGN_OR_RETURN(lw.k, store.Matrix(LayerName(l, "self_attn.k_proj.weight"), kvdim, hidden));
    ASSIGN_OR_RETURN(lw.v, store.Matrix(LayerName(l, "self_attn.v_proj.weight"), kvdim, hidden));
    ASSIGN_OR_RETURN(lw.o, store.Matrix(LayerName(l, "self_attn.o_proj.weight"), hidden, qdim));
    ASSIGN_OR_RETURN(lw.gate, store.Matrix(LayerName(l, "mlp.gate_proj.weight"), ffn, hidden));
    ASSIGN_OR_RETURN(lw.up, store.Matrix(LayerName(l, "mlp.up_proj.weight"), ffn, hidden));
    ASSIGN_OR_RETURN(lw.down, store.Matrix(LayerName(l, "mlp.down_proj.weight"), hidden, ffn));
  }
  return w;
}

int64_t LlamaParameterCount(const ModelConfig& config, const LlamaWeights& w, const SliceView& slice) {
  const int64_t hidden = config.hidden_size;
  const int64_t qdim = config.num_heads * config.head_dim;
  const int64_t kvdim = config.num_kv_heads * config.head_dim;
  int64_t n = config.vocab_size * hidden + hidden;  // embedding + final norm
  if (!w.tied()) n += HeadRows(slice, config.vocab_size) * hidden;
  for (int64_t l : slice.layers) {
    n += 2 * hidden + 2 * hidden * qdim + 2 * hidden * kvdim + 3 * hidden * slice.ffn_widths[l];
  }
  return n;
}

int64_t LlamaWeightBytesRead(const ModelConfig& config, const LlamaWeights& w, const SliceView& slice) {
  const int64_t es = DTypeSize(w.layers.empty() ? w.embed.dtype : w.layers[0].q.dtype);
  const int64_t hidden = config.hidden_size;
  // A decode step gathers one embedding row and reads everything else once
  // (of the head, the rows the slice scores).
  int64_t params = LlamaParameterCount(config, w, slice) - config.vocab_size * hidden + hidden;
  if (w.tied()) params += HeadRows(slice, config.vocab_size) * hidden;
  return params * es;
}

AttentionParams LlamaAttentionParams(const ModelConfig& config, const float* q, const float* k_cache,
                                     const float* v_cache, int64_t past, int64_t t, float* out) {
  return PackedAttentionParams(config.num_heads, config.num_kv_heads, config.head_dim, q, k_cache, v_cache, past, t,
                               out);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(const ModelConfig& config,
                                                               const WeightStore& store) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->config_ = config;
  ASSIGN_OR_RETURN(m->w_, BindLlamaWeights(config, store));
  return m;
}

std::unique_ptr<KvCache> LlamaModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  std::vector<bool> stored(config_.num_layers, false);
  for (int64_t l : slice.layers) stored[l] = true;
  return std::make_unique<KvCache>(stored, config_.num_kv_heads, config_.head_dim, capacity);
}

void LlamaModel::EnsureScratch(int64_t t, int64_t kv_len) {
  const int64_t hidden = config_.hidden_size;
  if (t > scratch_t_) {
    const int64_t qdim = config_.num_heads * config_.head_dim;
    const int64_t kvdim = config_.num_kv_heads * config_.head_dim;
    const int64_t ffn = config_.max_ffn_width();
    x_.resize(t * hidden);
    h_.resize(t * hidden);
    q_.resize(t * qdim);
    k_.resize(t * kvdim);
    v_.resize(t * kvdim);
    attn_.resize(t * qdim);
    gate_.resize(t * ffn);
    up_.resize(t * ffn);
    positions_.resize(t);
    scratch_t_ = t;
  }
  const int64_t need = AttentionScratchFloats(kv_len, ctx_.num_threads);
  if (static_cast<int64_t>(attn_scratch_.size()) < need) attn_scratch_.resize(need);
}

void LlamaModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, KvCache& kv,
                          const ActivationTap* tap) {
  const LlamaLayerWeights& w = w_.layers[l];
  const int64_t hidden = config_.hidden_size;
  const int64_t hd = config_.head_dim;
  const int64_t qdim = config_.num_heads * hd;
  const int64_t kvdim = config_.num_kv_heads * hd;
  const int64_t ffn_ld = config_.max_ffn_width();

  // Attention block.
  Norm(x_.data(), w.input_norm, config_.rms_norm_eps, t, hidden, h_.data());
  Linear(ctx_, h_.data(), hidden, t, w.q, q_.data(), qdim, false);
  Linear(ctx_, h_.data(), hidden, t, w.k, k_.data(), kvdim, false);
  Linear(ctx_, h_.data(), hidden, t, w.v, v_.data(), kvdim, false);
  for (float* target : {q_.data(), k_.data()}) {
    RopeParams rp;
    rp.x = target;
    rp.num_heads = target == q_.data() ? config_.num_heads : config_.num_kv_heads;
    rp.row_stride = rp.num_heads * hd;
    rp.t = t;
    rp.head_dim = hd;
    rp.positions = positions_.data();
    rp.theta = config_.rope_theta;
    ApplyRope(rp);
  }
  std::memcpy(kv.keys(l) + past * kvdim, k_.data(), t * kvdim * sizeof(float));
  std::memcpy(kv.values(l) + past * kvdim, v_.data(), t * kvdim * sizeof(float));
  AttentionParams ap = LlamaAttentionParams(config_, q_.data(), kv.keys(l), kv.values(l), past, t, attn_.data());
  ap.scratch = attn_scratch_.data();
  Attention(ctx_, ap);
  Linear(ctx_, attn_.data(), qdim, t, w.o, x_.data(), hidden, true);
  if (tap) (*tap)("attn_residual", l, x_.data(), t, hidden);

  // FFN block over the slice's prefix of the hidden units.
  Norm(x_.data(), w.post_norm, config_.rms_norm_eps, t, hidden, h_.data());
  Linear(ctx_, h_.data(), hidden, t, w.gate.FirstRows(width), gate_.data(), ffn_ld, false);
  Linear(ctx_, h_.data(), hidden, t, w.up.FirstRows(width), up_.data(), ffn_ld, false);
  GatedActivationParams gp;
  gp.act = Activation::kSilu;
  gp.gate = gate_.data();
  gp.up = up_.data();
  gp.out = gate_.data();
  gp.rows = t;
  gp.n = width;
  gp.stride = ffn_ld;
  GatedActivation(gp);
  Linear(ctx_, gate_.data(), ffn_ld, t, w.down.FirstCols(width), x_.data(), hidden, true);
  if (tap) (*tap)("layer_out", l, x_.data(), t, hidden);
}

absl::Status LlamaModel::Forward(const ForwardArgs& args) {
  RETURN_IF_ERROR(args.Validate(config_.vocab_size));
  const SliceView& slice = *args.slice;
  if (static_cast<int64_t>(slice.ffn_widths.size()) != config_.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\" has ", slice.ffn_widths.size(),
                                                   " layer widths; the model has ", config_.num_layers, " layers"));
  }
  KvCache& kv = *args.kv;
  const int64_t t = args.t;
  const int64_t past = kv.length();
  const int64_t hidden = config_.hidden_size;
  for (int64_t l : slice.layers) {
    if (!kv.stores(l)) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache has no storage for layer ", l, " of slice \"",
                                                     slice.name, "\""));
    }
  }
  EnsureScratch(t, past + t);
  for (int64_t i = 0; i < t; ++i) positions_[i] = past + i;

  EmbeddingGather(w_.embed, args.tokens, t, 1.f, x_.data());
  if (args.tap) (*args.tap)("embed", -1, x_.data(), t, hidden);
  for (int64_t l : slice.layers) RunLayer(l, slice.ffn_widths[l], t, past, kv, args.tap);
  kv.Advance(t);

  if (args.logits == nullptr) return absl::OkStatus();
  const int64_t rows = args.all_logits ? t : 1;
  const float* first = x_.data() + (t - rows) * hidden;
  Norm(first, w_.final_norm, config_.rms_norm_eps, rows, hidden, h_.data());
  if (args.tap) (*args.tap)("final_norm", -1, h_.data(), rows, hidden);
  layer_ops::HeadLogits(ctx_, h_.data(), hidden, rows, w_.lm_head, slice, config_.vocab_size, args.logits);
  return absl::OkStatus();
}

int64_t LlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t LlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
