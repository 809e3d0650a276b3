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

// Activations of one forward, [t, ...] f32 rows (t = the rows of every
// sequence of the forward), grown on demand and reused.
struct LlamaModel::Scratch final : ForwardScratch {
  void Ensure(const ModelConfig& config, int64_t t, int64_t kv_len, int64_t logit_rows) {
    const int64_t hidden = config.hidden_size;
    if (t > rows) {
      const int64_t qdim = config.num_heads * config.head_dim;
      const int64_t kvdim = config.num_kv_heads * config.head_dim;
      const int64_t ffn = config.max_ffn_width();
      x.resize(t * hidden);
      h.resize(t * hidden);
      q.resize(t * qdim);
      k.resize(t * kvdim);
      v.resize(t * kvdim);
      attn.resize(t * qdim);
      gate.resize(t * ffn);
      up.resize(t * ffn);
      positions.resize(t);
      tokens.resize(t);
      rows = t;
    }
    const int64_t need = AttentionScratchFloats(kv_len, cpu.num_threads);
    if (static_cast<int64_t>(attn_scratch.size()) < need) attn_scratch.resize(need);
    if (static_cast<int64_t>(logits.size()) < logit_rows * config.vocab_size) {
      logits.resize(logit_rows * config.vocab_size);
    }
  }

  int64_t rows = 0;
  std::vector<float> x, h, q, k, v, attn, gate, up, attn_scratch;
  std::vector<int64_t> positions;
  std::vector<int32_t> tokens;  // the batch's tokens, sequence by sequence
  std::vector<float> logits;    // a batch's logits rows before they go to each sequence
};

std::unique_ptr<ForwardScratch> LlamaModel::NewScratch() const {
  auto s = std::make_unique<Scratch>();
  s->InitCpu(ctx_, thread_pool_);
  return s;
}

absl::Status LlamaModel::Forward(const ForwardArgs& args) const {
  RETURN_IF_ERROR(args.Validate(config_.vocab_size));
  const BatchSegment one{.tokens = args.tokens,
                         .t = args.t,
                         .kv = args.kv,
                         .logits = args.logits,
                         .all_logits = args.all_logits};
  std::unique_ptr<ForwardScratch> temporary;
  ASSIGN_OR_RETURN(Scratch * scratch, ResolveScratch<Scratch>(*this, args, temporary));
  return Run(*args.slice, {&one, 1}, *scratch, args.tap);
}

absl::Status LlamaModel::ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                                      ForwardScratch* scratch) const {
  RETURN_IF_ERROR(ValidateBatch(segments, config_.vocab_size));
  std::unique_ptr<ForwardScratch> temporary;
  ASSIGN_OR_RETURN(Scratch * s, ResolveScratch<Scratch>(*this, ForwardArgs{.scratch = scratch}, temporary));
  return Run(slice, segments, *s, nullptr);
}

absl::Status LlamaModel::Run(const SliceView& slice, std::span<const BatchSegment> segments, Scratch& s,
                             const ActivationTap* tap) const {
  if (static_cast<int64_t>(slice.ffn_widths.size()) != config_.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\" has ", slice.ffn_widths.size(),
                                                   " layer widths; the model has ", config_.num_layers, " layers"));
  }
  const int64_t hidden = config_.hidden_size;
  int64_t t = 0, max_len = 0, logit_rows = 0;
  for (const BatchSegment& g : segments) {
    for (int64_t l : slice.layers) {
      if (!g.kv->stores(l)) {
        return absl::InvalidArgumentError(absl::StrCat("KV cache has no storage for layer ", l, " of slice \"",
                                                       slice.name, "\""));
      }
    }
    t += g.t;
    max_len = std::max(max_len, g.kv->length() + g.t);
    if (g.logits != nullptr) logit_rows += g.all_logits ? g.t : 1;
  }
  s.Ensure(config_, t, max_len, segments.size() > 1 ? logit_rows : 0);
  // The rows of every sequence, one after another, each at its own positions.
  std::vector<LlamaLayerKv> seqs(segments.size());
  int64_t row = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const BatchSegment& g = segments[i];
    const int64_t past = g.kv->length();
    for (int64_t j = 0; j < g.t; ++j) {
      s.positions[row + j] = past + j;
      s.tokens[row + j] = g.tokens[j];
    }
    seqs[i] = LlamaLayerKv{.len = {.past = past}, .t = g.t};
    row += g.t;
  }

  EmbeddingGather(w_.embed, s.tokens.data(), t, 1.f, s.x.data());
  if (tap) (*tap)("embed", -1, s.x.data(), t, hidden);
  const CpuOps ops(s.cpu);
  const LlamaActivations a{.x = s.x.data(),
                           .h = s.h.data(),
                           .q = s.q.data(),
                           .k = s.k.data(),
                           .v = s.v.data(),
                           .attn = s.attn.data(),
                           .gate = s.gate.data(),
                           .up = s.up.data(),
                           .positions = s.positions.data(),
                           .attn_scratch = s.attn_scratch.data()};
  for (int64_t l : slice.layers) {
    for (size_t i = 0; i < segments.size(); ++i) {
      seqs[i].keys = segments[i].kv->keys(l);
      seqs[i].values = segments[i].kv->values(l);
    }
    RETURN_IF_ERROR(RunLlamaLayer(ops, config_, w_.layers[l], l, slice.ffn_widths[l], seqs, a, tap));
  }
  for (const BatchSegment& g : segments) g.kv->Advance(g.t);
  if (logit_rows == 0) return absl::OkStatus();

  // The head over the rows whose logits are wanted, gathered (in order) so
  // that it too reads its weights once.
  int64_t gathered = 0;
  row = 0;
  for (const BatchSegment& g : segments) {
    const int64_t rows = g.logits == nullptr ? 0 : g.all_logits ? g.t : 1;
    layer_ops::Norm(s.x.data() + (row + g.t - rows) * hidden, w_.final_norm, config_.rms_norm_eps, rows, hidden,
                    s.h.data() + gathered * hidden);
    gathered += rows;
    row += g.t;
  }
  if (tap) (*tap)("final_norm", -1, s.h.data(), gathered, hidden);
  // One sequence writes its logits in place; a batch through the scratch.
  const int64_t vocab = config_.vocab_size;
  float* out = segments.size() == 1 ? segments[0].logits : s.logits.data();
  layer_ops::HeadLogits(s.cpu, s.h.data(), hidden, gathered, w_.lm_head, slice, vocab, out);
  if (segments.size() > 1) ScatterBatchLogits(segments, out, vocab);
  return absl::OkStatus();
}

int64_t LlamaModel::ParameterCount(const SliceView& slice) const {
  return LlamaParameterCount(config_, w_, slice);
}

int64_t LlamaModel::WeightBytesRead(const SliceView& slice) const {
  return LlamaWeightBytesRead(config_, w_, slice);
}

}  // namespace matspec
