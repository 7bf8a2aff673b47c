//===- Output.cpp - what a dsc executable prints --------------------------===//
//
// The printers of Output.h. The JSON is written by hand: a fixed shape of
// numbers and escaped strings.
//
//===----------------------------------------------------------------------===//

#include "cli/Output.h"

#include "cli/Fail.h"

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
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out + "\"";
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
    for (size_t b = 0; b < seqs.size(); ++b)
      std::printf("%s{\"prompt\": %s, \"tokens\": %s}", b ? ", " : "",
                  idsJson(seqs[b].prompt).c_str(),
                  idsJson(seqs[b].generated).c_str());
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

namespace {

/// "ratio" of `value` to `ceiling` in percent, or "-" without a ceiling.
std::string percentOf(double value, double ceiling) {
  if (ceiling <= 0)
    return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", 100 * value / ceiling);
  return text;
}

double kernelSum(const ChunkProfile &c) {
  double sum = 0;
  for (const KernelProfile &k : c.kernels)
    sum += k.seconds;
  return sum;
}

/// A JSON number; null for NaN and infinities.
std::string jsonNumber(double v) {
  if (!std::isfinite(v))
    return "null";
  char text[40];
  std::snprintf(text, sizeof(text), "%.6g", v);
  return text;
}

} // namespace

void printProfiles(std::FILE *out, const std::vector<ChunkProfile> &profiles) {
  for (const ChunkProfile &c : profiles) {
    double sum = kernelSum(c);
    std::fprintf(
        out,
        "profile: %s, %lld tokens, %lld outputs, %lld positions attended\n"
        "  step %.3f ms (its CUDA graph, median of %lld replays, L2 flushed "
        "before each); kernels %.3f ms = %.1f%% of the step\n"
        "  (timed between event nodes: %.3f ms with them, %.2f us per event "
        "subtracted from each launch)\n",
        c.entry.c_str(), static_cast<long long>(c.tokens),
        static_cast<long long>(c.outputs), static_cast<long long>(c.context),
        c.stepSeconds * 1e3, static_cast<long long>(c.replays), sum * 1e3,
        c.stepSeconds > 0 ? 100 * sum / c.stepSeconds : 0.0,
        c.markedSeconds * 1e3, c.markerSeconds * 1e6);
    std::fprintf(out,
                 "  ceilings (%s): %.2f TB/s, %.0f TFLOP/s bf16, %.0f fp8\n",
                 c.ceilingsOf.empty() ? "not recorded" : c.ceilingsOf.c_str(),
                 c.bandwidth / 1e12, c.bf16Flops / 1e12, c.fp8Flops / 1e12);
    std::fprintf(out, "  %9s %6s %5s %9s %9s %7s %9s %7s  %s\n", "ms/step",
                 "share", "calls", "us/call", "GB/s", "of bw", "TFLOP/s",
                 "of peak", "kernel");
    for (const KernelProfile &k : c.kernels) {
      double rate = k.seconds > 0 ? k.bytes / k.seconds : 0;
      double flops = k.seconds > 0 ? k.flops / k.seconds : 0;
      char gbs[16] = "-", tfs[16] = "-";
      if (k.hasCost) {
        std::snprintf(gbs, sizeof(gbs), "%.0f", rate / 1e9);
        std::snprintf(tfs, sizeof(tfs), "%.2f", flops / 1e12);
      }
      std::string name = k.name.size() > 64 ? k.name.substr(0, 64) : k.name;
      std::fprintf(
          out, "  %9.3f %5.1f%% %5lld %9.2f %9s %7s %9s %7s  %s\n",
          k.seconds * 1e3, sum > 0 ? 100 * k.seconds / sum : 0.0,
          static_cast<long long>(k.launches),
          k.launches ? k.seconds * 1e6 / k.launches : 0.0, gbs,
          k.hasCost ? percentOf(rate, c.bandwidth).c_str() : "-", tfs,
          k.hasCost ? percentOf(flops, k.fp8 ? c.fp8Flops : c.bf16Flops).c_str()
                    : "-",
          name.c_str());
    }
  }
}

std::string profilesJson(const std::vector<ChunkProfile> &profiles) {
  std::string s = "[";
  for (size_t i = 0; i < profiles.size(); ++i) {
    const ChunkProfile &c = profiles[i];
    s += std::string(i ? ", " : "") + "{\"entry\": " + jsonString(c.entry) +
         ", \"tokens\": " + std::to_string(c.tokens) +
         ", \"outputs\": " + std::to_string(c.outputs) +
         ", \"positions_attended\": " + std::to_string(c.context) +
         ", \"replays\": " + std::to_string(c.replays) +
         ", \"step_seconds\": " + jsonNumber(c.stepSeconds) +
         ", \"marked_step_seconds\": " + jsonNumber(c.markedSeconds) +
         ", \"marker_seconds\": " + jsonNumber(c.markerSeconds) +
         ", \"kernel_seconds\": " + jsonNumber(kernelSum(c)) +
         ", \"ceilings\": {\"device\": " + jsonString(c.ceilingsOf) +
         ", \"bytes_per_second\": " + jsonNumber(c.bandwidth) +
         ", \"bf16_flops_per_second\": " + jsonNumber(c.bf16Flops) +
         ", \"fp8_flops_per_second\": " + jsonNumber(c.fp8Flops) +
         "}, \"kernels\": [";
    for (size_t j = 0; j < c.kernels.size(); ++j) {
      const KernelProfile &k = c.kernels[j];
      double ceiling = k.fp8 ? c.fp8Flops : c.bf16Flops;
      auto fraction = [](double v, double of) {
        return of > 0 ? jsonNumber(v / of) : std::string("null");
      };
      double rate = k.seconds > 0 ? k.bytes / k.seconds : 0;
      double flops = k.seconds > 0 ? k.flops / k.seconds : 0;
      s += std::string(j ? ", " : "") + "{\"name\": " + jsonString(k.name) +
           ", \"summary\": " + jsonString(k.summary) +
           ", \"launches\": " + std::to_string(k.launches) +
           ", \"seconds\": " + jsonNumber(k.seconds);
      if (k.hasCost)
        s += ", \"bytes\": " + jsonNumber(k.bytes) +
             ", \"flops\": " + jsonNumber(k.flops) +
             ", \"bytes_per_second\": " + jsonNumber(rate) +
             ", \"flops_per_second\": " + jsonNumber(flops) +
             ", \"bandwidth_fraction\": " + fraction(rate, c.bandwidth) +
             ", \"flops_fraction\": " + fraction(flops, ceiling) +
             ", \"fp8\": " + (k.fp8 ? "true" : "false");
      s += "}";
    }
    s += "]}";
  }
  return s + "]";
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
              "\"decode_tokens\": %lld, \"decode_seconds\": %.6f}}\n",
              promptTokens, jsonString(r.text).c_str(),
              jsonString(r.reasoning).c_str(), idsJson(r.ids).c_str(),
              jsonString(r.stopReason).c_str(), r.ttft,
              static_cast<long long>(r.decodeTokens), r.decodeSeconds);
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
