//===- CudaModule.cpp - the GPU image and its kernels --------------------===//
//
// The program's GPU image (a cubin, or PTX that the driver compiles for the
// device) loaded as one module, with a CUfunction per kernel. Every launch's
// pointer arguments are fixed for the session's life, so their tables are
// resolved once (session/LaunchArguments.h) into one device buffer; a launch
// then passes its table, its row count and its parallel extent.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

namespace dsrt {

Status CudaSession::loadModule(const Program &program) {
  const CudaDriver &d = *driver_;
  const fb::Program &p = program.fb();
  if (!p.gpu_image() || p.gpu_image()->size() == 0 || !p.gpu_image_format())
    return Status::error("corrupted program: no GPU image for target " +
                         p.target()->str());
  std::string format = p.gpu_image_format()->str();
  if (format == "ptx" && p.gpu_image()->data()[p.gpu_image()->size() - 1])
    return Status::error("corrupted program: the PTX is not terminated");
  CUmodule module;
  if (Status s = d.check(d.cuModuleLoadData(&module, p.gpu_image()->data()),
                         "cuModuleLoadData");
      !s)
    return Status::error(s.error() + " (loading the " + format + " for " +
                         (p.gpu_chip() ? p.gpu_chip()->str() : "?") + " on " +
                         deviceName_ + ")");
  for (const fb::Kernel *k : *p.kernels()) {
    CUfunction f;
    std::string entry = k->name()->str() + "_entry";
    DSRT_CUDA_CHECK(d.cuModuleGetFunction(&f, module, entry.c_str()));
    // Past 48 KB a block's dynamic shared memory is opt-in per function.
    uint32_t shared = launchShapeOf(*k).sharedBytes;
    if (shared > kDefaultDynamicSharedBytes)
      if (Status s = d.check(
              d.cuFuncSetAttribute(f, kCuFuncAttrMaxDynamicSharedSizeBytes,
                                   static_cast<int>(shared)),
              "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
          !s)
        return Status::error(s.error() + " (kernel " + k->name()->str() + ", " +
                             std::to_string(shared) + " bytes)");
    functions_.push_back(f);
  }
  return Status::success();
}

Status CudaSession::buildArgumentTables(const Program &program) {
  detail::LaunchArgumentPlaces<CUdeviceptr> places;
  places.arena = arena_;
  places.cache = cache_;
  places.weights = weightPtrs_.data();
  places.weightScales = scalePtrs_.data();
  places.tokens = tokens_;
  places.positions = positions_;
  places.slots = slots_;
  places.rows = rows_;
  places.sampling = sampling_;
  places.pageTable = pageTable_;
  std::vector<CUdeviceptr> tables;
  for (const fb::Entry *e : *program.fb().entries()) {
    std::vector<uint64_t> offsets;
    for (const fb::Launch *l : *e->launches()) {
      offsets.push_back(tables.size() * sizeof(CUdeviceptr));
      for (const fb::Arg *a : *l->args())
        tables.push_back(detail::resolveLaunchArgument(*a, places));
    }
    tableOffsets_.push_back(std::move(offsets));
  }
  return upload(tables.data(), tables.size() * sizeof(CUdeviceptr), tables_);
}

Status CudaSession::launchStream(uint32_t index, CUstream &out) {
  if (index == 0) {
    out = stream_;
    return Status::success();
  }
  const CudaDriver &d = *driver_;
  while (sideStreams_.size() < index) {
    CUstream created = nullptr;
    DSRT_CUDA_CHECK(d.cuStreamCreate(&created, kCuStreamNonBlocking));
    sideStreams_.push_back(created);
  }
  out = sideStreams_[index - 1];
  return Status::success();
}

Status CudaSession::launchEvent(size_t index, CUevent &out) {
  const CudaDriver &d = *driver_;
  while (launchEvents_.size() <= index) {
    CUevent created = nullptr;
    DSRT_CUDA_CHECK(d.cuEventCreate(&created, kCuEventDisableTiming));
    launchEvents_.push_back(created);
  }
  out = launchEvents_[index];
  return Status::success();
}

Status CudaSession::launchAll(const fb::Entry &entry, size_t entryIndex,
                              const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  const auto &kernels = *program_->fb().kernels();
  const auto &offsets = tableOffsets_[entryIndex];
  const auto &list = *entry.launches();
  // Streams: the side streams join the capture behind what the session's
  // stream holds (event 0), each waited-for launch records an event after
  // it, and the session's stream waits for every side stream at the end.
  uint32_t streams = 1;
  std::vector<size_t> eventAfter; // 0: none
  size_t events = 1;
  if (launchStreams_) {
    eventAfter.assign(list.size(), 0);
    for (const fb::Launch *l : list) {
      streams = std::max<uint32_t>(streams, l->stream() + 1u);
      if (l->waits())
        for (uint32_t w : *l->waits())
          if (!eventAfter[w])
            eventAfter[w] = events++;
    }
    CUevent fork;
    if (Status s = launchEvent(0, fork); !s)
      return s;
    DSRT_CUDA_CHECK(d.cuEventRecord(fork, stream_));
    for (uint32_t s = 1; s < streams; ++s) {
      CUstream side;
      if (Status st = launchStream(s, side); !st)
        return st;
      DSRT_CUDA_CHECK(d.cuStreamWaitEvent(side, fork, 0));
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const fb::Launch &launch = *list.Get(i);
    const fb::Kernel &kernel = *kernels.Get(launch.kernel());
    CUstream on = stream_;
    if (launchStreams_) {
      if (Status s = launchStream(launch.stream(), on); !s)
        return s;
      if (launch.waits())
        for (uint32_t w : *launch.waits()) {
          CUevent after;
          if (Status s = launchEvent(eventAfter[w], after); !s)
            return s;
          DSRT_CUDA_CHECK(d.cuStreamWaitEvent(on, after, 0));
        }
    }
    int64_t count = rowCount(kernel, chunk);
    // A variant of the kernel for launches of few rows runs in its place.
    uint32_t chosen = noVariants_ ? launch.kernel()
                                  : program_->kernelFor(launch.kernel(), count);
    const fb::Kernel &runs = *kernels.Get(chosen);
    int64_t extent = extentOf(runs, count);
    // A launch with no output rows is skipped; what waits for it still
    // follows everything it followed.
    if (extent > 0)
      if (Status s =
              launchOne(launch, chosen, offsets[i], count, extent, on, chunk);
          !s)
        return s;
    if (launchStreams_ && eventAfter[i]) {
      CUevent after;
      if (Status s = launchEvent(eventAfter[i], after); !s)
        return s;
      DSRT_CUDA_CHECK(d.cuEventRecord(after, on));
    }
  }
  if (launchStreams_)
    for (uint32_t s = 1; s < streams; ++s) {
      CUstream side;
      CUevent join;
      if (Status st = launchStream(s, side); !st)
        return st;
      if (Status st = launchEvent(events + s - 1, join); !st)
        return st;
      DSRT_CUDA_CHECK(d.cuEventRecord(join, side));
      DSRT_CUDA_CHECK(d.cuStreamWaitEvent(stream_, join, 0));
    }
  if (marks_)
    return recordMark();
  return Status::success();
}

Status CudaSession::launchOne(const fb::Launch &launch, uint32_t index,
                              uint64_t tableOffset, int64_t count,
                              int64_t extent, CUstream on, const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  const fb::Kernel &kernel = *program_->fb().kernels()->Get(index);
  CUdeviceptr table = tables_ + tableOffset;
  void *params[] = {&table, &count, &extent};
  KernelLaunchShape shape = launchShapeOf(kernel);
  uint32_t grid[3];
  shape.gridFor(extent, grid);
  CUlaunchAttribute_st attributes[2]{};
  unsigned attributeCount = 0;
  if (shape.programmatic && !noProgrammatic_) {
    CUlaunchAttribute_st &a = attributes[attributeCount++];
    a.id = kLaunchAttributeProgrammaticStreamSerialization;
    a.value.programmaticStreamSerializationAllowed = 1;
  }
  if (shape.cluster > 1) {
    CUlaunchAttribute_st &a = attributes[attributeCount++];
    a.id = kLaunchAttributeClusterDimension;
    a.value.clusterDim = {shape.cluster, 1, 1};
  }
  CUlaunchConfig config{grid[0],
                        grid[1],
                        grid[2],
                        shape.block[0],
                        shape.block[1],
                        shape.block[2],
                        shape.sharedBytes,
                        on,
                        attributeCount ? attributes : nullptr,
                        attributeCount};
  if (check_)
    if (Status s = runTwin(launch, index, chunk); !s)
      return s;
  if (marks_) {
    markedKernels_.push_back(index);
    if (Status s = recordMark(); !s)
      return s;
  }
  if (Status s = d.check(
          d.cuLaunchKernelEx(&config, functions_[index], params, nullptr),
          "cuLaunchKernelEx");
      !s)
    return Status::error(s.error() + " (kernel " + kernel.name()->str() + ")");
  if (check_)
    if (Status s = compareWithTwin(launch, index, chunk); !s)
      return s;
  return Status::success();
}

} // namespace dsrt
