//===- Engine.h - continuous batching over one session ----------*- C++ -*-===//
//
// The server's scheduler. Requests (token ids, how many to generate and how
// to sample them) wait in a queue; one engine thread owns the session and
// loops: it admits waiting requests into free cache slots, runs one chunk
// (the prefill entry's capacity) of the next tokens of the oldest admitted
// prompts (a prompt's last token samples its first), then one batched
// decode step for every running sequence; so a long prompt advances
// between the others' decode steps instead of stalling their streams, and
// sequences join and leave the batch between steps (continuous batching).
// Each generated token goes to its request's callback on the engine thread.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_SERVER_ENGINE_H
#define DSRT_SRC_SERVER_ENGINE_H

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

namespace dsrt::server {

/// One generated token, as the engine reports it.
struct TokenEvent {
  int32_t token = 0;
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
      decodeSteps{0};
  /// Sequences holding a slot (prefilling or decoding), and requests
  /// queued for one.
  std::atomic<int64_t> running{0}, waiting{0};
  /// The KV cache's pages, and those sequences hold (after each step).
  std::atomic<int64_t> cachePages{0}, cachePagesInUse{0};
  /// From a request's submission to its first token, and between the
  /// tokens of a request.
  LatencyHistogram timeToFirstToken, interTokenLatency;
};

class Engine {
public:
  /// At most `maxWaiting` requests wait for a slot; submit() refuses more.
  Engine(Session &session, const Program &program, size_t maxWaiting);
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

  const EngineMetrics &metrics() const { return metrics_; }
  /// Sequences that run at once (the cache's slots).
  int64_t slots() const { return slots_; }

private:
  struct Running {
    std::shared_ptr<GenerationRequest> request;
    int32_t slot = 0;
    std::vector<int32_t> generated;
    int64_t prefilled = 0; // prompt tokens in the cache
    enum class State { Prefilling, Decoding, Ended } state = State::Prefilling;
    std::chrono::steady_clock::time_point lastToken;
  };

  void loop();
  /// One prefill chunk: the next tokens of the oldest prompts in
  /// `prefilling` (each slot reset before its first), up to the prefill
  /// entry's capacity. Prompts that complete take their first token and
  /// move to `running`, or free their slot when they end there.
  void prefillStep(std::deque<Running> &prefilling,
                   std::vector<Running> &running,
                   std::vector<int32_t> &freeSlots);
  /// Hands token `j` of chunk result `result` to `r`; false when `r`
  /// finished (or was cancelled).
  bool deliver(Running &r, const ChunkResult &result, size_t j);
  void fail(Running &r, const std::string &error);
  /// Copies the session's cache usage into the metrics.
  void publishCacheUsage();
  /// Gives slot `slot` back: its pages return to the pool.
  void release(int32_t slot, std::vector<int32_t> &freeSlots);

  Session &session_;
  const Program &program_;
  int64_t slots_, maxSeq_, vocab_, prefillChunk_;
  int32_t compiledLogProbs_;
  size_t maxWaiting_;
  EngineMetrics metrics_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<GenerationRequest>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace dsrt::server

#endif // DSRT_SRC_SERVER_ENGINE_H
