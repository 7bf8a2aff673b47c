//===- CudaMemory.cpp - device memory of the cuda session ----------------===//
//
// Every device allocation of a CudaSession (freed with the session): the
// weights and their scales; the activation arena; the KV cache, zeroed; and
// the buffers the chunk's index arrays are copied into, sized for the
// largest entry.
//
// The weights stream from their source (dsrt/WeightStreaming.h): reader
// threads pread checkpoint spans of up to 16 MB into a ring of pinned host
// buffers while the session's thread copies full ones to the device on two
// copy streams, so the reads, the copies and (--quantize=fp8) the device
// quantiser overlap and no host copy of the weights is made.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include "device/cuda/CudaQuantize.h"

#include "dsrt/WeightStreaming.h"

#include <algorithm>
#include <cstdlib>

namespace dsrt {

Status CudaSession::allocate(uint64_t bytes, CUdeviceptr &out) {
  if (Status s = driver_->check(
          driver_->cuMemAlloc(&out, std::max<uint64_t>(bytes, 256)),
          "cuMemAlloc");
      !s)
    return Status::error(s.error() + " (" + std::to_string(bytes) + " bytes)");
  allocations_.push_back(out);
  return Status::success();
}

Status CudaSession::upload(const void *host, uint64_t bytes, CUdeviceptr &out) {
  if (Status s = allocate(bytes, out); !s)
    return s;
  return driver_->check(driver_->cuMemcpyHtoD(out, host, bytes),
                        "cuMemcpyHtoD(weights)");
}

namespace {

/// The staging of one upload, released when it ends (after the last copy
/// from it finished): pinned host buffers, their events, the copy streams,
/// the device buffers quantized spans land in, the non-finite counters.
struct UploadStaging {
  const CudaDriver &d;
  void *host = nullptr;
  bool pinned = false;
  std::vector<CUevent> events;
  std::vector<CUstream> streams;
  std::vector<CUdeviceptr> device;
  CUdeviceptr counters = 0;

  explicit UploadStaging(const CudaDriver &driver) : d(driver) {}
  ~UploadStaging() {
    for (CUstream s : streams)
      if (d.cuStreamDestroy)
        d.cuStreamDestroy(s);
    for (CUevent e : events)
      if (d.cuEventDestroy)
        d.cuEventDestroy(e);
    for (CUdeviceptr p : device)
      d.cuMemFree(p);
    if (counters)
      d.cuMemFree(counters);
    if (pinned)
      d.cuMemFreeHost(host);
    else
      std::free(host);
  }
};

} // namespace

Status CudaSession::uploadWeights(const Program &program,
                                  const WeightSource &source,
                                  const LoadProgress &progress,
                                  double &stagingSeconds) {
  auto started = std::chrono::steady_clock::now();
  const CudaDriver &d = *driver_;
  const auto &ws = *program.fb().weights();
  for (uint32_t i = 0; i < ws.size(); ++i) {
    CUdeviceptr data = 0, scales = 0;
    uint64_t bytes = program.weightElements(i) * dtypeBytes(ws.Get(i)->dtype());
    if (Status s = allocate(bytes, data); !s)
      return Status::error(s.error() + " for weight '" +
                           ws.Get(i)->symbol()->str() + "'");
    if (ws.Get(i)->dtype() == fb::DType::F8_E4M3) // checkpoint or quantized
      if (Status s = allocate(program.scaleElements(i) * 4, scales); !s)
        return Status::error(s.error() + " for the scales of weight '" +
                             ws.Get(i)->symbol()->str() + "'");
    weightPtrs_.push_back(data);
    scalePtrs_.push_back(scales);
  }

  // A ring of staging buffers, two per reader thread, each as large as the
  // largest span; pinned, so each copy is one DMA that overlaps the reads.
  std::vector<WeightSource::Span> spans = source.spans(kLoadSpanBytes);
  uint64_t slotBytes = kLoadSpanBytes;
  for (const WeightSource::Span &span : spans)
    slotBytes = std::max(slotBytes, (span.bytes + 4095) / 4096 * 4096);
  unsigned threads = loadThreads();
  size_t slots =
      std::max<size_t>(std::min<size_t>(2 * size_t(threads), spans.size()), 1);
  UploadStaging staging(d);
  if (d.cuMemHostAlloc && d.cuMemFreeHost &&
      d.cuMemHostAlloc(&staging.host, slots * slotBytes, 0) == 0)
    staging.pinned = true;
  else if (!(staging.host = std::aligned_alloc(4096, slots * slotBytes)))
    return Status::error("out of memory allocating " +
                         std::to_string(slots * slotBytes) +
                         " bytes of staging buffers for the weights");
  std::vector<uint8_t *> buffers;
  for (size_t k = 0; k < slots; ++k)
    buffers.push_back(static_cast<uint8_t *>(staging.host) + k * slotBytes);
  // A copy stream per buffer (each reader submits its own buffers); each
  // buffer's event marks the end of its copy (and of the quantiser that
  // reads it on the device).
  bool events = d.cuEventCreate && d.cuEventRecord && d.cuEventSynchronize &&
                d.cuEventDestroy;
  for (size_t k = 0; k < slots; ++k) {
    CUstream stream = nullptr;
    DSRT_CUDA_CHECK(d.cuStreamCreate(&stream, kCuStreamNonBlocking));
    staging.streams.push_back(stream);
  }
  for (size_t k = 0; events && k < slots; ++k) {
    CUevent event = nullptr;
    DSRT_CUDA_CHECK(d.cuEventCreate(&event, kCuEventDisableTiming));
    staging.events.push_back(event);
  }
  // Quantized at load: each span lands in its buffer's device twin and is
  // quantised from there into the weight.
  CudaFp8Quantizer quantizer;
  if (source.quantizes()) {
    if (Status s = quantizer.load(d); !s)
      return s;
    for (size_t k = 0; k < slots; ++k) {
      CUdeviceptr p = 0;
      if (Status s = d.check(d.cuMemAlloc(&p, slotBytes), "cuMemAlloc"); !s)
        return Status::error(s.error() + " (" + std::to_string(slotBytes) +
                             " bytes of staging for the fp8 quantiser)");
      staging.device.push_back(p);
    }
    DSRT_CUDA_CHECK(d.cuMemAlloc(&staging.counters, ws.size() * 8));
    DSRT_CUDA_CHECK(d.cuMemsetD8(staging.counters, 0, ws.size() * 8));
  }
  // The copy streams do not wait for the default stream, where
  // cuMemsetD8 may still run.
  DSRT_CUDA_CHECK(d.cuCtxSynchronize());

  stagingSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();

  const std::vector<WeightSource::Piece> &pieces = source.pieces();
  auto where = [&](const WeightSource::Span &span) {
    const WeightSource::Piece &piece = pieces[span.piece];
    return piece.tensor
               ? " (tensor '" + piece.tensor->name + "' of " +
                     piece.file->path() + ")"
               : " (weight '" + ws.Get(piece.weight)->symbol()->str() + "')";
  };
  StreamCallbacks callbacks;
  callbacks.start = [&](unsigned) {
    return d.check(d.cuCtxSetCurrent(context_), "cuCtxSetCurrent(weights)");
  };
  callbacks.submit = [&](size_t buffer,
                         const WeightSource::Span &span) -> Status {
    const WeightSource::Piece &piece = pieces[span.piece];
    CUstream stream = staging.streams[buffer];
    Status s = Status::success();
    if (!piece.quantize) {
      CUdeviceptr to = (piece.scales ? scalePtrs_ : weightPtrs_)[piece.weight] +
                       piece.offset + span.begin;
      s = d.check(d.cuMemcpyHtoDAsync(to, buffers[buffer], span.bytes, stream),
                  "cuMemcpyHtoDAsync(weights)");
    } else {
      WeightSource::Band band = source.bandOf(span);
      s = d.check(d.cuMemcpyHtoDAsync(staging.device[buffer], buffers[buffer],
                                      span.bytes, stream),
                  "cuMemcpyHtoDAsync(weights to quantize)");
      if (s)
        s = quantizer.launch(stream, staging.device[buffer],
                             weightPtrs_[piece.weight] + band.valuesOffset,
                             scalePtrs_[piece.weight] + band.scalesOffset,
                             staging.counters + uint64_t(piece.weight) * 8,
                             band.rows, piece.cols, piece.blockRows,
                             piece.blockCols);
    }
    if (s)
      s = events ? d.check(d.cuEventRecord(staging.events[buffer], stream),
                           "cuEventRecord(weights)")
                 : d.check(d.cuStreamSynchronize(stream),
                           "cuStreamSynchronize(weights)");
    return s ? s : Status::error(s.error() + where(span));
  };
  callbacks.reuse = [&](size_t buffer) -> Status {
    if (!events)
      return Status::success();
    return d.check(d.cuEventSynchronize(staging.events[buffer]),
                   "cuEventSynchronize(weights)");
  };
  uint64_t total = source.sourceBytes();
  callbacks.progress = [&](uint64_t done) {
    if (progress)
      progress(done, total);
  };
  Status streamed = streamSpans(source, spans, buffers, threads, callbacks);
  for (CUstream stream : staging.streams)
    if (Status s = d.check(d.cuStreamSynchronize(stream),
                           "cuStreamSynchronize(weights)");
        !s && streamed)
      streamed = s;
  if (!streamed)
    return streamed;
  if (source.quantizes()) {
    std::vector<uint64_t> nonFinite(ws.size());
    DSRT_CUDA_CHECK(
        d.cuMemcpyDtoH(nonFinite.data(), staging.counters, ws.size() * 8));
    for (uint32_t i = 0; i < ws.size(); ++i)
      if (nonFinite[i])
        return Status::error(source.nonFiniteMessage(i, nonFinite[i]));
  }
  return Status::success();
}

Status CudaSession::allocateBuffers(const Program &program) {
  const fb::Program &p = program.fb();
  const CudaDriver &d = *driver_;
  maxTokens_ = 0;
  for (const fb::Entry *e : *p.entries())
    maxTokens_ = std::max<int64_t>(maxTokens_, e->max_tokens());
  if (Status s = allocate(p.arena_bytes(), arena_); !s)
    return s;
  if (check_) // the host mirror starts equal to the device arena
    DSRT_CUDA_CHECK(
        d.cuMemsetD8(arena_, 0, std::max<uint64_t>(p.arena_bytes(), 1)));
  uint64_t cacheBytes = pages_->pages() * program.cachePageBytes();
  if (Status s = allocate(cacheBytes, cache_); !s)
    return s;
  DSRT_CUDA_CHECK(d.cuMemsetD8(cache_, 0, cacheBytes));
  if (Status s = upload(pages_->table().data(), pages_->table().size() * 4,
                        pageTable_);
      !s)
    return s;
  for (CUdeviceptr *p : {&tokens_, &positions_, &slots_, &rows_})
    if (Status s = allocate(maxTokens_ * 4, *p); !s)
      return s;
  if (Status s = allocate(maxTokens_ * sizeof(SamplingRow), sampling_); !s)
    return s;
  return Status::success();
}

} // namespace dsrt
