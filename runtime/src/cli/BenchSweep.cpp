//===- BenchSweep.cpp - several workloads measured in one process --------===//
//
// --bench-sweep: loading a model's weights costs seconds, so one process
// measures a list of workloads (decode at several batch sizes and context
// lengths, prefill of several lengths, greedy or sampled) on one session.
// Each workload runs twice on the same random prompts: a warm-up (which
// captures the CUDA graphs of its chunk shapes, and is what --profile
// profiles; a decode workload's warm-up prompts are cut to 8 ids unless
// profiled) and the timed run.
//
//===----------------------------------------------------------------------===//

#include "cli/Generation.h"

#include "cli/Fail.h"
#include "cli/Output.h"
#include "cli/Startup.h"
#include "cli/WeightLoading.h"

#include <cstdio>
#include <random>

namespace dsrt::cli {

namespace {

struct SweepResult {
  const SweepItem *item = nullptr;
  BatchResult timed;
  std::vector<ChunkProfile> profiles;
};

/// `item`'s prompts: random ids in [2, vocab), from a generator seeded by
/// the sweep's seed and the item's index.
std::vector<std::vector<int32_t>> promptsFor(const SweepItem &item,
                                             size_t index, int64_t vocab) {
  std::mt19937_64 random(item.sampling.seed * 1000003u + index);
  std::uniform_int_distribution<int32_t> id(
      2, static_cast<int32_t>(std::max<int64_t>(vocab - 1, 2)));
  std::vector<std::vector<int32_t>> prompts(item.batch);
  for (auto &prompt : prompts) {
    prompt.resize(item.promptTokens);
    for (int32_t &t : prompt)
      t = id(random);
  }
  return prompts;
}

double rate(int64_t tokens, double seconds) {
  return seconds > 0 ? tokens / seconds : 0;
}

} // namespace

int runBenchSweep(const Options &o, const dsrt::Program &p,
                  const dsrt::SessionOptions &baseSessionOptions,
                  const char *argv0) {
  dsrt::SessionOptions sessionOptions = baseSessionOptions;
  sessionOptions.profile = o.profile;
  StartedSession started = startSession(o, p, sessionOptions, argv0);
  dsrt::Session &session = *started.session;
  const int64_t vocab = p.fb().model()->vocab_size();

  std::vector<SweepResult> results;
  for (size_t i = 0; i < o.sweep.size(); ++i) {
    const SweepItem &item = o.sweep[i];
    Options run = o;
    run.prompts = promptsFor(item, i, vocab);
    run.sampling = item.sampling;
    run.ignoreEos = true;
    run.maxTokens = item.decodeTokens + 1;
    // The warm-up: the prompt and two decode steps. A decode workload's
    // long prompt is cut to 8 ids unless profiled: the warm-up only has to
    // capture the decode step's graph for this batch.
    Options warm = run;
    warm.maxTokens = item.prefill ? 1 : std::min<int64_t>(3, run.maxTokens);
    if (!item.prefill && !o.profile)
      for (auto &prompt : warm.prompts)
        prompt.resize(std::min<size_t>(prompt.size(), 8));
    size_t before = session.profiles().size();
    session.setProfiling(o.profile);
    generateBatch(warm, session, p);
    session.setProfiling(false);
    SweepResult r;
    r.item = &item;
    std::vector<ChunkProfile> all = session.profiles();
    r.profiles.assign(all.begin() + static_cast<long>(before), all.end());
    r.timed = generateBatch(run, session, p);
    if (!o.json) // progress: a sweep can take minutes
      std::fprintf(stderr, "%s: prefill %.1f tok/s, decode %.1f tok/s\n",
                   item.label.c_str(),
                   rate(r.timed.prefillTokens, r.timed.prefillSeconds),
                   rate(r.timed.decodeTokens, r.timed.decodeSeconds));
    results.push_back(std::move(r));
  }

  if (o.json) {
    std::printf("{\"device\": %s, \"sweep\": [",
                jsonString(session.deviceName()).c_str());
    for (size_t i = 0; i < results.size(); ++i) {
      const SweepResult &r = results[i];
      const BatchResult &t = r.timed;
      const SamplingParams &s = r.item->sampling;
      std::printf(
          "%s{\"workload\": %s, \"batch\": %lld, \"prompt_tokens\": %lld, "
          "\"temperature\": %g, \"top_p\": %g, \"top_k\": %d, \"min_p\": %g, "
          "\"prefill_tokens\": %lld, \"prefill_seconds\": %.6f, "
          "\"prefill_tokens_per_second\": %.2f, \"decode_tokens\": %lld, "
          "\"decode_steps\": %lld, \"decode_seconds\": %.6f, "
          "\"decode_tokens_per_second\": %.2f",
          i ? ", " : "", jsonString(r.item->label).c_str(),
          static_cast<long long>(r.item->batch),
          static_cast<long long>(r.item->promptTokens), s.temperature, s.topP,
          s.topK, s.minP, static_cast<long long>(t.prefillTokens),
          t.prefillSeconds, rate(t.prefillTokens, t.prefillSeconds),
          static_cast<long long>(t.decodeTokens),
          static_cast<long long>(t.decodeSteps), t.decodeSeconds,
          rate(t.decodeTokens, t.decodeSeconds));
      if (o.profile)
        std::printf(", \"profile\": %s", profilesJson(r.profiles).c_str());
      std::printf("}");
    }
    std::printf("], %s}\n", startupJson().c_str());
    return 0;
  }
  std::printf("%-36s %6s %7s %6s %14s %13s %9s\n", "workload", "batch",
              "prompt", "steps", "prefill tok/s", "decode tok/s", "ms/step");
  for (const SweepResult &r : results) {
    const BatchResult &t = r.timed;
    char decode[32] = "-", step[32] = "-";
    if (t.decodeSteps) {
      std::snprintf(decode, sizeof(decode), "%.1f",
                    rate(t.decodeTokens, t.decodeSeconds));
      std::snprintf(step, sizeof(step), "%.3f",
                    1e3 * t.decodeSeconds / t.decodeSteps);
    }
    std::printf("%-36s %6lld %7lld %6lld %14.1f %13s %9s\n",
                r.item->label.c_str(), static_cast<long long>(r.item->batch),
                static_cast<long long>(r.item->promptTokens),
                static_cast<long long>(t.decodeSteps),
                rate(t.prefillTokens, t.prefillSeconds), decode, step);
  }
  for (const SweepResult &r : results)
    if (!r.profiles.empty()) {
      std::printf("\n== %s\n", r.item->label.c_str());
      printProfiles(stdout, r.profiles);
    }
  return 0;
}

} // namespace dsrt::cli
