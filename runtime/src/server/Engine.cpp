//===- Engine.cpp - continuous batching over one session
//-------------------===//
//
// See Engine.h.
//
//===----------------------------------------------------------------------===//

#include "server/Engine.h"

#include <algorithm>
#include <cstdio>

namespace dsrt::server {

void LatencyHistogram::observe(double seconds) {
  size_t b = 0;
  while (b < kBuckets && seconds > kBounds[b])
    ++b;
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[b];
  sum_ += seconds;
  ++count_;
}

std::string LatencyHistogram::text(const std::string &name,
                                   const std::string &help) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out =
      "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  char bound[32];
  for (size_t b = 0; b < kBuckets; ++b) {
    cumulative += counts_[b];
    std::snprintf(bound, sizeof bound, "%g", kBounds[b]);
    out += name + "_bucket{le=\"" + bound + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[kBuckets];
  std::snprintf(bound, sizeof bound, "%.6f", sum_);
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n" +
         name + "_sum " + bound + "\n" + name + "_count " +
         std::to_string(count_) + "\n";
  return out;
}

Engine::Engine(Session &session, const Program &program, size_t maxWaiting)
    : session_(session), program_(program),
      slots_(program.fb().cache()->slots()),
      maxSeq_(program.fb().cache()->max_seq()),
      vocab_(program.fb().model()->vocab_size()),
      prefillChunk_(program.entry("prefill").max_tokens()),
      compiledLogProbs_(program.entry("decode").top_logprobs()),
      maxWaiting_(maxWaiting) {
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string Engine::submit(std::shared_ptr<GenerationRequest> request,
                           bool *busy) {
  const GenerationRequest &r = *request;
  if (r.prompt.empty())
    return "the prompt is empty";
  if (static_cast<int64_t>(r.prompt.size()) >= maxSeq_)
    return "a prompt of " + std::to_string(r.prompt.size()) +
           " tokens leaves no room to generate in the " +
           std::to_string(maxSeq_) + " positions this model was compiled for";
  for (int32_t id : r.prompt)
    if (id < 0 || id >= vocab_)
      return "token id " + std::to_string(id) + " is outside the vocabulary (" +
             std::to_string(vocab_) + " tokens)";
  if (r.logProbs > compiledLogProbs_)
    return compiledLogProbs_ < 0
               ? std::string("this executable reports no log-probabilities "
                             "(compile it with dsc compile --logprobs=N)")
               : "at most " + std::to_string(compiledLogProbs_) +
                     " log-probabilities per token (dsc compile --logprobs)";
  if (Status s = validate(r.sampling); !s)
    return s.error();
  request->submitted = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= maxWaiting_) {
      if (busy)
        *busy = true;
      return std::to_string(queue_.size()) +
             " requests are already waiting for a slot (serve "
             "--max-waiting); try again later";
    }
    queue_.push_back(std::move(request));
    metrics_.waiting = static_cast<int64_t>(queue_.size());
  }
  ++metrics_.requests;
  wake_.notify_one();
  return "";
}

void Engine::publishCacheUsage() {
  Session::CacheUsage usage = session_.cacheUsage();
  metrics_.cachePages = usage.pages;
  metrics_.cachePagesInUse = usage.inUse;
}

void Engine::release(int32_t slot, std::vector<int32_t> &freeSlots) {
  // A failure here leaves the pages held until the slot's next reset.
  (void)session_.resetSlot(slot);
  freeSlots.push_back(slot);
}

void Engine::fail(Running &r, const std::string &error) {
  TokenEvent e;
  e.last = true;
  e.finishReason = "error";
  e.error = error;
  r.request->onToken(e);
}

bool Engine::deliver(Running &r, const ChunkResult &result, size_t j) {
  const GenerationRequest &q = *r.request;
  TokenEvent e;
  e.token = result.next[j];
  if (q.logProbs >= 0 && result.logProbs) {
    size_t columns = static_cast<size_t>(result.topLogProbs) + 1;
    e.logProb = result.logProbs[j * columns];
    for (int k = 1; k <= q.logProbs; ++k)
      e.top.emplace_back(result.logProbIds[j * columns + k],
                         result.logProbs[j * columns + k]);
  }
  auto now = std::chrono::steady_clock::now();
  if (r.generated.empty())
    metrics_.timeToFirstToken.observe(
        std::chrono::duration<double>(now - q.submitted).count());
  else
    metrics_.interTokenLatency.observe(
        std::chrono::duration<double>(now - r.lastToken).count());
  r.lastToken = now;
  r.generated.push_back(e.token);
  ++metrics_.generatedTokens;
  int64_t length = static_cast<int64_t>(q.prompt.size() + r.generated.size());
  if (std::find(q.stopIds.begin(), q.stopIds.end(), e.token) !=
      q.stopIds.end()) {
    e.last = true;
    e.finishReason = "stop";
  } else if (static_cast<int64_t>(r.generated.size()) >= q.maxTokens ||
             length >= maxSeq_) {
    e.last = true;
    e.finishReason = "length";
  }
  bool keep = q.onToken(e);
  return keep && !e.last;
}

void Engine::prefillStep(std::deque<Running> &prefilling,
                         std::vector<Running> &running,
                         std::vector<int32_t> &freeSlots) {
  // The chunk: the oldest prompts' next tokens, up to the prefill entry's
  // capacity; a prompt whose last token is in it gets an output row.
  Chunk c;
  std::vector<std::pair<size_t, int64_t>> parts; // (prefilling index, count)
  int64_t budget = prefillChunk_;
  for (size_t i = 0; i < prefilling.size() && budget > 0; ++i) {
    Running &r = prefilling[i];
    const GenerationRequest &q = *r.request;
    int64_t n = static_cast<int64_t>(q.prompt.size());
    if (r.prefilled == 0) {
      if (Status s = session_.resetSlot(r.slot); !s) {
        fail(r, s.error());
        r.state = Running::State::Ended;
        continue;
      }
      metrics_.promptTokens += static_cast<uint64_t>(n);
    }
    int64_t count = std::min(budget, n - r.prefilled);
    for (int64_t k = 0; k < count; ++k) {
      c.tokens.push_back(q.prompt[static_cast<size_t>(r.prefilled + k)]);
      c.positions.push_back(static_cast<int32_t>(r.prefilled + k));
      c.slots.push_back(r.slot);
    }
    if (r.prefilled + count == n) {
      c.rows.push_back(static_cast<int32_t>(c.tokens.size() - 1));
      c.sampling.push_back(samplingRow(q.sampling, q.stream, 0));
      c.wantLogProbs |= q.logProbs >= 0;
    }
    parts.emplace_back(i, count);
    budget -= count;
  }
  if (!c.tokens.empty()) {
    Expected<ChunkResult> result = session_.run("prefill", c);
    size_t row = 0;
    for (auto [i, count] : parts) {
      Running &r = prefilling[i];
      if (!result) {
        fail(r, result.error());
        r.state = Running::State::Ended;
        continue;
      }
      r.prefilled += count;
      if (r.prefilled == static_cast<int64_t>(r.request->prompt.size()))
        r.state = deliver(r, result.value(), row++) ? Running::State::Decoding
                                                    : Running::State::Ended;
    }
  }
  // Finished prompts leave the queue, in order.
  std::deque<Running> still;
  for (Running &r : prefilling) {
    if (r.state == Running::State::Decoding)
      running.push_back(std::move(r));
    else if (r.state == Running::State::Ended)
      release(r.slot, freeSlots);
    else
      still.push_back(std::move(r));
  }
  prefilling = std::move(still);
}

void Engine::loop() {
  std::vector<Running> running;
  std::vector<int32_t> freeSlots;
  for (int64_t s = slots_ - 1; s >= 0; --s)
    freeSlots.push_back(static_cast<int32_t>(s));
  // Admitted sequences whose prompts are still being prefilled, one
  // chunk per step, oldest first.
  std::deque<Running> prefilling;
  for (;;) {
    // Admit waiting requests while slots are free; sleep when idle.
    std::vector<std::shared_ptr<GenerationRequest>> admitted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !running.empty() || !prefilling.empty() ||
               !queue_.empty();
      });
      if (stopping_)
        return;
      while (!queue_.empty() && admitted.size() < freeSlots.size()) {
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_.waiting = static_cast<int64_t>(queue_.size());
    }
    for (auto &request : admitted) {
      Running r;
      r.request = std::move(request);
      r.slot = freeSlots.back();
      freeSlots.pop_back();
      prefilling.push_back(std::move(r));
    }
    // Counted from admission, before its first token is reported.
    metrics_.running = static_cast<int64_t>(running.size() + prefilling.size());
    // The step's prefill budget: one chunk (the prefill entry's capacity)
    // of the oldest prompts, so a long prompt advances between the running
    // sequences' decode steps instead of stalling them, and many short
    // ones start together.
    if (!prefilling.empty())
      prefillStep(prefilling, running, freeSlots);
    metrics_.running = static_cast<int64_t>(running.size() + prefilling.size());
    publishCacheUsage();
    if (running.empty())
      continue;
    // One decode step: every running sequence advances one token.
    Chunk c;
    for (Running &r : running) {
      const GenerationRequest &q = *r.request;
      c.rows.push_back(static_cast<int32_t>(c.tokens.size()));
      c.sampling.push_back(samplingRow(
          q.sampling, q.stream, static_cast<uint32_t>(r.generated.size())));
      c.tokens.push_back(r.generated.back());
      c.positions.push_back(
          static_cast<int32_t>(q.prompt.size() + r.generated.size() - 1));
      c.slots.push_back(r.slot);
      c.wantLogProbs |= q.logProbs >= 0;
    }
    Expected<ChunkResult> result = session_.run("decode", c);
    ++metrics_.decodeSteps;
    std::vector<Running> still;
    for (size_t j = 0; j < running.size(); ++j) {
      Running &r = running[j];
      bool keep = false;
      if (!result)
        fail(r, result.error());
      else
        keep = deliver(r, result.value(), j);
      if (keep)
        still.push_back(std::move(r));
      else
        release(r.slot, freeSlots);
    }
    running = std::move(still);
    metrics_.running = static_cast<int64_t>(running.size() + prefilling.size());
    publishCacheUsage();
  }
}

} // namespace dsrt::server
