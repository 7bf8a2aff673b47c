//===- QuantizeTest.cpp - tests of the fp8 block quantiser ------*- C++ -*-===//
//
// Unit tests of dsrt/Quantize.h: the e4m3 encoder against an exhaustive
// table of the 254 finite e4m3 values built here from the format's
// definition (round trip, ties to even at every midpoint, saturation, tiny
// values, signed zero), and the block quantiser against a scalar
// implementation that rounds by searching that table, on random matrices
// with partial blocks, zero blocks and non-finite values, for several
// thread counts.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace dsrt {
namespace {

/// The value of e4m3 (fn) code `bits` from the format's definition: sign,
/// 4 exponent bits with bias 7, 3 mantissa bits, subnormals at exponent 0,
/// no infinities, S.1111.111 NaN.
double definedValue(int bits) {
  int sign = bits >> 7, exponent = (bits >> 3) & 15, mantissa = bits & 7;
  double magnitude = exponent == 0
                         ? mantissa * std::pow(2.0, -9)
                         : (8 + mantissa) * std::pow(2.0, exponent - 10);
  return sign ? -magnitude : magnitude;
}

bool isNaNCode(int bits) { return (bits & 0x7F) == 0x7F; }

/// The non-negative finite codes in increasing value (0x00 ... 0x7E).
std::vector<int> positiveCodes() {
  std::vector<int> codes;
  for (int b = 0; b < 0x7F; ++b)
    codes.push_back(b);
  return codes;
}

/// Nearest e4m3 code to `x` by searching the table: ties to the even code
/// (mantissa bit 0 clear), saturating to +-448.
uint8_t tableEncode(float x) {
  double a = std::fabs(static_cast<double>(x));
  int sign = std::signbit(x) ? 0x80 : 0;
  int best = 0x7E;
  if (a < definedValue(0x7E)) {
    for (int b : positiveCodes()) {
      if (definedValue(b) < a)
        continue;
      int below = b - 1;
      double up = definedValue(b) - a;
      double down = b == 0 ? 1e300 : a - definedValue(below);
      best = up < down || (up == down && (b & 1) == 0) ? b : below;
      break;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

float bits2float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t toBF16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

TEST(QuantizeTest, EveryFiniteValueRoundTrips) {
  int finite = 0;
  for (int b = 0; b < 256; ++b) {
    if (isNaNCode(b)) {
      EXPECT_TRUE(std::isnan(decodeE4M3(static_cast<uint8_t>(b)))) << b;
      continue;
    }
    ++finite;
    float value = static_cast<float>(definedValue(b));
    EXPECT_EQ(decodeE4M3(static_cast<uint8_t>(b)), value) << "code " << b;
    EXPECT_EQ(encodeE4M3(value), b) << "value " << value;
  }
  EXPECT_EQ(finite, 254);
  EXPECT_EQ(definedValue(0x7E), 448.0);
  EXPECT_EQ(definedValue(0x01), std::pow(2.0, -9));
}

TEST(QuantizeTest, MidpointsRoundToEven) {
  std::vector<int> codes = positiveCodes();
  for (size_t i = 0; i + 1 < codes.size(); ++i) {
    int lo = codes[i], hi = codes[i + 1];
    float mid = static_cast<float>((definedValue(lo) + definedValue(hi)) / 2);
    int even = (lo & 1) == 0 ? lo : hi;
    EXPECT_EQ(encodeE4M3(mid), even) << "between " << lo << " and " << hi;
    EXPECT_EQ(encodeE4M3(-mid), 0x80 | even);
    // Just off the midpoint goes to the nearer neighbour.
    EXPECT_EQ(encodeE4M3(std::nextafter(mid, 0.0f)), lo) << mid;
    EXPECT_EQ(encodeE4M3(std::nextafter(mid, 1e9f)), hi) << mid;
  }
}

TEST(QuantizeTest, SaturatesAndNeverMakesNaN) {
  for (float v : {448.0f, 449.0f, 463.9f, 464.0f, 480.0f, 1e6f, 3.4e38f,
                  std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(encodeE4M3(v), 0x7E) << v;
    EXPECT_EQ(encodeE4M3(-v), 0xFE) << v;
  }
  EXPECT_EQ(encodeE4M3(416.0f), 0x7D);
  EXPECT_EQ(encodeE4M3(431.0f), 0x7D);
  EXPECT_EQ(encodeE4M3(432.0f), 0x7E); // tie between 416 (odd) and 448
  EXPECT_EQ(encodeE4M3(std::nanf("")), 0x7F);
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    float v = bits2float(any(rng));
    if (std::isnan(v))
      continue;
    uint8_t q = encodeE4M3(v);
    ASSERT_FALSE(isNaNCode(q)) << v;
    ASSERT_EQ(q, tableEncode(v)) << v;
  }
}

TEST(QuantizeTest, TinyValuesAndSignedZero) {
  float smallest = std::ldexp(1.0f, -9);
  EXPECT_EQ(encodeE4M3(0.0f), 0x00);
  EXPECT_EQ(encodeE4M3(-0.0f), 0x80);
  EXPECT_TRUE(std::signbit(decodeE4M3(0x80)));
  EXPECT_EQ(encodeE4M3(smallest / 2), 0x00);  // tie to 0
  EXPECT_EQ(encodeE4M3(-smallest / 2), 0x80); // to -0
  EXPECT_EQ(encodeE4M3(std::nextafter(smallest / 2, 1.0f)), 0x01);
  EXPECT_EQ(encodeE4M3(1.5f * smallest), 0x02); // tie to 2
  EXPECT_EQ(encodeE4M3(2.5f * smallest), 0x02); // tie to 2
  EXPECT_EQ(encodeE4M3(7.5f * smallest), 0x08); // to 2^-6
  EXPECT_EQ(encodeE4M3(1e-30f), 0x00);
  EXPECT_EQ(encodeE4M3(-1e-30f), 0x80);
  EXPECT_EQ(encodeE4M3(bits2float(1)), 0x00); // f32 subnormal
}

/// The rule of docs/model.md §5.4, one block at a time, rounding by table.
void scalarQuantize(const std::vector<uint16_t> &w, int64_t rows, int64_t cols,
                    int64_t br, int64_t bc, std::vector<uint8_t> &q,
                    std::vector<float> &s) {
  int64_t nr = (rows + br - 1) / br, nc = (cols + bc - 1) / bc;
  q.assign(rows * cols, 0xAA);
  s.assign(nr * nc, -1.0f);
  for (int64_t i = 0; i < nr; ++i)
    for (int64_t j = 0; j < nc; ++j) {
      float amax = 0;
      for (int64_t r = i * br; r < std::min(rows, (i + 1) * br); ++r)
        for (int64_t c = j * bc; c < std::min(cols, (j + 1) * bc); ++c)
          amax = std::max(amax, std::fabs(bf16ToFloat(w[r * cols + c])));
      float scale = amax / 448.0f;
      s[i * nc + j] = scale;
      for (int64_t r = i * br; r < std::min(rows, (i + 1) * br); ++r)
        for (int64_t c = j * bc; c < std::min(cols, (j + 1) * bc); ++c)
          q[r * cols + c] =
              scale == 0 ? 0
                         : tableEncode(bf16ToFloat(w[r * cols + c]) / scale);
    }
}

std::vector<uint16_t> randomMatrix(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<uint16_t> w(rows * cols);
  for (uint16_t &x : w)
    x = toBF16(normal(rng));
  // Outliers, so that blocks have different scales.
  for (int k = 0; k < 20; ++k)
    w[rng() % w.size()] = toBF16(normal(rng) * 50.0f);
  return w;
}

TEST(QuantizeTest, BlocksMatchScalarRuleWithPartialBlocks) {
  const int64_t rows = 300, cols = 200;
  std::vector<uint16_t> w = randomMatrix(rows, cols, 1);
  // One block (rows 128-255, cols 128-199) all zero: scale 0, values 0.
  for (int64_t r = 128; r < 256; ++r)
    for (int64_t c = 128; c < cols; ++c)
      w[r * cols + c] = (r + c) % 2 ? 0x8000 : 0x0000; // +0 and -0
  std::vector<uint8_t> q(rows * cols, 0xAA);
  std::vector<float> s(3 * 2, -1.0f);
  EXPECT_EQ(quantizeFP8Blocks({{w.data(), q.data(), s.data(), rows, cols}}, 128,
                              128, 4),
            0u);
  std::vector<uint8_t> qRef;
  std::vector<float> sRef;
  scalarQuantize(w, rows, cols, 128, 128, qRef, sRef);
  EXPECT_EQ(s, sRef);
  EXPECT_EQ(q, qRef);
  EXPECT_EQ(s[3], 0.0f);
  EXPECT_EQ(q[200 * cols + 150], 0);
  // Every block uses the full range: its largest value quantises to +-448,
  // and q * s stays within e4m3's half-step (2^-4 relative) of w.
  for (size_t b = 0; b < s.size(); ++b) {
    if (b != 3) {
      EXPECT_GT(s[b], 0.0f) << b;
    }
  }
  int full = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    float x = bf16ToFloat(w[i]);
    float scale = s[(i / cols) / 128 * 2 + (i % cols) / 128];
    float back = decodeE4M3(q[i]) * scale;
    full += (q[i] & 0x7F) == 0x7E;
    EXPECT_LE(std::fabs(back - x),
              std::max(std::fabs(x) / 16, std::ldexp(scale, -10)) * 1.0001f)
        << i;
  }
  EXPECT_GE(full, 5);
}

TEST(QuantizeTest, ResultDoesNotDependOnThreads) {
  // Three jobs of different shapes (a stack of experts, a tall and a wide
  // matrix) with 64 x 32 blocks.
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {300, 200}, {130, 65}, {33, 500}};
  std::vector<std::vector<uint16_t>> sources;
  for (size_t j = 0; j < shapes.size(); ++j)
    sources.push_back(randomMatrix(shapes[j].first, shapes[j].second, 10 + j));
  auto run = [&](unsigned threads) {
    std::vector<std::vector<uint8_t>> q;
    std::vector<std::vector<float>> s;
    std::vector<QuantizeJob> jobs;
    for (size_t j = 0; j < shapes.size(); ++j) {
      auto [rows, cols] = shapes[j];
      q.emplace_back(rows * cols);
      s.emplace_back(((rows + 63) / 64) * ((cols + 31) / 32));
    }
    for (size_t j = 0; j < shapes.size(); ++j)
      jobs.push_back({sources[j].data(), q[j].data(), s[j].data(),
                      shapes[j].first, shapes[j].second});
    EXPECT_EQ(quantizeFP8Blocks(jobs, 64, 32, threads), 0u);
    return std::make_pair(q, s);
  };
  auto one = run(1);
  for (unsigned threads : {2u, 3u, 7u, 64u, 0u})
    EXPECT_EQ(run(threads), one) << threads << " threads";
  // And one job equals the scalar rule with these blocks too.
  std::vector<uint8_t> qRef;
  std::vector<float> sRef;
  scalarQuantize(sources[2], 33, 500, 64, 32, qRef, sRef);
  EXPECT_EQ(one.first[2], qRef);
  EXPECT_EQ(one.second[2], sRef);
}

TEST(QuantizeTest, NonFiniteValuesAreCounted) {
  const int64_t rows = 4, cols = 6;
  std::vector<uint16_t> w = randomMatrix(rows, cols, 3);
  w[1 * cols + 4] = 0x7F80; // +inf in block (0, 1)
  w[3 * cols + 5] = 0x7FC0; // NaN, same block
  std::vector<uint8_t> q(rows * cols);
  std::vector<float> s(2);
  EXPECT_EQ(
      quantizeFP8Blocks({{w.data(), q.data(), s.data(), rows, cols}}, 4, 3),
      2u);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_GT(s[0], 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 3; c < cols; ++c)
      EXPECT_EQ(q[r * cols + c], 0);
}

} // namespace
} // namespace dsrt
