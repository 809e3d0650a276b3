// libFuzzer: the JSON options of the C ABI (matspec_engine_load and
// matspec_submit take them as text; the server's request bodies map onto the
// same keys). ApplyOptionsJson must refuse bad text, unknown keys and
// mistyped values with a status naming its origin, and never throw or crash;
// the options it accepts are then validated as a request's would be.
#include <string>

#include "matspec/json.h"
#include "matspec/run_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = matspec::fuzz::AsText(data, size);
  matspec::RunConfig config;
  const absl::Status s = matspec::ApplyOptionsJson(text, "fuzz-options", &config);
  if (!s.ok()) {
    matspec::fuzz::ExpectNamed(s, "fuzz-options");
    return 0;
  }
  (void)config.generation.Validate();
  return 0;
}
