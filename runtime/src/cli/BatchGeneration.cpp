//===- BatchGeneration.cpp - generating from prompt token ids -------------===//
//
// Token-id mode: the prompts go to the engine (engine/Engine.h), the same
// scheduler the server uses, run `phased`: the prompts are prefilled in
// chunks of the prefill entry's capacity (or, with --prompt-mode decode, as
// batched single-token decode steps), then every unfinished sequence
// advances one token per batched decode step until it stops.
//
//===----------------------------------------------------------------------===//

#include "cli/Generation.h"

#include "cli/Fail.h"
#include "cli/Output.h"
#include "cli/Startup.h"
#include "cli/WeightLoading.h"
#include "engine/Engine.h"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace dsrt::cli {

BatchResult generateBatch(const Options &o, dsrt::Session &session,
                          const dsrt::Program &p) {
  const int64_t vocab = p.fb().model()->vocab_size();
  const int64_t eos = p.fb().model()->eos_token_id();
  const bool keepLogits = !o.dumpLogits.empty();
  std::vector<Sequence> seqs;
  for (const auto &prompt : o.prompts)
    seqs.emplace_back().prompt = prompt;

  // Every prompt is computed (no shared pages): the command line measures
  // and checks what it runs, and dumps every position's logits.
  engine::EngineOptions options;
  options.maxWaiting = seqs.size();
  options.prefixSharing = false;
  options.phased = true;
  options.promptByDecode = o.promptByDecode;

  std::mutex mutex;
  std::condition_variable done;
  size_t finished = 0;
  std::string error;
  std::vector<std::shared_ptr<engine::GenerationRequest>> requests;
  for (size_t b = 0; b < seqs.size(); ++b) {
    auto r = std::make_shared<engine::GenerationRequest>();
    r->prompt = seqs[b].prompt;
    r->maxTokens = o.maxTokens;
    r->sampling = o.sampling;
    r->logProbs = o.logProbs;
    r->stream = static_cast<uint32_t>(b);
    if (!o.ignoreEos && eos >= 0)
      r->stopIds.push_back(static_cast<int32_t>(eos));
    // Both run on the engine thread; `seqs` is read after it is done.
    Sequence &s = seqs[b];
    if (keepLogits)
      r->onLogits = [&s, vocab](int64_t, const float *row) {
        s.logits.emplace_back(row, row + vocab);
      };
    r->onToken = [&, b](const engine::TokenEvent &e) {
      Sequence &s = seqs[b];
      if (e.token >= 0) {
        recordFirstToken();
        s.generated.push_back(e.token);
        if (o.logProbs >= 0) {
          TokenLogProbs &t = s.logProbs.emplace_back();
          t.logProb = e.logProb;
          t.top = e.top;
        }
      }
      if (e.last) {
        s.done = true;
        std::lock_guard<std::mutex> lock(mutex);
        if (e.finishReason == "error" && error.empty())
          error = e.error;
        ++finished;
        done.notify_one();
      }
      return true;
    };
    requests.push_back(std::move(r));
  }

  // A fresh engine over the session: its slots are free (every run gives
  // them back), and its counters are this batch's. It is gone (its thread
  // joined) before anything fails.
  BatchResult result;
  std::string refused;
  {
    engine::Engine engine(session, p, options);
    refused = engine.submit(requests);
    if (refused.empty()) {
      std::unique_lock<std::mutex> lock(mutex);
      done.wait(lock, [&] { return finished == seqs.size(); });
    }
    // The last loop adds its time after its tokens are delivered.
    engine.stop();
    const engine::EngineMetrics &m = engine.metrics();
    // Prompt positions computed: recomputed ones after a preemption too.
    result.prefillTokens = static_cast<int64_t>(m.prefilledTokens.load());
    result.prefillSeconds = 1e-9 * static_cast<double>(m.prefillNanoseconds);
    result.decodeTokens = static_cast<int64_t>(m.decodedTokens.load());
    result.decodeSteps = static_cast<int64_t>(m.decodeSteps.load());
    result.decodeSeconds = 1e-9 * static_cast<double>(m.decodeNanoseconds);
  }
  if (!refused.empty())
    fail(refused);
  if (!error.empty())
    fail(error);
  result.sequences = std::move(seqs);
  return result;
}

int runTokenIds(const Options &o, const dsrt::Program &p,
                const dsrt::SessionOptions &baseSessionOptions,
                const char *argv0) {
  if (o.checkKernels && !p.fb().host_twins())
    fail(std::string(argv0) +
         " was not compiled with --check-kernels "
         "(dsc compile --target=cuda:... --check-kernels)");
  dsrt::SessionOptions sessionOptions = baseSessionOptions;
  sessionOptions.checkKernels = o.checkKernels;
  sessionOptions.profile = o.profile;
  StartedSession started = startSession(o, p, sessionOptions, argv0);
  dsrt::Session &session = *started.session;

  BatchResult result = generateBatch(o, session, p);
  if (!o.dumpLogits.empty())
    writeLogits(o.dumpLogits, result.sequences, p.fb().model()->vocab_size());
  std::vector<ChunkProfile> profiles = session.profiles();
  std::string extra = startupJson();
  if (o.profile && o.json)
    extra += ", \"profile\": " + profilesJson(profiles);
  printBatch(result, o.json, session.deviceName(), extra);
  if (o.profile && !o.json)
    printProfiles(stderr, profiles);
  if (o.checkKernels && !printKernelCheck(session))
    return 1;
  if (o.bench) {
    printStartup();
    printBatchThroughput(result, session.deviceName());
  }
  return 0;
}

} // namespace dsrt::cli
