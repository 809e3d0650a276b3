#include "kernels/cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace matspec {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c").
bool HasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

// The brand string (48 bytes from cpuid leaves 0x80000002-0x80000004) with
// the family and model numbers.
std::string BrandString() {
  unsigned max_leaf = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0x80000000u, &max_leaf, &b, &c, &d) || max_leaf < 0x80000004u) return "";
  char text[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    unsigned r[4] = {};
    __get_cpuid(0x80000002u + i, &r[0], &r[1], &r[2], &r[3]);
    std::memcpy(text + 16 * i, r, sizeof r);
  }
  std::string s(text);  // up to the first NUL
  const size_t first = s.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  s = s.substr(first, s.find_last_not_of(' ') - first + 1);
  // Virtual machines often show a generic string ("Intel(R) Xeon(R)
  // Processor"); family and model (leaf 1, extended fields folded in) still
  // tell the generation apart.
  unsigned a = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family >= 0x6) model |= ((a >> 16) & 0xf) << 4;
    s += " (family " + std::to_string(family) + ", model " + std::to_string(model) + ")";
  }
  return s;
}
#endif

#if defined(__x86_64__)
// AMX-TILE and AMX-BF16 (cpuid leaf 7, EDX bits 24 and 22), the OS enabling
// the tile state in XCR0 (bits 17-18), and Linux granting this process the
// tile data (an 8 KiB per-thread state it hands out only on request).
bool AmxBf16Usable() {
  const char* env = std::getenv("MATSPEC_AMX");
  if (env != nullptr && std::string(env) == "0") return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if ((d & (1u << 24)) == 0 || (d & (1u << 22)) == 0) return false;
  unsigned eax1 = 0, ebx1 = 0, ecx1 = 0, edx1 = 0;
  if (!__get_cpuid(1, &eax1, &ebx1, &ecx1, &edx1) || (ecx1 & bit_OSXSAVE) == 0) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2_fma_f16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    HasF16c();
  f.avx512 = f.avx2_fma_f16c && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
#if defined(__x86_64__)
  f.amx_bf16 = f.avx512_bf16 && AmxBf16Usable();
#endif
  if (std::string brand = BrandString(); !brand.empty()) f.name = brand;
#endif
  return f;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

}  // namespace matspec
