//===- CudaMemory.cpp - device memory of the cuda session ----------------===//
//
// Every device allocation of a CudaSession (freed with the session): the
// weights and their scales, uploaded once with progress on a terminal; the
// activation arena; the KV cache, zeroed; and the buffers the chunk's index
// arrays are copied into, sized for the largest entry.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

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

Status CudaSession::uploadWeights(const Program &program,
                                  const WeightStore &weights) {
  const fb::Program &p = program.fb();
  const auto &ws = *p.weights();
  bool tty = isatty(fileno(stderr));
  auto uploadStart = std::chrono::steady_clock::now();
  uint64_t uploaded = 0;
  for (uint32_t i = 0; i < ws.size(); ++i) {
    if (tty) {
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - uploadStart)
                           .count();
      std::fprintf(stderr, "\ruploading weights %5.1f%% (%.1f GB/s)",
                   100.0 * uploaded /
                       std::max<uint64_t>(weights.totalBytes(), 1),
                   seconds > 0 ? uploaded / seconds / 1e9 : 0.0);
    }
    uint64_t bytes = program.weightElements(i) * dtypeBytes(ws.Get(i)->dtype());
    CUdeviceptr data = 0, scales = 0;
    if (Status s = upload(weights.data(i), bytes, data); !s)
      return s;
    if (ws.Get(i)->dtype() == fb::DType::F8_E4M3) // checkpoint or quantized
      if (Status s =
              upload(weights.scales(i), program.scaleElements(i) * 4, scales);
          !s)
        return s;
    weightPtrs_.push_back(data);
    scalePtrs_.push_back(scales);
    uploaded += bytes + program.scaleElements(i) * 4;
  }
  if (tty)
    std::fprintf(stderr, "\ruploaded %.2f GB of weights to %s\n",
                 uploaded / 1e9, deviceName_.c_str());
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
