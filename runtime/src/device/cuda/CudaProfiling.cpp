//===- CudaProfiling.cpp - each kernel's time inside the chunk's graph ---===//
//
// --profile measures a chunk the way it runs: as one CUDA graph. After the
// chunk ran (its results already on the host), its launches are captured
// twice: once plain, as the session replays them, and once with an event
// record node between every two launches. Both graphs replay many times,
// alternately, each replay after a write of twice the L2's size so no
// replay finds the previous one's weights in the cache. A launch's time is
// the median, over the replays, of the time between the events around it;
// a kernel's time is the sum over its launches. The plain graph's median is
// the step time the kernels are held against. An event node between two
// launches costs the graph a few microseconds (the next launch waits for
// it); that cost is measured once per session on a chain of empty kernels
// with and without events between them, and subtracted from every launch's
// time. The calibration does not see the chunk, so the kernels' sum landing
// on the plain graph's time is a check of the method, not a construction.
//
// Replaying is safe: every buffer a chunk reads is written earlier in the
// same chunk or is an input that does not change (weights, the chunk's index
// arrays, the cache rows of earlier positions), and the cache rows of the
// chunk's own positions are rewritten with the values they already hold.
//
// Bytes and FLOPs come from each kernel's cost model (program.fbs
// KernelCost), evaluated at the chunk's rows and attended positions.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include <algorithm>

namespace dsrt {

namespace {

/// Replays of each graph: about a second of GPU time in all, 5 to 50.
int64_t replaysFor(double stepSeconds) {
  if (stepSeconds <= 0)
    return 50;
  return std::clamp<int64_t>(static_cast<int64_t>(0.5 / stepSeconds), 5, 50);
}

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  double upper = values[mid];
  if (values.size() % 2)
    return upper;
  double lower = *std::max_element(values.begin(), values.begin() + mid);
  return (lower + upper) / 2;
}

/// Positions the chunk's tokens (or output rows) attend to: the sum of
/// (position + 1).
int64_t attendedPositions(const fb::Kernel &kernel, const Chunk &chunk) {
  int64_t sum = 0;
  if (kernel.rows() == fb::RowCount::Outputs) {
    for (int32_t row : chunk.rows)
      sum += chunk.positions[row] + 1;
  } else {
    for (int32_t position : chunk.positions)
      sum += position + 1;
  }
  return sum;
}

/// An empty kernel, as PTX the driver compiles for any chip: the launches of
/// the marker calibration.
const char kEmptyKernelPtx[] = ".version 7.0\n"
                               ".target sm_50\n"
                               ".address_size 64\n"
                               ".visible .entry dsrt_profile_empty()\n"
                               "{\n"
                               "  ret;\n"
                               "}\n";
constexpr int kCalibrationLaunches = 256;
constexpr int kCalibrationReplays = 30;

} // namespace

Status CudaSession::calibrateMarkers() {
  const CudaDriver &d = *driver_;
  CUmodule module = nullptr;
  CUfunction empty = nullptr;
  DSRT_CUDA_CHECK(d.cuModuleLoadData(&module, kEmptyKernelPtx));
  DSRT_CUDA_CHECK(d.cuModuleGetFunction(&empty, module, "dsrt_profile_empty"));
  auto capture = [&](bool marks, CUgraphExec &exec) -> Status {
    DSRT_CUDA_CHECK(
        d.cuStreamBeginCapture(stream_, kCuStreamCaptureThreadLocal));
    marksUsed_ = 0;
    Status ok = Status::success();
    for (int i = 0; ok && i < kCalibrationLaunches; ++i) {
      if (marks)
        ok = recordMark();
      CUlaunchConfig config{1, 1, 1, 32, 1, 1, 0, stream_, nullptr, 0};
      if (ok)
        ok = d.check(d.cuLaunchKernelEx(&config, empty, nullptr, nullptr),
                     "cuLaunchKernelEx(empty)");
    }
    if (ok && marks)
      ok = recordMark();
    CUgraph graph = nullptr;
    Status ended =
        d.check(d.cuStreamEndCapture(stream_, &graph), "cuStreamEndCapture");
    if (ok && ended)
      ok = d.check(d.cuGraphInstantiateWithFlags(&exec, graph, 0),
                   "cuGraphInstantiateWithFlags");
    if (graph)
      d.cuGraphDestroy(graph);
    return ok ? ended : ok;
  };
  CUgraphExec plain = nullptr, marked = nullptr;
  Status ok = capture(false, plain);
  if (ok)
    ok = capture(true, marked);
  std::vector<double> times[2];
  for (int r = 0; ok && r <= kCalibrationReplays; ++r)
    for (int which = 0; ok && which < 2; ++which) {
      float ms = 0;
      ok = d.check(d.cuEventRecord(stepStart_, stream_), "cuEventRecord");
      if (ok)
        ok = d.check(d.cuGraphLaunch(which ? marked : plain, stream_),
                     "cuGraphLaunch");
      if (ok)
        ok = d.check(d.cuEventRecord(stepEnd_, stream_), "cuEventRecord");
      if (ok)
        ok = d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
      if (ok)
        ok = d.check(d.cuEventElapsedTime(&ms, stepStart_, stepEnd_),
                     "cuEventElapsedTime");
      if (ok && r > 0) // the first replay warms up
        times[which].push_back(ms * 1e-3);
    }
  for (CUgraphExec g : {plain, marked})
    if (g)
      d.cuGraphExecDestroy(g);
  if (!ok)
    return ok;
  markerSeconds_ = std::max(0.0, (median(times[1]) - median(times[0])) /
                                     (kCalibrationLaunches + 1));
  return Status::success();
}

Status CudaSession::recordMark() {
  const CudaDriver &d = *driver_;
  if (marksUsed_ == events_.size()) {
    CUevent e = nullptr;
    DSRT_CUDA_CHECK(d.cuEventCreate(&e, 0));
    events_.push_back(e);
  }
  return d.check(d.cuEventRecordWithFlags(events_[marksUsed_++], stream_,
                                          kCuEventRecordExternal),
                 "cuEventRecordWithFlags(EXTERNAL)");
}

Status CudaSession::profileChunk(const fb::Entry &entry, size_t entryIndex,
                                 const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  if (!d.cuEventCreate || !d.cuEventRecordWithFlags || !d.cuEventElapsedTime ||
      !d.cuMemsetD8Async)
    return Status::error("--profile needs event timing in graphs "
                         "(cuEventRecordWithFlags, CUDA 11.1 or later); this "
                         "driver lacks it");
  if (!flush_) {
    int l2 = 0;
    DSRT_CUDA_CHECK(d.cuDeviceGetAttribute(&l2, kCuAttrL2CacheSize, device_));
    flushBytes_ = std::max<size_t>(2 * static_cast<size_t>(l2), 16u << 20);
    if (Status s = allocate(flushBytes_, flush_); !s)
      return s;
    DSRT_CUDA_CHECK(d.cuEventCreate(&stepStart_, 0));
    DSRT_CUDA_CHECK(d.cuEventCreate(&stepEnd_, 0));
  }
  if (markerSeconds_ < 0)
    if (Status s = calibrateMarkers(); !s)
      return s;

  CUgraphExec plain = nullptr, marked = nullptr;
  if (Status s = captureGraph(entry, entryIndex, chunk, false, plain); !s)
    return s;
  Status captured = captureGraph(entry, entryIndex, chunk, true, marked);
  auto destroy = [&] {
    for (CUgraphExec g : {plain, marked})
      if (g)
        d.cuGraphExecDestroy(g);
  };
  if (!captured) {
    destroy();
    return captured;
  }
  size_t launches = markedKernels_.size();

  std::vector<std::vector<double>> launchTimes(launches);
  std::vector<double> stepTimes, markedTimes;
  auto flush = [&] {
    return d.check(
        d.cuMemsetD8Async(flush_, ++flushValue_, flushBytes_, stream_),
        "cuMemsetD8Async(L2 flush)");
  };
  auto elapsed = [&](CUevent from, CUevent to, double &seconds) {
    float ms = 0;
    Status s =
        d.check(d.cuEventElapsedTime(&ms, from, to), "cuEventElapsedTime");
    seconds = ms * 1e-3;
    return s;
  };
  auto replayPlain = [&](bool keep) -> Status {
    if (Status s = flush(); !s)
      return s;
    DSRT_CUDA_CHECK(d.cuEventRecord(stepStart_, stream_));
    DSRT_CUDA_CHECK(d.cuGraphLaunch(plain, stream_));
    DSRT_CUDA_CHECK(d.cuEventRecord(stepEnd_, stream_));
    DSRT_CUDA_CHECK(d.cuStreamSynchronize(stream_));
    double seconds = 0;
    if (Status s = elapsed(stepStart_, stepEnd_, seconds); !s)
      return s;
    if (keep)
      stepTimes.push_back(seconds);
    return Status::success();
  };
  auto replayMarked = [&](bool keep) -> Status {
    if (Status s = flush(); !s)
      return s;
    DSRT_CUDA_CHECK(d.cuGraphLaunch(marked, stream_));
    DSRT_CUDA_CHECK(d.cuStreamSynchronize(stream_));
    if (!keep)
      return Status::success();
    for (size_t j = 0; j < launches; ++j) {
      double seconds = 0;
      if (Status s = elapsed(events_[j], events_[j + 1], seconds); !s)
        return s;
      launchTimes[j].push_back(seconds);
    }
    double total = 0;
    if (Status s = elapsed(events_[0], events_[launches], total); !s)
      return s;
    markedTimes.push_back(total);
    return Status::success();
  };

  // One untimed replay of each (first-run costs), then alternate.
  Status ok = replayMarked(false);
  if (ok)
    ok = replayPlain(true);
  int64_t replays = replaysFor(stepTimes.empty() ? 0 : stepTimes[0]);
  stepTimes.clear();
  for (int64_t r = 0; ok && r < replays; ++r) {
    ok = replayMarked(true);
    if (ok)
      ok = replayPlain(true);
  }
  destroy();
  if (!ok)
    return ok;

  const fb::Program &p = program_->fb();
  const auto &kernels = *p.kernels();
  ChunkProfile profile;
  profile.entry = entry.name()->str();
  profile.tokens = static_cast<int64_t>(chunk.tokens.size());
  profile.outputs = static_cast<int64_t>(chunk.rows.size());
  for (int32_t position : chunk.positions)
    profile.context += position + 1;
  profile.replays = replays;
  profile.stepSeconds = median(stepTimes);
  profile.markedSeconds = median(markedTimes);
  profile.markerSeconds = markerSeconds_;
  if (const fb::DeviceCeilings *c = p.device()) {
    profile.ceilingsOf = c->name() ? c->name()->str() : "";
    profile.bandwidth = c->memory_bytes_per_second();
    profile.bf16Flops = c->bf16_flops_per_second();
    profile.fp8Flops = c->fp8_flops_per_second();
  }
  std::map<uint32_t, KernelProfile> byKernel;
  for (size_t j = 0; j < launches; ++j) {
    uint32_t index = markedKernels_[j];
    const fb::Kernel &kernel = *kernels.Get(index);
    KernelProfile &k = byKernel[index];
    if (k.launches == 0) {
      k.name = kernel.name()->str();
      k.summary = kernel.summary() ? kernel.summary()->str() : "";
      k.hasCost = kernel.cost() != nullptr;
    }
    ++k.launches;
    k.seconds += std::max(0.0, median(launchTimes[j]) - markerSeconds_);
    KernelWork work;
    if (kernelWork(kernel, rowCount(kernel, chunk),
                   attendedPositions(kernel, chunk), work)) {
      k.bytes += work.bytes;
      k.flops += work.flops;
      k.fp8 = kernel.cost()->fp8();
    }
  }
  for (auto &[index, k] : byKernel)
    profile.kernels.push_back(std::move(k));
  std::sort(profile.kernels.begin(), profile.kernels.end(),
            [](const KernelProfile &a, const KernelProfile &b) {
              return a.seconds > b.seconds;
            });
  profiles_.push_back(std::move(profile));
  return Status::success();
}

} // namespace dsrt
