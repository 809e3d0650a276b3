// libFuzzer: --draft-vocab-file lists (ParseTokenList) against a 1000-token vocabulary.
#include <unordered_set>

#include "draft/token_list.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto ids = matspec::ParseTokenList(matspec::fuzz::AsText(data, size), "fuzz.txt", 1000);
  if (!ids.ok()) {
    matspec::fuzz::ExpectNamed(ids.status(), "fuzz.txt");
    return 0;
  }
  std::unordered_set<int32_t> seen;
  for (int32_t id : *ids) {
    if (id < 0 || id >= 1000 || !seen.insert(id).second) std::abort();  // accepted ids are in range and distinct
  }
  return 0;
}
