#include "draft/drafter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/finite_check.h"
#include "engine/random.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

// Probability of the most likely token under softmax(logits) at temperature 1.
float TopProbability(const float* logits, int64_t n) {
  float m = logits[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - m));
  return static_cast<float>(1.0 / sum);
}

// The largest logit minus the second largest (0 on a tie; a vocabulary with one
// finite logit: a large gap).
float TopTwoGap(const float* logits, int64_t n) {
  float first = -std::numeric_limits<float>::infinity(), second = first;
  for (int64_t i = 0; i < n; ++i) {
    const float v = logits[i];
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) {
      second = v;
    }
  }
  constexpr float kNoRunnerUp = 1e4f;
  return std::isfinite(second) ? first - second : kNoRunnerUp;
}

}  // namespace

Drafter::Drafter(const Model* model, SliceView slice, int64_t capacity, SamplingConfig sampling, uint64_t seed,
                 ForwardScratch* scratch)
    : model_(model),
      own_scratch_(scratch == nullptr ? model->NewScratch() : nullptr),
      scratch_forward_(scratch == nullptr ? own_scratch_.get() : scratch),
      slice_(std::move(slice)),
      cache_(model->NewKvCache(slice_, capacity)),
      sampling_(sampling),
      seed_(seed),
      logits_(model->vocab_size()),
      scratch_(model->vocab_size()) {}

absl::Status Drafter::Prefill(const std::vector<int32_t>& sequence) {
  const int64_t have = cache_->length();
  const int64_t want = static_cast<int64_t>(sequence.size()) - 1;
  if (want <= have) return absl::OkStatus();
  ForwardArgs args;
  args.slice = &slice_;
  args.tokens = sequence.data() + have;
  args.t = want - have;
  args.kv = cache_.get();
  args.scratch = scratch_forward_;
  return model_->Forward(args);
}

BatchSegment Drafter::NextPrefillChunk(const std::vector<int32_t>& sequence, int64_t max_tokens) {
  return matspec::NextPrefillChunk(sequence, cache_.get(), max_tokens);
}

absl::Status Drafter::Propose(const std::vector<int32_t>& sequence, int64_t max_tokens,
                              const DraftPolicy& policy, DraftProposal* out) {
  BeginProposal(sequence, max_tokens, policy, out);
  while (WantsForward()) {
    RETURN_IF_ERROR(model_->Forward(SegmentForward(slice_, NextForward(), scratch_forward_)));
    RETURN_IF_ERROR(FinishForward());
  }
  return absl::OkStatus();
}

void Drafter::BeginProposal(const std::vector<int32_t>& sequence, int64_t max_tokens, const DraftPolicy& policy,
                            DraftProposal* out) {
  out->tokens.clear();
  out->q.clear();
  out->top_p.clear();
  out->logit_gap.clear();
  const int64_t committed = static_cast<int64_t>(sequence.size());
  // The first forward catches up: it feeds every committed token the cache has not seen.
  step_ = Step{.wants_forward = max_tokens > 0,
               .index = 0,
               .committed = committed,
               .max_tokens = max_tokens,
               .policy = policy,
               .tokens = sequence.data() + cache_->length(),
               .t = committed - cache_->length(),
               .out = out};
}

BatchSegment Drafter::NextForward() {
  return BatchSegment{.tokens = step_.tokens, .t = step_.t, .kv = cache_.get(), .logits = logits_.data()};
}

absl::Status Drafter::FinishForward() {
  const int64_t vocab = model_->vocab_size();
  const int64_t i = step_.index;
  DraftProposal* out = step_.out;
  step_.wants_forward = false;  // until this step decides to go on
  // A reduced draft head writes -inf for the tokens it leaves out; NaN or +inf is never a proposal.
  if (absl::Status s = CheckLogitsFinite(logits_.data(), vocab, /*allow_negative_infinity=*/true, "the draft",
                                         step_.committed + i);
      !s.ok()) {
    // With adopted rows the draft read the full model's keys and values too: a
    // non-finite weight that only the full model reads can surface here first.
    return absl::Status(s.code(), absl::StrCat(s.message(), " [draft slice \"", slice_.name, "\"",
                                               adopted_ ? "; it attends to the full model's keys and values of "
                                                          "the tokens it did not draft (--draft-own-kv: its own)"
                                                        : "",
                                               "]"));
  }
  const bool wants_p = step_.policy.draft_p_min > 0.f || step_.policy.record_top_p;
  const float top_p = wants_p ? TopProbability(logits_.data(), vocab) : 0.f;
  if (i >= step_.policy.draft_min && step_.policy.draft_p_min > 0.f && top_p < step_.policy.draft_p_min) {
    return absl::OkStatus();
  }
  if (step_.policy.record_top_p) out->top_p.push_back(top_p);
  const DraftStopRule* stop = step_.policy.stop_rule;
  if (stop != nullptr || step_.policy.record_top_p) out->logit_gap.push_back(TopTwoGap(logits_.data(), vocab));
  out->q.resize((i + 1) * vocab);
  float* q = out->q.data() + i * vocab;
  ProcessLogits(logits_.data(), vocab, sampling_, q, scratch_.data());
  const int32_t token = sampling_.greedy()
                            ? Argmax(q, vocab)
                            : SampleFromWeights(q, vocab, Uniform(seed_, step_.committed + i, RandomStream::kDraft));
  out->tokens.push_back(token);
  if (i + 1 == step_.max_tokens) return absl::OkStatus();  // the last proposal need not enter the cache
  if (stop != nullptr && i + 1 >= step_.policy.draft_min && !stop->KeepDrafting(out->logit_gap.data(), i + 1)) {
    return absl::OkStatus();
  }
  step_.index = i + 1;
  step_.tokens = &out->tokens.back();
  step_.t = 1;
  step_.wants_forward = true;
  return absl::OkStatus();
}

absl::Status Drafter::AdoptRows(const KvCache& verifier_cache, int64_t committed_length) {
  const int64_t before = cache_->length();
  RETURN_IF_ERROR(CopyKvRows(verifier_cache, committed_length - 1, cache_.get()));
  adopted_ = adopted_ || cache_->length() > before;
  return absl::OkStatus();
}

absl::Status Drafter::Rollback(int64_t committed_length) {
  const int64_t keep = std::min(cache_->length(), committed_length - 1);
  return cache_->Truncate(std::max<int64_t>(keep, 0));
}

}  // namespace matspec
