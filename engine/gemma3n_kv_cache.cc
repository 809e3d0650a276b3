#include "engine/gemma3n_kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace matspec {

Gemma3nKvCache::Gemma3nKvCache(const std::vector<bool>& full_stored, const std::vector<bool>& ring_stored,
                               int64_t num_kv_heads, int64_t head_dim, int64_t capacity, int64_t ring_slots,
                               int64_t sliding_window)
    : KvCache(full_stored, num_kv_heads, head_dim, capacity),
      ring_slots_(std::max<int64_t>(1, std::min(ring_slots, capacity))),
      window_(sliding_window) {
  ring_keys_.resize(ring_stored.size());
  ring_values_.resize(ring_stored.size());
  const size_t floats = static_cast<size_t>(ring_slots_ * num_kv_heads * head_dim);
  for (size_t l = 0; l < ring_stored.size(); ++l) {
    if (!ring_stored[l]) continue;
    ring_keys_[l].assign(floats, 0.f);
    ring_values_[l].assign(floats, 0.f);
  }
}

absl::Status Gemma3nKvCache::CheckRingWindow() const {
  const int64_t oldest_needed = std::max<int64_t>(0, length() - window_ + 1);
  const int64_t oldest_held = high_water_ - ring_slots_;
  if (ring_bytes() > 0 && length() > 0 && oldest_needed < oldest_held) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Gemma 3n sliding-window KV ring (", ring_slots_, " slots for window ", window_,
        ") no longer holds position ", oldest_needed, ": the cache was rolled back ", high_water_ - length(),
        " positions, more than the ring allows (", ring_slots_ - window_ + 1,
        "); raise Gemma3nModel::set_max_rollback before creating the cache"));
  }
  return absl::OkStatus();
}

int64_t Gemma3nKvCache::ring_bytes() const {
  int64_t total = 0;
  for (size_t l = 0; l < ring_keys_.size(); ++l) {
    total += static_cast<int64_t>((ring_keys_[l].size() + ring_values_[l].size()) * sizeof(float));
  }
  return total;
}

}  // namespace matspec
