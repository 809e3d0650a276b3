// Tokenizer: a SentencePiece model (`tokenizer.model`) behind a small interface
// of our own. sentencepiece 0.1.97's header declares its own absl::string_view,
// which clashes with real Abseil headers, so the sentencepiece include lives in
// tokenizer.cc alone and this header uses no Abseil type (errors come back as a
// message string; engine code wraps them in a Status).
#ifndef MATSPEC_ENGINE_TOKENIZER_H_
#define MATSPEC_ENGINE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <algorithm>
#include <string>
#include <vector>

namespace matspec {

class Tokenizer {
 public:
  // Loads `path`; on failure returns nullptr and sets *error to a message that
  // names the file.
  static std::unique_ptr<Tokenizer> Load(const std::string& path, std::string* error);
  ~Tokenizer();

  std::vector<int32_t> Encode(const std::string& text) const;
  std::string Decode(const std::vector<int32_t>& ids) const;
  int32_t PieceToId(const std::string& piece) const;  // -1 if absent (unknown)
  // Whether `id` is a byte-fallback piece (<0xNN>); false out of range.
  bool IsBytePiece(int32_t id) const;
  int64_t vocab_size() const;
  int32_t bos_id() const;  // -1 if the model defines none
  int32_t eos_id() const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streams text as tokens commit. SentencePiece pieces may end inside a UTF-8
// character (byte fallback), so this returns only the new, complete part of
// the decoded text, holding back a trailing incomplete character until the
// next token completes it. The text is the decoding of the whole sequence,
// built incrementally: each Push decodes only the tokens since the last
// complete point plus a window of at least kContextTokens before it, and
// appends the difference to the text known so far. Decoding is local: a
// piece's text depends on its neighbours only through runs of byte-fallback
// pieces (so the window starts on a piece that is not one) and through the
// leading space the first piece of a decode loses (so the window must decode
// to some text). Where no such window exists within kMaxWindowTokens, or the
// window's text is not a prefix of the longer decoding, the whole sequence is
// decoded instead. Cost per Push: O(new tokens), not O(sequence).
class TextStreamer {
 public:
  explicit TextStreamer(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}
  // Decodes the prompt as context without returning it, so the first generated
  // piece keeps its leading space.
  void Prime(const std::vector<int32_t>& prompt);
  // Appends tokens; returns the text that became final.
  std::string Push(const std::vector<int32_t>& tokens);
  // Everything not yet returned (at the end of generation).
  std::string Flush();
  // The generated text so far (without the prompt).
  std::string generated_text() const { return text_.substr(std::min(prompt_bytes_, text_.size())); }

  static constexpr size_t kContextTokens = 8;
  static constexpr size_t kMaxWindowTokens = 64;
  static_assert(kContextTokens >= 1 && kContextTokens <= kMaxWindowTokens);

 private:
  // Decodes ids_ from the settled point on into text_ (see above).
  void Extend();
  // Settles at the end of ids_ (text_ ends on a complete character).
  void Settle();

  const Tokenizer* tokenizer_;
  std::vector<int32_t> ids_;
  std::string text_;     // full decoded text (prompt included)
  size_t prompt_bytes_ = 0;
  size_t emitted_ = 0;   // bytes of text_ already returned
  // The settled point: text_[0, settled_bytes_) is the decoding of
  // ids_[0, settled_ids_), which ended on a complete character; window_text_
  // is the decoding of ids_[window_start_, settled_ids_) ("" when 0).
  size_t settled_ids_ = 0;
  size_t settled_bytes_ = 0;
  size_t window_start_ = 0;
  std::string window_text_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_TOKENIZER_H_
