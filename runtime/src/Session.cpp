//===- Session.cpp - sessions and the cpu device's session ---------------===//
//
// Session::create dispatches on the program's target; the cpu session
// resolves each launch argument to a host pointer (arena offset, weight,
// cache layer, or the chunk's index arrays) and hands the kernel to the
// thread pool.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Session.h"

#include <cstring>

namespace dsrt {

Status Session::checkChunk(const fb::Entry &entry, const char *name,
                           const std::vector<int32_t> &tokens,
                           const std::vector<int32_t> &positions,
                           const std::vector<int32_t> &slots) {
  int64_t count = static_cast<int64_t>(tokens.size());
  if (count == 0 || count > entry.max_tokens() ||
      positions.size() != tokens.size() || slots.size() != tokens.size())
    return Status::error(std::string(name) + ": expected 1 to " +
                         std::to_string(entry.max_tokens()) +
                         " tokens with one position and slot each");
  return Status::success();
}

Expected<std::unique_ptr<Session>>
Session::create(const Program &program, const WeightStore &weights,
                const SessionOptions &options) {
  std::string target = program.fb().target()->str();
  if (target == "cpu")
    return createCpuSession(program, weights, options);
  if (target.rfind("cuda:", 0) == 0)
    return createCudaSession(program, weights);
  return Expected<std::unique_ptr<Session>>::error(
      "this runtime cannot run programs for target '" + target + "'");
}

namespace {

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};

uint8_t *allocateZeroed(uint64_t bytes) {
  uint64_t rounded = (bytes + 63) / 64 * 64;
  void *p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (p)
    std::memset(p, 0, rounded);
  return static_cast<uint8_t *>(p);
}

class CpuSession : public Session {
public:
  CpuSession(const Program &program, const WeightStore &weights,
             const SessionOptions &options)
      : program_(program), weights_(weights), device_(options.threads),
        kernels_(options.hostKernels),
        arena_(allocateZeroed(program.fb().arena_bytes())),
        cache_(allocateZeroed(program.cacheBytes())) {}

  bool ready() const { return arena_ && cache_; }

  Expected<const float *> run(const char *entryName,
                              const std::vector<int32_t> &tokens,
                              const std::vector<int32_t> &positions,
                              const std::vector<int32_t> &slots) override {
    const fb::Entry &entry = program_.entry(entryName);
    Status ok = checkChunk(entry, entryName, tokens, positions, slots);
    if (!ok)
      return Expected<const float *>::error(ok.error());
    int64_t count = static_cast<int64_t>(tokens.size());
    const auto &kernels = *program_.fb().kernels();
    std::vector<void *> args;
    for (const fb::Launch *launch : *entry.launches()) {
      args.clear();
      for (const fb::Arg *arg : *launch->args())
        args.push_back(pointer(*arg, tokens, positions, slots));
      const fb::Kernel &kernel = *kernels.Get(launch->kernel());
      int64_t extent = kernel.parallel() == fb::ParallelDim::Tokens ? count
                       : kernel.parallel() == fb::ParallelDim::Static
                           ? kernel.extent()
                           : count * kernel.extent();
      device_.run(kernels_[launch->kernel()], args.data(), count, extent);
    }
    return reinterpret_cast<const float *>(arena_.get() +
                                           entry.logits_offset());
  }

  Status resetSlot(int32_t slot) override {
    const fb::CacheInfo &c = *program_.fb().cache();
    uint64_t slotBytes = uint64_t(c.latent() + c.rope()) * 2 * c.max_seq();
    for (int64_t layer = 0; layer < c.layers(); ++layer)
      std::memset(cache_.get() + (layer * c.slots() + slot) * slotBytes, 0,
                  slotBytes);
    return Status::success();
  }

  std::string deviceName() const override {
    return "cpu (" + std::to_string(device_.threads()) + " threads)";
  }
  bool keepsHostWeights() const override { return true; }

private:
  void *pointer(const fb::Arg &arg, const std::vector<int32_t> &tokens,
                const std::vector<int32_t> &positions,
                const std::vector<int32_t> &slots) {
    switch (arg.kind()) {
    case fb::ArgKind::Arena:
      return arena_.get() + arg.value();
    case fb::ArgKind::Weight:
      return const_cast<void *>(weights_.data(arg.value()));
    case fb::ArgKind::WeightScales:
      return const_cast<void *>(weights_.scales(arg.value()));
    case fb::ArgKind::Cache:
      return cache_.get() + arg.value();
    case fb::ArgKind::Tokens:
      return const_cast<int32_t *>(tokens.data());
    case fb::ArgKind::Positions:
      return const_cast<int32_t *>(positions.data());
    case fb::ArgKind::Slots:
      return const_cast<int32_t *>(slots.data());
    }
    return nullptr;
  }

  const Program &program_;
  const WeightStore &weights_;
  CpuDevice device_;
  const HostKernel *kernels_;
  std::unique_ptr<uint8_t, FreeDeleter> arena_, cache_;
};

} // namespace

Expected<std::unique_ptr<Session>>
createCpuSession(const Program &program, const WeightStore &weights,
                 const SessionOptions &options) {
  if (!options.hostKernels ||
      options.numHostKernels != program.fb().kernels()->size())
    return Expected<std::unique_ptr<Session>>::error(
        "corrupted program: it names " +
        std::to_string(program.fb().kernels()->size()) +
        " kernels, the executable holds " +
        std::to_string(options.numHostKernels));
  auto session = std::make_unique<CpuSession>(program, weights, options);
  if (!session->ready())
    return Expected<std::unique_ptr<Session>>::error(
        "out of memory for the activation arena or the KV cache");
  return std::unique_ptr<Session>(std::move(session));
}

} // namespace dsrt
