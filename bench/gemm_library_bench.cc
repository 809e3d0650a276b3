// The prefill product y = x W^T (bf16 W [n, k], f32 x [t, k], f32 y) in
// matspec against oneDNN's bf16 matmul, on the same shapes and threads: the
// measurement behind "use a library if it does it better" (issue 10, item 3;
// bench/RESULTS.md §5.4). Built only when CMake finds oneDNN (Debian
// `libdnnl-dev`); matspec never links oneDNN otherwise.
//
//   build/bench/gemm_library_bench --benchmark_counters_tabular=true
//
// BM_Matspec/n/k/t/threads: MatMul (the GEMM of kernels/cpu/gemm_bf16.h for
//   t >= kGemmMinTokens), x rounded to bf16 inside the call.
// BM_OneDnn/n/k/t/threads/packed: dnnl::matmul, bf16 x and W, f32 y; the time
//   includes rounding x to bf16 (as matspec's does). packed = 0: W in its
//   stored layout (k x n with strides {1, k}); packed = 1: W reordered once,
//   outside the timing, into the layout oneDNN picks (what a library path
//   would cost only if the engine kept a second, packed copy of the weights).
// gflops = 2 n k t per second (real time). On a shared machine read the CPU
// column for 1 thread (the main thread's CPU time) too.
//
// OpenBLAS is not here: Debian's libopenblas 0.3.21 declares cblas_sbgemm in
// its header but is built without BUILD_BFLOAT16, so the symbol is missing.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/dtype.h"
#include "kernels/matmul.h"

namespace matspec {
namespace {

struct Data {
  Data(int64_t n, int64_t k, int64_t t) : w(n * k), x(t * k), x_bf16(t * k), y(t * n) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (uint16_t& v : w) v = F32ToBf16(dist(rng));
    for (float& v : x) v = dist(rng);
  }
  std::vector<uint16_t> w;
  std::vector<float> x;
  std::vector<uint16_t> x_bf16;
  std::vector<float> y;
};

void SetCounters(benchmark::State& state, int64_t n, int64_t k, int64_t t) {
  state.counters["gflops"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * n * k * t * 1e-9, benchmark::Counter::kIsRate);
}

void BM_Matspec(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1), t = state.range(2);
  Data d(n, k, t);
  MatMulParams p;
  p.x = d.x.data();
  p.x_ld = k;
  p.t = t;
  p.w = MatrixView{d.w.data(), DType::kBF16, n, k, k};
  p.y = d.y.data();
  p.y_ld = n;
  const CpuContext ctx{static_cast<int>(state.range(3))};
  for (auto _ : state) {
    MatMul(ctx, p);
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, n, k, t);
  state.SetLabel(MatMulIsaName());
}

void BM_OneDnn(benchmark::State& state) {
  using dnnl::memory;
  const int64_t n = state.range(0), k = state.range(1), t = state.range(2);
  const bool packed = state.range(4) != 0;
  omp_set_num_threads(static_cast<int>(state.range(3)));
  Data d(n, k, t);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const memory::desc x32_md({t, k}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc x_md({t, k}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc w_stored_md({k, n}, memory::data_type::bf16, memory::format_tag::ba);
  const memory::desc w_md =
      packed ? memory::desc({k, n}, memory::data_type::bf16, memory::format_tag::any) : w_stored_md;
  const memory::desc y_md({t, n}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(x_md, w_md, y_md), eng);
  const dnnl::matmul prim(pd);
  memory x32(x32_md, eng, d.x.data()), x(x_md, eng, d.x_bf16.data()), y(y_md, eng, d.y.data());
  memory w_stored(w_stored_md, eng, d.w.data());
  memory w = w_stored;
  if (packed && pd.weights_desc() != w_stored_md) {
    w = memory(pd.weights_desc(), eng);
    dnnl::reorder(w_stored, w).execute(stream, w_stored, w);
  }
  const dnnl::reorder round_x(x32, x);
  for (auto _ : state) {
    round_x.execute(stream, x32, x);
    prim.execute(stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
    stream.wait();
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, n, k, t);
  state.SetLabel(pd.impl_info_str());
}

// The 410M model's products at a 512-token prefill.
constexpr int64_t kShapes[][2] = {{4096, 1024}, {1024, 4096}, {1024, 1024}, {512, 1024}};

void MatspecArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "k", "t", "threads"});
  for (const auto& s : kShapes) {
    for (int64_t threads : {1, 2}) b->Args({s[0], s[1], 512, threads});
  }
}

void OneDnnArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "k", "t", "threads", "packed"});
  for (const auto& s : kShapes) {
    for (int64_t threads : {1, 2}) {
      for (int64_t packed : {0, 1}) b->Args({s[0], s[1], 512, threads, packed});
    }
  }
}

BENCHMARK(BM_Matspec)->Apply(MatspecArgs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneDnn)->Apply(OneDnnArgs)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace matspec

BENCHMARK_MAIN();
