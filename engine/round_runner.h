// RoundRunner: one backend's speculation round. SpeculativeDecoder owns the
// loop (budget, stop tokens, statistics) and asks a RoundRunner to
//   Prefill  feed the prompt (all but its last token) to both caches,
//   Round    draft up to max_draft tokens after the committed sequence, verify
//            them with the full model in one forward, and accept,
//   Rollback cut both caches back to the committed sequence.
// The CPU runner (decoding/cpu_round_runner.h) drives a Drafter and
// Accept() on the host; the CUDA runner (engine/cuda/cuda_round_runner.h)
// queues the whole round on the GPU and synchronises once, to learn how many
// tokens were accepted. Both draw the same uniforms (engine/random.h), so for a
// seed they accept the same tokens.
//
// Cache protocol (both caches): the committed sequence s has length L; after
// Rollback(L) the caches hold at most s[0..L-2]; the next Round feeds the rest.
#ifndef MATSPEC_ENGINE_ROUND_RUNNER_H_
#define MATSPEC_ENGINE_ROUND_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/draft_policy.h"

namespace matspec {

// The longest draft a round may propose.
inline constexpr int64_t kMaxDraft = 64;

struct RoundOutcome {
  std::vector<int32_t> tokens;  // the accepted draft tokens, then the correction or bonus token
  int64_t drafted = 0;          // tokens the draft proposed (k of this round)
  int64_t accepted = 0;         // of which the verifier kept this many
  double draft_seconds = 0.0;
  double verify_seconds = 0.0;  // verification and acceptance
  // The draft's top-1 probability per drafted token, when the policy asked
  // (DraftPolicy::record_top_p; the CPU drafter only), else empty.
  std::vector<float> draft_top_p;
  // The draft's top-1 minus top-2 logit per drafted token, when the policy
  // recorded it or a stop rule ran (the CPU drafter only), else empty.
  std::vector<float> draft_logit_gap;
};

class RoundRunner {
 public:
  virtual ~RoundRunner() = default;

  virtual absl::Status Prefill(const std::vector<int32_t>& prompt) = 0;
  // max_draft = 0 is plain decoding: one verifier step, one token. `stop`
  // (may be null) may end the draft before max_draft tokens, when
  // honours_stop_rule(); a runner that does not ignores it.
  virtual absl::StatusOr<RoundOutcome> Round(const std::vector<int32_t>& sequence, int64_t max_draft,
                                             const DraftStopRule* stop) = 0;
  virtual absl::Status Rollback(int64_t committed_length) = 0;
  // Bytes of the draft's KV cache (0 without a draft).
  virtual int64_t draft_kv_bytes() const = 0;
  // Rounds replayed as a recorded graph (CUDA graphs; 0 on the host).
  virtual int64_t graph_launches() const { return 0; }
  // Whether Round consults a DraftStopRule after each drafted token (the host
  // runner does; the CUDA runner drafts max_draft tokens inside its graph).
  virtual bool honours_stop_rule() const = 0;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_ROUND_RUNNER_H_
