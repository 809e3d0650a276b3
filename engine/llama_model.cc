#include "engine/llama_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cpu_ops.h"
#include "engine/layer_ops.h"
#include "engine/llama_layer.h"
#include "engine/status_macros.h"
#include "kernels/embedding.h"
#include "kernels/logits.h"

namespace matspec {
namespace {

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
  // A decode step gathers one embedding row and reads everything else once
  // (of the head, the rows the slice scores), in each tensor's own format.
  auto vector_bytes = [](const VectorView& v) { return v.size * DTypeSize(v.dtype); };
  int64_t bytes = w.embed.RowBlock(0, 1).TouchedBytes() + vector_bytes(w.final_norm);
  bytes += w.lm_head.FirstRows(HeadRows(slice, config.vocab_size)).TouchedBytes();
  for (int64_t l : slice.layers) {
    const LlamaLayerWeights& lw = w.layers[l];
    const int64_t f = slice.ffn_widths[l];
    bytes += vector_bytes(lw.input_norm) + vector_bytes(lw.post_norm) + lw.q.TouchedBytes() +
             lw.k.TouchedBytes() + lw.v.TouchedBytes() + lw.o.TouchedBytes() +
             lw.gate.FirstRows(f).TouchedBytes() + lw.up.FirstRows(f).TouchedBytes() +
             lw.down.FirstCols(f).TouchedBytes();
  }
  return bytes;
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
  // Quantized FFN weights: a slice keeps whole blocks of down's columns.
  for (const LlamaLayerWeights& lw : m->w_.layers) {
    if (IsQuantized(lw.down.dtype)) m->config_.ffn_width_multiple = kQuantBlock;
  }
  return m;
}

std::unique_ptr<KvCache> LlamaModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  std::vector<bool> stored(config_.num_layers, false);
  for (int64_t l : slice.layers) stored[l] = true;
  return std::make_unique<KvCache>(stored, config_.num_kv_heads, config_.head_dim, capacity);
}

// Activations of one forward, [t, ...] f32 rows, grown on demand and reused.
struct LlamaModel::Scratch final : ForwardScratch {
  void Ensure(const ModelConfig& config, int64_t t, int64_t kv_len) {
    const int64_t hidden = config.hidden_size;
    if (t > rows) {
      const int64_t qdim = config.num_heads * config.head_dim;
      const int64_t ffn = config.max_ffn_width();
      x.resize(t * hidden);
      h.resize(t * hidden);
      q.resize(t * qdim);
      attn.resize(t * qdim);
      gate.resize(t * ffn);
      up.resize(t * ffn);
      positions.resize(t);
      rows = t;
    }
    const int64_t need = AttentionScratchFloats(kv_len, cpu.num_threads);
    if (static_cast<int64_t>(attn_scratch.size()) < need) attn_scratch.resize(need);
  }

  int64_t rows = 0;
  std::vector<float> x, h, q, attn, gate, up, attn_scratch;
  std::vector<int64_t> positions;
};

std::unique_ptr<ForwardScratch> LlamaModel::NewScratch() const {
  auto s = std::make_unique<Scratch>();
  s->InitCpu(ctx_, thread_pool_);
  return s;
}

absl::Status LlamaModel::Forward(const ForwardArgs& args) const {
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
  std::unique_ptr<ForwardScratch> temporary;
  ASSIGN_OR_RETURN(Scratch * scratch, ResolveScratch<Scratch>(*this, args, temporary));
  Scratch& s = *scratch;
  s.Ensure(config_, t, past + t);
  for (int64_t i = 0; i < t; ++i) s.positions[i] = past + i;

  EmbeddingGather(w_.embed, args.tokens, t, 1.f, s.x.data());
  if (args.tap) (*args.tap)("embed", -1, s.x.data(), t, hidden);
  const CpuOps ops(s.cpu);
  const LlamaActivations a{.x = s.x.data(),
                           .h = s.h.data(),
                           .q = s.q.data(),
                           .attn = s.attn.data(),
                           .gate = s.gate.data(),
                           .up = s.up.data(),
                           .positions = s.positions.data(),
                           .attn_scratch = s.attn_scratch.data()};
  for (int64_t l : slice.layers) {
    const LlamaLayerKv layer_kv{.keys = kv.keys(l), .values = kv.values(l), .len = {.past = past}};
    RETURN_IF_ERROR(RunLlamaLayer(ops, config_, w_.layers[l], l, slice.ffn_widths[l], t, layer_kv, a, args.tap));
  }
  kv.Advance(t);

  if (args.logits == nullptr) return absl::OkStatus();
  const int64_t rows = args.all_logits ? t : 1;
  const float* first = s.x.data() + (t - rows) * hidden;
  layer_ops::Norm(first, w_.final_norm, config_.rms_norm_eps, rows, hidden, s.h.data());
  if (args.tap) (*args.tap)("final_norm", -1, s.h.data(), rows, hidden);
  layer_ops::HeadLogits(s.cpu, s.h.data(), hidden, rows, w_.lm_head, slice, config_.vocab_size, args.logits);
  return absl::OkStatus();
}

int64_t LlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t LlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
