// CpuRoundRunner: the speculation round on the host. The Drafter
// (draft/drafter.h) proposes with the draft slice; the Verifier
// (verify/verifier.h) runs the full model over all k+1 positions in one
// Forward and applies the acceptance rule; this runner sequences them and
// keeps time. Works with any Model, so it is also
// how the CUDA model's host Forward is checked against the CPU. Everything a
// sequence writes (caches, scratch, logits) is the runner's own, so runners of
// many sequences may share one model from many threads.
#ifndef MATSPEC_ENGINE_DECODING_CPU_ROUND_RUNNER_H_
#define MATSPEC_ENGINE_DECODING_CPU_ROUND_RUNNER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "draft/drafter.h"
#include "verify/verifier.h"
#include "engine/model.h"
#include "engine/round_runner.h"
#include "kernels/logits.h"

namespace matspec {

class CpuRoundRunner final : public RoundRunner {
 public:
  // Caches hold up to `capacity` positions. Without a draft slice every round is
  // one plain decoding step.
  CpuRoundRunner(const Model* model, std::optional<SliceView> draft, const DraftPolicy& policy,
                 const SamplingConfig& sampling, uint64_t seed, int64_t capacity);

  absl::Status Prefill(const std::vector<int32_t>& prompt) override;
  absl::StatusOr<RoundOutcome> Round(const std::vector<int32_t>& sequence, int64_t max_draft,
                                     const DraftStopRule* stop) override;
  bool honours_stop_rule() const override { return true; }
  absl::Status Rollback(int64_t committed_length) override;
  int64_t draft_kv_bytes() const override { return drafter_ ? drafter_->cache_bytes() : 0; }

 private:
  std::unique_ptr<ForwardScratch> forward_scratch_;  // this sequence's, for the draft and the verifier
  DraftPolicy policy_;
  Verifier verifier_;
  std::unique_ptr<Drafter> drafter_;
  DraftProposal proposal_;
  bool adopt_verifier_kv_ = false;  // the policy's, where the caches allow it
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_DECODING_CPU_ROUND_RUNNER_H_
