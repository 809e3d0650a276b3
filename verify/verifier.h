// Verifier: the verification side of one sequence's speculation round on the
// host. It owns the full model's KV cache and runs the pass that decides a
// round: ONE forward of the full model over [last committed token, d_1..d_k]
// (k+1 positions), the processed target distributions p_1..p_{k+1}, the
// uniforms keyed by position (engine/random.h) and Accept(). The Drafter
// (draft/drafter.h) proposes; the Verifier decides; the round runner
// (decoding/) only sequences the two and keeps time.
//
// Cache protocol (as the Drafter's): the committed sequence s has length L;
// after Rollback(L) the cache holds at most s[0..L-2]; Verify feeds the rest.
#ifndef MATSPEC_VERIFY_VERIFIER_H_
#define MATSPEC_VERIFY_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/slice_view.h"
#include "kernels/logits.h"
#include "verify/acceptance.h"

namespace matspec {

class Verifier {
 public:
  // `model` and `scratch` (the sequence's forward scratch; null: its own) must
  // outlive the verifier. The cache holds up to `capacity` positions; rounds
  // verify at most `max_draft` drafted tokens.
  Verifier(const Model* model, int64_t capacity, int64_t max_draft, SamplingConfig sampling, uint64_t seed,
           ForwardScratch* scratch = nullptr);

  // Feeds s[0..L-2] of the prompt s (nothing for a prompt of one token).
  absl::Status Prefill(const std::vector<int32_t>& prompt);
  // The same in chunks, for a caller that batches them with other sequences'
  // forwards: the next at most `max_tokens` prompt tokens the cache lacks (no
  // logits); t == 0 once the cache holds s[0..L-2].
  BatchSegment NextPrefillChunk(const std::vector<int32_t>& prompt, int64_t max_tokens);

  // Verifies the draft tokens (with their processed draft distributions q,
  // [tokens.size(), vocab]; unused under greedy) proposed after `sequence`:
  // one forward of the full model over sequence.back() and the draft, then
  // the acceptance rule. At most max_draft tokens.
  absl::StatusOr<AcceptanceResult> Verify(const std::vector<int32_t>& sequence,
                                          const std::vector<int32_t>& draft_tokens, const std::vector<float>& q);

  // The same in two steps, for a caller that runs the verification forwards
  // of many sequences as one (decoding/batch_scheduler.h): BeginVerify checks
  // the request and returns this sequence's segment of the full model's
  // forward; after that forward ran, FinishVerify decides. `draft_tokens` and
  // `q` must stay alive and unchanged in between. Verify() is exactly this
  // with a forward of its own.
  absl::StatusOr<BatchSegment> BeginVerify(const std::vector<int32_t>& sequence,
                                           const std::vector<int32_t>& draft_tokens, const std::vector<float>& q);
  absl::StatusOr<AcceptanceResult> FinishVerify();

  const SliceView& full_slice() const { return full_; }

  // Cuts the cache back to at most committed_length - 1 positions.
  absl::Status Rollback(int64_t committed_length);

  const KvCache& cache() const { return *cache_; }

 private:
  const Model* model_;
  std::unique_ptr<ForwardScratch> own_scratch_;  // when the caller gave none
  ForwardScratch* scratch_;
  SliceView full_;
  std::unique_ptr<KvCache> cache_;
  int64_t max_draft_;
  SamplingConfig sampling_;
  uint64_t seed_;
  std::vector<float> logits_;    // [k+1, vocab]
  std::vector<float> p_;         // [k+1, vocab]
  std::vector<float> residual_;  // [vocab]
  std::vector<int32_t> sort_scratch_;  // [vocab], ProcessLogits
  std::vector<int32_t> tokens_;  // the k+1 tokens of the pass
  // The pass in progress (BeginVerify .. FinishVerify).
  int64_t committed_ = 0;
  const std::vector<int32_t>* draft_tokens_ = nullptr;
  const std::vector<float>* q_ = nullptr;
};

}  // namespace matspec

#endif  // MATSPEC_VERIFY_VERIFIER_H_
