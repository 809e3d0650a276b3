#include "engine/gemma3n_layer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/activation.h"
#include "kernels/gemma3n_ops.h"

namespace matspec {
namespace {

// raw[t, N] = W_router (rmsnorm(x; router_norm) / D), through a.tmp; the
// coefficients then take its tanh (AltUpCoefs).
absl::Status Router(const Ops& ops, const Gemma3nConfig& config, const Gemma3nLayerWeights& w, const float* x,
                    int64_t t, const Gemma3nActivations& a) {
  const int64_t D = config.base.hidden_size, N = config.altup_num_inputs;
  RETURN_IF_ERROR(ops.Norm(x, w.router_norm, config.base.rms_norm_eps, t, D, a.tmp));
  RETURN_IF_ERROR(ops.Scale(a.tmp, t * D, 1.f / static_cast<float>(D)));
  return ops.Linear(a.tmp, D, t, w.router, a.raw, N, false);
}

// Attention of the normalised active prediction (a.an, t rows: the rows of
// `seqs` in order) into a.tmp ([t, D], after o_proj).
absl::Status Attention(const Ops& ops, const Gemma3nConfig& config, const Gemma3nLayerWeights& w, int64_t l,
                       int64_t t, std::span<const Gemma3nLayerKv> seqs, const Gemma3nActivations& a) {
  const ModelConfig& b = config.base;
  const int64_t D = b.hidden_size, hd = b.head_dim;
  const int64_t qdim = b.num_heads * hd, kvdim = b.num_kv_heads * hd;
  const double eps = b.rms_norm_eps;
  const bool sliding = config.sliding[l];
  const double theta = sliding ? config.rope_theta_sliding : config.rope_theta_full;
  auto ring = [&](const Gemma3nLayerKv& kv) { return sliding && kv.windows != nullptr; };

  RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.q, a.q, qdim, false));
  RETURN_IF_ERROR(ops.Norm(a.q, w.q_norm, eps, t * b.num_heads, hd, a.q));
  RETURN_IF_ERROR(ops.Rope(RopeParams{.x = a.q, .row_stride = qdim, .t = t, .num_heads = b.num_heads,
                                      .head_dim = hd, .positions = a.positions, .theta = theta}));
  if (!config.IsConsumer(l)) {
    // One sequence at a host length without a ring: straight into its cache
    // rows. Otherwise staged in a.k / a.v and handed to each sequence below.
    const Gemma3nLayerKv& first = seqs.front();
    const bool direct = seqs.size() == 1 && !ring(first) && first.len.d_past == nullptr;
    float* keys = direct ? first.keys + first.len.past * kvdim : a.k;
    float* values = direct ? first.values + first.len.past * kvdim : a.v;
    RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.k, keys, kvdim, false));
    RETURN_IF_ERROR(ops.Norm(keys, w.k_norm, eps, t * b.num_kv_heads, hd, keys));
    RETURN_IF_ERROR(ops.Rope(RopeParams{.x = keys, .row_stride = kvdim, .t = t, .num_heads = b.num_kv_heads,
                                        .head_dim = hd, .positions = a.positions, .theta = theta}));
    RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.v, values, kvdim, false));
    RETURN_IF_ERROR(ops.Norm(values, VectorView{}, eps, t * b.num_kv_heads, hd, values));
    int64_t row = 0;
    for (const Gemma3nLayerKv& kv : direct ? seqs.first(0) : seqs) {
      const float* k_rows = a.k + row * kvdim;
      const float* v_rows = a.v + row * kvdim;
      row += kv.t;
      if (ring(kv)) {
        kv.windows->Fill(l, k_rows, v_rows, kv.t);
      } else {  // at its host length or *d_past
        RETURN_IF_ERROR(ops.KvAppend(k_rows, kvdim, kv.t, kvdim, kv.len, kv.keys));
        RETURN_IF_ERROR(ops.KvAppend(v_rows, kvdim, kv.t, kvdim, kv.len, kv.values));
      }
    }
  }
  int64_t row = 0;
  for (const Gemma3nLayerKv& kv : seqs) {
    AttentionParams ap = Gemma3nAttentionParams(config, l, a.q + row * qdim, kv.src_keys, kv.src_values,
                                                kv.len.past, kv.t, a.attn + row * qdim);
    KvLength len = kv.len;
    if (ring(kv)) {
      // The window filled by the source layer earlier in this forward.
      const Gemma3nWindows::Window win = kv.windows->Get(config.kv_source[l]);
      ap.k_cache = win.keys;
      ap.v_cache = win.values;
      ap.past = win.past;
      len = KvLength{.past = win.past};
    }
    ap.scratch = a.attn_scratch;
    RETURN_IF_ERROR(ops.Attention(ap, len));
    row += kv.t;
  }
  return ops.Linear(a.attn, qdim, t, w.o, a.tmp, D, false);
}

// MLP of a.an over the first `width` hidden units into a.tmp ([t, D]).
absl::Status Mlp(const Ops& ops, const Gemma3nConfig& config, const Gemma3nLayerWeights& w,
                 const Gemma3nLayerArgs& args, const Gemma3nActivations& a) {
  const int64_t D = config.base.hidden_size, ld = config.base.max_ffn_width();
  const int64_t t = args.t, width = args.width;
  RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.gate.FirstRows(width), a.gate, ld, false));
  if (args.sparsity != 0.f) RETURN_IF_ERROR(ops.GaussianTopK(a.gate, t, width, ld, args.sparsity));
  RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.up.FirstRows(width), a.up, ld, false));
  RETURN_IF_ERROR(ops.GatedActivation(GatedActivationParams{
      .act = Activation::kGeluTanh, .gate = a.gate, .up = a.up, .out = a.gate, .rows = t, .n = width, .stride = ld}));
  return ops.Linear(a.gate, ld, t, w.down.FirstCols(width), a.tmp, D, false);
}

}  // namespace

absl::Status RunGemma3nEmbed(const Ops& ops, const Gemma3nConfig& config, const Gemma3nStreamWeights& w,
                             const SliceView& slice, const int32_t* tokens, int64_t t, const Gemma3nActivations& a,
                             const ActivationTap* tap) {
  const ModelConfig& b = config.base;
  const int64_t D = b.hidden_size, L = b.num_layers, N = config.altup_num_inputs;
  const int64_t P = config.hidden_size_per_layer_input;
  float* x0 = a.streams[0];
  RETURN_IF_ERROR(ops.EmbeddingGather(w.embed, tokens, t, std::sqrt(static_cast<float>(D)), x0));
  if (tap) (*tap)("embed", -1, x0, t, D);

  // Per-layer inputs: (rmsnorm(W_slot e * D^-0.5) + sqrt(P) * table slot) / sqrt(2).
  RETURN_IF_ERROR(ops.ClampIds(tokens, t, config.vocab_size_per_layer_input, a.ids_pl));
  const float proj_scale = 1.f / std::sqrt(static_cast<float>(D));
  const float input_scale = 1.f / std::sqrt(2.f);
  for (int64_t l : slice.layers) {
    RETURN_IF_ERROR(ops.Linear(x0, D, t, w.per_layer_projection.RowBlock(l * P, P), a.gpl, P, false));
    RETURN_IF_ERROR(ops.Scale(a.gpl, t * P, proj_scale));
    RETURN_IF_ERROR(ops.Norm(a.gpl, w.per_layer_projection_norm, b.rms_norm_eps, t, P, a.gpl));
    RETURN_IF_ERROR(ops.EmbeddingGather(w.embed_per_layer.ColBlock(l * P, P), a.ids_pl, t,
                                        std::sqrt(static_cast<float>(P)), a.pl_emb));
    RETURN_IF_ERROR(ops.PerLayerInput(a.gpl, a.pl_emb, t, P, L, l, input_scale, a.pli));
  }

  for (int64_t i = 1; i < N; ++i) {
    RETURN_IF_ERROR(ops.Linear(x0, D, t, w.altup_proj[i - 1], a.streams[i], D, false));
    RETURN_IF_ERROR(ops.MatchMagnitude(a.streams[i], x0, t, D, kGemma3nMagnitudeFloor));
  }
  return absl::OkStatus();
}

absl::Status RunGemma3nLayer(const Ops& ops, const Gemma3nConfig& config, const Gemma3nLayerWeights& w,
                             const Gemma3nLayerArgs& args, std::span<const Gemma3nLayerKv> seqs,
                             Gemma3nActivations& a, const ActivationTap* tap) {
  const ModelConfig& b = config.base;
  const int64_t l = args.layer, t = args.t;
  const int64_t D = b.hidden_size, N = config.altup_num_inputs, act = config.altup_active_idx;
  const int64_t P = config.hidden_size_per_layer_input, L = b.num_layers;
  const double eps = b.rms_norm_eps;
  int64_t rows = 0;
  for (const Gemma3nLayerKv& kv : seqs) rows += kv.t;
  if (seqs.empty() || rows != t) {
    return absl::InvalidArgumentError(absl::StrCat("Gemma 3n layer ", l, ": the sequences' ", rows,
                                                   " rows are not the forward's ", t));
  }

  // AltUp predict: coefs[t, N*N] = W_pred tanh(router(x_act)).
  RETURN_IF_ERROR(Router(ops, config, w, a.streams[act], t, a));
  RETURN_IF_ERROR(ops.AltUpCoefs(AltUpCoefsParams{
      .raw = a.raw, .rows = t, .n = N, .w = args.prediction, .out_n = N * N, .add_one = false, .out = a.coefs}));
  RETURN_IF_ERROR(ops.AltUpPredict(AltUpPredictParams{
      .streams = a.streams.data(), .coefs = a.coefs, .n_streams = N, .rows = t, .dim = D, .pred = a.pred.data()}));
  const float* pa = a.pred[act];

  // Input norm and LAuReL: lau = an + rmsnorm(R (L an)).
  RETURN_IF_ERROR(ops.Norm(pa, w.input_norm, eps, t, D, a.an));
  RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.laurel_left, a.low, config.laurel_rank, false));
  RETURN_IF_ERROR(ops.Linear(a.low, config.laurel_rank, t, w.laurel_right, a.lau, D, false));
  RETURN_IF_ERROR(ops.Norm(a.lau, w.laurel_norm, eps, t, D, a.lau));
  RETURN_IF_ERROR(ops.AddInPlace(a.lau, a.an, t * D));

  // Attention, then hmid = ((a + post_attn_norm(attn)) + lau) / sqrt(2).
  RETURN_IF_ERROR(Attention(ops, config, w, l, t, seqs, a));
  RETURN_IF_ERROR(ops.Norm(a.tmp, w.post_attn_norm, eps, t, D, a.tmp));
  RETURN_IF_ERROR(ops.SumDiv(pa, a.tmp, a.lau, t * D, std::sqrt(2.f), a.hmid));
  if (tap) (*tap)("attn_out", l, a.hmid, t, D);

  // MLP: y = hmid + post_ffn_norm(mlp(pre_ffn_norm(hmid))).
  RETURN_IF_ERROR(ops.Norm(a.hmid, w.pre_ffn_norm, eps, t, D, a.an));
  RETURN_IF_ERROR(Mlp(ops, config, w, args, a));
  RETURN_IF_ERROR(ops.Norm(a.tmp, w.post_ffn_norm, eps, t, D, a.tmp));
  RETURN_IF_ERROR(ops.SumDiv(a.hmid, a.tmp, nullptr, t * D, 1.f, a.y));
  if (tap) (*tap)("ffn_out", l, a.y, t, D);

  // AltUp correct: k = clamp(W_corr) tanh(router(y)) + 1.
  RETURN_IF_ERROR(Router(ops, config, w, a.y, t, a));
  RETURN_IF_ERROR(ops.AltUpCoefs(AltUpCoefsParams{
      .raw = a.raw, .rows = t, .n = N, .w = args.correction, .out_n = N, .add_one = true, .out = a.coefs}));
  RETURN_IF_ERROR(ops.AltUpCorrect(AltUpCorrectParams{
      .pred = a.pred.data(), .y = a.y, .k = a.coefs, .n_streams = N, .active = act, .rows = t, .dim = D}));

  // Per-layer input: gate = gelu(W_gate (out_act * scale)) * pli_l; added to streams 1..N-1.
  const float* out_act = a.pred[act];
  if (config.altup_correct_scale) {
    RETURN_IF_ERROR(ops.ScaleColumns(out_act, t, D, w.correct_output_scale, a.an));
  } else {
    RETURN_IF_ERROR(ops.CopyRows(out_act, D, t, D, a.an, D));
  }
  RETURN_IF_ERROR(ops.Linear(a.an, D, t, w.pli_gate, a.gpl, P, false));
  // This layer's slot of the per-layer inputs, as contiguous [t, P] rows.
  RETURN_IF_ERROR(ops.CopyRows(a.pli + l * P, L * P, t, P, a.pl_up, P));
  RETURN_IF_ERROR(ops.GatedActivation(GatedActivationParams{
      .act = Activation::kGeluTanh, .gate = a.gpl, .up = a.pl_up, .out = a.gpl, .rows = t, .n = P, .stride = P}));
  RETURN_IF_ERROR(ops.Linear(a.gpl, P, t, w.pli_proj, a.tmp, D, false));
  RETURN_IF_ERROR(ops.Norm(a.tmp, w.post_pli_norm, eps, t, D, a.tmp));
  for (int64_t i = 1; i < N; ++i) RETURN_IF_ERROR(ops.AddInPlace(a.pred[i], a.tmp, t * D));

  std::swap(a.streams, a.pred);
  if (tap) (*tap)("layer_out", l, a.streams[act], t, D);
  return absl::OkStatus();
}

absl::Status RunGemma3nCollapse(const Ops& ops, const Gemma3nConfig& config, const Gemma3nStreamWeights& w,
                                int64_t t, int64_t rows, const Gemma3nActivations& a, const ActivationTap* tap) {
  const ModelConfig& b = config.base;
  const int64_t D = b.hidden_size, N = config.altup_num_inputs;
  const int64_t first = (t - rows) * D;
  const float* x0 = a.streams[0] + first;
  RETURN_IF_ERROR(ops.CopyRows(x0, D, rows, D, a.hmid, D));
  for (int64_t i = 1; i < N; ++i) {
    RETURN_IF_ERROR(ops.Linear(a.streams[i] + first, D, rows, w.altup_unembed[i - 1], a.tmp, D, false));
    RETURN_IF_ERROR(ops.MatchMagnitude(a.tmp, x0, rows, D, kGemma3nMagnitudeFloor));
    RETURN_IF_ERROR(ops.AddInPlace(a.hmid, a.tmp, rows * D));
  }
  RETURN_IF_ERROR(ops.Scale(a.hmid, rows * D, 1.f / static_cast<float>(N)));
  RETURN_IF_ERROR(ops.Norm(a.hmid, w.final_norm, b.rms_norm_eps, rows, D, a.an));
  if (tap) (*tap)("final_norm", -1, a.an, rows, D);
  return absl::OkStatus();
}

}  // namespace matspec
