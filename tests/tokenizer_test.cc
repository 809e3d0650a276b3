// The SentencePiece wrapper and the text streamer, on the bundled tokenizer
// (byte fallback on): round trips, and streaming token by token never emits a
// partial UTF-8 character and adds up to the full decode.
#include "engine/tokenizer.h"

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

}  // namespace
}  // namespace matspec
