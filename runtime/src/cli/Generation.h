//===- Generation.h - generating tokens with a session ----------*- C++ -*-===//
//
// The two ways a dsc executable generates. Token ids (--prompt-ids): every
// prompt is prefilled in its own cache slot, then all sequences decode
// together, one token each per batched step (BatchGeneration.cpp). Text (-p,
// -f, --chat): one conversation in slot 0, formatted for the model, streamed
// to the terminal as it is generated (TextGeneration.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_GENERATION_H
#define DSRT_SRC_CLI_GENERATION_H

#include "cli/Options.h"

#include "dsrt/Program.h"
#include "dsrt/Session.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::cli {

inline double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

//===----------------------------------------------------------------------===//
// Token ids
//===----------------------------------------------------------------------===//

/// A generated token's log-probability and the most likely tokens' (ids
/// and log-probabilities, most likely first).
struct TokenLogProbs {
  float logProb = 0;
  std::vector<std::pair<int32_t, float>> top;
};

struct Sequence {
  std::vector<int32_t> prompt, generated;
  std::vector<std::vector<float>> logits; // one row per position run
  std::vector<TokenLogProbs> logProbs;    // one per generated token
  bool done = false;
};

/// The sequences of a batch after generation, and how long it took.
struct BatchResult {
  std::vector<Sequence> sequences;
  int64_t prefillTokens = 0, decodeTokens = 0, decodeSteps = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
};

/// Prefills every prompt of `options` (one cache slot each) and decodes them
/// together until each stops (max tokens, end of sequence, context). Keeps
/// every logits row with --dump-logits.
BatchResult generateBatch(const Options &options, Session &session,
                          const Program &program);

/// The whole token-id mode: weights, session, generation, output. Returns
/// the exit status.
int runTokenIds(const Options &options, const Program &program,
                const SessionOptions &sessionOptions, const char *argv0);

/// --bench-sweep: every workload of options.sweep on one session, a table
/// (or JSON) on stdout. Returns the exit status.
int runBenchSweep(const Options &options, const Program &program,
                  const SessionOptions &sessionOptions, const char *argv0);

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

struct Reply {
  std::vector<int32_t> ids;
  std::string text;      // answer (R1: after </think>)
  std::string reasoning; // R1: the <think> part
  std::string raw;       // everything generated
  double ttft = 0, decodeSeconds = 0;
  int64_t decodeTokens = 0;
  std::string stopReason; // "eos" | "stop" | "length" | "context"
};

/// The whole text mode (-p, -f, --chat, --tokenize): tokenizer, weights,
/// session, generation, output. Returns the exit status.
int runText(const Options &options, const Program &program,
            const SessionOptions &sessionOptions, const char *argv0);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_GENERATION_H
