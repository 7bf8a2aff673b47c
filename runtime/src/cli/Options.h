//===- Options.h - the command line of a dsc executable ---------*- C++ -*-===//
//
// What the user asked for: the prompts (token ids, or text for the chat
// format), how many tokens to generate and how to sample them, and what to
// print. parseOptions() reads argv, checks every value against the compiled
// program (vocabulary, batch, context) and fails with one clear error line on
// anything it cannot use.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_OPTIONS_H
#define DSRT_SRC_CLI_OPTIONS_H

#include "dsrt/Program.h"
#include "dsrt/Sampling.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::cli {

/// One workload of --bench-sweep: `batch` prompts of `promptTokens` random
/// ids each, prefilled, then `decodeTokens` decode steps.
struct SweepItem {
  std::string label; // as written
  int64_t batch = 1, promptTokens = 8, decodeTokens = 32;
  bool prefill = false; // prefill:N — only the prompt (and one token)
  SamplingParams sampling;
};

struct Options {
  /// --prompt-ids and --prompt-ids-file, in command-line order.
  std::vector<std::vector<int32_t>> prompts;
  int64_t maxTokens = 16;
  SamplingParams sampling;
  std::string dumpLogits;
  /// --logprobs N: with --json, each generated token's log-probability and
  /// the N most likely tokens' (-1: not asked).
  int logProbs = -1;
  std::string weightsDir;
  bool json = false, bench = false, dummyWeights = false, ignoreEos = false;
  bool checkKernels = false;
  bool profile = false;         // --profile
  std::vector<SweepItem> sweep; // --bench-sweep
  bool promptByDecode = false;  // --prompt-mode decode
  // Text in, text out.
  std::string text; // -p / -f
  bool haveText = false, chat = false, raw = false, tokenizeOnly = false,
       hideReasoning = false, showPrompt = false;
  std::string system;
  std::vector<std::string> stops;
  unsigned threads = 0;
  int64_t cachePages = 0; // KV cache pool (0: every slot's whole sequence)
};

/// Parses the command line of an executable of `program`. --help and
/// --version print and exit 0; any error fails (exit 1).
Options parseOptions(int argc, char **argv, const Program &program);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_OPTIONS_H
