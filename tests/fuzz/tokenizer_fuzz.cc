// libFuzzer: the tokenizer's input path with the bundled model's
// tokenizer.model: arbitrary bytes are encoded, the ids decoded and streamed
// back (TextStreamer), and arbitrary ids (the input read as int32s, some out
// of range) decoded.
#include <cstring>
#include <vector>

#include "engine/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

const matspec::Tokenizer* Bundled() {
  static const matspec::Tokenizer* tokenizer = [] {
    std::string error;
    const char* path = std::getenv("MATSPEC_FUZZ_TOKENIZER");
    auto t = matspec::Tokenizer::Load(path ? path : "models/matlm-tiny/tokenizer.model", &error);
    if (!t) {
      std::fprintf(stderr, "%s (run from the repository root or set MATSPEC_FUZZ_TOKENIZER)\n", error.c_str());
      std::abort();
    }
    return t.release();
  }();
  return tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const matspec::Tokenizer& tok = *Bundled();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tok.Encode(text);
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.vocab_size()) std::abort();
  }
  (void)tok.Decode(ids);
  matspec::TextStreamer streamer(&tok);
  streamer.Prime({});
  (void)streamer.Push(ids);
  (void)streamer.Flush();
  std::vector<int32_t> raw(size / 4);
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * 4);
  (void)tok.Decode(raw);
  return 0;
}
