// AdaptiveDraftLength: chooses how many tokens the next speculation round of
// ONE sequence drafts, from what that sequence has measured so far. Pure
// bookkeeping (no model, no clock): the caller reports each round and asks for
// the next k. Used by SpeculativeDecoder (--draft-adaptive) and meant for a
// batching scheduler too, one object per sequence.
//
// The choice maximises expected tokens per unit time over k in [min_k, max_k]
// (k = 0 is a plain round: one token from one verification pass, no draft):
//   E(k) = 1 + sum_{i=1..k} a_1 a_2 ... a_i   (tokens a round commits)
//   T(k) = k d + e a_1 ... a_k + V(k)          (a round's time, k >= 1)
//   T(0) = e + V(0)
// a_i: the acceptance rate of draft position i given positions before it were
// accepted, estimated per position and shrunk towards the pooled rate (so a
// position seldom drafted borrows from the others); d: seconds per drafted
// token and e: seconds per token the draft has to catch up on before it can
// draft (one after a fully accepted round; one per plain round, which the draft
// does not see), both fitted by least squares to the rounds' draft times
// (draft seconds = d drafted + e missed; e = d until the missed counts vary).
// Without e, the catch-up after plain rounds inflates d, drafting looks dearer,
// more plain rounds follow (bench/RESULTS.md §10.2.3); V(k): the mean
// rest of the round (its wall time less the draft's: verification and the
// bookkeeping of a round, which the callers pass as `verify_seconds`; a cost
// a plain round pays per token, §10.2.5) of the rounds that drafted k when
// there are enough of them, else v0 + v1 k, a least-squares line through all
// rounds' verification times (v1 = 0 until two different k were seen). With Options::draft_cost
// > 0 the time is the model's instead: T(k) = k c + 1 (c = a draft step over a
// verification pass). Older rounds weigh less (Options::decay per round;
// acceptance per drafting round, since a plain round says nothing about it),
// so k follows a sequence whose text gets easier or harder.
//
// Measured times need rounds at different k to see how verification grows
// with k, so with measured times the first rounds probe max_k, the middle of
// the range and min_k, and every Options::probe_every-th round after that
// tries a neighbour of the current choice (one above, then one below). A
// sequence seeded with what earlier sequences learned (Absorb; see
// draft/draft_length_memory.h) already knows the verification line: it opens
// with one probe at the far end of the range from the learned choice instead
// of three, then takes the choice.
//
// Confidence stop (for a round runner that honours a DraftStopRule: the CPU
// ones). Choosing k per round cannot tell an easy stretch of the next tokens
// from a hard one; the draft itself can. How sure the draft was of a token,
// its logit gap (top-1 minus top-2 raw logit), predicts whether the verifier
// keeps it far better than its top-1 probability: a slice of the same weights
// disagrees with the full model mostly where its own top two are close
// (bench/RESULTS.md §10.2.5: kept 40-60 % below a gap of 0.1, ~100 % above 1).
// So the object also calibrates acceptance per gap bucket from the tokens it
// saw verified (shrunk towards the pooled rate), and as a DraftStopRule ends a
// round's draft after token i when no longer draft pays. In tokens less R
// times time (R: the rate measured so far, committed tokens per second of the
// rounds' draft and verification time, decayed like the rest; per
// verification pass with a fixed draft_cost), with
//   alive = prod_{j<=i} a(gap_j)  (the chance every token so far is kept)
// drafting token i + 1 is worth
//   C(i, alive) = sum_b w_b [alive a_b + W(i + 1, alive a_b)]
//   W(i, alive) = max(0, C(i, alive) - stop_margin R (T(i + 1) - T(i))),  W(max_k, .) = 0
// over the gap buckets b (w_b: the share of verified tokens in the bucket,
// a_b its calibrated acceptance; the next token's gap is not known before it
// is drafted), T as above; draft on iff C(i, alive) >= stop_margin R
// (T(i + 1) - T(i)). W is the value of going on under the best stopping from
// there (Dinkelbach's form of maximising a ratio: at the rule's fixed point R
// is the best rate there is), tabulated after every round on a grid of alive,
// top down until it reaches 0 (it never falls as alive rises), so a round's
// bookkeeping stays ~1 us. Looking past the next token matters where
// verification is convex in k: a dear token followed by cheap ones (the AVX2
// tiles, bench/RESULTS.md §10.2.8) can pay as a group. This replaced a fixed
// look-ahead of m tokens at pooled acceptance with stop_margin 0.9, which
// stood in for the option to stop later and, at its fixed point, kept
// drafting tokens that paid 0.9 R: at 1 thread eighth drafted 2.3 tokens a
// round where k = 1 was faster (§10.2.10). With the stop, a round's cap is
// NextDraftCap(): max_k, or min_k when not even drafting ahead pays now (the
// same test at i = 0 with plain_margin for stop_margin: at the rule's fixed
// point, where R is the drafting rounds' own rate, margin 1 turns plain
// exactly when plain rounds are faster; under 1 it kept a drafting habit
// within that margin of plain rounds' rate for good); after
// Options::probe_every plain rounds in a row, max_k once anyway (estimates
// frozen by plain rounds would otherwise keep them plain for good; such a
// probe usually stops after a token or two). A probe is dear: the draft first
// catches up on every token of the plain run (at 2 threads, half of the
// bundled model: a probe every 8 rounds cost 8 % against plain rounds alone;
// the catch-up costs 0.25-0.3 of a plain step per token missed), so each
// probe after which the rule turns plain again before it has drafted
// probe_every rounds in a row doubles the run before the next (up to 128
// rounds); probe_every drafting rounds in a row reset it. (A single drafting
// round after a probe used to reset it: the probe's fully accepted tokens
// lift the acceptance estimates for a round or two, and where drafting
// barely pays the rule cycled probe, a few drafting rounds, plain, probe
// after 8, each cycle paying a catch-up; bench/RESULTS.md §10.2.7.) A
// sequence seeded by Absorb starts from the interval its prior reached.
//
// Round times on a shared machine have a tail: a round during which another
// process held a core takes 2-8x its usual time, and a few such rounds at one
// k swing that k's mean, and the choice, by 30 %. Record counts a round that
// took more than twice its expected time (once 8 rounds are behind the
// estimates) as twice it: ClipInterrupted.
//
// Any k and any stop give the same output (greedy) or the same distribution
// (sampling): the choice only uses rounds already committed and the draft's
// own outputs, and every drafted token is verified, so it is lossless.
#ifndef MATSPEC_DRAFT_ADAPTIVE_DRAFT_LENGTH_H_
#define MATSPEC_DRAFT_ADAPTIVE_DRAFT_LENGTH_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/draft_policy.h"

namespace matspec {

class AdaptiveDraftLength final : public DraftStopRule {
 public:
  struct Options {
    int64_t min_k = 1;          // >= 0; 0 lets plain rounds win when drafting does not pay
                                // (with a fixed draft_cost, >= 1: nothing would probe back)
    int64_t max_k = 4;          // >= min_k
    double draft_cost = 0.0;    // > 0: fixed c instead of the measured times
    double decay = 0.98;        // weight of the past per round, in (0, 1]
    double prior_weight = 2.0;  // rounds' worth of the pooled rate in each position's estimate
    int64_t probe_every = 8;    // measured times: probe a neighbour k every this many rounds; 0 = never
    double stop_margin = 1.0;   // confidence stop: draft on while the expected gain per unit time is at
                                // least this times the measured rate (> 0; under 1 leans towards drafting)
    double plain_margin = 1.0;  // the same before the first token: a plain round unless drafting ahead
                                // beats this times the rate (> 0; under 1, a drafting habit whose rate is
                                // within that margin of plain rounds' never turns plain: at 2 threads,
                                // where half of the bundled model barely pays, 0.9 kept k ~4 at 0.92x)
  };

  // Out-of-range options are clamped (min_k >= 0, or >= 1 with a fixed draft_cost;
  // max_k >= max(min_k, 1); decay in (0, 1]).
  explicit AdaptiveDraftLength(Options options);

  // k for the next round: max_k before any round was recorded; a probe (see
  // above) or the k that maximises E(k) / T(k).
  int64_t NextDraftLength() const;

  // The k that maximises E(k) / T(k) (what NextDraftLength returns when not probing).
  int64_t BestDraftLength() const;

  // With the confidence stop: the next round's cap (max_k, or min_k when
  // KeepDrafting says no before the first token). Needs no probes: the stop
  // varies the drafted lengths by itself.
  int64_t NextDraftCap() const;
  // Plain rounds recorded in a row, up to now, and how many make the next cap a probe.
  int64_t plain_run() const { return plain_run_; }
  int64_t probe_interval() const { return probe_interval_; }
  // Sets it (kept within [probe_every, 128]; no effect with probe_every 0).
  void set_probe_interval(int64_t plain_rounds);
  // Takes over `from`'s probing state: its interval, the plain rounds in a row
  // it ended on, and whether its last probe is still on trial (no effect when
  // either never probes). A plain run goes on across sequences: a memory whose
  // interval has reached 128 would otherwise never see a probe in sequences
  // shorter than that, and a slice that once looked slow stayed plain for good
  // (bench/RESULTS.md §10.2.7); a probe that falls due as a sequence starts is
  // also the cheapest, the draft having just read the prompt.
  void ContinueProbing(const AdaptiveDraftLength& from);
  // DraftStopRule: the rule above.
  bool KeepDrafting(const float* gaps, int64_t drafted) const override;

  // Adds `other`'s estimates to this one's as if its rounds had been recorded
  // here (before any of this one's own; without rounds of its own yet, this
  // one also continues other's probing: ContinueProbing), its timing weighed as at most
  // `timing_rounds` rounds and its acceptance as at most `acceptance_rounds`
  // (both >= 0): a prior that this sequence's own rounds soon outweigh.
  // Positions beyond this object's max_k are dropped. The gap calibration and
  // the measured rate weigh as timing: like the costs, they belong to the
  // slice and the machine more than to the text.
  void Absorb(const AdaptiveDraftLength& other, double timing_rounds, double acceptance_rounds);

  // Whether the verification line has a slope yet: rounds at two different k.
  bool KnowsVerificationSlope() const;
  // Weighted rounds behind the estimates (own and absorbed).
  double weight() const { return n_; }

  // Reports a finished round: `drafted` tokens proposed (positions 1..drafted),
  // the first `accepted` of them kept, the round's draft seconds and the rest
  // of its wall time (`verify_seconds`: verification and the round's
  // bookkeeping; both ignored with a fixed draft_cost).
  // `gaps`: the drafted tokens' logit gaps (empty: none recorded; the gap
  // calibration then learns nothing from the round).
  void Record(int64_t drafted, int64_t accepted, double draft_seconds, double verify_seconds,
              std::span<const float> gaps = {});
  // Record's first step: negative times become 0, and a round that took more
  // than twice the time expected of a round that drafted `drafted` (and caught
  // up on the tokens it missed) is scaled down to twice it, draft and
  // verification alike. No change before the estimates rest on 8 rounds, or
  // with a fixed draft_cost.
  void ClipInterrupted(int64_t drafted, double* draft_seconds, double* verify_seconds) const;
  // Record without ClipInterrupted: for times already clipped by another
  // estimator's expectations (SequenceDraftLength records its own rounds
  // with the seeded estimator's clip).
  void RecordAsMeasured(int64_t drafted, int64_t accepted, double draft_seconds, double verify_seconds,
                        std::span<const float> gaps = {});

  // The estimates behind the choice (for tests and reports).
  double ConditionalAcceptance(int64_t position) const;  // a_position, position >= 1
  double ExpectedTokens(int64_t k) const;                // E(k)
  double RoundTime(int64_t k) const;                     // T(k), in seconds or in verification passes
  std::vector<double> RoundTimes() const;                // T(0..max_k) in one pass
  double DraftStepSeconds() const;                       // d (0 with a fixed draft_cost)
  double CatchUpSeconds() const;                         // e (0 with a fixed draft_cost)
  double GapAcceptance(float gap) const;  // a token's acceptance given its logit gap (calibrated)
  double PooledGapAcceptance() const;     // over every calibrated token (1/2 before any)
  double MeasuredRate() const;            // R (0 before any round)

 private:
  // d and e of the draft's time (0 with a fixed draft_cost or before any
  // drafted round).
  struct DraftFit {
    double per_drafted = 0.0, per_missed = 0.0;
  };
  DraftFit FitDraftTime() const;

  Options options_;
  int64_t rounds_ = 0;
  bool seeded_ = false;  // Absorb gave it a verification line (or, with a fixed cost, acceptance)
  // Per position (index i = position i + 1): weighted rounds that drafted it
  // with every earlier position accepted, and of those the ones that accepted it.
  std::vector<double> reached_, passed_;
  double drafted_weight_ = 0, draft_seconds_ = 0;  // for d
  // Tokens the draft has not seen beyond the one every drafting round feeds:
  // what the next drafting round catches up on (inferred from the rounds).
  int64_t missed_ = 0;
  int64_t plain_run_ = 0;
  int64_t probe_interval_ = 0;  // plain rounds in a row before NextDraftCap probes
  int64_t drafting_run_ = 0;    // rounds the rule chose to draft in a row (a probe not counted)
  bool on_trial_ = false;       // a probe whose drafting has not yet held for probe_every rounds
  // Weighted sums over drafting rounds for draft seconds s = d k + e m (k
  // drafted, m missed).
  double sum_dkk_ = 0, sum_dkm_ = 0, sum_dmm_ = 0, sum_dks_ = 0, sum_dms_ = 0;
  // Weighted sums for the verification line t = v0 + v1 k.
  double n_ = 0, sum_k_ = 0, sum_kk_ = 0, sum_t_ = 0, sum_kt_ = 0;
  // Per k (index k): weighted rounds and their verification seconds. Where a
  // k has kMinRoundsAtK rounds its own mean replaces the line: verification
  // cost is convex in k on a compute-bound CPU (flat to ~3 tokens, steep after),
  // and a line through the probes at max_k overstates it in between.
  std::vector<double> rounds_at_k_, verify_at_k_;
  // Per logit-gap bucket (kGapEdges): weighted tokens whose verification was
  // reached (every earlier one kept) and of those the ones kept.
  std::vector<double> gap_reached_, gap_passed_;
  double rate_tokens_ = 0, rate_time_ = 0;  // for R
  // RoundTime(k) for k = 0..max_k, recomputed after every Record and Absorb
  // (KeepDrafting runs per drafted token), made to rise by at least a draft
  // step per k.
  std::vector<double> round_time_;
  void RefreshRoundTimes();  // and RefreshOnwardValues
  double BucketAcceptance(size_t bucket) const;  // GapAcceptance of a gap in that bucket
  // The confidence stop's table (RefreshOnwardValues, after round_time_): the
  // next token's gap bucket as a weight and an acceptance, and per number of
  // tokens drafted i and chance alive (on kAliveGrid points in [0, 1]) the
  // value of drafting on from there under the best stopping, in tokens over
  // stop_margin * R * time (0 when stopping is best).
  struct GapOutcome {
    double weight, acceptance;
  };
  static constexpr size_t kAliveGrid = 65;
  std::vector<GapOutcome> gap_outcomes_;
  std::vector<double> onward_value_;
  void RefreshOnwardValues();
  // Expected tokens kept, plus OnwardValue, of drafting token `next` when every
  // earlier one is kept with chance `alive`.
  double ContinuationValue(int64_t next, double alive) const;
  // onward_value_ of `drafted` tokens at `alive`, interpolated (0 at max_k).
  double OnwardValue(int64_t drafted, double alive) const;
};

}  // namespace matspec

#endif  // MATSPEC_DRAFT_ADAPTIVE_DRAFT_LENGTH_H_
