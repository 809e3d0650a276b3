// Helpers shared by the libFuzzer harnesses in tests/fuzz/. Each harness feeds
// one parser untrusted bytes; the contract it checks is the library's: return
// a Status, never throw, crash, hang or trip a sanitizer. Harnesses abort()
// themselves when a parser breaks a documented promise (an error message that
// does not name its source), so libFuzzer records the input.
#ifndef MATSPEC_TESTS_FUZZ_FUZZ_COMMON_H_
#define MATSPEC_TESTS_FUZZ_FUZZ_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace matspec::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Aborts (a finding) when a failed status does not mention `source`.
inline void ExpectNamed(const absl::Status& s, std::string_view source) {
  const std::string message(s.message());  // Debian's absl::string_view is not std::string_view
  if (s.ok() || message.find(source) != std::string::npos) return;
  std::fprintf(stderr, "error does not name %.*s: %.*s\n", static_cast<int>(source.size()), source.data(),
               static_cast<int>(message.size()), message.data());
  std::abort();
}

}  // namespace matspec::fuzz

#endif  // MATSPEC_TESTS_FUZZ_FUZZ_COMMON_H_
