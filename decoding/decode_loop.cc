#include "decoding/decode_loop.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace matspec {
namespace {

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

absl::Status DecodeLoop::CheckPrompt(const DecodeParams& params, int64_t prompt_length) {
  if (prompt_length < 1) return absl::InvalidArgumentError("the prompt is empty: at least one token is needed");
  if (prompt_length >= params.context_size) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt_length, " tokens but the context holds ",
                                              params.context_size,
                                              "; it must leave room for at least one new token (--ctx-size)"));
  }
  if (params.policy.draft_max > kMaxDraft) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-max must be <= ", kMaxDraft));
  }
  return absl::OkStatus();
}

DecodeLoop::DecodeLoop(const DecodeParams& params, const std::vector<int32_t>& prompt, GenerationStats* stats,
                       std::vector<int32_t>* tokens)
    : params_(params), stats_(stats), tokens_(tokens), sequence_(prompt) {
  tokens_->clear();
  stats_->prompt_tokens = static_cast<int64_t>(prompt.size());
  stats_->draft_slice = params.draft ? params.draft->name : "";
  stats_->stop_reason = "length";
}

std::optional<int64_t> DecodeLoop::NextRound(int64_t draft_cap) {
  if (ended_) return std::nullopt;
  const int64_t generated = static_cast<int64_t>(tokens_->size());
  if (generated >= params_.max_new_tokens) {
    StopBy("length");
    return std::nullopt;
  }
  if (params_.cancel != nullptr && params_.cancel->load(std::memory_order_relaxed)) {
    StopBy("cancelled");
    return std::nullopt;
  }
  const int64_t committed = committed_length();
  if (committed >= params_.context_size) {
    StopBy("context");
    return std::nullopt;
  }
  if (!round_clock_) round_clock_ = Clock::now();
  const int64_t budget = std::min(params_.max_new_tokens - generated, params_.context_size - committed);
  // Draft at most budget - 1 tokens: the round always adds one more of its own.
  if (!params_.draft) return 0;
  return std::max<int64_t>(0, std::min({params_.policy.draft_max, budget - 1, draft_cap}));
}

const std::vector<int32_t>& DecodeLoop::Commit(RoundOutcome round) {
  if (params_.on_round) {
    const Clock::time_point now = Clock::now();
    params_.on_round(RoundRecord{
        .round = stats_->rounds,
        .position = committed_length(),
        .drafted = round.drafted,
        .accepted = round.accepted,
        .draft_seconds = round.draft_seconds,
        .verify_seconds = round.verify_seconds,
        .round_seconds = round_clock_ ? std::chrono::duration<double>(now - *round_clock_).count() : 0.0,
        .draft_top_p = round.draft_top_p,
        .draft_logit_gap = round.draft_logit_gap,
    });
    round_clock_ = now;
  }
  Tally(round, stats_);
  fresh_ = std::move(round.tokens);
  // Stop tokens end generation right after they are emitted.
  for (size_t i = 0; i < fresh_.size(); ++i) {
    if (std::find(params_.stop_tokens.begin(), params_.stop_tokens.end(), fresh_[i]) != params_.stop_tokens.end()) {
      fresh_.resize(i + 1);
      StopBy("eos");
      break;
    }
  }
  sequence_.insert(sequence_.end(), fresh_.begin(), fresh_.end());
  tokens_->insert(tokens_->end(), fresh_.begin(), fresh_.end());
  return fresh_;
}

void DecodeLoop::StopBy(const std::string& reason) {
  if (ended_) return;
  ended_ = true;
  stats_->stop_reason = reason;
}

void DecodeLoop::Summarize(double decode_seconds) {
  SummarizeStats(static_cast<int64_t>(tokens_->size()), decode_seconds, stats_);
}

}  // namespace matspec
