//===- Sampler.h - next-token sampling from logits --------------*- C++ -*-===//
//
// Picks the next token of a sequence from the logits of its last position.
// With temperature 0 it takes the argmax. Otherwise the logits go through
// these steps in this order:
//
//   1. temperature: p_i ~ exp((l_i - max l) / temperature);
//   2. top-k: keep the topK highest logits (ties: the lower index wins);
//   3. top-p: sort the survivors by probability, highest first (ties: the
//      lower index first), and keep the smallest prefix whose renormalised
//      mass reaches topP; the token whose probability makes the mass reach
//      topP is kept;
//   4. min-p: drop tokens whose probability is below minP times the highest;
//   5. renormalise the survivors and draw one of them.
//
// Special logits: NaN counts as -inf. A -inf logit has probability 0 and is
// never sampled. When some logits are +inf, those tokens share all of the
// probability equally. When every logit is -inf or NaN there is nothing to
// pick from, and sample() returns token 0, the lowest index, in every mode.
//
// Reproducibility: the random numbers come from xoshiro256** seeded through
// splitmix64, and each uniform number is built from its top 24 bits, so the
// random stream of a (seed, streamId) pair is the same on every platform.
// The probabilities use std::exp on floats; whenever it rounds alike (it does
// for the same C library) the same logits give the same tokens. A sampling
// call (temperature > 0) takes exactly one number from the stream, whatever
// the logits, so the n-th draw of a sequence always uses the n-th number;
// greedy calls take none.
//
// Cost, for a vocabulary of v tokens: two passes over the logits and one
// exp() per token. Top-k selects the k best with a heap before any exp()
// (O(v log k) at worst, about one comparison per token in practice) and
// computes k weights. Top-p without top-k ranks the 64 best the same way and
// only when they do not reach topP selects the cut by quickselect (O(v) on
// average); nothing sorts the whole vocabulary. For v = 129280 a call takes
// roughly 0.15 ms with top-k, 0.5 ms without, and up to 2 ms with top-p over a
// flat distribution (one x86 core).
//
// Ownership: a Sampler owns its random state and scratch buffers that it
// reuses between calls; the logits stay with the caller and are read only
// during sample().
// Threading: a Sampler is not thread-safe; use one per sequence. Distinct
// Samplers share nothing and may run on distinct threads.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SAMPLER_H
#define DSRT_SAMPLER_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsrt {

/// How the next token is chosen. The defaults are greedy decoding.
struct SamplingParams {
  /// <= 0: greedy (the argmax; the lowest index on ties). Must be finite.
  float temperature = 0.0f;
  /// Keep only the topK most likely tokens; 0: off.
  int topK = 0;
  /// Keep the smallest prefix of the sorted distribution whose mass is at
  /// least topP, in (0, 1]; 1: off.
  float topP = 1.0f;
  /// Drop tokens whose probability is below minP times the highest, in
  /// [0, 1); 0: off.
  float minP = 0.0f;
  /// Seed of the random stream; see Sampler's streamId.
  uint64_t seed = 0;
};

/// Checks the ranges of `params`; the messages name the command-line flags
/// (--temperature, --top-k, --top-p, --min-p), e.g.
/// "--top-p must be in (0, 1], got 1.5".
Status validate(const SamplingParams &params);

/// Samples the tokens of one sequence; see the top of this file.
class Sampler {
public:
  /// `params` should have passed validate(); out-of-range values do not cause
  /// undefined behaviour, but their effect is unspecified. Samplers built
  /// from the same seed and distinct `streamId`s draw from distinct streams,
  /// so the sequences of one batch can share a seed; streamId 0 is the plain
  /// stream of the seed.
  explicit Sampler(const SamplingParams &params, uint64_t streamId = 0);

  /// The next token, in [0, vocab), from `logits[0, vocab)`. `vocab` must be
  /// at least 1 and at most INT32_MAX (returns 0 when it is 0).
  int32_t sample(const float *logits, size_t vocab);

  const SamplingParams &params() const { return params_; }

private:
  /// A token that may still be sampled: its logit orders it, its weight
  /// (the unnormalised probability, > 0) is what the draw uses.
  struct Candidate {
    float logit;
    float weight;
    int32_t index;
  };

  uint64_t nextRandom();
  /// Uniform in [0, 1), a multiple of 2^-24.
  float nextUniform();

  SamplingParams params_;
  uint64_t state_[4];
  std::vector<Candidate> candidates_; // scratch, reused between calls
  std::vector<Candidate> ranked_;     // scratch of top-p
};

} // namespace dsrt

#endif // DSRT_SAMPLER_H
