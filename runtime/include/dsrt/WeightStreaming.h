//===- WeightStreaming.h - weight spans on several threads ------*- C++ -*-===//
//
// The two ways the weights of a WeightSource are moved, both on several
// reader threads (loadThreads()):
//
//  * readSpans(): each span is handed to a worker that puts it where it
//    belongs (WeightStore::load reads straight into the host buffers, or
//    into a scratch buffer it quantises from).
//  * streamSpans(): a small ring of staging buffers (pinned host memory for
//    a GPU); readers fill free buffers, the calling thread hands each full
//    one to `submit` (an asynchronous copy to the device, a kernel) and,
//    before a buffer is filled again, to `reuse` (which waits for that
//    copy). Reading the next spans overlaps the copies of the last ones;
//    every device call stays on the calling thread.
//
// Both stop at the first error (a read, a worker, submit or reuse) and
// return it once every thread has stopped. Progress is reported on the
// calling thread (streamSpans) or under a lock (readSpans), in bytes read,
// never decreasing.
//
// Threading: the callbacks of readSpans() run on several threads at once;
// those of streamSpans() only on the calling thread.
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
  /// Starts moving buffer `buffer`, which holds `span`.
  std::function<Status(size_t buffer, const WeightSource::Span &span)> submit;
  /// Waits until the move submitted from `buffer` has finished.
  std::function<Status(size_t buffer)> reuse;
  /// Bytes read so far.
  std::function<void(uint64_t)> progress;
};

/// Reads every span of `source` into the staging `buffers` (each at least
/// as large as the largest span) on up to `threads` reader threads and
/// submits each; returns after the last submit and after `reuse` of every
/// buffer still moving.
Status streamSpans(const WeightSource &source,
                   const std::vector<WeightSource::Span> &spans,
                   const std::vector<uint8_t *> &buffers, unsigned threads,
                   const StreamCallbacks &callbacks);

} // namespace dsrt

#endif // DSRT_WEIGHTSTREAMING_H
