//===- CpuSession.cpp - the cpu device's session --------------------------===//
//
// The session of programs compiled for `cpu`: the kernels are compiled into
// the executable (its host kernel table), the arena and the KV cache are
// 64-byte aligned host memory, and each launch's arguments resolve to host
// pointers (arena offset, weight, cache layer, or the chunk's index arrays)
// before the kernel goes to the thread pool.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Session.h"

#include "session/LaunchArguments.h"
#include "session/PagePool.h"

#include <cstdlib>
#include <cstring>

namespace dsrt {

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
        pages_(program, options.cachePages),
        cache_(allocateZeroed(pages_.pages() * program.cachePageBytes())) {}

  bool ready() const { return arena_ && cache_; }

  Expected<ChunkResult> run(const char *entryName,
                            const Chunk &chunk) override {
    const fb::Entry &entry = program_.entry(entryName);
    Status ok = checkChunk(entry, entryName, chunk);
    if (!ok)
      return Expected<ChunkResult>::error(ok.error());
    detail::PageChanges changes;
    if (Status s = pages_.assign(chunk, changes); !s)
      return Expected<ChunkResult>::error(s.error());
    const uint64_t pageBytes = program_.cachePageBytes();
    for (int32_t page : changes.zero)
      std::memset(cache_.get() + page * pageBytes, 0, pageBytes);
    for (auto [from, to] : changes.copies)
      std::memcpy(cache_.get() + to * pageBytes,
                  cache_.get() + from * pageBytes, pageBytes);
    const auto &kernels = *program_.fb().kernels();
    detail::HostArgumentPlaces places = detail::hostArgumentPlaces(
        arena_.get(), cache_.get(), pages_.table().data(), weights_, chunk);
    std::vector<void *> args;
    for (const fb::Launch *launch : *entry.launches()) {
      int64_t rows = rowCount(*kernels.Get(launch->kernel()), chunk);
      // A variant of the kernel for launches of few rows runs in its place.
      uint32_t index = program_.kernelFor(launch->kernel(), rows);
      int64_t extent = extentOf(*kernels.Get(index), rows);
      if (extent == 0)
        continue; // no output rows
      args.clear();
      for (const fb::Arg *arg : *launch->args())
        args.push_back(detail::resolveLaunchArgument(*arg, places));
      device_.run(kernels_[index], args.data(), rows, extent);
    }
    ChunkResult result;
    result.next = reinterpret_cast<const int32_t *>(arena_.get() +
                                                    entry.sampled_offset());
    if (chunk.wantLogits)
      result.logits =
          reinterpret_cast<const float *>(arena_.get() + entry.logits_offset());
    if (chunk.wantLogProbs && entry.top_logprobs() >= 0) {
      result.topLogProbs = entry.top_logprobs();
      result.logProbs = reinterpret_cast<const float *>(
          arena_.get() + entry.logprobs_offset());
      result.logProbIds = reinterpret_cast<const int32_t *>(
          arena_.get() + entry.logprob_ids_offset());
    }
    return result;
  }

  Status resetSlot(int32_t slot) override {
    if (slot < 0 || slot >= program_.fb().cache()->slots())
      return Status::error("slot " + std::to_string(slot) +
                           " is outside the KV cache");
    // The slot's pages go back to the pool, zeroed.
    released_.clear();
    pages_.release(slot, released_);
    for (int32_t page : released_)
      std::memset(cache_.get() + page * program_.cachePageBytes(), 0,
                  program_.cachePageBytes());
    return Status::success();
  }

  std::string deviceName() const override {
    return "cpu (" + std::to_string(device_.threads()) + " threads)";
  }
  bool keepsHostWeights() const override { return true; }
  void ownWeights(std::unique_ptr<WeightStore> weights) {
    ownedWeights_ = std::move(weights);
  }

protected:
  detail::PagePool &pagePool() override { return pages_; }

private:
  const Program &program_;
  detail::HostWeightTables weights_;
  CpuDevice device_;
  const HostKernel *kernels_;
  std::unique_ptr<uint8_t, FreeDeleter> arena_;
  detail::PagePool pages_; // before cache_, which it sizes
  std::unique_ptr<uint8_t, FreeDeleter> cache_;
  std::vector<int32_t> released_;
  std::unique_ptr<WeightStore> ownedWeights_; // when it read them itself
};

} // namespace

Expected<std::unique_ptr<Session>>
createCpuSession(const Program &program, const WeightSource &source,
                 const SessionOptions &options) {
  if (!options.hostKernels ||
      options.numHostKernels != program.fb().kernels()->size())
    return Expected<std::unique_ptr<Session>>::error(
        "corrupted program: it names " +
        std::to_string(program.fb().kernels()->size()) +
        " kernels, the executable holds " +
        std::to_string(options.numHostKernels));
  // The kernels read host weights: the store the source was made from, or
  // a copy read from it, owned by the session.
  std::unique_ptr<WeightStore> owned;
  const WeightStore *weights = source.store();
  if (!weights) {
    WeightStore::LoadOptions load;
    load.progress = options.loadProgress;
    Expected<WeightStore> loaded = WeightStore::load(source, load);
    if (!loaded)
      return Expected<std::unique_ptr<Session>>::error(loaded.error());
    owned = std::make_unique<WeightStore>(loaded.take());
    weights = owned.get();
  }
  auto session = std::make_unique<CpuSession>(program, *weights, options);
  session->ownWeights(std::move(owned));
  if (!session->ready())
    return Expected<std::unique_ptr<Session>>::error(
        "out of memory for the activation arena or the KV cache");
  return std::unique_ptr<Session>(std::move(session));
}

} // namespace dsrt
