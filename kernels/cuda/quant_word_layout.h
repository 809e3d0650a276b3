// How QuantMatMulCuda (quant_matmul_cuda.h) reads a q8 / q4 row: each lane of
// a warp loads one 4-byte word of values per step and turns it into integer
// values and their columns inside the 32-element block (kernels/dtype.h):
//   q8: 8 lanes per block; lane `sub` (0..7) reads bytes sub*4 .. sub*4+3,
//       elements sub*4 + m (m < 4).
//   q4: 4 lanes per block; lane `sub` (0..3) reads bytes sub*4 .. sub*4+3 of
//       the block's 16; byte sub*4 + m holds element sub*4 + m (low nibble)
//       and element 16 + sub*4 + m (high nibble), value nibble - 8.
// Host and device code (plain C++ outside nvcc), so that a CPU test
// (tests/quant_word_layout_test.cc) checks the mapping against dtype.h's
// QuantizedValue without a GPU.
#ifndef MATSPEC_KERNELS_CUDA_QUANT_WORD_LAYOUT_H_
#define MATSPEC_KERNELS_CUDA_QUANT_WORD_LAYOUT_H_

#include <cstdint>

#include "kernels/dtype.h"

#if defined(__CUDACC__)
#define MATSPEC_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MATSPEC_HOST_DEVICE inline
#endif

namespace matspec {

template <DType D>
struct QuantWordLayout {
  static_assert(D == DType::kQ8 || D == DType::kQ4, "quantized dtypes only");
  static constexpr int kLanesPerBlock = D == DType::kQ8 ? 8 : 4;
  static constexpr int kElementsPerWord = D == DType::kQ8 ? 4 : 8;
  static constexpr int kBlockBytes = D == DType::kQ8 ? 32 : 16;  // value bytes of one block
  static constexpr int kBlocksPerWarpStep = 32 / kLanesPerBlock;
};

// The kElementsPerWord integer values of the word lane `sub` of a block
// loads (little-endian: byte m of the word is at address + m), as f32, and
// their columns inside the block.
template <DType D>
MATSPEC_HOST_DEVICE void UnpackQuantWord(uint32_t word, int sub, float* q, int* col) {
  for (int m = 0; m < 4; ++m) {
    const uint32_t byte = (word >> (8 * m)) & 0xffu;
    if constexpr (D == DType::kQ8) {
      q[m] = static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(byte)));
      col[m] = sub * 4 + m;
    } else {
      q[m] = static_cast<float>(static_cast<int>(byte & 0xfu) - 8);
      col[m] = sub * 4 + m;
      q[4 + m] = static_cast<float>(static_cast<int>(byte >> 4) - 8);
      col[4 + m] = 16 + sub * 4 + m;
    }
  }
}

}  // namespace matspec

#undef MATSPEC_HOST_DEVICE

#endif  // MATSPEC_KERNELS_CUDA_QUANT_WORD_LAYOUT_H_
