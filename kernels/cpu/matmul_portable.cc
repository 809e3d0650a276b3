// Portable tiles: plain C++ with eight f32 partial sums per output, which the
// compiler vectorises for any target without reassociation flags. Weight rows
// are converted to f32 a chunk at a time into an L1 buffer that every token of
// the tile shares. Tiles always take the whole of k (acc_lanes = 0).
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_tiles.h"

namespace matspec::matmul_internal {
namespace {

constexpr int kLanes = 8;
constexpr int64_t kChunk = 256;  // a multiple of kLanes

template <DType D>
struct Portable {
  template <int R, int T>
  struct Tile {
    static void Run(const TileArgs& a) {
      const float* x = static_cast<const float*>(a.x);
      float wbuf[kChunk];
      for (int r = 0; r < R; ++r) {
        float acc[T][kLanes] = {};
        for (int64_t c0 = 0; c0 < a.k; c0 += kChunk) {
          const int64_t len = std::min(kChunk, a.k - c0);
          const int64_t padded = (len + kLanes - 1) / kLanes * kLanes;
          for (int64_t i = 0; i < len; ++i) wbuf[i] = LoadAsF32(a.w_rows[r], D, c0 + i);
          for (int64_t i = len; i < padded; ++i) wbuf[i] = 0.f;
          for (int j = 0; j < T; ++j) {
            const float* xj = x + j * a.x_ld + c0;
            int64_t i = 0;
            for (; i + kLanes <= len; i += kLanes) {
              for (int l = 0; l < kLanes; ++l) acc[j][l] += wbuf[i + l] * xj[i + l];
            }
            for (int l = 0; i + l < len; ++l) acc[j][l] += wbuf[i + l] * xj[i + l];
          }
        }
        for (int j = 0; j < T; ++j) {
          const float* v = acc[j];
          a.s[r * T + j] = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
        }
      }
    }
  };
};

TileSet MakeSet() {
  TileSet set;
  set.name = "portable";
  for (DTypeTiles& d : set.dtypes) SetUniformShape(d, 4, 4, 4, 0);
  FillTiles<Portable<DType::kF32>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kF32)].tiles);
  FillTiles<Portable<DType::kF16>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kF16)].tiles);
  FillTiles<Portable<DType::kBF16>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kBF16)].tiles);
  AddPortableQuantTiles(set);  // q8 / q4
  return set;
}

}  // namespace

const TileSet& PortableTileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal
