//===- Session.h - KV cache, arena and entry points of a model ----*- C++
//-*-===//
//
// A Session owns what one running model needs on its device: the weights
// there, the activation arena and the latent KV cache, sized by the program.
// run() executes an entry point's launches for one chunk of tokens (each
// with its position and cache slot) and returns, for the chunk's output
// rows, the tokens the program sampled and, when asked, their logits. Two
// devices implement it: `cpu` (kernels compiled into the executable, run by a
// thread pool) and `cuda` (kernels in the program's GPU image, launched through
// the dlopen'd driver).
//
// Threading: one call at a time, from any thread (the cuda session makes its
// context current on the calling thread).
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SESSION_H
#define DSRT_SESSION_H

#include "dsrt/CpuDevice.h"
#include "dsrt/Expected.h"
#include "dsrt/Profile.h"
#include "dsrt/Program.h"
#include "dsrt/Sampling.h"
#include "dsrt/WeightSource.h"
#include "dsrt/WeightStreaming.h"
#include "dsrt/Weights.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dsrt {
namespace detail {
class PagePool;
} // namespace detail

struct SessionOptions {
  unsigned threads = 0;                    // cpu: worker threads (0: all)
  const HostKernel *hostKernels = nullptr; // cpu: the executable's table
  size_t numHostKernels = 0;
  /// cuda, executables built with `dsc compile --check-kernels`: run every
  /// launch's generic host lowering (hostKernels, the program's host_twins)
  /// on the same inputs and compare what both write. Slow; a diagnostic.
  bool checkKernels = false;
  /// Pages in the KV cache pool (0: enough for every slot's whole
  /// sequence, Program::cacheBytes()).
  int64_t cachePages = 0;
  /// Called as the weights are read or uploaded: (bytes done, bytes in
  /// all), on the creating thread (the executable shows it on a terminal).
  LoadProgress loadProgress;
  /// cuda: profile every kernel of the first chunk of each shape (entry,
  /// tokens, outputs) inside a CUDA graph (profiles()). The chunk's results
  /// are those of a run without profiling.
  bool profile = false;
};

/// One call of an entry point.
struct Chunk {
  /// Token i is tokens[i] at position positions[i] of the sequence in cache
  /// slot slots[i]; 1 to the entry's max_tokens of them.
  std::vector<int32_t> tokens, positions, slots;
  /// The output rows: indices into tokens whose logits are computed and
  /// sampled (at most max_tokens; may be empty, e.g. for the first chunks of
  /// a long prompt).
  std::vector<int32_t> rows;
  /// One per output row.
  std::vector<SamplingRow> sampling;
  /// Copy the outputs' logits to the host (they stay on the device
  /// otherwise).
  bool wantLogits = false;
  /// Copy the outputs' log-probabilities to the host, where the program
  /// reports them (dsc compile --logprobs=K).
  bool wantLogProbs = false;
};

/// What run() gives back, valid until the next run().
struct ChunkResult {
  const int32_t *next = nullptr; // [rows]: the sampled tokens
  const float *logits = nullptr; // [rows, vocab] f32 when wantLogits
  /// When wantLogProbs and the entry reports them: per row, topLogProbs + 1
  /// log-probabilities (log_softmax(logits / T) before truncation; T = 1
  /// for greedy rows) and their token ids: the sampled token first, then
  /// the topLogProbs most likely tokens in decreasing order.
  const float *logProbs = nullptr;
  const int32_t *logProbIds = nullptr;
  int32_t topLogProbs = -1;
};

/// One step of a session's start (driver and context, the GPU image, the
/// weights' upload, buffers): its wall time and the bytes it moved (0 where
/// it moves none).
struct StartupPhase {
  std::string name;
  double seconds = 0;
  uint64_t bytes = 0;
};

class Session {
public:
  virtual ~Session() = default;

  /// A session on the device the program was compiled for. GPU sessions
  /// stream the weights from `weights` to the device during creation
  /// (checkpoint bytes go through pinned buffers, with no host copy); the
  /// cpu session (and --check-kernels) runs on the store `weights` was made
  /// from, or on a host copy it loads. What `weights` refers to may be
  /// freed afterwards only when !keepsHostWeights().
  static Expected<std::unique_ptr<Session>>
  create(const Program &program, const WeightSource &weights,
         const SessionOptions &options);
  /// The same for weights in host memory (WeightSource::fromStore).
  static Expected<std::unique_ptr<Session>>
  create(const Program &program, const WeightStore &weights,
         const SessionOptions &options);

  /// Runs entry point `entry` ("prefill" or "decode") on `chunk`.
  virtual Expected<ChunkResult> run(const char *entry, const Chunk &chunk) = 0;

  /// Empties slot `slot` of the cache.
  virtual Status resetSlot(int32_t slot) = 0;

  /// The KV cache's pages: how many, how many sequences hold (a page
  /// several slots share counts once), and how many only the prefix index
  /// holds (reclaimed when the pool needs them).
  struct CacheUsage {
    int64_t pages = 0, inUse = 0, cached = 0;
  };
  CacheUsage cacheUsage() const;
  /// Positions per page of the cache.
  int64_t pageSize() const;

  /// Sharing the cache's pages between sequences (the server's engine). A
  /// slot may map pages that other slots or the prefix index hold; a chunk
  /// that writes a position in such a page first gets a copy of it (copy on
  /// write), so a sequence never changes what another reads.
  ///
  /// Maps into empty slot `to` the pages holding positions [0, positions)
  /// of slot `from` (the n samples of one prompt).
  Status forkSlot(int32_t from, int32_t to, int64_t positions);
  /// Maps into empty slot `slot` the pages of the prefix index that hold
  /// the longest prefix of `tokens` in whole pages, at most `most`
  /// positions; returns how many positions they hold (run() need not write
  /// them again).
  int64_t reusePrefix(int32_t slot, const std::vector<int32_t> &tokens,
                      int64_t most);
  /// Adds to the prefix index the full pages of `slot` whose positions hold
  /// `tokens` (the slot has written positions [0, tokens.size())). Indexed
  /// pages outlive the slot's reset until the pool needs them.
  void indexPrefix(int32_t slot, const std::vector<int32_t> &tokens);
  /// Pages run(…, chunk) would take from the pool (new and copied ones).
  int64_t pagesNeeded(const Chunk &chunk) const;

  /// "cpu (16 threads)", "NVIDIA H200 (sm_90)".
  virtual std::string deviceName() const = 0;

  /// Whether run() reads the WeightStore passed to create().
  virtual bool keepsHostWeights() const = 0;

  /// With SessionOptions::checkKernels: one line per kernel (launches
  /// compared, the largest relative error, integer mismatches) and whether
  /// every comparison passed. Empty and true otherwise.
  virtual std::string kernelCheckReport(bool &passed) const {
    passed = true;
    return "";
  }

  /// The steps of create(), in order, for the start-up report (--bench,
  /// --json); empty where a device does not break its start down.
  virtual std::vector<StartupPhase> startupPhases() const { return {}; }

  /// With SessionOptions::profile: the chunks profiled so far, in order.
  virtual std::vector<ChunkProfile> profiles() const { return {}; }
  /// In a session created with SessionOptions::profile: stops profiling
  /// (false), or starts again with every chunk shape new (true).
  virtual void setProfiling(bool /*on*/) {}

protected:
  /// The cache's pages and page table (each device keeps one).
  virtual detail::PagePool &pagePool() = 0;
  const detail::PagePool &pagePool() const {
    return const_cast<Session *>(this)->pagePool();
  }
  /// The checks every device makes before running a chunk.
  static Status checkChunk(const fb::Entry &entry, const char *name,
                           const Chunk &chunk);
  /// The row count a launch of `kernel` covers, and its parallel extent.
  static int64_t rowCount(const fb::Kernel &kernel, const Chunk &chunk);
  static int64_t extentOf(const fb::Kernel &kernel, int64_t rows);
};

/// Sessions of each device (Session::create picks by the program's target).
Expected<std::unique_ptr<Session>>
createCpuSession(const Program &program, const WeightSource &weights,
                 const SessionOptions &options);
Expected<std::unique_ptr<Session>>
createCudaSession(const Program &program, const WeightSource &weights,
                  const SessionOptions &options);

} // namespace dsrt

#endif // DSRT_SESSION_H
