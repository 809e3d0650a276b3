// Drafter: proposes the next tokens with a MatFormer slice of the verifier's
// own weights. It owns nothing but its KV cache bookkeeping: the Model and the
// weights are the verifier's, read through another SliceView.
//
// Cache protocol: the committed sequence s has length L; the draft cache holds
// some prefix of s[0..L-2]. Propose() first feeds the missing committed tokens
// (usually 1, or 2 after a fully accepted round) in one Forward, then drafts
// autoregressively. Rollback(L') after verification keeps only positions that
// are still part of the committed sequence.
#ifndef MATSPEC_DRAFT_DRAFTER_H_
#define MATSPEC_DRAFT_DRAFTER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "engine/draft_policy.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/slice_view.h"
#include "kernels/logits.h"

namespace matspec {

struct DraftProposal {
  std::vector<int32_t> tokens;  // [n] proposed tokens, n <= requested
  std::vector<float> q;         // [n, vocab] processed draft distributions
  std::vector<float> top_p;     // [n] the draft's top-1 probability per token (DraftPolicy::record_top_p)
  // [n] the draft's top-1 minus top-2 raw logit per token (with record_top_p
  // or a stop_rule; else empty): how sure the draft was.
  std::vector<float> logit_gap;
};

class Drafter {
 public:
  // `model` must outlive the drafter, and so must `scratch` (the sequence's
  // forward scratch from model->NewScratch(), shared with its verifier; null:
  // the drafter makes its own). The cache holds up to `capacity` positions.
  Drafter(const Model* model, SliceView slice, int64_t capacity, SamplingConfig sampling, uint64_t seed,
          ForwardScratch* scratch = nullptr);

  // Drafts up to `max_tokens` tokens continuing `sequence` (the committed tokens,
  // at least one). Token i of the proposal sits at position sequence.size() + i.
  absl::Status Propose(const std::vector<int32_t>& sequence, int64_t max_tokens, const DraftPolicy& policy,
                       DraftProposal* out);

  // The same proposal in steps, for a caller that runs the forwards of many
  // sequences together (decoding/batch_scheduler.h):
  //   BeginProposal(...);
  //   while (WantsForward()) { run NextForward() (with any other sequences'
  //                            segments, through slice()); FinishForward(); }
  // `sequence` and `out` must stay alive and unchanged until WantsForward()
  // is false. Propose() is exactly this with a forward of its own.
  void BeginProposal(const std::vector<int32_t>& sequence, int64_t max_tokens, const DraftPolicy& policy,
                     DraftProposal* out);
  bool WantsForward() const { return step_.wants_forward; }
  BatchSegment NextForward();
  // Reads the forward's logits: checks them, stops by the policy or samples
  // the next proposal. An error ends the proposal.
  absl::Status FinishForward();

  // Catches the cache up to s[0..L-2] (L = committed_length) by copying the
  // rows it lacks from `verifier_cache`, which must hold them
  // (DraftPolicy::adopt_verifier_kv; CopyKvRows in engine/kv_cache.h). The
  // next proposal then feeds only the last committed token.
  absl::Status AdoptRows(const KvCache& verifier_cache, int64_t committed_length);
  // Whether AdoptRows can work with `verifier_cache` (same cache layout).
  bool CanAdoptRows(const KvCache& verifier_cache) const { return CanCopyKvRows(verifier_cache, *cache_); }

  // Rolls the cache back to at most committed_length - 1 positions.
  absl::Status Rollback(int64_t committed_length);

  // Feeds s[0..L-2] ahead of the first round (prefill), so Propose only feeds the last token.
  absl::Status Prefill(const std::vector<int32_t>& sequence);
  // The same in chunks (see Verifier::NextPrefillChunk): the next at most
  // `max_tokens` tokens of s[0..L-2] the cache lacks; t == 0 once it has them.
  BatchSegment NextPrefillChunk(const std::vector<int32_t>& sequence, int64_t max_tokens);

  const SliceView& slice() const { return slice_; }
  const KvCache& cache() const { return *cache_; }
  int64_t cache_bytes() const { return cache_->bytes(); }
  int64_t cache_length() const { return cache_->length(); }

 private:
  const Model* model_;
  std::unique_ptr<ForwardScratch> own_scratch_;  // when the caller gave none
  ForwardScratch* scratch_forward_;
  SliceView slice_;
  std::unique_ptr<KvCache> cache_;
  bool adopted_ = false;  // AdoptRows has copied rows into the cache (named in a non-finite error)
  SamplingConfig sampling_;
  uint64_t seed_;
  std::vector<float> logits_;
  std::vector<int32_t> scratch_;
  // The proposal in progress (BeginProposal .. !WantsForward()).
  struct Step {
    bool wants_forward = false;
    int64_t index = 0;       // the proposal token the next forward's logits decide
    int64_t committed = 0;   // length of the committed sequence
    int64_t max_tokens = 0;
    DraftPolicy policy;
    const int32_t* tokens = nullptr;  // the next forward's input
    int64_t t = 0;
    DraftProposal* out = nullptr;
  } step_;
};

}  // namespace matspec

#endif  // MATSPEC_DRAFT_DRAFTER_H_
