// DraftPolicy: how many tokens a speculation round drafts. Plain data shared by
// every round runner (the host one in decoding/, the GPU one in engine/cuda/)
// and the Drafter (draft/), so it lives below all of them.
#ifndef MATSPEC_ENGINE_DRAFT_POLICY_H_
#define MATSPEC_ENGINE_DRAFT_POLICY_H_

#include <cstdint>

namespace matspec {

struct DraftPolicy {
  int64_t draft_max = 4;    // k: at most this many per round (>= 1)
  int64_t draft_min = 0;    // always draft at least this many (<= draft_max)
  float draft_p_min = 0.f;  // stop once the draft's top-1 probability (softmax of
                            // its raw logits) falls below this, after draft_min
  // Report that top-1 probability for every drafted token (RoundOutcome::
  // draft_top_p; for round logs): a softmax over the vocabulary per draft
  // step. The CPU drafter only.
  bool record_top_p = false;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_DRAFT_POLICY_H_
