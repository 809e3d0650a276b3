// The three text forms of a sweep report (bench_suite/sweep.h):
//   Markdown  a header (model, device, threads, commit, run shape), the overall
//             table, then one table per prompt category;
//   CSV       one record per (configuration, group): group "all" then each
//             category; RFC 4180 quoting; per-position acceptance as
//             "0.81;0.66;..." in one field;
//   JSON      {"header": {...}, "rows": [{"config": {...}, "overall": {...},
//             "by_category": [...]}]}.
// The plot is bench_suite/svg_plot.h.
#ifndef MATSPEC_BENCH_SUITE_REPORT_FORMATS_H_
#define MATSPEC_BENCH_SUITE_REPORT_FORMATS_H_

#include <string>
#include <vector>

#include "bench_suite/sweep.h"

namespace matspec::bench {

std::string FormatMarkdown(const SweepReport& report);
std::string FormatCsv(const SweepReport& report);
std::string FormatJson(const SweepReport& report);

// The CSV column names, in order.
const std::vector<std::string>& CsvColumns();

// A configuration as a short row label: "half k=4", "half k<=8 adaptive",
// "half k=4 vocab 1024", "(plain)"; with " temp 0.7" when sampling.
std::string RowLabel(const SweepConfig& config);

}  // namespace matspec::bench

#endif  // MATSPEC_BENCH_SUITE_REPORT_FORMATS_H_
