// Model::ForwardBatch (continuous batching) against Forward: several sequences
// at different cache lengths, each with its own number of new tokens and its
// own logits request, run as one batched forward must give every sequence
// bit-identical logits and cache entries to a forward of that sequence alone.
// Checked for the full model and a slice, with bf16 weights under both
// arithmetics (bf16 activations, the default on AVX512_BF16 CPUs, and f32),
// with 2 threads, and for batches small enough for the few-token kernels and
// large enough for the prefill GEMM. Bad batches are refused, naming the
// segment, and leave every cache where it was.
#include <cstring>
#include <random>

#include "draft/slice_spec.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/forward_batch_fixture.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr int64_t kVocab = 300;

class ForwardBatchTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const testing::TinyLlamaOptions opt = testing::ForwardBatchLlama(kVocab, DType::kBF16);
    ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), opt).ok());
    auto loaded = testing::LoadLlama(dir_.path(), /*threads=*/2);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
    m_.model->set_f32_activations(GetParam());
    auto slice = testing::ForwardBatchDraft(m_.config);
    ASSERT_TRUE(slice.ok()) << slice.status();
    slice_ = *slice;
  }

  std::vector<int32_t> Tokens(int64_t n) { return testing::RandomTokens(rng_, n, kVocab); }

  // Prefills `prompt_lengths` sequences into pairs of identical caches, then
  // runs one round of new tokens (`new_tokens[i]` for sequence i) batched on
  // one side and alone on the other, and compares.
  void CheckRound(const SliceView& slice, const std::vector<int64_t>& prompt_lengths,
                  const std::vector<int64_t>& new_tokens) {
    const size_t n = prompt_lengths.size();
    std::vector<std::unique_ptr<KvCache>> solo(n), batched(n);
    auto scratch = m_.model->NewScratch();
    for (size_t i = 0; i < n; ++i) {
      solo[i] = m_.model->NewKvCache(slice, 256);
      batched[i] = m_.model->NewKvCache(slice, 256);
      const std::vector<int32_t> prompt = Tokens(prompt_lengths[i]);
      for (KvCache* kv : {solo[i].get(), batched[i].get()}) {
        ASSERT_TRUE(m_.model->Forward({.slice = &slice, .tokens = prompt.data(), .t = prompt_lengths[i], .kv = kv,
                                       .scratch = scratch.get()})
                        .ok());
      }
    }
    std::vector<std::vector<int32_t>> tokens(n);
    std::vector<std::vector<float>> solo_logits(n), batch_logits(n);
    std::vector<BatchSegment> segments(n);
    for (size_t i = 0; i < n; ++i) {
      tokens[i] = Tokens(new_tokens[i]);
      const bool all = i % 2 == 0;
      const bool none = i % 5 == 3;  // a draft catch-up forward wants no logits
      const int64_t rows = none ? 0 : all ? new_tokens[i] : 1;
      solo_logits[i].assign(rows * kVocab, 0.f);
      batch_logits[i].assign(rows * kVocab, 1.f);
      segments[i] = {.tokens = tokens[i].data(),
                     .t = new_tokens[i],
                     .kv = batched[i].get(),
                     .logits = none ? nullptr : batch_logits[i].data(),
                     .all_logits = all};
      ASSERT_TRUE(m_.model->Forward({.slice = &slice, .tokens = tokens[i].data(), .t = new_tokens[i],
                                     .kv = solo[i].get(), .logits = none ? nullptr : solo_logits[i].data(),
                                     .all_logits = all, .scratch = scratch.get()})
                      .ok());
    }
    auto batch_scratch = m_.model->NewScratch();
    ASSERT_TRUE(m_.model->ForwardBatch(slice, segments, batch_scratch.get()).ok());
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(::testing::Message() << "sequence " << i << " of " << n);
      if (!solo_logits[i].empty()) {  // memcmp may not see the null data() of an empty vector
        EXPECT_EQ(0, std::memcmp(solo_logits[i].data(), batch_logits[i].data(), solo_logits[i].size() * sizeof(float)));
      }
      ASSERT_EQ(solo[i]->length(), batched[i]->length());
      const int64_t floats = solo[i]->length() * solo[i]->row_floats();
      for (int64_t l : slice.layers) {
        EXPECT_EQ(0, std::memcmp(solo[i]->keys(l), batched[i]->keys(l), floats * sizeof(float))) << "layer " << l;
        EXPECT_EQ(0, std::memcmp(solo[i]->values(l), batched[i]->values(l), floats * sizeof(float))) << "layer " << l;
      }
    }
  }

  testing::ScopedTempDir dir_{"forward_batch"};
  testing::LoadedModel m_;
  SliceView slice_;
  std::mt19937 rng_{11};
};

TEST_P(ForwardBatchTest, DecodeRowsOfManySequencesEqualEachAlone) {
  CheckRound(m_.model->FullSlice(), {5, 1, 17, 9, 30, 2, 12, 3}, {1, 1, 1, 1, 1, 1, 1, 1});
}

TEST_P(ForwardBatchTest, RaggedVerificationRowsEqualEachAlone) {
  CheckRound(m_.model->FullSlice(), {5, 8, 17, 2}, {5, 1, 3, 9});
}

TEST_P(ForwardBatchTest, BatchesLargeEnoughForTheGemmEqualEachAlone) {
  CheckRound(m_.model->FullSlice(), {4, 20, 7, 11, 3, 9}, {9, 5, 9, 7, 2, 9});
}

TEST_P(ForwardBatchTest, DraftSliceBatchEqualsEachAlone) {
  CheckRound(slice_, {6, 3, 14, 1, 25}, {2, 1, 1, 1, 2});
  CheckRound(slice_, {6, 3, 14}, {12, 11, 10});
}

TEST_P(ForwardBatchTest, OneSegmentEqualsForward) { CheckRound(m_.model->FullSlice(), {7}, {6}); }

TEST_P(ForwardBatchTest, BadBatchesAreRefusedAndNoCacheMoves) {
  const SliceView full = m_.model->FullSlice();
  auto a = m_.model->NewKvCache(full, 8);
  auto b = m_.model->NewKvCache(full, 8);
  const std::vector<int32_t> ok = {1, 2, 3};
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(kVocab)};
  auto scratch = m_.model->NewScratch();
  auto expect_refused = [&](std::vector<BatchSegment> segments, const std::string& words) {
    absl::Status s = m_.model->ForwardBatch(full, segments, scratch.get());
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.message()).find(words), std::string::npos) << s;
    EXPECT_EQ(a->length(), 0);
    EXPECT_EQ(b->length(), 0);
  };
  expect_refused({}, "no segment");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = bad.data(), .t = 2, .kv = b.get()}},
                 "segment 1");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = ok.data(), .t = 0, .kv = b.get()}},
                 "segment 1");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = ok.data(), .t = 3, .kv = a.get()}},
                 "share a cache");
  const std::vector<int32_t> long_prompt(9, 1);
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = long_prompt.data(), .t = 9, .kv = b.get()}},
                 "segment 1");
}

INSTANTIATE_TEST_SUITE_P(Arithmetic, ForwardBatchTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("F32Activations") : std::string("Bf16Activations");
                         });

}  // namespace
}  // namespace matspec
