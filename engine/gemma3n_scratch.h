// Gemma3nModel::Scratch: the per-forward state of the Gemma 3n decoder,
// private to engine/gemma3n_model.cc (the layer, engine/gemma3n_layer.h, sees
// it as Gemma3nActivations). One per
// sequence (ForwardArgs::scratch); the model itself holds none of it.
#ifndef MATSPEC_ENGINE_GEMMA3N_SCRATCH_H_
#define MATSPEC_ENGINE_GEMMA3N_SCRATCH_H_

#include <cstdint>
#include <vector>

#include "engine/gemma3n_model.h"

namespace matspec {

// Activations of one forward, [t, ...] f32 rows, grown on demand and reused;
// the window buffers of sliding owners.
struct Gemma3nModel::Scratch final : ForwardScratch {
  // t rows in all, the longest cache kv_len, `sequences` sequences (one set of
  // window buffers each), logit_rows head rows of a batch (0: a single forward
  // writes its logits in place).
  void Ensure(const Gemma3nConfig& config, int64_t t, int64_t kv_len, int64_t sequences, int64_t logit_rows);

  int64_t rows = 0;
  std::vector<std::vector<float>> streams, pred;  // N each, [t, D]
  std::vector<float> pli;                         // [t, L, P]
  std::vector<float> an, lau, low, q, k, v, attn, tmp, hmid, y, gate, up;
  std::vector<float> coefs, raw, gpl, attn_scratch, pl_emb, pl_up;
  std::vector<int32_t> ids_pl;
  std::vector<int32_t> tokens;     // [t] the forward's tokens, sequence by sequence
  std::vector<int64_t> positions;  // [t] each row's position in its sequence
  std::vector<float> logits;       // a batch's head rows before they go to each sequence
  // Per sequence of the forward: contiguous [window before past + t, G*hd] K/V
  // of sliding owners (one per producer, plus one shared by the other sliding
  // owners), and how many past positions each holds.
  struct Windows {
    std::vector<std::vector<float>> k, v;
    std::vector<int64_t> past;
  };
  std::vector<Windows> windows;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_GEMMA3N_SCRATCH_H_
