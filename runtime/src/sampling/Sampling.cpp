//===- Sampling.cpp - sampling parameters ---------------------------------===//

#include "dsrt/Sampling.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace dsrt {

namespace {
std::string formatFloat(float value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(value));
  return text;
}
} // namespace

Status validate(const SamplingParams &params) {
  if (!std::isfinite(params.temperature) || params.temperature < 0.0f)
    return Status::error("--temperature must be a finite number >= 0, got " +
                         formatFloat(params.temperature));
  if (params.topK < 0)
    return Status::error("--top-k must be >= 0, got " +
                         std::to_string(params.topK));
  if (!(params.topP > 0.0f && params.topP <= 1.0f))
    return Status::error("--top-p must be in (0, 1], got " +
                         formatFloat(params.topP));
  if (!(params.minP >= 0.0f && params.minP < 1.0f))
    return Status::error("--min-p must be in [0, 1), got " +
                         formatFloat(params.minP));
  return Status::success();
}

SamplingRow samplingRow(const SamplingParams &params, uint32_t stream,
                        uint32_t n) {
  SamplingRow row;
  row.temperature = params.temperature;
  row.topK = params.topK;
  row.topP = params.topP;
  row.minP = params.minP;
  row.seed = params.seed;
  row.draw = drawNumber(stream, n);
  return row;
}

} // namespace dsrt
