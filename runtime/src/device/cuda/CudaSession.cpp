//===- CudaSession.cpp - the cuda device's session -----------------------===//
//
// Loads the program's GPU image (cubin, or PTX the driver compiles), uploads
// the weights once, and allocates the arena, the KV cache and the chunk's
// index buffers on the device. Every launch's pointer arguments are fixed,
// so their tables are built and uploaded once; a chunk then costs one small
// copy of its token ids, positions, slots, output rows and sampling
// parameters, the launches, and the copy of the sampled ids back (and of the
// outputs' logits when asked). Every driver call is checked and reported by its
// error name. This file holds the device, context and stream and the chunk's
// round trip; CudaSession.h lists the other parts.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include <cstring>
#include <tuple>

namespace dsrt {

CudaSession::~CudaSession() {
  if (!driver_)
    return;
  destroyGraphs();
  for (CUevent e : events_)
    driver_->cuEventDestroy(e);
  for (CUevent e : launchEvents_)
    driver_->cuEventDestroy(e);
  for (CUevent e : {stepStart_, stepEnd_})
    if (e)
      driver_->cuEventDestroy(e);
  for (CUdeviceptr p : allocations_)
    driver_->cuMemFree(p);
}

Status CudaSession::init(const Program &program, const WeightSource &weights,
                         const SessionOptions &options) {
  auto phaseStart = std::chrono::steady_clock::now();
  // Ends the current start-up phase as `name`, moving `bytes`.
  auto endPhase = [&](const char *name, uint64_t bytes) {
    auto now = std::chrono::steady_clock::now();
    startup_.push_back(
        {name, std::chrono::duration<double>(now - phaseStart).count(), bytes});
    phaseStart = now;
  };
  program_ = &program;
  canProfile_ = profile_ = options.profile;
  pages_ = std::make_unique<detail::PagePool>(program, options.cachePages);
  if (options.checkKernels)
    if (Status s = initKernelCheck(program, weights, options); !s)
      return s;
  auto driver = CudaDriver::load();
  if (!driver)
    return Status::error(driver.error() +
                         "; this executable was compiled "
                         "for " +
                         program.fb().target()->str() +
                         " and needs an NVIDIA GPU");
  driver_ = driver.value();
  const CudaDriver &d = *driver_;
  DSRT_CUDA_CHECK(d.cuInit(0));
  int devices = 0;
  DSRT_CUDA_CHECK(d.cuDeviceGetCount(&devices));
  if (devices == 0)
    return Status::error("no CUDA device; this executable was compiled for " +
                         program.fb().target()->str());
  CUdevice &device = device_;
  DSRT_CUDA_CHECK(d.cuDeviceGet(&device, 0));
  char name[256] = {};
  DSRT_CUDA_CHECK(d.cuDeviceGetName(name, sizeof(name) - 1, device));
  int major = 0, minor = 0;
  DSRT_CUDA_CHECK(
      d.cuDeviceGetAttribute(&major, kCuAttrComputeCapabilityMajor, device));
  DSRT_CUDA_CHECK(
      d.cuDeviceGetAttribute(&minor, kCuAttrComputeCapabilityMinor, device));
  deviceName_ = std::string(name) + " (sm_" + std::to_string(major) +
                std::to_string(minor) + ")";
  DSRT_CUDA_CHECK(d.cuDevicePrimaryCtxRetain(&context_, device));
  DSRT_CUDA_CHECK(d.cuCtxSetCurrent(context_));
  DSRT_CUDA_CHECK(d.cuStreamCreate(&stream_, 0));
  endPhase("device", 0);

  if (Status s = loadModule(program); !s)
    return s;
  endPhase("gpu image",
           program.fb().gpu_image() ? program.fb().gpu_image()->size() : 0);
  // Device memory: weights (read from the checkpoint as they upload, when
  // they are not in host memory already), arena, cache, the chunk's index
  // arrays.
  double staging = 0;
  if (Status s = uploadWeights(program, weights, options.loadProgress, staging);
      !s)
    return s;
  auto uploaded = std::chrono::steady_clock::now();
  startup_.push_back({"weights staging", staging, 0});
  startup_.push_back(
      {weights.store()       ? "weights upload"
       : weights.quantizes() ? "weights read+quantize+upload"
                             : "weights read+upload",
       std::chrono::duration<double>(uploaded - phaseStart).count() - staging,
       weights.sourceBytes()});
  phaseStart = uploaded;
  if (Status s = allocateBuffers(program); !s)
    return s;
  if (Status s = buildArgumentTables(program); !s)
    return s;
  endPhase("buffers", 0);
  const fb::Program &p = program.fb();
  logits_.resize(static_cast<size_t>(maxTokens_ * p.model()->vocab_size()));
  next_.resize(static_cast<size_t>(maxTokens_));
  return Status::success();
}

Expected<ChunkResult> CudaSession::run(const char *entryName,
                                       const Chunk &chunk) {
  const fb::Program &p = program_->fb();
  size_t entryIndex = 0;
  for (; entryIndex < p.entries()->size(); ++entryIndex)
    if (p.entries()->Get(entryIndex)->name()->str() == entryName)
      break;
  if (entryIndex == p.entries()->size())
    return Expected<ChunkResult>::error(std::string("the program has no '") +
                                        entryName + "' entry point");
  const fb::Entry &entry = *p.entries()->Get(entryIndex);
  Status ok = checkChunk(entry, entryName, chunk);
  if (!ok)
    return Expected<ChunkResult>::error(ok.error());
  const CudaDriver &d = *driver_;
  // The calling thread may not be the one that created the session (the
  // server's engine thread): the context becomes current on it.
  if (Status s = d.check(d.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return Expected<ChunkResult>::error(s.error());
  // New pages for the chunk's positions; the table goes to the device before
  // the chunk's copies and launches (same stream order: a synchronous copy).
  detail::PageChanges changes;
  if (Status s = pages_->assign(chunk, changes); !s)
    return Expected<ChunkResult>::error(s.error());
  if (Status s = applyPageChanges(changes); !s)
    return Expected<ChunkResult>::error(s.error());
  if (pages_->takeTableChanged())
    if (Status s = d.check(d.cuMemcpyHtoD(pageTable_, pages_->table().data(),
                                          pages_->table().size() * 4),
                           "cuMemcpyHtoD(page table)");
        !s)
      return Expected<ChunkResult>::error(s.error());
  auto fail = [](const Status &s) {
    return Expected<ChunkResult>::error(s.error());
  };
  struct Copy {
    CUdeviceptr to;
    const void *from;
    size_t bytes;
    const char *what;
  };
  size_t count = chunk.tokens.size(), outputs = chunk.rows.size();
  for (const Copy &c :
       {Copy{tokens_, chunk.tokens.data(), count * 4,
             "cuMemcpyHtoDAsync(tokens)"},
        Copy{positions_, chunk.positions.data(), count * 4,
             "cuMemcpyHtoDAsync(positions)"},
        Copy{slots_, chunk.slots.data(), count * 4, "cuMemcpyHtoDAsync(slots)"},
        Copy{rows_, chunk.rows.data(), outputs * 4, "cuMemcpyHtoDAsync(rows)"},
        Copy{sampling_, chunk.sampling.data(), outputs * sizeof(SamplingRow),
             "cuMemcpyHtoDAsync(sampling)"}})
    if (c.bytes)
      if (Status s = d.check(
              d.cuMemcpyHtoDAsync(c.to, c.from, c.bytes, stream_), c.what);
          !s)
        return fail(s);
  if (usesGraphs()) {
    if (Status s = launchGraph(entry, entryIndex, chunk); !s)
      return fail(s);
  } else if (Status s = launchAll(entry, entryIndex, chunk); !s) {
    return fail(s);
  }
  ChunkResult result;
  if (outputs) {
    if (Status s = d.check(d.cuMemcpyDtoHAsync(next_.data(),
                                               arena_ + entry.sampled_offset(),
                                               outputs * 4, stream_),
                           "cuMemcpyDtoHAsync(sampled tokens)");
        !s)
      return fail(s);
    result.next = next_.data();
  }
  if (chunk.wantLogits && outputs) {
    size_t bytes = outputs * p.model()->vocab_size() * 4;
    if (Status s = d.check(d.cuMemcpyDtoHAsync(logits_.data(),
                                               arena_ + entry.logits_offset(),
                                               bytes, stream_),
                           "cuMemcpyDtoHAsync(logits)");
        !s)
      return fail(s);
    result.logits = logits_.data();
  }
  if (chunk.wantLogProbs && outputs && entry.top_logprobs() >= 0) {
    size_t columns = static_cast<size_t>(entry.top_logprobs()) + 1;
    logProbs_.resize(outputs * columns);
    logProbIds_.resize(outputs * columns);
    for (auto [to, offset, what] :
         {std::tuple<void *, uint64_t, const char *>{
              logProbs_.data(), entry.logprobs_offset(),
              "cuMemcpyDtoHAsync(log-probabilities)"},
          {logProbIds_.data(), entry.logprob_ids_offset(),
           "cuMemcpyDtoHAsync(log-probability ids)"}})
      if (Status s =
              d.check(d.cuMemcpyDtoHAsync(to, arena_ + offset,
                                          outputs * columns * 4, stream_),
                      what);
          !s)
        return fail(s);
    result.topLogProbs = entry.top_logprobs();
    result.logProbs = logProbs_.data();
    result.logProbIds = logProbIds_.data();
  }
  if (Status s = d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
      !s)
    return fail(s);
  // The chunk's results are on the host; replaying its launches rewrites the
  // arena and the cache rows of its own positions with the same values.
  if (profile_ && profiled_.insert({entryIndex, count, outputs}).second)
    if (Status s = profileChunk(entry, entryIndex, chunk); !s)
      return fail(s);
  return result;
}

Status CudaSession::applyPageChanges(const detail::PageChanges &changes) {
  const CudaDriver &d = *driver_;
  uint64_t pageBytes = program_->cachePageBytes();
  for (int32_t page : changes.zero) {
    if (Status s =
            d.check(d.cuMemsetD8(cache_ + page * pageBytes, 0, pageBytes),
                    "cuMemsetD8(cache)");
        !s)
      return s;
    if (check_)
      std::memset(check_->cache.data() + page * pageBytes, 0, pageBytes);
  }
  for (auto [from, to] : changes.copies) {
    if (Status s = d.check(d.cuMemcpyDtoD(cache_ + to * pageBytes,
                                          cache_ + from * pageBytes, pageBytes),
                           "cuMemcpyDtoD(cache page)");
        !s)
      return s;
    if (check_)
      std::memcpy(check_->cache.data() + to * pageBytes,
                  check_->cache.data() + from * pageBytes, pageBytes);
  }
  return Status::success();
}

Status CudaSession::resetSlot(int32_t slot) {
  if (slot < 0 || slot >= program_->fb().cache()->slots())
    return Status::error("slot " + std::to_string(slot) +
                         " is outside the KV cache");
  if (Status s =
          driver_->check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent");
      !s)
    return s;
  // The pages nothing else holds go back to the pool, zeroed.
  detail::PageChanges changes;
  pages_->release(slot, changes.zero);
  return applyPageChanges(changes);
}

Expected<std::unique_ptr<Session>>
createCudaSession(const Program &program, const WeightSource &weights,
                  const SessionOptions &options) {
  auto session = std::make_unique<CudaSession>();
  Status ok = session->init(program, weights, options);
  if (!ok)
    return Expected<std::unique_ptr<Session>>::error(ok.error());
  return std::unique_ptr<Session>(std::move(session));
}

} // namespace dsrt
