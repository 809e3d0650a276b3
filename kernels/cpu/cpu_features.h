// The x86 instruction-set features the CPU kernels dispatch on, read once from
// cpuid (through __builtin_cpu_supports, which also checks that the OS saves
// the vector registers; for AMX, the OS's permission). On other architectures
// every flag is false.
#ifndef MATSPEC_KERNELS_CPU_CPU_FEATURES_H_
#define MATSPEC_KERNELS_CPU_CPU_FEATURES_H_

#include <string>

namespace matspec {

struct CpuFeatures {
  bool avx2_fma_f16c = false;  // AVX2 + FMA + F16C
  bool avx512 = false;         // AVX-512 F + BW + VL + DQ (and the AVX2 set)
  bool avx512_bf16 = false;    // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of `avx512`
  bool avx512_vnni = false;    // AVX512_VNNI (vpdpbusd) on top of `avx512`
  // AMX-TILE + AMX-BF16 (TDPBF16PS) on top of `avx512_bf16`, and the kernel
  // (Linux 5.16+) has granted this process the tile data state
  // (arch_prctl ARCH_REQ_XCOMP_PERM, asked once, here). False when the
  // environment sets MATSPEC_AMX=0 (to compare paths in one binary).
  bool amx_bf16 = false;
  // The processor's brand string (cpuid 0x80000002-4, spaces trimmed) and its
  // family and model numbers, e.g. "Intel(R) Xeon(R) Processor (family 6,
  // model 207)"; "unknown" where there is none. Speed ratios depend on the
  // processor, so reports name it.
  std::string name = "unknown";
};

// The features of the CPU this process runs on; computed on first use.
const CpuFeatures& GetCpuFeatures();

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CPU_CPU_FEATURES_H_
