// The sweep behind `matspec bench`: every draft configuration (draft x k x
// draft vocabulary x temperature, plus an adaptive-k row per draft when asked)
// and plain decoding, run on the same prompts in ONE process, interleaved
// prompt by prompt (repeat -> prompt -> configuration), so that each speed-up
// is a ratio of two measurements taken side by side. Warm-up repeats run the
// same loop and are discarded.
//
// Per configuration, overall and per prompt category, the report holds vLLM's
// acceptance metrics, tokens/s, the speed-up vs plain at the same temperature
// (median, min and max over repeats), the measured draft cost c (a draft step's
// time over a plain step's), the verification ratio (a verify pass of k+1
// tokens over a plain step), the analytic speed-up
//   (1 - a^(k+1)) / ((1 - a) (k c + 1))     a = acceptance rate, k = drafted / rounds
// and, under greedy decoding, whether every output equals plain decoding's.
#ifndef MATSPEC_BENCH_SUITE_SWEEP_H_
#define MATSPEC_BENCH_SUITE_SWEEP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bench_suite/prompt_set.h"
#include "matspec/json.h"
#include "matspec/matspec.h"

namespace matspec::bench {

// A draft model to sweep: a row of the slice table, or an FFN/skip spec.
struct DraftChoice {
  std::string label;       // what the report shows: the row name, or "ffn=384 skip=4"
  std::string slice_name;  // table row; "" for a spec
  std::string ffn, skip;   // the spec (DraftOptions::ffn / skip)
};

// One configuration: one row of the report.
struct SweepConfig {
  std::string draft;  // DraftChoice::label; "(plain)" for plain decoding
  bool speculative = false;
  int64_t k = 0;            // draft_max; 0 for plain
  bool adaptive = false;    // k chosen per round within [draft_min, k]
  int64_t draft_vocab = 0;  // 0 = the whole vocabulary
  double temperature = 0.0;
  GenerationOptions options;  // exactly what each generation of this row is given
};

struct SweepSpec {
  // -n, seed, top-k/top-p, slice table, draft vocabulary file, ctx size, draft-min.
  // stop_at_eos is turned off: every configuration generates the same length.
  GenerationOptions base;
  std::vector<DraftChoice> drafts;  // at least one
  std::vector<int64_t> ks = {1, 2, 4, 8};
  bool adaptive = false;  // adds, per draft and vocabulary, an adaptive row with k <= max(ks)
  std::vector<int64_t> vocabs = {0};
  std::vector<double> temperatures = {0.0};
  int repeat = 1;          // measured passes over the prompts (>= 1)
  int warmup = 0;          // discarded passes before them (>= 0)
  bool all_turns = false;  // run every turn, the previous answers in context
  // Every round of every generation, warm-up passes included (--round-log),
  // labelled with draft, k, adaptive, vocab, temp, prompt, category, turn and
  // pass (< 0: warm-up). Empty: none.
  std::function<void(const RoundRecord&, const RoundLabels&)> on_round;
};

// The rows of a sweep, plain decoding first for each temperature.
// InvalidArgument when there is no draft at all (a sweep of plain decoding
// alone measures nothing) or a list is empty or out of range.
absl::StatusOr<std::vector<SweepConfig>> ExpandSweep(const SweepSpec& spec);

// One configuration over one group of prompts.
struct RowStats {
  std::string category;  // "" = every prompt
  int64_t prompts = 0;   // prompts in the group (turns counted once per prompt)
  int64_t generated_tokens = 0, rounds = 0, drafted_tokens = 0, accepted_tokens = 0;  // measured repeats
  double acceptance_rate = 0.0;
  double mean_acceptance_length = 0.0;
  std::vector<double> per_position_acceptance;
  double mean_k = 0.0;                                                // drafted / rounds
  double tokens_per_second = 0.0;                                     // all measured repeats together
  double speedup_median = 0.0, speedup_min = 0.0, speedup_max = 0.0;  // per repeat, vs plain
  double draft_cost = 0.0;        // c: a draft step's time / a plain step's time
  double verify_ratio = 0.0;      // a verify pass's time / a plain step's time
  double analytic_speedup = 0.0;  // the formula above, from this row's a, k and c
  std::string same_tokens;        // "yes" / "no" under greedy, "-" under sampling or for plain
};

struct SweepRow {
  SweepConfig config;
  RowStats overall;
  std::vector<RowStats> by_category;  // in SweepReport::categories order
};

struct SweepReport {
  // Filled by the caller (what ran where).
  std::string model, device, commit, prompts_file;
  int threads = 0;
  bool draft_own_kv = false;  // --draft-own-kv: the draft computed its own keys and values (else adopted)
  // Filled by RunSweep.
  std::string architecture, dtype;
  int64_t parameters = 0;
  int64_t max_new_tokens = 0;
  int repeat = 0, warmup = 0;
  int64_t prompts = 0;
  bool all_turns = false;
  std::vector<std::string> categories;  // sorted; "" shown as "(none)"
  std::vector<SweepRow> rows;
};

// Receives a progress line ("repeat 1/3, prompt 17/80") now and then.
using ProgressCallback = std::function<void(std::string_view line)>;

// Runs the sweep. Errors: those of ExpandSweep, and the first generation error
// (naming the configuration and the prompt's line).
absl::StatusOr<SweepReport> RunSweep(Engine& engine, const SweepSpec& spec,
                                     const std::vector<BenchPrompt>& prompts,
                                     const ProgressCallback& progress = nullptr);

// (1 - a^(k+1)) / ((1 - a) (k c + 1)); (k + 1) / (k c + 1) at a = 1.
double AnalyticSpeedup(double acceptance_rate, double k, double draft_cost);

}  // namespace matspec::bench

#endif  // MATSPEC_BENCH_SUITE_SWEEP_H_
