#include "engine/model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cpu_thread_pool.h"

namespace matspec {

ForwardScratch::~ForwardScratch() = default;

void ForwardScratch::InitCpu(const CpuContext& defaults, bool thread_pool) {
  cpu = defaults;
  pool_.reset();
  cpu.pool = nullptr;
  cpu.workspace = &workspace_;
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

absl::Status ValidateBatch(std::span<const BatchSegment> segments, int64_t vocab) {
  if (segments.empty()) return absl::InvalidArgumentError("ForwardBatch: no segment");
  for (size_t i = 0; i < segments.size(); ++i) {
    const BatchSegment& g = segments[i];
    ForwardArgs args{.tokens = g.tokens, .t = g.t, .kv = g.kv};
    SliceView unused;
    args.slice = &unused;
    if (absl::Status s = args.Validate(vocab); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("segment ", i, " of the batch: ", s.message()));
    }
    for (size_t j = 0; j < i; ++j) {
      if (segments[j].kv == g.kv) {
        return absl::InvalidArgumentError(absl::StrCat("ForwardBatch: segments ", j, " and ", i, " share a cache"));
      }
    }
  }
  return absl::OkStatus();
}

void ScatterBatchLogits(std::span<const BatchSegment> segments, const float* logits, int64_t vocab) {
  for (const BatchSegment& g : segments) {
    if (g.logits == nullptr) continue;
    const int64_t rows = g.all_logits ? g.t : 1;
    std::copy(logits, logits + rows * vocab, g.logits);
    logits += rows * vocab;
  }
}

absl::Status Model::ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                                 ForwardScratch* scratch) const {
  RETURN_IF_ERROR(ValidateBatch(segments, vocab_size()));
  for (size_t i = 0; i < segments.size(); ++i) {
    const BatchSegment& g = segments[i];
    absl::Status s = Forward(SegmentForward(slice, g, scratch));
    if (!s.ok()) {
      for (size_t j = 0; j < i; ++j) (void)segments[j].kv->Truncate(segments[j].kv->length() - segments[j].t);
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace matspec
