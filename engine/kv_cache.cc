#include "engine/kv_cache.h"

#include "absl/strings/str_cat.h"

namespace matspec {

KvCache::KvCache(const std::vector<bool>& stored, int64_t num_kv_heads, int64_t head_dim,
                 int64_t capacity)
    : num_kv_heads_(num_kv_heads), head_dim_(head_dim), capacity_(capacity) {
  keys_.resize(stored.size());
  values_.resize(stored.size());
  const size_t floats = static_cast<size_t>(capacity * num_kv_heads * head_dim);
  for (size_t l = 0; l < stored.size(); ++l) {
    if (!stored[l]) continue;
    keys_[l].assign(floats, 0.f);
    values_[l].assign(floats, 0.f);
  }
}

KvCache::KvCache(int64_t num_layers, int64_t capacity)
    : num_kv_heads_(0), head_dim_(0), capacity_(capacity), keys_(num_layers), values_(num_layers) {}

absl::Status KvCache::CheckRoom(int64_t t) const {
  if (length_ + t > capacity_) {
    return absl::OutOfRangeError(absl::StrCat("KV cache full: ", length_, " positions held, ", t,
                                              " more requested, capacity ", capacity_));
  }
  return absl::OkStatus();
}

absl::Status KvCache::Truncate(int64_t n) {
  if (n < 0 || n > length_) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache truncate to ", n, " but it holds ", length_, " positions"));
  }
  length_ = n;
  return absl::OkStatus();
}

int64_t KvCache::bytes() const {
  int64_t total = 0;
  for (size_t l = 0; l < keys_.size(); ++l) total += (keys_[l].size() + values_[l].size()) * sizeof(float);
  return total;
}

}  // namespace matspec
