#include "engine/kv_cache.h"

#include <algorithm>
#include <typeinfo>

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
    keys_[l] = Rows::Allocate(floats);
    values_[l] = Rows::Allocate(floats);
  }
}

KvCache::Rows KvCache::Rows::Allocate(size_t floats) {
  // Left uninitialised on purpose (new float[n], not a zero-filled vector): a
  // cache sized for the whole context gets its pages from the system only as
  // positions are written, so a request pays for the context it uses. Nothing
  // reads a position before a forward has written it.
  return Rows{.data = std::unique_ptr<float[]>(new float[floats]), .floats = floats};
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
  for (size_t l = 0; l < keys_.size(); ++l) total += (keys_[l].floats + values_[l].floats) * sizeof(float);
  return total;
}

bool CanCopyKvRows(const KvCache& from, const KvCache& to) {
  if (typeid(from) != typeid(KvCache) || typeid(to) != typeid(KvCache)) return false;
  if (from.num_layers() != to.num_layers() || from.row_floats() != to.row_floats()) return false;
  bool any = false;
  for (int64_t l = 0; l < to.num_layers(); ++l) {
    if (to.stores(l) && !from.stores(l)) return false;
    any = any || to.stores(l);
  }
  return any;
}

absl::Status CopyKvRows(const KvCache& from, int64_t end, KvCache* to) {
  if (!CanCopyKvRows(from, *to)) {
    return absl::FailedPreconditionError("KV rows can only be copied between host caches of the same layout");
  }
  const int64_t begin = to->length();
  if (end <= begin) return absl::OkStatus();
  if (from.length() < end) {
    return absl::FailedPreconditionError(
        absl::StrCat("KV rows up to position ", end, " requested from a cache that holds ", from.length()));
  }
  if (absl::Status s = to->CheckRoom(end - begin); !s.ok()) return s;
  const int64_t row = to->row_floats();
  for (int64_t l = 0; l < to->num_layers(); ++l) {
    if (!to->stores(l)) continue;
    std::copy(from.keys(l) + begin * row, from.keys(l) + end * row, to->keys(l) + begin * row);
    std::copy(from.values(l) + begin * row, from.values(l) + end * row, to->values(l) + begin * row);
  }
  to->Advance(end - begin);
  return absl::OkStatus();
}

}  // namespace matspec
