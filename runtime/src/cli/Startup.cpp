//===- Startup.cpp - where the time to the first token goes ---------------===//
//
// See Startup.h. One report per process: a run has one start.
//
//===----------------------------------------------------------------------===//

#include "cli/Startup.h"

#include "cli/Output.h"

#include <chrono>
#include <cstdio>

namespace dsrt::cli {

namespace {

using Clock = std::chrono::steady_clock;

/// Set while the executable's statics initialise, before main.
const Clock::time_point launched = Clock::now();

struct Report {
  std::vector<StartupPhase> phases;
  double readyAt = -1;      // start-up done, generation about to begin
  double firstTokenAt = -1; // the first generated token
};

Report &report() {
  static Report r;
  return r;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6f", v);
  return buffer;
}

} // namespace

double secondsSinceLaunch() {
  return std::chrono::duration<double>(Clock::now() - launched).count();
}

void recordStartup(const std::string &name, double seconds, uint64_t bytes) {
  report().phases.push_back({name, seconds, bytes});
}

void recordSession(const Session &session, double seconds) {
  std::vector<StartupPhase> phases = session.startupPhases();
  if (phases.empty())
    recordStartup("session", seconds);
  for (const StartupPhase &p : phases)
    report().phases.push_back(p);
  report().readyAt = secondsSinceLaunch();
}

void recordFirstToken() {
  if (report().firstTokenAt < 0)
    report().firstTokenAt = secondsSinceLaunch();
}

std::string startupJson() {
  const Report &r = report();
  std::string json = "\"startup\": {\"phases\": [";
  for (size_t i = 0; i < r.phases.size(); ++i)
    json += std::string(i ? ", " : "") +
            "{\"name\": " + jsonString(r.phases[i].name) +
            ", \"seconds\": " + number(r.phases[i].seconds) +
            ", \"bytes\": " + std::to_string(r.phases[i].bytes) + "}";
  json += "]";
  if (r.readyAt >= 0 && r.firstTokenAt >= r.readyAt)
    json +=
        ", \"first_prefill_seconds\": " + number(r.firstTokenAt - r.readyAt);
  if (r.firstTokenAt >= 0)
    json += ", \"launch_to_first_token_seconds\": " + number(r.firstTokenAt);
  return json + "}";
}

void printStartup() {
  const Report &r = report();
  std::string line = "start-up:";
  for (size_t i = 0; i < r.phases.size(); ++i) {
    const StartupPhase &p = r.phases[i];
    char buffer[160];
    if (p.bytes > 0 && p.seconds > 0)
      std::snprintf(buffer, sizeof(buffer), "%s %s %.2f s (%.*f %s, %.2f GB/s)",
                    i ? "," : "", p.name.c_str(), p.seconds,
                    p.bytes >= 1e9 ? 2 : 1,
                    p.bytes >= 1e9 ? p.bytes / 1e9 : p.bytes / 1e6,
                    p.bytes >= 1e9 ? "GB" : "MB", p.bytes / p.seconds / 1e9);
    else
      std::snprintf(buffer, sizeof(buffer), "%s %s %.2f s", i ? "," : "",
                    p.name.c_str(), p.seconds);
    line += buffer;
  }
  char buffer[96];
  if (r.readyAt >= 0 && r.firstTokenAt >= r.readyAt) {
    std::snprintf(buffer, sizeof(buffer), ", first prefill %.2f s",
                  r.firstTokenAt - r.readyAt);
    line += buffer;
  }
  if (r.firstTokenAt >= 0) {
    std::snprintf(buffer, sizeof(buffer), "; first token %.2f s after launch",
                  r.firstTokenAt);
    line += buffer;
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

} // namespace dsrt::cli
