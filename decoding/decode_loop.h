// DecodeLoop: the bookkeeping of one generation between its rounds, shared by
// the one-sequence SpeculativeDecoder and the batching scheduler
// (decoding/batch_scheduler.h), so both stop, count and cut the same way:
// it sizes each round (the token budget, the context, k), commits a round's
// tokens (cut right after a stop token), and keeps the committed sequence,
// the generated tokens, the statistics and the stop reason.
//
// Use: CheckPrompt; then while (auto k = NextRound(cap)) { run a round
// drafting at most *k tokens; Commit(outcome); roll the caches back to
// committed_length(); stream the fresh tokens }; Summarize.
#ifndef MATSPEC_DECODING_DECODE_LOOP_H_
#define MATSPEC_DECODING_DECODE_LOOP_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "decoding/speculative_decoder.h"
#include "engine/round_runner.h"
#include "matspec/matspec.h"

namespace matspec {

class DecodeLoop {
 public:
  // InvalidArgument for an empty prompt or a draft longer than kMaxDraft;
  // OutOfRange for a prompt that leaves no room for a new token.
  static absl::Status CheckPrompt(const DecodeParams& params, int64_t prompt_length);

  // `params`, `stats` and `tokens` must outlive the loop; `tokens` is cleared.
  DecodeLoop(const DecodeParams& params, const std::vector<int32_t>& prompt, GenerationStats* stats,
             std::vector<int32_t>* tokens);

  // The most tokens the next round may draft (0: a plain step), at most
  // `draft_cap` (the scheduler's batch-aware cap; kMaxDraft: none); nullopt
  // once generation has ended, with the stop reason set ("eos", "length",
  // "context", "cancelled" when params.cancel is set, or what StopBy gave).
  std::optional<int64_t> NextRound(int64_t draft_cap = kMaxDraft);

  // Tallies the round and commits its tokens, cut right after a stop token
  // (stop reason "eos"). Returns the committed ones.
  const std::vector<int32_t>& Commit(RoundOutcome round);

  // Ends generation with `reason` unless it has already ended.
  void StopBy(const std::string& reason);

  bool ended() const { return ended_; }
  int64_t committed_length() const { return static_cast<int64_t>(sequence_.size()); }
  const std::vector<int32_t>& sequence() const { return sequence_; }

  // Fills the derived statistics for `decode_seconds` of decoding.
  void Summarize(double decode_seconds);

 private:
  const DecodeParams& params_;
  GenerationStats* stats_;
  std::vector<int32_t>* tokens_;
  std::vector<int32_t> sequence_;  // prompt + generated
  std::vector<int32_t> fresh_;     // the last round's committed tokens
  bool ended_ = false;
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> round_clock_;  // the last round's end (RoundRecord::round_seconds)
};

}  // namespace matspec

#endif  // MATSPEC_DECODING_DECODE_LOOP_H_
