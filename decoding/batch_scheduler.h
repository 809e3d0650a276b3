// BatchScheduler: continuous batching with speculation, for a model whose
// ForwardBatch is one forward over every segment (Backend::batched_forward:
// the CPU; the CUDA models with LoadOptions::gpu_batching). It reaches
// the model only through Model (NewKvCache, ForwardBatch with host tokens and
// host logits, a ForwardScratch the GPU ignores), so it runs on either device.
// One thread advances every active request together, round by round:
//   1. admit queued requests, up to max_sequences active; a new request's
//      prompt enters its caches in chunks of prefill_chunk tokens, one per
//      round, inside the round's forwards (the verifier's chunk in the
//      verification forward, the drafter's in a forward per draft slice), so
//      a long prompt does not stall the requests already decoding;
//   2. size each sequence's round: DecodeLoop::NextRound, greedy requests
//      with the batch-aware cap on k (BatchDraftCap) unless switched off;
//   3. draft: the sequences that draft with the same slice step together,
//      one Model::ForwardBatch per draft step over those still drafting;
//   4. verify: ONE ForwardBatch of the full model over every sequence's
//      k_i + 1 tokens (weights read once for the whole batch, attention per
//      sequence over its own cache);
//   5. accept, commit, roll back, stream each sequence's tokens; those that
//      ended (stop token, length, context, cancel, callback, error) leave.
// Requests join and leave between rounds; each keeps its own slice, k,
// sampling options, seed and stop rules. ForwardBatch is bit-identical to
// each sequence alone and the uniforms are keyed by position, so every
// request gets the tokens it would get alone (greedy, and sampling with a
// seed).
//
// Lifetime: shared by the Engine and every Request handle it made; the last
// one to let go stops the thread (requests still queued or running end as
// "cancelled"; none can remain, as a dropped handle cancels its request).
#ifndef MATSPEC_DECODING_BATCH_SCHEDULER_H_
#define MATSPEC_DECODING_BATCH_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "decoding/engine_state.h"
#include "decoding/generation.h"
#include "decoding/request_core.h"

namespace matspec {

// The batch-aware cap on a round's draft length with `active` sequences in
// the batch. Speculation trades extra verification rows for fewer weight
// reads; once a batch's rows already fill the machine's arithmetic, extra
// rows cost more than the reads they save. The table follows the measurement
// of bench/RESULTS.md §8 (bench/batch_throughput.cc, 2-core CPU): kMaxDraft (no
// cap) alone, then smaller k as the batch grows, plain decoding beyond.
int64_t BatchDraftCap(int64_t active);

class BatchScheduler {
 public:
  struct Options {
    int64_t max_sequences = 16;     // active at once; more wait in the queue
    int64_t max_queue = 0;          // requests waiting at most (0: no limit)
    bool batch_aware_draft = true;  // cap k by BatchDraftCap
    int64_t prefill_chunk = 256;    // prompt tokens a request feeds per round while it prefills
  };

  BatchScheduler(std::shared_ptr<EngineState> state, Options options);
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Queues a validated generation; it starts at the next round with room.
  // The core receives its events and, once, its result. ResourceExhausted
  // (naming --max-queue) when max_queue requests already wait.
  absl::Status Enqueue(PreparedGeneration job, std::shared_ptr<RequestCore> core);

  // The thread that advances every request (callbacks run on it).
  std::thread::id thread_id() const { return thread_.get_id(); }

 private:
  struct Sequence;

  void Loop();
  // Admits queued requests while there is room; finishes cancelled ones.
  void Admit(std::vector<std::unique_ptr<Sequence>>* active);
  // One round of every active sequence; then removes the ended ones.
  void Round(std::vector<std::unique_ptr<Sequence>>* active);
  // The sequences with a drafter (and, with drafting_only, a draft this
  // round) grouped by draft slice.
  static std::vector<std::vector<Sequence*>> SliceGroups(const std::vector<Sequence*>& seqs, bool drafting_only);
  void Draft(const std::vector<Sequence*>& group);
  void PrefillDrafts(const std::vector<Sequence*>& group);
  // Whether the sequence's draft still has prompt tokens of its own to feed (a
  // draft that adopts the verifier's rows has none: it copies them before it drafts).
  static bool DraftPrefills(const Sequence& seq);
  void Verify(const std::vector<Sequence*>& running, const std::vector<Sequence*>& prefilling);
  void Finish(Sequence& seq);

  const std::shared_ptr<EngineState> state_;
  const Options options_;
  const SliceView full_;                     // the verifier's slice
  std::unique_ptr<ForwardScratch> scratch_;  // every forward of the thread

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> queue_;  // guarded by mu_
  bool stop_ = false;                            // guarded by mu_
  std::thread thread_;
};

}  // namespace matspec

#endif  // MATSPEC_DECODING_BATCH_SCHEDULER_H_
