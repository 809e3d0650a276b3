// Prompt sets for `matspec bench`: plain text (one prompt per line) or JSONL.
// A JSONL line is one JSON object in one of these forms:
//   MT-Bench / Spec-Bench: {"question_id": 81, "category": "writing", "turns": ["...", "..."]}
//   single prompt:         {"prompt": "...", "category": "..."}  or  {"text": "..."}
// "category" is optional ("" when absent); the id is "question_id", else "id",
// else the line number. A file is JSONL when its name ends in .jsonl or .json,
// or its first non-blank line starts with '{'. Blank lines are skipped.
#ifndef MATSPEC_BENCH_SUITE_PROMPT_SET_H_
#define MATSPEC_BENCH_SUITE_PROMPT_SET_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec::bench {

struct BenchPrompt {
  std::string id;                  // question_id / id / line number, as text
  std::string category;            // "" when the line names none
  std::vector<std::string> turns;  // >= 1 non-empty turns; a text line is one turn
  int64_t line = 0;                // 1-based line in the source
};

// Parses a whole prompt set. `source` (usually the path) names errors, which
// carry the line: "p.jsonl:7: not valid JSON", "p.jsonl:3: \"turns\" must be a
// non-empty array of strings", "p.jsonl:9: no prompt: expected \"turns\", \"prompt\"
// or \"text\"". `jsonl` forces the format (otherwise sniffed from the text).
absl::StatusOr<std::vector<BenchPrompt>> ParsePromptSet(std::string_view text, std::string_view source,
                                                        bool jsonl);

// Reads and parses `path` (format from the name, else sniffed). NotFound when
// unreadable; InvalidArgument when it holds no prompt at all.
absl::StatusOr<std::vector<BenchPrompt>> LoadPromptSet(const std::string& path);

// Keeps the prompts whose category is one of `categories` (all when empty).
// InvalidArgument naming the categories present when nothing is left.
absl::StatusOr<std::vector<BenchPrompt>> FilterByCategory(std::vector<BenchPrompt> prompts,
                                                          const std::vector<std::string>& categories);

}  // namespace matspec::bench

#endif  // MATSPEC_BENCH_SUITE_PROMPT_SET_H_
