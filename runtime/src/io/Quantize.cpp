//===- Quantize.cpp - bf16 to fp8 e4m3 with block scales -----------------===//
//
// The e4m3 encoder and the block quantiser of `--quantize=fp8`; the rule is
// in dsrt/Quantize.h and `docs/model.md` §5.4. test/reference/
// deepseek_reference.py implements the same rule in NumPy.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Quantize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

namespace dsrt {

uint8_t encodeE4M3(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u)
    return sign | 0x7F; // NaN stays NaN
  float a;
  std::memcpy(&a, &magnitude, 4);
  // 448 is the largest finite value; everything from 448 up (where rounding
  // would reach 480 or beyond, or the ties at 464 go to 448 anyway)
  // saturates.
  if (a >= kE4M3Max)
    return sign | 0x7E;
  if (a < 0x1p-6f) {
    // Subnormals: multiples of 2^-9. a * 512 is exact; round it to the
    // nearest integer, ties to even (8 is the smallest normal, 0x08).
    float t = a * 512.0f;
    uint32_t i = static_cast<uint32_t>(t);
    float fraction = t - static_cast<float>(i);
    if (fraction > 0.5f || (fraction == 0.5f && (i & 1)))
      ++i;
    return sign | static_cast<uint8_t>(i);
  }
  // Normals: keep 3 of f32's 23 mantissa bits, rounding the 20 dropped
  // bits to nearest even; a carry into the exponent is what rounding up
  // to the next binade means.
  uint32_t rounded = magnitude + 0x7FFFFu + ((magnitude >> 20) & 1);
  int exponent = static_cast<int>(rounded >> 23) - 127 + 7;
  uint32_t mantissa = (rounded >> 20) & 7;
  if (exponent > 15 || (exponent == 15 && mantissa == 7))
    return sign | 0x7E;
  return sign | static_cast<uint8_t>((exponent << 3) | mantissa);
}

float decodeE4M3(uint8_t bits) {
  int exponent = (bits >> 3) & 15, mantissa = bits & 7;
  float magnitude;
  if (exponent == 15 && mantissa == 7)
    magnitude = std::nanf("");
  else if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  else
    magnitude = std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
  return (bits & 0x80) ? -magnitude : magnitude;
}

float bf16ToFloat(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

namespace {

/// Quantises the blocks of rows [r0, r1) of `job` (one row of blocks).
/// Returns the number of non-finite values in them.
uint64_t quantizeBlockRow(const QuantizeJob &job, int64_t r0, int64_t r1,
                          int64_t blockCols, float *scales) {
  int64_t blocks = (job.cols + blockCols - 1) / blockCols;
  std::vector<float> amax(blocks, 0.0f);
  std::vector<uint8_t> finite(blocks, 1);
  uint64_t nonFinite = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t *row = job.source + r * job.cols;
    for (int64_t c = 0; c < job.cols; ++c) {
      float a = std::fabs(bf16ToFloat(row[c]));
      if (!std::isfinite(a)) {
        ++nonFinite;
        finite[c / blockCols] = 0;
        continue;
      }
      float &m = amax[c / blockCols];
      m = std::max(m, a);
    }
  }
  for (int64_t b = 0; b < blocks; ++b)
    scales[b] = finite[b] ? amax[b] / kE4M3Max : 0.0f;
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t *row = job.source + r * job.cols;
    uint8_t *out = job.values + r * job.cols;
    for (int64_t c = 0; c < job.cols; ++c) {
      float s = scales[c / blockCols];
      out[c] = s == 0.0f ? 0 : encodeE4M3(bf16ToFloat(row[c]) / s);
    }
  }
  return nonFinite;
}

} // namespace

uint64_t quantizeFP8Blocks(const std::vector<QuantizeJob> &jobs,
                           int64_t blockRows, int64_t blockCols,
                           unsigned threads) {
  // The units of work: (job, row of blocks).
  std::vector<std::pair<size_t, int64_t>> units;
  for (size_t j = 0; j < jobs.size(); ++j)
    for (int64_t r = 0; r < jobs[j].rows; r += blockRows)
      units.emplace_back(j, r);
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> nonFinite{0};
  auto worker = [&] {
    for (size_t u; (u = next++) < units.size();) {
      const QuantizeJob &job = jobs[units[u].first];
      int64_t r0 = units[u].second, r1 = std::min(job.rows, r0 + blockRows);
      int64_t blocksPerRow = (job.cols + blockCols - 1) / blockCols;
      nonFinite += quantizeBlockRow(job, r0, r1, blockCols,
                                    job.scales + r0 / blockRows * blocksPerRow);
    }
  };
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(
      std::min<size_t>(threads, std::max<size_t>(units.size(), 1)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
  return nonFinite;
}

} // namespace dsrt
