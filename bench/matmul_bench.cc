// Micro-benchmarks of the CPU matrix product against the machine's own memory
// bandwidth. Decoding is memory bound, so the figure of merit is the weight
// bytes MatMul streams per second (bytes_per_second below) set beside what a
// large memcpy achieves on the same machine in the same run.
//
//   build-*/bench/matmul_bench --benchmark_counters_tabular=true
//
// On a shared 2-core machine another process makes the 2-thread figures
// swing by 10x (a fork-join waits for a descheduled thread); run with
// --benchmark_repetitions=N and read the `min` (time) / `max` (rate) rows,
// which every benchmark here also computes.
//
// BM_MemcpyBandwidth/<MiB>: bytes_per_second counts bytes read + bytes written.
// BM_MatVecBf16/<n>/<k>/<t>/<threads>: bytes_per_second counts weight bytes
// (n * k * 2) per call, whatever t is; at t > 1 it shows that verifying t
// tokens reads the weights once.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/matmul.h"

namespace matspec {
namespace {

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double Max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

void BM_MemcpyBandwidth(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  // A copy reads and writes every byte.
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_MemcpyBandwidth)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->ComputeStatistics("max", Max);

// A bf16 weight matrix several times larger than the last-level cache is
// cycled through so that every call streams its weights from memory.
void BM_MatVecBf16(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1), t = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const int64_t matrix_bytes = n * k * 2;
  const int64_t copies = std::max<int64_t>(1, (int64_t{256} << 20) / matrix_bytes);

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<uint16_t> w(copies * n * k);
  for (uint16_t& v : w) v = F32ToBf16(dist(rng));
  std::vector<float> x(t * k), y(t * n);
  for (float& v : x) v = dist(rng);

  MatMulParams p;
  p.x = x.data();
  p.x_ld = k;
  p.t = t;
  p.y = y.data();
  p.y_ld = n;
  const CpuContext ctx{threads};
  int64_t i = 0;
  for (auto _ : state) {
    p.w = MatrixView{w.data() + (i % copies) * n * k, DType::kBF16, n, k, k};
    MatMul(ctx, p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    ++i;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * matrix_bytes);
  state.counters["tokens"] = static_cast<double>(t);
  state.SetLabel(MatMulIsaName());
}
BENCHMARK(BM_MatVecBf16)
    ->ArgNames({"n", "k", "t", "threads"})
    ->ArgsProduct({{2048}, {2048}, {1, 4, 8, 17}, {1, 2}})
    ->ArgsProduct({{4096}, {1024}, {1, 4, 8}, {1, 2}})
    ->ArgsProduct({{1024}, {4096}, {1, 4, 8}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->ComputeStatistics("min", Min)
    ->ComputeStatistics("max", Max);

}  // namespace
}  // namespace matspec

BENCHMARK_MAIN();
