//===- Engine.h - continuous batching over one session ----------*- C++ -*-===//
//
// The scheduler of every batched run: the server's requests and the command
// line's token-id batches. Requests (token ids, how many to generate and how
// to sample them) wait in a queue; one engine thread owns the session and
// loops: it admits waiting requests into free cache slots, runs one chunk
// (the prefill entry's capacity) of the next tokens of the oldest admitted
// prompts (a prompt's last token samples its first), then one batched
// decode step for every running sequence; so a long prompt advances
// between the others' decode steps instead of stalling their streams, and
// sequences join and leave the batch between steps (continuous batching).
// Each generated token goes to its request's callback on the engine thread.
// The command line runs it `phased` (no decode step while a prompt is being
// prefilled), so that its prefill and decode rates are measured apart.
//
// The cache's pages are shared (Session::forkSlot, reusePrefix; copy on
// write below them):
//  - requests with the same prompt admitted together (the n samples of one
//    request) prefill it once: the others follow the first, draw their
//    first tokens from its last prompt position's logits, and map its pages;
//  - full pages are indexed by the tokens they hold when a prompt is
//    prefilled and when a sequence ends, so a later prompt with the same
//    prefix (a system prompt, an earlier turn of a chat) maps them instead
//    of computing them again, until the pool needs the pages back.
// A request is admitted only when the pool can hold its prompt beside what
// the running sequences need; when a decode step cannot get its pages, the
// newest sequences are preempted: their pages indexed and released, they
// wait again at the head of the queue and, readmitted, prefill their
// prompt and generated tokens (mostly from the index) and go on where they
// stopped, drawing the same tokens. Nothing is failed for want of pages,
// except a sequence longer than the whole pool, which ends ("length").
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_ENGINE_ENGINE_H
#define DSRT_SRC_ENGINE_ENGINE_H

#include "dsrt/Program.h"
#include "dsrt/Sampling.h"
#include "dsrt/Session.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dsrt::engine {

/// One generated token, as the engine reports it.
struct TokenEvent {
  /// The token; -1 in an event that carries none (the last event of a
  /// request that failed or generates nothing: maxTokens 0).
  int32_t token = -1;
  /// With GenerationRequest::logProbs >= 0: the token's log-probability and
  /// the most likely tokens' (id, log-probability), most likely first.
  float logProb = 0;
  std::vector<std::pair<int32_t, float>> top;
  /// The last event of the request: "stop" (an end token), "length"
  /// (maxTokens or the context), "error" (with `error`).
  bool last = false;
  std::string finishReason, error;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int64_t maxTokens = 16;
  SamplingParams sampling;
  int logProbs = -1; // alternatives per token; -1: none
  /// The random stream of its draws (with sampling.seed): the same seed
  /// and stream draw the same tokens whatever else runs beside them.
  uint32_t stream = 0;
  std::vector<int32_t> stopIds; // tokens that end the request (kept)
  /// Called on the engine thread for each token; returning false cancels
  /// the request (its slot is freed before the next step).
  std::function<bool(const TokenEvent &)> onToken;
  /// With `onLogits`: every position's logits row (the vocabulary's f32
  /// logits, valid during the call), in order: each prompt position's, and
  /// each generated token's but the last (the position that drew the next
  /// token, just before that token's onToken). Such a request computes its
  /// whole prompt itself: it shares no pages.
  std::function<void(int64_t position, const float *row)> onLogits;
  /// Set from any thread: the request is dropped (its slot freed) at the
  /// engine's next step, waiting or running, with no further event.
  std::atomic<bool> cancelled{false};
  /// Set by Engine::submit (for the latency histograms).
  std::chrono::steady_clock::time_point submitted;
};

/// Counters for /metrics (read from any thread).
/// A latency histogram in Prometheus' shape: counts of observations at or
/// under each bound (cumulative when printed), their sum and count.
class LatencyHistogram {
public:
  static constexpr double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,  0.1,    0.25,  0.5,  1,
                                       2.5,   5,      10,    30,   60};
  static constexpr size_t kBuckets = sizeof(kBounds) / sizeof(kBounds[0]);
  void observe(double seconds);
  /// Prometheus text of the histogram `name`.
  std::string text(const std::string &name, const std::string &help) const;

private:
  mutable std::mutex mutex_;
  uint64_t counts_[kBuckets + 1] = {}; // the last: above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct EngineMetrics {
  std::atomic<uint64_t> requests{0}, promptTokens{0}, generatedTokens{0},
      decodeSteps{0}, prefillSteps{0};
  /// Prompt positions computed (not mapped from shared pages), the tokens
  /// of the decode steps, and the time spent in each kind of step: a loop
  /// that ran a prefill chunk counts as prefill, one that only decoded as
  /// decode (the admission and bookkeeping of the loop included).
  std::atomic<uint64_t> prefilledTokens{0}, decodedTokens{0};
  std::atomic<uint64_t> prefillNanoseconds{0}, decodeNanoseconds{0};
  /// Prompt positions mapped from shared pages instead of computed (the
  /// prefix index and the n samples of a prompt), and sequences preempted
  /// for want of pages.
  std::atomic<uint64_t> prefixHitTokens{0}, preemptions{0};
  /// Sequences holding a slot (prefilling or decoding), and requests
  /// queued for one.
  std::atomic<int64_t> running{0}, waiting{0};
  /// The KV cache's pages, and those sequences hold (after each step).
  std::atomic<int64_t> cachePages{0}, cachePagesInUse{0};
  /// Pages only the prefix index holds (reclaimed when needed).
  std::atomic<int64_t> cachePagesCached{0};
  /// From a request's submission to its first token, and between the
  /// tokens of a request.
  LatencyHistogram timeToFirstToken, interTokenLatency;
};

struct EngineOptions {
  /// At most this many requests wait for a slot; submit() refuses more.
  size_t maxWaiting = 1024;
  /// Share the pages of equal prompts and prompt prefixes (off: every
  /// sequence computes its whole prompt; for comparisons).
  bool prefixSharing = true;
  /// No decode step while a prompt is being prefilled: prompts admitted
  /// together are all prefilled, then decoded together (the command line's
  /// batches, whose prefill and decode rates are reported apart).
  bool phased = false;
  /// Prompts run through the decode entry, a token of every prefilling
  /// sequence per step, instead of the prefill entry's chunks (the command
  /// line's --prompt-mode decode).
  bool promptByDecode = false;
  /// Prompt tokens per loop, between two decode steps (0, or more than the
  /// entry holds: the prefill entry's capacity). Fewer shorten the running
  /// sequences' pauses while long prompts arrive, and lengthen those
  /// prompts' time to their first token.
  int64_t prefillTokens = 0;
};

class Engine {
public:
  Engine(Session &session, const Program &program,
         const EngineOptions &options);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  /// Queues a request; its callback reports every token, the last one
  /// marked. Fails (returns the reason) when the request cannot run: an
  /// empty prompt, one longer than the context, a token outside the
  /// vocabulary, more log-probabilities than compiled.
  /// `busy` is set when the request was refused because the queue is full.
  std::string submit(std::shared_ptr<GenerationRequest> request,
                     bool *busy = nullptr);
  /// Queues all of `requests` together (none when one cannot run), so that
  /// they are admitted in one loop of the engine when slots allow: the
  /// choices of one HTTP request, the prompts of a command line's batch.
  std::string
  submit(const std::vector<std::shared_ptr<GenerationRequest>> &requests,
         bool *busy = nullptr);

  const EngineMetrics &metrics() const { return metrics_; }
  /// Ends the engine thread once its current loop is done (what is still
  /// queued is not run); the metrics are final afterwards. The destructor
  /// calls it.
  void stop();
  /// Sequences that run at once (the cache's slots).
  int64_t slots() const { return slots_; }

private:
  struct Running {
    std::shared_ptr<GenerationRequest> request;
    uint64_t id = 0;   // admission order: the newest are preempted first
    int32_t slot = -1; // -1 while waiting to be (re)admitted
    std::vector<int32_t> generated;
    int64_t prefilled = 0; // positions of context() in the cache
    /// The id of the sequence whose prompt it shares (0: none): it runs
    /// no prefill of its own and maps that one's pages when it ends.
    uint64_t leader = 0;
    bool failed = false; // ended by an error: its pages are not indexed
    /// With onLogits: positions [0, logitsSent) were reported (a
    /// preempted sequence's recomputed ones are not reported again).
    int64_t logitsSent = 0;
    enum class State { Prefilling, Decoding, Ended } state = State::Prefilling;
    std::chrono::steady_clock::time_point lastToken;

    int64_t promptSize() const {
      return static_cast<int64_t>(request->prompt.size());
    }
    /// What the cache holds or will hold: the prompt, then the generated
    /// tokens (a preempted sequence prefills them again).
    int64_t contextSize() const {
      return promptSize() + static_cast<int64_t>(generated.size());
    }
    int32_t contextToken(int64_t i) const {
      return i < promptSize()
                 ? request->prompt[static_cast<size_t>(i)]
                 : generated[static_cast<size_t>(i - promptSize())];
    }
    std::vector<int32_t> context(int64_t n) const;
  };

  void loop();
  /// Moves waiting requests (preempted ones first) into free slots while
  /// the pool can hold their prompts.
  void admit();
  /// One prefill chunk: the next tokens of the oldest prompts in
  /// `prefilling_`, up to the prefill entry's capacity. Prompts that
  /// complete take their first token (their followers theirs) and move to
  /// `running_`, or free their slot when they end there.
  void prefillStep();
  /// One decode step of every running sequence, after preempting what the
  /// pool cannot hold.
  void decodeStep();
  Chunk decodeChunk() const;
  /// Pages free or reclaimable.
  int64_t availablePages() const;
  /// Pages the prefilling sequences still need for their prompts.
  int64_t pagesOwedToPrefills() const;
  /// Sends the newest admitted sequence back to wait; false when none is
  /// left to preempt.
  bool preemptNewest();
  /// Checks `r` alone; the reason it cannot run, or "".
  std::string check(const GenerationRequest &r) const;
  /// Hands token `j` of chunk result `result` to `r`; false when `r`
  /// finished (or was cancelled).
  bool deliver(Running &r, const ChunkResult &result, size_t j);
  /// Drops the requests cancelled from outside: queued ones before they
  /// take a slot, admitted ones with their slots.
  void dropCancelled();
  /// Ends `r` with finish reason `reason` ("error": `error` says why).
  void finish(Running &r, const std::string &reason,
              const std::string &error = "");
  /// Copies the session's cache usage and the queue lengths into the
  /// metrics.
  void publish();
  /// Gives `r`'s slot back: its full pages indexed (what it wrote), then
  /// released.
  void release(Running &r);
  /// Hands position `position`'s logits row to `r`'s onLogits unless it
  /// was reported before.
  void reportLogits(Running &r, int64_t position, const float *row);

  Session &session_;
  const Program &program_;
  EngineOptions options_;
  int64_t slots_, maxSeq_, vocab_, prefillChunk_, decodeCapacity_, pageSize_,
      cachePages_;
  int32_t compiledLogProbs_;
  EngineMetrics metrics_;

  // The engine thread's own.
  std::vector<Running> running_;
  std::deque<Running> prefilling_;         // admitted, oldest first
  std::deque<Running> preempted_;          // waiting again, before the queue
  std::atomic<int64_t> preemptedCount_{0}; // preempted_.size(), for submit()
  std::vector<int32_t> freeSlots_;
  uint64_t nextId_ = 1;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<GenerationRequest>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace dsrt::engine

#endif // DSRT_SRC_ENGINE_ENGINE_H
