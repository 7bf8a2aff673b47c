//===- Quantize.h - bf16 to fp8 e4m3 with block scales ---------*- C++ -*-===//
//
// The quantiser behind `dsc compile --quantize=fp8` (`docs/model.md` §5.4):
// a bf16 matrix becomes e4m3 values with one f32 scale per block of
// blockRows x blockCols (partial blocks at the edges), in the layout of a
// DeepSeek-V3 fp8 checkpoint (weight, weight_scale_inv), so that w ~ q * s.
//
//   amax = max |w| over the block            (w: the bf16 value as f32)
//   s    = amax / 448                        (f32; 0 when amax is 0)
//   q    = e4m3(w / s)                       (f32 division; 0 when s is 0)
//
// e4m3 here is the "fn" variant of DeepSeek's checkpoints (bias 7, no
// infinities, 0x7F/0xFF NaN, largest finite 448); encodeE4M3 rounds to
// nearest even and saturates to +-448, so it never produces NaN.
//
// Threading: quantizeFP8Blocks() splits the work into rows of blocks and
// runs them on its own threads; every block is computed the same way
// whichever thread takes it, so the result does not depend on the count.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_QUANTIZE_H
#define DSRT_QUANTIZE_H

#include <cstdint>
#include <vector>

namespace dsrt {

/// The largest finite e4m3 value.
constexpr float kE4M3Max = 448.0f;

/// f32 to e4m3 (fn): round to nearest even, saturating to +-448; NaN input
/// gives 0x7F (callers reject non-finite weights before they get here).
/// The sign of zero is kept (-0.0 gives 0x80).
uint8_t encodeE4M3(float value);

/// e4m3 (fn) to f32; 0x7F and 0xFF decode to NaN.
float decodeE4M3(uint8_t bits);

/// bf16 bits to f32 (exact).
float bf16ToFloat(uint16_t bits);

/// One row-major bf16 matrix to quantise: `rows` x `cols` values at `source`
/// into `rows` x `cols` e4m3 bytes at `values` and the row-major f32 scales
/// of its ceil(rows / blockRows) x ceil(cols / blockCols) blocks at `scales`.
struct QuantizeJob {
  const uint16_t *source;
  uint8_t *values;
  float *scales;
  int64_t rows;
  int64_t cols;
};

/// Quantises every job by the rule above on up to `threads` threads (0: one
/// per hardware thread). Returns the number of non-finite source values; a
/// block holding one is quantised to zeros with a zero scale, so callers
/// must treat a non-zero count as an error.
uint64_t quantizeFP8Blocks(const std::vector<QuantizeJob> &jobs,
                           int64_t blockRows, int64_t blockCols,
                           unsigned threads = 0);

} // namespace dsrt

#endif // DSRT_QUANTIZE_H
