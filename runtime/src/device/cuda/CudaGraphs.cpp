//===- CudaGraphs.cpp - decode steps as CUDA graphs ----------------------===//
//
// Decode steps replay a CUDA graph captured once per (tokens, outputs): the
// step's launches, sampling included, need nothing from the host (every
// index array is read from device memory), so one cuGraphLaunch replaces a
// step's hundreds of kernel launches. Profiling, --check-kernels and
// DSRT_NO_GRAPHS launch one kernel at a time instead.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

namespace dsrt {

bool CudaSession::usesGraph(const char *entryName) const {
  return !profile_ && !noGraphs_ && !check_ &&
         std::string(entryName) == "decode";
}

Status CudaSession::launchGraph(const fb::Entry &entry, size_t entryIndex,
                                const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  auto &exec = graphs_[{chunk.tokens.size(), chunk.rows.size()}];
  if (!exec) {
    if (Status s = d.check(
            d.cuStreamBeginCapture(stream_, kCuStreamCaptureThreadLocal),
            "cuStreamBeginCapture");
        !s)
      return s;
    Status launched = launchAll(entry, entryIndex, chunk);
    CUgraph captured = nullptr;
    Status ended =
        d.check(d.cuStreamEndCapture(stream_, &captured), "cuStreamEndCapture");
    if (!launched)
      return launched;
    if (!ended)
      return ended;
    Status made = d.check(d.cuGraphInstantiateWithFlags(&exec, captured, 0),
                          "cuGraphInstantiateWithFlags");
    d.cuGraphDestroy(captured);
    if (!made)
      return made;
  }
  return d.check(d.cuGraphLaunch(exec, stream_), "cuGraphLaunch");
}

} // namespace dsrt
