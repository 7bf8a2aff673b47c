//===- CudaKernelCheck.cpp - GPU kernels against their host twins --------===//
//
// --check-kernels (executables from `dsc compile --check-kernels`): before
// each GPU launch, the kernel's generic host lowering (its host twin) runs on
// a host mirror of the arena and the cache; after it, what the GPU wrote (the
// kernel's outputs, and the cache rows of the chunk's tokens) is compared
// with the twin's results and copied into the mirror, so the next twin reads
// exactly the next GPU kernel's inputs. Float outputs are compared by
// relative L2 error, integer outputs exactly; elements that neither kernel
// changed do not count. Slow; a diagnostic.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace dsrt {

Status CudaSession::initKernelCheck(const Program &program,
                                    const WeightSource &weights,
                                    const SessionOptions &options) {
  const auto *twins = program.fb().host_twins();
  if (!twins)
    return Status::error("this executable was not compiled with "
                         "--check-kernels (dsc compile --check-kernels)");
  if (!options.hostKernels ||
      options.numHostKernels != program.fb().kernels()->size())
    return Status::error("corrupted program: it names " +
                         std::to_string(program.fb().kernels()->size()) +
                         " kernels, the executable holds " +
                         std::to_string(options.numHostKernels) +
                         " host twins");
  const WeightStore *host = weights.store();
  if (!host) {
    Expected<WeightStore> loaded = WeightStore::load(weights);
    if (!loaded)
      return Status::error(loaded.error());
    hostWeights_ = std::make_unique<WeightStore>(loaded.take());
    host = hostWeights_.get();
  }
  check_ = std::make_unique<KernelCheck>();
  check_->hostKernels = options.hostKernels;
  check_->weights = detail::HostWeightTables(*host);
  check_->cpu = std::make_unique<CpuDevice>(options.threads);
  check_->arena.assign(program.fb().arena_bytes(), 0);
  check_->cache.assign(pages_->pages() * program.cachePageBytes(), 0);
  check_->stats.resize(program.fb().kernels()->size());
  return Status::success();
}

std::string CudaSession::kernelCheckReport(bool &passed) const {
  passed = true;
  if (!check_)
    return "";
  const auto &kernels = *program_->fb().kernels();
  std::string out = "kernel         launches  max rel err  int mismatches  "
                    "result  op\n";
  char line[512];
  for (size_t k = 0; k < check_->stats.size(); ++k) {
    const KernelStats &st = check_->stats[k];
    if (st.launches == 0)
      continue;
    bool ok = st.failures == 0;
    passed &= ok;
    std::snprintf(line, sizeof(line), "%-14s %8lld  %11.2e  %14lld  %-6s  %s\n",
                  kernels.Get(k)->name()->c_str(),
                  static_cast<long long>(st.launches), st.maxRelError,
                  static_cast<long long>(st.intMismatches), ok ? "ok" : "FAIL",
                  kernels.Get(k)->summary()->str().substr(0, 90).c_str());
    out += line;
  }
  return out;
}

Status CudaSession::runTwin(const fb::Launch &launch, uint32_t index,
                            const Chunk &chunk) {
  const fb::Kernel &twin = *program_->fb().host_twins()->Get(index);
  int64_t rows = rowCount(twin, chunk);
  // The outputs as they are before either kernel writes them.
  const fb::Kernel &kernel = *program_->fb().kernels()->Get(index);
  check_->before.clear();
  if (kernel.outputs())
    for (const fb::KernelOutput *o : *kernel.outputs()) {
      uint64_t offset = launch.args()->Get(o->arg())->value();
      uint64_t bytes = uint64_t(rowCount(kernel, chunk)) * o->row_elements() *
                       dtypeBytes(o->dtype());
      const uint8_t *at = check_->arena.data() + offset;
      check_->before.insert(check_->before.end(), at, at + bytes);
    }
  detail::HostArgumentPlaces places = detail::hostArgumentPlaces(
      check_->arena.data(), check_->cache.data(), pages_->table().data(),
      check_->weights, chunk);
  std::vector<void *> args;
  for (const fb::Arg *a : *launch.args())
    args.push_back(detail::resolveLaunchArgument(*a, places));
  check_->cpu->run(check_->hostKernels[index], args.data(), rows,
                   extentOf(twin, rows));
  return Status::success();
}

Status CudaSession::compareWithTwin(const fb::Launch &launch, uint32_t index,
                                    const Chunk &chunk) {
  const CudaDriver &d = *driver_;
  const fb::Kernel &kernel = *program_->fb().kernels()->Get(index);
  KernelStats &st = check_->stats[index];
  ++st.launches;
  int64_t rows = rowCount(kernel, chunk);
  if (Status s = d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
      !s)
    return Status::error(s.error() + " (kernel " + kernel.name()->str() + ")");
  struct Region {
    uint64_t offset, bytes;
    fb::DType dtype;
    bool cache;
  };
  std::vector<Region> regions;
  if (kernel.outputs())
    for (const fb::KernelOutput *o : *kernel.outputs())
      regions.push_back(
          {launch.args()->Get(o->arg())->value(),
           uint64_t(rows) * o->row_elements() * dtypeBytes(o->dtype()),
           o->dtype(), false});
  if (kernel.writes_cache()) {
    // The rows of the chunk's tokens in the layer the launch addresses.
    const fb::CacheInfo &c = *program_->fb().cache();
    uint64_t rowBytes = uint64_t(c.latent() + c.rope()) * 2;
    int64_t pages = program_->pagesPerSequence();
    for (const fb::Arg *a : *launch.args())
      if (a->kind() == fb::ArgKind::Cache)
        for (size_t t = 0; t < chunk.tokens.size(); ++t) {
          int64_t position = chunk.positions[t];
          int32_t page =
              pages_
                  ->table()[chunk.slots[t] * pages + position / c.page_size()];
          regions.push_back({a->value() +
                                 uint64_t(page) * program_->cachePageBytes() +
                                 uint64_t(position % c.page_size()) * rowBytes,
                             rowBytes, fb::DType::BF16, true});
        }
  }
  double diff2 = 0, ref2 = 0;
  bool nonFinite = false;
  int64_t mismatches = 0;
  uint64_t beforeOffset = 0; // arena outputs come first, in runTwin's order
  for (const Region &r : regions) {
    uint8_t *mirror =
        (r.cache ? check_->cache.data() : check_->arena.data()) + r.offset;
    const uint8_t *before = nullptr;
    if (!r.cache && beforeOffset + r.bytes <= check_->before.size()) {
      before = check_->before.data() + beforeOffset;
      beforeOffset += r.bytes;
    }
    check_->scratch.resize(r.bytes);
    if (Status s = d.check(
            d.cuMemcpyDtoH(check_->scratch.data(),
                           (r.cache ? cache_ : arena_) + r.offset, r.bytes),
            "cuMemcpyDtoH(kernel check)");
        !s)
      return s;
    const uint8_t *gpu = check_->scratch.data();
    size_t n = r.bytes / dtypeBytes(r.dtype);
    size_t width = dtypeBytes(r.dtype);
    for (size_t i = 0; i < n; ++i) {
      // Unwritten by both kernels: not an output element.
      if (before &&
          std::memcmp(gpu + width * i, before + width * i, width) == 0 &&
          std::memcmp(mirror + width * i, before + width * i, width) == 0)
        continue;
      if (r.dtype == fb::DType::I32) {
        int32_t x, y;
        std::memcpy(&x, gpu + 4 * i, 4);
        std::memcpy(&y, mirror + 4 * i, 4);
        mismatches += x != y;
        continue;
      }
      float x, y;
      if (r.dtype == fb::DType::F32) {
        std::memcpy(&x, gpu + 4 * i, 4);
        std::memcpy(&y, mirror + 4 * i, 4);
      } else {
        uint16_t hx, hy;
        std::memcpy(&hx, gpu + 2 * i, 2);
        std::memcpy(&hy, mirror + 2 * i, 2);
        uint32_t wx = uint32_t(hx) << 16, wy = uint32_t(hy) << 16;
        std::memcpy(&x, &wx, 4);
        std::memcpy(&y, &wy, 4);
      }
      if (std::isfinite(x) != std::isfinite(y)) {
        nonFinite = true;
        continue;
      }
      if (!std::isfinite(y))
        continue;
      diff2 += double(x - y) * double(x - y);
      ref2 += double(y) * double(y);
    }
    std::memcpy(mirror, gpu, r.bytes);
  }
  double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  if (nonFinite)
    rel = INFINITY;
  st.maxRelError = std::max(st.maxRelError, rel);
  st.intMismatches += mismatches;
  if (rel > kMaxRelError || mismatches > 0)
    ++st.failures;
  return Status::success();
}

} // namespace dsrt
