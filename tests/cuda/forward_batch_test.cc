// CudaModel::ForwardBatch (continuous batching on the GPU, CudaLlamaModel)
// against the GPU's own Forward, as tests/forward_batch_test.cc does on the
// CPU: sequences at different cache lengths, each with its own number of new
// tokens and its own logits request (all rows, the last, none), run as one
// batched forward must give every sequence bit-identical logits and cache
// entries to a Forward of that sequence alone. Cases: decode rows of many
// sequences (one shared product, and more than 16 rows: two), ragged
// verification rows, a prefill chunk longer than 16 rows beside decode rows,
// a verification of more than 16 rows with all its logits, a draft slice,
// one segment; bf16, f16 and f32 weights. Bad batches are refused, naming
// the segment, and leave every cache where it was. Skips without a GPU.
#include <cuda_runtime_api.h>

#include <cstring>
#include <random>

#include "draft/slice_spec.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/cuda/cuda_llama_model.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_context.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/forward_batch_fixture.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr int64_t kVocab = 300;

std::vector<float> DeviceFloats(const float* device, int64_t n) {
  std::vector<float> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (n > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

class CudaForwardBatchTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    const testing::TinyLlamaOptions opt = testing::ForwardBatchLlama(kVocab, GetParam());
    ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), opt).ok());
    auto loaded = testing::LoadLlama(dir_.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    host_ = std::move(*loaded);
    auto gpu = CudaLlamaModel::Create(host_.config, *host_.store);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    model_ = std::move(*gpu);
    ASSERT_TRUE(model_->batched_forward());
    auto slice = testing::ForwardBatchDraft(host_.config);
    ASSERT_TRUE(slice.ok()) << slice.status();
    slice_ = *slice;
  }

  std::vector<int32_t> Tokens(int64_t n) { return testing::RandomTokens(rng_, n, kVocab); }

  // Prefills `prompt_lengths` sequences into pairs of identical caches, then
  // runs one round of new tokens (`new_tokens[i]` for sequence i) batched on
  // one side and alone on the other, and compares logits and caches bit for bit.
  void CheckRound(const SliceView& slice, const std::vector<int64_t>& prompt_lengths,
                  const std::vector<int64_t>& new_tokens) {
    const size_t n = prompt_lengths.size();
    std::vector<std::unique_ptr<KvCache>> solo(n), batched(n);
    for (size_t i = 0; i < n; ++i) {
      solo[i] = model_->NewKvCache(slice, 256);
      batched[i] = model_->NewKvCache(slice, 256);
      const std::vector<int32_t> prompt = Tokens(prompt_lengths[i]);
      for (KvCache* kv : {solo[i].get(), batched[i].get()}) {
        const absl::Status s =
            model_->Forward({.slice = &slice, .tokens = prompt.data(), .t = prompt_lengths[i], .kv = kv});
        ASSERT_TRUE(s.ok()) << s;
      }
    }
    std::vector<std::vector<int32_t>> tokens(n);
    std::vector<std::vector<float>> solo_logits(n), batch_logits(n);
    std::vector<BatchSegment> segments(n);
    for (size_t i = 0; i < n; ++i) {
      tokens[i] = Tokens(new_tokens[i]);
      const bool all = i % 2 == 0;
      const bool none = i % 5 == 3;  // a draft catch-up forward or a prefill chunk wants no logits
      const int64_t rows = none ? 0 : all ? new_tokens[i] : 1;
      solo_logits[i].assign(rows * kVocab, 0.f);
      batch_logits[i].assign(rows * kVocab, 1.f);
      segments[i] = {.tokens = tokens[i].data(),
                     .t = new_tokens[i],
                     .kv = batched[i].get(),
                     .logits = none ? nullptr : batch_logits[i].data(),
                     .all_logits = all};
      const absl::Status s =
          model_->Forward({.slice = &slice, .tokens = tokens[i].data(), .t = new_tokens[i], .kv = solo[i].get(),
                           .logits = none ? nullptr : solo_logits[i].data(), .all_logits = all});
      ASSERT_TRUE(s.ok()) << s;
    }
    const absl::Status s = model_->ForwardBatch(slice, segments, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(::testing::Message() << "sequence " << i << " of " << n);
      if (!solo_logits[i].empty()) {
        EXPECT_EQ(0, std::memcmp(solo_logits[i].data(), batch_logits[i].data(), solo_logits[i].size() * sizeof(float)));
      }
      ASSERT_EQ(solo[i]->length(), batched[i]->length());
      const auto& a = static_cast<const CudaKvCache&>(*solo[i]);
      const auto& b = static_cast<const CudaKvCache&>(*batched[i]);
      const int64_t floats = a.length() * a.row_floats();
      for (int64_t l : slice.layers) {
        EXPECT_EQ(DeviceFloats(a.device_keys(l), floats), DeviceFloats(b.device_keys(l), floats)) << "layer " << l;
        EXPECT_EQ(DeviceFloats(a.device_values(l), floats), DeviceFloats(b.device_values(l), floats))
            << "layer " << l;
      }
    }
  }

  testing::ScopedTempDir dir_{"cuda_forward_batch"};
  testing::LoadedModel host_;
  std::unique_ptr<CudaLlamaModel> model_;
  SliceView slice_;
  std::mt19937 rng_{11};
};

TEST_P(CudaForwardBatchTest, DecodeRowsOfManySequencesEqualEachAlone) {
  CheckRound(model_->FullSlice(), {5, 1, 17, 9, 30, 2, 12, 3}, {1, 1, 1, 1, 1, 1, 1, 1});
}

TEST_P(CudaForwardBatchTest, MoreDecodeRowsThanOneSharedProductEqualEachAlone) {
  std::vector<int64_t> prompts, ones;
  for (int i = 0; i < 21; ++i) {
    prompts.push_back(1 + (i * 7) % 23);
    ones.push_back(1);
  }
  CheckRound(model_->FullSlice(), prompts, ones);
}

TEST_P(CudaForwardBatchTest, RaggedVerificationRowsEqualEachAlone) {
  CheckRound(model_->FullSlice(), {5, 8, 17, 2}, {5, 1, 3, 9});
}

TEST_P(CudaForwardBatchTest, APrefillChunkBesideDecodeRowsEqualsEachAlone) {
  // Sequence 3 (i % 5 == 3) takes no logits: a 40-token chunk, past 16 rows (cuBLAS when alone).
  CheckRound(model_->FullSlice(), {4, 20, 7, 1, 3}, {1, 1, 1, 40, 1});
}

TEST_P(CudaForwardBatchTest, ALongVerificationWithAllLogitsEqualsItselfAlone) {
  CheckRound(model_->FullSlice(), {6, 9, 3}, {20, 1, 17});
}

TEST_P(CudaForwardBatchTest, DraftSliceBatchEqualsEachAlone) {
  CheckRound(slice_, {6, 3, 14, 1, 25}, {2, 1, 1, 1, 2});
  CheckRound(slice_, {6, 3, 14}, {12, 11, 10});
}

TEST_P(CudaForwardBatchTest, OneSegmentEqualsForward) { CheckRound(model_->FullSlice(), {7}, {6}); }

TEST_P(CudaForwardBatchTest, BadBatchesAreRefusedAndNoCacheMoves) {
  const SliceView full = model_->FullSlice();
  auto a = model_->NewKvCache(full, 8);
  auto b = model_->NewKvCache(full, 8);
  auto host_cache = host_.model->NewKvCache(full, 8);       // not a GPU cache
  SliceView no_layers = full;
  no_layers.layers.clear();
  auto narrow = model_->NewKvCache(no_layers, 8);  // stores no layer
  const std::vector<int32_t> ok = {1, 2, 3};
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(kVocab)};
  auto expect_refused = [&](std::vector<BatchSegment> segments, const std::string& words) {
    absl::Status s = model_->ForwardBatch(full, segments, nullptr);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(std::string(s.message()).find(words), std::string::npos) << s;
    EXPECT_EQ(a->length(), 0);
    EXPECT_EQ(b->length(), 0);
  };
  expect_refused({}, "no segment");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = bad.data(), .t = 2, .kv = b.get()}},
                 "segment 1");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = ok.data(), .t = 3, .kv = a.get()}},
                 "share a cache");
  const std::vector<int32_t> long_prompt(9, 1);
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = long_prompt.data(), .t = 9, .kv = b.get()}},
                 "segment 1");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = a.get()}, {.tokens = ok.data(), .t = 3, .kv = host_cache.get()}},
                 "segment 1 of the batch: the CUDA model needs a KV cache");
  expect_refused({{.tokens = ok.data(), .t = 3, .kv = narrow.get()}, {.tokens = ok.data(), .t = 3, .kv = b.get()}},
                 "segment 0 of the batch: KV cache has no storage");
  // Still usable afterwards.
  float logits[kVocab];
  const std::vector<BatchSegment> fine = {{.tokens = ok.data(), .t = 3, .kv = a.get(), .logits = logits},
                                          {.tokens = ok.data(), .t = 2, .kv = b.get()}};
  const absl::Status s = model_->ForwardBatch(full, fine, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(a->length(), 3);
  EXPECT_EQ(b->length(), 2);
}

INSTANTIATE_TEST_SUITE_P(Weights, CudaForwardBatchTest, ::testing::Values(DType::kBF16, DType::kF16, DType::kF32),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(info.param == DType::kBF16  ? "Bf16"
                                              : info.param == DType::kF16 ? "F16"
                                                                          : "F32");
                         });

}  // namespace
}  // namespace matspec
