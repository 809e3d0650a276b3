#include "bench_suite/tune.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bench_suite/report_formats.h"

namespace matspec::bench {
namespace {

std::string Quoted(const std::string& s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}), "\"");
}

double FirstTemperature(const SweepReport& report) {
  return report.rows.empty() ? 0.0 : report.rows.front().config.temperature;
}

}  // namespace

const SweepRow* PickFastest(const SweepReport& report) {
  const double temperature = FirstTemperature(report);
  const SweepRow* best = nullptr;
  for (const SweepRow& row : report.rows) {
    if (!row.config.speculative || row.config.temperature != temperature) continue;
    if (row.overall.same_tokens == "no" || row.overall.speedup_median <= 0) continue;
    if (best == nullptr || row.overall.speedup_median > best->overall.speedup_median) best = &row;
  }
  return best;
}

std::string ExplainChoice(const SweepReport& report, const SweepRow* chosen) {
  if (chosen == nullptr) return "no speculative configuration was measured";
  const SweepRow* second = nullptr;
  for (const SweepRow& row : report.rows) {
    if (&row == chosen || !row.config.speculative || row.config.temperature != chosen->config.temperature)
      continue;
    if (row.overall.same_tokens == "no") continue;
    if (second == nullptr || row.overall.speedup_median > second->overall.speedup_median) second = &row;
  }
  const RowStats& s = chosen->overall;
  std::string why = absl::StrFormat(
      "fastest: %s at %.2fx plain (median of %d repeat(s), range %.2f-%.2f), acceptance rate %.3f, mean "
      "acceptance "
      "length %.2f, draft cost c %.3f",
      RowLabel(chosen->config), s.speedup_median, report.repeat, s.speedup_min, s.speedup_max,
      s.acceptance_rate, s.mean_acceptance_length, s.draft_cost);
  if (second != nullptr) {
    absl::StrAppendFormat(&why, "; runner-up: %s at %.2fx", RowLabel(second->config),
                          second->overall.speedup_median);
  }
  if (s.speedup_median <= 1.0)
    absl::StrAppend(&why, "; no configuration beats plain decoding, so plain it is");
  return why;
}

std::string PresetToml(const RunConfig& base, const SweepRow* chosen, const std::string& why) {
  std::string out = "# Written by `matspec tune`: the fastest configuration measured on these prompts.\n";
  for (absl::string_view line : absl::StrSplit(why, "; ")) absl::StrAppend(&out, "# ", line, "\n");
  absl::StrAppend(&out, "model = ", Quoted(base.load.model_dir), "\n");
  if (base.load.num_threads > 0) absl::StrAppend(&out, "threads = ", base.load.num_threads, "\n");
  if (base.load.device != "cpu") absl::StrAppend(&out, "device = ", Quoted(base.load.device), "\n");
  const GenerationOptions& g = base.generation;
  absl::StrAppendFormat(&out, "n-predict = %d\ntemp = %s\n", g.max_new_tokens,
                        absl::StrFormat("%.6g", chosen ? chosen->config.temperature : g.temperature));
  if (chosen == nullptr || chosen->overall.speedup_median <= 1.0) {
    absl::StrAppend(&out, "no-speculative = true\n");
    return out;
  }
  const DraftOptions& d = chosen->config.options.draft;
  if (!d.slice_name.empty()) {
    absl::StrAppend(&out, "matformer-config-path = ", Quoted(d.slice_table), "\n");
    absl::StrAppend(&out, "matformer-slice-name = ", Quoted(d.slice_name), "\n");
  }
  if (!d.ffn.empty()) absl::StrAppend(&out, "draft-ffn = ", Quoted(d.ffn), "\n");
  if (!d.skip.empty()) absl::StrAppend(&out, "draft-skip = ", Quoted(d.skip), "\n");
  absl::StrAppend(&out, "draft-max = ", d.draft_max, "\n");
  if (d.draft_min > 0) absl::StrAppend(&out, "draft-min = ", d.draft_min, "\n");
  if (d.draft_adaptive) absl::StrAppend(&out, "draft-adaptive = true\n");
  if (d.draft_own_kv) absl::StrAppend(&out, "draft-own-kv = true\n");
  if (d.draft_vocab > 0) absl::StrAppend(&out, "draft-vocab = ", d.draft_vocab, "\n");
  if (!d.draft_vocab_file.empty())
    absl::StrAppend(&out, "draft-vocab-file = ", Quoted(d.draft_vocab_file), "\n");
  return out;
}

}  // namespace matspec::bench
