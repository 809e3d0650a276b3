#include "engine/decoding/speculative_decoder.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/random.h"
#include "engine/status_macros.h"
#include "verify/acceptance.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

SpeculativeDecoder::SpeculativeDecoder(Model* model, DecodeParams params)
    : model_(model), params_(std::move(params)), full_(model->FullSlice()) {
  const int64_t k = params_.draft ? params_.policy.draft_max : 0;
  const int64_t capacity = params_.context_size + k + 1;
  target_cache_ = model_->NewKvCache(full_, capacity);
  if (params_.draft) {
    drafter_ = std::make_unique<Drafter>(model_, *params_.draft, capacity, params_.sampling, params_.seed);
  }
  const int64_t vocab = model_->vocab_size();
  logits_.resize((k + 1) * vocab);
  p_.resize((k + 1) * vocab);
  residual_.resize(vocab);
  scratch_.resize(vocab);
}

absl::StatusOr<std::vector<int32_t>> SpeculativeDecoder::Round(const std::vector<int32_t>& sequence,
                                                               int64_t budget, GenerationStats* stats) {
  const int64_t vocab = model_->vocab_size();
  const int64_t committed = static_cast<int64_t>(sequence.size());
  // Draft at most budget - 1 tokens: the round always adds one more of its own.
  proposal_.tokens.clear();
  proposal_.q.clear();
  if (drafter_ && budget > 1) {
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(drafter_->Propose(sequence, std::min(params_.policy.draft_max, budget - 1), params_.policy,
                                      &proposal_));
    stats->draft_seconds += Seconds(t0, Clock::now());
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
  args.logits = logits_.data();
  args.all_logits = true;
  RETURN_IF_ERROR(model_->Forward(args));
  for (int64_t i = 0; i <= k; ++i) {
    ProcessLogits(logits_.data() + i * vocab, vocab, params_.sampling, p_.data() + i * vocab, scratch_.data());
  }
  // Uniforms are keyed by the position of the token they decide.
  double accept_uniforms[kMaxDraft];
  double final_uniforms[kMaxDraft + 1];
  for (int64_t i = 0; i <= k; ++i) {
    if (i < k) accept_uniforms[i] = Uniform(params_.seed, committed + i, RandomStream::kAccept);
    final_uniforms[i] = Uniform(params_.seed, committed + i, RandomStream::kTarget);
  }
  AcceptanceParams ap;
  ap.greedy = params_.sampling.greedy();
  ap.k = k;
  ap.vocab = vocab;
  ap.draft_tokens = proposal_.tokens.data();
  ap.q = proposal_.q.data();
  ap.p = p_.data();
  ap.accept_uniforms = accept_uniforms;
  ap.final_uniforms = final_uniforms;
  ap.scratch = residual_.data();
  const AcceptanceResult r = Accept(ap);
  stats->verify_seconds += Seconds(t0, Clock::now());

  stats->rounds += 1;
  stats->drafted_tokens += k;
  stats->accepted_tokens += r.accepted;
  if (static_cast<int64_t>(stats->per_position_drafted.size()) < k) {
    stats->per_position_drafted.resize(k, 0);
    stats->per_position_accepted.resize(k, 0);
  }
  for (int64_t i = 0; i < k; ++i) {
    stats->per_position_drafted[i] += 1;
    if (i < r.accepted) stats->per_position_accepted[i] += 1;
  }

  std::vector<int32_t> out(proposal_.tokens.begin(), proposal_.tokens.begin() + r.accepted);
  out.push_back(r.next_token);
  return out;
}

absl::Status SpeculativeDecoder::Run(const std::vector<int32_t>& prompt, const TokenCallback& on_tokens,
                                     std::vector<int32_t>* tokens, GenerationStats* stats) {
  const int64_t plen = static_cast<int64_t>(prompt.size());
  if (plen < 1) return absl::InvalidArgumentError("the prompt is empty: at least one token is needed");
  if (plen >= params_.context_size) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", plen, " tokens but the context holds ",
                                              params_.context_size,
                                              "; it must leave room for at least one new token (--ctx-size)"));
  }
  if (params_.policy.draft_max > kMaxDraft) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-max must be <= ", kMaxDraft));
  }
  stats->prompt_tokens = plen;
  stats->draft_slice = params_.draft ? params_.draft->name : "";
  std::vector<int32_t> sequence = prompt;
  tokens->clear();

  // Prefill: every prompt token but the last enters the caches.
  const auto t_prefill = Clock::now();
  if (plen > 1) {
    ForwardArgs args;
    args.slice = &full_;
    args.tokens = prompt.data();
    args.t = plen - 1;
    args.kv = target_cache_.get();
    RETURN_IF_ERROR(model_->Forward(args));
    if (drafter_) RETURN_IF_ERROR(drafter_->Prefill(prompt));
  }
  const auto t_decode = Clock::now();
  stats->prefill_seconds = Seconds(t_prefill, t_decode);

  stats->stop_reason = "length";
  while (static_cast<int64_t>(tokens->size()) < params_.max_new_tokens) {
    const int64_t committed = static_cast<int64_t>(sequence.size());
    if (committed >= params_.context_size) {
      stats->stop_reason = "context";
      break;
    }
    const int64_t budget = std::min<int64_t>(params_.max_new_tokens - static_cast<int64_t>(tokens->size()),
                                             params_.context_size - committed);
    ASSIGN_OR_RETURN(std::vector<int32_t> fresh, Round(sequence, budget, stats));
    // Stop tokens end generation right after they are emitted.
    bool stop = false;
    for (size_t i = 0; i < fresh.size(); ++i) {
      if (std::find(params_.stop_tokens.begin(), params_.stop_tokens.end(), fresh[i]) !=
          params_.stop_tokens.end()) {
        fresh.resize(i + 1);
        stop = true;
        break;
      }
    }
    sequence.insert(sequence.end(), fresh.begin(), fresh.end());
    tokens->insert(tokens->end(), fresh.begin(), fresh.end());
    const int64_t new_length = static_cast<int64_t>(sequence.size());
    RETURN_IF_ERROR(target_cache_->Truncate(std::min(target_cache_->length(), new_length - 1)));
    if (drafter_) RETURN_IF_ERROR(drafter_->Rollback(new_length));
    if (stop) stats->stop_reason = "eos";
    if (on_tokens && !on_tokens(fresh)) {
      if (!stop) stats->stop_reason = "callback";
      break;
    }
    if (stop) break;
  }

  const auto t_end = Clock::now();
  stats->generated_tokens = static_cast<int64_t>(tokens->size());
  stats->decode_seconds = Seconds(t_decode, t_end);
  stats->tokens_per_second = stats->decode_seconds > 0 ? stats->generated_tokens / stats->decode_seconds : 0.0;
  stats->acceptance_rate =
      stats->drafted_tokens > 0 ? static_cast<double>(stats->accepted_tokens) / stats->drafted_tokens : 0.0;
  stats->mean_acceptance_length =
      stats->rounds > 0 ? 1.0 + static_cast<double>(stats->accepted_tokens) / stats->rounds : 0.0;
  stats->per_position_acceptance.assign(stats->per_position_drafted.size(), 0.0);
  for (size_t i = 0; i < stats->per_position_drafted.size(); ++i) {
    stats->per_position_acceptance[i] =
        static_cast<double>(stats->per_position_accepted[i]) / stats->per_position_drafted[i];
  }
  stats->draft_kv_bytes = drafter_ ? drafter_->cache_bytes() : 0;
  return absl::OkStatus();
}

}  // namespace matspec
