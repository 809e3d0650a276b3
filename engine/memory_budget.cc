#include "engine/memory_budget.h"

#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace matspec {

int64_t KvCacheBytesBound(const ModelConfig& c, int64_t positions) {
  int64_t bytes = 2 * static_cast<int64_t>(sizeof(float));  // K and V, f32
  for (int64_t f : {positions, c.num_layers, c.num_kv_heads, c.head_dim}) {
    if (f < 0 || __builtin_mul_overflow(bytes, f, &bytes)) return -1;
  }
  return bytes;
}

int64_t PhysicalMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  int64_t bytes = 0;
  if (pages <= 0 || page <= 0 || __builtin_mul_overflow(int64_t{pages}, int64_t{page}, &bytes)) return INT64_MAX;
  return bytes;
}

absl::Status CheckKvCacheFits(const ModelConfig& config, int64_t positions) {
  const int64_t need = KvCacheBytesBound(config, positions);
  const int64_t have = PhysicalMemoryBytes();
  if (need >= 0 && need <= have) return absl::OkStatus();
  const std::string size = need < 0 ? std::string("more than 2^63 bytes")
                                    : absl::StrFormat("%.1f GiB", need / double(int64_t{1} << 30));
  return absl::ResourceExhaustedError(absl::StrFormat(
      "a context of %d positions (--ctx-size; 0 = max_position_embeddings of config.json, here %d) needs %s of KV "
      "cache, more than this machine's memory (%.1f GiB); pass a smaller --ctx-size",
      positions, config.max_position_embeddings, size, have / double(int64_t{1} << 30)));
}

}  // namespace matspec
