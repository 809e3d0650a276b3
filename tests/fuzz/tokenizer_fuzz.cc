// libFuzzer: the tokenizer's input path with the bundled model's
// tokenizer.model: arbitrary bytes are encoded, the ids decoded and streamed
// back (TextStreamer), and arbitrary ids (the input read as int32s, some out
// of range) decoded.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
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
  // The incremental streamer equals the whole decode, for the input's ids
  // (folded into the vocabulary) in chunks whose sizes the input also picks.
  std::vector<int32_t> ids2(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    ids2[i] = static_cast<int32_t>(static_cast<uint32_t>(raw[i]) % static_cast<uint32_t>(tok.vocab_size()));
  }
  const size_t prompt = ids2.empty() ? 0 : data[0] % (ids2.size() + 1);
  matspec::TextStreamer incremental(&tok);
  incremental.Prime(std::vector<int32_t>(ids2.begin(), ids2.begin() + static_cast<std::ptrdiff_t>(prompt)));
  std::string streamed;
  for (size_t i = prompt, step = 0; i < ids2.size(); ++step) {
    const size_t n = std::min<size_t>(1 + data[step % size] % 7, ids2.size() - i);
    streamed += incremental.Push(std::vector<int32_t>(ids2.begin() + static_cast<std::ptrdiff_t>(i),
                                                      ids2.begin() + static_cast<std::ptrdiff_t>(i + n)));
    i += n;
  }
  streamed += incremental.Flush();
  const std::string whole = tok.Decode(ids2);
  const size_t prompt_bytes =
      tok.Decode(std::vector<int32_t>(ids2.begin(), ids2.begin() + static_cast<std::ptrdiff_t>(prompt))).size();
  if (streamed != incremental.generated_text() ||
      incremental.generated_text() != whole.substr(std::min(prompt_bytes, whole.size()))) {
    std::fprintf(stderr, "incremental streaming differs from the whole decode\n");
    std::abort();
  }
  return 0;
}
