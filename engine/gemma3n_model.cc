// Gemma3nModel: weight binding, KV cache layout, slice checks, the CPU
// forward (its buffers, the ring windows of sliding owners, the head and
// soft-cap around the shared decoder of engine/gemma3n_layer.h) and the
// parameter / byte counts.
#include "engine/gemma3n_model.h"
#include "engine/gemma3n_scratch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/cpu_ops.h"
#include "engine/gemma3n_layer.h"
#include "engine/layer_ops.h"
#include "engine/status_macros.h"
#include "kernels/attention.h"
#include "kernels/gemma3n_ops.h"
#include "kernels/logits.h"

namespace matspec {
namespace {

absl::StatusOr<std::vector<float>> SmallMatrix(const WeightStore& store, const std::string& name, int64_t rows,
                                               int64_t cols, double clip) {
  ASSIGN_OR_RETURN(MatrixView m, store.Matrix(name, rows, cols));
  std::vector<float> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float x = m.At(r, c);
      if (clip > 0) x = std::clamp(x, static_cast<float>(-clip), static_cast<float>(clip));
      out[r * cols + c] = x;
    }
  }
  return out;
}

// The window buffer of a sliding owner: its own for a producer (consumers
// read it later in the forward), one shared by the other sliding owners.
int64_t WindowIndex(const Gemma3nConfig& config, int64_t layer) {
  return std::binary_search(config.producers.begin(), config.producers.end(), layer) ? layer : config.num_layers();
}

// Gemma3nWindows over the rings of a Gemma3nKvCache: Fill gathers the window
// before `past` and the new rows into a contiguous buffer of the scratch,
// then stores the new rows in the ring.
class RingWindows final : public Gemma3nWindows {
 public:
  RingWindows(const Gemma3nConfig& config, Gemma3nKvCache& kv, int64_t past, std::vector<std::vector<float>>& win_k,
              std::vector<std::vector<float>>& win_v, std::vector<int64_t>& win_past)
      : config_(config), kv_(kv), past_(past), win_k_(win_k), win_v_(win_v), win_past_(win_past) {}

  void Fill(int64_t l, const float* keys, const float* values, int64_t t) override {
    const ModelConfig& b = config_.base;
    const int64_t kvdim = b.num_kv_heads * b.head_dim;
    const int64_t slots = kv_.ring_slots();
    const int64_t held = std::min<int64_t>(past_, config_.sliding_window - 1);  // past positions any new token sees
    const int64_t wi = WindowIndex(config_, l);
    std::vector<float>& wk = win_k_[wi];
    std::vector<float>& wv = win_v_[wi];
    if (static_cast<int64_t>(wk.size()) < (held + t) * kvdim) {
      wk.resize((held + t) * kvdim);
      wv.resize((held + t) * kvdim);
    }
    const size_t row_bytes = kvdim * sizeof(float);
    for (int64_t i = 0; i < held; ++i) {
      const int64_t slot = (past_ - held + i) % slots;
      std::memcpy(wk.data() + i * kvdim, kv_.ring_keys(l) + slot * kvdim, row_bytes);
      std::memcpy(wv.data() + i * kvdim, kv_.ring_values(l) + slot * kvdim, row_bytes);
    }
    std::memcpy(wk.data() + held * kvdim, keys, t * row_bytes);
    std::memcpy(wv.data() + held * kvdim, values, t * row_bytes);
    win_past_[wi] = held;
    // Store the new rows (only the last `slots` of a long chunk survive anyway).
    for (int64_t j = std::max<int64_t>(0, t - slots); j < t; ++j) {
      const int64_t slot = (past_ + j) % slots;
      std::memcpy(kv_.ring_keys(l) + slot * kvdim, keys + j * kvdim, row_bytes);
      std::memcpy(kv_.ring_values(l) + slot * kvdim, values + j * kvdim, row_bytes);
    }
  }

  Window Get(int64_t l) const override {
    const int64_t wi = WindowIndex(config_, l);
    return Window{.keys = win_k_[wi].data(), .values = win_v_[wi].data(), .past = win_past_[wi]};
  }

 private:
  const Gemma3nConfig& config_;
  Gemma3nKvCache& kv_;
  const int64_t past_;
  std::vector<std::vector<float>>& win_k_;
  std::vector<std::vector<float>>& win_v_;
  std::vector<int64_t>& win_past_;
};

int64_t VecBytes(const VectorView& v) { return v.data ? v.size * DTypeSize(v.dtype) : 0; }
int64_t MatBytes(const MatrixView& m) { return m.data ? m.TouchedBytes() : 0; }

}  // namespace

absl::StatusOr<std::unique_ptr<Gemma3nModel>> Gemma3nModel::Create(const Gemma3nConfig& config,
                                                                   const WeightStore& store) {
  std::unique_ptr<Gemma3nModel> m(new Gemma3nModel());
  m->config_ = config;
  const ModelConfig& b = config.base;
  if (store.Has("model.language_model.embed_tokens.weight")) {
    m->prefix_ = "model.language_model.";
  } else if (store.Has("model.embed_tokens.weight")) {
    m->prefix_ = "model.";
  } else {
    return absl::NotFoundError(absl::StrCat("gemma3n: neither model.language_model.embed_tokens.weight nor "
                                            "model.embed_tokens.weight is in ", store.dir()));
  }
  const std::string& p = m->prefix_;
  const int64_t D = b.hidden_size, L = b.num_layers, P = config.hidden_size_per_layer_input;
  const int64_t N = config.altup_num_inputs, hd = b.head_dim;
  const int64_t qdim = b.num_heads * hd, kvdim = b.num_kv_heads * hd;
  ASSIGN_OR_RETURN(m->embed_, store.Matrix(p + "embed_tokens.weight", b.vocab_size, D));
  ASSIGN_OR_RETURN(m->embed_per_layer_,
                   store.Matrix(p + "embed_tokens_per_layer.weight", config.vocab_size_per_layer_input, L * P));
  ASSIGN_OR_RETURN(m->per_layer_projection_, store.Matrix(p + "per_layer_model_projection.weight", L * P, D));
  ASSIGN_OR_RETURN(m->per_layer_projection_norm_, store.Vector(p + "per_layer_projection_norm.weight", P));
  ASSIGN_OR_RETURN(m->final_norm_, store.Vector(p + "norm.weight", D));
  for (int64_t i = 0; i + 1 < N; ++i) {
    ASSIGN_OR_RETURN(MatrixView a, store.Matrix(absl::StrCat(p, "altup_projections.", i, ".weight"), D, D));
    ASSIGN_OR_RETURN(MatrixView u, store.Matrix(absl::StrCat(p, "altup_unembed_projections.", i, ".weight"), D, D));
    m->altup_proj_.push_back(a);
    m->altup_unembed_.push_back(u);
  }
  m->layers_.resize(L);
  m->sparsity_multiplier_.assign(L, 0.f);
  for (int64_t l = 0; l < L; ++l) {
    Gemma3nLayerWeights& w = m->layers_[l];
    const std::string lp = absl::StrCat(p, "layers.", l, ".");
    const int64_t F = b.ffn_widths[l];
    ASSIGN_OR_RETURN(w.input_norm, store.Vector(lp + "input_layernorm.weight", D));
    ASSIGN_OR_RETURN(w.post_attn_norm, store.Vector(lp + "post_attention_layernorm.weight", D));
    ASSIGN_OR_RETURN(w.pre_ffn_norm, store.Vector(lp + "pre_feedforward_layernorm.weight", D));
    ASSIGN_OR_RETURN(w.post_ffn_norm, store.Vector(lp + "post_feedforward_layernorm.weight", D));
    ASSIGN_OR_RETURN(w.q, store.Matrix(lp + "self_attn.q_proj.weight", qdim, D));
    ASSIGN_OR_RETURN(w.o, store.Matrix(lp + "self_attn.o_proj.weight", D, qdim));
    ASSIGN_OR_RETURN(w.q_norm, store.Vector(lp + "self_attn.q_norm.weight", hd));
    if (!config.IsConsumer(l)) {  // consumers never use their own K/V weights (spec §6)
      ASSIGN_OR_RETURN(w.k, store.Matrix(lp + "self_attn.k_proj.weight", kvdim, D));
      ASSIGN_OR_RETURN(w.v, store.Matrix(lp + "self_attn.v_proj.weight", kvdim, D));
      ASSIGN_OR_RETURN(w.k_norm, store.Vector(lp + "self_attn.k_norm.weight", hd));
    }
    ASSIGN_OR_RETURN(w.gate, store.Matrix(lp + "mlp.gate_proj.weight", F, D));
    ASSIGN_OR_RETURN(w.up, store.Matrix(lp + "mlp.up_proj.weight", F, D));
    ASSIGN_OR_RETURN(w.down, store.Matrix(lp + "mlp.down_proj.weight", D, F));
    ASSIGN_OR_RETURN(w.correct_output_scale, store.Vector(lp + "altup.correct_output_scale", D));
    ASSIGN_OR_RETURN(w.correction,
                     SmallMatrix(store, lp + "altup.correction_coefs.weight", N, N, config.altup_coef_clip));
    ASSIGN_OR_RETURN(w.prediction, SmallMatrix(store, lp + "altup.prediction_coefs.weight", N * N, N, 0.0));
    ASSIGN_OR_RETURN(w.router, store.Matrix(lp + "altup.modality_router.weight", N, D));
    ASSIGN_OR_RETURN(w.router_norm, store.Vector(lp + "altup.router_norm.weight", D));
    ASSIGN_OR_RETURN(w.laurel_left, store.Matrix(lp + "laurel.linear_left.weight", config.laurel_rank, D));
    ASSIGN_OR_RETURN(w.laurel_right, store.Matrix(lp + "laurel.linear_right.weight", D, config.laurel_rank));
    ASSIGN_OR_RETURN(w.laurel_norm, store.Vector(lp + "laurel.post_laurel_norm.weight", D));
    ASSIGN_OR_RETURN(w.pli_gate, store.Matrix(lp + "per_layer_input_gate.weight", P, D));
    ASSIGN_OR_RETURN(w.pli_proj, store.Matrix(lp + "per_layer_projection.weight", D, P));
    ASSIGN_OR_RETURN(w.post_pli_norm, store.Vector(lp + "post_per_layer_input_norm.weight", D));
    if (config.activation_sparsity[l] > 0.0) {
      m->sparsity_multiplier_[l] = static_cast<float>(NormalQuantile(config.activation_sparsity[l]));
    }
  }
  return m;
}

AttentionParams Gemma3nAttentionParams(const Gemma3nConfig& config, int64_t layer, const float* q,
                                       const float* k_cache, const float* v_cache, int64_t past, int64_t t,
                                       float* out) {
  const ModelConfig& b = config.base;
  AttentionParams ap =
      PackedAttentionParams(b.num_heads, b.num_kv_heads, b.head_dim, q, k_cache, v_cache, past, t, out);
  ap.scale = 1.f;  // Gemma 3n: no 1/sqrt(head_dim), no attention soft-cap
  ap.sliding_window = config.sliding[layer] ? config.sliding_window : 0;
  return ap;
}

absl::StatusOr<std::unique_ptr<Model>> CreateGemma3nModel(const std::string& config_json_path,
                                                          const WeightStore& store) {
  ASSIGN_OR_RETURN(Gemma3nConfig config, LoadGemma3nConfig(config_json_path));
  for (const auto& [name, rec] : store.index()) {
    if (IsQuantized(rec->dtype)) {
      return absl::UnimplementedError(absl::StrCat("tensor '", name, "' is quantized (",
                                                   std::string(DTypeName(rec->dtype)),
                                                   "); the Gemma 3n model does not read quantized weights yet"));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Gemma3nModel> model, Gemma3nModel::Create(config, store));
  return std::unique_ptr<Model>(std::move(model));
}

absl::Status Gemma3nModel::CheckSlice(const SliceView& slice) const {
  const int64_t L = config_.num_layers();
  if (static_cast<int64_t>(slice.ffn_widths.size()) != L) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\" has ", slice.ffn_widths.size(),
                                                   " layer widths; the model has ", L, " layers"));
  }
  if (slice.layers.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\" keeps no layer"));
  }
  int64_t prev = -1;
  for (int64_t l : slice.layers) {
    if (l <= prev || l >= L) {
      return absl::InvalidArgumentError(
          absl::StrCat("slice \"", slice.name, "\": kept layers must be ascending indices in [0, ", L, ")"));
    }
    prev = l;
    const int64_t w = slice.ffn_widths[l];
    if (w < 1 || w > config_.base.ffn_widths[l]) {
      return absl::InvalidArgumentError(absl::StrCat("slice \"", slice.name, "\": layer ", l, " width ", w,
                                                     " is outside [1, ", config_.base.ffn_widths[l], "]"));
    }
  }
  for (int64_t producer : config_.producers) {
    if (!slice.Keeps(producer)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "slice \"", slice.name, "\" skips layer ", producer, ", a KV producer whose cache later layers read; ",
          "Gemma 3n layers ", absl::StrJoin(config_.producers, ", "), " are reserved and may not be skipped"));
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    const bool listed = std::binary_search(slice.layers.begin(), slice.layers.end(), l);
    if (listed != (slice.ffn_widths[l] > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("slice \"", slice.name, "\": layer ", l, " kept-list and width disagree"));
    }
  }
  return absl::OkStatus();
}

std::unique_ptr<KvCache> Gemma3nModel::NewKvCache(const SliceView& slice, int64_t capacity) const {
  const int64_t L = config_.num_layers();
  std::vector<bool> full(L, false), ring(L, false);
  for (int64_t l : slice.layers) {
    if (l < 0 || l >= L || config_.IsConsumer(l)) continue;
    (config_.sliding[l] ? ring : full)[l] = true;
  }
  return std::make_unique<Gemma3nKvCache>(full, ring, config_.base.num_kv_heads, config_.base.head_dim, capacity,
                                          config_.sliding_window + max_rollback_, config_.sliding_window);
}

void Gemma3nModel::Scratch::Ensure(const Gemma3nConfig& config, int64_t t, int64_t kv_len, int64_t sequences,
                                   int64_t logit_rows) {
  const ModelConfig& b = config.base;
  const int64_t D = b.hidden_size, N = config.altup_num_inputs, P = config.hidden_size_per_layer_input;
  if (t > rows) {
    const int64_t qdim = b.num_heads * b.head_dim, kvdim = b.num_kv_heads * b.head_dim;
    streams.assign(N, std::vector<float>(t * D));
    pred.assign(N, std::vector<float>(t * D));
    pli.resize(t * b.num_layers * P);
    for (auto* buf : {&an, &lau, &tmp, &hmid, &y}) buf->resize(t * D);
    low.resize(t * config.laurel_rank);
    q.resize(t * qdim);
    attn.resize(t * qdim);
    k.resize(t * kvdim);
    v.resize(t * kvdim);
    gate.resize(t * b.max_ffn_width());
    up.resize(t * b.max_ffn_width());
    coefs.resize(t * N * N);
    raw.resize(t * N);
    gpl.resize(t * P);
    pl_emb.resize(t * P);
    pl_up.resize(t * P);
    ids_pl.resize(t);
    tokens.resize(t);
    positions.resize(t);
    rows = t;
  }
  if (static_cast<int64_t>(windows.size()) < sequences) {
    windows.resize(sequences);
    for (Windows& w : windows) {
      w.k.resize(b.num_layers + 1);
      w.v.resize(b.num_layers + 1);
      w.past.resize(b.num_layers + 1, 0);
    }
  }
  if (static_cast<int64_t>(logits.size()) < logit_rows * b.vocab_size) logits.resize(logit_rows * b.vocab_size);
  const int64_t need = AttentionScratchFloats(kv_len, cpu.num_threads);
  if (static_cast<int64_t>(attn_scratch.size()) < need) attn_scratch.resize(need);
}

std::unique_ptr<ForwardScratch> Gemma3nModel::NewScratch() const {
  auto s = std::make_unique<Scratch>();
  s->InitCpu(ctx_, thread_pool_);
  return s;
}

absl::Status Gemma3nModel::Forward(const ForwardArgs& args) const {
  RETURN_IF_ERROR(args.Validate(config_.base.vocab_size));
  RETURN_IF_ERROR(CheckSlice(*args.slice));
  std::unique_ptr<ForwardScratch> temporary;
  ASSIGN_OR_RETURN(Scratch * scratch, ResolveScratch<Scratch>(*this, args, temporary));
  const BatchSegment one{.tokens = args.tokens,
                         .t = args.t,
                         .kv = args.kv,
                         .logits = args.logits,
                         .all_logits = args.all_logits};
  return Run(*args.slice, {&one, 1}, *scratch, args.tap);
}

absl::Status Gemma3nModel::ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                                        ForwardScratch* scratch) const {
  RETURN_IF_ERROR(ValidateBatch(segments, config_.base.vocab_size));
  RETURN_IF_ERROR(CheckSlice(slice));
  std::unique_ptr<ForwardScratch> temporary;
  ASSIGN_OR_RETURN(Scratch * s, ResolveScratch<Scratch>(*this, ForwardArgs{.scratch = scratch}, temporary));
  return Run(slice, segments, *s, nullptr);
}

absl::Status Gemma3nModel::Run(const SliceView& slice, std::span<const BatchSegment> segments, Scratch& s,
                               const ActivationTap* tap) const {
  const ModelConfig& b = config_.base;
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs;
  // Every check before anything moves: on error no cache has changed.
  std::vector<Gemma3nKvCache*> rings(segments.size());
  int64_t t = 0, max_len = 0, logit_rows = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    KvCache& kv = *segments[i].kv;
    // The error's prefix, made only for an error.
    auto which = [&] { return segments.size() > 1 ? absl::StrCat("segment ", i, " of the batch: ") : std::string(); };
    if (kv.num_layers() != b.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat(which(), "KV cache has ", kv.num_layers(),
                                                     " layers; the model has ", b.num_layers));
    }
    rings[i] = dynamic_cast<Gemma3nKvCache*>(&kv);
    for (int64_t l : slice.layers) {
      const int64_t src = config_.kv_source[l];
      const bool held = rings[i] != nullptr && config_.sliding[src] ? rings[i]->has_ring(src) : kv.stores(src);
      if (!held) {
        return absl::InvalidArgumentError(absl::StrCat(which(), "KV cache has no storage for layer ", src,
                                                       " needed by layer ", l, " of slice \"", slice.name, "\""));
      }
    }
    if (rings[i] != nullptr) {
      if (absl::Status st = rings[i]->CheckRingWindow(); !st.ok()) {
        return absl::Status(st.code(), absl::StrCat(which(), st.message()));
      }
    }
    t += segments[i].t;
    max_len = std::max(max_len, kv.length() + segments[i].t);
    if (segments[i].logits != nullptr) logit_rows += segments[i].all_logits ? segments[i].t : 1;
  }
  const int64_t n_seq = static_cast<int64_t>(segments.size());
  s.Ensure(config_, t, max_len, n_seq, n_seq > 1 ? logit_rows : 0);
  // The rows of every sequence, one after another, each at its own positions.
  for (int64_t i = 0, row = 0; i < n_seq; ++i) {
    const BatchSegment& g = segments[i];
    const int64_t past = g.kv->length();
    for (int64_t j = 0; j < g.t; ++j) {
      s.positions[row + j] = past + j;
      s.tokens[row + j] = g.tokens[j];
    }
    row += g.t;
  }

  const CpuOps ops(s.cpu);
  std::vector<float*> streams(N), pred(N);
  for (int64_t i = 0; i < N; ++i) {
    streams[i] = s.streams[i].data();
    pred[i] = s.pred[i].data();
  }
  Gemma3nActivations a{.streams = std::move(streams),
                       .pred = std::move(pred),
                       .pli = s.pli.data(),
                       .an = s.an.data(),
                       .lau = s.lau.data(),
                       .low = s.low.data(),
                       .q = s.q.data(),
                       .k = s.k.data(),
                       .v = s.v.data(),
                       .attn = s.attn.data(),
                       .tmp = s.tmp.data(),
                       .hmid = s.hmid.data(),
                       .y = s.y.data(),
                       .gate = s.gate.data(),
                       .up = s.up.data(),
                       .raw = s.raw.data(),
                       .coefs = s.coefs.data(),
                       .gpl = s.gpl.data(),
                       .pl_emb = s.pl_emb.data(),
                       .pl_up = s.pl_up.data(),
                       .ids_pl = s.ids_pl.data(),
                       .positions = s.positions.data(),
                       .attn_scratch = s.attn_scratch.data()};
  const Gemma3nStreamWeights sw{.embed = embed_,
                                .embed_per_layer = embed_per_layer_,
                                .per_layer_projection = per_layer_projection_,
                                .per_layer_projection_norm = per_layer_projection_norm_,
                                .final_norm = final_norm_,
                                .altup_proj = altup_proj_.data(),
                                .altup_unembed = altup_unembed_.data()};
  RETURN_IF_ERROR(RunGemma3nEmbed(ops, config_, sw, slice, s.tokens.data(), t, a, tap));

  std::vector<RingWindows> windows;
  windows.reserve(n_seq);
  for (int64_t i = 0; i < n_seq; ++i) {
    if (rings[i] == nullptr) continue;
    Scratch::Windows& w = s.windows[i];
    windows.emplace_back(config_, *rings[i], segments[i].kv->length(), w.k, w.v, w.past);
  }
  std::vector<Gemma3nLayerKv> seqs(n_seq);
  for (int64_t l : slice.layers) {
    const int64_t src = config_.kv_source[l];
    for (int64_t i = 0, ring = 0; i < n_seq; ++i) {
      KvCache& kv = *segments[i].kv;
      // Ring owners store nothing in the base cache (keys(l) is then empty).
      seqs[i] = Gemma3nLayerKv{.t = segments[i].t,
                               .keys = kv.keys(l),
                               .values = kv.values(l),
                               .src_keys = kv.keys(src),
                               .src_values = kv.values(src),
                               .len = KvLength{.past = kv.length()},
                               .windows = rings[i] != nullptr ? &windows[ring++] : nullptr};
    }
    RETURN_IF_ERROR(RunGemma3nLayer(ops, config_, layers_[l],
                                    Gemma3nLayerArgs{.layer = l,
                                                     .width = slice.ffn_widths[l],
                                                     .t = t,
                                                     .sparsity = sparsity_multiplier_[l],
                                                     .prediction = layers_[l].prediction.data(),
                                                     .correction = layers_[l].correction.data()},
                                    seqs, a, tap));
  }
  for (int64_t i = 0; i < n_seq; ++i) {
    KvCache& kv = *segments[i].kv;
    kv.Advance(segments[i].t);
    if (rings[i] != nullptr) rings[i]->MarkWritten(kv.length());
  }
  if (logit_rows == 0) return absl::OkStatus();

  // Per sequence, its head rows (all of its rows or its last) collapsed, then
  // normed into a.an one after another; then the head and soft-cap over all
  // of them at once, so that the head's weights are read once.
  int64_t gathered = 0;
  for (int64_t i = 0, row = 0; i < n_seq; ++i) {
    const BatchSegment& g = segments[i];
    const int64_t rows = g.logits == nullptr ? 0 : g.all_logits ? g.t : 1;
    if (rows > 0) {
      Gemma3nActivations seg = a;
      for (float*& stream : seg.streams) stream += row * D;
      seg.an = a.an + gathered * D;
      RETURN_IF_ERROR(RunGemma3nCollapse(ops, config_, sw, g.t, rows, seg, tap));
      gathered += rows;
    }
    row += g.t;
  }
  const int64_t vocab = b.vocab_size;
  float* out = n_seq == 1 ? segments[0].logits : s.logits.data();
  layer_ops::HeadLogits(s.cpu, a.an, D, gathered, embed_, slice, vocab, out);
  if (config_.final_logit_softcapping > 0) {  // the -inf of unscored tokens stay -inf
    LogitSoftcap(out, gathered * vocab, static_cast<float>(config_.final_logit_softcapping));
  }
  if (n_seq > 1) ScatterBatchLogits(segments, out, vocab);
  return absl::OkStatus();
}

int64_t Gemma3nModel::ParameterCount(const SliceView& slice) const {
  return Gemma3nEffectiveParameters(config_, slice);
}

int64_t Gemma3nModel::TotalParameterCount(const SliceView& slice) const {
  return Gemma3nEffectiveParameters(config_, slice) + Gemma3nEmbeddingParameters(config_, slice);
}

int64_t Gemma3nModel::WeightBytesRead(const SliceView& slice) const {
  const int64_t D = config_.base.hidden_size, P = config_.hidden_size_per_layer_input;
  // One row of each embedding table (the kept per-layer slots only), the head
  // rows the slice scores.
  int64_t bytes = D * DTypeSize(embed_.dtype) + MatBytes(embed_.FirstRows(HeadRows(slice, config_.base.vocab_size)));
  bytes += static_cast<int64_t>(slice.layers.size()) * P * DTypeSize(embed_per_layer_.dtype);
  bytes += static_cast<int64_t>(slice.layers.size()) * P * D * DTypeSize(per_layer_projection_.dtype);
  bytes += VecBytes(per_layer_projection_norm_) + VecBytes(final_norm_);
  for (const MatrixView& m : altup_proj_) bytes += MatBytes(m);
  for (const MatrixView& m : altup_unembed_) bytes += MatBytes(m);
  const int64_t N = config_.altup_num_inputs;
  for (int64_t l : slice.layers) {
    const Gemma3nLayerWeights& w = layers_[l];
    const int64_t f = slice.ffn_widths[l];
    for (const VectorView* v : {&w.input_norm, &w.post_attn_norm, &w.pre_ffn_norm, &w.post_ffn_norm, &w.q_norm,
                                &w.k_norm, &w.correct_output_scale, &w.router_norm, &w.laurel_norm,
                                &w.post_pli_norm}) {
      bytes += VecBytes(*v);
    }
    for (const MatrixView* m : {&w.q, &w.k, &w.v, &w.o, &w.router, &w.laurel_left, &w.laurel_right, &w.pli_gate,
                                &w.pli_proj}) {
      bytes += MatBytes(*m);
    }
    bytes += MatBytes(w.gate.FirstRows(f)) + MatBytes(w.up.FirstRows(f)) + MatBytes(w.down.FirstCols(f));
    bytes += (N * N + N * N * N) * DTypeSize(w.q.dtype);  // AltUp coefficient matrices
  }
  return bytes;
}

}  // namespace matspec
