//===- WeightStreaming.h - weight spans on several threads ------*- C++ -*-===//
//
// The two ways the weights of a WeightSource are moved, both on several
// reader threads (loadThreads()):
//
//  * readSpans(): each span is handed to a worker that puts it where it
//    belongs (WeightStore::load reads straight into the host buffers, or
//    into a scratch buffer it quantises from).
//  * streamSpans(): a small ring of staging buffers (pinned host memory for
//    a GPU), shared out among the readers; each reader fills one of its
//    buffers, hands it to `submit` (an asynchronous copy to the device, a
//    kernel) and, before it fills that buffer again, to `reuse` (which
//    waits for that copy). Each reader's next read overlaps its last
//    copies. The readers submit their own buffers: a single submitting
//    thread fed through a queue moved 5-6 GB/s on the GPU machine where
//    this moves 37-43 GB/s (bench/UploadBenchmark.cpp), the hand-offs
//    between threads costing more than the copies.
//
// Both stop at the first error (a read, a worker, start, submit or reuse)
// and return it once every thread has stopped. Progress is reported under a
// lock, in bytes read, never decreasing.
//
// Threading: the callbacks of both run on several threads at once (those of
// streamSpans() for one buffer always on the reader that owns it).
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_WEIGHTSTREAMING_H
#define DSRT_WEIGHTSTREAMING_H

#include "dsrt/Expected.h"
#include "dsrt/WeightSource.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace dsrt {

/// Called as weights are read: (bytes done, bytes in all).
using LoadProgress = std::function<void(uint64_t, uint64_t)>;

/// The most reader threads a load uses: past this the page cache or the
/// disk, not the threads, sets the rate.
constexpr unsigned kMaxLoadThreads = 32;
/// The spans readers move (the size of a GPU staging buffer).
constexpr uint64_t kLoadSpanBytes = uint64_t(16) << 20;

/// Reader threads for a load: `requested`, or when 0 the environment's
/// DSRT_LOAD_THREADS, or else one per hardware thread; at least 1 and at
/// most kMaxLoadThreads.
unsigned loadThreads(unsigned requested = 0);

/// Runs `work(span, thread)` for every span on up to `threads` threads
/// (thread: 0 .. threads-1, for per-thread scratch buffers).
Status readSpans(const std::vector<WeightSource::Span> &spans, unsigned threads,
                 const std::function<Status(const WeightSource::Span &,
                                            unsigned thread)> &work,
                 const std::function<void(uint64_t)> &progress = {});

struct StreamCallbacks {
  /// Called first on each reader thread (reader 0 is the calling thread),
  /// before its first read: a GPU makes its context current there.
  std::function<Status(unsigned reader)> start;
  /// Starts moving buffer `buffer`, which holds `span`.
  std::function<Status(size_t buffer, const WeightSource::Span &span)> submit;
  /// Waits until the move submitted from `buffer` has finished.
  std::function<Status(size_t buffer)> reuse;
  /// Bytes read so far.
  std::function<void(uint64_t)> progress;
};

/// Reads every span of `source` into the staging `buffers` (each at least
/// as large as the largest span) on R = min(threads, spans, buffers) reader
/// threads and submits each; reader r owns the buffers b with b % R == r and
/// is the only one to read into, submit and reuse them. Returns after the
/// last submit and after `reuse` of every buffer still moving, even after
/// an error.
Status streamSpans(const WeightSource &source,
                   const std::vector<WeightSource::Span> &spans,
                   const std::vector<uint8_t *> &buffers, unsigned threads,
                   const StreamCallbacks &callbacks);

/// The same with the spans read by `read` (the upload benchmark's file
/// spans).
Status streamSpans(
    const std::function<Status(const WeightSource::Span &, uint8_t *)> &read,
    const std::vector<WeightSource::Span> &spans,
    const std::vector<uint8_t *> &buffers, unsigned threads,
    const StreamCallbacks &callbacks);

} // namespace dsrt

#endif // DSRT_WEIGHTSTREAMING_H
