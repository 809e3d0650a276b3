// One Gemma 3n decoder layer (spec §5): AltUp predict, input norm, LAuReL,
// attention with q/k/v norms and KV sharing, the MLP with Gaussian top-k
// sparsity over the slice's width, AltUp correct and the per-layer input
// injection into the non-active streams.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/gemma3n_model.h"
#include "engine/gemma3n_scratch.h"
#include "engine/layer_ops.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/gemma3n_ops.h"
#include "kernels/rope.h"

namespace matspec {

using layer_ops::Linear;
using layer_ops::Norm;

// out[t, N] = tanh(W_router (rmsnorm(x; router_norm) / D)).
void Gemma3nModel::Router(const Gemma3nLayerWeights& w, const float* x, int64_t t, float* out, Scratch& s) const {
  const int64_t D = config_.base.hidden_size, N = config_.altup_num_inputs;
  Norm(x, w.router_norm, config_.base.rms_norm_eps, t, D, s.tmp.data());
  const float scale = 1.f / static_cast<float>(D);
  for (int64_t e = 0; e < t * D; ++e) s.tmp[e] *= scale;
  Linear(s.cpu, s.tmp.data(), D, t, w.router, out, N, false);
  for (int64_t e = 0; e < t * N; ++e) out[e] = std::tanh(out[e]);
}

// Attention of the normalised active prediction (s.an) into s.tmp ([t, D], after o_proj).
void Gemma3nModel::Attention(int64_t l, int64_t t, int64_t past, KvCache& kv, Scratch& s) const {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, hd = b.head_dim;
  const int64_t qdim = b.num_heads * hd, kvdim = b.num_kv_heads * hd;
  const bool sliding = config_.sliding[l];
  const double theta = sliding ? config_.rope_theta_sliding : config_.rope_theta_full;

  auto rope = [&](float* x, int64_t heads) {
    RopeParams rp;
    rp.x = x;
    rp.num_heads = heads;
    rp.row_stride = heads * hd;
    rp.t = t;
    rp.head_dim = hd;
    rp.positions = s.positions.data();
    rp.theta = theta;
    ApplyRope(rp);
  };
  Linear(s.cpu, s.an.data(), D, t, w.q, s.q.data(), qdim, false);
  Norm(s.q.data(), w.q_norm, b.rms_norm_eps, t * b.num_heads, hd, s.q.data());
  rope(s.q.data(), b.num_heads);
  if (!config_.IsConsumer(l)) {
    Linear(s.cpu, s.an.data(), D, t, w.k, s.k.data(), kvdim, false);
    Norm(s.k.data(), w.k_norm, b.rms_norm_eps, t * b.num_kv_heads, hd, s.k.data());
    rope(s.k.data(), b.num_kv_heads);
    Linear(s.cpu, s.an.data(), D, t, w.v, s.v.data(), kvdim, false);
    Norm(s.v.data(), VectorView{}, b.rms_norm_eps, t * b.num_kv_heads, hd, s.v.data());
    if (sliding && s.ring_kv != nullptr) {
      FillWindow(l, t, past, *s.ring_kv, s);
    } else {
      std::memcpy(kv.keys(l) + past * kvdim, s.k.data(), t * kvdim * sizeof(float));
      std::memcpy(kv.values(l) + past * kvdim, s.v.data(), t * kvdim * sizeof(float));
    }
  }
  const int64_t src = config_.kv_source[l];  // the producer for a consumer, else l
  AttentionParams ap =
      Gemma3nAttentionParams(config_, l, s.q.data(), kv.keys(src), kv.values(src), past, t, s.attn.data());
  if (sliding && s.ring_kv != nullptr) {
    // The window buffer filled by src's FillWindow earlier in this forward.
    const int64_t wi = WindowIndex(src);
    ap.k_cache = s.win_k[wi].data();
    ap.v_cache = s.win_v[wi].data();
    ap.past = s.win_past[wi];
  }
  ap.scratch = s.attn_scratch.data();
  matspec::Attention(s.cpu, ap);
  Linear(s.cpu, s.attn.data(), qdim, t, w.o, s.tmp.data(), D, false);
}

void Gemma3nModel::FillWindow(int64_t l, int64_t t, int64_t past, Gemma3nKvCache& kv, Scratch& s) const {
  const ModelConfig& b = config_.base;
  const int64_t kvdim = b.num_kv_heads * b.head_dim;
  const int64_t slots = kv.ring_slots();
  const int64_t held = std::min<int64_t>(past, config_.sliding_window - 1);  // past positions any new token sees
  const int64_t wi = WindowIndex(l);
  std::vector<float>& wk = s.win_k[wi];
  std::vector<float>& wv = s.win_v[wi];
  if (static_cast<int64_t>(wk.size()) < (held + t) * kvdim) {
    wk.resize((held + t) * kvdim);
    wv.resize((held + t) * kvdim);
  }
  const size_t row_bytes = kvdim * sizeof(float);
  for (int64_t i = 0; i < held; ++i) {
    const int64_t slot = (past - held + i) % slots;
    std::memcpy(wk.data() + i * kvdim, kv.ring_keys(l) + slot * kvdim, row_bytes);
    std::memcpy(wv.data() + i * kvdim, kv.ring_values(l) + slot * kvdim, row_bytes);
  }
  std::memcpy(wk.data() + held * kvdim, s.k.data(), t * row_bytes);
  std::memcpy(wv.data() + held * kvdim, s.v.data(), t * row_bytes);
  s.win_past[wi] = held;
  // Store the new rows (only the last `slots` of a long chunk survive anyway).
  for (int64_t j = std::max<int64_t>(0, t - slots); j < t; ++j) {
    const int64_t slot = (past + j) % slots;
    std::memcpy(kv.ring_keys(l) + slot * kvdim, s.k.data() + j * kvdim, row_bytes);
    std::memcpy(kv.ring_values(l) + slot * kvdim, s.v.data() + j * kvdim, row_bytes);
  }
}

// MLP of s.an over the first `width` hidden units into s.tmp ([t, D]).
void Gemma3nModel::Mlp(int64_t l, int64_t width, int64_t t, Scratch& s) const {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, ld = b.max_ffn_width();
  Linear(s.cpu, s.an.data(), D, t, w.gate.FirstRows(width), s.gate.data(), ld, false);
  if (sparsity_multiplier_[l] != 0.f) GaussianTopK(s.gate.data(), t, width, ld, sparsity_multiplier_[l]);
  Linear(s.cpu, s.an.data(), D, t, w.up.FirstRows(width), s.up.data(), ld, false);
  GatedActivationParams gp;
  gp.act = Activation::kGeluTanh;
  gp.gate = s.gate.data();
  gp.up = s.up.data();
  gp.out = s.gate.data();
  gp.rows = t;
  gp.n = width;
  gp.stride = ld;
  GatedActivation(gp);
  Linear(s.cpu, s.gate.data(), ld, t, w.down.FirstCols(width), s.tmp.data(), D, false);
}

void Gemma3nModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, KvCache& kv, Scratch& s,
                            const ActivationTap* tap) const {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs, act = config_.altup_active_idx;
  const int64_t P = config_.hidden_size_per_layer_input, L = b.num_layers;
  const double eps = b.rms_norm_eps;
  std::vector<const float*> xs(N);
  std::vector<float*> preds(N);
  for (int64_t i = 0; i < N; ++i) {
    xs[i] = s.streams[i].data();
    preds[i] = s.pred[i].data();
  }

  // AltUp predict: coefs[t, N*N] = W_pred · router(x_act).
  Router(w, s.streams[act].data(), t, s.modal.data(), s);
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t r = 0; r < N * N; ++r) {
      float acc = 0.f;
      for (int64_t c = 0; c < N; ++c) acc += w.prediction[r * N + c] * s.modal[j * N + c];
      s.coefs[j * N * N + r] = acc;
    }
  }
  AltUpPredict(xs.data(), s.coefs.data(), N, t, D, preds.data());
  const float* a = s.pred[act].data();

  // Input norm and LAuReL: lau = an + rmsnorm(R (L an)).
  Norm(a, w.input_norm, eps, t, D, s.an.data());
  Linear(s.cpu, s.an.data(), D, t, w.laurel_left, s.low.data(), config_.laurel_rank, false);
  Linear(s.cpu, s.low.data(), config_.laurel_rank, t, w.laurel_right, s.lau.data(), D, false);
  Norm(s.lau.data(), w.laurel_norm, eps, t, D, s.lau.data());
  for (int64_t e = 0; e < t * D; ++e) s.lau[e] += s.an[e];

  // Attention, then hmid = ((a + post_attn_norm(attn)) + lau) / sqrt(2).
  Attention(l, t, past, kv, s);
  Norm(s.tmp.data(), w.post_attn_norm, eps, t, D, s.tmp.data());
  const float sqrt2 = std::sqrt(2.f);
  for (int64_t e = 0; e < t * D; ++e) s.hmid[e] = ((a[e] + s.tmp[e]) + s.lau[e]) / sqrt2;
  if (tap) (*tap)("attn_out", l, s.hmid.data(), t, D);

  // MLP: y = hmid + post_ffn_norm(mlp(pre_ffn_norm(hmid))).
  Norm(s.hmid.data(), w.pre_ffn_norm, eps, t, D, s.an.data());
  Mlp(l, width, t, s);
  Norm(s.tmp.data(), w.post_ffn_norm, eps, t, D, s.tmp.data());
  for (int64_t e = 0; e < t * D; ++e) s.y[e] = s.hmid[e] + s.tmp[e];
  if (tap) (*tap)("ffn_out", l, s.y.data(), t, D);

  // AltUp correct: k = clamp(W_corr) · router(y) + 1.
  Router(w, s.y.data(), t, s.modal.data(), s);
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t r = 0; r < N; ++r) {
      float acc = 0.f;
      for (int64_t c = 0; c < N; ++c) acc += w.correction[r * N + c] * s.modal[j * N + c];
      s.coefs[j * N + r] = acc + 1.f;
    }
  }
  AltUpCorrect(preds.data(), s.y.data(), s.coefs.data(), N, act, t, D);

  // Per-layer input: gate = gelu(W_gate (out_act ⊙ scale)) ⊙ pli_l; added to streams 1..N-1.
  const float* out_act = s.pred[act].data();
  if (config_.altup_correct_scale) {
    for (int64_t j = 0; j < t; ++j) {
      for (int64_t e = 0; e < D; ++e) s.an[j * D + e] = out_act[j * D + e] * w.correct_output_scale.At(e);
    }
  } else {
    std::memcpy(s.an.data(), out_act, t * D * sizeof(float));
  }
  Linear(s.cpu, s.an.data(), D, t, w.pli_gate, s.gpl.data(), P, false);
  for (int64_t j = 0; j < t; ++j) {
    GatedActivationParams gp;
    gp.act = Activation::kGeluTanh;
    gp.gate = s.gpl.data() + j * P;
    gp.up = s.pli.data() + (j * L + l) * P;
    gp.out = s.gpl.data() + j * P;
    gp.rows = 1;
    gp.n = P;
    gp.stride = P;
    GatedActivation(gp);
  }
  Linear(s.cpu, s.gpl.data(), P, t, w.pli_proj, s.tmp.data(), D, false);
  Norm(s.tmp.data(), w.post_pli_norm, eps, t, D, s.tmp.data());
  for (int64_t i = 1; i < N; ++i) AddInPlace(s.pred[i].data(), s.tmp.data(), t * D);

  std::swap(s.streams, s.pred);
  if (tap) (*tap)("layer_out", l, s.streams[act].data(), t, D);
}

}  // namespace matspec
