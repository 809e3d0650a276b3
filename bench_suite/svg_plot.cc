#include "bench_suite/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace matspec::bench {
namespace {

constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                                    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"};
constexpr int kWidth = 1000, kHeight = 460;

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// A panel's data-to-pixel mapping and its frame.
struct Panel {
  double left, top, width, height;  // pixels
  double x0, x1, y0, y1;            // data range
  double X(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double Y(double y) const { return top + height - (y - y0) / (y1 - y0) * height; }

  void Frame(const std::string& title, const std::string& x_label, const std::string& y_label, double x_step,
             double y_step, std::string* out) const {
    absl::StrAppendFormat(
        out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"black\"/>\n",
        left, top, width, height);
    for (double y = y0; y <= y1 + 1e-9; y += y_step) {
      absl::StrAppendFormat(out,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                            left, Y(y), left + width, Y(y));
      absl::StrAppendFormat(out,
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.2g</text>\n",
                            left - 4, Y(y) + 4, y);
    }
    for (double x = x0; x <= x1 + 1e-9; x += x_step) {
      absl::StrAppendFormat(out,
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                            X(x), top + height + 14, x);
    }
    absl::StrAppendFormat(out,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n",
                          left + width / 2, top - 10, Escape(title));
    absl::StrAppendFormat(out,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
                          left + width / 2, top + height + 32, Escape(x_label));
    absl::StrAppendFormat(out,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                          "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
                          left - 36, top + height / 2, left - 36, top + height / 2, Escape(y_label));
  }
};

std::string Polyline(const std::vector<std::pair<double, double>>& points, const std::string& colour,
                     bool dashed) {
  std::string pts;
  for (const auto& [x, y] : points) absl::StrAppendFormat(&pts, "%.1f,%.1f ", x, y);
  return absl::StrFormat("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", pts,
                         colour, dashed ? " stroke-dasharray=\"6 4\"" : "");
}

}  // namespace

std::string PlotSvg(const SweepReport& report) {
  // The rows drawn: first temperature, first vocabulary, speculative; by draft in order of appearance.
  double temperature = 0.0;
  int64_t vocab = -1;
  std::vector<std::string> drafts;
  std::map<std::string, std::vector<const SweepRow*>> fixed;
  std::map<std::string, const SweepRow*> adaptive;
  for (const SweepRow& row : report.rows) {
    if (!row.config.speculative) continue;
    if (vocab < 0) {
      temperature = row.config.temperature;
      vocab = row.config.draft_vocab;
    }
    if (row.config.temperature != temperature || row.config.draft_vocab != vocab) continue;
    if (!fixed.count(row.config.draft) && !adaptive.count(row.config.draft))
      drafts.push_back(row.config.draft);
    if (row.config.adaptive) {
      adaptive[row.config.draft] = &row;
    } else {
      fixed[row.config.draft].push_back(&row);
    }
  }
  int64_t k_max = 1;
  double speedup_max = 1.5;
  for (const auto& [draft, rows] : fixed) {
    for (const SweepRow* r : rows) {
      k_max = std::max(k_max, r->config.k);
      speedup_max = std::max({speedup_max, r->overall.speedup_median, r->overall.analytic_speedup});
    }
  }
  for (const auto& [draft, r] : adaptive) {
    k_max = std::max(k_max, r->config.k);
    speedup_max = std::max(speedup_max, r->overall.speedup_median);
  }
  const double y_top = std::ceil(speedup_max * 2.0 + 0.5) / 2.0;

  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight, kWidth, kHeight);
  absl::StrAppendFormat(&out, "<title>%s</title>\n",
                        Escape(absl::StrFormat("matspec bench: %s, %s, %d threads", report.model,
                                               report.device, report.threads)));
  const Panel accept{70, 40, 340, 300, 1, static_cast<double>(std::max<int64_t>(k_max, 2)), 0, 1};
  // k from 0 (plain decoding, 1x) so that an adaptive row whose mean k is below 1 shows where it is.
  const Panel speed{560, 40, 340, 300, 0, static_cast<double>(std::max<int64_t>(k_max, 2)), 0, y_top};
  accept.Frame("acceptance by draft position", "draft position", "acceptance rate", k_max > 16 ? 4 : 1, 0.2,
               &out);
  speed.Frame("speed-up vs k (dashed: analytic)", "k (tokens drafted per round)", "speed-up vs plain",
              k_max > 16 ? 4 : 1, y_top > 4 ? 1.0 : 0.5, &out);
  absl::StrAppendFormat(&out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#808080\"/>\n",
                        speed.left, speed.Y(1.0), speed.left + speed.width, speed.Y(1.0));

  for (size_t d = 0; d < drafts.size(); ++d) {
    const std::string colour = kColours[d % (sizeof(kColours) / sizeof(kColours[0]))];
    const std::string& draft = drafts[d];
    const std::vector<const SweepRow*>& rows = fixed[draft];
    // Left: the row with the largest fixed k (else the adaptive row).
    const SweepRow* longest = adaptive.count(draft) ? adaptive[draft] : nullptr;
    for (const SweepRow* r : rows) {
      if (longest == nullptr || longest->config.adaptive || r->config.k > longest->config.k) longest = r;
    }
    std::vector<std::pair<double, double>> points;
    if (longest != nullptr) {
      const std::vector<double>& p = longest->overall.per_position_acceptance;
      for (size_t i = 0; i < p.size(); ++i) points.push_back({accept.X(i + 1.0), accept.Y(p[i])});
    }
    absl::StrAppend(&out, Polyline(points, colour, false));
    for (const auto& [x, y] : points) {
      absl::StrAppendFormat(&out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, colour);
    }
    // Right: measured (solid) and analytic (dashed) from the pooled acceptance and cost.
    points.clear();
    int64_t drafted = 0, accepted = 0;
    double cost_sum = 0;
    for (const SweepRow* r : rows) {
      points.push_back({speed.X(r->config.k), speed.Y(r->overall.speedup_median)});
      drafted += r->overall.drafted_tokens;
      accepted += r->overall.accepted_tokens;
      cost_sum += r->overall.draft_cost;
    }
    std::sort(points.begin(), points.end());
    absl::StrAppend(&out, Polyline(points, colour, false));
    for (const auto& [x, y] : points) {
      absl::StrAppendFormat(&out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, colour);
    }
    if (!rows.empty() && drafted > 0) {
      const double alpha = double(accepted) / drafted, cost = cost_sum / rows.size();
      std::vector<std::pair<double, double>> curve;
      for (double k = 0.0; k <= speed.x1 + 1e-9; k += 0.25) {
        curve.push_back({speed.X(k), speed.Y(std::min(AnalyticSpeedup(alpha, k, cost), speed.y1))});
      }
      absl::StrAppend(&out, Polyline(curve, colour, true));
    }
    if (adaptive.count(draft)) {
      const RowStats& s = adaptive[draft]->overall;
      const double x = speed.X(std::clamp(s.mean_k, speed.x0, speed.x1)), y = speed.Y(s.speedup_median);
      absl::StrAppendFormat(&out,
                            "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
                            "stroke=\"black\"/>\n",
                            x, y - 7, x + 7, y, x, y + 7, x - 7, y, colour);
    }
    // Legend, below the panels.
    const double lx = 70 + (d % 5) * 180.0, ly = 400 + (d / 5) * 18.0;
    absl::StrAppendFormat(&out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>\n", lx,
                          ly - 4, colour);
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", lx + 20, ly,
                          Escape(draft));
  }
  if (!adaptive.empty()) {
    absl::StrAppendFormat(
        &out, "<text x=\"560\" y=\"%d\" font-size=\"11\">diamond: adaptive k, at its mean k</text>\n",
        kHeight - 8);
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace matspec::bench
