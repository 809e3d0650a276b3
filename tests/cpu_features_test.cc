// GetCpuFeatures: the processor name reports carry, and the feature flags the
// kernels dispatch on, against what the kernel says in /proc/cpuinfo.
#include "kernels/cpu/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace matspec {
namespace {

// The value of the first "key : value" line of /proc/cpuinfo whose key is
// `key`; empty when there is no such file or line (not Linux, not x86).
std::string CpuInfoField(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    k.erase(k.find_last_not_of(" \t") + 1);
    if (k == key) {
      const size_t v = line.find_first_not_of(' ', colon + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
  }
  return "";
}

// Every word of the processor's flags line, space-padded for whole-word search.
std::string Flags() {
  std::string padded(" ");  // (appends: GCC 12 warns falsely on " " + std::string)
  padded.append(CpuInfoField("flags")).append(" ");
  return padded;
}

TEST(CpuFeaturesTest, NameIsTheBrandStringWithFamilyAndModel) {
  const CpuFeatures& f = GetCpuFeatures();
  ASSERT_FALSE(f.name.empty());
#if defined(__x86_64__)
  const std::string brand = CpuInfoField("model name");
  const std::string family = CpuInfoField("cpu family"), model = CpuInfoField("model");
  if (brand.empty() || family.empty() || model.empty()) GTEST_SKIP() << "no /proc/cpuinfo to compare with";
  // Linux prints the same brand string, trimmed, and the same family / model arithmetic.
  std::string trimmed = brand;
  trimmed.erase(trimmed.find_last_not_of(' ') + 1);
  EXPECT_EQ(f.name, trimmed + " (family " + family + ", model " + model + ")");
#else
  EXPECT_EQ(f.name, "unknown");
#endif
}

TEST(CpuFeaturesTest, FlagsAgreeWithTheKernel) {
#if defined(__x86_64__)
  const std::string flags = Flags();
  if (flags.size() <= 2) GTEST_SKIP() << "no /proc/cpuinfo flags";
  auto has = [&](const std::string& word) {
    std::string padded(" ");
    padded.append(word).append(" ");
    return flags.find(padded) != std::string::npos;
  };
  const CpuFeatures& f = GetCpuFeatures();
  EXPECT_EQ(f.avx2_fma_f16c, has("avx2") && has("fma") && has("f16c"));
  EXPECT_EQ(f.avx512, f.avx2_fma_f16c && has("avx512f") && has("avx512bw") && has("avx512vl") &&
                          has("avx512dq"));
  EXPECT_EQ(f.avx512_bf16, f.avx512 && has("avx512_bf16"));
  EXPECT_EQ(f.avx512_vnni, f.avx512 && has("avx512_vnni"));
#else
  GTEST_SKIP() << "x86 only";
#endif
}

}  // namespace
}  // namespace matspec
