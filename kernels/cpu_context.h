// The explicit execution context of the CPU kernels: how many threads a kernel
// may use and whether products may round activations. Owned by whoever runs a
// forward pass; nothing here is process-wide.
#ifndef MATSPEC_KERNELS_CPU_CONTEXT_H_
#define MATSPEC_KERNELS_CPU_CONTEXT_H_

namespace matspec {

class CpuThreadPool;  // kernels/cpu_thread_pool.h
class CpuWorkspace;   // kernels/cpu_workspace.h

struct CpuContext {
  int num_threads = 1;  // OpenMP team size used by the parallel kernels; >= 1
  // true: MatMul never rounds x to bf16, so it matches MatMulReference within
  // kMatMulTol on every machine (the HF-parity tests set it). false: on CPUs
  // with AVX512_BF16, products with bf16 weights round x to bf16 and use
  // vdpbf16ps (f32 accumulation), about 2x the arithmetic rate.
  bool f32_activations = false;
  // When set, kernels that support it (MatMul, Attention) run their threads on this pool
  // (num_threads capped by its size) instead of an OpenMP team: its waits
  // sleep instead of spinning, so a busy core does not stall every call.
  // Not owned; must outlive the calls.
  CpuThreadPool* pool = nullptr;
  // When set, kernels keep their scratch (the converted x of MatMul) here from
  // call to call instead of allocating it per call. Not owned; one call at a
  // time (a context with a workspace is never used by two threads at once).
  CpuWorkspace* workspace = nullptr;
  // How the AVX512_BF16 path sums products of 2 or more tokens with bf16
  // weights (one token always takes vdpbf16ps): kDot with vdpbf16ps; kFma with
  // f32 FMAs that give vdpbf16ps's bits (kernels/cpu/matmul_avx512_bf16.cc),
  // used only where a start-up check finds them exact on this CPU; kAuto: kFma
  // where that check passes and FMAs also issue faster (Intel Xeon), else kDot.
  // The outputs are the same bits whichever runs; only the speed differs.
  enum class Bf16Sums { kAuto, kDot, kFma };
  Bf16Sums bf16_sums = Bf16Sums::kAuto;
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CPU_CONTEXT_H_
