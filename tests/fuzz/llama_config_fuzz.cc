// libFuzzer: config.json text for the llama family (ParseModelConfig).
#include "engine/model_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = matspec::ParseModelConfig(matspec::fuzz::AsText(data, size), "fuzz/config.json");
  if (!config.ok()) {
    matspec::fuzz::ExpectNamed(config.status(), "fuzz/config.json");
    return 0;
  }
  // Accepted configs are self-consistent: one width per layer, heads divide.
  if (static_cast<int64_t>(config->ffn_widths.size()) != config->num_layers) std::abort();
  if (config->num_kv_heads <= 0 || config->num_heads % config->num_kv_heads != 0) std::abort();
  return 0;
}
