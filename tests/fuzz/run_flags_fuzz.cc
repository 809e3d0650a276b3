// libFuzzer: the flag forms of the command line. The input is split at NUL
// bytes into (name, value) pairs, each given to SetRunOption as the CLI does,
// then the options are validated.
#include <vector>

#include "matspec/run_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = matspec::fuzz::AsText(data, size);
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\0') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  matspec::RunConfig config;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) {
    absl::Status s = matspec::SetRunOption(&config, parts[i], parts[i + 1], "--fuzz-flag");
    if (!s.ok()) matspec::fuzz::ExpectNamed(s, "--fuzz-flag");
  }
  (void)config.generation.Validate();
  return 0;
}
