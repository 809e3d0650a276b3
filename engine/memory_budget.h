// A check made before a KV cache is allocated from numbers a user or a
// config.json chose (--ctx-size, max_position_embeddings): an absurd context
// must end with an error naming them, not with std::bad_alloc or the OOM killer.
#ifndef MATSPEC_ENGINE_MEMORY_BUDGET_H_
#define MATSPEC_ENGINE_MEMORY_BUDGET_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/model_config.h"

namespace matspec {

// Upper bound of one f32 KV cache of `positions` positions over every layer
// (K and V); -1 if it overflows int64.
int64_t KvCacheBytesBound(const ModelConfig& config, int64_t positions);

// This machine's physical memory in bytes (sysconf), or INT64_MAX if unknown.
int64_t PhysicalMemoryBytes();

// ResourceExhausted when one cache of `positions` positions could not fit in
// physical memory: "a context of N positions (--ctx-size; 0 = max_position_
// embeddings of config.json, here M) needs X GiB of KV cache, more than ...".
absl::Status CheckKvCacheFits(const ModelConfig& config, int64_t positions);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_MEMORY_BUDGET_H_
