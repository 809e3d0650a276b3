#include "engine/llama_layer.h"

#include "engine/status_macros.h"

namespace matspec {

absl::Status RunLlamaLayer(const Ops& ops, const ModelConfig& config, const LlamaLayerWeights& w, int64_t layer,
                           int64_t width, int64_t t, const LlamaLayerKv& kv, const LlamaActivations& a,
                           const ActivationTap* tap) {
  const int64_t hidden = config.hidden_size;
  const int64_t hd = config.head_dim;
  const int64_t qdim = config.num_heads * hd;
  const int64_t kvdim = config.num_kv_heads * hd;
  const int64_t ffn_ld = config.max_ffn_width();
  const double eps = config.rms_norm_eps;
  const bool device_length = kv.len.d_past != nullptr;
  float* keys = device_length ? a.k : kv.keys + kv.len.past * kvdim;
  float* values = device_length ? a.v : kv.values + kv.len.past * kvdim;

  // Attention block.
  RETURN_IF_ERROR(ops.Norm(a.x, w.input_norm, eps, t, hidden, a.h));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.q, a.q, qdim, false));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.k, keys, kvdim, false));
  RETURN_IF_ERROR(ops.Linear(a.h, hidden, t, w.v, values, kvdim, false));
  RETURN_IF_ERROR(ops.Rope(RopeParams{.x = a.q, .row_stride = qdim, .t = t, .num_heads = config.num_heads,
                                      .head_dim = hd, .positions = a.positions, .theta = config.rope_theta}));
  RETURN_IF_ERROR(ops.Rope(RopeParams{.x = keys, .row_stride = kvdim, .t = t, .num_heads = config.num_kv_heads,
                                      .head_dim = hd, .positions = a.positions, .theta = config.rope_theta}));
  if (device_length) {
    RETURN_IF_ERROR(ops.KvAppend(keys, kvdim, t, kvdim, kv.len, kv.keys));
    RETURN_IF_ERROR(ops.KvAppend(values, kvdim, t, kvdim, kv.len, kv.values));
  }
  AttentionParams ap = LlamaAttentionParams(config, a.q, kv.keys, kv.values, kv.len.past, t, a.attn);
  ap.scratch = a.attn_scratch;
  RETURN_IF_ERROR(ops.Attention(ap, kv.len));
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
