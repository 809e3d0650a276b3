#include "verify/verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/finite_check.h"
#include "engine/random.h"
#include "engine/round_runner.h"
#include "engine/status_macros.h"

namespace matspec {

Verifier::Verifier(const Model* model, int64_t capacity, int64_t max_draft, SamplingConfig sampling, uint64_t seed,
                   ForwardScratch* scratch)
    : model_(model),
      own_scratch_(scratch == nullptr ? model->NewScratch() : nullptr),
      scratch_(scratch == nullptr ? own_scratch_.get() : scratch),
      full_(model->FullSlice()),
      cache_(model->NewKvCache(full_, capacity)),
      max_draft_(std::min(max_draft, kMaxDraft)),
      sampling_(sampling),
      seed_(seed),
      logits_((max_draft_ + 1) * model->vocab_size()),
      p_((max_draft_ + 1) * model->vocab_size()),
      residual_(model->vocab_size()),
      sort_scratch_(model->vocab_size()) {}

absl::Status Verifier::Prefill(const std::vector<int32_t>& prompt) {
  if (prompt.size() < 2) return absl::OkStatus();
  ForwardArgs args;
  args.slice = &full_;
  args.tokens = prompt.data();
  args.t = static_cast<int64_t>(prompt.size()) - 1;
  args.kv = cache_.get();
  args.scratch = scratch_;
  return model_->Forward(args);
}

BatchSegment Verifier::NextPrefillChunk(const std::vector<int32_t>& prompt, int64_t max_tokens) {
  return matspec::NextPrefillChunk(prompt, cache_.get(), max_tokens);
}

absl::StatusOr<AcceptanceResult> Verifier::Verify(const std::vector<int32_t>& sequence,
                                                  const std::vector<int32_t>& draft_tokens,
                                                  const std::vector<float>& q) {
  ASSIGN_OR_RETURN(const BatchSegment g, BeginVerify(sequence, draft_tokens, q));
  RETURN_IF_ERROR(model_->Forward(SegmentForward(full_, g, scratch_)));
  return FinishVerify();
}

absl::StatusOr<BatchSegment> Verifier::BeginVerify(const std::vector<int32_t>& sequence,
                                                   const std::vector<int32_t>& draft_tokens,
                                                   const std::vector<float>& q) {
  const int64_t vocab = model_->vocab_size();
  const int64_t committed = static_cast<int64_t>(sequence.size());
  const int64_t k = static_cast<int64_t>(draft_tokens.size());
  draft_tokens_ = nullptr;
  if (committed < 1) return absl::InvalidArgumentError("Verify: the committed sequence is empty");
  if (k > max_draft_) {
    return absl::InvalidArgumentError(absl::StrCat("Verify: ", k, " draft tokens; at most ", max_draft_));
  }
  if (!sampling_.greedy() && static_cast<int64_t>(q.size()) < k * vocab) {
    return absl::InvalidArgumentError("Verify: sampling needs the draft distributions q of every draft token");
  }
  tokens_.assign(1, sequence.back());
  tokens_.insert(tokens_.end(), draft_tokens.begin(), draft_tokens.end());
  committed_ = committed;
  draft_tokens_ = &draft_tokens;
  q_ = &q;
  return BatchSegment{
      .tokens = tokens_.data(), .t = k + 1, .kv = cache_.get(), .logits = logits_.data(), .all_logits = true};
}

absl::StatusOr<AcceptanceResult> Verifier::FinishVerify() {
  if (draft_tokens_ == nullptr) return absl::FailedPreconditionError("FinishVerify without BeginVerify");
  const int64_t vocab = model_->vocab_size();
  const int64_t committed = committed_;
  const std::vector<int32_t>& draft_tokens = *draft_tokens_;
  const std::vector<float>& q = *q_;
  const int64_t k = static_cast<int64_t>(draft_tokens.size());
  draft_tokens_ = nullptr;
  for (int64_t i = 0; i <= k; ++i) {  // row i predicts the token at position committed + i
    RETURN_IF_ERROR(CheckLogitsFinite(logits_.data() + i * vocab, vocab, /*allow_negative_infinity=*/false,
                                      "the full model", committed + i));
  }
  for (int64_t i = 0; i <= k; ++i) {
    ProcessLogits(logits_.data() + i * vocab, vocab, sampling_, p_.data() + i * vocab, sort_scratch_.data());
  }
  // Uniforms are keyed by the position of the token they decide.
  double accept_uniforms[kMaxDraft];
  double final_uniforms[kMaxDraft + 1];
  for (int64_t i = 0; i <= k; ++i) {
    if (i < k) accept_uniforms[i] = Uniform(seed_, committed + i, RandomStream::kAccept);
    final_uniforms[i] = Uniform(seed_, committed + i, RandomStream::kTarget);
  }
  AcceptanceParams ap;
  ap.greedy = sampling_.greedy();
  ap.k = k;
  ap.vocab = vocab;
  ap.draft_tokens = draft_tokens.data();
  ap.q = q.empty() ? nullptr : q.data();
  ap.p = p_.data();
  ap.accept_uniforms = accept_uniforms;
  ap.final_uniforms = final_uniforms;
  ap.scratch = residual_.data();
  return Accept(ap);
}

absl::Status Verifier::Rollback(int64_t committed_length) {
  return cache_->Truncate(std::max<int64_t>(0, std::min(cache_->length(), committed_length - 1)));
}

}  // namespace matspec
