// Gemma3nKvCache: the KV cache Gemma3nModel::NewKvCache hands out. Only
// KV-owning layers the slice keeps store anything (consumers read their
// producer's). Full-attention owners keep every position in the base
// KvCache (contiguous, full capacity). Sliding-window owners keep a ring of
// `ring_slots` = min(capacity, sliding_window + max_rollback) positions, the
// position p living in slot p % ring_slots: enough for the window before any
// forward plus the positions a rollback may discard (a draft's or a verify
// chunk's). A forward whose window the ring no longer holds (a rollback deeper
// than max_rollback) fails with FailedPrecondition instead of reading
// overwritten slots.
//
// The base class's stores(l) is true only for the full-attention owners and
// KvCache::bytes() counts only them; bytes() here adds ring_bytes(), the rings.
#ifndef MATSPEC_ENGINE_GEMMA3N_KV_CACHE_H_
#define MATSPEC_ENGINE_GEMMA3N_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv_cache.h"

namespace matspec {

class Gemma3nKvCache final : public KvCache {
 public:
  // full_stored[l]: layer l keeps every position; ring_stored[l]: layer l keeps a ring.
  Gemma3nKvCache(const std::vector<bool>& full_stored, const std::vector<bool>& ring_stored, int64_t num_kv_heads,
                 int64_t head_dim, int64_t capacity, int64_t ring_slots, int64_t sliding_window);

  bool has_ring(int64_t layer) const { return !ring_keys_[layer].empty(); }
  int64_t ring_slots() const { return ring_slots_; }
  float* ring_keys(int64_t layer) { return ring_keys_[layer].data(); }
  float* ring_values(int64_t layer) { return ring_values_[layer].data(); }

  // OK when every ring still holds the window of positions a forward starting
  // at length() reads (positions >= length() - window + 1).
  absl::Status CheckRingWindow() const;
  // Records that positions up to `end` (exclusive) were written.
  void MarkWritten(int64_t end) { high_water_ = end > high_water_ ? end : high_water_; }

  int64_t ring_bytes() const;
  int64_t bytes() const override { return KvCache::bytes() + ring_bytes(); }

 private:
  int64_t ring_slots_;
  int64_t window_;
  int64_t high_water_ = 0;  // one past the highest position ever written
  std::vector<std::vector<float>> ring_keys_, ring_values_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_GEMMA3N_KV_CACHE_H_
