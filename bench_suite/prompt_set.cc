#include "bench_suite/prompt_set.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace matspec::bench {
namespace {

using Json = nlohmann::json;

std::string At(std::string_view source, int64_t line) {
  return absl::StrCat(std::string(source), ":", line, ": ");
}

bool LooksLikeJsonl(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '\xEF' && i == 0) {  // a UTF-8 byte-order mark
      i += 2;
      continue;
    }
    return c == '{';
  }
  return false;
}

absl::StatusOr<BenchPrompt> ParseJsonLine(std::string_view line_text, std::string_view source, int64_t line) {
  const Json j = Json::parse(line_text.begin(), line_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(At(source, line) + "not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError(At(source, line) + "expected a JSON object");
  BenchPrompt p;
  p.line = line;
  if (auto it = j.find("turns"); it != j.end()) {
    if (!it->is_array() || it->empty()) {
      return absl::InvalidArgumentError(At(source, line) + "\"turns\" must be a non-empty array of strings");
    }
    for (const Json& t : *it) {
      if (!t.is_string() || t.get<std::string>().empty()) {
        return absl::InvalidArgumentError(At(source, line) +
                                          "\"turns\" must be a non-empty array of strings");
      }
      p.turns.push_back(t.get<std::string>());
    }
  } else {
    for (const char* key : {"prompt", "text"}) {
      auto it2 = j.find(key);
      if (it2 == j.end()) continue;
      if (!it2->is_string() || it2->get<std::string>().empty()) {
        return absl::InvalidArgumentError(At(source, line) +
                                          absl::StrCat("\"", key, "\" must be a non-empty string"));
      }
      p.turns.push_back(it2->get<std::string>());
      break;
    }
    if (p.turns.empty()) {
      return absl::InvalidArgumentError(
          At(source, line) + "no prompt: expected \"turns\" (an array of strings), \"prompt\" or \"text\"");
    }
  }
  if (auto it = j.find("category"); it != j.end()) {
    if (!it->is_string())
      return absl::InvalidArgumentError(At(source, line) + "\"category\" must be a string");
    p.category = it->get<std::string>();
  }
  p.id = absl::StrCat(line);
  for (const char* key : {"question_id", "id"}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (it->is_string()) {
      p.id = it->get<std::string>();
    } else if (it->is_number_integer()) {
      p.id = it->dump();
    } else {
      return absl::InvalidArgumentError(At(source, line) +
                                        absl::StrCat("\"", key, "\" must be a string or an integer"));
    }
    break;
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<BenchPrompt>> ParsePromptSet(std::string_view text, std::string_view source,
                                                        bool jsonl) {
  jsonl = jsonl || LooksLikeJsonl(text);
  if (absl::StartsWith(absl::string_view(text.data(), text.size()), "\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<BenchPrompt> prompts;
  int64_t line = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view row = text.substr(start, end - start);
    ++line;
    start = end + 1;
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    const absl::string_view trimmed = absl::StripAsciiWhitespace(absl::string_view(row.data(), row.size()));
    if (trimmed.empty()) {
      if (end == text.size()) break;
      continue;
    }
    if (jsonl) {
      absl::StatusOr<BenchPrompt> p =
          ParseJsonLine(std::string_view(trimmed.data(), trimmed.size()), source, line);
      if (!p.ok()) return p.status();
      prompts.push_back(*std::move(p));
    } else {
      prompts.push_back({absl::StrCat(line), "", {std::string(row)}, line});
    }
    if (end == text.size()) break;
  }
  if (prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": no prompts"));
  return prompts;
}

absl::StatusOr<std::vector<BenchPrompt>> LoadPromptSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--prompts: cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  const bool jsonl = absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json");
  return ParsePromptSet(text.str(), path, jsonl);
}

absl::StatusOr<std::vector<BenchPrompt>> FilterByCategory(std::vector<BenchPrompt> prompts,
                                                          const std::vector<std::string>& categories) {
  if (categories.empty()) return prompts;
  std::set<std::string> present;
  for (const BenchPrompt& p : prompts) present.insert(p.category.empty() ? "(none)" : p.category);
  std::erase_if(prompts, [&](const BenchPrompt& p) {
    return std::find(categories.begin(), categories.end(), p.category) == categories.end();
  });
  if (prompts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--category ", absl::StrJoin(categories, ","),
                     ": no prompt has that category (present: ", absl::StrJoin(present, ", "), ")"));
  }
  return prompts;
}

}  // namespace matspec::bench
