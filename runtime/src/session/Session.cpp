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
                           const Chunk &chunk) {
  int64_t count = static_cast<int64_t>(chunk.tokens.size());
  if (count == 0 || count > entry.max_tokens() ||
      chunk.positions.size() != chunk.tokens.size() ||
      chunk.slots.size() != chunk.tokens.size())
    return Status::error(std::string(name) + ": expected 1 to " +
                         std::to_string(entry.max_tokens()) +
                         " tokens with one position and slot each");
  if (static_cast<int64_t>(chunk.rows.size()) > entry.max_tokens() ||
      chunk.sampling.size() != chunk.rows.size())
    return Status::error(std::string(name) + ": expected at most " +
                         std::to_string(entry.max_tokens()) +
                         " output rows with sampling parameters each");
  for (int32_t row : chunk.rows)
    if (row < 0 || row >= count)
      return Status::error(std::string(name) + ": output row " +
                           std::to_string(row) +
                           " is not a token of the "
                           "chunk");
  return Status::success();
}

int64_t Session::rowCount(const fb::Kernel &kernel, const Chunk &chunk) {
  return static_cast<int64_t>(kernel.rows() == fb::RowCount::Outputs
                                  ? chunk.rows.size()
                                  : chunk.tokens.size());
}

int64_t Session::extentOf(const fb::Kernel &kernel, int64_t rows) {
  switch (kernel.parallel()) {
  case fb::ParallelDim::Tokens:
    return rows;
  case fb::ParallelDim::Static:
    return rows ? kernel.extent() : 0;
  case fb::ParallelDim::TokensTimesStatic:
    return rows * kernel.extent();
  }
  return 0;
}

Expected<std::unique_ptr<Session>>
Session::create(const Program &program, const WeightStore &weights,
                const SessionOptions &options) {
  std::string target = program.fb().target()->str();
  if (options.checkKernels && target.rfind("cuda:", 0) != 0)
    return Expected<std::unique_ptr<Session>>::error(
        "--check-kernels compares GPU kernels with their host lowering; this "
        "executable targets " +
        target);
  if (target == "cpu")
    return createCpuSession(program, weights, options);
  if (target.rfind("cuda:", 0) == 0)
    return createCudaSession(program, weights, options);
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

  Expected<ChunkResult> run(const char *entryName,
                            const Chunk &chunk) override {
    const fb::Entry &entry = program_.entry(entryName);
    Status ok = checkChunk(entry, entryName, chunk);
    if (!ok)
      return Expected<ChunkResult>::error(ok.error());
    const auto &kernels = *program_.fb().kernels();
    std::vector<void *> args;
    for (const fb::Launch *launch : *entry.launches()) {
      const fb::Kernel &kernel = *kernels.Get(launch->kernel());
      int64_t rows = rowCount(kernel, chunk);
      int64_t extent = extentOf(kernel, rows);
      if (extent == 0)
        continue; // no output rows
      args.clear();
      for (const fb::Arg *arg : *launch->args())
        args.push_back(pointer(*arg, chunk));
      device_.run(kernels_[launch->kernel()], args.data(), rows, extent);
    }
    ChunkResult result;
    result.next = reinterpret_cast<const int32_t *>(arena_.get() +
                                                    entry.sampled_offset());
    if (chunk.wantLogits)
      result.logits =
          reinterpret_cast<const float *>(arena_.get() + entry.logits_offset());
    return result;
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
  void *pointer(const fb::Arg &arg, const Chunk &chunk) {
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
      return const_cast<int32_t *>(chunk.tokens.data());
    case fb::ArgKind::Positions:
      return const_cast<int32_t *>(chunk.positions.data());
    case fb::ArgKind::Slots:
      return const_cast<int32_t *>(chunk.slots.data());
    case fb::ArgKind::Rows:
      return const_cast<int32_t *>(chunk.rows.data());
    case fb::ArgKind::Sampling:
      return const_cast<SamplingRow *>(chunk.sampling.data());
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
