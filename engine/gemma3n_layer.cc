// One Gemma 3n decoder layer (spec §5): AltUp predict, input norm, LAuReL,
// attention with q/k/v norms and KV sharing, the MLP with Gaussian top-k
// sparsity over the slice's width, AltUp correct and the per-layer input
// injection into the non-active streams.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/gemma3n_model.h"
#include "engine/layer_ops.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/gemma3n_ops.h"
#include "kernels/rope.h"

namespace matspec {

using layer_ops::Linear;
using layer_ops::Norm;

// out[t, N] = tanh(W_router (rmsnorm(x; router_norm) / D)).
void Gemma3nModel::Router(const Gemma3nLayerWeights& w, const float* x, int64_t t, float* out) {
  const int64_t D = config_.base.hidden_size, N = config_.altup_num_inputs;
  Norm(x, w.router_norm, config_.base.rms_norm_eps, t, D, tmp_.data());
  const float scale = 1.f / static_cast<float>(D);
  for (int64_t e = 0; e < t * D; ++e) tmp_[e] *= scale;
  Linear(ctx_, tmp_.data(), D, t, w.router, out, N, false);
  for (int64_t e = 0; e < t * N; ++e) out[e] = std::tanh(out[e]);
}

// Attention of the normalised active prediction (an_) into tmp_ ([t, D], after o_proj).
void Gemma3nModel::Attention(int64_t l, int64_t t, int64_t past, KvCache& kv) {
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
    rp.positions = positions_.data();
    rp.theta = theta;
    ApplyRope(rp);
  };
  Linear(ctx_, an_.data(), D, t, w.q, q_.data(), qdim, false);
  Norm(q_.data(), w.q_norm, b.rms_norm_eps, t * b.num_heads, hd, q_.data());
  rope(q_.data(), b.num_heads);
  if (!config_.IsConsumer(l)) {
    Linear(ctx_, an_.data(), D, t, w.k, k_.data(), kvdim, false);
    Norm(k_.data(), w.k_norm, b.rms_norm_eps, t * b.num_kv_heads, hd, k_.data());
    rope(k_.data(), b.num_kv_heads);
    Linear(ctx_, an_.data(), D, t, w.v, v_.data(), kvdim, false);
    Norm(v_.data(), VectorView{}, b.rms_norm_eps, t * b.num_kv_heads, hd, v_.data());
    if (sliding && ring_kv_ != nullptr) {
      FillWindow(l, t, past, *ring_kv_);
    } else {
      std::memcpy(kv.keys(l) + past * kvdim, k_.data(), t * kvdim * sizeof(float));
      std::memcpy(kv.values(l) + past * kvdim, v_.data(), t * kvdim * sizeof(float));
    }
  }
  const int64_t src = config_.kv_source[l];  // the producer for a consumer, else l
  AttentionParams ap =
      Gemma3nAttentionParams(config_, l, q_.data(), kv.keys(src), kv.values(src), past, t, attn_.data());
  if (sliding && ring_kv_ != nullptr) {
    // The window buffer filled by src's FillWindow earlier in this forward.
    const int64_t wi = WindowIndex(src);
    ap.k_cache = win_k_[wi].data();
    ap.v_cache = win_v_[wi].data();
    ap.past = win_past_[wi];
  }
  ap.scratch = attn_scratch_.data();
  matspec::Attention(ctx_, ap);
  Linear(ctx_, attn_.data(), qdim, t, w.o, tmp_.data(), D, false);
}

void Gemma3nModel::FillWindow(int64_t l, int64_t t, int64_t past, Gemma3nKvCache& kv) {
  const ModelConfig& b = config_.base;
  const int64_t kvdim = b.num_kv_heads * b.head_dim;
  const int64_t slots = kv.ring_slots();
  const int64_t held = std::min<int64_t>(past, config_.sliding_window - 1);  // past positions any new token sees
  const int64_t wi = WindowIndex(l);
  std::vector<float>& wk = win_k_[wi];
  std::vector<float>& wv = win_v_[wi];
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
  std::memcpy(wk.data() + held * kvdim, k_.data(), t * row_bytes);
  std::memcpy(wv.data() + held * kvdim, v_.data(), t * row_bytes);
  win_past_[wi] = held;
  // Store the new rows (only the last `slots` of a long chunk survive anyway).
  for (int64_t j = std::max<int64_t>(0, t - slots); j < t; ++j) {
    const int64_t slot = (past + j) % slots;
    std::memcpy(kv.ring_keys(l) + slot * kvdim, k_.data() + j * kvdim, row_bytes);
    std::memcpy(kv.ring_values(l) + slot * kvdim, v_.data() + j * kvdim, row_bytes);
  }
}

// MLP of an_ over the first `width` hidden units into tmp_ ([t, D]).
void Gemma3nModel::Mlp(int64_t l, int64_t width, int64_t t) {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, ld = b.max_ffn_width();
  Linear(ctx_, an_.data(), D, t, w.gate.FirstRows(width), gate_.data(), ld, false);
  if (sparsity_multiplier_[l] != 0.f) GaussianTopK(gate_.data(), t, width, ld, sparsity_multiplier_[l]);
  Linear(ctx_, an_.data(), D, t, w.up.FirstRows(width), up_.data(), ld, false);
  GatedActivationParams gp;
  gp.act = Activation::kGeluTanh;
  gp.gate = gate_.data();
  gp.up = up_.data();
  gp.out = gate_.data();
  gp.rows = t;
  gp.n = width;
  gp.stride = ld;
  GatedActivation(gp);
  Linear(ctx_, gate_.data(), ld, t, w.down.FirstCols(width), tmp_.data(), D, false);
}

void Gemma3nModel::RunLayer(int64_t l, int64_t width, int64_t t, int64_t past, KvCache& kv,
                            const ActivationTap* tap) {
  const ModelConfig& b = config_.base;
  const Gemma3nLayerWeights& w = layers_[l];
  const int64_t D = b.hidden_size, N = config_.altup_num_inputs, act = config_.altup_active_idx;
  const int64_t P = config_.hidden_size_per_layer_input, L = b.num_layers;
  const double eps = b.rms_norm_eps;
  std::vector<const float*> xs(N);
  std::vector<float*> preds(N);
  for (int64_t i = 0; i < N; ++i) {
    xs[i] = streams_[i].data();
    preds[i] = pred_[i].data();
  }

  // AltUp predict: coefs[t, N*N] = W_pred · router(x_act).
  Router(w, streams_[act].data(), t, modal_.data());
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t r = 0; r < N * N; ++r) {
      float acc = 0.f;
      for (int64_t c = 0; c < N; ++c) acc += w.prediction[r * N + c] * modal_[j * N + c];
      coefs_[j * N * N + r] = acc;
    }
  }
  AltUpPredict(xs.data(), coefs_.data(), N, t, D, preds.data());
  const float* a = pred_[act].data();

  // Input norm and LAuReL: lau = an + rmsnorm(R (L an)).
  Norm(a, w.input_norm, eps, t, D, an_.data());
  Linear(ctx_, an_.data(), D, t, w.laurel_left, low_.data(), config_.laurel_rank, false);
  Linear(ctx_, low_.data(), config_.laurel_rank, t, w.laurel_right, lau_.data(), D, false);
  Norm(lau_.data(), w.laurel_norm, eps, t, D, lau_.data());
  for (int64_t e = 0; e < t * D; ++e) lau_[e] += an_[e];

  // Attention, then hmid = ((a + post_attn_norm(attn)) + lau) / sqrt(2).
  Attention(l, t, past, kv);
  Norm(tmp_.data(), w.post_attn_norm, eps, t, D, tmp_.data());
  const float sqrt2 = std::sqrt(2.f);
  for (int64_t e = 0; e < t * D; ++e) hmid_[e] = ((a[e] + tmp_[e]) + lau_[e]) / sqrt2;
  if (tap) (*tap)("attn_out", l, hmid_.data(), t, D);

  // MLP: y = hmid + post_ffn_norm(mlp(pre_ffn_norm(hmid))).
  Norm(hmid_.data(), w.pre_ffn_norm, eps, t, D, an_.data());
  Mlp(l, width, t);
  Norm(tmp_.data(), w.post_ffn_norm, eps, t, D, tmp_.data());
  for (int64_t e = 0; e < t * D; ++e) y_[e] = hmid_[e] + tmp_[e];
  if (tap) (*tap)("ffn_out", l, y_.data(), t, D);

  // AltUp correct: k = clamp(W_corr) · router(y) + 1.
  Router(w, y_.data(), t, modal_.data());
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t r = 0; r < N; ++r) {
      float acc = 0.f;
      for (int64_t c = 0; c < N; ++c) acc += w.correction[r * N + c] * modal_[j * N + c];
      coefs_[j * N + r] = acc + 1.f;
    }
  }
  AltUpCorrect(preds.data(), y_.data(), coefs_.data(), N, act, t, D);

  // Per-layer input: gate = gelu(W_gate (out_act ⊙ scale)) ⊙ pli_l; added to streams 1..N-1.
  const float* out_act = pred_[act].data();
  if (config_.altup_correct_scale) {
    for (int64_t j = 0; j < t; ++j) {
      for (int64_t e = 0; e < D; ++e) an_[j * D + e] = out_act[j * D + e] * w.correct_output_scale.At(e);
    }
  } else {
    std::memcpy(an_.data(), out_act, t * D * sizeof(float));
  }
  Linear(ctx_, an_.data(), D, t, w.pli_gate, gpl_.data(), P, false);
  for (int64_t j = 0; j < t; ++j) {
    GatedActivationParams gp;
    gp.act = Activation::kGeluTanh;
    gp.gate = gpl_.data() + j * P;
    gp.up = pli_.data() + (j * L + l) * P;
    gp.out = gpl_.data() + j * P;
    gp.rows = 1;
    gp.n = P;
    gp.stride = P;
    GatedActivation(gp);
  }
  Linear(ctx_, gpl_.data(), P, t, w.pli_proj, tmp_.data(), D, false);
  Norm(tmp_.data(), w.post_pli_norm, eps, t, D, tmp_.data());
  for (int64_t i = 1; i < N; ++i) AddInPlace(pred_[i].data(), tmp_.data(), t * D);

  std::swap(streams_, pred_);
  if (tap) (*tap)("layer_out", l, streams_[act].data(), t, D);
}

}  // namespace matspec
