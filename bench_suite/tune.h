// `matspec tune` / `matspec bench --auto`: turns a sweep into a choice. The
// fastest row (highest median speed-up over all prompts, at the sweep's first
// temperature, among rows whose greedy output equals plain decoding's) becomes
// a preset TOML in the configs/ format, which `matspec generate --config FILE`
// then uses. When no speculative row beats plain decoding the preset says
// no-speculative = true. The preset's comments give the row that decided.
#ifndef MATSPEC_BENCH_SUITE_TUNE_H_
#define MATSPEC_BENCH_SUITE_TUNE_H_

#include <string>

#include "absl/status/statusor.h"
#include "bench_suite/sweep.h"
#include "matspec/run_config.h"

namespace matspec::bench {

// The fastest speculative row as described above; nullptr when the sweep has
// none with a measured speed-up. Never a row whose greedy tokens differ.
const SweepRow* PickFastest(const SweepReport& report);

// A preset for `matspec generate --config`: the load options and sampling of
// `base` (model, threads, device, temp, seed, n-predict) with the draft of
// `chosen` (nullptr: plain decoding). `why` lines become comments.
std::string PresetToml(const RunConfig& base, const SweepRow* chosen, const std::string& why);

// One line explaining the choice: the row's label, speed-up, acceptance, and
// the runner-up.
std::string ExplainChoice(const SweepReport& report, const SweepRow* chosen);

}  // namespace matspec::bench

#endif  // MATSPEC_BENCH_SUITE_TUNE_H_
