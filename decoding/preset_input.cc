// Guarded TOML presets: size, UTF-8 and NUL checks before toml++ parses.
#include "decoding/preset_input.h"

#include <cstdint>
#include <new>
#include <toml++/toml.h>

#include "absl/strings/str_cat.h"
#include "engine/bounded_file.h"

namespace matspec {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;  // continuation byte, overlong lead (C0, C1) or F5..FF
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;  // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                         // surrogate
  if (cp > 0x10FFFF) return 0;
  return n;
}

}  // namespace

absl::Status CheckPresetText(std::string_view text, std::string_view std_source) {
  const std::string source(std_source);
  if (static_cast<int64_t>(text.size()) > kMaxPresetFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("preset ", source, ": ", text.size(),
                                                   " bytes, more than the limit of ", kMaxPresetFileBytes));
  }
  int64_t line = 1, column = 1;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\0') {
      return absl::InvalidArgumentError(
          absl::StrCat("preset ", source, ":", line, ":", column, ": NUL byte (a preset is UTF-8 text)"));
    }
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      return absl::InvalidArgumentError(absl::StrCat("preset ", source, ":", line, ":", column,
                                                     ": invalid UTF-8 (byte 0x",
                                                     absl::Hex(static_cast<unsigned char>(text[i])), ")"));
    }
    if (text[i] == '\n') {
      ++line, column = 1;
    } else {
      ++column;
    }
    i += n;
  }
  return absl::OkStatus();
}

absl::Status ApplyPresetText(std::string_view text, std::string_view std_source, RunConfig* config) {
  const std::string source(std_source);
  if (absl::Status s = CheckPresetText(text, source); !s.ok()) return s;
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("preset ", source, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ", std::string(e.description())));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("preset ", source, ": out of memory while parsing"));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("preset ", source, ": ", e.what()));
  }
  for (const auto& [key, node] : table) {
    const std::string origin = absl::StrCat("preset ", source, ": ", std::string(key.str()));
    std::string value;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      value = *s;
    } else if (node.is_integer()) {
      value = absl::StrCat(*node.value<int64_t>());
    } else if (node.is_floating_point()) {
      value = absl::StrCat(*node.value<double>());
    } else if (node.is_boolean()) {
      value = *node.value<bool>() ? "true" : "false";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": expected a string, number or boolean"));
    }
    if (absl::Status s = SetRunOption(config, std::string(key.str()), value, origin); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace matspec
