//===- Sampling.h - how the next token is chosen ------------------*- C++
//-*-===//
//
// Sampling runs inside the compiled program: every entry point ends with a
// `ds.sample` kernel (the op's description in the dialect reference is the
// specification) that draws one token per output row, on the device the
// model runs on. The host only says how, one SamplingRow per output row,
// and reads back the chosen ids.
//
// Reproducibility: a row's draw is a pure function of its logits and its
// (seed, draw) pair, so rerunning with the same seed gives the same tokens
// on the same target. The runtime numbers the draws of sequence `stream` as
// (stream << 32) + n for its n-th sampled token (see drawNumber), so the
// sequences of one batch share a seed but not their random numbers.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SAMPLING_H
#define DSRT_SAMPLING_H

#include "dsrt/Expected.h"

#include <cstdint>

namespace dsrt {

/// How the next token is chosen. The defaults are greedy decoding.
struct SamplingParams {
  /// <= 0: greedy (the argmax; the lowest index on ties). Must be finite.
  float temperature = 0.0f;
  /// Keep only the topK most likely tokens (and any tied with the last);
  /// 0: off.
  int topK = 0;
  /// Keep the most likely tokens until their mass reaches topP, in (0, 1];
  /// 1: off.
  float topP = 1.0f;
  /// Drop tokens whose probability is below minP times the highest, in
  /// [0, 1); 0: off.
  float minP = 0.0f;
  /// Seed of the random numbers.
  uint64_t seed = 0;
};

/// Checks the ranges of `params`; the messages name the command-line flags
/// (--temperature, --top-k, --top-p, --min-p), e.g.
/// "--top-p must be in (0, 1], got 1.5".
Status validate(const SamplingParams &params);

/// One output row's parameters exactly as ds.sample reads them: 8 words,
/// little endian.
struct SamplingRow {
  float temperature = 0.0f;
  int32_t topK = 0;
  float topP = 1.0f;
  float minP = 0.0f;
  uint64_t seed = 0;
  uint64_t draw = 0;
};
static_assert(sizeof(SamplingRow) == 32, "ds.sample reads 8 x i32 per row");

/// The draw number of the `n`-th sampled token of sequence `stream`.
inline uint64_t drawNumber(uint32_t stream, uint32_t n) {
  return (uint64_t(stream) << 32) | n;
}

/// The row for the `n`-th token of sequence `stream`.
SamplingRow samplingRow(const SamplingParams &params, uint32_t stream,
                        uint32_t n);

} // namespace dsrt

#endif // DSRT_SAMPLING_H
