#include "bench_suite/sweep.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace matspec::bench {
namespace {

// Sums over the generations of one (configuration, group, repeat).
struct Counts {
  int64_t tokens = 0, rounds = 0, drafted = 0, accepted = 0;
  double seconds = 0, draft_seconds = 0, verify_seconds = 0;
  std::vector<int64_t> position_drafted, position_accepted;

  void Add(const GenerationStats& s) {
    tokens += s.generated_tokens;
    rounds += s.rounds;
    drafted += s.drafted_tokens;
    accepted += s.accepted_tokens;
    seconds += s.decode_seconds;
    draft_seconds += s.draft_seconds;
    verify_seconds += s.verify_seconds;
    if (position_drafted.size() < s.per_position_drafted.size()) {
      position_drafted.resize(s.per_position_drafted.size(), 0);
      position_accepted.resize(s.per_position_drafted.size(), 0);
    }
    for (size_t i = 0; i < s.per_position_drafted.size(); ++i) {
      position_drafted[i] += s.per_position_drafted[i];
      position_accepted[i] += s.per_position_accepted[i];
    }
  }
  void Add(const Counts& c) {
    tokens += c.tokens;
    rounds += c.rounds;
    drafted += c.drafted;
    accepted += c.accepted;
    seconds += c.seconds;
    draft_seconds += c.draft_seconds;
    verify_seconds += c.verify_seconds;
    if (position_drafted.size() < c.position_drafted.size()) {
      position_drafted.resize(c.position_drafted.size(), 0);
      position_accepted.resize(c.position_drafted.size(), 0);
    }
    for (size_t i = 0; i < c.position_drafted.size(); ++i) {
      position_drafted[i] += c.position_drafted[i];
      position_accepted[i] += c.position_accepted[i];
    }
  }
  double TokensPerSecond() const { return seconds > 0 ? tokens / seconds : 0.0; }
};

// A checkpoint without a tokenizer (the random benchmark models) gets the
// prompt's bytes, hashed into the vocabulary, as token ids after id 1.
std::vector<int32_t> ByteIds(const std::string& text, int64_t vocab) {
  std::vector<int32_t> ids = {1};
  for (unsigned char ch : text) ids.push_back(static_cast<int32_t>((ch * 2654435761u) % vocab));
  return ids;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string ConfigName(const SweepConfig& c) {
  if (!c.speculative) return absl::StrFormat("plain (temp %g)", c.temperature);
  return absl::StrFormat("%s k=%d%s vocab=%d temp %g", c.draft, c.k, c.adaptive ? " adaptive" : "",
                         c.draft_vocab, c.temperature);
}

}  // namespace

double AnalyticSpeedup(double a, double k, double c) {
  const double denominator = k * c + 1.0;
  if (a >= 1.0) return (k + 1.0) / denominator;
  return (1.0 - std::pow(a, k + 1.0)) / ((1.0 - a) * denominator);
}

absl::StatusOr<std::vector<SweepConfig>> ExpandSweep(const SweepSpec& spec) {
  if (spec.drafts.empty()) {
    return absl::InvalidArgumentError(
        "no draft to sweep: give --matformer-config-path CSV (all its valid slices, or --slices a,b), "
        "or --draft-ffn / --draft-skip");
  }
  if (spec.ks.empty()) return absl::InvalidArgumentError("--draft-max: an empty list");
  for (int64_t k : spec.ks) {
    if (k < 1) return absl::InvalidArgumentError(absl::StrCat("--draft-max: ", k, " is below 1"));
  }
  if (spec.vocabs.empty()) return absl::InvalidArgumentError("--draft-vocab: an empty list");
  if (spec.temperatures.empty()) return absl::InvalidArgumentError("--temp: an empty list");
  if (spec.repeat < 1) return absl::InvalidArgumentError("--repeat must be >= 1");
  if (spec.warmup < 0) return absl::InvalidArgumentError("--warmup must be >= 0");
  const int64_t k_max = *std::max_element(spec.ks.begin(), spec.ks.end());
  std::vector<SweepConfig> configs;
  for (double temperature : spec.temperatures) {
    SweepConfig plain;
    plain.draft = "(plain)";
    plain.temperature = temperature;
    plain.options = spec.base;
    plain.options.temperature = temperature;
    plain.options.stop_at_eos = false;
    plain.options.speculative = false;
    plain.options.draft = DraftOptions{};  // validated as such: a table without a row is an error
    configs.push_back(plain);
    for (const DraftChoice& d : spec.drafts) {
      for (int64_t vocab : spec.vocabs) {
        std::vector<std::pair<int64_t, bool>> ks;
        for (int64_t k : spec.ks) ks.push_back({k, false});
        if (spec.adaptive) ks.push_back({k_max, true});
        for (const auto& [k, adaptive] : ks) {
          SweepConfig c = plain;
          c.draft = d.label;
          c.speculative = true;
          c.k = k;
          c.adaptive = adaptive;
          c.draft_vocab = vocab;
          GenerationOptions& o = c.options;
          o.speculative = true;
          o.draft = spec.base.draft;
          o.draft.slice_name = d.slice_name;
          o.draft.ffn = d.ffn;
          o.draft.skip = d.skip;
          if (d.slice_name.empty()) o.draft.slice_table.clear();
          o.draft.draft_max = k;
          o.draft.draft_min = std::min(o.draft.draft_min, k);
          o.draft.draft_adaptive = adaptive;
          o.draft.draft_vocab = vocab;
          if (vocab == 0) o.draft.draft_vocab_file.clear();
          configs.push_back(std::move(c));
        }
      }
    }
  }
  for (const SweepConfig& c : configs) {
    if (absl::Status s = c.options.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(ConfigName(c), ": ", s.message()));
    }
  }
  return configs;
}

absl::StatusOr<SweepReport> RunSweep(Engine& engine, const SweepSpec& spec,
                                     const std::vector<BenchPrompt>& prompts,
                                     const ProgressCallback& progress) {
  absl::StatusOr<std::vector<SweepConfig>> expanded = ExpandSweep(spec);
  if (!expanded.ok()) return expanded.status();
  const std::vector<SweepConfig>& configs = *expanded;
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts");

  SweepReport report;
  const ModelInfo info = engine.Describe();
  report.architecture = info.architecture;
  report.dtype = info.dtype;
  report.parameters = info.parameters;
  report.max_new_tokens = spec.base.max_new_tokens;
  report.repeat = spec.repeat;
  report.warmup = spec.warmup;
  report.prompts = static_cast<int64_t>(prompts.size());
  report.all_turns = spec.all_turns;
  std::set<std::string> category_set;
  for (const BenchPrompt& p : prompts) category_set.insert(p.category);
  report.categories.assign(category_set.begin(), category_set.end());
  std::map<std::string, size_t> category_index;
  for (size_t i = 0; i < report.categories.size(); ++i) category_index[report.categories[i]] = i;

  const size_t num_configs = configs.size(), num_groups = report.categories.size();
  // counts[config][group][repeat]; group num_groups is "every prompt".
  std::vector<std::vector<std::vector<Counts>>> counts(
      num_configs, std::vector<std::vector<Counts>>(num_groups + 1, std::vector<Counts>(spec.repeat)));
  // Greedy outputs of the first measured repeat: outputs[config][prompt] = every turn's tokens.
  std::vector<std::vector<std::vector<int32_t>>> outputs(num_configs,
                                                         std::vector<std::vector<int32_t>>(prompts.size()));

  const bool has_tokenizer = engine.tokenizer() != nullptr;
  for (int pass = -spec.warmup; pass < spec.repeat; ++pass) {
    for (size_t pi = 0; pi < prompts.size(); ++pi) {
      if (progress && (pi % 10 == 0 || pi + 1 == prompts.size())) {
        progress(pass < 0 ? absl::StrFormat("warm-up %d/%d, prompt %d/%d", pass + spec.warmup + 1,
                                            spec.warmup, pi + 1, prompts.size())
                          : absl::StrFormat("repeat %d/%d, prompt %d/%d", pass + 1, spec.repeat, pi + 1,
                                            prompts.size()));
      }
      const BenchPrompt& prompt = prompts[pi];
      const size_t turns = spec.all_turns ? prompt.turns.size() : 1;
      for (size_t ci = 0; ci < num_configs; ++ci) {
        std::string context;
        for (size_t t = 0; t < turns; ++t) {
          if (!context.empty()) context += "\n";
          context += prompt.turns[t];
          GenerationOptions options = configs[ci].options;
          // A new seed per prompt and turn, the same for every configuration.
          options.seed = spec.base.seed + pi * 1000 + t;
          if (spec.on_round) {
            const SweepConfig& c = configs[ci];
            options.on_round = [&spec, labels = RoundLabels{{"draft", c.draft},
                                                              {"k", c.k},
                                                              {"adaptive", int64_t{c.adaptive}},
                                                              {"vocab", c.draft_vocab},
                                                              {"temp", c.temperature},
                                                              {"prompt", prompt.id},
                                                              {"category", prompt.category},
                                                              {"turn", static_cast<int64_t>(t)},
                                                              {"pass", int64_t{pass}}}](const RoundRecord& r) {
              spec.on_round(r, labels);
            };
          }
          absl::StatusOr<GenerationResult> result =
              has_tokenizer ? engine.Generate(context, options)
                            : engine.GenerateTokens(ByteIds(context, engine.Describe().vocab_size), options);
          if (!result.ok()) {
            return absl::Status(result.status().code(),
                                absl::StrCat(ConfigName(configs[ci]), ", prompt ", prompt.id, " (line ",
                                             prompt.line, "): ", result.status().message()));
          }
          if (t + 1 < turns) context += "\n" + result->text;
          if (pass < 0) continue;
          counts[ci][num_groups][pass].Add(result->stats);
          counts[ci][category_index[prompt.category]][pass].Add(result->stats);
          if (pass == 0) {
            outputs[ci][pi].insert(outputs[ci][pi].end(), result->tokens.begin(), result->tokens.end());
          }
        }
      }
    }
  }

  // The plain row of each temperature.
  std::map<double, size_t> plain_of;
  for (size_t ci = 0; ci < num_configs; ++ci) {
    if (!configs[ci].speculative) plain_of[configs[ci].temperature] = ci;
  }
  for (size_t ci = 0; ci < num_configs; ++ci) {
    const SweepConfig& config = configs[ci];
    const size_t plain = plain_of.at(config.temperature);
    SweepRow row;
    row.config = config;
    for (size_t g = 0; g <= num_groups; ++g) {
      RowStats stats;
      stats.category = g == num_groups ? "" : report.categories[g];
      for (const BenchPrompt& p : prompts) stats.prompts += (g == num_groups || p.category == stats.category);
      Counts total, plain_total;
      std::vector<double> speedups;
      for (int r = 0; r < spec.repeat; ++r) {
        total.Add(counts[ci][g][r]);
        plain_total.Add(counts[plain][g][r]);
        const double plain_tps = counts[plain][g][r].TokensPerSecond();
        if (plain_tps > 0) speedups.push_back(counts[ci][g][r].TokensPerSecond() / plain_tps);
      }
      stats.generated_tokens = total.tokens;
      stats.rounds = total.rounds;
      stats.drafted_tokens = total.drafted;
      stats.accepted_tokens = total.accepted;
      stats.acceptance_rate = total.drafted > 0 ? double(total.accepted) / total.drafted : 0.0;
      stats.mean_acceptance_length = total.rounds > 0 ? 1.0 + double(total.accepted) / total.rounds : 0.0;
      for (size_t i = 0; i < total.position_drafted.size(); ++i) {
        stats.per_position_acceptance.push_back(
            total.position_drafted[i] > 0 ? double(total.position_accepted[i]) / total.position_drafted[i]
                                          : 0.0);
      }
      stats.mean_k = total.rounds > 0 ? double(total.drafted) / total.rounds : 0.0;
      stats.tokens_per_second = total.TokensPerSecond();
      if (!speedups.empty()) {
        stats.speedup_median = Median(speedups);
        stats.speedup_min = *std::min_element(speedups.begin(), speedups.end());
        stats.speedup_max = *std::max_element(speedups.begin(), speedups.end());
      }
      const double plain_step = plain_total.tokens > 0 ? plain_total.seconds / plain_total.tokens : 0.0;
      if (config.speculative && plain_step > 0 && total.drafted > 0 && total.rounds > 0) {
        stats.draft_cost = (total.draft_seconds / total.drafted) / plain_step;
        stats.verify_ratio = (total.verify_seconds / total.rounds) / plain_step;
        stats.analytic_speedup = AnalyticSpeedup(stats.acceptance_rate, stats.mean_k, stats.draft_cost);
      }
      stats.same_tokens = "-";
      if (config.speculative && config.temperature == 0.0) {
        bool same = true;
        for (size_t pi = 0; pi < prompts.size(); ++pi) {
          if (g != num_groups && prompts[pi].category != stats.category) continue;
          same = same && outputs[ci][pi] == outputs[plain][pi];
        }
        stats.same_tokens = same ? "yes" : "no";
      }
      if (g == num_groups) {
        row.overall = std::move(stats);
      } else {
        row.by_category.push_back(std::move(stats));
      }
    }
    report.rows.push_back(std::move(row));
  }
  return report;
}

}  // namespace matspec::bench
