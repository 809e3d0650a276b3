// Guarded TOML presets: size, UTF-8, NUL and syntax checks before toml++ parses.
#include "decoding/preset_input.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <toml++/toml.h>

#include "absl/strings/escaping.h"
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

// What toml++ 3.3 may not see, outside strings and comments:
//  - brackets and braces: a preset is flat `key = value` lines, and toml++'s
//    table-header and array paths assume what follows is valid ("[(" and
//    "a = [}" trip assertions; undefined behaviour in a release build);
//  - a non-ASCII character: its whitespace test reaches TOML_UNREACHABLE for
//    most code points in U+00A1..U+0499 and U+2D6E..U+3168 (upstream
//    marzer/tomlplusplus issue 295). TOML allows them only in strings and
//    comments anyway; inside a basic string, none may follow a backslash;
//  - a bare value that is not a number or boolean, or anything after a value
//    on its line: toml++'s date-time scanning asserts on "1979-05-27 0" and
//    "1281-11-04t..." (a preset holds no dates).
// All found by tests/fuzz/preset_fuzz. Returns {offset, what} of the first
// such byte, or {npos, ""}.
// Skips the string whose opening quote is at t[i]; returns the offset of its
// last byte (or t.size()), or {offset, what} of a byte toml++ must not see.
struct StringScan {
  size_t last;
  size_t bad = std::string_view::npos;
};
StringScan SkipString(std::string_view t, size_t i) {
  const char q = t[i];
  const bool multi = t.substr(i, 3) == std::string(3, q);
  const bool escapes = q == '"';
  for (i += multi ? 3 : 1; i < t.size(); ++i) {
    if (escapes && t[i] == '\\') {
      // toml++ tests what follows a backslash (after a line-ending one in a
      // multi-line string: the first character past the whitespace) with its
      // whitespace test, which is undefined for many non-ASCII code points.
      size_t j = i + 1;
      while (multi && j < t.size() && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r' || t[j] == '\n')) ++j;
      if (j < t.size() && static_cast<unsigned char>(t[j]) >= 0x80) return {t.size(), j};
      i = j == i + 1 ? j : j - 1;  // consume an escaped character; stop before one that follows whitespace
    } else if (multi ? t.substr(i, 3) == std::string(3, q) : t[i] == q) {
      return {multi ? i + 2 : i};
    } else if (!multi && t[i] == '\n') {
      return {i - 1};  // unterminated: toml++ reports it; the newline is scanned again
    }
  }
  return {t.size()};
}

bool IsDecDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDecDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsOctDigit(char c) { return c >= '0' && c <= '7'; }
bool IsBinDigit(char c) { return c == '0' || c == '1'; }

// Digits with single underscores between them ("1_000"), from v[*i]; true
// when at least one digit was read.
bool SkipDigits(std::string_view v, size_t* i, bool (*is_digit)(char)) {
  const size_t start = *i;
  while (*i < v.size() && (is_digit(v[*i]) || (v[*i] == '_' && *i > start && is_digit(v[*i - 1]) &&
                                               *i + 1 < v.size() && is_digit(v[*i + 1])))) {
    ++*i;
  }
  return *i > start;
}

// A bare TOML value a preset may hold: true, false, an integer (decimal, or
// 0x / 0o / 0b) or a float (fraction, exponent, inf, nan). Everything else,
// a date or time above all (toml++ 3.3 asserts on "1281-11-04te..."), is
// refused before the parser sees it.
bool IsNumberOrBoolean(std::string_view v) {
  if (v == "true" || v == "false") return true;
  size_t i = 0;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o' || v[1] == 'b')) {
    i = 2;
    return SkipDigits(v, &i, v[1] == 'x' ? &IsHexDigit : v[1] == 'o' ? &IsOctDigit : &IsBinDigit) && i == v.size();
  }
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
  if (v.substr(i) == "inf" || v.substr(i) == "nan") return true;
  if (!SkipDigits(v, &i, &IsDecDigit)) return false;
  if (i < v.size() && v[i] == '.' && (++i, !SkipDigits(v, &i, &IsDecDigit))) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    if (!SkipDigits(v, &i, &IsDecDigit)) return false;
  }
  return i == v.size();
}

// The first byte toml++ must not see: its offset, what is wrong, and the
// length to quote (0: the one character at `at`).
struct Unsafe {
  size_t at;
  const char* what;
  size_t length = 0;
};

Unsafe FirstUnsafeSyntax(std::string_view t) {
  // Per line: a key (bare or quoted parts joined by '.'), '=', one value (a
  // string, or a bare token up to whitespace, ',', ']', '}' or '#'), then
  // whitespace and a comment. toml++ scans a bare token character by
  // character with its whitespace test, so a quote inside one opens no string.
  enum class Mode { kKey, kValueStart, kBare, kAfterValue } mode = Mode::kKey;
  char prev = '\n';  // in a key: the last character outside whitespace; '\n' at a line start
  constexpr const char* kBracket =
      "opens or closes an array or table; a preset holds only `key = value` lines whose value is a string, "
      "number or boolean";
  constexpr const char* kNonAscii = "is a non-ASCII character outside a string or comment";
  constexpr const char* kAfterBackslash = "is a non-ASCII character right after a backslash in a string";
  constexpr const char* kNotNumber =
      "is not a number or boolean; a preset value is a \"quoted string\", a number or true/false";
  size_t bare_start = 0;  // where the bare value being read began
  const auto bare_ok = [&](size_t end) { return IsNumberOrBoolean(t.substr(bare_start, end - bare_start)); };
  // A second token after a value: toml++ would read `1979-05-27 0` as a date-time
  // cut short and assert; a preset has no dates, so nothing may follow a value.
  constexpr const char* kAfterValue = "follows the value on its line; a preset line is `key = value`, then "
      "only whitespace or a # comment";
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    const bool space = c == ' ' || c == '\t' || c == '\r';
    if (c == '\n') {
      if (mode == Mode::kBare && !bare_ok(i)) return {bare_start, kNotNumber, i - bare_start};
      mode = Mode::kKey;
      prev = '\n';
      continue;
    }
    if (mode == Mode::kBare) {
      const bool ends = space || c == ',' || c == '#' || c == ']' || c == '}';
      if (ends && !bare_ok(i)) return {bare_start, kNotNumber, i - bare_start};
      if (space || c == ',') {
        mode = Mode::kAfterValue;
        continue;
      }
      if (c != '#' && c != ']' && c != '}') {
        if (static_cast<unsigned char>(c) >= 0x80) return {i, kNonAscii};
        if (c == '[' || c == '{') return {i, kBracket};
        continue;
      }
      mode = Mode::kAfterValue;  // '#', ']' or '}' end the token; handled below
    }
    if (space) continue;
    const bool quote = c == '"' || c == '\'';
    if (c == '#') {
      while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
    } else if (mode == Mode::kAfterValue) {
      return {i, kAfterValue};
    } else if (c == '[' || c == ']' || c == '{' || c == '}') {
      return {i, kBracket};
    } else if (quote && ((mode == Mode::kKey && (prev == '\n' || prev == '.')) || mode == Mode::kValueStart)) {
      const StringScan s = SkipString(t, i);
      if (s.bad != std::string_view::npos) return {s.bad, kAfterBackslash};
      i = s.last;
      if (mode == Mode::kValueStart) mode = Mode::kAfterValue;
      prev = '"';
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      return {i, kNonAscii};
    } else if (mode == Mode::kKey) {
      if (c == '=') mode = Mode::kValueStart;
      prev = c;
    } else if (mode == Mode::kValueStart) {
      mode = Mode::kBare;
      bare_start = i;
    }
  }
  if (mode == Mode::kBare && !bare_ok(t.size())) return {bare_start, kNotNumber, t.size() - bare_start};
  return {std::string_view::npos, ""};
}

// 1-based line and column of byte `offset`.
std::pair<int64_t, int64_t> LineColumn(std::string_view t, size_t offset) {
  int64_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < t.size(); ++i) {
    if (t[i] == '\n') {
      ++line, column = 1;
    } else if ((static_cast<unsigned char>(t[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return {line, column};
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
  if (const Unsafe u = FirstUnsafeSyntax(text); u.at != std::string_view::npos) {
    const auto [l, c] = LineColumn(text, u.at);
    std::string quoted;
    if (u.length > 0) {  // a bare token (ASCII): control characters escaped, at most 40 shown
      constexpr size_t kShown = 40;
      quoted = absl::CHexEscape(absl::string_view(text.data() + u.at, std::min(u.length, kShown)));
      if (u.length > kShown) quoted += "...";
    } else {
      const size_t n = Utf8SequenceLength(text, u.at);
      quoted = std::string(text.substr(u.at, n == 0 ? 1 : n));
    }
    return absl::InvalidArgumentError(absl::StrCat("preset ", source, ":", l, ":", c, ": '", quoted, "' ", u.what));
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
