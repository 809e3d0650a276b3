// JSON forms of matspec's options and results: the CLI's `--json` output and
// the C ABI (matspec_c.h) both use these, so every surface names a field the
// same way.
//
// Options: one JSON object whose keys are the CLI's long flag names (see
// `matspec --help`, matspec/run_config.h), e.g.
//   {"n-predict": 64, "temp": 0.8, "seed": 7, "matformer-slice-name": "quarter",
//    "matformer-config-path": "matformer_configs/matlm-tiny.csv", "no-speculative": false}
// Values may be strings, numbers or booleans, as in a TOML preset; a list
// option (prompt-ids, draft-ffn, draft-skip) may also be an array of integers.
//
// Results: {"text", "tokens", "prompt_tokens", "stats": {...}} where stats has
// the GenerationStats fields by their C++ names (drafted_tokens,
// acceptance_rate, ..., stop_reason).
#ifndef MATSPEC_JSON_H_
#define MATSPEC_JSON_H_

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "matspec/matspec.h"
#include "matspec/run_config.h"

namespace matspec {

// Applies every key of the JSON object `json` to `config` through
// SetRunOption (the one parser of option values). InvalidArgument, prefixed
// by `origin` and naming the key, for text that is not a JSON object, an
// unknown key, a value of the wrong type or one that does not parse. Range
// checks happen later, in GenerationOptions::Validate(). `accept_key`
// (optional) sees each key's long name first and may refuse it with a status
// of its own (e.g. a load option where generation options belong).
absl::Status ApplyOptionsJson(std::string_view json, std::string_view origin, RunConfig* config,
                              const std::function<absl::Status(std::string_view name)>& accept_key = nullptr);

// The `--json` object of `matspec generate`: text, tokens, prompt_tokens, stats.
std::string GenerationResultJson(const GenerationResult& result);
std::string GenerationStatsJson(const GenerationStats& stats);
// {"tokens": [...], "text": "..."}
std::string RequestEventJson(const RequestEvent& event);

// One line of a round log (`--round-log FILE`, JSON Lines): the `labels`
// first (e.g. {"draft", "quarter"}, {"k", 4} in `matspec bench`), then
// round, position, drafted, accepted, draft_seconds, verify_seconds,
// round_seconds, draft_top_p and draft_logit_gap as in RoundRecord. No newline.
using RoundLabels = std::vector<std::pair<std::string, std::variant<std::string, int64_t, double>>>;
std::string RoundRecordJson(const RoundRecord& record, const RoundLabels& labels = {});

}  // namespace matspec

#endif  // MATSPEC_JSON_H_
