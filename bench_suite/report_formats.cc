#include "bench_suite/report_formats.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace matspec::bench {
namespace {

using Json = nlohmann::json;

std::string Positions(const std::vector<double>& p, const char* separator, int max_shown) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < p.size() && static_cast<int>(i) < max_shown; ++i)
    parts.push_back(absl::StrFormat("%.2f", p[i]));
  if (static_cast<int>(p.size()) > max_shown) parts.push_back("...");
  return absl::StrJoin(parts, separator);
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string GroupName(const std::string& category) { return category.empty() ? "(none)" : category; }

void MarkdownTable(const SweepReport& report, bool overall, size_t group, std::string* out) {
  absl::StrAppend(
      out,
      "| draft | k | vocab | temp | acceptance rate | mean acceptance length | acceptance by position | "
      "tokens/s | speed-up (median [min, max]) | analytic speed-up | draft cost c | verify ratio | "
      "same tokens |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const SweepRow& row : report.rows) {
    const RowStats& s = overall ? row.overall : row.by_category[group];
    const SweepConfig& c = row.config;
    if (!c.speculative) {
      absl::StrAppendFormat(out,
                            "| (plain) | - | - | %g | - | 1.00 | - | %.1f | 1.00x | - | - | 1.00 | - |\n",
                            c.temperature, s.tokens_per_second);
      continue;
    }
    const std::string k =
        c.adaptive ? absl::StrFormat("<=%d adaptive (mean %.2f)", c.k, s.mean_k) : absl::StrCat(c.k);
    // A row that drafted nothing (an adaptive row whose rounds were all plain
    // ones) has no acceptance, draft cost or verification of drafts to show.
    const bool drafted = s.drafted_tokens > 0;
    const auto shown = [drafted](const std::string& value) { return drafted ? value : std::string("-"); };
    absl::StrAppendFormat(
        out, "| %s | %s | %s | %g | %s | %.2f | %s | %.1f | %.2fx [%.2f, %.2f] | %s | %s | %s | %s |\n", c.draft, k,
        c.draft_vocab == 0 ? std::string("all") : absl::StrCat(c.draft_vocab), c.temperature,
        shown(absl::StrFormat("%.3f", s.acceptance_rate)), s.mean_acceptance_length,
        shown(Positions(s.per_position_acceptance, " ", 8)), s.tokens_per_second, s.speedup_median, s.speedup_min,
        s.speedup_max, shown(absl::StrFormat("%.2fx", s.analytic_speedup)),
        shown(absl::StrFormat("%.3f", s.draft_cost)), shown(absl::StrFormat("%.2f", s.verify_ratio)), s.same_tokens);
  }
}

Json StatsJson(const RowStats& s) {
  return {{"category", s.category},
          {"prompts", s.prompts},
          {"generated_tokens", s.generated_tokens},
          {"rounds", s.rounds},
          {"drafted_tokens", s.drafted_tokens},
          {"accepted_tokens", s.accepted_tokens},
          {"acceptance_rate", s.acceptance_rate},
          {"mean_acceptance_length", s.mean_acceptance_length},
          {"per_position_acceptance", s.per_position_acceptance},
          {"mean_k", s.mean_k},
          {"tokens_per_second", s.tokens_per_second},
          {"speedup_median", s.speedup_median},
          {"speedup_min", s.speedup_min},
          {"speedup_max", s.speedup_max},
          {"draft_cost", s.draft_cost},
          {"verify_ratio", s.verify_ratio},
          {"analytic_speedup", s.analytic_speedup},
          {"same_tokens", s.same_tokens}};
}

}  // namespace

std::string RowLabel(const SweepConfig& c) {
  std::string label = c.speculative ? (c.adaptive ? absl::StrFormat("%s k<=%d adaptive", c.draft, c.k)
                                                  : absl::StrFormat("%s k=%d", c.draft, c.k))
                                    : "(plain)";
  if (c.draft_vocab > 0) absl::StrAppend(&label, " vocab ", c.draft_vocab);
  if (c.temperature > 0) absl::StrAppendFormat(&label, " temp %g", c.temperature);
  return label;
}

std::string FormatMarkdown(const SweepReport& r) {
  std::string out;
  absl::StrAppendFormat(&out, "# matspec bench: %s\n\n", r.model);
  absl::StrAppendFormat(
      &out,
      "model %s (%s, %d parameters, %s); device %s, threads %d; commit %s\n"
      "%d prompts from %s%s, %d new tokens each, %d measured repeat(s) after %d warm-up; plain "
      "decoding interleaved prompt by prompt; speed-ups are ratios within this run; %s.\n\n",
      r.model, r.architecture, r.parameters, r.dtype, r.device, r.threads, r.commit, r.prompts,
      r.prompts_file, r.all_turns ? " (every turn)" : "", r.max_new_tokens, r.repeat, r.warmup,
      r.draft_own_kv ? "the draft computes its own keys and values (--draft-own-kv)"
                     : "the draft adopts the full model's keys and values where it can (CPU, llama family)");
  absl::StrAppend(&out, "## All prompts\n\n");
  MarkdownTable(r, true, 0, &out);
  if (r.categories.size() > 1) {
    for (size_t g = 0; g < r.categories.size(); ++g) {
      absl::StrAppendFormat(&out, "\n## Category %s (%d prompts)\n\n", GroupName(r.categories[g]),
                            r.rows.empty() ? 0 : r.rows[0].by_category[g].prompts);
      MarkdownTable(r, false, g, &out);
    }
  }
  return out;
}

const std::vector<std::string>& CsvColumns() {
  static const std::vector<std::string> kColumns = {"group",
                                                    "draft",
                                                    "k",
                                                    "adaptive",
                                                    "draft_vocab",
                                                    "temperature",
                                                    "prompts",
                                                    "generated_tokens",
                                                    "rounds",
                                                    "drafted_tokens",
                                                    "accepted_tokens",
                                                    "acceptance_rate",
                                                    "mean_acceptance_length",
                                                    "per_position_acceptance",
                                                    "mean_k",
                                                    "tokens_per_second",
                                                    "speedup_median",
                                                    "speedup_min",
                                                    "speedup_max",
                                                    "analytic_speedup",
                                                    "draft_cost",
                                                    "verify_ratio",
                                                    "same_tokens"};
  return kColumns;
}

std::string FormatCsv(const SweepReport& r) {
  std::string out = absl::StrJoin(CsvColumns(), ",") + "\n";
  for (const SweepRow& row : r.rows) {
    std::vector<const RowStats*> groups = {&row.overall};
    for (const RowStats& s : row.by_category) groups.push_back(&s);
    for (size_t g = 0; g < groups.size(); ++g) {
      const RowStats& s = *groups[g];
      const SweepConfig& c = row.config;
      const std::vector<std::string> fields = {g == 0 ? "all" : GroupName(s.category),
                                               c.draft,
                                               absl::StrCat(c.k),
                                               c.adaptive ? "true" : "false",
                                               absl::StrCat(c.draft_vocab),
                                               absl::StrFormat("%g", c.temperature),
                                               absl::StrCat(s.prompts),
                                               absl::StrCat(s.generated_tokens),
                                               absl::StrCat(s.rounds),
                                               absl::StrCat(s.drafted_tokens),
                                               absl::StrCat(s.accepted_tokens),
                                               absl::StrFormat("%.6f", s.acceptance_rate),
                                               absl::StrFormat("%.6f", s.mean_acceptance_length),
                                               Positions(s.per_position_acceptance, ";", 1 << 20),
                                               absl::StrFormat("%.4f", s.mean_k),
                                               absl::StrFormat("%.3f", s.tokens_per_second),
                                               absl::StrFormat("%.4f", s.speedup_median),
                                               absl::StrFormat("%.4f", s.speedup_min),
                                               absl::StrFormat("%.4f", s.speedup_max),
                                               absl::StrFormat("%.4f", s.analytic_speedup),
                                               absl::StrFormat("%.4f", s.draft_cost),
                                               absl::StrFormat("%.4f", s.verify_ratio),
                                               s.same_tokens};
      std::vector<std::string> quoted;
      for (const std::string& f : fields) quoted.push_back(CsvField(f));
      absl::StrAppend(&out, absl::StrJoin(quoted, ","), "\n");
    }
  }
  return out;
}

std::string FormatJson(const SweepReport& r) {
  Json header = {{"model", r.model},
                 {"architecture", r.architecture},
                 {"dtype", r.dtype},
                 {"parameters", r.parameters},
                 {"device", r.device},
                 {"threads", r.threads},
                 {"draft_own_kv", r.draft_own_kv},
                 {"commit", r.commit},
                 {"prompts_file", r.prompts_file},
                 {"prompts", r.prompts},
                 {"all_turns", r.all_turns},
                 {"max_new_tokens", r.max_new_tokens},
                 {"repeat", r.repeat},
                 {"warmup", r.warmup},
                 {"categories", r.categories}};
  Json rows = Json::array();
  for (const SweepRow& row : r.rows) {
    const SweepConfig& c = row.config;
    Json by_category = Json::array();
    for (const RowStats& s : row.by_category) by_category.push_back(StatsJson(s));
    rows.push_back({{"config",
                     {{"label", RowLabel(c)},
                      {"draft", c.draft},
                      {"speculative", c.speculative},
                      {"k", c.k},
                      {"adaptive", c.adaptive},
                      {"draft_vocab", c.draft_vocab},
                      {"temperature", c.temperature}}},
                    {"overall", StatsJson(row.overall)},
                    {"by_category", by_category}});
  }
  Json doc = {{"header", header}, {"rows", rows}};
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace matspec::bench
