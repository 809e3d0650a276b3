#include "engine/llama_layer.h"

#include "engine/status_macros.h"

namespace matspec {

absl::Status RunLlamaLayer(const Ops& ops, const ModelConfig& config, const LlamaLayerWeights& w, int64_t layer,
                           int64_t width, std::span<const LlamaLayerKv> seqs, const LlamaActivations& a,
                           const ActivationTap* tap) {
  if (seqs.empty()) return absl::InvalidArgumentError("RunLlamaLayer: no sequence to run");
  const int64_t hidden = config.hidden_size;
  const int64_t hd = config.head_dim;
  const int64_t qdim = config.num_heads * hd;
  const int64_t kvdim = config.num_kv_heads * hd;
  const int64_t ffn_ld = config.max_ffn_width();
  const double eps = config.rms_norm_eps;
  int64_t t = 0;  // rows of every sequence together
  for (const LlamaLayerKv& s : seqs) t += s.t;
  // One sequence with its length on the host: the new k/v are projected
  // straight into its cache rows. Otherwise into a.k / a.v, then appended to
  // each sequence's cache at its length.
  const bool direct = seqs.size() == 1 && seqs[0].len.d_past == nullptr;
  float* keys = direct ? seqs[0].keys + seqs[0].len.past * kvdim : a.k;
  float* values = direct ? seqs[0].values + seqs[0].len.past * kvdim : a.v;

  // Attention block: the projections over every row at once.
  RETURN_IF_ERROR(ops.Norm(a.x, w.input_norm, eps, t, hidden, a.h));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.q, a.q, qdim, false));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.k, keys, kvdim, false));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.v, values, kvdim, false));
  RETURN_IF_ERROR(ops.Rope(RopeParams{.x = a.q, .row_stride = qdim, .t = t, .num_heads = config.num_heads,
                                      .head_dim = hd, .positions = a.positions, .theta = config.rope_theta}));
  RETURN_IF_ERROR(ops.Rope(RopeParams{.x = keys, .row_stride = kvdim, .t = t, .num_heads = config.num_kv_heads,
                                      .head_dim = hd, .positions = a.positions, .theta = config.rope_theta}));
  // Then each sequence over its own cache.
  int64_t row = 0;
  for (const LlamaLayerKv& s : seqs) {
    if (!direct) {
      RETURN_IF_ERROR(ops.KvAppend(keys + row * kvdim, kvdim, s.t, kvdim, s.len, s.keys));
      RETURN_IF_ERROR(ops.KvAppend(values + row * kvdim, kvdim, s.t, kvdim, s.len, s.values));
    }
    AttentionParams ap =
        LlamaAttentionParams(config, a.q + row * qdim, s.keys, s.values, s.len.past, s.t, a.attn + row * qdim);
    ap.scratch = a.attn_scratch;
    RETURN_IF_ERROR(ops.Attention(ap, s.len));
    row += s.t;
  }
  RETURN_IF_ERROR(ops.Linear(a.attn, qdim, t, w.o, a.x, hidden, true));
  if (tap) (*tap)("attn_residual", layer, a.x, t, hidden);

  // FFN block over the slice's prefix of the hidden units.
  RETURN_IF_ERROR(ops.Norm(a.x, w.post_norm, eps, t, hidden, a.h));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.gate.FirstRows(width), a.gate, ffn_ld, false));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.up.FirstRows(width), a.up, ffn_ld, false));
  RETURN_IF_ERROR(ops.GatedActivation(GatedActivationParams{.act = Activation::kSilu,
                                                            .gate = a.gate,
                                                            .up = a.up,
                                                            .out = a.gate,
                                                            .rows = t,
                                                            .n = width,
                                                            .stride = ffn_ld}));
  RETURN_IF_ERROR(ops.Linear(a.gate, ffn_ld, t, w.down.FirstCols(width), a.x, hidden, true));
  if (tap) (*tap)("layer_out", layer, a.x, t, hidden);
  return absl::OkStatus();
}

}  // namespace matspec
