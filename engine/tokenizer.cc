// The only translation unit that includes sentencepiece (no Abseil header here).
#include "engine/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sys/stat.h>

namespace matspec {

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::string& path, std::string* error) {
  // SentencePiece reads the file whole: refuse special files and absurd sizes first.
  constexpr long long kMaxTokenizerBytes = 256ll << 20;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "cannot load tokenizer " + path + ": not a regular file";
    return nullptr;
  }
  if (static_cast<long long>(st.st_size) > kMaxTokenizerBytes) {
    *error = "cannot load tokenizer " + path + ": file is " + std::to_string(st.st_size) +
             " bytes, more than the limit of " + std::to_string(kMaxTokenizerBytes);
    return nullptr;
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  const auto status = t->impl_->sp.Load(path);
  if (!status.ok()) {
    *error = "cannot load tokenizer " + path + ": " + status.ToString();
    return nullptr;
  }
  return t;
}

std::vector<int32_t> Tokenizer::Encode(const std::string& text) const {
  std::vector<int> ids;
  impl_->sp.Encode(text, &ids).IgnoreError();
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  const int n = impl_->sp.GetPieceSize();
  for (int& id : v) {
    if (id < 0 || id >= n) id = impl_->sp.unk_id();
  }
  std::string out;
  impl_->sp.Decode(v, &out).IgnoreError();
  return out;
}

int32_t Tokenizer::PieceToId(const std::string& piece) const {
  const int id = impl_->sp.PieceToId(piece);
  if (id == impl_->sp.unk_id() && piece != impl_->sp.IdToPiece(id)) return -1;
  return id;
}

int64_t Tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
bool Tokenizer::IsBytePiece(int32_t id) const {
  return id >= 0 && id < impl_->sp.GetPieceSize() && impl_->sp.IsByte(id);
}
int32_t Tokenizer::bos_id() const { return impl_->sp.bos_id(); }
int32_t Tokenizer::eos_id() const { return impl_->sp.eos_id(); }

namespace {

// Length of the longest prefix of s that does not end in an incomplete UTF-8
// sequence or in U+FFFD (what a partial byte-fallback character decodes to).
size_t CompletePrefix(const std::string& s) {
  size_t n = s.size();
  // Each byte of a character still being assembled from byte-fallback pieces
  // decodes to one U+FFFD (EF BF BD): hold back up to three of them.
  for (int held = 0; held < 3 && n >= 3; ++held) {
    if (static_cast<unsigned char>(s[n - 3]) != 0xEF || static_cast<unsigned char>(s[n - 2]) != 0xBF ||
        static_cast<unsigned char>(s[n - 1]) != 0xBD) {
      break;
    }
    n -= 3;
  }
  if (n < s.size()) return n;
  // Walk back over continuation bytes to the last lead byte.
  size_t i = n;
  int cont = 0;
  while (i > 0 && cont < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++cont;
  }
  if (i == 0) return n;
  const unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  int need = 0;
  if (lead >= 0xF0) need = 3;
  else if (lead >= 0xE0) need = 2;
  else if (lead >= 0xC0) need = 1;
  return cont < need ? i - 1 : n;
}

}  // namespace

void TextStreamer::Prime(const std::vector<int32_t>& prompt) {
  ids_ = prompt;
  text_.clear();
  settled_ids_ = settled_bytes_ = window_start_ = 0;
  window_text_.clear();
  Extend();
  prompt_bytes_ = text_.size();
  emitted_ = text_.size();
}

void TextStreamer::Extend() {
  const auto from = ids_.begin() + static_cast<std::ptrdiff_t>(window_start_);
  const std::string tail = tokenizer_->Decode(std::vector<int32_t>(from, ids_.end()));
  if (tail.compare(0, window_text_.size(), window_text_) == 0) {
    text_.resize(settled_bytes_);
    text_.append(tail, window_text_.size(), std::string::npos);
  } else {
    text_ = tokenizer_->Decode(ids_);  // not local after all: decode everything
  }
  if (CompletePrefix(text_) == text_.size()) Settle();
}

void TextStreamer::Settle() {
  settled_ids_ = ids_.size();
  settled_bytes_ = text_.size();
  // A window start that is not inside a byte-fallback run, and a window that
  // decodes to some text; else the start of the sequence.
  size_t start = settled_ids_ - std::min(settled_ids_, kContextTokens);
  const size_t limit = settled_ids_ - std::min(settled_ids_, kMaxWindowTokens);
  while (start > limit && tokenizer_->IsBytePiece(ids_[start])) --start;
  if (start > 0 && tokenizer_->IsBytePiece(ids_[start])) start = 0;
  const auto first = ids_.begin() + static_cast<std::ptrdiff_t>(start);
  std::string window = start > 0 ? tokenizer_->Decode(std::vector<int32_t>(first, ids_.end())) : text_;
  if (start > 0 && window.empty()) {
    start = 0;
    window = text_;
  }
  window_start_ = start;
  window_text_ = std::move(window);
}

std::string TextStreamer::Push(const std::vector<int32_t>& tokens) {
  ids_.insert(ids_.end(), tokens.begin(), tokens.end());
  Extend();
  const size_t ready = CompletePrefix(text_);
  if (ready <= emitted_) return "";
  std::string out = text_.substr(emitted_, ready - emitted_);
  emitted_ = ready;
  return out;
}

std::string TextStreamer::Flush() {
  if (emitted_ >= text_.size()) return "";
  std::string out = text_.substr(emitted_);
  emitted_ = text_.size();
  return out;
}

}  // namespace matspec
