//===- Emitter.cpp - numeric helpers of the kernel generators -------------===//
//
// Shape queries, the YaRN inverse frequencies and the e4m3 decoding that the
// kernel strategies share (declared in Emitter.h).
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"

#include <algorithm>
#include <cmath>

namespace dsc::kernels {

int64_t featureCount(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

/// Rows per token of a [T, ..., W] tensor.
int64_t rowsPerToken(Value v) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  int64_t rows = 1;
  for (size_t i = 1; i + 1 < shape.size(); ++i)
    rows *= shape[i];
  return rows;
}

/// YaRN inverse frequencies in f32, computed as torch does (docs/model.md
/// §4: fp32 pow, reciprocal and ramp).
std::vector<float> ropeInverseFrequencies(RopeAttr rope) {
  int64_t dim = rope.getDim();
  float base = static_cast<float>(rope.getTheta().convertToDouble());
  std::vector<float> invFreq(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i)
    invFreq[i] = 1.0f / std::pow(base, static_cast<float>(2 * i) /
                                           static_cast<float>(dim));
  if (rope.getScaling() != RopeScaling::Yarn)
    return invFreq;
  double factor = rope.getFactor().convertToDouble();
  double original = static_cast<double>(rope.getOriginalMaxPosition());
  auto correctionDim = [&](double rotations) {
    return dim * std::log(original / (rotations * 2 * M_PI)) /
           (2 * std::log(rope.getTheta().convertToDouble()));
  };
  double low = std::max(
      std::floor(correctionDim(rope.getBetaFast().convertToDouble())), 0.0);
  double high =
      std::min(std::ceil(correctionDim(rope.getBetaSlow().convertToDouble())),
               static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001;
  for (int64_t i = 0; i < dim / 2; ++i) {
    float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) /
                                static_cast<float>(high - low),
                            0.0f, 1.0f);
    float extrapolation = invFreq[i];
    float interpolation = extrapolation / static_cast<float>(factor);
    invFreq[i] = interpolation * ramp + extrapolation * (1.0f - ramp);
  }
  return invFreq;
}

/// e4m3fn (bias 7, no infinities, 0x7F/0xFF NaN) decoded, for the table.
float decodeE4M3Value(uint8_t byte) {
  int sign = byte >> 7, exponent = (byte >> 3) & 15, mantissa = byte & 7;
  float value;
  if (exponent == 15 && mantissa == 7)
    value = std::nanf("");
  else if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -9);
  else
    value = std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
  return sign ? -value : value;
}

} // namespace dsc::kernels
