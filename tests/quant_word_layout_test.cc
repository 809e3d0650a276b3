// The q8 / q4 word layout QuantMatMulCuda reads (kernels/cuda/quant_word_layout.h),
// checked on the CPU: a warp's 32 lanes walking a row as the kernel does (lane
// l takes blocks l / kLanesPerBlock + s * kBlocksPerWarpStep, the word at byte
// block * kBlockBytes + sub * 4) see every element of the row exactly once,
// with the integer value kernels/dtype.h's QuantizedValue gives it.
#include "kernels/cuda/quant_word_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace matspec {
namespace {

template <DType D>
void CheckRowWalk(int64_t blocks, uint32_t seed) {
  using L = QuantWordLayout<D>;
  std::mt19937 rng(seed);
  std::vector<uint8_t> row(blocks * L::kBlockBytes);
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  if (D == DType::kQ8) {
    for (uint8_t& b : row) {
      if (b == 0x80) b = 0x81;  // q8 values lie in [-127, 127]
    }
  }
  std::vector<int> seen(blocks * kQuantBlock, 0);
  for (int lane = 0; lane < 32; ++lane) {
    const int sub = lane % L::kLanesPerBlock;
    for (int64_t b = lane / L::kLanesPerBlock; b < blocks; b += L::kBlocksPerWarpStep) {
      uint32_t word;
      std::memcpy(&word, row.data() + b * L::kBlockBytes + sub * 4, sizeof word);
      float q[L::kElementsPerWord];
      int col[L::kElementsPerWord];
      UnpackQuantWord<D>(word, sub, q, col);
      for (int i = 0; i < L::kElementsPerWord; ++i) {
        ASSERT_GE(col[i], 0);
        ASSERT_LT(col[i], kQuantBlock);
        const int64_t c = b * kQuantBlock + col[i];
        ++seen[c];
        ASSERT_EQ(q[i], static_cast<float>(QuantizedValue(row.data(), D, c)))
            << DTypeName(D) << " lane " << lane << " block " << b << " column " << c;
      }
    }
  }
  for (int64_t c = 0; c < blocks * kQuantBlock; ++c) {
    ASSERT_EQ(seen[c], 1) << DTypeName(D) << " column " << c << " of " << blocks << " blocks";
  }
}

TEST(QuantWordLayoutTest, WarpWalkCoversEveryElementOnceWithItsValue) {
  for (int64_t blocks : {1, 3, 4, 5, 8, 9, 97}) {
    CheckRowWalk<DType::kQ8>(blocks, 11 + blocks);
    CheckRowWalk<DType::kQ4>(blocks, 12 + blocks);
  }
}

TEST(QuantWordLayoutTest, ExtremeValues) {
  // q8: -127 and 127; q4: nibbles 0 and 15 (values -8 and 7).
  float q[8];
  int col[8];
  UnpackQuantWord<DType::kQ8>(0x7f81007fu, 0, q, col);
  EXPECT_EQ(q[0], 127.f);
  EXPECT_EQ(q[1], 0.f);
  EXPECT_EQ(q[2], -127.f);
  EXPECT_EQ(q[3], 127.f);
  UnpackQuantWord<DType::kQ4>(0x0000f00fu, 3, q, col);
  EXPECT_EQ(q[0], 7.f);   // byte 12 low nibble: element 12
  EXPECT_EQ(col[0], 12);
  EXPECT_EQ(q[4], -8.f);  // byte 12 high nibble: element 28
  EXPECT_EQ(col[4], 28);
  EXPECT_EQ(q[1], -8.f);  // byte 13 low nibble 0
  EXPECT_EQ(q[5], 7.f);   // byte 13 high nibble 15
  EXPECT_EQ(col[5], 29);
}

}  // namespace
}  // namespace matspec
