// Micro-benchmarks of the CPU matrix product against the machine's own
// streaming-read bandwidth. Decoding is memory bound, so for one token the
// figure of merit is the weight bytes MatMul streams per second
// (bytes_per_second) beside BM_ReadBandwidth in the same run; for many tokens
// (prefill) it is GFLOP/s.
//
//   build/bench/matmul_bench --benchmark_counters_tabular=true \
//       --benchmark_filter='ReadBandwidth|MatMul/bf16' --benchmark_repetitions=5
//
// On a shared 2-core machine another process makes the 2-thread figures
// swing by 10x (a fork-join waits for a descheduled thread); read the median
// of several repetitions and say what else was running.
//
// BM_ReadBandwidth/<MiB>/<threads>/<huge>/<prefetch>: sums a large array
//   (reads only; each thread sums its own half); bytes_per_second = bytes
//   read; huge = 1 asks for transparent huge pages (MADV_HUGEPAGE), 0 forbids
//   them; prefetch = KiB ahead the sum prefetches into L2 in software, one
//   line per line read (0: the hardware prefetchers alone). Which is faster
//   depends on the CPU (a Xeon core: 9 GB/s without, more with); the kernels'
//   target is the faster of the two (bench/verify_ratios.py takes the best).
// BM_MatMul/<dtype>/n/k/t/threads/path/dram: bytes_per_second = weight bytes
//   (n * k * size) per call, whatever t is; `gflops` = 2 n k t per second;
//   path is a MatMulPath index (0 avx512-bf16, 1 avx512, 2 avx2, 3 portable);
//   dram = 1 cycles through copies of the matrix totalling 256 MiB so every
//   call streams its weights from memory, dram = 0 reuses one (cache-resident).
//   Weights sit in 2 MiB pages, as the engine's do: compare with huge:1.
// BM_MatMul with t >= 24 on path 0 runs the prefill GEMM (GemmArgs adds the
//   shapes around its switch); bench/gemm_library_bench.cc compares it with
//   oneDNN where that is installed.
// BM_MatMulPool/n/k/t/threads/pool: bf16 on the best path; pool = 1 runs on a
//   CpuThreadPool, 0 on OpenMP. Meant to be run beside a busy process
//   (`yes > /dev/null &`) to see whether 2 threads collapse.
// BM_MatMulQuant/dtype/n/k/t/threads/dram: q8 (dtype 3) or q4 (4) weights on
//   the best path, from DRAM (dram = 1, copies in turn) or one copy that stays
//   in L2 (dram = 0: the kernel's instruction cost, not the memory's);
//   bytes_per_second = quantized bytes (values and scales) per call.
// BM_DecodeStep/t/threads/few: the 410M decode step's bf16 products in model
//   order (t = 1) and its verification (t = 4, 8); bytes_per_second = weights
//   per step; few = CpuContext::bf16_sums (0 auto, 1 vdpbf16ps, 2 f32 FMA).
// BM_Verify/n/k/t/threads: bf16 from DRAM on the best path, the model shapes
//   at t = 1..16 (the cost of verifying t tokens against one decode step).
// BM_Attention/past/t/heads/kv_heads/head_dim/threads: one layer's attention
//   (kernels/attention.h) of t new tokens over a cache of past + t slots,
//   f32 as the engine keeps it; the bundled model's shape (6 heads over 2 KV
//   heads, head_dim 32: three query heads per cache-row load) and a group of
//   4 at head_dim 128 (one head at a time); bytes_per_second = cache bytes
//   (K and V) per call.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_thread_pool.h"
#include "kernels/dtype.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"

namespace matspec {
namespace {

constexpr int64_t kDramBytes = int64_t{256} << 20;

// A buffer of `bytes` (rounded up to 2 MiB), 2 MiB-aligned; huge = true asks
// for transparent huge pages (MADV_HUGEPAGE), as the engine's weights get them
// (engine/huge_pages.h for mapped checkpoints, engine/weight_store.cc for
// quantized tensors); false forbids them (4 KiB pages). Null when out of memory.
std::unique_ptr<uint8_t, decltype(&std::free)> PageBuffer(int64_t bytes, bool huge) {
  const size_t n = static_cast<size_t>((bytes + (int64_t{2} << 20) - 1) >> 21 << 21);
  void* raw = nullptr;
  if (posix_memalign(&raw, size_t{2} << 20, n) != 0) raw = nullptr;
  if (raw != nullptr) madvise(raw, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  return {static_cast<uint8_t*>(raw), &std::free};
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int64_t words = (state.range(0) << 20) / 8;
  const int threads = static_cast<int>(state.range(1));
  // huge = 1: through 2 MiB pages, as the engine's weights are; 0: 4 KiB pages.
  auto owner = PageBuffer(words * 8, state.range(2) != 0);
  if (owner == nullptr) {
    state.SkipWithError("out of memory");
    return;
  }
  auto* data = reinterpret_cast<uint64_t*>(owner.get());
  for (int64_t i = 0; i < words; ++i) data[i] = static_cast<uint64_t>(i);
  const int64_t ahead = state.range(3) * 1024 / 8;  // in words
  uint64_t total = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
    if (ahead == 0) {
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
      for (int64_t i = 0; i < words; ++i) sum += data[i];  // integer adds: vectorised freely
    } else {
      // Cache line by cache line (8 words), each line prefetched `ahead` before
      // it is summed; past the end the prefetch is dropped (no fault).
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
      for (int64_t line = 0; line < words / 8; ++line) {
        __builtin_prefetch(data + line * 8 + ahead, 0, 2);  // read, into L2 (T1)
        uint64_t s = 0;
        for (int w = 0; w < 8; ++w) s += data[line * 8 + w];
        sum += s;
      }
    }
    total += sum;
  }
  benchmark::DoNotOptimize(total);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * words * 8);
}
BENCHMARK(BM_ReadBandwidth)
    ->ArgNames({"MiB", "threads", "huge", "prefetch"})
    ->ArgsProduct({{256}, {1, 2}, {0, 1}, {0}})
    ->ArgsProduct({{256}, {1, 2}, {1}, {4, 16}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

DType DTypeArg(int64_t i) { return i == 0 ? DType::kBF16 : i == 1 ? DType::kF16 : DType::kF32; }

void RunMatMulBenchmark(benchmark::State& state, DType dtype, int64_t n, int64_t k, int64_t t,
                        int threads, MatMulPath path, bool dram, CpuThreadPool* pool) {
  const std::vector<MatMulPath> paths = AvailableMatMulPaths();
  if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
    state.SkipWithError("path not available on this CPU");
    return;
  }
  const int64_t elem = DTypeSize(dtype), matrix_bytes = n * k * elem;
  const int64_t copies = dram ? std::max<int64_t>(1, kDramBytes / matrix_bytes) : 1;

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  auto w = PageBuffer(copies * matrix_bytes, true);  // 2 MiB pages, as the engine's weights
  if (w == nullptr) {
    state.SkipWithError("out of memory");
    return;
  }
  for (int64_t i = 0; i < copies * n * k; ++i) {
    const float f = dist(rng);
    if (dtype == DType::kF32) {
      reinterpret_cast<float*>(w.get())[i] = f;
    } else {
      reinterpret_cast<uint16_t*>(w.get())[i] = dtype == DType::kBF16 ? F32ToBf16(f) : F32ToF16(f);
    }
  }
  std::vector<float> x(t * k), y(t * n);
  for (float& v : x) v = dist(rng);

  MatMulParams p;
  p.x = x.data();
  p.x_ld = k;
  p.t = t;
  p.y = y.data();
  p.y_ld = n;
  CpuContext ctx{threads};
  ctx.pool = pool;
  int64_t i = 0;
  for (auto _ : state) {
    p.w = MatrixView{w.get() + (i % copies) * matrix_bytes, dtype, n, k, k};
    MatMulWithPath(path, ctx, p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    ++i;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * matrix_bytes);
  state.counters["gflops"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * n * k * t * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(DTypeName(dtype)) + " " + MatMulPathName(path) + (pool ? " pool" : ""));
}

void BM_MatMul(benchmark::State& state) {
  RunMatMulBenchmark(state, DTypeArg(state.range(0)), state.range(1), state.range(2),
                     state.range(3), static_cast<int>(state.range(4)),
                     static_cast<MatMulPath>(state.range(5)), state.range(6) != 0, nullptr);
}

void MatMulArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dtype", "n", "k", "t", "threads", "path", "dram"});
  // The 410M model's shapes from DRAM: decode (t = 1) and verification (t = 4, 8).
  for (int64_t path : {0, 1, 2}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{1024, 1024}, {4096, 1024}, {1024, 4096},
                        {32000, 1024}}) {
      for (int64_t t : {1, 4, 8}) {
        for (int64_t threads : {1, 2}) b->Args({0, n, k, t, threads, path, 1});
      }
    }
  }
  // f16 / f32 weights at one token.
  for (int64_t dtype : {1, 2}) {
    for (int64_t threads : {1, 2}) b->Args({dtype, 4096, 1024, 1, threads, 0, 1});
  }
  // The bundled model's shapes (hidden 192), cache-resident.
  for (int64_t path : {0, 1, 2}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{768, 192}, {192, 768}, {4096, 192}}) {
      for (int64_t t : {1, 4}) b->Args({0, n, k, t, 1, path, 0});
    }
  }
  // Prefill.
  for (int64_t path : {0, 1, 2}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{1024, 1024}, {4096, 1024}, {1024, 4096}}) {
      for (int64_t threads : {1, 2}) b->Args({0, n, k, 512, threads, path, 0});
    }
  }
}
BENCHMARK(BM_MatMul)->Apply(MatMulArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Quantized weights: copies of one random matrix quantized to q8 / q4,
// totalling 256 MiB, so every call streams values and scales from memory.
void BM_MatMulQuant(benchmark::State& state) {
  const DType dtype = state.range(0) == 3 ? DType::kQ8 : DType::kQ4;
  const int64_t n = state.range(1), k = state.range(2), t = state.range(3);
  const int threads = static_cast<int>(state.range(4));
  const bool dram = state.range(5) != 0;
  const int64_t value_bytes = n * DTypeRowBytes(dtype, k), scale_count = n * k / kQuantBlock;
  const int64_t matrix_bytes = value_bytes + scale_count * 2;
  const int64_t copies = dram ? std::max<int64_t>(1, kDramBytes / matrix_bytes) : 1;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> f(n * k);
  for (float& v : f) v = dist(rng);
  auto values_buffer = PageBuffer(copies * value_bytes, true);
  auto scales_buffer = PageBuffer(copies * scale_count * 2, true);
  if (values_buffer == nullptr || scales_buffer == nullptr) {
    state.SkipWithError("out of memory");
    return;
  }
  uint8_t* values = values_buffer.get();
  auto* scales = reinterpret_cast<uint16_t*>(scales_buffer.get());
  for (int64_t c = 0; c < copies; ++c) {
    const absl::Status s = QuantizeMatrix({f.data(), DType::kF32, n, k, k}, dtype, "bench", 2,
                                          values + c * value_bytes, scales + c * scale_count);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  std::vector<float> x(t * k), y(t * n);
  for (float& v : x) v = dist(rng);
  MatMulParams p{.x = x.data(), .x_ld = k, .t = t, .y = y.data(), .y_ld = n};
  CpuContext ctx{threads};
  int64_t i = 0;
  for (auto _ : state) {
    const int64_t c = i++ % copies;
    p.w = QuantizedView(dtype, n, k, values + c * value_bytes, scales + c * scale_count);
    MatMul(ctx, p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * matrix_bytes);
  state.SetLabel(std::string(DTypeName(dtype)));
}
BENCHMARK(BM_MatMulQuant)
    ->ArgNames({"dtype", "n", "k", "t", "threads", "dram"})
    ->ArgsProduct({{3, 4}, {4096, 1024}, {1024}, {1, 4, 8}, {1, 2}, {1}})
    ->ArgsProduct({{3, 4}, {1024}, {4096}, {1, 4}, {1, 2}, {1}})
    ->ArgsProduct({{3, 4}, {1024}, {1024}, {1, 4, 8}, {1}, {0}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Verification cost: the model shapes from DRAM on the best path at the token
// counts a speculation round verifies (k+1 = 2..16). bench/verify_ratios.py
// turns a JSON run into time(t) / time(1) and bytes/s vs BM_ReadBandwidth.
void BM_Verify(benchmark::State& state) {
  RunMatMulBenchmark(state, DType::kBF16, state.range(0), state.range(1), state.range(2),
                     static_cast<int>(state.range(3)), AvailableMatMulPaths().front(), true,
                     nullptr);
}
void VerifyArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "k", "t", "threads"});
  // 410M (hidden 1024, FFN 4096, 8 KV heads) and the x8 inflated bundled model
  // (hidden 1536, FFN 6144).
  for (auto [n, k] : {std::pair<int64_t, int64_t>{4096, 1024}, {1024, 4096}, {1024, 1024},
                      {512, 1024}, {6144, 1536}, {1536, 6144}, {1536, 1536}}) {
    for (int64_t threads : {1, 2}) {
      for (int64_t t : {1, 2, 4, 8, 9, 16}) b->Args({n, k, t, threads});
    }
  }
}
BENCHMARK(BM_Verify)->Apply(VerifyArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One decode step's products in model order: the 410M random llama (24 layers
// of q, k, v, o 1024 / 512 x 1024, gate and up 4096 x 1024, down 1024 x 4096,
// then the 32000 x 1024 head), bf16 from one 782 MiB buffer in 2 MiB pages
// laid out as a checkpoint would be, t tokens on the best path. Unlike
// BM_Verify, every switch from one matrix to the next is in it, as in the
// engine; bytes_per_second = weight bytes per step.
void BM_DecodeStep(benchmark::State& state) {
  const int64_t t = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  // few: CpuContext::bf16_sums (0 auto, 1 vdpbf16ps, 2 f32 FMA).
  const auto few = static_cast<CpuContext::Bf16Sums>(state.range(2));
  if (few == CpuContext::Bf16Sums::kFma && !Bf16FmaTilesAvailable()) {
    state.SkipWithError("f32-FMA bf16 tiles not available on this CPU");
    return;
  }
  struct Shape {
    int64_t n, k;
  };
  std::vector<Shape> shapes;
  for (int layer = 0; layer < 24; ++layer) {
    for (Shape s : {Shape{1024, 1024}, Shape{512, 1024}, Shape{512, 1024}, Shape{1024, 1024},
                    Shape{4096, 1024}, Shape{4096, 1024}, Shape{1024, 4096}}) {
      shapes.push_back(s);
    }
  }
  shapes.push_back({32000, 1024});
  int64_t total = 0;
  for (const Shape& s : shapes) total += s.n * s.k * 2;
  auto w = PageBuffer(total, true);
  if (w == nullptr) {
    state.SkipWithError("out of memory");
    return;
  }
  // Cheap pseudo-random bf16 in [-1, 1): the arithmetic does not depend on it.
  auto* bits = reinterpret_cast<uint16_t*>(w.get());
  uint32_t lcg = 1;
  for (int64_t i = 0; i < total / 2; ++i) {
    lcg = lcg * 1664525u + 1013904223u;
    bits[i] = F32ToBf16(static_cast<float>(lcg >> 8) * (2.f / 16777216.f) - 1.f);
  }
  std::vector<float> x(t * 4096, 0.5f), y(t * 32000);
  CpuContext ctx{threads};
  ctx.bf16_sums = few;
  const MatMulPath path = AvailableMatMulPaths().front();
  for (auto _ : state) {
    int64_t offset = 0;
    for (const Shape& s : shapes) {
      MatMulParams p{.x = x.data(), .x_ld = s.k, .t = t, .y = y.data(), .y_ld = s.n};
      p.w = MatrixView{w.get() + offset, DType::kBF16, s.n, s.k, s.k};
      MatMulWithPath(path, ctx, p);
      offset += s.n * s.k * 2;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * total);
  state.SetLabel(std::string(MatMulPathName(path)) + (t > 1 ? std::string(" ") + Bf16MultiTokenKernelName(few) : ""));
}
BENCHMARK(BM_DecodeStep)
    ->ArgNames({"t", "threads", "few"})
    ->ArgsProduct({{1}, {1, 2}, {0}})
    ->ArgsProduct({{4, 8}, {1, 2}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The prefill GEMM (kernels/cpu/gemm_bf16.h, t >= kGemmMinTokens on the
// avx512-bf16 path): the 410M model's k / v projection shape, and token counts
// on both sides of the switch from the tiles (t = 16) to the GEMM (t = 24).
void GemmArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dtype", "n", "k", "t", "threads", "path", "dram"});
  for (int64_t threads : {1, 2}) b->Args({0, 512, 1024, 512, threads, 0, 0});
  for (int64_t t : {16, 24, 32, 64, 128}) b->Args({0, 4096, 1024, t, 1, 0, 1});
}
BENCHMARK(BM_MatMul)->Apply(GemmArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Attention(benchmark::State& state) {
  const int64_t past = state.range(0), t = state.range(1), heads = state.range(2), kv_heads = state.range(3),
                d = state.range(4);
  const int threads = static_cast<int>(state.range(5));
  const int64_t slots = past + t;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> q(t * heads * d), k(slots * kv_heads * d), v(slots * kv_heads * d), out(t * heads * d);
  for (std::vector<float>* a : {&q, &k, &v}) {
    for (float& x : *a) x = uniform(rng);
  }
  std::vector<float> scratch(AttentionScratchFloats(slots, threads));
  AttentionParams p =
      PackedAttentionParams(heads, kv_heads, d, q.data(), k.data(), v.data(), past, t, out.data());
  p.scratch = scratch.data();
  CpuContext ctx{threads};
  for (auto _ : state) {
    Attention(ctx, p);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * slots * kv_heads * d * 4);
}
BENCHMARK(BM_Attention)
    ->ArgNames({"past", "t", "heads", "kv_heads", "d", "threads"})
    ->ArgsProduct({{100, 400, 800}, {1, 5}, {6}, {2}, {32}, {1}})
    ->ArgsProduct({{400}, {1, 5}, {16}, {4}, {128}, {1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_MatMulPool(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(3));
  CpuThreadPool pool(threads);
  RunMatMulBenchmark(state, DType::kBF16, state.range(0), state.range(1), state.range(2), threads,
                     AvailableMatMulPaths().front(), true, state.range(4) ? &pool : nullptr);
}
BENCHMARK(BM_MatMulPool)
    ->ArgNames({"n", "k", "t", "threads", "pool"})
    ->ArgsProduct({{4096}, {1024}, {1, 4}, {1, 2}, {0, 1}})
    ->ArgsProduct({{768}, {192}, {1}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace matspec

BENCHMARK_MAIN();
