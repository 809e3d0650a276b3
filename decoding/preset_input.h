// TOML presets from untrusted text. toml++ 3.3 (Debian's) has defects on
// crafted input: malformed UTF-8 can reach an "unreachable" branch (undefined
// behaviour; upstream marzer/tomlplusplus issue 295) and a NUL inside a key
// trips an internal assertion. So the text is checked before the parser sees
// it: at most kMaxPresetFileBytes (engine/bounded_file.h), valid UTF-8 (no
// overlong forms, surrogates or code points above U+10FFFF), no NUL byte, and,
// outside strings and comments, no bracket or brace (arrays, tables) and no
// non-ASCII character: a preset is flat `key = value` lines, and toml++ 3.3
// reaches assertions or undefined behaviour on "[(", "a = [}" and many
// non-ASCII code points between tokens (all found by tests/fuzz/preset_fuzz).
// Each refusal is InvalidArgument "preset <source>:<line>:<column>: ...".
#ifndef MATSPEC_DECODING_PRESET_INPUT_H_
#define MATSPEC_DECODING_PRESET_INPUT_H_

#include <string_view>

#include "absl/status/status.h"
#include "matspec/run_config.h"

namespace matspec {

// OK when `text` may be handed to toml++; `source` names it in errors.
absl::Status CheckPresetText(std::string_view text, std::string_view source);

// CheckPresetText, toml++'s parser (every exception caught), then every key
// through SetRunOption, as ApplyPresetFile does for a file.
absl::Status ApplyPresetText(std::string_view text, std::string_view source, RunConfig* config);

}  // namespace matspec

#endif  // MATSPEC_DECODING_PRESET_INPUT_H_
