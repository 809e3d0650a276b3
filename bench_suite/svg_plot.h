// The sweep's plot as a self-contained SVG (no plotting dependency), two panels:
//   left   acceptance rate by draft position, one line per draft (its row
//          with the largest fixed k);
//   right  measured speed-up vs k (k = 0: plain decoding), one solid line per draft, the analytic
//          speed-up (sweep.h) from that draft's pooled acceptance rate and
//          draft cost dashed in the same colour, the adaptive row as a diamond
//          at its mean k, and a grey line at 1x (plain decoding).
// Only the first temperature and the first draft vocabulary of the sweep are
// drawn; the tables hold the rest.
#ifndef MATSPEC_BENCH_SUITE_SVG_PLOT_H_
#define MATSPEC_BENCH_SUITE_SVG_PLOT_H_

#include <string>

#include "bench_suite/sweep.h"

namespace matspec::bench {

std::string PlotSvg(const SweepReport& report);

}  // namespace matspec::bench

#endif  // MATSPEC_BENCH_SUITE_SVG_PLOT_H_
