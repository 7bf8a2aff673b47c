//===- Output.h - what a dsc executable prints ------------------*- C++ -*-===//
//
// Everything a run prints once generation succeeded: the generated ids (one
// line per prompt) or JSON, the logits as .npy (--dump-logits), the
// throughput (--bench), the kernel check table (--check-kernels), and the
// summary of a text reply. Results go to stdout, reports to stderr.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_OUTPUT_H
#define DSRT_SRC_CLI_OUTPUT_H

#include "cli/Generation.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace dsrt::cli {

/// `ids` as a JSON array: "[1, 2, 3]".
std::string idsJson(const std::vector<int32_t> &ids);

/// `text` as a JSON string, quoted and escaped.
std::string jsonString(const std::string &text);

/// Writes the kept logits of every sequence to `path` as f32 [batch,
/// positions, vocab], NaN-padded; fails (exit 1) on a write error.
void writeLogits(const std::string &path,
                 const std::vector<Sequence> &sequences, int64_t vocab);

/// The generated ids on stdout: one line per prompt, or JSON with timings
/// (`json`) and, when not empty, `extraJson` (`"key": value` members).
void printBatch(const BatchResult &result, bool json,
                const std::string &deviceName,
                const std::string &extraJson = "");

/// --profile: each chunk's kernels as a table (on `out`), or as a JSON array.
void printProfiles(std::FILE *out, const std::vector<ChunkProfile> &profiles);
std::string profilesJson(const std::vector<ChunkProfile> &profiles);

/// --bench: prefill and decode tokens/s on stderr.
void printBatchThroughput(const BatchResult &result,
                          const std::string &deviceName);

/// --check-kernels: the session's table on stderr; whether every kernel
/// matched.
bool printKernelCheck(const Session &session);

/// A text reply as JSON on stdout (-p/-f with --json).
void printReplyJson(size_t promptTokens, const Reply &reply);

/// The summary line after a text reply, on stderr.
void printReplySummary(const Reply &reply);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_OUTPUT_H
