// KvCache: keys and values of one sequence for every layer that stores any,
// f32, laid out [capacity, num_kv_heads, head_dim] per layer. The draft and
// the verifier each own one. Rollback is O(1): Truncate() only moves the
// length; the rejected slots are overwritten by the next forward.
#ifndef MATSPEC_ENGINE_KV_CACHE_H_
#define MATSPEC_ENGINE_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"

namespace matspec {

class KvCache {
 public:
  // `stored[l]` says whether layer l keeps entries (a draft that skips layer l
  // stores nothing for it). capacity = the most positions ever held.
  KvCache(const std::vector<bool>& stored, int64_t num_kv_heads, int64_t head_dim, int64_t capacity);
  // Virtual: architectures hand out subclasses (Gemma 3n's sliding-window rings).
  virtual ~KvCache() = default;

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  bool stores(int64_t layer) const { return keys_[layer].floats > 0; }
  int64_t row_floats() const { return num_kv_heads_ * head_dim_; }

  // [capacity, num_kv_heads, head_dim] of one stored layer.
  float* keys(int64_t layer) { return keys_[layer].data.get(); }
  float* values(int64_t layer) { return values_[layer].data.get(); }
  const float* keys(int64_t layer) const { return keys_[layer].data.get(); }
  const float* values(int64_t layer) const { return values_[layer].data.get(); }

  // OutOfRange if length() + t would exceed the capacity.
  absl::Status CheckRoom(int64_t t) const;
  // Marks t more positions as written (after a forward filled them).
  void Advance(int64_t t) { length_ += t; }
  // Rolls back to the first n positions; InvalidArgument if n > length().
  absl::Status Truncate(int64_t n);

  // Whether the cache got its storage: a device cache whose memory ran out is
  // left empty and says so here (CudaKvCache); a host cache always has it
  // (allocation failure throws std::bad_alloc in its constructor).
  virtual absl::Status status() const { return absl::OkStatus(); }

  // Bytes allocated for keys and values (subclasses add what they hold
  // elsewhere: Gemma 3n's rings, a device cache's GPU memory).
  virtual int64_t bytes() const;

 protected:
  // For subclasses that keep their entries elsewhere (GPU memory): only the
  // length bookkeeping lives here; stores() is false for every layer.
  KvCache(int64_t num_layers, int64_t capacity);

 private:
  int64_t num_kv_heads_;
  int64_t head_dim_;
  int64_t capacity_;
  int64_t length_ = 0;
  // One layer's rows; unwritten positions are uninitialised (Allocate).
  struct Rows {
    static Rows Allocate(size_t floats);
    std::unique_ptr<float[]> data;
    size_t floats = 0;
  };
  std::vector<Rows> keys_;
  std::vector<Rows> values_;
};

// Whether CopyKvRows can fill `to` from `from`: both host caches of this very
// class (not Gemma 3n's rings, not a device cache), with the same layers and
// row size, and `from` storing every layer `to` stores.
bool CanCopyKvRows(const KvCache& from, const KvCache& to);

// Copies positions [to->length(), end) of every layer `to` stores from `from`
// and advances `to` to `end`: a draft that catches up on committed tokens by
// adopting the verifier's keys and values instead of computing its own
// (DraftPolicy::adopt_verifier_kv). FailedPrecondition unless CanCopyKvRows
// and from.length() >= end; OutOfRange past `to`'s capacity; nothing is
// copied on an error.
absl::Status CopyKvRows(const KvCache& from, int64_t end, KvCache* to);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_KV_CACHE_H_
