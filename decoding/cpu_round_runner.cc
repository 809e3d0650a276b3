#include "decoding/cpu_round_runner.h"

#include <algorithm>
#include <chrono>

#include "engine/status_macros.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

CpuRoundRunner::CpuRoundRunner(const Model* model, std::optional<SliceView> draft, const DraftPolicy& policy,
                               const SamplingConfig& sampling, uint64_t seed, int64_t capacity)
    : forward_scratch_(model->NewScratch()),
      policy_(policy),
      verifier_(model, capacity, draft ? policy.draft_max : 0, sampling, seed, forward_scratch_.get()) {
  if (draft) {
    drafter_ = std::make_unique<Drafter>(model, std::move(*draft), capacity, sampling, seed, forward_scratch_.get());
    // Where the layouts differ (Gemma 3n's rings) the draft computes its own entries, as without the option.
    adopt_verifier_kv_ = policy.adopt_verifier_kv && drafter_->CanAdoptRows(verifier_.cache());
  }
}

absl::Status CpuRoundRunner::Prefill(const std::vector<int32_t>& prompt) {
  RETURN_IF_ERROR(verifier_.Prefill(prompt));
  if (!drafter_) return absl::OkStatus();
  return adopt_verifier_kv_ ? drafter_->AdoptRows(verifier_.cache(), static_cast<int64_t>(prompt.size()))
                            : drafter_->Prefill(prompt);
}

absl::StatusOr<RoundOutcome> CpuRoundRunner::Round(const std::vector<int32_t>& sequence, int64_t max_draft,
                                                  const DraftStopRule* stop) {
  RoundOutcome out;
  proposal_.tokens.clear();
  proposal_.q.clear();
  proposal_.top_p.clear();
  proposal_.logit_gap.clear();
  if (drafter_ && max_draft > 0) {
    DraftPolicy policy = policy_;
    policy.stop_rule = stop;
    const auto t0 = Clock::now();
    if (adopt_verifier_kv_) {
      RETURN_IF_ERROR(drafter_->AdoptRows(verifier_.cache(), static_cast<int64_t>(sequence.size())));
    }
    RETURN_IF_ERROR(drafter_->Propose(sequence, max_draft, policy, &proposal_));
    out.draft_seconds = Seconds(t0, Clock::now());
  }
  const auto t0 = Clock::now();
  ASSIGN_OR_RETURN(const AcceptanceResult r, verifier_.Verify(sequence, proposal_.tokens, proposal_.q));
  out.verify_seconds = Seconds(t0, Clock::now());
  out.drafted = static_cast<int64_t>(proposal_.tokens.size());
  out.draft_top_p = proposal_.top_p;
  out.draft_logit_gap = proposal_.logit_gap;
  out.accepted = r.accepted;
  out.tokens.assign(proposal_.tokens.begin(), proposal_.tokens.begin() + r.accepted);
  out.tokens.push_back(r.next_token);
  return out;
}

absl::Status CpuRoundRunner::Rollback(int64_t committed_length) {
  RETURN_IF_ERROR(verifier_.Rollback(committed_length));
  return drafter_ ? drafter_->Rollback(committed_length) : absl::OkStatus();
}

}  // namespace matspec
