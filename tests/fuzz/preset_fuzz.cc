// libFuzzer: TOML presets (ApplyPresetText: the UTF-8 / NUL / size guard,
// toml++, then every key through SetRunOption) and the validation of the
// options they set.
#include "decoding/preset_input.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  matspec::RunConfig config;
  absl::Status s = matspec::ApplyPresetText(matspec::fuzz::AsText(data, size), "fuzz.toml", &config);
  if (!s.ok()) {
    matspec::fuzz::ExpectNamed(s, "fuzz.toml");
    return 0;
  }
  (void)config.generation.Validate();
  return 0;
}
