// DraftLengthMemory: what the adaptive draft length (--draft-adaptive) of
// finished sequences learned, handed to the next sequence that drafts the same
// way. The cost side of the choice (seconds per drafted token, how
// verification time grows with k) belongs to the model, the slice and the
// machine, not to the text, and the slice's acceptance by position is a good
// first guess for any text; a sequence that learned both from zero spent its
// first rounds probing and its short life on noisy estimates (bench/RESULTS.md
// §10.2). So a new sequence starts from the memory as a prior, worth
// kSeedTimingRounds rounds of timing (with the confidence stop's calibration
// and measured rate) and kSeedAcceptanceRounds of acceptance by position, and
// probing plain runs as sparsely as the last sequence had learned to, and
// counting its plain run on from where the last one ended (ContinueProbing); when it
// ends, its rounds are folded in. The timing prior is heavy (several
// sequences' worth) because one sequence's ~20 round times on a noisy machine
// move by 1.5x and more: with 16 rounds the confidence stop trailed the best
// fixed k, with 64 it led it (bench/RESULTS.md §10.2.5).
//
// One memory per draft configuration (slice, draft head, k range, greedy or
// sampled), held by the Engine (DraftLengthMemories) and shared by its
// requests: thread-safe. The output never depends on it (any k is lossless).
#ifndef MATSPEC_DRAFT_DRAFT_LENGTH_MEMORY_H_
#define MATSPEC_DRAFT_DRAFT_LENGTH_MEMORY_H_

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "draft/adaptive_draft_length.h"

namespace matspec {

class DraftLengthMemory {
 public:
  static constexpr double kSeedTimingRounds = 64;
  static constexpr double kSeedAcceptanceRounds = 8;
  // The memory holds at most this many rounds: older sequences fade out, so it
  // follows a machine whose load changes.
  static constexpr double kMemoryRounds = 256;

  explicit DraftLengthMemory(AdaptiveDraftLength::Options options);

  // A new sequence's estimator: `options` (which must draft the same k range)
  // seeded with what the memory holds (nothing yet: a fresh estimator).
  AdaptiveDraftLength Start() const;
  // Folds a finished sequence's estimates in.
  void Learn(const AdaptiveDraftLength& finished);
  // Weighted rounds the memory holds (for tests and reports).
  double weight() const;

 private:
  const AdaptiveDraftLength::Options options_;
  mutable std::mutex mutex_;
  AdaptiveDraftLength learned_;  // guarded by mutex_
};

// One sequence's adaptive draft length: chooses k from its rounds on top of
// the memory's prior (when it has a memory), and at the end gives the memory
// its own rounds only (the prior is not counted twice).
class SequenceDraftLength {
 public:
  // memory may be null: the sequence then learns alone, from zero.
  SequenceDraftLength(AdaptiveDraftLength::Options options, std::shared_ptr<DraftLengthMemory> memory);

  // The next round's k, chosen per round (for a runner without stop rules) ...
  int64_t NextDraftLength() const { return choice_.NextDraftLength(); }
  // ... or its cap, with stop_rule() ending each draft by the draft's
  // confidence (AdaptiveDraftLength's confidence stop; for runners that
  // honour one). The rule lives as long as this object.
  int64_t NextDraftCap() const { return choice_.NextDraftCap(); }
  const DraftStopRule* stop_rule() const { return &choice_; }
  void Record(int64_t drafted, int64_t accepted, double draft_seconds, double verify_seconds,
              std::span<const float> gaps = {});
  // Hands the sequence's rounds to the memory (once; later calls do nothing).
  void Finish();
  const AdaptiveDraftLength& estimates() const { return choice_; }

 private:
  std::shared_ptr<DraftLengthMemory> memory_;
  AdaptiveDraftLength choice_;  // seeded: what NextDraftLength decides from
  AdaptiveDraftLength own_;     // this sequence's rounds alone
  bool finished_ = false;
};

// The memories of one engine, one per draft configuration key. Thread-safe;
// a memory, once made, lives as long as the engine.
class DraftLengthMemories {
 public:
  // The memory for `key` (a string naming the draft configuration), made on
  // first use with `options`.
  std::shared_ptr<DraftLengthMemory> For(const std::string& key, AdaptiveDraftLength::Options options);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<DraftLengthMemory>> memories_;  // guarded by mutex_
};

}  // namespace matspec

#endif  // MATSPEC_DRAFT_DRAFT_LENGTH_MEMORY_H_
