#include "engine/decoding/cpu_round_runner.h"

#include <algorithm>
#include <chrono>

#include "engine/random.h"
#include "engine/status_macros.h"
#include "verify/acceptance.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

CpuRoundRunner::CpuRoundRunner(const Model* model, std::optional<SliceView> draft, const DraftPolicy& policy,
                               const SamplingConfig& sampling, uint64_t seed, int64_t capacity)
    : model_(model),
      forward_scratch_(model->NewScratch()),
      policy_(policy),
      sampling_(sampling),
      seed_(seed),
      full_(model->FullSlice()) {
  target_cache_ = model_->NewKvCache(full_, capacity);
  const int64_t k = draft ? policy_.draft_max : 0;
  if (draft) drafter_ = std::make_unique<Drafter>(model_, std::move(*draft), capacity, sampling_, seed_, forward_scratch_.get());
  const int64_t vocab = model_->vocab_size();
  logits_.resize((k + 1) * vocab);
  p_.resize((k + 1) * vocab);
  residual_.resize(vocab);
  scratch_.resize(vocab);
}

absl::Status CpuRoundRunner::Prefill(const std::vector<int32_t>& prompt) {
  if (prompt.size() < 2) return absl::OkStatus();
  ForwardArgs args;
  args.slice = &full_;
  args.tokens = prompt.data();
  args.t = static_cast<int64_t>(prompt.size()) - 1;
  args.kv = target_cache_.get();
  args.scratch = forward_scratch_.get();
  RETURN_IF_ERROR(model_->Forward(args));
  return drafter_ ? drafter_->Prefill(prompt) : absl::OkStatus();
}

absl::StatusOr<RoundOutcome> CpuRoundRunner::Round(const std::vector<int32_t>& sequence, int64_t max_draft) {
  const int64_t vocab = model_->vocab_size();
  const int64_t committed = static_cast<int64_t>(sequence.size());
  RoundOutcome out;
  proposal_.tokens.clear();
  proposal_.q.clear();
  if (drafter_ && max_draft > 0) {
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(drafter_->Propose(sequence, max_draft, policy_, &proposal_));
    out.draft_seconds = Seconds(t0, Clock::now());
  }
  const int64_t k = static_cast<int64_t>(proposal_.tokens.size());

  const auto t0 = Clock::now();
  verify_tokens_.assign(1, sequence.back());
  verify_tokens_.insert(verify_tokens_.end(), proposal_.tokens.begin(), proposal_.tokens.end());
  ForwardArgs args;
  args.slice = &full_;
  args.tokens = verify_tokens_.data();
  args.t = k + 1;
  args.kv = target_cache_.get();
  args.scratch = forward_scratch_.get();
  args.logits = logits_.data();
  args.all_logits = true;
  RETURN_IF_ERROR(model_->Forward(args));
  for (int64_t i = 0; i <= k; ++i) {
    ProcessLogits(logits_.data() + i * vocab, vocab, sampling_, p_.data() + i * vocab, scratch_.data());
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
  ap.draft_tokens = proposal_.tokens.data();
  ap.q = proposal_.q.data();
  ap.p = p_.data();
  ap.accept_uniforms = accept_uniforms;
  ap.final_uniforms = final_uniforms;
  ap.scratch = residual_.data();
  const AcceptanceResult r = Accept(ap);
  out.verify_seconds = Seconds(t0, Clock::now());

  out.drafted = k;
  out.accepted = r.accepted;
  out.tokens.assign(proposal_.tokens.begin(), proposal_.tokens.begin() + r.accepted);
  out.tokens.push_back(r.next_token);
  return out;
}

absl::Status CpuRoundRunner::Rollback(int64_t committed_length) {
  RETURN_IF_ERROR(target_cache_->Truncate(std::min(target_cache_->length(), committed_length - 1)));
  return drafter_ ? drafter_->Rollback(committed_length) : absl::OkStatus();
}

}  // namespace matspec
