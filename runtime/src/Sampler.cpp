//===- Sampler.cpp - next-token sampling from logits ------------*- C++ -*-===//
//
// Implements dsrt/Sampler.h: parameter validation, the xoshiro256** random
// stream, and the temperature / top-k / top-p / min-p pipeline over a scratch
// list of candidates. Every step leaves the candidates in an order that does
// not depend on the standard library (token order, or rank order with ties
// broken by index), takes every decision on data in such an order, and sums
// in a fixed order, so that the same uniform number picks the same token
// everywhere.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace dsrt {

namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();

/// The top-p prefix stops once its mass is within this fraction of the total
/// of topP, so that a token whose probability brings the mass to exactly topP
/// is kept despite the rounding of exp() and of the float topP.
constexpr double kTopPTolerance = 1e-6;

/// How many candidates top-p ranks before it turns to selection.
constexpr size_t kTopPFirstPrefix = 64;
/// selectRankPrefixByMass() sorts ranges up to this size.
constexpr size_t kSelectionSortLimit = 32;

std::string formatFloat(float value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(value));
  return text;
}

//===--- random numbers ---------------------------------------------------===//

/// The splitmix64 output function: a bijection of 64-bit values with
/// mix64(0) == 0.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// One step of splitmix64, the generator recommended to seed xoshiro.
uint64_t splitmix64(uint64_t &state) {
  state += 0x9e3779b97f4a7c15ULL;
  return mix64(state);
}

uint64_t rotateLeft(uint64_t x, int bits) {
  return (x << bits) | (x >> (64 - bits));
}

//===--- ranking ----------------------------------------------------------===//

/// The rank order of candidates: higher logit first, lower index on ties. It
/// is a strict total order, so sorting by it gives one result everywhere.
struct RanksBefore {
  template <class C> bool operator()(const C &a, const C &b) const {
    if (a.logit != b.logit)
      return a.logit > b.logit;
    return a.index < b.index;
  }
};

/// Collects the `k` candidates that rank first among those offered, in a
/// max-heap whose front is the last of them; most candidates are rejected by
/// one comparison with the front. The set kept is the same everywhere;
/// finish() sorts it.
template <class C> class BestByRank {
public:
  BestByRank(std::vector<C> &storage, size_t k) : heap_(storage), k_(k) {
    heap_.clear();
  }
  /// Whether a candidate with this logit would be rejected; a cheap test
  /// before building one.
  bool rejects(float logit) const {
    return heap_.size() == k_ && logit < heap_.front().logit;
  }
  void offer(const C &candidate) {
    if (heap_.size() < k_) {
      heap_.push_back(candidate);
      std::push_heap(heap_.begin(), heap_.end(), RanksBefore());
    } else if (RanksBefore()(candidate, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), RanksBefore());
      heap_.back() = candidate;
      std::push_heap(heap_.begin(), heap_.end(), RanksBefore());
    }
  }
  void finish() { std::sort_heap(heap_.begin(), heap_.end(), RanksBefore()); }

private:
  std::vector<C> &heap_;
  size_t k_;
};

/// The sum of the weights of `candidates[0, count)`, in their order, in four
/// interleaved partial sums so that the additions overlap; the order of the
/// additions is fixed, so the result is the same everywhere.
template <class C> double sumWeights(const C *candidates, size_t count) {
  double partial[4] = {0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 4 <= count; i += 4)
    for (size_t lane = 0; lane < 4; ++lane)
      partial[lane] += candidates[i + lane].weight;
  for (size_t lane = 0; i < count; ++i, ++lane)
    partial[lane] += candidates[i].weight;
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}
template <class C> double sumWeights(const std::vector<C> &candidates) {
  return sumWeights(candidates.data(), candidates.size());
}

/// Rearranges `candidates` so that they start with the smallest prefix, in
/// rank order, whose weight reaches `need` (> 0), and returns the end of that
/// prefix (all of them if their weight falls short). The prefix is not sorted.
/// Quickselect with the median of three as pivot, partitioning by hand so
/// that the result depends only on the input order; a range that is small,
/// or still large after a logarithmic number of rounds, is sorted and walked
/// instead. Linear on average.
template <class C>
size_t selectRankPrefixByMass(std::vector<C> &candidates, double need) {
  const RanksBefore ranksBefore;
  size_t lo = 0, hi = candidates.size();
  int roundsLeft = 16;
  for (size_t size = hi; size > 1; size >>= 1)
    roundsLeft += 2;
  while (hi - lo > kSelectionSortLimit && roundsLeft-- > 0) {
    // The median of the first, middle and last candidates goes to hi - 1.
    size_t first = lo, middle = lo + (hi - lo) / 2, last = hi - 1;
    if (ranksBefore(candidates[middle], candidates[first]))
      std::swap(middle, first);
    if (ranksBefore(candidates[last], candidates[middle]))
      std::swap(last, middle);
    if (ranksBefore(candidates[middle], candidates[first]))
      std::swap(middle, first);
    std::swap(candidates[middle], candidates[hi - 1]);
    const C pivot = candidates[hi - 1];

    // Those ranked before the pivot go to [lo, store). Branch-free (Lomuto
    // with an unconditional swap): the outcome of each comparison is
    // unpredictable.
    size_t store = lo;
    for (size_t i = lo; i + 1 < hi; ++i) {
      const C candidate = candidates[i];
      const bool isBefore = ranksBefore(candidate, pivot);
      candidates[i] = candidates[store];
      candidates[store] = candidate;
      store += isBefore;
    }
    std::swap(candidates[store], candidates[hi - 1]);
    const double before = sumWeights(candidates.data() + lo, store - lo);

    if (before >= need) {
      hi = store;
    } else if (before + pivot.weight >= need) {
      return store + 1;
    } else {
      need -= before + pivot.weight;
      lo = store + 1;
    }
  }
  std::sort(candidates.begin() + lo, candidates.begin() + hi, ranksBefore);
  double mass = 0.0;
  for (size_t i = lo; i < hi; ++i) {
    mass += candidates[i].weight;
    if (mass >= need)
      return i + 1;
  }
  return hi;
}

/// The argmax with NaN as -inf and the lowest index on ties; 0 when every
/// logit is -inf or NaN.
int32_t argmax(const float *logits, size_t vocab) {
  int32_t best = 0;
  float bestLogit = -kInfinity;
  for (size_t i = 0; i < vocab; ++i) {
    if (logits[i] > bestLogit) { // false for NaN
      bestLogit = logits[i];
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

} // namespace

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

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

//===----------------------------------------------------------------------===//
// Sampler
//===----------------------------------------------------------------------===//

Sampler::Sampler(const SamplingParams &params, uint64_t streamId)
    : params_(params) {
  // mix64 is a bijection, so distinct streams of one seed start splitmix64
  // at distinct points and get distinct xoshiro states.
  uint64_t seeder = params.seed ^ mix64(streamId);
  for (uint64_t &word : state_)
    word = splitmix64(seeder);
  // xoshiro must not start from all zeros; splitmix64 practically never
  // yields four zeros, but make it impossible.
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0)
    state_[0] = 0x9e3779b97f4a7c15ULL;
}

uint64_t Sampler::nextRandom() {
  // xoshiro256** 1.0 (Blackman and Vigna).
  const uint64_t result = rotateLeft(state_[1] * 5, 7) * 9;
  const uint64_t shifted = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= shifted;
  state_[3] = rotateLeft(state_[3], 45);
  return result;
}

float Sampler::nextUniform() {
  // The top 24 bits fill a float mantissa exactly.
  return static_cast<float>(nextRandom() >> 40) * 0x1.0p-24f;
}

int32_t Sampler::sample(const float *logits, size_t vocab) {
  if (vocab == 0)
    return 0;
  if (!(params_.temperature > 0.0f)) // also NaN, which validate() rejects
    return argmax(logits, vocab);

  // Drawn first so that every sampling call takes exactly one number.
  const float uniform = nextUniform();

  float maxLogit = -kInfinity;
  for (size_t i = 0; i < vocab; ++i)
    maxLogit = logits[i] > maxLogit ? logits[i] : maxLogit; // skips NaN
  if (maxLogit == -kInfinity)
    return 0; // every logit is -inf or NaN

  // Temperature: the unnormalised probability of a logit. Tokens of weight 0
  // (-inf, NaN, or underflow) can never be drawn; they are left out, which
  // changes no later step.
  const float temperature = params_.temperature;
  auto weightOf = [maxLogit, temperature](float logit) {
    if (maxLogit == kInfinity) // the +inf tokens share everything
      return logit == kInfinity ? 1.0f : 0.0f;
    return std::exp((logit - maxLogit) / temperature);
  };

  bool inRankOrder; // otherwise in token order
  const size_t topK = params_.topK > 0 ? static_cast<size_t>(params_.topK) : 0;
  if (topK > 0 && topK < vocab) {
    // Top-k. Temperature does not change the order of the logits, so the k
    // best are selected first and only they get a weight. Weights fall along
    // the ranked result, so those that underflowed to 0 form its tail.
    BestByRank<Candidate> best(candidates_, topK);
    for (size_t i = 0; i < vocab; ++i)
      if (logits[i] > -kInfinity && !best.rejects(logits[i])) // not NaN
        best.offer({logits[i], 0.0f, static_cast<int32_t>(i)});
    best.finish();
    size_t positive = 0;
    for (Candidate &candidate : candidates_) {
      candidate.weight = weightOf(candidate.logit);
      if (!(candidate.weight > 0.0f))
        break;
      ++positive;
    }
    candidates_.resize(positive);
    inRankOrder = true;
  } else {
    // No top-k: every token with a weight.
    candidates_.clear();
    candidates_.reserve(vocab);
    for (size_t i = 0; i < vocab; ++i) {
      const float logit = logits[i];
      if (!(logit > -kInfinity))
        continue; // -inf or NaN
      const float weight = weightOf(logit);
      if (weight > 0.0f)
        candidates_.push_back({logit, weight, static_cast<int32_t>(i)});
    }
    inRankOrder = false;
  }
  // The argmax has weight 1, so there is at least one candidate.
  double total = sumWeights(candidates_);

  // Top-p. Ranked candidates are walked to the cut. Otherwise the 64 best
  // are ranked first, which is enough for a peaked distribution; for a
  // flatter one, selectRankPrefixByMass() finds the last token kept on a copy
  // (linear on average), and the candidates ranked after it are dropped,
  // keeping token order. The first candidate is always kept, even for a
  // topP <= 0 that validate() rejects.
  if (params_.topP < 1.0f) {
    const double target =
        (static_cast<double>(params_.topP) - kTopPTolerance) * total;
    if (!inRankOrder) {
      BestByRank<Candidate> best(ranked_, kTopPFirstPrefix);
      for (const Candidate &candidate : candidates_)
        if (!best.rejects(candidate.logit))
          best.offer(candidate);
      best.finish();
      double mass = 0.0;
      size_t kept = 0;
      while (kept < ranked_.size() && (kept == 0 || mass < target))
        mass += ranked_[kept++].weight;
      if (mass >= target || ranked_.size() == candidates_.size()) {
        ranked_.resize(kept);
        candidates_.swap(ranked_);
      } else {
        ranked_ = candidates_;
        size_t end = selectRankPrefixByMass(ranked_, target);
        const Candidate last = *std::max_element(
            ranked_.begin(), ranked_.begin() + end, RanksBefore());
        candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                         [&last](const Candidate &candidate) {
                                           return RanksBefore()(last,
                                                                candidate);
                                         }),
                          candidates_.end());
      }
    } else {
      double mass = 0.0;
      size_t kept = 0;
      while (kept < candidates_.size() && (kept == 0 || mass < target))
        mass += candidates_[kept++].weight;
      candidates_.resize(kept);
    }
    total = sumWeights(candidates_);
  }

  // Min-p, keeping the order. The largest weight is the argmax's, which
  // top-k and top-p always keep; the threshold never exceeds it, so at least
  // that candidate survives even for a minP that validate() rejects.
  if (params_.minP > 0.0f) {
    float maxWeight = 0.0f;
    for (const Candidate &candidate : candidates_)
      maxWeight = std::max(maxWeight, candidate.weight);
    const float threshold = std::min(params_.minP * maxWeight, maxWeight);
    candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                     [threshold](const Candidate &candidate) {
                                       return candidate.weight < threshold;
                                     }),
                      candidates_.end());
    total = sumWeights(candidates_);
  }

  // Draw: the first candidate whose cumulative weight passes uniform * total.
  // The running sum and `total` are summed in different orders; should
  // rounding leave the running sum short of the point, the last candidate
  // is the one drawn.
  const double point = static_cast<double>(uniform) * total;
  double mass = 0.0;
  for (const Candidate &candidate : candidates_) {
    mass += candidate.weight;
    if (mass > point)
      return candidate.index;
  }
  return candidates_.back().index;
}

} // namespace dsrt
