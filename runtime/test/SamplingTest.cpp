//===- SamplingTest.cpp - sampling parameters --------------------------===//
//
// The sampling itself is the compiled ds.sample kernel; it is tested against
// a NumPy model of its specification by test/e2e/sampling.py. Here: the
// parameter checks and the rows the runtime hands to the kernel.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Sampling.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace dsrt {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string validationError(const SamplingParams &params) {
  Status status = validate(params);
  EXPECT_FALSE(status.ok());
  return status.error();
}

TEST(SamplingTest, ValidateAcceptsTheRanges) {
  EXPECT_TRUE(validate(SamplingParams{}).ok());
  SamplingParams params;
  params.temperature = 0.7f;
  params.topK = 50;
  params.topP = 0.9f;
  params.minP = 0.05f;
  params.seed = ~uint64_t(0);
  EXPECT_TRUE(validate(params).ok());
  params.topP = 1.0f;
  params.minP = 0.0f;
  params.temperature = 100.0f;
  EXPECT_TRUE(validate(params).ok());
}

TEST(SamplingTest, ValidateNamesTheFlagAndTheValue) {
  SamplingParams params;
  params.temperature = -1.0f;
  EXPECT_EQ(validationError(params),
            "--temperature must be a finite number >= 0, got -1");
  params.temperature = kNaN;
  EXPECT_EQ(validationError(params),
            "--temperature must be a finite number >= 0, got nan");
  params.temperature = kInf;
  EXPECT_EQ(validationError(params),
            "--temperature must be a finite number >= 0, got inf");

  params = SamplingParams{};
  params.topK = -3;
  EXPECT_EQ(validationError(params), "--top-k must be >= 0, got -3");

  params = SamplingParams{};
  params.topP = 1.5f;
  EXPECT_EQ(validationError(params), "--top-p must be in (0, 1], got 1.5");
  params.topP = 0.0f;
  EXPECT_EQ(validationError(params), "--top-p must be in (0, 1], got 0");
  params.topP = kNaN;
  EXPECT_EQ(validationError(params), "--top-p must be in (0, 1], got nan");

  params = SamplingParams{};
  params.minP = 1.0f;
  EXPECT_EQ(validationError(params), "--min-p must be in [0, 1), got 1");
  params.minP = -0.25f;
  EXPECT_EQ(validationError(params), "--min-p must be in [0, 1), got -0.25");
}

TEST(SamplingTest, RowHasTheLayoutTheKernelReads) {
  SamplingParams params;
  params.temperature = 0.6f;
  params.topK = 40;
  params.topP = 0.95f;
  params.minP = 0.05f;
  params.seed = 0x0123456789abcdefULL;
  SamplingRow row = samplingRow(params, 3, 7);
  uint32_t words[8];
  std::memcpy(words, &row, sizeof(words));
  float f;
  std::memcpy(&f, &words[0], 4);
  EXPECT_EQ(f, 0.6f);
  EXPECT_EQ(words[1], 40u);
  std::memcpy(&f, &words[2], 4);
  EXPECT_EQ(f, 0.95f);
  std::memcpy(&f, &words[3], 4);
  EXPECT_EQ(f, 0.05f);
  EXPECT_EQ(words[4], 0x89abcdefu); // seed, low word first
  EXPECT_EQ(words[5], 0x01234567u);
  EXPECT_EQ(words[6], 7u); // draw: n, then the stream
  EXPECT_EQ(words[7], 3u);
}

TEST(SamplingTest, DrawNumbersOfDistinctSequencesDiffer) {
  EXPECT_NE(drawNumber(0, 1), drawNumber(1, 0));
  EXPECT_EQ(drawNumber(2, 5), (uint64_t(2) << 32) + 5);
}

} // namespace
} // namespace dsrt
