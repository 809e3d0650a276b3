// Gemma 3n configuration and slicing rules: config.json parsing of both
// layouts and both RoPE formats with HF defaults, the derived KV-sharing map
// (spec §6.1), effective parameter counts (spec §7.7, exact for E4B and the
// E2B slice; within 1% for the official table), the Gemma-only ops'
// constants, slice validation (reserved KV producers refused by the model
// and by ValidateSlice), and which layers a slice's KV cache stores.
#include <algorithm>
#include <cmath>
#include <fstream>

#include "draft/slice_spec.h"
#include "engine/gemma3n_kv_cache.h"
#include "gtest/gtest.h"
#include "kernels/gemma3n_ops.h"
#include "tests/testing/gemma3n_fixture.h"

namespace matspec {
namespace {

Gemma3nConfig MustParse(const std::string& json) {
  auto c = ParseGemma3nConfig(json, "test.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Gemma3nConfig{};
}

SliceView SliceOf(const Gemma3nConfig& c, const std::vector<int64_t>& skipped, int64_t width) {
  std::vector<int64_t> widths(c.base.num_layers - skipped.size(), width);
  return testing::MakeGemmaSlice("s", c.base.num_layers, skipped, widths, c.base.ffn_widths);
}

TEST(Gemma3nConfigTest, E4BDefaults) {
  const Gemma3nConfig c = MustParse(R"({"model_type": "gemma3n_text"})");
  EXPECT_EQ(c.base.model_type, "gemma3n");
  EXPECT_EQ(c.base.vocab_size, 262400);
  EXPECT_EQ(c.vocab_size_per_layer_input, 262144);
  EXPECT_EQ(c.base.num_layers, 35);
  EXPECT_EQ(c.base.ffn_widths, std::vector<int64_t>(35, 16384));
  EXPECT_EQ(c.base.num_heads, 8);
  EXPECT_EQ(c.base.num_kv_heads, 2);
  EXPECT_EQ(c.base.head_dim, 256);
  EXPECT_TRUE(c.base.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rope_theta_full, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_theta_sliding, 1e4);
  EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 30.0);
  EXPECT_EQ(c.sliding_window, 512);
  for (int64_t l = 0; l < 35; ++l) {
    EXPECT_EQ(c.sliding[l], (l + 1) % 5 != 0) << l;
    EXPECT_DOUBLE_EQ(c.activation_sparsity[l], l < 10 ? 0.95 : 0.0) << l;
  }
  // Spec §6.1: owners 0-19; 24, 29, 34 -> 19; the other consumers -> 18.
  EXPECT_EQ(c.first_kv_shared_layer, 20);
  EXPECT_EQ(c.producers, (std::vector<int64_t>{18, 19}));
  for (int64_t l = 0; l < 35; ++l) {
    const int64_t want = l < 20 ? l : ((l + 1) % 5 == 0 ? 19 : 18);
    EXPECT_EQ(c.kv_source[l], want) << l;
  }
  EXPECT_EQ(Gemma3nEffectiveParameters(c, IdentitySlice(c.base.ffn_widths)), 3980491248);
  EXPECT_EQ(Gemma3nEmbeddingParameters(c, IdentitySlice(c.base.ffn_widths)), 2886205440);
}

TEST(Gemma3nConfigTest, E2BSliceParameterCountsAreExact) {
  const Gemma3nConfig c = MustParse(R"({"model_type": "gemma3n_text"})");
  const SliceView e2b = SliceOf(c, {20, 21, 22, 23, 24}, 8192);
  EXPECT_EQ(Gemma3nEffectiveParameters(c, e2b), 1905495648);
  EXPECT_EQ(Gemma3nEffectiveParameters(c, e2b) + Gemma3nEmbeddingParameters(c, e2b), 4456156768);
}

TEST(Gemma3nConfigTest, E2BConfig) {
  const Gemma3nConfig c = MustParse(
      R"({"model_type": "gemma3n_text", "num_hidden_layers": 30, "intermediate_size": 8192,
          "num_kv_shared_layers": 10})");
  EXPECT_EQ(c.producers, (std::vector<int64_t>{18, 19}));
  EXPECT_EQ(c.kv_source[24], 19);
  EXPECT_EQ(c.kv_source[29], 19);
  EXPECT_EQ(c.kv_source[23], 18);
  EXPECT_EQ(c.kv_source[19], 19);
  EXPECT_EQ(Gemma3nEffectiveParameters(c, IdentitySlice(c.base.ffn_widths)), 1905495648);
}

TEST(Gemma3nConfigTest, OfficialSliceTableWithinOnePercent) {
  const std::string path = "matformer_configs/gemma3n.csv";
  if (!std::ifstream(path)) GTEST_SKIP() << path << " not present";
  auto table = LoadSliceTable(path);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 16u);
  const Gemma3nConfig c = MustParse(R"({"model_type": "gemma3n_text"})");
  for (const SliceSpec& spec : *table) {
    auto view = ValidateSlice(spec, c.base, c.producers);
    ASSERT_TRUE(view.ok()) << view.status();
    ASSERT_TRUE(spec.declared_params_b.has_value());
    const double got_b = Gemma3nEffectiveParameters(c, *view) / 1e9;
    // The last row's name says 3.79 but its column says 3.74; the count (3.729)
    // agrees with the column.
    const double want_b = *spec.declared_params_b;
    EXPECT_NEAR(got_b, want_b, 0.01 * want_b) << spec.name;
  }
}

TEST(Gemma3nConfigTest, MultimodalLayoutAndOldRopeFields) {
  const Gemma3nConfig c = MustParse(R"({
      "model_type": "gemma3n", "architectures": ["Gemma3nForConditionalGeneration"],
      "eos_token_id": [1, 106], "bos_token_id": 2,
      "text_config": {"model_type": "gemma3n_text", "num_hidden_layers": 10, "intermediate_size": [1,2,3,4,5,6,7,8,9,10],
                      "num_kv_shared_layers": 4, "rope_theta": 5.0, "rope_local_base_freq": 7.0,
                      "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16},
      "vision_config": {"model_type": "gemma3n_vision"}})");
  EXPECT_EQ(c.base.num_layers, 10);
  EXPECT_EQ(c.base.ffn_widths[9], 10);
  EXPECT_DOUBLE_EQ(c.rope_theta_full, 5.0);
  EXPECT_DOUBLE_EQ(c.rope_theta_sliding, 7.0);
  EXPECT_EQ(c.base.eos_token_ids, (std::vector<int32_t>{1, 106}));
  EXPECT_EQ(c.base.bos_token_id, 2);
  EXPECT_EQ(c.producers, (std::vector<int64_t>{4, 5}));
  // L <= 10: the default sparsity pattern is all zero.
  EXPECT_EQ(c.activation_sparsity, std::vector<double>(10, 0.0));
}

TEST(Gemma3nConfigTest, NewRopeParameters) {
  const Gemma3nConfig c = MustParse(R"({"model_type": "gemma3n_text", "rope_parameters": {
      "full_attention": {"rope_type": "default", "rope_theta": 123.0},
      "sliding_attention": {"rope_type": "default", "rope_theta": 45.0}}})");
  EXPECT_DOUBLE_EQ(c.rope_theta_full, 123.0);
  EXPECT_DOUBLE_EQ(c.rope_theta_sliding, 45.0);
  EXPECT_DOUBLE_EQ(c.base.rope_theta, 123.0);
}

TEST(Gemma3nConfigTest, Errors) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{", "not valid JSON"},
      {R"({"model_type": "llama"})", "not a Gemma 3n"},
      {R"({"model_type": "gemma3n"})", "text_config"},
      {R"({"model_type": "gemma3n_text", "num_hidden_layers": 3, "layer_types": ["full_attention"]})",
       "layer_types"},
      {R"({"model_type": "gemma3n_text", "num_hidden_layers": 3, "intermediate_size": [1, 2]})",
       "intermediate_size"},
      {R"({"model_type": "gemma3n_text", "hidden_size": "big"})", "hidden_size"},
      {R"({"model_type": "gemma3n_text", "num_hidden_layers": 4, "num_kv_shared_layers": 2,
           "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "full_attention"]})",
       "no earlier layer"},
      {R"({"model_type": "gemma3n_text", "hidden_activation": "silu"})", "hidden_activation"},
      {R"({"model_type": "gemma3n_text", "num_hidden_layers": 2, "activation_sparsity_pattern": [0.5]})",
       "activation_sparsity_pattern"},
      {R"({"model_type": "gemma3n_text", "num_attention_heads": 3})", "multiple"},
  };
  for (const auto& [json, needle] : bad) {
    auto c = ParseGemma3nConfig(json, "bad.json");
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_NE(std::string(c.status().message()).find(needle), std::string::npos) << c.status();
    EXPECT_NE(std::string(c.status().message()).find("bad.json"), std::string::npos) << c.status();
  }
  EXPECT_EQ(LoadGemma3nConfig("tests/fixtures/no_such_dir/config.json").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(IsGemma3nConfigJson(R"({"model_type": "gemma3n"})"));
  EXPECT_TRUE(IsGemma3nConfigJson(R"({"model_type": "gemma3n_text"})"));
  EXPECT_FALSE(IsGemma3nConfigJson(R"({"model_type": "llama"})"));
  EXPECT_FALSE(IsGemma3nConfigJson("nope"));
}

TEST(Gemma3nOpsTest, NormalQuantileAndGaussianTopK) {
  EXPECT_NEAR(NormalQuantile(0.95), 1.6448536269514722, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.5), 0.0, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.01), -2.3263478740408408, 1e-12);
  // z = [1, 2, 3, 4]: mean 2.5, POPULATION std sqrt(1.25); cutoff = 2.5 + 1.118034 * 0.25.
  float z[4] = {1, 2, 3, 4};
  GaussianTopK(z, 1, 4, 4, 0.25f);
  const float cutoff = 2.5f + std::sqrt(1.25f) * 0.25f;
  EXPECT_FLOAT_EQ(z[0], 0.f);
  EXPECT_FLOAT_EQ(z[1], 0.f);
  EXPECT_FLOAT_EQ(z[2], 3.f - cutoff);
  EXPECT_FLOAT_EQ(z[3], 4.f - cutoff);
}

TEST(Gemma3nSliceTest, ProducersAreReservedAndRefused) {
  auto f = testing::LoadGemma3nFixture("kvshare");
  ASSERT_TRUE(f.ok()) << f.status();
  Gemma3nModel& model = *f->model;
  const Gemma3nConfig& c = model.gemma_config();
  EXPECT_EQ(model.ReservedLayers(), (std::vector<int64_t>{4, 5}));
  for (int64_t producer : {4, 5}) {
    // Refused by Forward even when the consumers reading it are skipped too.
    for (const std::vector<int64_t>& skipped : {std::vector<int64_t>{producer}, std::vector<int64_t>{producer, 6, 7, 8, 9}}) {
      const SliceView bad = SliceOf(c, skipped, 32);
      auto kv = model.NewKvCache(bad, 8);
      std::vector<float> logits(model.vocab_size());
      ForwardArgs args;
      args.slice = &bad;
      args.tokens = f->tokens.data();
      args.t = 1;
      args.kv = kv.get();
      args.logits = logits.data();
      const absl::Status s = model.Forward(args);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(s.message()).find("reserved"), std::string::npos) << s;
      EXPECT_EQ(kv->length(), 0);
    }
    // And by the engine's slice validation given ReservedLayers().
    SliceSpec spec;
    spec.name = "bad";
    spec.skipped_layers = {producer};
    spec.ffn_widths.assign(9, 32);
    auto view = ValidateSlice(spec, model.config(), model.ReservedLayers());
    EXPECT_FALSE(view.ok());
  }
  // Bad widths.
  SliceView wide = SliceOf(c, {}, 65);
  EXPECT_FALSE(model.CheckSlice(wide).ok());
  SliceView short_list = SliceOf(c, {}, 32);
  short_list.ffn_widths.pop_back();
  EXPECT_FALSE(model.CheckSlice(short_list).ok());
  SliceView mismatch = SliceOf(c, {1}, 32);
  mismatch.ffn_widths[1] = 32;  // width for a layer not in `layers`
  EXPECT_FALSE(model.CheckSlice(mismatch).ok());
  EXPECT_TRUE(model.CheckSlice(SliceOf(c, {1, 6, 7, 8, 9}, 32)).ok());
}

TEST(Gemma3nSliceTest, FixtureTablesValidateToTheFixtureSlices) {
  for (const std::string name : {"window", "kvshare"}) {
    auto f = testing::LoadGemma3nFixture(name);
    ASSERT_TRUE(f.ok()) << f.status();
    auto table = LoadSliceTable(f->dir + "/slices.csv");
    ASSERT_TRUE(table.ok()) << table.status();
    ASSERT_EQ(table->size(), f->slices.size());
    for (size_t i = 0; i < table->size(); ++i) {
      auto view = ValidateSlice((*table)[i], f->model->config(), f->model->ReservedLayers());
      ASSERT_TRUE(view.ok()) << view.status();
      EXPECT_EQ(view->layers, f->slices[i].layers) << (*table)[i].name;
      EXPECT_EQ(view->ffn_widths, f->slices[i].ffn_widths) << (*table)[i].name;
      EXPECT_TRUE(f->model->CheckSlice(*view).ok());
      ASSERT_TRUE((*table)[i].declared_params_b.has_value());
      EXPECT_NEAR(f->model->ParameterCount(*view) / 1e9, *(*table)[i].declared_params_b, 1e-9);
    }
  }
}

TEST(Gemma3nSliceTest, CacheStoresOnlyKeptOwners) {
  auto f = testing::LoadGemma3nFixture("kvshare");
  ASSERT_TRUE(f.ok()) << f.status();
  const Gemma3nModel& model = *f->model;
  const Gemma3nConfig& c = model.gemma_config();
  const int64_t row_bytes = 2 * c.base.num_kv_heads * c.base.head_dim * 4;  // K and V of one position
  // kvshare: S,S,S,S,F,S | consumers 6-9. Full-attention owner 4 keeps every
  // position; sliding owners 0-3 and 5 keep rings of window (8) + max rollback.
  auto check = [&](const SliceView& slice, const std::vector<int64_t>& full_layers,
                   const std::vector<int64_t>& ring_layers, int64_t capacity, int64_t slots) {
    auto kv = model.NewKvCache(slice, capacity);
    auto* g = dynamic_cast<Gemma3nKvCache*>(kv.get());
    ASSERT_NE(g, nullptr);
    for (int64_t l = 0; l < 10; ++l) {
      EXPECT_EQ(g->stores(l), std::count(full_layers.begin(), full_layers.end(), l) == 1) << l;
      EXPECT_EQ(g->has_ring(l), std::count(ring_layers.begin(), ring_layers.end(), l) == 1) << l;
    }
    EXPECT_EQ(g->ring_slots(), slots);
    EXPECT_EQ(g->KvCache::bytes(), static_cast<int64_t>(full_layers.size()) * capacity * row_bytes);
    EXPECT_EQ(g->ring_bytes(), static_cast<int64_t>(ring_layers.size()) * slots * row_bytes);
  };
  check(f->slices[0], {4}, {0, 1, 2, 3, 5}, 16, 16);   // ring capped at the capacity
  check(f->slices[0], {4}, {0, 1, 2, 3, 5}, 1000, 8 + Gemma3nModel::kDefaultMaxRollback);
  check(SliceOf(c, {1, 2, 7}, 32), {4}, {0, 3, 5}, 1000, 8 + Gemma3nModel::kDefaultMaxRollback);
  f->model->set_max_rollback(3);
  check(f->slices[0], {4}, {0, 1, 2, 3, 5}, 1000, 11);
  // The draft reads less: narrower FFNs, skipped layers, fewer per-layer slots.
  EXPECT_LT(model.WeightBytesRead(SliceOf(c, {1, 2, 7}, 32)), model.WeightBytesRead(f->slices[0]));
  EXPECT_GT(model.TotalParameterCount(f->slices[0]), model.ParameterCount(f->slices[0]));
}

}  // namespace
}  // namespace matspec
