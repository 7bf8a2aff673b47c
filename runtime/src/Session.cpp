//===- Session.cpp - run entry points over the arena and cache -----------===//
//
// Resolves each launch argument to a pointer (arena offset, weight, cache
// layer, or the chunk's index arrays) and hands the kernel to the device.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Session.h"

#include <cstring>

namespace dsrt {

static uint8_t *allocateZeroed(uint64_t bytes) {
  uint64_t rounded = (bytes + 63) / 64 * 64;
  void *p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (p)
    std::memset(p, 0, rounded);
  return static_cast<uint8_t *>(p);
}

Session::Session(const Program &program, const WeightStore &weights,
                 CpuDevice &device, const HostKernel *kernels,
                 size_t numKernels)
    : program_(program), weights_(weights), device_(device),
      kernels_(kernels), arena_(allocateZeroed(program.fb().arena_bytes())),
      cache_(allocateZeroed(program.cacheBytes())) {
  (void)numKernels;
}

void Session::resetSlot(int32_t slot) {
  const fb::CacheInfo &c = *program_.fb().cache();
  uint64_t row = uint64_t(c.latent() + c.rope()) * 2;
  uint64_t slotBytes = row * c.max_seq();
  for (int64_t layer = 0; layer < c.layers(); ++layer)
    std::memset(cache_.get() + (layer * c.slots() + slot) * slotBytes, 0,
                slotBytes);
}

Expected<const float *> Session::run(const char *entryName,
                                     const std::vector<int32_t> &tokens,
                                     const std::vector<int32_t> &positions,
                                     const std::vector<int32_t> &slots) {
  const fb::Entry &entry = program_.entry(entryName);
  int64_t count = static_cast<int64_t>(tokens.size());
  if (count == 0 || count > entry.max_tokens() ||
      positions.size() != tokens.size() || slots.size() != tokens.size())
    return Expected<const float *>::error(
        std::string(entryName) + ": expected 1 to " +
        std::to_string(entry.max_tokens()) +
        " tokens with one position and slot each");
  if (!arena_ || !cache_)
    return Expected<const float *>::error(
        "out of memory for the activation arena or the KV cache");

  const auto &kernels = *program_.fb().kernels();
  std::vector<void *> args;
  for (const fb::Launch *launch : *entry.launches()) {
    args.clear();
    for (const fb::Arg *arg : *launch->args()) {
      void *p = nullptr;
      switch (arg->kind()) {
      case fb::ArgKind::Arena:
        p = arena_.get() + arg->value();
        break;
      case fb::ArgKind::Weight:
        p = const_cast<void *>(weights_.data(arg->value()));
        break;
      case fb::ArgKind::WeightScales:
        p = const_cast<void *>(weights_.scales(arg->value()));
        break;
      case fb::ArgKind::Cache:
        p = cache_.get() + arg->value();
        break;
      case fb::ArgKind::Tokens:
        p = const_cast<int32_t *>(tokens.data());
        break;
      case fb::ArgKind::Positions:
        p = const_cast<int32_t *>(positions.data());
        break;
      case fb::ArgKind::Slots:
        p = const_cast<int32_t *>(slots.data());
        break;
      }
      args.push_back(p);
    }
    const fb::Kernel &kernel = *kernels.Get(launch->kernel());
    int64_t extent = kernel.parallel() == fb::ParallelDim::Tokens ? count
                     : kernel.parallel() == fb::ParallelDim::Static
                         ? kernel.extent()
                         : count * kernel.extent();
    device_.run(kernels_[launch->kernel()], args.data(), count, extent);
  }
  return reinterpret_cast<const float *>(arena_.get() + entry.logits_offset());
}

} // namespace dsrt
