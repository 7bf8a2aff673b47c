//===- SamplerTest.cpp - tests of the token sampler -------------*- C++ -*-===//
//
// Unit tests of dsrt/Sampler.h: greedy decoding, the random stream (pinned
// against an independent xoshiro256** computation), empirical frequencies
// against softmax, each filter (top-k, top-p, min-p) excluding exactly the
// tokens it should, their order, NaN/infinity handling, a vocabulary of
// DeepSeek's size, and the messages of validate().
//
//===----------------------------------------------------------------------===//

#include "dsrt/Sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace dsrt {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams withTemperature(float temperature, uint64_t seed = 1) {
  SamplingParams params;
  params.temperature = temperature;
  params.seed = seed;
  return params;
}

/// Logits whose softmax is `probs`.
std::vector<float> logitsOf(const std::vector<double> &probs) {
  std::vector<float> logits;
  for (double p : probs)
    logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

/// How often each token comes out of `draws` calls of one Sampler.
std::vector<int> countDraws(const SamplingParams &params,
                            const std::vector<float> &logits, int draws) {
  Sampler sampler(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    int32_t token = sampler.sample(logits.data(), logits.size());
    EXPECT_GE(token, 0);
    EXPECT_LT(static_cast<size_t>(token), logits.size());
    if (token >= 0 && static_cast<size_t>(token) < logits.size())
      ++counts[token];
  }
  return counts;
}

/// The tokens that came out at least once.
std::set<int> drawnTokens(const SamplingParams &params,
                          const std::vector<float> &logits, int draws = 4000) {
  std::vector<int> counts = countDraws(params, logits, draws);
  std::set<int> tokens;
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0)
      tokens.insert(static_cast<int>(i));
  return tokens;
}

std::vector<int32_t> drawSequence(Sampler &sampler,
                                  const std::vector<float> &logits, int n) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < n; ++i)
    tokens.push_back(sampler.sample(logits.data(), logits.size()));
  return tokens;
}

/// Random logits, the same on every run of the test.
std::vector<float> randomLogits(size_t vocab, uint32_t seed,
                                float scale = 3.0f) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(vocab);
  for (float &logit : logits)
    logit = normal(engine);
  return logits;
}

int32_t argmaxOf(const std::vector<float> &logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                              logits.begin());
}

//===--- greedy -----------------------------------------------------------===//

TEST(SamplerTest, GreedyPicksTheArgmax) {
  Sampler sampler(SamplingParams{});
  std::vector<float> logits = {1.0f, 5.0f, 3.0f, 4.5f, -2.0f};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(sampler.sample(logits.data(), logits.size()), 1);
  std::vector<float> large = randomLogits(129280, 7);
  EXPECT_EQ(sampler.sample(large.data(), large.size()), argmaxOf(large));
}

TEST(SamplerTest, GreedyPicksTheLowestIndexOnTies) {
  Sampler sampler(SamplingParams{});
  std::vector<float> logits = {1.0f, 5.0f, 3.0f, 5.0f, 2.0f};
  EXPECT_EQ(sampler.sample(logits.data(), logits.size()), 1);
  std::vector<float> equal = {7.0f, 7.0f, 7.0f};
  EXPECT_EQ(sampler.sample(equal.data(), equal.size()), 0);
}

TEST(SamplerTest, NegativeTemperatureIsGreedy) {
  Sampler sampler(withTemperature(-1.0f));
  std::vector<float> logits = {1.0f, 2.0f, 9.0f, 4.0f};
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sampler.sample(logits.data(), logits.size()), 2);
}

TEST(SamplerTest, GreedyTreatsNaNAsMinusInfinity) {
  Sampler sampler(SamplingParams{});
  std::vector<float> logits = {kNaN, 1.0f, kNaN, 2.0f, -kInf};
  EXPECT_EQ(sampler.sample(logits.data(), logits.size()), 3);
  std::vector<float> nanFirst = {kNaN, -5.0f};
  EXPECT_EQ(sampler.sample(nanFirst.data(), nanFirst.size()), 1);
  std::vector<float> infinite = {1.0f, kInf, kInf};
  EXPECT_EQ(sampler.sample(infinite.data(), infinite.size()), 1);
  // Nothing to pick from: the lowest index.
  std::vector<float> none = {kNaN, -kInf, kNaN};
  EXPECT_EQ(sampler.sample(none.data(), none.size()), 0);
}

//===--- the random stream ------------------------------------------------===//

TEST(SamplerTest, StreamMatchesXoshiro256StarStar) {
  // With equal logits every weight is exactly 1, so token = floor(u * 1000)
  // for each uniform u; the expected tokens were computed independently from
  // the published splitmix64 and xoshiro256** algorithms.
  std::vector<float> uniform(1000, 0.0f);
  {
    Sampler sampler(withTemperature(1.0f, /*seed=*/0));
    EXPECT_EQ(drawSequence(sampler, uniform, 10),
              (std::vector<int32_t>{601, 747, 103, 416, 732, 999, 422, 535, 855,
                                    918}));
  }
  {
    Sampler sampler(withTemperature(1.0f, /*seed=*/42), /*streamId=*/7);
    EXPECT_EQ(
        drawSequence(sampler, uniform, 10),
        (std::vector<int32_t>{68, 812, 476, 312, 64, 919, 862, 330, 160, 145}));
  }
}

TEST(SamplerTest, SameSeedSameTokensOtherSeedOtherTokens) {
  std::vector<float> logits = {0.3f, 1.2f, -0.5f, 0.9f, 0.0f, 1.1f, 0.4f};
  Sampler first(withTemperature(1.0f, 1234));
  Sampler again(withTemperature(1.0f, 1234));
  Sampler otherSeed(withTemperature(1.0f, 1235));
  Sampler otherStream(withTemperature(1.0f, 1234), /*streamId=*/1);
  Sampler otherStreamAgain(withTemperature(1.0f, 1234), /*streamId=*/1);

  std::vector<int32_t> tokens = drawSequence(first, logits, 500);
  EXPECT_EQ(drawSequence(again, logits, 500), tokens);
  EXPECT_NE(drawSequence(otherSeed, logits, 500), tokens);
  std::vector<int32_t> streamTokens = drawSequence(otherStream, logits, 500);
  EXPECT_NE(streamTokens, tokens);
  EXPECT_EQ(drawSequence(otherStreamAgain, logits, 500), streamTokens);
}

TEST(SamplerTest, EveryDrawTakesOneNumber) {
  // A call with nothing to pick from still advances the stream, so the n-th
  // draw always uses the n-th number.
  std::vector<float> none = {kNaN, -kInf};
  std::vector<float> some = {0.0f, 0.5f, 1.0f};
  std::vector<float> many(1000, 0.0f);
  Sampler a(withTemperature(1.0f, 9));
  Sampler b(withTemperature(1.0f, 9));
  EXPECT_EQ(a.sample(none.data(), none.size()), 0);
  b.sample(some.data(), some.size());
  EXPECT_EQ(drawSequence(a, many, 20), drawSequence(b, many, 20));
}

//===--- frequencies ------------------------------------------------------===//

TEST(SamplerTest, FrequenciesMatchSoftmaxOfScaledLogits) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
  const int draws = 20000;
  for (float temperature : {0.7f, 1.0f, 2.0f}) {
    SCOPED_TRACE(temperature);
    std::vector<double> expected;
    double total = 0.0;
    for (float logit : logits) {
      expected.push_back(std::exp(logit / static_cast<double>(temperature)));
      total += expected.back();
    }
    std::vector<int> counts =
        countDraws(withTemperature(temperature, 2024), logits, draws);
    for (size_t i = 0; i < logits.size(); ++i) {
      // The standard deviation of a frequency is at most 0.0036 here.
      EXPECT_NEAR(static_cast<double>(counts[i]) / draws, expected[i] / total,
                  0.015)
          << "token " << i;
    }
  }
}

//===--- top-k ------------------------------------------------------------===//

TEST(SamplerTest, TopKOneIsGreedy) {
  SamplingParams params = withTemperature(1.5f, 5);
  params.topK = 1;
  Sampler sampler(params);
  for (uint32_t trial = 0; trial < 50; ++trial) {
    std::vector<float> logits = randomLogits(1000, trial, 1.0f);
    EXPECT_EQ(sampler.sample(logits.data(), logits.size()), argmaxOf(logits));
  }
}

TEST(SamplerTest, TopKKeepsTheKHighestLogits) {
  SamplingParams params = withTemperature(1.0f);
  params.topK = 2;
  EXPECT_EQ(drawnTokens(params, {0.0f, 3.0f, 1.0f, 2.9f, -1.0f, 2.8f}),
            (std::set<int>{1, 3}));
  params.topK = 3;
  EXPECT_EQ(drawnTokens(params, {0.0f, 3.0f, 1.0f, 2.9f, -1.0f, 2.8f}),
            (std::set<int>{1, 3, 5}));
  // Ties at the cut: the lower indices win.
  params.topK = 2;
  EXPECT_EQ(drawnTokens(params, {1.0f, 1.0f, 1.0f, 0.0f}),
            (std::set<int>{0, 1}));
  // k at least the vocabulary: no filtering.
  params.topK = 10;
  EXPECT_EQ(drawnTokens(params, {0.0f, 0.5f, 1.0f}), (std::set<int>{0, 1, 2}));
}

//===--- top-p ------------------------------------------------------------===//

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05, listed out of order in the vocabulary.
  const std::vector<float> logits = logitsOf({0.15, 0.5, 0.05, 0.3});
  SamplingParams params = withTemperature(1.0f);
  struct Case {
    float topP;
    std::set<int> tokens;
  } cases[] = {
      {0.3f, {1}},           {0.5f, {1}},          {0.6f, {1, 3}},
      {0.8f, {1, 3}},        {0.8001f, {0, 1, 3}}, {0.95f, {0, 1, 3}},
      {0.96f, {0, 1, 2, 3}}, {1.0f, {0, 1, 2, 3}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.topP);
    params.topP = c.topP;
    EXPECT_EQ(drawnTokens(params, logits), c.tokens);
  }
}

TEST(SamplerTest, TopPIsAppliedAfterTemperature) {
  // At temperature 1 the two best tokens hold 0.8; at temperature 3 the
  // distribution is flatter and 0.8 needs a third token.
  const std::vector<float> logits = logitsOf({0.5, 0.3, 0.15, 0.05});
  SamplingParams params = withTemperature(1.0f);
  params.topP = 0.8f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1}));
  params.temperature = 3.0f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1, 2}));
}

TEST(SamplerTest, TopPIsAppliedAfterTopK) {
  // Top-k 2 leaves 0.4 and 0.3, renormalised to 0.57 and 0.43, so top-p 0.5
  // keeps one token; top-p alone would keep two.
  const std::vector<float> logits = logitsOf({0.4, 0.3, 0.2, 0.1});
  SamplingParams params = withTemperature(1.0f);
  params.topP = 0.5f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1}));
  params.topK = 2;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0}));
  params.topK = 3;
  params.topP = 0.8f; // 0.4 / 0.9 + 0.3 / 0.9 = 0.78 < 0.8
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1, 2}));
}

//===--- min-p ------------------------------------------------------------===//

TEST(SamplerTest, MinPDropsTokensBelowItsShareOfTheBest) {
  const std::vector<float> logits = logitsOf({0.05, 0.3, 0.5, 0.15});
  SamplingParams params = withTemperature(1.0f);
  struct Case {
    float minP;
    std::set<int> tokens;
  } cases[] = {
      {0.05f, {0, 1, 2, 3}}, // threshold 0.025
      {0.2f, {1, 2, 3}},     // threshold 0.1
      {0.5f, {1, 2}},        // threshold 0.25
      {0.7f, {2}},           // threshold 0.35
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.minP);
    params.minP = c.minP;
    EXPECT_EQ(drawnTokens(params, logits), c.tokens);
  }
}

TEST(SamplerTest, MinPIsAppliedAfterTemperature) {
  // 0.05 / 0.5 = 0.1 at temperature 1, but 0.1^(1/4) = 0.56 at temperature 4.
  const std::vector<float> logits = logitsOf({0.5, 0.3, 0.15, 0.05});
  SamplingParams params = withTemperature(1.0f);
  params.minP = 0.2f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1, 2}));
  params.temperature = 4.0f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{0, 1, 2, 3}));
}

TEST(SamplerTest, AllFiltersTogether) {
  // top-k 4 drops 0.02; top-p 0.9 of the remaining 0.98 keeps 0.4, 0.3, 0.2;
  // min-p 0.6 then drops 0.2 (< 0.24).
  const std::vector<float> logits = logitsOf({0.02, 0.3, 0.08, 0.4, 0.2});
  SamplingParams params = withTemperature(1.0f);
  params.topK = 4;
  params.topP = 0.9f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{1, 3, 4}));
  params.minP = 0.6f;
  EXPECT_EQ(drawnTokens(params, logits), (std::set<int>{1, 3}));
}

//===--- special values ---------------------------------------------------===//

TEST(SamplerTest, SamplingTreatsNaNAsMinusInfinity) {
  std::vector<float> logits = {kNaN, 0.0f, kNaN, 0.0f, -kInf};
  std::vector<int> counts = countDraws(withTemperature(1.0f), logits, 4000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_NEAR(counts[1] / 4000.0, 0.5, 0.05);
  EXPECT_NEAR(counts[3] / 4000.0, 0.5, 0.05);

  SamplingParams params = withTemperature(0.8f);
  params.topK = 3;
  params.topP = 0.9f;
  params.minP = 0.1f;
  Sampler sampler(params);
  std::vector<float> none = {kNaN, -kInf, kNaN, -kInf};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(sampler.sample(none.data(), none.size()), 0);
}

TEST(SamplerTest, InfiniteLogitsShareAllTheProbability) {
  std::vector<float> logits = {0.0f, kInf, 100.0f, kInf, kNaN};
  EXPECT_EQ(drawnTokens(withTemperature(1.0f), logits), (std::set<int>{1, 3}));
}

TEST(SamplerTest, TinyTemperatureIsAlmostGreedy) {
  std::vector<float> logits = {1.0f, 2.0f, 1.999f, -3.0f};
  EXPECT_EQ(drawnTokens(withTemperature(1e-6f), logits, 500),
            (std::set<int>{1}));
}

//===--- a DeepSeek-sized vocabulary --------------------------------------===//

/// The tokens that top-k / top-p should keep, computed the slow way in double.
std::set<int> referenceKept(const std::vector<float> &logits, int topK,
                            double topP) {
  std::vector<int> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  if (topK > 0)
    order.resize(std::min<size_t>(order.size(), topK));
  double maxLogit = logits[order[0]];
  double total = 0.0;
  for (int i : order)
    total += std::exp(logits[i] - maxLogit);
  std::set<int> kept;
  double mass = 0.0;
  for (int i : order) {
    kept.insert(i);
    mass += std::exp(logits[i] - maxLogit);
    if (mass >= topP * total)
      break;
  }
  return kept;
}

TEST(SamplerTest, LargeVocabularyFiltersMatchAFullSort) {
  // Peaked logits reach top-p within the first ranked candidates; flat ones
  // need the selection.
  struct Case {
    float scale;
    int topK;
    float topP;
  } cases[] = {{2.0f, 50, 1.0f},
               {8.0f, 0, 0.5f},
               {1.0f, 0, 0.9f},
               {2.0f, 0, 0.3f},
               {2.0f, 1000, 0.9f}};
  for (const Case &c : cases) {
    SCOPED_TRACE(testing::Message() << "scale " << c.scale << " top-k "
                                    << c.topK << " top-p " << c.topP);
    const std::vector<float> logits = randomLogits(129280, 11, c.scale);
    // A slightly larger p gives a superset that absorbs rounding at the cut.
    std::set<int> allowed = referenceKept(logits, c.topK, c.topP + 1e-5);
    SamplingParams params = withTemperature(1.0f, 77);
    params.topK = c.topK;
    params.topP = c.topP;
    std::set<int> drawn = drawnTokens(params, logits, 200);
    EXPECT_GT(drawn.size(), 1u);
    for (int token : drawn)
      EXPECT_TRUE(allowed.count(token)) << "token " << token << " drawn";
  }
}

TEST(SamplerTest, TopPSelectionKeepsExactlyTheBoundaryPrefix) {
  // 1000 tied tokens of weight 1 among 3000 of weight e^-30 (together 3e-10):
  // top-p 0.1505 needs a mass of 150.5, so exactly 151 tokens, which the ties
  // make the 151 lowest indices of the tied ones. Beyond the first 64 ranked
  // candidates the selection must find exactly them.
  std::vector<float> logits(4000, -30.0f);
  std::vector<int> tied;
  for (int i = 1; i < 4000; i += 4) {
    logits[i] = 0.0f;
    tied.push_back(i);
  }
  for (auto [topP, count] :
       {std::pair<float, int>{0.0705f, 71}, {0.1505f, 151}, {0.3335f, 334}}) {
    SCOPED_TRACE(topP);
    SamplingParams params = withTemperature(1.0f, 3);
    params.topP = topP;
    std::set<int> expected(tied.begin(), tied.begin() + count);
    EXPECT_EQ(drawnTokens(params, logits, 40 * count), expected);
  }
}

//===--- validation -------------------------------------------------------===//

std::string validationError(const SamplingParams &params) {
  Status status = validate(params);
  EXPECT_FALSE(status.ok());
  return status.error();
}

TEST(SamplerTest, ValidateAcceptsTheRanges) {
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

TEST(SamplerTest, ValidateNamesTheFlagAndTheValue) {
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

} // namespace
} // namespace dsrt
