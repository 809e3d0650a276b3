// Quantized weights (kQ8, kQ4) in the CPU MatMul: the activation rows the
// tiles take (QuantizeXRow) and the portable tiles. x is quantized per block
// of 32 (QuantizeActivationBlock) and each block's product is an exact
// integer dot product; per output, the blocks are added in order as
// acc += (float(dot) * d_x) * d_w, one f32 accumulator, so the bits do not
// depend on the tile shape or the token count. The portable tiles unpack a
// block of every row of the tile once and share it between the tile's tokens;
// they take the whole of k (acc_lanes = 0).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul_tiles.h"
#include "kernels/quantize.h"

namespace matspec::matmul_internal {

void QuantizeXRow(const float* x, int64_t k, DType w_dtype, char* out) {
  const int64_t kp = QuantXPaddedK(k);
  int8_t* q = reinterpret_cast<int8_t*>(out);
  int32_t* bias = reinterpret_cast<int32_t*>(out + kp);
  float* d = reinterpret_cast<float*>(out + 2 * kp);
  float* block_d = reinterpret_cast<float*>(out + 3 * kp);
  const int32_t b = w_dtype == DType::kQ8 ? 128 : 8;
  for (int64_t c = 0; c < kp; c += kQuantBlock) {
    const float dc = c < k ? QuantizeActivationBlock(x + c, std::min(kQuantBlock, k - c), q + c) : 0.f;
    block_d[c / kQuantBlock] = dc;
    if (c >= k) std::memset(q + c, 0, kQuantBlock);
    for (int l = 0; l < 8; ++l) {
      const int64_t lane = c / 4 + l;  // (c / 64) * 16 + (c % 64 != 0) * 8 + l
      bias[lane] = -b * (q[c + 4 * l] + q[c + 4 * l + 1] + q[c + 4 * l + 2] + q[c + 4 * l + 3]);
      d[lane] = dc;
    }
  }
}

namespace {

template <DType D>
struct PortableQuant {
  template <int R, int T>
  struct Tile {
    static void Run(const TileArgs& a) {
      const int64_t kp = QuantXPaddedK(a.k);
      float acc[R][T] = {};
      int8_t w[R][kQuantBlock];
      for (int64_t c = 0; c < a.k; c += kQuantBlock) {
        float dw[R];
        for (int r = 0; r < R; ++r) {
          for (int i = 0; i < kQuantBlock; ++i) w[r][i] = static_cast<int8_t>(QuantizedValue(a.w_rows[r], D, c + i));
          dw[r] = F16ToF32(a.scale_rows[r][c / kQuantBlock]);
        }
        for (int j = 0; j < T; ++j) {
          const char* xj = static_cast<const char*>(a.x) + j * a.x_ld;
          const int8_t* xq = reinterpret_cast<const int8_t*>(xj) + c;
          const float dx = reinterpret_cast<const float*>(xj + 2 * kp)[c / 4];
          for (int r = 0; r < R; ++r) {
            int32_t dot = 0;
            for (int i = 0; i < kQuantBlock; ++i) dot += static_cast<int32_t>(w[r][i]) * xq[i];
            acc[r][j] += (static_cast<float>(dot) * dx) * dw[r];
          }
        }
      }
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < T; ++j) a.s[r * T + j] = acc[r][j];
    }
  };
};

}  // namespace

void AddPortableQuantTiles(TileSet& set) {
  for (DType d : {DType::kQ8, DType::kQ4}) {
    DTypeTiles& t = set.dtypes[DTypeIndex(d)];
    t = DTypeTiles{};
    SetUniformShape(t, 4, 4, 4, 0);
    t.quant_x = true;
    t.quantize_x = &QuantizeXRow;
  }
  FillTiles<PortableQuant<DType::kQ8>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kQ8)].tiles);
  FillTiles<PortableQuant<DType::kQ4>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kQ4)].tiles);
}

void AddQuantTiles(TileSet& set) {
#if defined(__x86_64__)
  if (GetCpuFeatures().avx512_vnni) {
    AddVnniQuantTiles(set);
    return;
  }
#endif
  AddPortableQuantTiles(set);
}

}  // namespace matspec::matmul_internal
