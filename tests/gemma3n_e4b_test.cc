// The E4B-shaped random checkpoint (tools/make_random_gemma3n.py, ~13.7 GB,
// never committed): loads through the multimodal layout, every official slice
// validates with its effective parameter count within 1% of the table, and the
// full model and the official E2B slice each prefill and decode a few tokens on
// the CPU with finite logits, timing the decode step. Skipped unless
// MATSPEC_GEMMA3N_E4B_DIR names the checkpoint directory:
//   python3 tools/make_random_gemma3n.py --out /tmp/gemma3n-e4b-random
//   MATSPEC_GEMMA3N_E4B_DIR=/tmp/gemma3n-e4b-random build/tests/gemma3n_e4b_test
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "draft/slice_spec.h"
#include "engine/gemma3n_kv_cache.h"
#include "engine/gemma3n_model.h"
#include "engine/weight_store.h"
#include "gtest/gtest.h"

namespace matspec {
namespace {

TEST(Gemma3nE4BTest, LoadSlicesAndDecode) {
  const char* dir = std::getenv("MATSPEC_GEMMA3N_E4B_DIR");
  if (dir == nullptr) GTEST_SKIP() << "set MATSPEC_GEMMA3N_E4B_DIR to an E4B-shaped checkpoint";
  auto store = WeightStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  auto t0 = std::chrono::steady_clock::now();
  auto model_or = CreateGemma3nModel(std::string(dir) + "/config.json", **store);
  ASSERT_TRUE(model_or.ok()) << model_or.status();
  Model& model = **model_or;
  model.set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::printf("load: %.2f s, store %.2f GB\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              (*store)->total_bytes() / 1e9);
  EXPECT_EQ(model.ReservedLayers(), (std::vector<int64_t>{18, 19}));

  auto table = LoadSliceTable("matformer_configs/gemma3n.csv");
  ASSERT_TRUE(table.ok()) << table.status();
  SliceView e2b;
  for (const SliceSpec& spec : *table) {
    auto view = ValidateSlice(spec, model.config(), model.ReservedLayers());
    ASSERT_TRUE(view.ok()) << view.status();
    const double b = model.ParameterCount(*view) / 1e9;
    std::printf("%-36s %2zu layers  %.3fB effective (table %.2f)  %.2f GB read per token\n", spec.name.c_str(),
                view->layers.size(), b, *spec.declared_params_b, model.WeightBytesRead(*view) / 1e9);
    EXPECT_NEAR(b, *spec.declared_params_b, 0.01 * *spec.declared_params_b) << spec.name;
    if (spec.name == "Config for official E2B Model") e2b = *view;
  }
  ASSERT_EQ(e2b.layers.size(), 30u);

  const std::vector<int32_t> prompt = {2, 818, 5279, 529, 7001, 563, 496, 9919};
  const SliceView full = model.FullSlice();
  const SliceView& draft = e2b;
  for (const SliceView* slice : {&full, &draft}) {
    auto kv = model.NewKvCache(*slice, 64);
    std::vector<float> logits(model.vocab_size());
    ForwardArgs args;
    args.slice = slice;
    args.tokens = prompt.data();
    args.t = static_cast<int64_t>(prompt.size());
    args.kv = kv.get();
    args.logits = logits.data();
    ASSERT_TRUE(model.Forward(args).ok());
    int32_t next = 0;
    double decode_s = 0;
    const int steps = 4;
    for (int i = 0; i < steps; ++i) {
      next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + 262144) - logits.begin());
      args.tokens = &next;
      args.t = 1;
      auto s0 = std::chrono::steady_clock::now();
      ASSERT_TRUE(model.Forward(args).ok());
      decode_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
      for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    }
    auto* g = dynamic_cast<Gemma3nKvCache*>(kv.get());
    ASSERT_NE(g, nullptr);
    std::printf("%s: %.3f s per decode step; KV cache for 64 positions: %.1f MB full-attention + %.1f MB rings\n",
                slice->name.c_str(), decode_s / steps, g->KvCache::bytes() / 1e6, g->ring_bytes() / 1e6);
  }
}

}  // namespace
}  // namespace matspec
