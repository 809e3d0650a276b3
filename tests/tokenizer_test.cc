// The SentencePiece wrapper and the text streamer, on the bundled tokenizer
// (byte fallback on): round trips, and streaming token by token never emits a
// partial UTF-8 character and adds up to the full decode.
#include "engine/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace matspec {
namespace {

constexpr char kPath[] = "models/matlm-tiny/tokenizer.model";

// True when s is a sequence of complete UTF-8 characters.
bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + extra > s.size() - 1) return false;
    for (int k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += extra + 1;
  }
  return true;
}

TEST(TokenizerTest, LoadsAndRoundTrips) {
  std::string error;
  auto tok = Tokenizer::Load(kPath, &error);
  ASSERT_NE(tok, nullptr) << error;
  EXPECT_GT(tok->vocab_size(), 256);
  const std::string text = "And God said, Let there be light: and there was light.";
  EXPECT_EQ(tok->Decode(tok->Encode(text)), text);
}

TEST(TokenizerTest, MissingFileIsNamed) {
  std::string error;
  EXPECT_EQ(Tokenizer::Load("/no/such/tokenizer.model", &error), nullptr);
  EXPECT_NE(error.find("/no/such/tokenizer.model"), std::string::npos);
}

TEST(TokenizerTest, StreamingNeverSplitsACharacter) {
  std::string error;
  auto tok = Tokenizer::Load(kPath, &error);
  ASSERT_NE(tok, nullptr) << error;
  const std::string text = " café naïve — 日本語 😀 end";  // byte-fallback pieces
  const std::vector<int32_t> ids = tok->Encode(text);
  TextStreamer streamer(tok.get());
  streamer.Prime(tok->Encode("Prompt:"));
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = streamer.Push({id});
    EXPECT_TRUE(ValidUtf8(piece)) << "partial character streamed";
    streamed += piece;
  }
  streamed += streamer.Flush();
  EXPECT_EQ(streamed, streamer.generated_text());
  EXPECT_NE(streamed.find("日本語"), std::string::npos);
  EXPECT_NE(streamed.find("😀"), std::string::npos);
}

// The streamer decodes incrementally (a window of kContextTokens before the
// last complete point); its text must be exactly the decoding of the whole
// sequence, whatever the ids and however they arrive: random ids over the
// vocabulary (byte-fallback pieces, control tokens, <unk>), text with
// multi-byte characters, chunks of 1-9 tokens, prompts of 0-20 ids.
TEST(TokenizerTest, IncrementalStreamingEqualsTheWholeDecode) {
  std::string error;
  auto tok = Tokenizer::Load(kPath, &error);
  ASSERT_NE(tok, nullptr) << error;
  std::mt19937 rng(7);
  const std::vector<std::string> texts = {" café naïve — 日本語 😀 end", "And God said, Let there be light",
                                          "  two  spaces\nand a newline ", "ÄÖÜ ß €100 ½ 𝄞"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<int32_t> all;
    while (all.size() < 60) {
      if (rng() % 2 == 0) {
        const std::vector<int32_t> ids = tok->Encode(texts[rng() % texts.size()]);
        all.insert(all.end(), ids.begin(), ids.end());
      } else {
        const int run = 1 + static_cast<int>(rng() % 6);
        for (int r = 0; r < run; ++r) {
          // Byte-fallback pieces (ids 3-258 here) half of the time, any id otherwise.
          all.push_back(rng() % 2 ? static_cast<int32_t>(3 + rng() % 256)
                                  : static_cast<int32_t>(rng() % tok->vocab_size()));
        }
      }
    }
    const size_t prompt_len = rng() % 21;
    const std::vector<int32_t> prompt(all.begin(), all.begin() + prompt_len);
    TextStreamer streamer(tok.get());
    streamer.Prime(prompt);
    std::string streamed;
    for (size_t i = prompt_len; i < all.size();) {
      const size_t n = std::min<size_t>(1 + rng() % 9, all.size() - i);
      streamed += streamer.Push(std::vector<int32_t>(all.begin() + i, all.begin() + i + n));
      i += n;
    }
    streamed += streamer.Flush();
    const std::string whole = tok->Decode(all), prompt_text = tok->Decode(prompt);
    // What the streamer always called the generated text: the whole decode past the prompt's own bytes.
    ASSERT_EQ(streamer.generated_text(), whole.substr(std::min(prompt_text.size(), whole.size())))
        << "trial " << trial;
    ASSERT_EQ(streamed, streamer.generated_text()) << "trial " << trial;
  }
}

}  // namespace
}  // namespace matspec
