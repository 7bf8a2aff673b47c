//===- Engine.cpp - continuous batching over one session -----------------===//
//
// See Engine.h.
//
//===----------------------------------------------------------------------===//

#include "engine/Engine.h"

#include <algorithm>
#include <cstdio>

namespace dsrt::engine {

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

Engine::Engine(Session &session, const Program &program,
               const EngineOptions &options)
    : session_(session), program_(program), options_(options),
      slots_(program.fb().cache()->slots()),
      maxSeq_(program.fb().cache()->max_seq()),
      vocab_(program.fb().model()->vocab_size()),
      prefillChunk_(program.entry("prefill").max_tokens()),
      decodeCapacity_(program.entry("decode").max_tokens()),
      pageSize_(session.pageSize()), cachePages_(session.cacheUsage().pages),
      compiledLogProbs_(program.entry("decode").top_logprobs()) {
  for (int64_t s = slots_ - 1; s >= 0; --s)
    freeSlots_.push_back(static_cast<int32_t>(s));
  metrics_.cachePages = cachePages_;
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { stop(); }

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void Engine::reportLogits(Running &r, int64_t position, const float *row) {
  if (!r.request->onLogits || position < r.logitsSent)
    return;
  r.request->onLogits(position, row);
  r.logitsSent = position + 1;
}

std::string Engine::check(const GenerationRequest &r) const {
  if (r.prompt.empty())
    return "the prompt is empty";
  const int64_t length = static_cast<int64_t>(r.prompt.size());
  // (A prompt that fills the context still draws one token from its last
  // position.)
  if (length > maxSeq_)
    return "a prompt of " + std::to_string(length) +
           " tokens is longer than the " + std::to_string(maxSeq_) +
           " positions this model was compiled for";
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
  // Its prompt and a first generated token must fit the pool alone.
  int64_t needed = (length + pageSize_) / pageSize_;
  if (needed > cachePages_)
    return "a prompt of " + std::to_string(length) + " tokens needs " +
           std::to_string(needed) + " pages of the KV cache, which has " +
           std::to_string(cachePages_) + " (--cache-pages)";
  if (!r.onToken)
    return "the request has no token callback";
  return "";
}

std::string Engine::submit(std::shared_ptr<GenerationRequest> request,
                           bool *busy) {
  return submit(
      std::vector<std::shared_ptr<GenerationRequest>>{std::move(request)},
      busy);
}

std::string
Engine::submit(const std::vector<std::shared_ptr<GenerationRequest>> &requests,
               bool *busy) {
  for (const auto &r : requests)
    if (std::string error = check(*r); !error.empty())
      return error;
  if (requests.size() > options_.maxWaiting)
    return std::to_string(requests.size()) +
           " sequences in one request, more than may wait (serve "
           "--max-waiting " +
           std::to_string(options_.maxWaiting) + ")";
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() + requests.size() > options_.maxWaiting) {
      if (busy)
        *busy = true;
      return std::to_string(queue_.size()) +
             " requests are already waiting for a slot (serve "
             "--max-waiting); try again later";
    }
    for (const auto &r : requests) {
      r->submitted = now;
      queue_.push_back(r);
    }
    metrics_.waiting =
        static_cast<int64_t>(queue_.size()) + preemptedCount_.load();
  }
  metrics_.requests += requests.size();
  wake_.notify_one();
  return "";
}

std::vector<int32_t> Engine::Running::context(int64_t n) const {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    tokens[static_cast<size_t>(i)] = contextToken(i);
  return tokens;
}

void Engine::publish() {
  Session::CacheUsage usage = session_.cacheUsage();
  metrics_.cachePages = usage.pages;
  metrics_.cachePagesInUse = usage.inUse;
  metrics_.cachePagesCached = usage.cached;
  metrics_.running = static_cast<int64_t>(running_.size() + prefilling_.size());
  preemptedCount_ = static_cast<int64_t>(preempted_.size());
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.waiting = static_cast<int64_t>(queue_.size() + preempted_.size());
}

int64_t Engine::availablePages() const {
  Session::CacheUsage usage = session_.cacheUsage();
  return usage.pages - usage.inUse;
}

int64_t Engine::pagesOwedToPrefills() const {
  int64_t owed = 0;
  for (const Running &r : prefilling_)
    if (!r.leader)
      owed += (r.contextSize() + pageSize_ - 1) / pageSize_ -
              (r.prefilled + pageSize_ - 1) / pageSize_;
  return owed;
}

void Engine::release(Running &r) {
  if (r.slot < 0)
    return;
  if (options_.prefixSharing && !r.failed) {
    // The positions it wrote: its prompt, and every generated token but the
    // last (the next step's input), or the prefilled part of its prompt.
    int64_t written = r.state == Running::State::Prefilling
                          ? (r.leader ? 0 : r.prefilled)
                          : r.contextSize() - 1;
    if (written >= pageSize_)
      session_.indexPrefix(r.slot, r.context(written));
  }
  // A failure here leaves the pages held until the slot's next reset.
  (void)session_.resetSlot(r.slot);
  freeSlots_.push_back(r.slot);
  r.slot = -1;
}

void Engine::finish(Running &r, const std::string &reason,
                    const std::string &error) {
  TokenEvent e;
  e.last = true;
  e.finishReason = reason;
  e.error = error;
  r.request->onToken(e);
  r.state = Running::State::Ended;
  r.failed = reason == "error"; // what it wrote may be incomplete
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
  if (std::find(q.stopIds.begin(), q.stopIds.end(), e.token) !=
      q.stopIds.end()) {
    e.last = true;
    e.finishReason = "stop";
  } else if (static_cast<int64_t>(r.generated.size()) >= q.maxTokens ||
             r.contextSize() >= maxSeq_ ||
             (r.contextSize() + pageSize_ - 1) / pageSize_ > cachePages_) {
    // (The last: its next position would need more pages than the pool
    // has, so even alone it could not go on.)
    e.last = true;
    e.finishReason = "length";
  }
  bool keep = q.onToken(e);
  return keep && !e.last && !q.cancelled.load();
}

void Engine::admit() {
  for (;;) {
    if (freeSlots_.empty())
      return;
    // The next candidate: a preempted sequence, else the queue's head.
    Running r;
    bool fromQueue = false;
    if (!preempted_.empty()) {
      r = std::move(preempted_.front());
      preempted_.pop_front();
    } else {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty())
        return;
      r.request = std::move(queue_.front());
      queue_.pop_front();
      r.id = nextId_++;
      fromQueue = true;
    }
    r.slot = freeSlots_.back();
    r.prefilled = 0;
    r.leader = 0;
    r.state = Running::State::Prefilling;
    const int64_t length = r.contextSize();
    // Pages the pool must hold for it beside what the others need: its
    // prompt's, or, following a leader, a copy of the page it shares.
    int64_t needed = (length + pageSize_ - 1) / pageSize_;
    if (options_.prefixSharing && !r.request->onLogits) {
      if (r.generated.empty())
        for (const Running &p : prefilling_)
          if (!p.leader && !p.request->onLogits && p.generated.empty() &&
              p.prefilled < length && p.request->prompt == r.request->prompt) {
            r.leader = p.id;
            needed = 1;
            break;
          }
      if (!r.leader) {
        r.prefilled =
            session_.reusePrefix(r.slot, r.context(length), length - 1);
        needed -= r.prefilled / pageSize_;
      }
    }
    int64_t spare = availablePages() - pagesOwedToPrefills() -
                    session_.pagesNeeded(decodeChunk());
    bool alone = running_.empty() && prefilling_.empty();
    if (needed > spare && !alone) {
      // Not now: it waits at the head of the line (nothing overtakes it).
      (void)session_.resetSlot(r.slot); // unmaps what reusePrefix mapped
      r.slot = -1;
      r.prefilled = 0;
      r.leader = 0;
      if (fromQueue) {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_front(std::move(r.request));
        --nextId_;
      } else {
        preempted_.push_front(std::move(r));
      }
      return;
    }
    freeSlots_.pop_back();
    if (fromQueue)
      metrics_.promptTokens += static_cast<uint64_t>(length);
    metrics_.prefixHitTokens += static_cast<uint64_t>(r.prefilled);
    // Oldest first (a readmitted sequence keeps its place).
    auto at = std::find_if(prefilling_.begin(), prefilling_.end(),
                           [&](const Running &p) { return p.id > r.id; });
    prefilling_.insert(at, std::move(r));
  }
}

Chunk Engine::decodeChunk() const {
  Chunk c;
  for (const Running &r : running_) {
    const GenerationRequest &q = *r.request;
    c.rows.push_back(static_cast<int32_t>(c.tokens.size()));
    c.sampling.push_back(samplingRow(
        q.sampling, q.stream, static_cast<uint32_t>(r.generated.size())));
    c.tokens.push_back(r.generated.back());
    c.positions.push_back(static_cast<int32_t>(r.contextSize() - 1));
    c.slots.push_back(r.slot);
    c.wantLogProbs |= q.logProbs >= 0;
    c.wantLogits |= static_cast<bool>(q.onLogits);
  }
  return c;
}

bool Engine::preemptNewest() {
  if (running_.size() + prefilling_.size() < 2)
    return false;
  // The newest admitted sequence, prefilling or running.
  auto byId = [](const Running &a, const Running &b) { return a.id < b.id; };
  auto prefill = std::max_element(prefilling_.begin(), prefilling_.end(), byId);
  auto run = std::max_element(running_.begin(), running_.end(), byId);
  Running r;
  if (run != running_.end() &&
      (prefill == prefilling_.end() || run->id > prefill->id)) {
    r = std::move(*run);
    running_.erase(run);
  } else {
    r = std::move(*prefill);
    prefilling_.erase(prefill);
  }
  release(r);
  for (Running &p : prefilling_) // its followers prefill on their own
    if (p.leader == r.id)
      p.leader = 0;
  r.prefilled = 0;
  r.leader = 0;
  r.state = Running::State::Prefilling;
  auto at = std::find_if(preempted_.begin(), preempted_.end(),
                         [&](const Running &p) { return p.id > r.id; });
  preempted_.insert(at, std::move(r));
  ++metrics_.preemptions;
  return true;
}

void Engine::prefillStep() {
  // Followers whose leader is gone (ended, preempted) prefill on their own.
  for (Running &f : prefilling_)
    if (f.leader &&
        std::none_of(prefilling_.begin(), prefilling_.end(),
                     [&](const Running &p) { return p.id == f.leader; }))
      f.leader = 0;
  // The chunk: the oldest prompts' next tokens, up to the prefill entry's
  // capacity (by decode: one token of each, up to the decode entry's). A
  // prompt whose last token is in it gets an output row, and each of its
  // followers one on the same token; a request that wants every logits row
  // gets one on each of its tokens.
  const bool byDecode = options_.promptByDecode;
  Chunk c;
  struct Part {
    size_t index;
    int64_t count;
    size_t firstRow; // with onLogits: the row of its first token
    size_t row;      // its output row (when its prompt completes)
  };
  std::vector<Part> parts;
  std::vector<std::pair<size_t, size_t>> followers; // (index, row)
  const int64_t capacity = byDecode ? decodeCapacity_ : prefillChunk_;
  int64_t budget = options_.prefillTokens > 0
                       ? std::min(capacity, options_.prefillTokens)
                       : capacity;
  auto addRow = [&](const Running &s, int32_t token) {
    size_t row = c.rows.size();
    c.rows.push_back(token);
    c.sampling.push_back(
        samplingRow(s.request->sampling, s.request->stream,
                    static_cast<uint32_t>(s.generated.size())));
    c.wantLogProbs |= s.request->logProbs >= 0;
    return row;
  };
  for (size_t i = 0; i < prefilling_.size() && budget > 0; ++i) {
    Running &r = prefilling_[i];
    if (r.leader)
      continue;
    const int64_t length = r.contextSize();
    const bool everyRow = static_cast<bool>(r.request->onLogits);
    int64_t count = std::min(byDecode ? 1 : budget, length - r.prefilled);
    Part part{i, count, c.rows.size(), 0};
    for (int64_t k = 0; k < count; ++k) {
      if (everyRow)
        addRow(r, static_cast<int32_t>(c.tokens.size()));
      c.tokens.push_back(r.contextToken(r.prefilled + k));
      c.positions.push_back(static_cast<int32_t>(r.prefilled + k));
      c.slots.push_back(r.slot);
    }
    c.wantLogits |= everyRow;
    if (r.prefilled + count == length) {
      int32_t last = static_cast<int32_t>(c.tokens.size() - 1);
      if (everyRow)
        part.row = c.rows.size() - 1;
      else if (r.request->maxTokens > 0)
        part.row = addRow(r, last);
      for (size_t f = 0; f < prefilling_.size(); ++f)
        if (prefilling_[f].leader == r.id) {
          // (Later prompts in the chunk add at most a row a token.)
          if (static_cast<int64_t>(c.rows.size()) < capacity - (budget - count))
            followers.emplace_back(f, addRow(prefilling_[f], last));
          else
            prefilling_[f].leader = 0; // no row left: it prefills itself
        }
    }
    parts.push_back(part);
    budget -= count;
  }
  if (c.tokens.empty())
    return;
  // Make room: when the pool cannot hold the chunk, the newest sequence
  // waits again and the chunk is planned anew next step. (Alone, a
  // sequence always fits: submit() checked its prompt against the pool.)
  if (session_.pagesNeeded(c) > availablePages() && preemptNewest())
    return;
  Expected<ChunkResult> result =
      session_.run(byDecode ? "decode" : "prefill", c);
  ++metrics_.prefillSteps;
  if (result)
    metrics_.prefilledTokens += c.tokens.size();
  for (const Part &part : parts) {
    Running &r = prefilling_[part.index];
    if (!result) {
      finish(r, "error", result.error());
      continue;
    }
    const GenerationRequest &q = *r.request;
    const int64_t first = r.prefilled;
    r.prefilled += part.count;
    const bool complete = r.prefilled == r.contextSize();
    // Every row but a completed prompt's last (which goes with its token,
    // unless it generates none).
    if (q.onLogits)
      for (int64_t k = 0; k < part.count; ++k)
        if (!complete || k + 1 < part.count || q.maxTokens <= 0)
          reportLogits(r, first + k,
                       result.value().logits +
                           (part.firstRow + static_cast<size_t>(k)) * vocab_);
    if (!complete)
      continue;
    if (options_.prefixSharing)
      session_.indexPrefix(r.slot, r.context(r.prefilled));
    if (q.maxTokens <= 0) {
      finish(r, "length");
      continue;
    }
    if (q.onLogits)
      reportLogits(r, r.prefilled - 1,
                   result.value().logits + part.row * vocab_);
    r.state = deliver(r, result.value(), part.row) ? Running::State::Decoding
                                                   : Running::State::Ended;
  }
  for (auto [f, row] : followers) {
    Running &r = prefilling_[f];
    if (!result) {
      finish(r, "error", result.error());
      continue;
    }
    const Running *leader = nullptr;
    for (const Running &p : prefilling_)
      if (p.id == r.leader)
        leader = &p;
    if (Status s = session_.forkSlot(leader->slot, r.slot, r.contextSize());
        !s) {
      finish(r, "error", s.error());
      continue;
    }
    r.prefilled = r.contextSize();
    r.leader = 0;
    metrics_.prefixHitTokens += static_cast<uint64_t>(r.prefilled);
    if (r.request->maxTokens <= 0) {
      finish(r, "length");
      continue;
    }
    r.state = deliver(r, result.value(), row) ? Running::State::Decoding
                                              : Running::State::Ended;
  }
  // Finished prompts leave the queue, in order.
  std::deque<Running> still;
  for (Running &r : prefilling_) {
    if (r.state == Running::State::Decoding)
      running_.push_back(std::move(r));
    else if (r.state == Running::State::Ended)
      release(r);
    else
      still.push_back(std::move(r));
  }
  prefilling_ = std::move(still);
}

void Engine::decodeStep() {
  // Preempt the newest sequences while the pool cannot hold the step.
  Chunk c = decodeChunk();
  while (session_.pagesNeeded(c) > availablePages()) {
    if (!preemptNewest()) { // alone: deliver() ends a sequence before this
      for (Running &r : running_) {
        finish(r, "error", "the KV cache is full");
        release(r);
      }
      running_.clear();
      return;
    }
    c = decodeChunk();
  }
  if (running_.empty())
    return;
  Expected<ChunkResult> result = session_.run("decode", c);
  ++metrics_.decodeSteps;
  metrics_.decodedTokens += c.tokens.size();
  std::vector<Running> still;
  for (size_t j = 0; j < running_.size(); ++j) {
    Running &r = running_[j];
    bool keep = false;
    if (!result) {
      finish(r, "error", result.error());
    } else {
      if (r.request->onLogits)
        reportLogits(r, r.contextSize() - 1,
                     result.value().logits + j * vocab_);
      keep = deliver(r, result.value(), j);
    }
    if (keep) {
      still.push_back(std::move(r));
    } else {
      r.state = Running::State::Ended;
      release(r);
    }
  }
  running_ = std::move(still);
}

void Engine::dropCancelled() {
  auto cancelled = [](const auto &r) { return r.request->cancelled.load(); };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.erase(
        std::remove_if(queue_.begin(), queue_.end(),
                       [](const auto &q) { return q->cancelled.load(); }),
        queue_.end());
  }
  preempted_.erase(
      std::remove_if(preempted_.begin(), preempted_.end(), cancelled),
      preempted_.end());
  // Admitted ones give their slots back (a follower's leader going is
  // handled by prefillStep; a leader's followers prefill on their own).
  auto drop = [&](auto &sequences) {
    auto end =
        std::stable_partition(sequences.begin(), sequences.end(),
                              [&](const Running &r) { return !cancelled(r); });
    for (auto it = end; it != sequences.end(); ++it) {
      release(*it); // in its state: a prompt indexes what it prefilled
      it->state = Running::State::Ended;
    }
    sequences.erase(end, sequences.end());
  };
  drop(prefilling_);
  drop(running_);
}

void Engine::loop() {
  using Clock = std::chrono::steady_clock;
  auto nanoseconds = [](Clock::duration d) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !running_.empty() || !prefilling_.empty() ||
               !preempted_.empty() || !queue_.empty();
      });
      if (stopping_)
        return;
    }
    auto start = Clock::now();
    dropCancelled();
    admit();
    publish(); // counted from admission, before a first token is reported
    // The step's prefill budget: one chunk (the prefill entry's capacity)
    // of the oldest prompts, so a long prompt advances between the running
    // sequences' decode steps instead of stalling them, and many short
    // ones start together.
    bool prefilled = !prefilling_.empty();
    if (prefilled)
      prefillStep();
    publish();
    auto afterPrefill = Clock::now();
    if (prefilled)
      metrics_.prefillNanoseconds += nanoseconds(afterPrefill - start);
    // Phased: the running sequences wait until every admitted prompt is in.
    if (!running_.empty() && !(options_.phased && !prefilling_.empty())) {
      decodeStep();
      publish();
      metrics_.decodeNanoseconds +=
          nanoseconds(Clock::now() - (prefilled ? afterPrefill : start));
    }
  }
}

} // namespace dsrt::engine
