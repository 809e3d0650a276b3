// SliceView: a validated MatFormer sub-model of the loaded weights. It names
// which of the model's layers run (original indices, ascending) and the FFN
// width each uses. The full model is the identity slice. A SliceView holds no
// weights: the forward pass reads FirstRows/FirstCols views of the one store.
// Built by draft/slice_spec.h (from a table row or from flags), which checks it
// against the model; engine code only consumes it.
#ifndef MATSPEC_ENGINE_SLICE_VIEW_H_
#define MATSPEC_ENGINE_SLICE_VIEW_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace matspec {

struct SliceView {
  std::string name;                  // "full" for the identity slice
  std::vector<int64_t> layers;       // kept layers, original indices, ascending
  std::vector<int64_t> ffn_widths;   // per ORIGINAL layer; 0 for a skipped layer
  // Reduced-vocabulary head (a draft's option): only some rows of the LM head
  // are read and the logits of the other tokens are -inf, so the slice never
  // proposes them (q = 0 there, which keeps sampling lossless). Either the
  // token ids in head_ids (ascending, unique, each < vocab; e.g. the most
  // frequent tokens) or, without them, the first head_rows ids (0 = all).
  int64_t head_rows = 0;
  std::shared_ptr<const std::vector<int32_t>> head_ids;

  bool Keeps(int64_t layer) const {
    return layer >= 0 && layer < static_cast<int64_t>(ffn_widths.size()) && ffn_widths[layer] > 0;
  }
};

// The identity slice for a model with these full per-layer widths.
inline SliceView IdentitySlice(const std::vector<int64_t>& full_widths) {
  SliceView v;
  v.name = "full";
  v.ffn_widths = full_widths;
  for (int64_t i = 0; i < static_cast<int64_t>(full_widths.size()); ++i) v.layers.push_back(i);
  return v;
}

// How many tokens (rows of the LM head) a forward of `slice` scores, for a
// vocabulary of `vocab`.
inline int64_t HeadRows(const SliceView& slice, int64_t vocab) {
  if (slice.head_ids) return static_cast<int64_t>(slice.head_ids->size());
  return slice.head_rows > 0 && slice.head_rows < vocab ? slice.head_rows : vocab;
}

}  // namespace matspec

#endif  // MATSPEC_ENGINE_SLICE_VIEW_H_
