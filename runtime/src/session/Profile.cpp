//===- Profile.cpp - cost models, profile tables and JSON -----------------===//
//
// The parts of --profile that do not touch a GPU: evaluating a kernel's
// cost model for a launch, and the table and JSON of profiled chunks.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Profile.h"

#include "dsrt/Json.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace dsrt {

namespace {

/// printf into the end of `out`.
void appendf(std::string &out, const char *format, ...) {
  va_list args, copy;
  va_start(args, format);
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n > 0) {
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(n) + 1);
    std::vsnprintf(&out[at], static_cast<size_t>(n) + 1, format, args);
    out.resize(at + static_cast<size_t>(n));
  }
  va_end(args);
}

/// "ratio" of `value` to `ceiling` in percent, or "-" without a ceiling.
std::string percentOf(double value, double ceiling) {
  if (ceiling <= 0)
    return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", 100 * value / ceiling);
  return text;
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

std::string profileTable(const std::vector<ChunkProfile> &profiles) {
  std::string out;
  for (const ChunkProfile &c : profiles) {
    double sum = kernelSeconds(c);
    appendf(
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
    appendf(out, "  ceilings (%s): %.2f TB/s, %.0f TFLOP/s bf16, %.0f fp8\n",
            c.ceilingsOf.empty() ? "not recorded" : c.ceilingsOf.c_str(),
            c.bandwidth / 1e12, c.bf16Flops / 1e12, c.fp8Flops / 1e12);
    appendf(out, "  %9s %6s %5s %9s %9s %7s %9s %7s  %s\n", "ms/step", "share",
            "calls", "us/call", "GB/s", "of bw", "TFLOP/s", "of peak",
            "kernel");
    for (const KernelProfile &k : c.kernels) {
      double rate = k.seconds > 0 ? k.bytes / k.seconds : 0;
      double flops = k.seconds > 0 ? k.flops / k.seconds : 0;
      char gbs[16] = "-", tfs[16] = "-";
      if (k.hasCost) {
        std::snprintf(gbs, sizeof(gbs), "%.0f", rate / 1e9);
        std::snprintf(tfs, sizeof(tfs), "%.2f", flops / 1e12);
      }
      std::string name = k.name.size() > 64 ? k.name.substr(0, 64) : k.name;
      appendf(out, "  %9.3f %5.1f%% %5lld %9.2f %9s %7s %9s %7s  %s\n",
              k.seconds * 1e3, sum > 0 ? 100 * k.seconds / sum : 0.0,
              static_cast<long long>(k.launches),
              k.launches ? k.seconds * 1e6 / k.launches : 0.0, gbs,
              k.hasCost ? percentOf(rate, c.bandwidth).c_str() : "-", tfs,
              k.hasCost
                  ? percentOf(flops, k.fp8 ? c.fp8Flops : c.bf16Flops).c_str()
                  : "-",
              name.c_str());
    }
  }
  return out;
}

std::string profileJson(const std::vector<ChunkProfile> &profiles) {
  std::string s = "[";
  for (size_t i = 0; i < profiles.size(); ++i) {
    const ChunkProfile &c = profiles[i];
    s += std::string(i ? ", " : "") + "{\"entry\": " + json::quote(c.entry) +
         ", \"tokens\": " + std::to_string(c.tokens) +
         ", \"outputs\": " + std::to_string(c.outputs) +
         ", \"positions_attended\": " + std::to_string(c.context) +
         ", \"replays\": " + std::to_string(c.replays) +
         ", \"step_seconds\": " + jsonNumber(c.stepSeconds) +
         ", \"marked_step_seconds\": " + jsonNumber(c.markedSeconds) +
         ", \"marker_seconds\": " + jsonNumber(c.markerSeconds) +
         ", \"kernel_seconds\": " + jsonNumber(kernelSeconds(c)) +
         ", \"ceilings\": {\"device\": " + json::quote(c.ceilingsOf) +
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
      s += std::string(j ? ", " : "") + "{\"name\": " + json::quote(k.name) +
           ", \"summary\": " + json::quote(k.summary) +
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

bool kernelWork(const fb::Kernel &kernel, int64_t rows, int64_t attended,
                KernelWork &work) {
  const fb::KernelCost *cost = kernel.cost();
  if (!cost)
    return false;
  double r = static_cast<double>(rows);
  double experts = static_cast<double>(
      std::min<int64_t>(cost->experts(), rows * cost->experts_per_row()));
  work.bytes = cost->bytes_fixed() + cost->bytes_per_row() * r +
               cost->bytes_per_context() * static_cast<double>(attended) +
               cost->bytes_per_expert() * experts;
  work.flops = cost->flops_per_row() * r +
               cost->flops_per_context() * static_cast<double>(attended);
  return true;
}

double kernelSeconds(const ChunkProfile &profile) {
  double sum = 0;
  for (const KernelProfile &k : profile.kernels)
    sum += k.seconds;
  return sum;
}

} // namespace dsrt
