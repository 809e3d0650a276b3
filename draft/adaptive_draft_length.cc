#include "draft/adaptive_draft_length.h"

#include <algorithm>
#include <iterator>

namespace matspec {
namespace {

// Upper edges of the logit-gap buckets (nats); the last bucket is everything
// above the last edge. Acceptance climbs steeply over the first few
// (bench/RESULTS.md §10.2.5), so they are narrow there.
constexpr float kGapEdges[] = {0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 0.75f, 1.0f, 1.5f, 2.0f, 3.0f};
constexpr size_t kGapBuckets = std::size(kGapEdges) + 1;

// Rounds that took more than this times their expected time were interrupted
// (Record), once the estimates rest on this many rounds.
constexpr double kInterruptedRound = 2.0;
constexpr double kRoundsBeforeClipping = 8.0;
// The longest run of plain rounds between two probes (NextDraftCap).
constexpr int64_t kMaxProbeInterval = 128;

size_t GapBucket(float gap) {
  return static_cast<size_t>(std::upper_bound(std::begin(kGapEdges), std::end(kGapEdges), gap) -
                             std::begin(kGapEdges));
}

}  // namespace

AdaptiveDraftLength::AdaptiveDraftLength(Options options) : options_(options) {
  options_.min_k = std::max<int64_t>(options_.min_k, options_.draft_cost > 0.0 ? 1 : 0);
  options_.max_k = std::max({options_.max_k, options_.min_k, int64_t{1}});
  if (!(options_.decay > 0.0 && options_.decay <= 1.0)) options_.decay = 1.0;
  options_.prior_weight = std::max(options_.prior_weight, 0.0);
  reached_.assign(options_.max_k, 0.0);
  passed_.assign(options_.max_k, 0.0);
  rounds_at_k_.assign(options_.max_k + 1, 0.0);
  verify_at_k_.assign(options_.max_k + 1, 0.0);
  if (!(options_.stop_margin > 0.0)) options_.stop_margin = 1.0;
  if (!(options_.plain_margin > 0.0)) options_.plain_margin = 1.0;
  gap_reached_.assign(kGapBuckets, 0.0);
  gap_passed_.assign(kGapBuckets, 0.0);
  probe_interval_ = options_.probe_every;
  RefreshRoundTimes();
}

void AdaptiveDraftLength::ClipInterrupted(int64_t drafted, double* draft_seconds, double* verify_seconds) const {
  *draft_seconds = std::max(*draft_seconds, 0.0);
  *verify_seconds = std::max(*verify_seconds, 0.0);
  if (options_.draft_cost > 0.0 || n_ < kRoundsBeforeClipping) return;
  drafted = std::clamp<int64_t>(drafted, 0, options_.max_k);
  // round_time_ charges the catch-up a round leaves; this round paid for the tokens it missed.
  const double catch_up = drafted > 0 ? CatchUpSeconds() * static_cast<double>(missed_) : 0.0;
  const double expected = round_time_[drafted] + catch_up, took = *draft_seconds + *verify_seconds;
  if (expected > 0 && took > kInterruptedRound * expected) {
    const double scale = kInterruptedRound * expected / took;
    *draft_seconds *= scale;
    *verify_seconds *= scale;
  }
}

void AdaptiveDraftLength::Record(int64_t drafted, int64_t accepted, double draft_seconds,
                                 double verify_seconds, std::span<const float> gaps) {
  ClipInterrupted(drafted, &draft_seconds, &verify_seconds);
  RecordAsMeasured(drafted, accepted, draft_seconds, verify_seconds, gaps);
}

void AdaptiveDraftLength::RecordAsMeasured(int64_t drafted, int64_t accepted, double draft_seconds,
                                           double verify_seconds, std::span<const float> gaps) {
  drafted = std::clamp<int64_t>(drafted, 0, options_.max_k);
  accepted = std::clamp<int64_t>(accepted, 0, drafted);
  draft_seconds = std::max(draft_seconds, 0.0);
  verify_seconds = std::max(verify_seconds, 0.0);
  const double w = options_.decay;
  // Acceptance fades with drafting rounds only: a plain round tells nothing
  // about it, and fading it there drew the estimates towards the prior (1/2)
  // during a plain run until drafting looked too poor to try again (at 1
  // thread quarter's adaptive row drafted 0.2 tokens a round where k = 1
  // gained 4 %, bench/RESULTS.md §10.2.10).
  const double wa = drafted > 0 ? w : 1.0;
  for (size_t i = 0; i < reached_.size(); ++i) {
    reached_[i] *= wa;
    passed_[i] *= wa;
  }
  // Positions 1..accepted were reached and passed; position accepted+1 (if drafted) was reached and failed.
  for (int64_t i = 0; i < std::min(drafted, accepted + 1); ++i) {
    reached_[i] += 1.0;
    if (i < accepted) passed_[i] += 1.0;
  }
  drafted_weight_ = drafted_weight_ * w + drafted;
  draft_seconds_ = draft_seconds_ * w + draft_seconds;
  sum_dkk_ *= w, sum_dkm_ *= w, sum_dmm_ *= w, sum_dks_ *= w, sum_dms_ *= w;
  if (drafted > 0) {
    const double dk = static_cast<double>(drafted), dm = static_cast<double>(missed_);
    const double s = draft_seconds;
    sum_dkk_ += dk * dk, sum_dkm_ += dk * dm, sum_dmm_ += dm * dm, sum_dks_ += dk * s, sum_dms_ += dm * s;
    // After a fully accepted round the draft lacks its own last token as well.
    missed_ = accepted == drafted ? 1 : 0;
  } else {
    ++missed_;  // a plain round: one more committed token the draft has not seen
  }
  const double k = static_cast<double>(drafted), t = verify_seconds;
  n_ = n_ * w + 1.0;
  sum_k_ = sum_k_ * w + k;
  sum_kk_ = sum_kk_ * w + k * k;
  sum_t_ = sum_t_ * w + t;
  sum_kt_ = sum_kt_ * w + k * t;
  for (size_t i = 0; i < rounds_at_k_.size(); ++i) {
    rounds_at_k_[i] *= w;
    verify_at_k_[i] *= w;
  }
  rounds_at_k_[drafted] += 1.0;
  verify_at_k_[drafted] += t;
  for (size_t b = 0; b < kGapBuckets; ++b) {
    gap_reached_[b] *= wa;
    gap_passed_[b] *= wa;
  }
  const int64_t seen = std::min<int64_t>({drafted, accepted + 1, static_cast<int64_t>(gaps.size())});
  for (int64_t i = 0; i < seen; ++i) {
    const size_t b = GapBucket(gaps[i]);
    gap_reached_[b] += 1.0;
    if (i < accepted) gap_passed_[b] += 1.0;
  }
  const double round_time = options_.draft_cost > 0.0
                                ? drafted * options_.draft_cost + 1.0
                                : draft_seconds + verify_seconds;
  rate_tokens_ = rate_tokens_ * w + static_cast<double>(accepted + 1);
  rate_time_ = rate_time_ * w + round_time;
  if (drafted > 0) {
    if (options_.probe_every > 0 && plain_run_ >= probe_interval_) {
      // A probe: on trial until the rule has drafted probe_every rounds in a row after it.
      on_trial_ = true;
      drafting_run_ = 0;
    } else if (++drafting_run_ >= options_.probe_every) {
      // Drafting has held: probing goes back to its base interval.
      on_trial_ = false;
      probe_interval_ = options_.probe_every;
    }
  } else {
    // A probe after which the rule turned plain again before drafting had held
    // did not make drafting pay: wait twice as long before the next.
    if (on_trial_) set_probe_interval(2 * probe_interval_);
    on_trial_ = false;
    drafting_run_ = 0;
  }
  plain_run_ = drafted == 0 ? plain_run_ + 1 : 0;
  ++rounds_;
  RefreshRoundTimes();
}

void AdaptiveDraftLength::Absorb(const AdaptiveDraftLength& other, double timing_rounds,
                                 double acceptance_rounds) {
  const double t = other.n_ > 0 ? std::min(1.0, std::max(timing_rounds, 0.0) / other.n_) : 0.0;
  const double first_position = other.reached_.empty() ? 0.0 : other.reached_[0];
  const double a = first_position > 0 ? std::min(1.0, std::max(acceptance_rounds, 0.0) / first_position) : 0.0;
  for (size_t i = 0; i < std::min(reached_.size(), other.reached_.size()); ++i) {
    reached_[i] += a * other.reached_[i];
    passed_[i] += a * other.passed_[i];
  }
  drafted_weight_ += t * other.drafted_weight_;
  draft_seconds_ += t * other.draft_seconds_;
  sum_dkk_ += t * other.sum_dkk_;
  sum_dkm_ += t * other.sum_dkm_;
  sum_dmm_ += t * other.sum_dmm_;
  sum_dks_ += t * other.sum_dks_;
  sum_dms_ += t * other.sum_dms_;
  n_ += t * other.n_;
  sum_k_ += t * other.sum_k_;
  sum_kk_ += t * other.sum_kk_;
  sum_t_ += t * other.sum_t_;
  sum_kt_ += t * other.sum_kt_;
  for (size_t i = 0; i < std::min(rounds_at_k_.size(), other.rounds_at_k_.size()); ++i) {
    rounds_at_k_[i] += t * other.rounds_at_k_[i];
    verify_at_k_[i] += t * other.verify_at_k_[i];
  }
  for (size_t b = 0; b < kGapBuckets; ++b) {
    gap_reached_[b] += t * other.gap_reached_[b];
    gap_passed_[b] += t * other.gap_passed_[b];
  }
  rate_tokens_ += t * other.rate_tokens_;
  rate_time_ += t * other.rate_time_;
  // Probing goes on where the rounds absorbed left it (they came first).
  if (rounds_ == 0) ContinueProbing(other);
  RefreshRoundTimes();
  // Probing is for a verification line nobody has measured yet.
  seeded_ = seeded_ || (other.KnowsVerificationSlope() && t > 0) || (other.seeded_ && t > 0) ||
            (options_.draft_cost > 0.0 && a > 0);
}

bool AdaptiveDraftLength::KnowsVerificationSlope() const {
  return n_ > 0 && n_ * sum_kk_ - sum_k_ * sum_k_ > 1e-9 * n_ * n_;
}

double AdaptiveDraftLength::ConditionalAcceptance(int64_t position) const {
  double reached = 0, passed = 0;
  for (size_t i = 0; i < reached_.size(); ++i) {
    reached += reached_[i];
    passed += passed_[i];
  }
  const double pooled = (passed + 1.0) / (reached + 2.0);  // Laplace: 1/2 before any round
  const size_t i = static_cast<size_t>(std::max<int64_t>(position, 1) - 1);
  if (i >= reached_.size()) return pooled;
  return (passed_[i] + options_.prior_weight * pooled) / (reached_[i] + options_.prior_weight);
}

double AdaptiveDraftLength::ExpectedTokens(int64_t k) const {
  double expected = 1.0, all_accepted = 1.0;
  for (int64_t i = 1; i <= k; ++i) {
    all_accepted *= ConditionalAcceptance(i);
    expected += all_accepted;
  }
  return expected;
}

AdaptiveDraftLength::DraftFit AdaptiveDraftLength::FitDraftTime() const {
  if (options_.draft_cost > 0.0 || drafted_weight_ <= 0) return {};
  const double ratio = draft_seconds_ / drafted_weight_;
  const double det = sum_dkk_ * sum_dmm_ - sum_dkm_ * sum_dkm_;
  if (det > 1e-9 * sum_dkk_ * sum_dmm_ && sum_dmm_ > 0) {
    const double d = (sum_dks_ * sum_dmm_ - sum_dms_ * sum_dkm_) / det;
    const double e = (sum_dkk_ * sum_dms_ - sum_dkm_ * sum_dks_) / det;
    if (d > 0 && e >= 0) return {d, e};
    if (d > 0) return {sum_dkk_ > 0 ? sum_dks_ / sum_dkk_ : ratio, 0.0};  // e < 0 is noise: fit d alone
  }
  return {ratio, ratio};  // not told apart yet: a missed token costs a draft step
}

double AdaptiveDraftLength::DraftStepSeconds() const { return FitDraftTime().per_drafted; }

double AdaptiveDraftLength::CatchUpSeconds() const { return FitDraftTime().per_missed; }

double AdaptiveDraftLength::RoundTime(int64_t k) const {
  if (options_.draft_cost > 0.0) return k * options_.draft_cost + 1.0;
  return RoundTimes()[std::clamp<int64_t>(k, 0, options_.max_k)];
}

std::vector<double> AdaptiveDraftLength::RoundTimes() const {
  std::vector<double> times(options_.max_k + 1);
  if (options_.draft_cost > 0.0) {
    for (int64_t k = 0; k <= options_.max_k; ++k) times[k] = k * options_.draft_cost + 1.0;
    return times;
  }
  const DraftFit fit = FitDraftTime();
  const double d = fit.per_drafted, e = fit.per_missed;
  double v0 = n_ > 0 ? sum_t_ / n_ : 0.0, v1 = 0.0;
  const double variance = n_ * sum_kk_ - sum_k_ * sum_k_;
  if (KnowsVerificationSlope()) {
    v1 = std::max(0.0, (n_ * sum_kt_ - sum_k_ * sum_t_) / variance);
    v0 = std::max(0.0, (sum_t_ - v1 * sum_k_) / n_);
  }
  constexpr double kMinRoundsAtK = 2.0;
  double all_accepted = 1.0;
  for (int64_t k = 0; k <= options_.max_k; ++k) {
    if (k > 0) all_accepted *= ConditionalAcceptance(k);
    const double draft = k * d + e * all_accepted;  // k = 0: e, the token the next drafting round feeds
    times[k] = rounds_at_k_[k] >= kMinRoundsAtK ? draft + verify_at_k_[k] / rounds_at_k_[k] : draft + k * v1 + v0;
  }
  return times;
}

int64_t AdaptiveDraftLength::NextDraftLength() const {
  const bool measured = options_.draft_cost <= 0.0;
  if (rounds_ == 0 && !seeded_) return options_.max_k;
  if (measured && rounds_ == 0) {
    // Seeded: one wide probe still opens the sequence, at the far end of the
    // range from the learned choice, so that the shared verification line
    // keeps points across the range (choices fed back from a narrow band of k
    // would fit, and lock in, a line that only holds there).
    return BestDraftLength() * 2 <= options_.min_k + options_.max_k ? options_.max_k : options_.min_k;
  }
  if (measured && rounds_ <= 2 && !seeded_)
    return rounds_ == 1 ? (options_.min_k + options_.max_k + 1) / 2 : options_.min_k;
  const int64_t best = BestDraftLength();
  if (measured && options_.probe_every > 0 && rounds_ > 0 && rounds_ % options_.probe_every == 0) {
    const bool up = (rounds_ / options_.probe_every) % 2 == 1;
    const int64_t probe = best + (up ? 1 : -1);
    return std::clamp(probe >= options_.min_k && probe <= options_.max_k ? probe : best + (up ? -1 : 1),
                      options_.min_k, options_.max_k);
  }
  return best;
}

double AdaptiveDraftLength::GapAcceptance(float gap) const { return BucketAcceptance(GapBucket(gap)); }

double AdaptiveDraftLength::BucketAcceptance(size_t b) const {
  return (gap_passed_[b] + options_.prior_weight * PooledGapAcceptance()) /
         (gap_reached_[b] + options_.prior_weight);
}

double AdaptiveDraftLength::PooledGapAcceptance() const {
  double reached = 0, passed = 0;
  for (size_t b = 0; b < kGapBuckets; ++b) {
    reached += gap_reached_[b];
    passed += gap_passed_[b];
  }
  return (passed + 1.0) / (reached + 2.0);
}

double AdaptiveDraftLength::MeasuredRate() const { return rate_time_ > 0 ? rate_tokens_ / rate_time_ : 0.0; }

void AdaptiveDraftLength::RefreshRoundTimes() {
  // Per-k means from a few noisy rounds can make T(k) dip below T(k - 1)
  // (seen: T(2) 2.8 ms, T(3) 2.1 ms), and the rule would then think a token
  // free or worse; another drafted token always costs at least its draft step.
  const double step = options_.draft_cost > 0.0 ? options_.draft_cost : DraftStepSeconds();
  round_time_ = RoundTimes();
  for (int64_t k = 1; k <= options_.max_k; ++k) round_time_[k] = std::max(round_time_[k], round_time_[k - 1] + step);
  RefreshOnwardValues();
}

void AdaptiveDraftLength::ContinueProbing(const AdaptiveDraftLength& from) {
  if (options_.probe_every <= 0 || from.options_.probe_every <= 0) return;
  set_probe_interval(from.probe_interval_);
  plain_run_ = from.plain_run_;
  drafting_run_ = from.drafting_run_;
  on_trial_ = from.on_trial_;
}

void AdaptiveDraftLength::set_probe_interval(int64_t plain_rounds) {
  if (options_.probe_every > 0)
    probe_interval_ = std::max(options_.probe_every, std::min(plain_rounds, kMaxProbeInterval));
}

int64_t AdaptiveDraftLength::NextDraftCap() const {
  if (rounds_ == 0 && !seeded_) return options_.max_k;
  if (options_.probe_every > 0 && plain_run_ >= probe_interval_) return options_.max_k;
  return KeepDrafting(nullptr, 0) ? options_.max_k : options_.min_k;
}

bool AdaptiveDraftLength::KeepDrafting(const float* gaps, int64_t drafted) const {
  if (drafted >= options_.max_k) return false;
  if (drafted < options_.min_k) return true;
  const double rate = MeasuredRate();
  if (!(rate > 0)) return true;  // nothing measured yet: draft
  double alive = 1.0;
  for (int64_t i = 0; i < drafted; ++i) alive *= GapAcceptance(gaps[i]);
  const double margin = drafted == 0 ? options_.plain_margin : options_.stop_margin;
  const double extra = round_time_[drafted + 1] - round_time_[drafted];
  if (!(extra > 0)) return true;
  return ContinuationValue(drafted + 1, alive) >= margin * rate * extra;
}

double AdaptiveDraftLength::ContinuationValue(int64_t next, double alive) const {
  double value = 0.0;
  for (const GapOutcome& o : gap_outcomes_) {
    const double kept = alive * o.acceptance;
    value += o.weight * (kept + OnwardValue(next, kept));
  }
  return value;
}

double AdaptiveDraftLength::OnwardValue(int64_t drafted, double alive) const {
  if (drafted >= options_.max_k) return 0.0;
  const double x = std::clamp(alive, 0.0, 1.0) * (kAliveGrid - 1);
  const size_t j = std::min(static_cast<size_t>(x), kAliveGrid - 2);
  const double* row = &onward_value_[static_cast<size_t>(drafted) * kAliveGrid];
  return row[j] + (x - static_cast<double>(j)) * (row[j + 1] - row[j]);
}

void AdaptiveDraftLength::RefreshOnwardValues() {
  gap_outcomes_.clear();
  double reached = 0.0;
  for (size_t b = 0; b < kGapBuckets; ++b) reached += gap_reached_[b];
  if (reached > 0) {
    for (size_t b = 0; b < kGapBuckets; ++b) {
      if (gap_reached_[b] <= 0) continue;
      gap_outcomes_.push_back({gap_reached_[b] / reached, BucketAcceptance(b)});
    }
  } else {
    gap_outcomes_.push_back({1.0, PooledGapAcceptance()});
  }
  onward_value_.assign(static_cast<size_t>(options_.max_k + 1) * kAliveGrid, 0.0);
  const double rate = options_.stop_margin * MeasuredRate();
  if (!(rate > 0)) return;
  for (int64_t i = options_.max_k - 1; i >= std::max<int64_t>(options_.min_k, 1); --i) {
    const double extra = std::max(round_time_[i + 1] - round_time_[i], 0.0);
    // The value never falls as alive rises (more likely kept, and the same
    // choices left), so from the top down the first point where stopping is
    // best ends the row: below it every value is 0. Drafting on seldom pays
    // below alive ~0.9, so a row costs a few points, not all (a round's
    // bookkeeping stays ~1 us).
    for (size_t j = kAliveGrid; j-- > 0;) {
      const double alive = static_cast<double>(j) / (kAliveGrid - 1);
      const double value = ContinuationValue(i + 1, alive) - rate * extra;
      if (value <= 0) break;
      onward_value_[static_cast<size_t>(i) * kAliveGrid + j] = value;
    }
  }
}

int64_t AdaptiveDraftLength::BestDraftLength() const {
  if (rounds_ == 0 && !seeded_) return options_.max_k;
  int64_t best = options_.max_k;
  double best_rate = -1.0;
  const std::vector<double> times = RoundTimes();
  for (int64_t k = options_.min_k; k <= options_.max_k; ++k) {
    const double time = times[k];
    // No time measured yet (a clock that did not move): more tokens per round is all that counts.
    const double rate = time > 0 ? ExpectedTokens(k) / time : ExpectedTokens(k);
    if (rate > best_rate * (1.0 + 1e-12)) {
      best_rate = rate;
      best = k;
    }
  }
  return best;
}

}  // namespace matspec
