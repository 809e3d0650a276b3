// Rollback exactness for Gemma 3n: after speculative tokens are written and
// the cache is truncated, the next forward's logits are bit-identical to a
// fresh cache that never saw them -- for the full model and every fixture
// slice, for prefixes before, at and past the sliding-window boundary, for
// rejected tokens written in one verify-style chunk or one draft step at a
// time, and with KV-consumer layers reading a producer's rolled-back cache.
#include <random>

#include "gtest/gtest.h"
#include "tests/testing/kernel_checks.h"
#include "tests/testing/gemma3n_fixture.h"

namespace matspec {
namespace {

// Feeds chunks of `tokens` (sizes in `chunks`) into `kv`; returns the logits
// of every token of the last chunk.
std::vector<float> Feed(Model& model, const SliceView& slice, KvCache& kv, const std::vector<int32_t>& tokens,
                        const std::vector<int64_t>& chunks) {
  std::vector<float> logits;
  size_t done = 0;
  for (int64_t c : chunks) {
    logits.assign(c * model.vocab_size(), 0.f);
    ForwardArgs args;
    args.slice = &slice;
    args.tokens = tokens.data() + done;
    args.t = c;
    args.kv = &kv;
    args.logits = logits.data();
    args.all_logits = true;
    absl::Status s = model.Forward(args);
    EXPECT_TRUE(s.ok()) << s;
    done += c;
  }
  return logits;
}

class Gemma3nRollbackTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto f = testing::LoadGemma3nFixture(GetParam(), 2);
    ASSERT_TRUE(f.ok()) << f.status();
    f_ = std::move(*f);
    window_ = f_.model->gemma_config().sliding_window;
  }
  testing::Gemma3nFixture f_;
  int64_t window_ = 0;
};

TEST_P(Gemma3nRollbackTest, TruncateEqualsFreshCache) {
  Model& model = *f_.model;
  const std::vector<int32_t>& prompt = f_.tokens;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  ASSERT_GT(n_prompt, window_ + 6);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any_token(0, static_cast<int32_t>(model.vocab_size()) - 1);
  const int64_t k = 4;  // tokens verified after the rollback
  // Rings exactly as deep as the rollback below (window + junk length).
  f_.model->set_max_rollback(window_ + 2);
  for (const SliceView& slice : f_.slices) {
    for (int64_t n : {int64_t{3}, window_ - 1, window_, window_ + 1, window_ + 3}) {
      if (n + k > n_prompt) continue;
      for (bool step_by_step : {false, true}) {
        SCOPED_TRACE(slice.name + " prefix " + std::to_string(n) + (step_by_step ? " draft steps" : " one chunk"));
        std::vector<int32_t> tail(prompt.begin() + n, prompt.begin() + n + k);
        // Fresh: prefix, then the tail.
        auto fresh_kv = model.NewKvCache(slice, n_prompt + 16);
        Feed(model, slice, *fresh_kv, prompt, {n});
        const std::vector<float> want = Feed(model, slice, *fresh_kv, tail, {k});
        // Rolled back: prefix, junk that crosses the window boundary, truncate, tail.
        auto kv = model.NewKvCache(slice, n_prompt + 16);
        Feed(model, slice, *kv, prompt, {n});
        std::vector<int32_t> junk(window_ + 2);
        for (int32_t& t : junk) t = any_token(rng);
        const int64_t jn = static_cast<int64_t>(junk.size());
        Feed(model, slice, *kv, junk, step_by_step ? std::vector<int64_t>(jn, 1) : std::vector<int64_t>{jn});
        ASSERT_TRUE(kv->Truncate(n).ok());
        const std::vector<float> got = Feed(model, slice, *kv, tail, {k});
        ASSERT_EQ(got.size(), want.size());
        EXPECT_TRUE(got == want) << "logits after Truncate differ from a fresh cache's";
        EXPECT_EQ(kv->length(), n + k);
      }
    }
  }
}

// Speculative pattern: verify 4 proposed tokens at once, keep part of them,
// repeat -- the next step's logits must match a fresh run of the accepted
// sequence.
TEST_P(Gemma3nRollbackTest, RepeatedPartialRollbacks) {
  Model& model = *f_.model;
  const SliceView& full = f_.slices[0];
  const std::vector<int32_t>& prompt = f_.tokens;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  auto kv = model.NewKvCache(full, n_prompt + 64);
  std::vector<int32_t> accepted(prompt.begin(), prompt.begin() + 3);
  Feed(model, full, *kv, accepted, {3});
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> any_token(0, static_cast<int32_t>(model.vocab_size()) - 1);
  for (int round = 0; round < 8; ++round) {
    // Verify 4 proposed tokens, keep 1 + round % 3 of them.
    std::vector<int32_t> proposal(4);
    for (int32_t& t : proposal) t = any_token(rng);
    const int64_t keep = 1 + round % 3;
    const int64_t base = kv->length();
    Feed(model, full, *kv, proposal, {4});
    ASSERT_TRUE(kv->Truncate(base + keep).ok());
    accepted.insert(accepted.end(), proposal.begin(), proposal.begin() + keep);
    // Next step's logits vs a fresh cache fed the accepted sequence.
    const std::vector<int32_t> next = {any_token(rng)};
    const std::vector<float> got = Feed(model, full, *kv, next, {1});
    ASSERT_TRUE(kv->Truncate(kv->length() - 1).ok());
    auto fresh = model.NewKvCache(full, n_prompt + 64);
    std::vector<int32_t> seq = accepted;
    seq.push_back(next[0]);
    const int64_t len = static_cast<int64_t>(seq.size());
    // The fresh run feeds the sequence in one chunk (other summation orders),
    // so this compares within f32 noise; TruncateEqualsFreshCache checks
    // bit-exactness under identical chunking.
    const std::vector<float> want_last = Feed(model, full, *fresh, seq, {len});
    std::vector<float> want(want_last.end() - model.vocab_size(), want_last.end());
    float worst = 0.f;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
    EXPECT_LE(worst, 1e-3 * testing::ToleranceScale()) << "round " << round;
  }
}

// The deepest legal rollback: rings of window + m slots hold every position a
// forward after a rollback of m + 1 reads (the window before the new token is
// window - 1 positions), so that depth works, bit for bit as a fresh cache,
// and one more is refused (RollbackDeeperThanTheRingIsRefused).
TEST_P(Gemma3nRollbackTest, DeepestLegalRollbackEqualsFreshCache) {
  Model& model = *f_.model;
  const int64_t m = 2;
  f_.model->set_max_rollback(m);
  const SliceView& full = f_.slices[0];
  const int64_t n = window_ + 3, k = 3;
  ASSERT_GE(static_cast<int64_t>(f_.tokens.size()), n + k);
  const std::vector<int32_t> tail(f_.tokens.begin() + n, f_.tokens.begin() + n + k);
  auto fresh = model.NewKvCache(full, 64);
  Feed(model, full, *fresh, f_.tokens, {n});
  const std::vector<float> want = Feed(model, full, *fresh, tail, {k});
  for (bool step_by_step : {false, true}) {
    SCOPED_TRACE(step_by_step ? "junk one token at a time" : "junk in one chunk");
    auto kv = model.NewKvCache(full, 64);
    Feed(model, full, *kv, f_.tokens, {n});
    const std::vector<int32_t> junk(m + 1, 5);
    Feed(model, full, *kv, junk, step_by_step ? std::vector<int64_t>(m + 1, 1) : std::vector<int64_t>{m + 1});
    ASSERT_TRUE(kv->Truncate(n).ok());
    std::vector<float> got(k * model.vocab_size());
    ForwardArgs args;
    args.slice = &full;
    args.tokens = tail.data();
    args.t = k;
    args.kv = kv.get();
    args.logits = got.data();
    args.all_logits = true;
    const absl::Status s = model.Forward(args);
    ASSERT_TRUE(s.ok()) << "a rollback of max_rollback + 1 = " << m + 1 << " positions was refused: " << s;
    EXPECT_TRUE(got == want) << "logits after the deepest legal rollback differ from a fresh cache's";
  }
}

// A rollback deeper than the rings were sized for is refused, not computed
// from overwritten slots.
TEST_P(Gemma3nRollbackTest, RollbackDeeperThanTheRingIsRefused) {
  Model& model = *f_.model;
  f_.model->set_max_rollback(2);
  const SliceView& full = f_.slices[0];
  auto kv = model.NewKvCache(full, 64);
  const int64_t n = window_ + 3;
  Feed(model, full, *kv, f_.tokens, {n});
  std::vector<int32_t> junk(4, 5);
  Feed(model, full, *kv, junk, {1, 1});  // 2 positions: within the ring
  ASSERT_TRUE(kv->Truncate(n).ok());
  Feed(model, full, *kv, junk, {1, 1, 1, 1});  // 4 positions: more than window + 2 slots allow
  ASSERT_TRUE(kv->Truncate(n).ok());
  std::vector<float> logits(model.vocab_size());
  ForwardArgs args;
  args.slice = &full;
  args.tokens = junk.data();
  args.t = 1;
  args.kv = kv.get();
  args.logits = logits.data();
  const absl::Status s = model.Forward(args);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(kv->length(), n);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma3nRollbackTest, ::testing::Values("window", "kvshare"));

}  // namespace
}  // namespace matspec
