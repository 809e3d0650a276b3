// SpeculativeDecoder: drives one generation. Each round the Drafter proposes
// up to k tokens with the draft slice, the full model verifies all k+1
// positions in ONE Forward, Accept() decides, and both KV caches roll back to
// the committed length. With speculation off it is plain decoding of the full
// model through the very same Forward. Owns the statistics.
//
// Cache protocol (both caches): the committed sequence s has length L and the
// caches hold at most s[0..L-2]; the last committed token is fed by the next
// forward. Positions are absolute indices into s.
#ifndef MATSPEC_ENGINE_DECODING_SPECULATIVE_DECODER_H_
#define MATSPEC_ENGINE_DECODING_SPECULATIVE_DECODER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "draft/draft_length_memory.h"
#include "draft/drafter.h"
#include "engine/model.h"
#include "engine/round_runner.h"
#include "kernels/logits.h"
#include "matspec/matspec.h"

namespace matspec {

struct DecodeParams {
  int64_t max_new_tokens = 0;
  int64_t context_size = 0;            // committed tokens may not exceed this
  SamplingConfig sampling;
  uint64_t seed = 0;
  std::optional<SliceView> draft;      // none: plain decoding
  DraftPolicy policy;
  // Each round's k from AdaptiveDraftLength (draft/adaptive_draft_length.h)
  // within [policy.draft_min, policy.draft_max] instead of draft_max.
  bool adaptive_draft = false;
  // With adaptive_draft: what earlier sequences of this draft configuration
  // learned (draft/draft_length_memory.h); null: this sequence learns alone.
  std::shared_ptr<DraftLengthMemory> draft_memory;
  std::vector<int32_t> stop_tokens;    // generation ends after emitting one of these
  // Set by another thread to stop before the next round (stop_reason
  // "cancelled"); null: never cancelled. Must outlive Run().
  const std::atomic<bool>* cancel = nullptr;
  // GenerationOptions::on_round; empty: none.
  std::function<void(const RoundRecord&)> on_round;
};

// The AdaptiveDraftLength options of a sequence with adaptive_draft.
AdaptiveDraftLength::Options AdaptiveOptions(const DecodeParams& params);

// Positions a round's caches must hold: the context, the longest draft and
// the bonus position.
int64_t RunnerCapacity(const DecodeParams& params);

// Fills the derived statistics (generated tokens, tokens/s, acceptance rate,
// mean acceptance length, per-position acceptance) from the running counts.
void SummarizeStats(int64_t generated_tokens, double decode_seconds, GenerationStats* stats);

// Receives newly committed tokens; returns false to stop.
using TokenCallback = std::function<bool(const std::vector<int32_t>& tokens)>;

class SpeculativeDecoder {
 public:
  // The CPU round (CpuRoundRunner) over `model`.
  SpeculativeDecoder(const Model* model, DecodeParams params);
  // Any backend's round; `runner` was built for the same params.
  SpeculativeDecoder(std::unique_ptr<RoundRunner> runner, DecodeParams params);

  // Generates after `prompt` (>= 1 token). Fills `tokens` and `stats`
  // (timings, counts, stop_reason). OutOfRange if the prompt does not leave
  // room for one new token in the context.
  absl::Status Run(const std::vector<int32_t>& prompt, const TokenCallback& on_tokens,
                   std::vector<int32_t>* tokens, GenerationStats* stats);

  const RoundRunner& runner() const { return *runner_; }

 private:
  std::unique_ptr<RoundRunner> runner_;
  DecodeParams params_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_DECODING_SPECULATIVE_DECODER_H_
