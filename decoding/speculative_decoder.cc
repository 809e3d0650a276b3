#include "decoding/speculative_decoder.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "decoding/cpu_round_runner.h"
#include "draft/adaptive_draft_length.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

void Tally(const RoundOutcome& round, GenerationStats* stats) {
  stats->draft_seconds += round.draft_seconds;
  stats->verify_seconds += round.verify_seconds;
  stats->rounds += 1;
  stats->drafted_tokens += round.drafted;
  stats->accepted_tokens += round.accepted;
  if (static_cast<int64_t>(stats->per_position_drafted.size()) < round.drafted) {
    stats->per_position_drafted.resize(round.drafted, 0);
    stats->per_position_accepted.resize(round.drafted, 0);
  }
  for (int64_t i = 0; i < round.drafted; ++i) {
    stats->per_position_drafted[i] += 1;
    if (i < round.accepted) stats->per_position_accepted[i] += 1;
  }
}

}  // namespace

// Capacity: the context plus the longest draft and the bonus position.
int64_t RunnerCapacity(const DecodeParams& params) {
  return params.context_size + (params.draft ? params.policy.draft_max : 0) + 1;
}

void SummarizeStats(int64_t generated_tokens, double decode_seconds, GenerationStats* stats) {
  stats->generated_tokens = generated_tokens;
  stats->decode_seconds = decode_seconds;
  stats->tokens_per_second = decode_seconds > 0 ? generated_tokens / decode_seconds : 0.0;
  stats->acceptance_rate =
      stats->drafted_tokens > 0 ? static_cast<double>(stats->accepted_tokens) / stats->drafted_tokens : 0.0;
  stats->mean_acceptance_length =
      stats->rounds > 0 ? 1.0 + static_cast<double>(stats->accepted_tokens) / stats->rounds : 0.0;
  stats->per_position_acceptance.assign(stats->per_position_drafted.size(), 0.0);
  for (size_t i = 0; i < stats->per_position_drafted.size(); ++i) {
    stats->per_position_acceptance[i] =
        static_cast<double>(stats->per_position_accepted[i]) / stats->per_position_drafted[i];
  }
}

SpeculativeDecoder::SpeculativeDecoder(const Model* model, DecodeParams params)
    : runner_(std::make_unique<CpuRoundRunner>(model, params.draft, params.policy, params.sampling, params.seed,
                                               RunnerCapacity(params))),
      params_(std::move(params)) {}

SpeculativeDecoder::SpeculativeDecoder(std::unique_ptr<RoundRunner> runner, DecodeParams params)
    : runner_(std::move(runner)), params_(std::move(params)) {}

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
  RETURN_IF_ERROR(runner_->Prefill(prompt));
  const auto t_decode = Clock::now();
  stats->prefill_seconds = Seconds(t_prefill, t_decode);

  std::optional<AdaptiveDraftLength> adaptive;  // --draft-adaptive
  if (params_.draft && params_.adaptive_draft) {
    adaptive.emplace(AdaptiveDraftLength::Options{.min_k = params_.policy.draft_min, .max_k = params_.policy.draft_max});
  }
  stats->stop_reason = "length";
  while (static_cast<int64_t>(tokens->size()) < params_.max_new_tokens) {
    if (params_.cancel != nullptr && params_.cancel->load(std::memory_order_relaxed)) {
      stats->stop_reason = "cancelled";
      break;
    }
    const int64_t committed = static_cast<int64_t>(sequence.size());
    if (committed >= params_.context_size) {
      stats->stop_reason = "context";
      break;
    }
    const int64_t budget = std::min<int64_t>(params_.max_new_tokens - static_cast<int64_t>(tokens->size()),
                                             params_.context_size - committed);
    // Draft at most budget - 1 tokens: the round always adds one more of its own.
    const int64_t k = adaptive ? adaptive->NextDraftLength() : params_.policy.draft_max;
    const int64_t max_draft = params_.draft ? std::min(k, budget - 1) : 0;
    ASSIGN_OR_RETURN(RoundOutcome round, runner_->Round(sequence, max_draft));
    if (adaptive) adaptive->Record(round.drafted, round.accepted, round.draft_seconds, round.verify_seconds);
    Tally(round, stats);
    std::vector<int32_t>& fresh = round.tokens;
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
    RETURN_IF_ERROR(runner_->Rollback(new_length));
    if (stop) stats->stop_reason = "eos";
    if (on_tokens && !on_tokens(fresh)) {
      if (!stop) stats->stop_reason = "callback";
      break;
    }
    if (stop) break;
  }

  SummarizeStats(static_cast<int64_t>(tokens->size()), Seconds(t_decode, Clock::now()), stats);
  stats->draft_kv_bytes = runner_->draft_kv_bytes();
  return absl::OkStatus();
}

}  // namespace matspec
