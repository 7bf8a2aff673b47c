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

Status CudaSession::launchAll(const fb::Entry &entry, size_t entryIndex,
                              const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  const auto &kernels = *program_->fb().kernels();
  const auto &offsets = tableOffsets_[entryIndex];
  for (size_t i = 0; i < entry.launches()->size(); ++i) {
    const fb::Launch &launch = *entry.launches()->Get(i);
    const fb::Kernel &kernel = *kernels.Get(launch.kernel());
    int64_t count = rowCount(kernel, chunk);
    int64_t extent = extentOf(kernel, count);
    if (extent == 0)
      continue; // no output rows
    CUdeviceptr table = tables_ + offsets[i];
    void *params[] = {&table, &count, &extent};
    KernelLaunchShape shape = launchShapeOf(kernel);
    uint32_t grid[3];
    shape.gridFor(extent, grid);
    bool overlaps = shape.programmatic && !noProgrammatic_;
    CUlaunchAttribute_st programmatic{};
    programmatic.id = kLaunchAttributeProgrammaticStreamSerialization;
    programmatic.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig config{
        grid[0],           grid[1],        grid[2],
        shape.block[0],    shape.block[1], shape.block[2],
        shape.sharedBytes, stream_,        overlaps ? &programmatic : nullptr,
        overlaps ? 1u : 0u};
    if (check_)
      if (Status s = runTwin(launch, chunk); !s)
        return s;
    if (marks_) {
      markedKernels_.push_back(launch.kernel());
      if (Status s = recordMark(); !s)
        return s;
    }
    if (Status s =
            d.check(d.cuLaunchKernelEx(&config, functions_[launch.kernel()],
                                       params, nullptr),
                    "cuLaunchKernelEx");
        !s)
      return Status::error(s.error() + " (kernel " + kernel.name()->str() +
                           ")");
    if (check_)
      if (Status s = compareWithTwin(launch, chunk); !s)
        return s;
  }
  if (marks_)
    return recordMark();
  return Status::success();
}

} // namespace dsrt
