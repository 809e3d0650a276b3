// Parsing untrusted JSON (config.json, safetensors headers, the shard index)
// without letting the input choose the stack depth or throw past the library.
//
// ParseJsonDocument refuses text nested deeper than kMaxJsonDepth before
// nlohmann sees it (its parser is iterative, but copying, comparing and
// dumping a value recurse), and turns every exception nlohmann can throw,
// including a number too large for a double (out_of_range 406) and
// std::bad_alloc, into InvalidArgument naming `source`.
// JsonSnippet renders a value for an error message without recursion: scalars
// as JSON (clipped), containers as "an array of 3 elements" / "an object of 2
// keys".
#ifndef MATSPEC_ENGINE_JSON_INPUT_H_
#define MATSPEC_ENGINE_JSON_INPUT_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace matspec {

// Deepest nesting of arrays and objects accepted in any JSON input. Real
// config.json files nest 3 deep; safetensors headers 3.
inline constexpr int kMaxJsonDepth = 64;

// OK, or InvalidArgument "<source>: JSON nested deeper than 64 levels (at byte N)".
// Scans brackets outside strings; does not otherwise validate.
absl::Status CheckJsonNesting(std::string_view text, std::string_view source, int max_depth = kMaxJsonDepth);

// Nesting check, then nlohmann's parser; errors are "<source>: not valid JSON: ...".
absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view text, std::string_view source);

// A short, non-recursive rendering of `value` for messages (at most ~max_chars).
std::string JsonSnippet(const nlohmann::json& value, size_t max_chars = 40);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_JSON_INPUT_H_
