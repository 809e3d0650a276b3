// --quantize end to end on small generated llama checkpoints: greedy
// speculative decoding equals plain decoding on the quantized model, the
// draft is a view (resident bytes with and without it are equal, the store
// holds each weight once, in its quantized size), the lossless sampling
// frequency test holds with quantized weights, and bad input is refused with
// the tensor, slice or layer named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "draft/slice_spec.h"
#include "engine/model.h"
#include "engine/safetensors_writer.h"
#include "engine/weight_store.h"
#include "matspec/matspec.h"
#include "matspec/quantize_checkpoint.h"
#include "matspec/run_config.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/frequency.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

testing::TinyLlamaOptions QuantizableLlama() {
  testing::TinyLlamaOptions opt;
  opt.vocab = 96;
  opt.hidden = 64;
  opt.layers = 3;
  opt.heads = 4;
  opt.kv_heads = 2;
  opt.ffn_widths = {128, 128, 128};
  opt.dtype = DType::kBF16;
  opt.max_pos = 128;
  return opt;
}

std::unique_ptr<Engine> LoadQuantized(const std::string& dir, const std::string& type) {
  LoadOptions lo;
  lo.model_dir = dir;
  lo.num_threads = 1;
  lo.quantize = type;
  auto e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

class QuantizedEngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), QuantizableLlama()).ok()); }
  testing::ScopedTempDir dir_{"quantized_engine"};
};

TEST_P(QuantizedEngineTest, SpeculativeEqualsPlainAndTheDraftIsAView) {
  std::unique_ptr<Engine> engine = LoadQuantized(dir_.path(), GetParam());
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->Describe().dtype, GetParam() == "q8" ? "Q8" : "Q4");
  const std::vector<int32_t> prompt = {3, 14, 15, 9, 26, 53, 58};
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.stop_at_eos = false;
  plain.speculative = false;
  auto a = engine->GenerateTokens(prompt, plain);
  ASSERT_TRUE(a.ok()) << a.status();
  for (const char* widths : {"32", "64", "96,32,64"}) {
    for (int64_t k : {1, 3, 5}) {
      GenerationOptions spec = plain;
      spec.speculative = true;
      spec.draft.ffn = widths;
      spec.draft.draft_max = k;
      auto b = engine->GenerateTokens(prompt, spec);
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(a->tokens, b->tokens) << "draft-ffn " << widths << " k=" << k;
      EXPECT_GT(b->stats.drafted_tokens, 0);
      EXPECT_EQ(a->stats.weight_bytes, b->stats.weight_bytes);
      EXPECT_EQ(a->stats.resident_weight_bytes, b->stats.resident_weight_bytes);
      EXPECT_LT(b->stats.draft_step_weight_bytes, b->stats.full_step_weight_bytes);
    }
  }
  // The store holds every quantized weight once, in its quantized size:
  // 3 layers x (q, o: 64 x 64; k, v: 32 x 64; gate, up, down: 128 x 64) in
  // the asked format, the untied head (96 x 64) in q8; the embedding and the
  // norms stay bf16.
  const int64_t layer_elements = 3 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 128 * 64), head_elements = 96 * 64;
  const int64_t per_block = GetParam() == "q8" ? 32 + 2 : 16 + 2;
  const int64_t dense = 2 * (96 * 64 + 64 + 3 * 2 * 64);
  EXPECT_EQ(a->stats.weight_bytes, layer_elements / 32 * per_block + head_elements / 32 * 34 + dense);
}

TEST_P(QuantizedEngineTest, BadInputIsRefusedByName) {
  std::unique_ptr<Engine> engine = LoadQuantized(dir_.path(), GetParam());
  ASSERT_NE(engine, nullptr);
  GenerationOptions spec;
  spec.max_new_tokens = 4;
  spec.draft.ffn = "48";  // not a whole number of blocks
  auto r = engine->GenerateTokens({1, 2, 3}, spec);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("layer 0 FFN width 48 is not a multiple of 32"));

  // A store quantized once is not quantized again.
  auto store = WeightStore::Open(dir_.path());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Quantize(DType::kQ8, 1).ok());
  const absl::Status again = (*store)->Quantize(DType::kQ4, 1);
  EXPECT_THAT(again.message(), HasSubstr("is already quantized"));
  EXPECT_THAT(again.message(), HasSubstr("tensor '"));
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizedEngineTest, ::testing::Values("q8", "q4"));

TEST(QuantizeLoadTest, RefusesUnknownTypesAndWidthsOffTheBlock) {
  testing::ScopedTempDir dir("quantize_load");
  testing::TinyLlamaOptions opt = QuantizableLlama();
  opt.ffn_widths = {128, 80, 128};  // down_proj of layer 1 has 80 columns
  ASSERT_TRUE(testing::WriteTinyLlama(dir.path(), opt).ok());
  LoadOptions lo;
  lo.model_dir = dir.path();
  lo.quantize = "q5";
  auto e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("--quantize: unknown quantization \"q5\""));
  lo.quantize = "q8";
  e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("tensor 'model.layers.1.mlp.down_proj.weight' has 80 columns"));

  RunConfig config;
  EXPECT_THAT(SetRunOption(&config, "quantize", "q3", "--quantize").message(), HasSubstr("q8 or q4"));
  ASSERT_TRUE(SetRunOption(&config, "quantize", "q4", "--quantize").ok());
  EXPECT_EQ(config.load.quantize, "q4");
}

// Lossless sampling with quantized weights: the frequency test of
// sampling_lossless_test.cc on a model whose sizes are whole blocks.
TEST(QuantizedSamplingTest, SpeculativeSamplingFollowsTheQuantizedTarget) {
  testing::ScopedTempDir dir("quantized_sampling");
  testing::TinyLlamaOptions opt = testing::LosslessSamplingModel();
  opt.hidden = 32;
  opt.ffn_widths = {64, 64};
  ASSERT_TRUE(testing::WriteTinyLlama(dir.path(), opt).ok());
  for (const char* type : {"q8", "q4"}) {
    std::unique_ptr<Engine> engine = LoadQuantized(dir.path(), type);
    ASSERT_NE(engine, nullptr);
    GenerationOptions o;
    o.temperature = 1.0;
    o.draft.ffn = "32";
    o.draft.skip = "1";
    const std::vector<int32_t> prompt = {1, 4, 2};
    auto spec = SliceSpecFromFlags(o.draft.ffn, o.draft.skip, engine->model().config());
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto slice = ValidateSlice(*spec, engine->model().config());
    ASSERT_TRUE(slice.ok()) << slice.status();
    const auto p = testing::TargetDistribution(*engine, prompt, o);
    const auto q = testing::Distribution(*engine, *slice, prompt, o);
    double tv = 0.0;
    for (size_t i = 0; i < p.size(); ++i) tv += std::abs(p[i] - q[i]) / 2;
    ASSERT_GT(tv, 0.05) << type << ": draft and target distributions are too close";
    for (int64_t k : {1, 3}) {
      o.draft.draft_max = k;
      EXPECT_LT(testing::SpeculativeJointZ(*engine, prompt, o, 20000), 4.0) << type << " k=" << k;
    }
  }
}

// `matspec quantize` writes a checkpoint that loads without --quantize and
// decodes exactly as --quantize does; --quantize on it is refused by name.
TEST(QuantizeCheckpointTest, WrittenCheckpointLoadsAsQuantizedAtLoad) {
  testing::ScopedTempDir src("quantize_src"), out("quantize_out");
  ASSERT_TRUE(testing::WriteTinyLlama(src.path(), QuantizableLlama()).ok());
  for (const char* type : {"q8", "q4"}) {
    const absl::Status s = QuantizeCheckpoint({.model_dir = src.path(), .out_dir = out.path(), .type = type, .num_threads = 1});
    ASSERT_TRUE(s.ok()) << s;
    std::unique_ptr<Engine> at_load = LoadQuantized(src.path(), type);
    LoadOptions lo;
    lo.model_dir = out.path();
    lo.num_threads = 1;
    auto written = Engine::Load(lo);
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_NE(at_load, nullptr);
    GenerationOptions o;
    o.max_new_tokens = 24;
    o.stop_at_eos = false;
    o.draft.ffn = "64";
    auto a = at_load->GenerateTokens({5, 6, 7}, o);
    auto b = (*written)->GenerateTokens({5, 6, 7}, o);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->tokens, b->tokens) << type;
    EXPECT_EQ(a->stats.weight_bytes, b->stats.weight_bytes) << type;
    EXPECT_EQ(a->stats.full_step_weight_bytes, b->stats.full_step_weight_bytes) << type;
    lo.quantize = "q8";
    auto again = Engine::Load(lo);
    ASSERT_FALSE(again.ok());
    EXPECT_THAT(again.status().message(), HasSubstr("is already quantized"));
  }
  EXPECT_THAT(QuantizeCheckpoint({.model_dir = src.path(), .out_dir = out.path(), .type = "q2"}).message(),
              HasSubstr("--type: unknown quantization \"q2\""));
  EXPECT_THAT(QuantizeCheckpoint({.model_dir = src.path(), .out_dir = src.path(), .type = "q8"}).message(),
              HasSubstr("is the source directory"));
}

// Hand-made quantized checkpoints with one thing wrong each.
TEST(QuantizeCheckpointTest, MalformedQuantizedTensorsAreRefusedByName) {
  const std::vector<int8_t> values(4 * 64, 1);
  const std::vector<uint16_t> scales(4 * 4, 0x3c00);  // enough for every case below
  struct Bad {
    std::vector<TensorToWrite> tensors;
    std::string want;
  };
  const std::string w = "model.layers.0.mlp.up_proj.weight";
  const Bad cases[] = {
      {{{w, "I8", {4, 64}, values.data(), 256}}, "has no scales tensor '" + w + ".scales'"},
      {{{w, "I8", {4, 64}, values.data(), 256}, {w + ".scales", "F16", {4, 4}, scales.data(), 32}},
       "the scales of '" + w + "' must be F16 [4, 2]"},
      {{{w, "I8", {4, 64}, values.data(), 256}, {w + ".scales", "BF16", {4, 2}, scales.data(), 16}},
       "got BF16 [4, 2]"},
      {{{w, "U8", {4, 24}, values.data(), 96}, {w + ".scales", "F16", {4, 1}, scales.data(), 8}},
       "has 48 columns: not a whole number of blocks of 32"},
      {{{w, "I8", {256}, values.data(), 256}}, "must be 2-D"},
      {{{w, "I4", {4, 64}, values.data(), 128}}, "unknown dtype \"I4\""},
  };
  for (const Bad& b : cases) {
    testing::ScopedTempDir dir("bad_quantized");
    ASSERT_TRUE(WriteSafetensors(dir.path() + "/model.safetensors", b.tensors, {}).ok());
    auto store = WeightStore::Open(dir.path());
    ASSERT_FALSE(store.ok()) << b.want;
    EXPECT_THAT(store.status().message(), HasSubstr(b.want));
    EXPECT_THAT(store.status().message(), HasSubstr(w));
  }
}

}  // namespace
}  // namespace matspec
