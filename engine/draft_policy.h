// DraftPolicy: how many tokens a speculation round drafts. Plain data shared by
// every round runner (the host one in decoding/, the GPU one in engine/cuda/)
// and the Drafter (draft/), so it lives below all of them.
#ifndef MATSPEC_ENGINE_DRAFT_POLICY_H_
#define MATSPEC_ENGINE_DRAFT_POLICY_H_

#include <cstdint>

namespace matspec {

// Ends a round's draft early from what the draft has proposed so far: the
// adaptive draft length's confidence stop (draft/adaptive_draft_length.h). A
// stop decided from the draft's own outputs is lossless: every drafted token is
// still verified as always. Called by one thread at a time (the sequence's).
class DraftStopRule {
 public:
  virtual ~DraftStopRule() = default;
  // Whether to draft one more token after `drafted` tokens whose logit gaps
  // (the draft's top-1 minus its top-2 raw logit, >= 0) are gaps[0..drafted).
  virtual bool KeepDrafting(const float* gaps, int64_t drafted) const = 0;
};

struct DraftPolicy {
  int64_t draft_max = 4;    // k: at most this many per round (>= 1)
  int64_t draft_min = 0;    // always draft at least this many (<= draft_max)
  float draft_p_min = 0.f;  // stop once the draft's top-1 probability (softmax of
                            // its raw logits) falls below this, after draft_min
  // Report that top-1 probability for every drafted token (RoundOutcome::
  // draft_top_p; for round logs): a softmax over the vocabulary per draft
  // step. The CPU drafter only.
  bool record_top_p = false;
  // Consulted after each drafted token once draft_min are drafted (and before
  // none: a round it refuses at 0 is the caller's to skip); null: none. The
  // CPU drafter only. Must outlive the proposal.
  const DraftStopRule* stop_rule = nullptr;
  // The draft catches up on committed tokens it has not seen (the prompt, the
  // tokens of plain rounds, its own last token after a fully accepted round)
  // by copying the verifier's keys and values for them instead of running its
  // slice over them: free catch-up, so a plain round costs no later draft
  // work. The draft then attends to the full model's entries there (its own
  // layers below differ), which changes its proposals a little, never the
  // output: every drafted token is verified as always. The CPU round runner
  // only, and only where both caches share a layout (llama family).
  bool adopt_verifier_kv = false;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_DRAFT_POLICY_H_
