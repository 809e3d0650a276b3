// Bounded JSON parsing: a bracket-depth pre-scan, then nlohmann with every
// exception caught.
#include "engine/json_input.h"

#include <new>

#include "absl/strings/str_cat.h"

namespace matspec {

absl::Status CheckJsonNesting(std::string_view text, std::string_view source, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": JSON nested deeper than ",
                                                       max_depth, " levels (at byte ", i, ")"));
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;  // unbalanced text is the parser's to reject
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view text, std::string_view source) {
  if (absl::Status s = CheckJsonNesting(text, source); !s.ok()) return s;
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {  // parse_error, out_of_range (a number beyond double), ...
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": not valid JSON: ", e.what()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(std::string(source), ": out of memory while parsing JSON"));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": not valid JSON: ", e.what()));
  }
}

std::string JsonSnippet(const nlohmann::json& value, size_t max_chars) {
  if (value.is_array()) return absl::StrCat("an array of ", value.size(), " elements");
  if (value.is_object()) return absl::StrCat("an object of ", value.size(), " keys");
  std::string s;
  try {
    s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // a scalar: no recursion
  } catch (const std::exception&) {
    return "(unprintable)";
  }
  if (s.size() > max_chars && max_chars > 3) s = s.substr(0, max_chars - 3) + "...";
  return s;
}

}  // namespace matspec
