#include "draft/draft_length_memory.h"

#include <utility>

namespace matspec {

DraftLengthMemory::DraftLengthMemory(AdaptiveDraftLength::Options options)
    : options_(options), learned_(options) {}

AdaptiveDraftLength DraftLengthMemory::Start() const {
  AdaptiveDraftLength fresh(options_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (learned_.weight() > 0) fresh.Absorb(learned_, kSeedTimingRounds, kSeedAcceptanceRounds);
  return fresh;
}

void DraftLengthMemory::Learn(const AdaptiveDraftLength& finished) {
  std::lock_guard<std::mutex> lock(mutex_);
  AdaptiveDraftLength next(options_);
  // The old memory, capped, then the new sequence at its full weight.
  next.Absorb(learned_, kMemoryRounds, kMemoryRounds);
  next.Absorb(finished, kMemoryRounds, kMemoryRounds);
  learned_ = next;
}

double DraftLengthMemory::weight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return learned_.weight();
}

SequenceDraftLength::SequenceDraftLength(AdaptiveDraftLength::Options options,
                                         std::shared_ptr<DraftLengthMemory> memory)
    : memory_(std::move(memory)),
      choice_(memory_ != nullptr ? memory_->Start() : AdaptiveDraftLength(options)),
      own_(options) {
  own_.ContinueProbing(choice_);  // so that the memory learns where probing stands at the end
}

void SequenceDraftLength::Record(int64_t drafted, int64_t accepted, double draft_seconds, double verify_seconds,
                                 std::span<const float> gaps) {
  // One clip for both, by the seeded estimator's expectations (the sequence's own are few and noisy).
  choice_.ClipInterrupted(drafted, &draft_seconds, &verify_seconds);
  choice_.RecordAsMeasured(drafted, accepted, draft_seconds, verify_seconds, gaps);
  own_.RecordAsMeasured(drafted, accepted, draft_seconds, verify_seconds, gaps);
}

void SequenceDraftLength::Finish() {
  if (finished_ || memory_ == nullptr) return;
  finished_ = true;
  if (own_.weight() > 0) memory_->Learn(own_);
}

std::shared_ptr<DraftLengthMemory> DraftLengthMemories::For(const std::string& key,
                                                            AdaptiveDraftLength::Options options) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::shared_ptr<DraftLengthMemory>& m = memories_[key];
  if (m == nullptr) m = std::make_shared<DraftLengthMemory>(options);
  return m;
}

}  // namespace matspec
