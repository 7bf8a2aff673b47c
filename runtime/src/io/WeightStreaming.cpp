//===- WeightStreaming.cpp - move weight spans on several threads ---------===//
//
// readSpans(): a shared counter hands out spans to worker threads.
// streamSpans(): readers take a free staging buffer and the next span, read
// it and queue the buffer; the calling thread submits queued buffers and
// takes back the oldest submitted one (reuse) when the readers have none
// left to fill.
//
//===----------------------------------------------------------------------===//

#include "dsrt/WeightStreaming.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace dsrt {

unsigned loadThreads(unsigned requested) {
  unsigned threads = requested;
  if (threads == 0)
    if (const char *env = std::getenv("DSRT_LOAD_THREADS"))
      threads = static_cast<unsigned>(std::strtoul(env, nullptr, 10));
  if (threads == 0)
    threads = std::thread::hardware_concurrency();
  return std::clamp(threads, 1u, kMaxLoadThreads);
}

Status readSpans(const std::vector<WeightSource::Span> &spans, unsigned threads,
                 const std::function<Status(const WeightSource::Span &,
                                            unsigned thread)> &work,
                 const std::function<void(uint64_t)> &progress) {
  threads = static_cast<unsigned>(
      std::max<size_t>(std::min<size_t>(threads, spans.size()), 1));
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex; // error, done, progress
  Status error = Status::success();
  uint64_t done = 0;
  auto worker = [&](unsigned thread) {
    for (size_t i; !stop && (i = next++) < spans.size();) {
      Status s = work(spans[i], thread);
      std::lock_guard<std::mutex> lock(mutex);
      if (!s) {
        if (error)
          error = s;
        stop = true;
        return;
      }
      done += spans[i].bytes;
      if (progress)
        progress(done);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(worker, t);
  worker(0);
  for (std::thread &t : pool)
    t.join();
  return error;
}

Status streamSpans(const WeightSource &source,
                   const std::vector<WeightSource::Span> &spans,
                   const std::vector<uint8_t *> &buffers, unsigned threads,
                   const StreamCallbacks &callbacks) {
  if (spans.empty())
    return Status::success();
  if (buffers.empty())
    return Status::error("internal error: no staging buffers");
  threads = static_cast<unsigned>(
      std::min<size_t>({std::max(threads, 1u), spans.size(), buffers.size()}));
  std::mutex mutex;
  std::condition_variable readyChanged, freeChanged;
  std::deque<size_t> free;                     // buffers readers may fill
  std::deque<std::pair<size_t, size_t>> ready; // (buffer, span), filled
  for (size_t b = 0; b < buffers.size(); ++b)
    free.push_back(b);
  size_t nextSpan = 0;
  unsigned running = threads;
  bool stop = false;
  Status error = Status::success();
  auto fail = [&](const Status &s) { // with the lock held
    if (error)
      error = s;
    stop = true;
    freeChanged.notify_all();
    readyChanged.notify_all();
  };

  auto reader = [&] {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      freeChanged.wait(lock, [&] {
        return stop || nextSpan == spans.size() || !free.empty();
      });
      if (stop || nextSpan == spans.size())
        break;
      size_t buffer = free.front(), span = nextSpan++;
      free.pop_front();
      lock.unlock();
      Status s = source.read(spans[span], buffers[buffer]);
      lock.lock();
      if (!s) {
        fail(s);
        break;
      }
      ready.push_back({buffer, span});
      readyChanged.notify_one();
    }
    --running;
    readyChanged.notify_all();
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back(reader);

  std::deque<size_t> moving; // submitted, oldest first
  uint64_t done = 0;
  size_t submitted = 0;
  std::unique_lock<std::mutex> lock(mutex);
  while (!stop && submitted < spans.size()) {
    if (!ready.empty()) {
      auto [buffer, span] = ready.front();
      ready.pop_front();
      lock.unlock();
      Status s = callbacks.submit(buffer, spans[span]);
      if (s) {
        moving.push_back(buffer);
        ++submitted;
        done += spans[span].bytes;
        if (callbacks.progress)
          callbacks.progress(done);
      }
      lock.lock();
      if (!s)
        fail(s);
    } else if (free.empty() && !moving.empty()) {
      // Every buffer is moving or being read: take back the oldest.
      size_t buffer = moving.front();
      moving.pop_front();
      lock.unlock();
      Status s = callbacks.reuse(buffer);
      lock.lock();
      if (!s)
        fail(s);
      free.push_back(buffer);
      freeChanged.notify_one();
    } else if (running == 0) {
      fail(Status::error("internal error: the weight readers stopped early"));
    } else {
      readyChanged.wait(lock);
    }
  }
  stop = true;
  freeChanged.notify_all();
  lock.unlock();
  for (std::thread &t : pool)
    t.join();
  // The copies still moving read their buffers: wait for them all, even
  // after an error, before the caller frees the buffers.
  for (size_t buffer : moving)
    if (Status s = callbacks.reuse(buffer); !s && error)
      error = s;
  return error;
}

} // namespace dsrt
