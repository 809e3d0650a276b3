// Gemma3nModel::ForwardBatch (continuous batching) against Forward: several
// sequences at different cache lengths (before, at and past the sliding
// window), each with its own number of new tokens and its own logits request,
// run as ONE forward must give every sequence bit-identical logits, and leave
// its cache (sliding-window rings, KV-sharing consumers' producers) exactly as
// a forward of that sequence alone would: a further forward of each sequence
// alone gives the same logits from either cache. Checked on both fixtures,
// every fixture slice, bf16 and f32 activations, ring caches and plain ones
// (mixed in one batch). A bad segment is refused by name and no cache moves.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gemma3n_fixture.h"

namespace matspec {
namespace {

class Gemma3nForwardBatchTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {
 protected:
  void SetUp() override {
    auto f = testing::LoadGemma3nFixture(std::get<0>(GetParam()), 2);
    ASSERT_TRUE(f.ok()) << f.status();
    f_ = std::move(*f);
    f_.model->set_f32_activations(std::get<1>(GetParam()));
    window_ = f_.model->gemma_config().sliding_window;
  }

  std::vector<int32_t> Tokens(int64_t n) {
    std::uniform_int_distribution<int32_t> any(0, static_cast<int32_t>(f_.model->vocab_size()) - 1);
    std::vector<int32_t> out(n);
    for (int32_t& x : out) x = any(rng_);
    return out;
  }

  // A cache for `slice`: the model's own (rings for sliding owners) or a
  // plain one holding every owner at full capacity.
  std::unique_ptr<KvCache> NewCache(const SliceView& slice, bool plain) {
    if (!plain) return f_.model->NewKvCache(slice, 128);
    const Gemma3nConfig& c = f_.model->gemma_config();
    std::vector<bool> stored(c.num_layers(), false);
    for (int64_t l : slice.layers) stored[c.kv_source[l]] = true;
    return std::make_unique<KvCache>(stored, c.base.num_kv_heads, c.base.head_dim, 128);
  }

  // Logits of `tokens` fed to `kv` alone (rows: every token's when all).
  std::vector<float> Alone(const SliceView& slice, KvCache& kv, const std::vector<int32_t>& tokens, bool all,
                           ForwardScratch* scratch) {
    const int64_t t = static_cast<int64_t>(tokens.size());
    std::vector<float> logits((all ? t : 1) * f_.model->vocab_size());
    absl::Status s = f_.model->Forward({.slice = &slice, .tokens = tokens.data(), .t = t, .kv = &kv,
                                        .logits = logits.data(), .all_logits = all, .scratch = scratch});
    EXPECT_TRUE(s.ok()) << s;
    return logits;
  }

  void CheckRound(const SliceView& slice, const std::vector<int64_t>& prompt_lengths,
                  const std::vector<int64_t>& new_tokens, bool plain_caches_for_odd) {
    const size_t n = prompt_lengths.size();
    const int64_t vocab = f_.model->vocab_size();
    auto scratch = f_.model->NewScratch();
    std::vector<std::unique_ptr<KvCache>> solo(n), batched(n);
    for (size_t i = 0; i < n; ++i) {
      const bool plain = plain_caches_for_odd && i % 2 == 1;
      solo[i] = NewCache(slice, plain);
      batched[i] = NewCache(slice, plain);
      const std::vector<int32_t> prompt = Tokens(prompt_lengths[i]);
      for (KvCache* kv : {solo[i].get(), batched[i].get()}) Alone(slice, *kv, prompt, false, scratch.get());
    }
    std::vector<std::vector<int32_t>> tokens(n);
    std::vector<std::vector<float>> solo_logits(n), batch_logits(n);
    std::vector<BatchSegment> segments(n);
    for (size_t i = 0; i < n; ++i) {
      tokens[i] = Tokens(new_tokens[i]);
      const bool all = i % 2 == 0, none = i % 5 == 3;
      const int64_t rows = none ? 0 : all ? new_tokens[i] : 1;
      batch_logits[i].assign(rows * vocab, 1.f);
      segments[i] = {.tokens = tokens[i].data(),
                     .t = new_tokens[i],
                     .kv = batched[i].get(),
                     .logits = none ? nullptr : batch_logits[i].data(),
                     .all_logits = all};
      if (none) {
        ASSERT_TRUE(f_.model->Forward({.slice = &slice, .tokens = tokens[i].data(), .t = new_tokens[i],
                                       .kv = solo[i].get(), .scratch = scratch.get()})
                        .ok());
      } else {
        solo_logits[i] = Alone(slice, *solo[i], tokens[i], all, scratch.get());
      }
    }
    auto batch_scratch = f_.model->NewScratch();
    absl::Status s = f_.model->ForwardBatch(slice, segments, batch_scratch.get());
    ASSERT_TRUE(s.ok()) << s;
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(::testing::Message() << "slice " << slice.name << ", sequence " << i << " of " << n);
      ASSERT_EQ(solo_logits[i].size(), batch_logits[i].size());
      if (!solo_logits[i].empty()) {
        EXPECT_EQ(0, std::memcmp(solo_logits[i].data(), batch_logits[i].data(), solo_logits[i].size() * 4));
      }
      ASSERT_EQ(solo[i]->length(), batched[i]->length());
      // The caches (rings and shared producers included) hold the same rows:
      // the next tokens see the same past from either.
      const std::vector<int32_t> next = Tokens(3);
      const std::vector<float> a = Alone(slice, *solo[i], next, true, scratch.get());
      const std::vector<float> b = Alone(slice, *batched[i], next, true, scratch.get());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
    }
  }

  testing::Gemma3nFixture f_;
  int64_t window_ = 0;
  std::mt19937 rng_{5};
};

TEST_P(Gemma3nForwardBatchTest, DecodeRowsOfManySequencesEqualEachAlone) {
  for (const SliceView& slice : f_.slices) {
    CheckRound(slice, {1, 3, window_, window_ + 2, 2 * window_ + 1, 4}, {1, 1, 1, 1, 1, 1}, false);
  }
}

TEST_P(Gemma3nForwardBatchTest, RaggedVerificationRowsEqualEachAlone) {
  for (const SliceView& slice : f_.slices) {
    CheckRound(slice, {2, window_ - 1, window_ + 3, 1, 2 * window_}, {4, 2, 5, 1, 3}, false);
  }
}

TEST_P(Gemma3nForwardBatchTest, RingAndPlainCachesMixInOneBatch) {
  for (const SliceView& slice : f_.slices) CheckRound(slice, {5, window_ + 1, 2, 3}, {3, 2, 1, 4}, true);
}

TEST_P(Gemma3nForwardBatchTest, OneSegmentEqualsForward) {
  CheckRound(f_.slices[0], {window_ + 2}, {3}, false);
}

TEST_P(Gemma3nForwardBatchTest, BadSegmentIsRefusedAndNoCacheMoves) {
  const SliceView& full = f_.slices[0];
  auto scratch = f_.model->NewScratch();
  auto a = f_.model->NewKvCache(full, 16);
  // A cache made for a slice that skips layers lacks storage the full model needs.
  const SliceView* narrow = nullptr;
  for (const SliceView& s : f_.slices) {
    if (s.layers.size() < full.layers.size()) narrow = &s;
  }
  ASSERT_NE(narrow, nullptr);
  auto b = f_.model->NewKvCache(*narrow, 16);
  const std::vector<int32_t> ok = {1, 2, 3};
  const std::vector<BatchSegment> segments = {{.tokens = ok.data(), .t = 3, .kv = a.get()},
                                              {.tokens = ok.data(), .t = 3, .kv = b.get()}};
  absl::Status s = f_.model->ForwardBatch(full, segments, scratch.get());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("segment 1"), std::string::npos) << s;
  EXPECT_EQ(a->length(), 0);
  EXPECT_EQ(b->length(), 0);
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(f_.model->vocab_size())};
  auto c = f_.model->NewKvCache(full, 16);
  const std::vector<BatchSegment> bad_tokens = {{.tokens = ok.data(), .t = 3, .kv = a.get()},
                                                {.tokens = bad.data(), .t = 2, .kv = c.get()}};
  s = f_.model->ForwardBatch(full, bad_tokens, scratch.get());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("segment 1"), std::string::npos) << s;
  EXPECT_EQ(a->length(), 0);
  EXPECT_EQ(c->length(), 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma3nForwardBatchTest,
                         ::testing::Combine(::testing::Values("kvshare", "window"), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) ? std::string("F32Activations") : "Bf16Activations");
                         });

}  // namespace
}  // namespace matspec
