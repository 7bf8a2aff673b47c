//===- WeightStreaming.cpp - move weight spans on several threads ---------===//
//
// readSpans(): a shared counter hands out spans to worker threads.
// streamSpans(): the same counter; each reader cycles over its own staging
// buffers, taking one back (reuse) before it reads the next span into it
// and submitting it itself.
//
//===----------------------------------------------------------------------===//

#include "dsrt/WeightStreaming.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
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
  return streamSpans([&](const WeightSource::Span &span,
                         uint8_t *out) { return source.read(span, out); },
                     spans, buffers, threads, callbacks);
}

Status streamSpans(
    const std::function<Status(const WeightSource::Span &, uint8_t *)> &read,
    const std::vector<WeightSource::Span> &spans,
    const std::vector<uint8_t *> &buffers, unsigned threads,
    const StreamCallbacks &callbacks) {
  if (spans.empty())
    return Status::success();
  if (buffers.empty())
    return Status::error("internal error: no staging buffers");
  unsigned readers = static_cast<unsigned>(
      std::min<size_t>({std::max(threads, 1u), spans.size(), buffers.size()}));
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex; // error, done, progress
  Status error = Status::success();
  uint64_t done = 0;
  auto fail = [&](const Status &s) {
    std::lock_guard<std::mutex> lock(mutex);
    if (error)
      error = s;
    stop = true;
  };

  auto reader = [&](unsigned r) {
    if (callbacks.start)
      if (Status s = callbacks.start(r); !s) {
        fail(s);
        return;
      }
    std::vector<size_t> own; // this reader's buffers, used in turn
    for (size_t b = r; b < buffers.size(); b += readers)
      own.push_back(b);
    std::vector<bool> moving(own.size(), false);
    for (size_t k = 0, i; !stop && (i = next++) < spans.size(); ++k) {
      size_t slot = k % own.size(), buffer = own[slot];
      if (moving[slot]) {
        moving[slot] = false;
        if (Status s = callbacks.reuse(buffer); !s) {
          fail(s);
          break;
        }
      }
      if (Status s = read(spans[i], buffers[buffer]); !s) {
        fail(s);
        break;
      }
      if (Status s = callbacks.submit(buffer, spans[i]); !s) {
        fail(s);
        break;
      }
      moving[slot] = true;
      std::lock_guard<std::mutex> lock(mutex);
      done += spans[i].bytes;
      if (callbacks.progress)
        callbacks.progress(done);
    }
    // The copies still moving read their buffers: wait for them all, even
    // after an error, before the caller frees the buffers.
    for (size_t slot = 0; slot < own.size(); ++slot)
      if (moving[slot])
        if (Status s = callbacks.reuse(own[slot]); !s)
          fail(s);
  };
  std::vector<std::thread> pool;
  for (unsigned r = 1; r < readers; ++r)
    pool.emplace_back(reader, r);
  reader(0);
  for (std::thread &t : pool)
    t.join();
  return error;
}

} // namespace dsrt
