//===- Session.cpp - what every device's session shares ------------------===//
//
// Session::create dispatches on the program's target to the cpu session
// (device/cpu/CpuSession.cpp) or the cuda session (device/cuda/). The checks
// every device makes on a chunk, and a launch's row count and parallel
// extent, live here once, as do the calls that share the cache's pages
// (kept by each device's PagePool); so does, in LaunchArguments.h, the
// resolution of a launch's arguments.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Session.h"

#include "session/PagePool.h"

namespace dsrt {

Session::CacheUsage Session::cacheUsage() const {
  const detail::PagePool &pool = pagePool();
  return {pool.pages(), pool.pagesInUse(), pool.pagesCached()};
}

int64_t Session::pageSize() const { return pagePool().pageSize(); }

Status Session::forkSlot(int32_t from, int32_t to, int64_t positions) {
  return pagePool().forkSlot(from, to, positions);
}

int64_t Session::reusePrefix(int32_t slot, const std::vector<int32_t> &tokens,
                             int64_t most) {
  return pagePool().reusePrefix(slot, tokens, most);
}

void Session::indexPrefix(int32_t slot, const std::vector<int32_t> &tokens) {
  pagePool().indexPrefix(slot, tokens);
}

int64_t Session::pagesNeeded(const Chunk &chunk) const {
  return pagePool().pagesNeeded(chunk);
}

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
  return create(program, WeightSource::fromStore(program, weights), options);
}

Expected<std::unique_ptr<Session>>
Session::create(const Program &program, const WeightSource &weights,
                const SessionOptions &options) {
  std::string target = program.fb().target()->str();
  if (options.checkKernels && target.rfind("cuda:", 0) != 0)
    return Expected<std::unique_ptr<Session>>::error(
        "--check-kernels compares GPU kernels with their host lowering; this "
        "executable targets " +
        target);
  if (options.profile && target.rfind("cuda:", 0) != 0)
    return Expected<std::unique_ptr<Session>>::error(
        "--profile times GPU kernels inside CUDA graphs; this executable "
        "targets " +
        target);
  if (target == "cpu")
    return createCpuSession(program, weights, options);
  if (target.rfind("cuda:", 0) == 0)
    return createCudaSession(program, weights, options);
  return Expected<std::unique_ptr<Session>>::error(
      "this runtime cannot run programs for target '" + target + "'");
}

} // namespace dsrt
