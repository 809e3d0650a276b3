// The Gemma 3n decoder (spec shared/reference/gemma3n_text_spec.md §3-§5),
// written once for every backend against Ops (engine/ops.h):
//  - RunGemma3nEmbed: the scaled token embedding (stream 0), the per-layer
//    inputs of the slice's layers, streams 1..N-1 by AltUp projection;
//  - RunGemma3nLayer: one decoder layer (AltUp predict, input norm, LAuReL,
//    attention with q/k/v norms and KV sharing, the MLP with Gaussian top-k
//    sparsity over the slice's width, AltUp correct, the per-layer input
//    injection into the non-active streams);
//  - RunGemma3nCollapse: the streams' mean and the final norm before the head.
// The CPU model (engine/gemma3n_model.cc) and the GPU model
// (engine/cuda/cuda_gemma3n_model.cc) differ only in where their buffers and
// caches live, which Ops they pass, the positions and the head. The order of
// the f32 operations is the CPU's; the CUDA kernels repeat it.
#ifndef MATSPEC_ENGINE_GEMMA3N_LAYER_H_
#define MATSPEC_ENGINE_GEMMA3N_LAYER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/gemma3n_config.h"
#include "engine/gemma3n_model.h"
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/slice_view.h"

namespace matspec {

// One forward's buffers, in the memory of the Ops' device ([t, ...] f32 rows
// unless said otherwise). D = hidden, N = AltUp streams, P = per-layer input
// width, L = layers, F = the widest FFN.
struct Gemma3nActivations {
  std::vector<float*> streams;  // N x [t, D]: the residual streams
  std::vector<float*> pred;     // N x [t, D]: the AltUp predictions; each layer swaps the two
  float* pli = nullptr;         // [t, L, P] per-layer inputs
  float* an = nullptr;          // [t, D] normalised block input
  float* lau = nullptr;         // [t, D] LAuReL
  float* low = nullptr;         // [t, laurel_rank]
  float* q = nullptr;           // [t, heads * head_dim]
  float* k = nullptr;           // [t, kv_heads * head_dim] new keys (staged forwards, below)
  float* v = nullptr;           // [t, kv_heads * head_dim] new values, likewise
  float* attn = nullptr;        // [t, heads * head_dim]
  float* tmp = nullptr;         // [t, D]
  float* hmid = nullptr;        // [t, D]
  float* y = nullptr;           // [t, D]
  float* gate = nullptr;        // [t, F]
  float* up = nullptr;          // [t, F]
  float* raw = nullptr;         // [t, N] router products
  float* coefs = nullptr;       // [t, N * N]
  float* gpl = nullptr;         // [t, P]
  float* pl_emb = nullptr;      // [t, P]
  float* pl_up = nullptr;       // [t, P]
  int32_t* ids_pl = nullptr;    // [t] token ids clamped to the per-layer table
  const int64_t* positions = nullptr;  // [t] absolute positions of the new tokens
  float* attn_scratch = nullptr;       // the CPU attention's scratch (null on the GPU)
};

// The weights outside the layers, in the Ops' device memory.
struct Gemma3nStreamWeights {
  MatrixView embed;                      // [V, D]
  MatrixView embed_per_layer;            // [Vp, L*P]
  MatrixView per_layer_projection;       // [L*P, D]
  VectorView per_layer_projection_norm;  // [P]
  VectorView final_norm;                 // [D]
  const MatrixView* altup_proj = nullptr;     // N-1 x [D, D]
  const MatrixView* altup_unembed = nullptr;  // N-1 x [D, D]
};

// The CPU's sliding-window rings (engine/gemma3n_kv_cache.h); the GPU keeps
// every owner at full capacity and passes none.
class Gemma3nWindows {
 public:
  struct Window {
    const float* keys = nullptr;    // [past + t, kv_heads * head_dim]
    const float* values = nullptr;
    int64_t past = 0;               // the positions before the new t
  };
  virtual ~Gemma3nWindows() = default;
  // Sliding owner `layer`: gathers its window before this forward and the t
  // new rows (keys, values: [t, kv_heads * head_dim]) into one contiguous
  // buffer, and stores the new rows in its ring.
  virtual void Fill(int64_t layer, const float* keys, const float* values, int64_t t) = 0;
  // The window Fill gathered for sliding owner `layer` in this forward.
  virtual Window Get(int64_t layer) const = 0;
};

// One sequence's cache of a layer: contiguous [capacity, kv_heads * head_dim]
// rows. A batched forward passes one per sequence, in the order of their rows.
struct Gemma3nLayerKv {
  int64_t t = 0;            // this sequence's new rows (its tokens of the forward)
  float* keys = nullptr;    // the layer's own cache (owners); null for consumers and ring owners
  float* values = nullptr;
  const float* src_keys = nullptr;    // the cache the attention reads: kv_source[layer]'s
  const float* src_values = nullptr;
  KvLength len;                       // where the t new tokens go
  Gemma3nWindows* windows = nullptr;  // when set, sliding layers attend over its windows
};

// Per-layer arguments.
struct Gemma3nLayerArgs {
  int64_t layer = 0;
  int64_t width = 0;        // the slice's FFN width of this layer
  int64_t t = 0;            // new tokens
  float sparsity = 0.f;     // the GaussianTopK multiplier; 0 = no sparsity
  const float* prediction = nullptr;  // [N*N, N] f32 AltUp prediction coefficients
  const float* correction = nullptr;  // [N, N] f32, clamped
};

// Stream 0 = sqrt(D) * embed[tokens]; a.pli's slots of the slice's layers;
// streams i = MatchMagnitude(altup_proj[i-1] stream 0, stream 0). tokens: [t]
// in the Ops' memory. Tap (host buffers only): "embed".
absl::Status RunGemma3nEmbed(const Ops& ops, const Gemma3nConfig& config, const Gemma3nStreamWeights& w,
                             const SliceView& slice, const int32_t* tokens, int64_t t, const Gemma3nActivations& a,
                             const ActivationTap* tap);

// Runs one layer over args.t rows: the new tokens of the sequences `seqs`,
// one after another (their t add up to args.t; a single forward passes one).
// Every product, norm and AltUp step runs once over all the rows (each weight
// read once for the batch); only the attention runs per sequence, over its own
// cache. A single sequence's owners project their new k/v straight into
// kv.keys / kv.values at a host length; otherwise (several sequences, a device
// length or a ring window) they are staged in a.k / a.v, then per sequence
// copied into its cache, appended at *len.d_past or handed to kv.windows->Fill.
// Swaps a.streams and a.pred. Taps (host buffers only): "attn_out", "ffn_out",
// "layer_out".
absl::Status RunGemma3nLayer(const Ops& ops, const Gemma3nConfig& config, const Gemma3nLayerWeights& w,
                             const Gemma3nLayerArgs& args, std::span<const Gemma3nLayerKv> seqs,
                             Gemma3nActivations& a, const ActivationTap* tap);

// a.an[rows, D] = final_norm(mean(stream 0, MatchMagnitude(altup_unembed[i-1]
// stream i, stream 0))) over the last `rows` of the t tokens (a.hmid, a.tmp
// are scratch). Tap (host buffers only): "final_norm".
absl::Status RunGemma3nCollapse(const Ops& ops, const Gemma3nConfig& config, const Gemma3nStreamWeights& w,
                                int64_t t, int64_t rows, const Gemma3nActivations& a, const ActivationTap* tap);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_GEMMA3N_LAYER_H_
