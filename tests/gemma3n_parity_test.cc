// Parity with Hugging Face transformers: the Gemma 3n forward reproduces
// Gemma3nForCausalLM's logits (float32, eager attention, use_cache=True)
// within 2e-3 absolute on the committed fixtures made by
// tools/fixtures/make_gemma3n_fixtures.py, for the full model and for every
// slice of each fixture (HF side: the sliced checkpoint built by the spec's
// weight surgery; engine side: the same E4B-style weights through a SliceView).
//   gemma3n_window:  causal-LM layout, f32, prompt 20 > sliding window 5.
//   gemma3n_kvshare: multimodal layout (model.language_model.*, vision/audio
//                    tensors present), bf16, 4 KV-consumer layers, prompt 24
//                    > window 8, one id beyond the per-layer vocabulary.
// Each logit set is checked for a whole-prompt forward and for the prompt fed
// through the cache in uneven chunks that cross the window boundary.
#include <cmath>

#include "engine/gemma3n_kv_cache.h"
#include "gtest/gtest.h"
#include "tests/testing/kernel_checks.h"
#include "tests/testing/gemma3n_fixture.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr float kAtol = 2e-3f;

struct Case {
  std::string fixture;
  std::string slice;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.fixture + "_" + info.param.slice;
}

class Gemma3nParityTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto f = testing::LoadGemma3nFixture(GetParam().fixture, 2);
    ASSERT_TRUE(f.ok()) << f.status();
    f_ = std::move(*f);
    for (const SliceView& s : f_.slices) {
      if (s.name == GetParam().slice) slice_ = s;
    }
    ASSERT_EQ(slice_.name, GetParam().slice) << "slice missing from fixture";
    want_ = f_.Expected(slice_.name);
    ASSERT_EQ(want_.size(), f_.tokens.size() * f_.model->vocab_size());
  }

  void ExpectClose(const std::vector<float>& got, const std::string& what) {
    ASSERT_EQ(got.size(), want_.size()) << what;
    float worst = 0.f;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const float e = std::abs(got[i] - want_[i]);
      if (!(e <= worst)) worst = e, at = i;
    }
    const int64_t v = f_.model->vocab_size();
    EXPECT_LE(worst, kAtol * testing::ToleranceScale()) << what << ": worst |diff| at token " << at / v << " id " << at % v << " (got "
                            << got[at] << ", HF " << want_[at] << ")";
    RecordProperty("max_abs_err_" + what, std::to_string(worst));
    std::printf("[ %s / %s / %s ] max |engine - HF| = %.3g\n", GetParam().fixture.c_str(), slice_.name.c_str(),
                what.c_str(), worst);
  }

  testing::Gemma3nFixture f_;
  SliceView slice_;
  std::vector<float> want_;
};

TEST_P(Gemma3nParityTest, WholePrompt) {
  ExpectClose(testing::RunLogits(*f_.model, slice_, f_.tokens, /*all_logits=*/true), "whole");
}

TEST_P(Gemma3nParityTest, ChunkedThroughCache) {
  const int64_t n = static_cast<int64_t>(f_.tokens.size());
  ExpectClose(testing::RunLogits(*f_.model, slice_, f_.tokens, true, {7, 1, 1, 5, n - 14}), "chunked");
}

TEST_P(Gemma3nParityTest, TokenByToken) {
  std::vector<int64_t> ones(f_.tokens.size(), 1);
  ExpectClose(testing::RunLogits(*f_.model, slice_, f_.tokens, true, ones), "decode");
}

// Rings of exactly the sliding window (max rollback 0): same HF parity, and
// bit-identical to a plain KvCache that keeps every position of every owner.
TEST_P(Gemma3nParityTest, WindowSizedRingsMatchFullStorage) {
  Gemma3nModel& model = *f_.model;
  model.set_max_rollback(0);
  const int64_t n = static_cast<int64_t>(f_.tokens.size());
  const int64_t vocab = model.vocab_size();
  const std::vector<std::vector<int64_t>> chunkings = {{n}, {7, 1, 1, 5, n - 14}, std::vector<int64_t>(n, 1)};
  for (const auto& chunks : chunkings) {
    auto ring = model.NewKvCache(slice_, n);
    ASSERT_EQ(static_cast<Gemma3nKvCache*>(ring.get())->ring_slots(), model.gemma_config().sliding_window);
    std::vector<bool> owners(model.config().num_layers, false);
    for (int64_t l : slice_.layers) owners[l] = !model.gemma_config().IsConsumer(l);
    KvCache plain(owners, model.config().num_kv_heads, model.config().head_dim, n);
    std::vector<float> got_ring, got_plain;
    int64_t done = 0;
    for (int64_t c : chunks) {
      for (KvCache* kv : {ring.get(), &plain}) {
        std::vector<float> logits(c * vocab);
        ForwardArgs args;
        args.slice = &slice_;
        args.tokens = f_.tokens.data() + done;
        args.t = c;
        args.kv = kv;
        args.logits = logits.data();
        args.all_logits = true;
        ASSERT_TRUE(model.Forward(args).ok());
        std::vector<float>& out = kv == &plain ? got_plain : got_ring;
        out.insert(out.end(), logits.begin(), logits.end());
      }
      done += c;
    }
    EXPECT_TRUE(got_ring == got_plain) << "ring and full storage differ, " << chunks.size() << " chunks";
    ExpectClose(got_ring, "ring" + std::to_string(chunks.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma3nParityTest,
                         ::testing::Values(Case{"window", "full"}, Case{"window", "half"},
                                           Case{"window", "skip_1_4"}, Case{"window", "skip_0_narrow"},
                                           Case{"kvshare", "full"}, Case{"kvshare", "skip_consumers"},
                                           Case{"kvshare", "skip_independent"}, Case{"kvshare", "mixed_widths"}),
                         CaseName);

TEST(Gemma3nFixtureTest, LayoutsAndTensorPrefixes) {
  auto window = testing::LoadGemma3nFixture("window");
  ASSERT_TRUE(window.ok()) << window.status();
  EXPECT_EQ(window->model->tensor_prefix(), "model.");
  EXPECT_EQ(window->model->config().model_type, "gemma3n");
  EXPECT_TRUE(window->model->ReservedLayers().empty());
  auto kv = testing::LoadGemma3nFixture("kvshare");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->model->tensor_prefix(), "model.language_model.");
  EXPECT_EQ(kv->model->ReservedLayers(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(kv->model->config().eos_token_ids, (std::vector<int32_t>{1}));
  EXPECT_EQ(kv->model->config().bos_token_id, 2);
}

TEST(Gemma3nFixtureTest, CreateFromConfigPathReturnsAModel) {
  auto store = WeightStore::Open("tests/fixtures/gemma3n_kvshare");
  ASSERT_TRUE(store.ok()) << store.status();
  auto model = CreateGemma3nModel("tests/fixtures/gemma3n_kvshare/config.json", **store);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->vocab_size(), 100);
  EXPECT_EQ((*model)->ReservedLayers(), (std::vector<int64_t>{4, 5}));
  auto missing = CreateGemma3nModel("tests/fixtures/gemma3n_kvshare/nope.json", **store);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace matspec
