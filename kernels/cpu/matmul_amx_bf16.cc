// The AMX arithmetic of the amx-bf16 MatMul path: kernels/cpu/matmul_amx.h
// says what it computes and why; kernels/cpu/matmul.cc calls it.
//
// Tile registers: C0 (row tile 0, token group g), C1 (row tile 1, g), C2 and
// C3 (the same rows, group g + 1), A0 and A1 (the two row tiles' 32-column
// step), B0 and B1 (the step of groups g and g + 1). A thread walks its rows
// 16 at a time for up to 16 tokens (one group), else 32 at a time (two row
// tiles; the last may be shorter) and, for each, the token groups two at a
// time, over the whole of k; the weights of the 32 rows (64 bytes x k) stay in
// L2 while the groups of a long prompt pass.
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_amx.h"
#include "kernels/cpu_workspace.h"

#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace matspec::amx_internal {
namespace {

// The 64-byte operand of LDTILECFG (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles for row tiles of rows0 and rows1 (0: none) rows and groups of nt tokens.
void Configure(int rows0, int rows1, int nt) {
  TileConfig c;
  const auto set = [&c](int tile, int rows, int colsb) {
    c.rows[tile] = static_cast<uint8_t>(rows);
    c.colsb[tile] = static_cast<uint16_t>(rows > 0 ? colsb : 0);
  };
  set(0, rows0, 4 * nt);
  set(2, rows0, 4 * nt);
  set(4, rows0, 64);
  set(1, rows1, 4 * nt);
  set(3, rows1, 4 * nt);
  set(5, rows1, 64);
  set(6, 16, 4 * nt);
  set(7, 16, 4 * nt);
  _tile_loadconfig(&c);
}

// One block of two row tiles (a0: rows0 rows, a1: the rest, when kTwoRows)
// against token groups g (and g + 1 when kTwoGroups), over the whole of k.
// Writes C to c[tile][16][16] (64-byte rows).
template <bool kTwoRows, bool kTwoGroups>
void Block(const uint16_t* a0, const uint16_t* a1, int64_t a_stride_bytes, const uint16_t* b0,
           const uint16_t* b1, int64_t k, int nt, float (*c)[256]) {
  _tile_zero(0);
  if constexpr (kTwoRows) _tile_zero(1);
  if constexpr (kTwoGroups) _tile_zero(2);
  if constexpr (kTwoRows && kTwoGroups) _tile_zero(3);
  const int64_t b_stride = 4 * nt;
  for (int64_t k0 = 0; k0 < k; k0 += 32) {
    _tile_loadd(4, a0 + k0, a_stride_bytes);
    _tile_loadd(6, b0 + k0 * nt, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (kTwoRows) {
      _tile_loadd(5, a1 + k0, a_stride_bytes);
      _tile_dpbf16ps(1, 5, 6);
    }
    if constexpr (kTwoGroups) {
      _tile_loadd(7, b1 + k0 * nt, b_stride);
      _tile_dpbf16ps(2, 4, 7);
      if constexpr (kTwoRows) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c[0], 64);
  if constexpr (kTwoRows) _tile_stored(1, c[1], 64);
  if constexpr (kTwoGroups) _tile_stored(2, c[2], 64);
  if constexpr (kTwoRows && kTwoGroups) _tile_stored(3, c[3], 64);
}

// The gathered rows of a row gather, copied into one matrix k apart (its
// tiles then load as any others): per thread, kept between calls.
AlignedBuffer& GatherBuffer() {
  thread_local AlignedBuffer buffer;
  return buffer;
}

}  // namespace

void PackXRow(const float* x, int64_t k, int64_t j, int64_t t, uint16_t* xv) {
  const int64_t nt = GroupTokens(t);
  uint32_t* out = reinterpret_cast<uint32_t*>(xv) + (j / nt) * (k / 2) * nt + j % nt;
  for (int64_t c = 0; c < k; c += 32) {
    alignas(64) uint32_t pairs[16];
    if (x == nullptr) {
      std::memset(pairs, 0, sizeof pairs);
    } else {
      // vcvtne2ps2bf16 rounds as RoundX's vcvtneps2bf16 does; the second operand is the low half.
      const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 16), _mm512_loadu_ps(x + c));
      _mm512_store_si512(pairs, reinterpret_cast<const __m512i&>(b));
    }
    uint32_t* o = out + (c / 2) * nt;
    if (nt == 1) {
      std::memcpy(o, pairs, sizeof pairs);
    } else {
      for (int p = 0; p < 16; ++p) o[p * nt] = pairs[p];
    }
  }
}

void RunRows(const MatMulParams& p, const uint16_t* xv, int64_t r_begin, int64_t r_end) {
  const int64_t k = p.w.cols, t = p.t, nt = GroupTokens(t), groups = NumGroups(t);
  const bool gather = p.row_ids != nullptr;
  int64_t a_stride = p.w.ld * 2;
  uint16_t* gathered = nullptr;
  if (gather) {
    gathered = static_cast<uint16_t*>(GatherBuffer().Reserve(32 * k * 2));
    a_stride = k * 2;
  }
  alignas(64) float c[4][256];
  int configured0 = -1, configured1 = -1;
  // Up to 16 tokens (decoding, verification) the weights stream from memory:
  // 16 rows at a time, as 32 row streams at once read slower (410M decode,
  // 1 thread, interleaved runs: 12.2 / 11.0 / 10.9 tok/s with 32-row blocks,
  // 15.2 / 16.3 / 12.7 with 16, 13.3 / 14.8 / 12.8 on the vdpbf16ps tiles). A
  // long prompt reuses each block for every token group: 32 rows, 2 x 2 tiles.
  const int64_t step = groups == 1 ? 16 : 32;
  for (int64_t r0 = r_begin; r0 < r_end; r0 += step) {
    const int rows0 = static_cast<int>(std::min<int64_t>(16, r_end - r0));
    const int rows1 = step == 16 ? 0 : static_cast<int>(std::clamp<int64_t>(r_end - r0 - 16, 0, 16));
    if (rows0 != configured0 || rows1 != configured1) {
      Configure(rows0, rows1, static_cast<int>(nt));
      configured0 = rows0;
      configured1 = rows1;
    }
    const auto row_of = [&](int64_t i) -> int64_t { return gather ? p.row_ids[i] : i; };
    const uint16_t* a0;
    if (gather) {
      for (int r = 0; r < rows0 + rows1; ++r) {
        std::memcpy(gathered + r * k, p.w.Row(row_of(r0 + r)), static_cast<size_t>(k) * 2);
      }
      a0 = gathered;
    } else {
      a0 = static_cast<const uint16_t*>(p.w.Row(r0));
    }
    const uint16_t* a1 = reinterpret_cast<const uint16_t*>(reinterpret_cast<const char*>(a0) + 16 * a_stride);
    for (int64_t g = 0; g < groups; g += 2) {
      const bool two_groups = g + 1 < groups;
      const uint16_t* b0 = xv + g * k * nt;
      const uint16_t* b1 = b0 + k * nt;
      if (rows1 > 0) {
        if (two_groups) Block<true, true>(a0, a1, a_stride, b0, b1, k, static_cast<int>(nt), c);
        else Block<true, false>(a0, a1, a_stride, b0, b1, k, static_cast<int>(nt), c);
      } else {
        if (two_groups) Block<false, true>(a0, a1, a_stride, b0, b1, k, static_cast<int>(nt), c);
        else Block<false, false>(a0, a1, a_stride, b0, b1, k, static_cast<int>(nt), c);
      }
      // c[tile] holds [row][token]: tiles 0 / 1 rows 0-15 / 16-31 of group g, 2 / 3 of group g + 1.
      for (int gg = 0; gg < (two_groups ? 2 : 1); ++gg) {
        const int64_t j0 = (g + gg) * nt;
        const int64_t tokens = std::min<int64_t>(nt, t - j0);
        for (int half = 0; half < 2; ++half) {
          const int rows = half == 0 ? rows0 : rows1;
          const float* tile = c[2 * gg + half];
          for (int r = 0; r < rows; ++r) {
            const int64_t col = row_of(r0 + 16 * half + r);
            for (int64_t jj = 0; jj < tokens; ++jj) {
              float& y = p.y[(j0 + jj) * p.y_ld + col];
              y = p.accumulate ? y + tile[r * 16 + jj] : tile[r * 16 + jj];
            }
          }
        }
      }
    }
  }
  _tile_release();
}

}  // namespace matspec::amx_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

#endif  // defined(__x86_64__)
