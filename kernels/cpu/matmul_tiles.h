// Internal to the CPU MatMul: the interface between the driver
// (kernels/cpu/matmul.cc: threads, blocking, x conversion, writing y) and one
// instruction set's tile kernels (kernels/cpu/matmul_<isa>.cc).
//
// A tile is the dot products of R weight rows with T token rows over the whole
// of k. Every path computes one output element the same way whatever R and T
// are (the same accumulator vectors per element, k in order, the same lane
// reduction), which is what makes MatMul batch-invariant: the driver may group
// rows and tokens as it likes.
#ifndef MATSPEC_KERNELS_CPU_MATMUL_TILES_H_
#define MATSPEC_KERNELS_CPU_MATMUL_TILES_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace matspec::matmul_internal {

inline constexpr int kMaxTileRows = 8;
inline constexpr int kMaxTileTokens = 8;

struct TileArgs {
  const char* const* w_rows;  // R pointers to the first element of each weight row
  const void* x;              // token 0: f32, bf16 when the set rounds x, or a quantized row (see below)
  int64_t x_ld;               // elements between token rows of x (bytes for a quantized x)
  int64_t k;                  // columns of the whole product
  // Columns [k0, k1) are summed by this call; k0 is a multiple of 128 and so
  // is k1 unless k1 == k. A product may be split into consecutive column blocks
  // only on sets with acc_lanes > 0; the accumulators then wait in `acc`
  // between calls, so the arithmetic (and every bit) is that of one call.
  int64_t k0;
  int64_t k1;
  // When > 0, software-prefetch w_rows[r] + prefetch_bytes + (bytes consumed),
  // i.e. the same columns of rows further down (the next tile's rows).
  int64_t prefetch_bytes;
  float* acc;  // [R, T, acc_lanes]: read when k0 > 0, written when k1 < k
  float* s;    // [R, T] out when k1 == k: s[r * T + j] = dot(w row r, x token j)
  // Quantized weights only: R pointers to the first block scale of each row,
  // and how far ahead to prefetch them (as prefetch_bytes, in scale bytes).
  const uint16_t* const* scale_rows = nullptr;
  int64_t scale_prefetch_bytes = 0;
};

// The x of quantized weights (DTypeTiles::quant_x): each token row quantized
// per block of 32 by QuantizeActivationBlock into QuantXRowBytes(k) bytes,
// with kp = k rounded up to 128 (one 64-column chunk = two blocks):
//   int8  q[kp]          the values, zero past k;
//   int32 bias[kp / 4]   chunk c, lane l (16 lanes): -B * sum of q[64c + 4l .. 64c + 4l + 3],
//                        B = 128 for q8 and 8 for q4 (see the VNNI tiles);
//   f32   d[kp / 4]      chunk c, lane l: the scale of block 2c + (l >= 8);
//   f32   block_d[kp / 32]  block b's scale (0 past k): the VNNI tiles scale
//                        16 blocks of a weight row at once with it.
// Offsets: bias at byte kp, d at byte 2 * kp, block_d at byte 3 * kp.
inline int64_t QuantXPaddedK(int64_t k) { return (k + 127) / 128 * 128; }
inline int64_t QuantXRowBytes(int64_t k) { return 3 * QuantXPaddedK(k) + QuantXPaddedK(k) / 8 + 64; }
void QuantizeXRow(const float* x, int64_t k, DType w_dtype, char* out);
using QuantizeXFn = void (*)(const float* x, int64_t k, DType w_dtype, char* out);

#if defined(__x86_64__)
// QuantizeXRow with AVX-512 (VNNI machines only): the same bytes for q8. For
// q4, in the order the VNNI q4 tiles unpack weight nibbles, 128 columns
// (blocks A-D) at a time: the values at q + c as [A0-15 B0-15 C0-15 D0-15]
// then [A16-31 B16-31 C16-31 D16-31]; bias lanes 0-15 at bias + c / 4, lane l
// the sum over both halves' bytes 4l .. 4l + 3, and d lanes 0-15 at d + c / 4,
// lane l block l / 4's scale; lanes 16-31 of both are zero. block_d as above.
void QuantizeXRowVnni(const float* x, int64_t k, DType w_dtype, char* out);
#endif

using TileFn = void (*)(const TileArgs&);

// Converts n f32 values to bf16 (the set's own rounding) and writes zeros up
// to padded_n (a multiple of 32).
using RoundXFn = void (*)(const float* x, int64_t n, int64_t padded_n, uint16_t* out);

// One weight dtype's tiles within a set. tiles[R - 1][T - 1] is set for every
// R <= the largest entry of rows, T <= max_tokens.
struct DTypeTiles {
  int max_tokens = 1;  // T at most
  // R for a token tile of T tokens (rows[T - 1]) on weights from DRAM, and on
  // cache-resident weights for T > 1.
  int rows[kMaxTileTokens] = {1, 1, 1, 1, 1, 1, 1, 1};
  int cached_single_token_rows = 1;  // R for one token on weights that fit L2
  // How DRAM weights are read for few tokens: true, every tile prefetches the
  // rows that follow it in software (the tiles keep enough independent loads
  // in flight); false, up to kStreamMaxTokens tokens read one row at a time
  // (a single sequential stream that the hardware prefetcher follows).
  bool software_prefetch = false;
  int acc_lanes = 0;  // floats per accumulator (TileArgs::acc); 0: tiles take the whole of k
  // True when the tiles take bf16 x (made by the set's round_x, rows padded
  // with zeros to a multiple of 32 elements).
  bool bf16_x = false;
  // True when the tiles take x rounded to bf16, widened to f32 and split per
  // 32-column chunk into its even then its odd columns (SplitXLikeBf16Tiles;
  // x_ld in floats, rows padded with zeros to a multiple of 32).
  bool split_x = false;
  // True when the tiles take quantized x (quantized weights), made by quantize_x.
  bool quant_x = false;
  QuantizeXFn quantize_x = nullptr;
  TileFn tiles[kMaxTileRows][kMaxTileTokens] = {};
};

// One instruction set's kernels, per weight dtype (DTypeIndex).
struct TileSet {
  const char* name = "";
  DTypeTiles dtypes[kNumDTypes];
  RoundXFn round_x = nullptr;
};

inline int DTypeIndex(DType d) { return static_cast<int>(d); }

// The shape of one-accumulator tiles (acc_lanes = 16) with software
// prefetch: R = rows[T - 1] for T <= max_tokens tokens.
inline void SetPrefetchingShape(DTypeTiles& d, int max_tokens, const int (&rows)[kMaxTileTokens],
                                int cached_single_token_rows) {
  d.software_prefetch = true;
  d.acc_lanes = 16;
  d.max_tokens = max_tokens;
  for (int i = 0; i < kMaxTileTokens; ++i) d.rows[i] = rows[i];
  d.cached_single_token_rows = cached_single_token_rows;
}

// The shape of a set whose tiles use `multi_token_rows` rows for every T > 1
// and `single_token_rows` for T = 1.
inline void SetUniformShape(DTypeTiles& d, int single_token_rows, int multi_token_rows,
                            int max_tokens, int acc_lanes) {
  d.max_tokens = max_tokens;
  for (int& r : d.rows) r = multi_token_rows;
  d.rows[0] = single_token_rows;
  d.cached_single_token_rows = single_token_rows;
  d.acc_lanes = acc_lanes;
}

// The sets; each exists only where the build targets x86 (the driver asks the
// CPU before using one).
const TileSet& PortableTileSet();
const TileSet& Avx2TileSet();
const TileSet& Avx512TileSet();
const TileSet& Avx512Bf16TileSet();

#if defined(__x86_64__)
// The bf16-weight tiles of Avx512Bf16TileSet summed with f32 FMAs instead of
// vdpbf16ps: the same bits where Bf16FmaExactOnThisCpu() (matmul_avx512_bf16.cc
// says why), faster where Bf16FmaFasterOnThisCpu(). Their x: SplitXLikeBf16Tiles.
const DTypeTiles& Avx512Bf16FmaTiles();
void SplitXLikeBf16Tiles(const float* x, int64_t n, int64_t padded_n, float* out);
// Checked / measured once, on first call (AVX512_BF16 CPUs only).
bool Bf16FmaExactOnThisCpu();
bool Bf16FmaFasterOnThisCpu();
#endif

// Fills set.dtypes[kQ8] and [kQ4] with the best quantized tiles this CPU has
// (AVX512_VNNI, else the portable ones).
void AddQuantTiles(TileSet& set);
void AddPortableQuantTiles(TileSet& set);
#if defined(__x86_64__)
void AddVnniQuantTiles(TileSet& set);
#endif

// Fills set.tiles[D] for every R <= MaxR, T <= MaxT with Tile<R, T>.
template <template <int, int> class Tile, int MaxR, int MaxT, int R = MaxR, int T = MaxT>
void FillTiles(TileFn (&tiles)[kMaxTileRows][kMaxTileTokens]) {
  static_assert(MaxR <= kMaxTileRows && MaxT <= kMaxTileTokens);
  tiles[R - 1][T - 1] = &Tile<R, T>::Run;
  if constexpr (T > 1) {
    FillTiles<Tile, MaxR, MaxT, R, T - 1>(tiles);
  } else if constexpr (R > 1) {
    FillTiles<Tile, MaxR, MaxT, R - 1, MaxT>(tiles);
  }
}

}  // namespace matspec::matmul_internal

#endif  // MATSPEC_KERNELS_CPU_MATMUL_TILES_H_
