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
  int64_t vocab_size() const;
  int32_t bos_id() const;  // -1 if the model defines none
  int32_t eos_id() const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streams text as tokens commit. SentencePiece pieces may end inside a UTF-8
// character (byte fallback), so this decodes the whole generated sequence and
// returns only the new, complete part, holding back a trailing incomplete
// character until the next token completes it.
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

 private:
  const Tokenizer* tokenizer_;
  std::vector<int32_t> ids_;
  std::string text_;     // full decoded text (prompt included)
  size_t prompt_bytes_ = 0;
  size_t emitted_ = 0;   // bytes of text_ already returned
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_TOKENIZER_H_
