// bench_suite/report_formats.h and svg_plot.h: every format parses back. The
// CSV through matspec's strict RFC 4180 reader (draft/csv.h), the JSON through
// nlohmann, the SVG through a small well-formedness check (balanced tags,
// quoted attributes, escaped text); labels with commas, quotes and markup.
// tests/bench_cli_test.sh renders the SVG with rsvg-convert.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench_suite/report_formats.h"
#include "bench_suite/svg_plot.h"
#include "bench_suite/tune.h"
#include "draft/csv.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec::bench {
namespace {

using ::testing::HasSubstr;

constexpr char kTrickyLabel[] = "w=24, \"narrow\" <&>";

class BenchReportFormatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScopedTempDir("bench_formats");
    testing::TinyLlamaOptions opt;
    opt.layers = 2;
    ASSERT_TRUE(testing::WriteTinyLlama(dir_->path(), opt).ok());
    auto engine = Engine::Load({.model_dir = dir_->path(), .num_threads = 1});
    ASSERT_TRUE(engine.ok()) << engine.status();
    SweepSpec spec;
    spec.base.max_new_tokens = 10;
    spec.drafts = {{kTrickyLabel, "", "24", ""}, {"skip1", "", "", "1"}};
    spec.ks = {1, 2, 4};
    spec.adaptive = true;
    spec.repeat = 2;
    std::vector<BenchPrompt> prompts = {
        {"1", "x,y", {"alpha"}, 1}, {"2", "", {"beta"}, 2}, {"3", "x,y", {"gamma"}, 3}};
    auto report = RunSweep(**engine, spec, prompts);
    ASSERT_TRUE(report.ok()) << report.status();
    report_ = new SweepReport(*std::move(report));
    report_->model = "models/m \"q\"";
    report_->device = "cpu";
    report_->threads = 1;
    report_->commit = "abc123";
    report_->prompts_file = "p.jsonl";
  }
  static void TearDownTestSuite() {
    delete report_;
    delete dir_;
  }
  static testing::ScopedTempDir* dir_;
  static SweepReport* report_;
};
testing::ScopedTempDir* BenchReportFormatsTest::dir_ = nullptr;
SweepReport* BenchReportFormatsTest::report_ = nullptr;

TEST_F(BenchReportFormatsTest, CsvParsesBack) {
  const std::string csv = FormatCsv(*report_);
  auto records = ParseCsv(csv, "bench.csv");
  ASSERT_TRUE(records.ok()) << records.status();
  const size_t groups = 1 + report_->categories.size();
  ASSERT_EQ(records->size(), 1 + report_->rows.size() * groups);
  EXPECT_EQ((*records)[0].fields, CsvColumns());
  auto column = [&](const std::string& name) {
    return std::find(CsvColumns().begin(), CsvColumns().end(), name) - CsvColumns().begin();
  };
  for (size_t r = 0; r < report_->rows.size(); ++r) {
    const SweepRow& row = report_->rows[r];
    const std::vector<std::string>& all = (*records)[1 + r * groups].fields;
    ASSERT_EQ(all.size(), CsvColumns().size());
    EXPECT_EQ(all[column("group")], "all");
    EXPECT_EQ(all[column("draft")], row.config.draft);
    EXPECT_EQ(all[column("k")], std::to_string(row.config.k));
    EXPECT_EQ(all[column("adaptive")], row.config.adaptive ? "true" : "false");
    EXPECT_EQ(all[column("generated_tokens")], std::to_string(row.overall.generated_tokens));
    double value = 0;
    ASSERT_TRUE(absl::SimpleAtod(all[column("acceptance_rate")], &value));
    EXPECT_NEAR(value, row.overall.acceptance_rate, 1e-6);
    ASSERT_TRUE(absl::SimpleAtod(all[column("speedup_median")], &value));
    EXPECT_NEAR(value, row.overall.speedup_median, 1e-4);
    const std::vector<std::string> positions =
        absl::StrSplit(all[column("per_position_acceptance")], ';', absl::SkipEmpty());
    EXPECT_EQ(positions.size(), row.overall.per_position_acceptance.size());
    EXPECT_EQ(all[column("same_tokens")], row.overall.same_tokens);
    // The category records follow, named as in the report ("" as "(none)").
    EXPECT_EQ((*records)[2 + r * groups].fields[column("group")], "(none)");
    EXPECT_EQ((*records)[3 + r * groups].fields[column("group")], "x,y");
  }
}

TEST_F(BenchReportFormatsTest, JsonParsesBack) {
  const nlohmann::json j = nlohmann::json::parse(FormatJson(*report_));
  EXPECT_EQ(j["header"]["model"], "models/m \"q\"");
  EXPECT_EQ(j["header"]["commit"], "abc123");
  EXPECT_EQ(j["header"]["threads"], 1);
  EXPECT_EQ(j["header"]["draft_own_kv"], false);
  EXPECT_EQ(j["header"]["repeat"], 2);
  EXPECT_EQ(j["header"]["categories"], (std::vector<std::string>{"", "x,y"}));
  ASSERT_EQ(j["rows"].size(), report_->rows.size());
  for (size_t r = 0; r < report_->rows.size(); ++r) {
    const SweepRow& row = report_->rows[r];
    const nlohmann::json& jr = j["rows"][r];
    EXPECT_EQ(jr["config"]["draft"], row.config.draft);
    EXPECT_EQ(jr["config"]["label"], RowLabel(row.config));
    EXPECT_EQ(jr["config"]["adaptive"], row.config.adaptive);
    EXPECT_EQ(jr["overall"]["accepted_tokens"], row.overall.accepted_tokens);
    EXPECT_DOUBLE_EQ(jr["overall"]["acceptance_rate"].get<double>(), row.overall.acceptance_rate);
    EXPECT_EQ(jr["overall"]["per_position_acceptance"].size(), row.overall.per_position_acceptance.size());
    EXPECT_EQ(jr["by_category"].size(), 2u);
  }
}

TEST_F(BenchReportFormatsTest, MarkdownHasHeaderAndOneLinePerRow) {
  const std::string md = FormatMarkdown(*report_);
  EXPECT_THAT(md, HasSubstr("commit abc123"));
  EXPECT_THAT(md, HasSubstr("threads 1"));
  EXPECT_THAT(md, HasSubstr("the draft adopts the full model's keys and values"));
  SweepReport own_kv = *report_;
  own_kv.draft_own_kv = true;
  EXPECT_THAT(FormatMarkdown(own_kv), HasSubstr("the draft computes its own keys and values (--draft-own-kv)"));
  EXPECT_EQ(nlohmann::json::parse(FormatJson(own_kv))["header"]["draft_own_kv"], true);
  EXPECT_THAT(md, HasSubstr("## Category x,y (2 prompts)"));
  EXPECT_THAT(md, HasSubstr("adaptive (mean "));
  // One table for all prompts and one per category, each with a line per row.
  const std::regex table_line("\n\\| (\\(plain\\)|w=24,|skip1) ");
  const auto lines =
      std::distance(std::sregex_iterator(md.begin(), md.end(), table_line), std::sregex_iterator());
  EXPECT_EQ(lines, static_cast<long>(report_->rows.size() * 3));
}

// A speculative row that drafted nothing (an adaptive row whose rounds were
// all plain) shows "-" where a figure about drafts would be, not zeros.
TEST_F(BenchReportFormatsTest, MarkdownShowsDashesForARowThatDraftedNothing) {
  SweepReport report = *report_;
  SweepRow* adaptive = nullptr;
  for (SweepRow& row : report.rows) {
    if (row.config.adaptive && adaptive == nullptr) adaptive = &row;
  }
  ASSERT_NE(adaptive, nullptr);
  RowStats& s = adaptive->overall;
  s.drafted_tokens = s.accepted_tokens = 0;
  s.acceptance_rate = s.draft_cost = s.verify_ratio = s.analytic_speedup = s.mean_k = 0.0;
  s.mean_acceptance_length = 1.0;
  s.per_position_acceptance.assign(s.per_position_acceptance.size(), 0.0);
  const std::string md = FormatMarkdown(report);
  const size_t at = md.find(absl::StrCat("| ", adaptive->config.draft, " | <=", adaptive->config.k, " adaptive (mean 0.00)"));
  ASSERT_NE(at, std::string::npos) << md;
  const std::string line = md.substr(at, md.find('\n', at) - at);
  const std::vector<std::string> cells = absl::StrSplit(line, " | ");
  ASSERT_EQ(cells.size(), 13u) << line;
  EXPECT_EQ(cells[4], "-");   // acceptance rate
  EXPECT_EQ(cells[5], "1.00");  // mean acceptance length: one token per round
  EXPECT_EQ(cells[6], "-");   // acceptance by position
  EXPECT_EQ(cells[9], "-");   // analytic speed-up
  EXPECT_EQ(cells[10], "-");  // draft cost c
  EXPECT_EQ(cells[11], "-");  // verify ratio
  // The rows that drafted keep their figures.
  const size_t fixed = md.find(absl::StrCat("| ", adaptive->config.draft, " | 1 | all | 0 | "));
  ASSERT_NE(fixed, std::string::npos) << md;
  const std::vector<std::string> fixed_cells = absl::StrSplit(md.substr(fixed, md.find('\n', fixed) - fixed), " | ");
  ASSERT_EQ(fixed_cells.size(), 13u);
  double rate = -1.0;
  EXPECT_TRUE(absl::SimpleAtod(fixed_cells[4], &rate)) << fixed_cells[4];
  EXPECT_GE(rate, 0.0);
}

// Well-formed XML for what PlotSvg writes: tags balance, attributes are
// quoted, no raw '<' or '&' in text or attribute values.
void ExpectWellFormed(const std::string& svg) {
  std::vector<std::string> open;
  size_t i = 0;
  int elements = 0;
  while ((i = svg.find('<', i)) != std::string::npos) {
    const size_t end = svg.find('>', i);
    ASSERT_NE(end, std::string::npos);
    std::string tag = svg.substr(i + 1, end - i - 1);
    // Between this tag and the next: text without raw markup characters.
    const size_t next = svg.find('<', end);
    const std::string text = svg.substr(end + 1, (next == std::string::npos ? svg.size() : next) - end - 1);
    EXPECT_EQ(text.find('>'), std::string::npos) << text;
    EXPECT_FALSE(std::regex_search(text, std::regex("&(?!(amp|lt|gt|quot);)"))) << text;
    ++elements;
    if (tag[0] == '/') {
      ASSERT_FALSE(open.empty()) << "closing " << tag;
      EXPECT_EQ(open.back(), tag.substr(1));
      open.pop_back();
    } else {
      const bool self_closing = tag.back() == '/';
      if (self_closing) tag.pop_back();
      const std::string name = tag.substr(0, tag.find(' '));
      // name="value" pairs only, values without '<' or a raw '&'.
      const std::string attributes = tag.substr(name.size());
      EXPECT_TRUE(std::regex_match(attributes, std::regex("( [a-zA-Z0-9:-]+=\"[^\"<]*\")*"))) << tag;
      EXPECT_FALSE(std::regex_search(attributes, std::regex("&(?!(amp|lt|gt|quot);)"))) << tag;
      if (!self_closing) open.push_back(name);
    }
    i = end + 1;
  }
  EXPECT_TRUE(open.empty()) << "unclosed <" << open.back() << ">";
  EXPECT_GT(elements, 20);
}

TEST_F(BenchReportFormatsTest, SvgIsWellFormedAndDrawsEveryDraft) {
  const std::string svg = PlotSvg(*report_);
  ASSERT_TRUE(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0) << svg.substr(0, 80);
  ExpectWellFormed(svg);
  EXPECT_THAT(svg, HasSubstr("w=24, &quot;narrow&quot; &lt;&amp;&gt;"));
  EXPECT_THAT(svg, HasSubstr(">skip1<"));
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray"));  // the analytic curves
  EXPECT_THAT(svg, HasSubstr("<polygon"));          // the adaptive rows
}

TEST_F(BenchReportFormatsTest, TunePicksTheFastestGreedyRowAndWritesAPreset) {
  const SweepRow* best = PickFastest(*report_);
  ASSERT_NE(best, nullptr);
  for (const SweepRow& row : report_->rows) {
    if (row.config.speculative) {
      EXPECT_GE(best->overall.speedup_median, row.overall.speedup_median);
    }
  }
  RunConfig base;
  base.load.model_dir = "models/x";
  base.load.num_threads = 2;
  const std::string toml = PresetToml(base, best, ExplainChoice(*report_, best));
  EXPECT_THAT(toml, HasSubstr("model = \"models/x\""));
  EXPECT_THAT(toml, HasSubstr("threads = 2"));
  EXPECT_THAT(toml, HasSubstr("# fastest: "));
  RunConfig parsed;
  // The preset is a valid one (keys of `matspec generate`).
  const std::string path = dir_->Sub("tuned.toml");
  { std::ofstream(path) << toml; }
  ASSERT_TRUE(ApplyPresetFile(path, &parsed).ok()) << ApplyPresetFile(path, &parsed) << "\n" << toml;
  EXPECT_EQ(parsed.load.model_dir, "models/x");
  if (best->overall.speedup_median > 1.0) {
    EXPECT_EQ(parsed.generation.draft.draft_max, best->config.k);
    EXPECT_EQ(parsed.generation.draft.draft_adaptive, best->config.adaptive);
    EXPECT_EQ(parsed.generation.draft.ffn, best->config.options.draft.ffn);
    EXPECT_TRUE(parsed.generation.speculative);
  } else {
    EXPECT_FALSE(parsed.generation.speculative);
  }
  // With nothing faster than plain the preset is plain decoding.
  SweepRow slow = *best;
  slow.overall.speedup_median = 0.8;
  const std::string plain = PresetToml(base, &slow, ExplainChoice(*report_, &slow));
  EXPECT_THAT(plain, HasSubstr("no-speculative = true"));
}

}  // namespace
}  // namespace matspec::bench
