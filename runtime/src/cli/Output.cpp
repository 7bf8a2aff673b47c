//===- Output.cpp - what a dsc executable prints --------------------------===//
//
// The printers of Output.h. The JSON is written by hand: a fixed shape of
// numbers and escaped strings.
//
//===----------------------------------------------------------------------===//

#include "cli/Output.h"

#include "cli/Fail.h"
#include "cli/Startup.h"

#include "dsrt/Json.h"
#include "dsrt/NpyWriter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace dsrt::cli {

std::string idsJson(const std::vector<int32_t> &ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

std::string jsonString(const std::string &text) {
  return dsrt::json::quote(text);
}

void writeLogits(const std::string &path,
                 const std::vector<Sequence> &sequences, int64_t vocab) {
  const std::vector<Sequence> &seqs = sequences;
  size_t rows = 0;
  for (const Sequence &s : seqs)
    rows = std::max(rows, s.logits.size());
  auto writer =
      dsrt::NpyFloat32Writer::create(path, {static_cast<int64_t>(seqs.size()),
                                            static_cast<int64_t>(rows), vocab});
  if (!writer)
    fail(writer.error());
  std::vector<float> padding(vocab, std::numeric_limits<float>::quiet_NaN());
  for (const Sequence &s : seqs)
    for (size_t r = 0; r < rows; ++r) {
      const float *row =
          r < s.logits.size() ? s.logits[r].data() : padding.data();
      dsrt::Status st = writer.value().append(row, vocab);
      if (!st)
        fail(st.error());
    }
  dsrt::Status st = writer.value().finish();
  if (!st)
    fail(st.error());
}

namespace {

/// A log-probability as a JSON number: 9 significant digits (the f32
/// again when read back); null when not finite (-inf: a token the row
/// cannot produce), which JSON has no number for.
std::string logProbJson(float v) {
  if (!std::isfinite(v))
    return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(v));
  return buffer;
}

/// --logprobs: one object per generated token.
std::string logProbsJson(const Sequence &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.logProbs.size(); ++i) {
    const TokenLogProbs &t = s.logProbs[i];
    out += (i ? ", " : "");
    out += "{\"token\": " +
           std::to_string(i < s.generated.size() ? s.generated[i] : -1) +
           ", \"logprob\": " + logProbJson(t.logProb) + ", \"top\": [";
    for (size_t k = 0; k < t.top.size(); ++k)
      out += std::string(k ? ", " : "") + "[" + std::to_string(t.top[k].first) +
             ", " + logProbJson(t.top[k].second) + "]";
    out += "]}";
  }
  return out + "]";
}

double prefillRate(const BatchResult &r) {
  return r.prefillSeconds > 0 ? r.prefillTokens / r.prefillSeconds : 0;
}

double decodeRate(const BatchResult &r) {
  return r.decodeSeconds > 0 ? r.decodeTokens / r.decodeSeconds : 0;
}

} // namespace

void printBatch(const BatchResult &result, bool json,
                const std::string &deviceName, const std::string &extraJson) {
  const std::vector<Sequence> &seqs = result.sequences;
  if (json) {
    std::printf("{\"sequences\": [");
    for (size_t b = 0; b < seqs.size(); ++b) {
      std::string logProbs = seqs[b].logProbs.empty()
                                 ? ""
                                 : ", \"logprobs\": " + logProbsJson(seqs[b]);
      std::printf("%s{\"prompt\": %s, \"tokens\": %s%s}", b ? ", " : "",
                  idsJson(seqs[b].prompt).c_str(),
                  idsJson(seqs[b].generated).c_str(), logProbs.c_str());
    }
    std::printf(
        "], \"timings\": {\"prefill_tokens\": %lld, "
        "\"prefill_seconds\": %.6f, \"prefill_tokens_per_second\": %.2f, "
        "\"decode_tokens\": %lld, \"decode_steps\": %lld, "
        "\"decode_seconds\": %.6f, \"decode_tokens_per_second\": %.2f, "
        "\"device\": %s}%s%s}\n",
        static_cast<long long>(result.prefillTokens), result.prefillSeconds,
        prefillRate(result), static_cast<long long>(result.decodeTokens),
        static_cast<long long>(result.decodeSteps), result.decodeSeconds,
        decodeRate(result), jsonString(deviceName).c_str(),
        extraJson.empty() ? "" : ", ", extraJson.c_str());
  } else {
    for (const Sequence &s : seqs) {
      std::string line;
      for (size_t i = 0; i < s.generated.size(); ++i)
        line += (i ? " " : "") + std::to_string(s.generated[i]);
      std::printf("%s\n", line.c_str());
    }
  }
}

void printBatchThroughput(const BatchResult &result,
                          const std::string &deviceName) {
  std::fprintf(stderr,
               "prefill: %lld tokens, %.1f tokens/s; decode: %lld tokens "
               "in %lld steps, %.1f tokens/s (%s)\n",
               static_cast<long long>(result.prefillTokens),
               prefillRate(result), static_cast<long long>(result.decodeTokens),
               static_cast<long long>(result.decodeSteps), decodeRate(result),
               deviceName.c_str());
}

void printProfiles(std::FILE *out, const std::vector<ChunkProfile> &profiles) {
  std::fputs(dsrt::profileTable(profiles).c_str(), out);
}

std::string profilesJson(const std::vector<ChunkProfile> &profiles) {
  return dsrt::profileJson(profiles);
}

bool printKernelCheck(const Session &session) {
  bool passed = true;
  std::string table = session.kernelCheckReport(passed);
  std::fprintf(stderr, "%s%s\n", table.c_str(),
               passed ? "every GPU kernel matches its host lowering"
                      : "some GPU kernels differ from their host lowering");
  return passed;
}

void printReplyJson(size_t promptTokens, const Reply &r) {
  std::printf("{\"prompt_tokens\": %zu, \"text\": %s, \"reasoning\": %s, "
              "\"ids\": %s, \"stopped\": %s, \"timings\": "
              "{\"time_to_first_token_seconds\": %.6f, "
              "\"decode_tokens\": %lld, \"decode_seconds\": %.6f}, %s}\n",
              promptTokens, jsonString(r.text).c_str(),
              jsonString(r.reasoning).c_str(), idsJson(r.ids).c_str(),
              jsonString(r.stopReason).c_str(), r.ttft,
              static_cast<long long>(r.decodeTokens), r.decodeSeconds,
              startupJson().c_str());
}

void printReplySummary(const Reply &r) {
  std::fprintf(stderr,
               "\n[%zu tokens; time to first token %.1f ms; decode %.1f "
               "tokens/s; stopped: %s]\n",
               r.ids.size(), r.ttft * 1e3,
               r.decodeSeconds > 0 ? r.decodeTokens / r.decodeSeconds : 0.0,
               r.stopReason.c_str());
}

} // namespace dsrt::cli
