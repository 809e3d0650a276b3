// libFuzzer: config.json text for Gemma 3n (IsGemma3nConfigJson, ParseGemma3nConfig).
#include "engine/gemma3n_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = matspec::fuzz::AsText(data, size);
  (void)matspec::IsGemma3nConfigJson(text);
  auto config = matspec::ParseGemma3nConfig(text, "fuzz/config.json");
  if (!config.ok()) {
    matspec::fuzz::ExpectNamed(config.status(), "fuzz/config.json");
    return 0;
  }
  const int64_t layers = config->base.num_layers;
  if (static_cast<int64_t>(config->base.ffn_widths.size()) != layers) std::abort();
  if (static_cast<int64_t>(config->kv_source.size()) != layers) std::abort();
  for (int64_t l = 0; l < layers; ++l) {
    if (config->kv_source[l] < 0 || config->kv_source[l] > l) std::abort();
  }
  return 0;
}
