// --quantize q8 / q4 with --device cuda on small generated llama checkpoints
// (untied head, and a tied one whose q8 embedding the GPU gathers from):
// greedy speculative decoding equals plain greedy on the GPU for several
// draft widths and k (the quantized kernel keeps each row's bits whatever t),
// and the GPU's greedy tokens stay close to the CPU's on the same quantized
// weights (the CPU quantizes x to int8 per block, the GPU keeps x in f32, so
// they are compared by the first token and the common prefix, not bit for
// bit). A Gemma 3n-style refusal is covered by the CPU suite. Skips without a GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec {
namespace {

testing::TinyLlamaOptions QuantizableLlama(bool tied) {
  testing::TinyLlamaOptions opt;
  opt.vocab = 96;
  opt.hidden = 64;
  opt.layers = 3;
  opt.heads = 4;
  opt.kv_heads = 2;
  opt.ffn_widths = {128, 128, 128};
  opt.dtype = DType::kBF16;
  opt.max_pos = 128;
  opt.tie_embeddings = tied;
  return opt;
}

std::unique_ptr<Engine> LoadQuantized(const std::string& dir, const std::string& type, const std::string& device) {
  LoadOptions lo;
  lo.model_dir = dir;
  lo.device = device;
  lo.num_threads = 2;
  lo.quantize = type;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << device << ": " << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<int32_t> Prompt(int i) {
  std::vector<int32_t> p = {1};
  for (int j = 0; j < 5 + (i * 7) % 11; ++j) p.push_back(static_cast<int32_t>((i * 131 + j * 37 + 5) % 96));
  return p;
}

class CudaQuantizedEngineTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), QuantizableLlama(std::get<1>(GetParam()))).ok());
  }
  testing::ScopedTempDir dir_{"cuda_quantized_engine"};
};

TEST_P(CudaQuantizedEngineTest, GreedySpeculativeEqualsPlainAndStaysCloseToTheCpu) {
  const std::string type = std::get<0>(GetParam());
  std::unique_ptr<Engine> gpu = LoadQuantized(dir_.path(), type, "cuda");
  std::unique_ptr<Engine> cpu = LoadQuantized(dir_.path(), type, "cpu");
  ASSERT_TRUE(gpu && cpu);
  EXPECT_EQ(gpu->Describe().dtype, type == "q8" ? "Q8" : "Q4");
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.stop_at_eos = false;
  plain.speculative = false;
  int first_agree = 0;
  for (int i = 0; i < 4; ++i) {
    auto a = gpu->GenerateTokens(Prompt(i), plain);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->tokens.size(), 40u);
    auto c = cpu->GenerateTokens(Prompt(i), plain);
    ASSERT_TRUE(c.ok()) << c.status();
    size_t common = 0;
    while (common < a->tokens.size() && a->tokens[common] == c->tokens[common]) ++common;
    first_agree += common > 0;
    std::printf("%s%s prompt %d: GPU and CPU greedy share the first %zu of 40 tokens\n", type.c_str(),
                std::get<1>(GetParam()) ? " tied" : "", i, common);
    for (const char* widths : {"32", "64", "96,32,64"}) {
      for (int64_t k : {1, 3, 5}) {
        GenerationOptions spec = plain;
        spec.speculative = true;
        spec.draft.ffn = widths;
        spec.draft.draft_max = k;
        auto b = gpu->GenerateTokens(Prompt(i), spec);
        ASSERT_TRUE(b.ok()) << b.status();
        EXPECT_EQ(a->tokens, b->tokens) << type << " draft-ffn " << widths << " k=" << k << " prompt " << i;
        EXPECT_GT(b->stats.drafted_tokens, 0);
      }
    }
  }
  // The first token comes from the prompt's forward alone: the int8 rounding
  // of x on the CPU may flip a near tie, not most of them.
  EXPECT_GE(first_agree, 3) << type;
}

INSTANTIATE_TEST_SUITE_P(Types, CudaQuantizedEngineTest,
                         ::testing::Combine(::testing::Values("q8", "q4"), ::testing::Bool()));

}  // namespace
}  // namespace matspec
