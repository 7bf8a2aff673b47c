//===- CudaGraphs.cpp - chunks as CUDA graphs ----------------------------===//
//
// A chunk's launches, sampling included, need nothing from the host: every
// index array is read from device memory and every argument table is fixed,
// so what they depend on is the entry and the chunk's (tokens, outputs),
// which set each launch's grid and row-count arguments. A graph captured
// for that key and replayed with one cuGraphLaunch replaces the chunk's
// hundreds of kernel launches and runs the same kernels with the same
// arguments, so its results are the eager path's bit for bit. The graph
// keeps the program's streams: a launch follows the previous launch of its
// stream and the launches it waits for, so independent kernels run side by
// side (DSRT_ONE_STREAM captures them in list order instead).
//
// Cache policy: a decode step is captured the first time its (tokens,
// outputs) is met and kept (at most max_tokens^2 keys, a handful of batch
// sizes in practice). A prefill chunk is captured the second time its size
// is met, the first running eagerly: a prompt's full chunks repeat, its
// last, partial chunk rarely does, and a capture costs about an eager run
// plus the instantiation. At most kMaxPrefillGraphs prefill graphs are kept,
// the least recently used destroyed first. --check-kernels and
// DSRT_NO_GRAPHS launch one kernel at a time instead.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

namespace dsrt {

namespace {
/// Prefill graphs kept at once.
constexpr size_t kMaxPrefillGraphs = 16;
/// Prefill sizes remembered as met once; forgotten all together past this.
constexpr size_t kMaxPrefillSeen = 256;
} // namespace

bool CudaSession::usesGraphs() const { return !noGraphs_ && !check_; }

void CudaSession::destroyGraphs() {
  for (auto &[key, graph] : graphs_)
    driver_->cuGraphExecDestroy(graph.exec);
  graphs_.clear();
  prefillGraphs_ = 0;
}

Status CudaSession::launchGraph(const fb::Entry &entry, size_t entryIndex,
                                const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  GraphKey key{entryIndex, chunk.tokens.size(), chunk.rows.size()};
  auto found = graphs_.find(key);
  if (found == graphs_.end()) {
    bool prefill = entry.name()->str() != "decode";
    if (prefill) {
      // The first time a size is met it runs eagerly.
      if (prefillSeen_.size() >= kMaxPrefillSeen)
        prefillSeen_.clear();
      if (prefillSeen_.insert(key).second)
        return launchAll(entry, entryIndex, chunk);
      prefillSeen_.erase(key);
      if (prefillGraphs_ >= kMaxPrefillGraphs) {
        auto oldest = graphs_.end();
        for (auto it = graphs_.begin(); it != graphs_.end(); ++it)
          if (it->second.prefill &&
              (oldest == graphs_.end() ||
               it->second.lastUse < oldest->second.lastUse))
            oldest = it;
        // A graph still running is freed when it completes.
        if (Status s = d.check(d.cuGraphExecDestroy(oldest->second.exec),
                               "cuGraphExecDestroy");
            !s)
          return s;
        graphs_.erase(oldest);
        --prefillGraphs_;
      }
    }
    CUgraphExec exec = nullptr;
    if (Status s = captureGraph(entry, entryIndex, chunk, false, exec); !s)
      return s;
    found = graphs_.emplace(key, CachedGraph{exec, 0, prefill}).first;
    if (prefill)
      ++prefillGraphs_;
  }
  found->second.lastUse = ++graphUses_;
  return d.check(d.cuGraphLaunch(found->second.exec, stream_), "cuGraphLaunch");
}

Status CudaSession::captureGraph(const fb::Entry &entry, size_t entryIndex,
                                 const Chunk &chunk, bool marks,
                                 CUgraphExec &exec) {
  const CudaDriver &d = *driver_;
  if (Status s =
          d.check(d.cuStreamBeginCapture(stream_, kCuStreamCaptureThreadLocal),
                  "cuStreamBeginCapture");
      !s)
    return s;
  marks_ = marks;
  marksUsed_ = 0;
  markedKernels_.clear();
  // A marked graph times each launch between two events on one stream.
  launchStreams_ = !marks && !oneStream_ && d.cuEventCreate &&
                   d.cuEventRecord && d.cuStreamWaitEvent && d.cuEventDestroy;
  Status launched = launchAll(entry, entryIndex, chunk);
  marks_ = false;
  launchStreams_ = false;
  CUgraph captured = nullptr;
  Status ended =
      d.check(d.cuStreamEndCapture(stream_, &captured), "cuStreamEndCapture");
  if (!launched) {
    if (captured)
      d.cuGraphDestroy(captured);
    return launched;
  }
  if (!ended)
    return ended;
  Status made = d.check(d.cuGraphInstantiateWithFlags(&exec, captured, 0),
                        "cuGraphInstantiateWithFlags");
  d.cuGraphDestroy(captured);
  return made;
}

} // namespace dsrt
