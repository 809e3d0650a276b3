#include "engine/model.h"

#include "absl/strings/str_cat.h"
#include "kernels/cpu_thread_pool.h"

namespace matspec {

ForwardScratch::~ForwardScratch() = default;

void ForwardScratch::InitCpu(const CpuContext& defaults, bool thread_pool) {
  cpu = defaults;
  pool_.reset();
  cpu.pool = nullptr;
  if (thread_pool && cpu.num_threads > 1) {
    pool_ = std::make_unique<CpuThreadPool>(cpu.num_threads);
    cpu.pool = pool_.get();
  }
}

absl::Status ForwardArgs::Validate(int64_t vocab) const {
  if (slice == nullptr || kv == nullptr || tokens == nullptr) {
    return absl::InvalidArgumentError("Forward: slice, kv and tokens must be set");
  }
  if (t < 1) return absl::InvalidArgumentError(absl::StrCat("Forward: t must be >= 1 (got ", t, ")"));
  for (int64_t i = 0; i < t; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("Forward: token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return kv->CheckRoom(t);
}

}  // namespace matspec
