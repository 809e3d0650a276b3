// Parity with Hugging Face transformers: the llama forward reproduces
// LlamaForCausalLM's logits (f32, within 1e-4 absolute) on committed fixtures
// made by tools/fixtures/make_llama_fixtures.py — for a whole-prompt forward, for
// the same prompt fed through the KV cache in uneven chunks, and for HF's greedy
// continuation.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "decoding/speculative_decoder.h"
#include "engine/safetensors.h"
#include "gtest/gtest.h"
#include "tests/testing/kernel_checks.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr float kAtol = 1e-4f;

std::vector<float> ReadF32(const SafetensorsFile& f, const std::string& name, std::vector<int64_t>* shape) {
  auto it = f.tensors().find(name);
  if (it == f.tensors().end() || it->second.dtype != DType::kF32) return {};
  *shape = it->second.shape;
  const float* p = static_cast<const float*>(it->second.data);
  return std::vector<float>(p, p + it->second.nbytes / 4);
}

class LlamaParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = "tests/fixtures/" + GetParam();
    auto loaded = testing::LoadLlama(dir_, 2);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
    std::ifstream in(dir_ + "/tokens.json");
    ASSERT_TRUE(in) << dir_ << "/tokens.json";
    std::stringstream ss;
    ss << in.rdbuf();
    prompt_ = nlohmann::json::parse(ss.str())["prompt"].get<std::vector<int32_t>>();
    ASSERT_GE(prompt_.size(), 20u);
    auto expected = SafetensorsFile::Open(dir_ + "/expected.safetensors");
    ASSERT_TRUE(expected.ok()) << expected.status();
    expected_ = std::move(*expected);
  }

  void ExpectClose(const std::vector<float>& got, const std::string& name) {
    std::vector<int64_t> shape;
    const std::vector<float> want = ReadF32(*expected_, name, &shape);
    ASSERT_FALSE(want.empty()) << name << " missing from " << dir_;
    ASSERT_EQ(shape.size(), 2u);
    ASSERT_EQ(shape[0], static_cast<int64_t>(prompt_.size()));
    ASSERT_EQ(shape[1], m_.config.vocab_size);
    ASSERT_EQ(got.size(), want.size());
    float worst = 0.f;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const float e = std::abs(got[i] - want[i]);
      if (e > worst) worst = e, at = i;
    }
    EXPECT_LE(worst, kAtol * testing::ToleranceScale()) << name << ": worst error at token " << at / shape[1] << " id " << at % shape[1]
                            << " got " << got[at] << " want " << want[at];
  }

  std::string dir_;
  testing::LoadedModel m_;
  std::vector<int32_t> prompt_;
  std::unique_ptr<SafetensorsFile> expected_;
};

TEST_P(LlamaParityTest, WholePromptLogitsMatchTransformers) {
  ExpectClose(testing::RunLogits(*m_.model, m_.model->FullSlice(), prompt_, true), "logits");
}

TEST_P(LlamaParityTest, ChunkedCacheLogitsMatchTransformers) {
  const int64_t n = static_cast<int64_t>(prompt_.size());
  ExpectClose(testing::RunLogits(*m_.model, m_.model->FullSlice(), prompt_, true, {17, 1, 4, n - 22}),
              "logits_incremental");
}

TEST_P(LlamaParityTest, GreedyContinuationMatchesTransformers) {
  std::vector<int64_t> shape;
  const std::vector<float> want_f = ReadF32(*expected_, "greedy_tokens", &shape);
  ASSERT_FALSE(want_f.empty());
  std::vector<int32_t> want(want_f.begin(), want_f.end());
  DecodeParams p;
  p.max_new_tokens = static_cast<int64_t>(want.size());
  p.context_size = m_.config.max_position_embeddings;
  SpeculativeDecoder d(m_.model.get(), p);
  std::vector<int32_t> got;
  GenerationStats stats;
  ASSERT_TRUE(d.Run(prompt_, nullptr, &got, &stats).ok());
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaParityTest, ::testing::Values("llama_tiny", "llama_tiny_tied_list"));

}  // namespace
}  // namespace matspec
