#include "decoding/speculative_decoder.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "decoding/cpu_round_runner.h"
#include "decoding/decode_loop.h"
#include "draft/adaptive_draft_length.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

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

AdaptiveDraftLength::Options AdaptiveOptions(const DecodeParams& params) {
  return AdaptiveDraftLength::Options{.min_k = params.policy.draft_min, .max_k = params.policy.draft_max};
}

SpeculativeDecoder::SpeculativeDecoder(const Model* model, DecodeParams params)
    : runner_(std::make_unique<CpuRoundRunner>(model, params.draft, params.policy, params.sampling, params.seed,
                                               RunnerCapacity(params))),
      params_(std::move(params)) {}

SpeculativeDecoder::SpeculativeDecoder(std::unique_ptr<RoundRunner> runner, DecodeParams params)
    : runner_(std::move(runner)), params_(std::move(params)) {}

absl::Status SpeculativeDecoder::Run(const std::vector<int32_t>& prompt, const TokenCallback& on_tokens,
                                     std::vector<int32_t>* tokens, GenerationStats* stats) {
  RETURN_IF_ERROR(DecodeLoop::CheckPrompt(params_, static_cast<int64_t>(prompt.size())));
  DecodeLoop loop(params_, prompt, stats, tokens);

  // Prefill: every prompt token but the last enters the caches.
  const auto t_prefill = Clock::now();
  RETURN_IF_ERROR(runner_->Prefill(prompt));
  const auto t_decode = Clock::now();
  stats->prefill_seconds = Seconds(t_prefill, t_decode);

  std::optional<SequenceDraftLength> adaptive;  // --draft-adaptive
  if (params_.draft && params_.adaptive_draft) adaptive.emplace(AdaptiveOptions(params_), params_.draft_memory);
  // A runner that can end a draft mid-round gets the confidence stop; the
  // others a k chosen per round.
  const bool stop_by_confidence = adaptive && runner_->honours_stop_rule();
  const DraftStopRule* stop = stop_by_confidence ? adaptive->stop_rule() : nullptr;
  auto next_k = [&] {
    if (!adaptive) return kMaxDraft;
    return stop_by_confidence ? adaptive->NextDraftCap() : adaptive->NextDraftLength();
  };
  // The estimator is told each round's whole wall time (since the previous
  // round was recorded), not only its timed draft and verification: the
  // bookkeeping between them is paid once per round, so it is a cost a plain
  // round pays per token and a long draft spreads out (bench/RESULTS.md §10.2.5).
  Clock::time_point last_round = t_decode;
  while (std::optional<int64_t> max_draft = loop.NextRound(next_k())) {
    ASSIGN_OR_RETURN(RoundOutcome round, runner_->Round(loop.sequence(), *max_draft, stop));
    if (adaptive) {
      const Clock::time_point now = Clock::now();
      const double rest = std::max(Seconds(last_round, now) - round.draft_seconds, 0.0);
      adaptive->Record(round.drafted, round.accepted, round.draft_seconds, rest, round.draft_logit_gap);
      last_round = now;
    }
    const std::vector<int32_t>& fresh = loop.Commit(std::move(round));
    RETURN_IF_ERROR(runner_->Rollback(loop.committed_length()));
    if (on_tokens && !on_tokens(fresh)) loop.StopBy("callback");
  }

  if (adaptive) adaptive->Finish();
  loop.Summarize(Seconds(t_decode, Clock::now()));
  stats->draft_kv_bytes = runner_->draft_kv_bytes();
  return absl::OkStatus();
}

}  // namespace matspec
