//===- CudaSession.h - the cuda device's session ----------------*- C++ -*-===//
//
// The session of programs compiled for `cuda:<chip>`. Its parts live in one
// file each, after IREE's CUDA HAL driver (allocator, executable, graph
// command buffer, tracing):
//
//   CudaSession.cpp      device, context and stream; run(); resetSlot()
//   CudaMemory.cpp       device allocations, the weights' upload, the arena,
//                        cache and index buffers
//   CudaQuantize.cpp     the device quantiser of --quantize=fp8 weights
//   CudaModule.cpp       the GPU image, its kernels, their argument tables and
//                        launches
//   CudaGraphs.cpp       chunks captured as CUDA graphs (decode per batch
//                        size, prefill per repeated chunk size), replayed
//   CudaProfiling.cpp    --profile: each kernel's time inside the chunk's
//                        CUDA graph, with its bytes and FLOPs
//   CudaKernelCheck.cpp  --check-kernels: every launch against its host twin
//
// Every driver call is checked and reported by its error name. Internal to
// the library; not installed.
//
// Threading: one run() at a time (the Session rule).
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_DEVICE_CUDA_CUDASESSION_H
#define DSRT_SRC_DEVICE_CUDA_CUDASESSION_H

#include "dsrt/CudaDriver.h"
#include "dsrt/Session.h"

#include "session/LaunchArguments.h"
#include "session/PagePool.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

/// Returns the failure of driver call `call` (with the call's text, as
/// written, in the message) from the enclosing function, which returns a
/// Status and names the driver `d`.
#define DSRT_CUDA_CHECK(call)                                                  \
  if (Status s = d.check(call, #call); !s)                                     \
    return s;

namespace dsrt {

class CudaSession : public Session {
public:
  ~CudaSession() override;

  /// Loads the driver, the image and the weights; allocates the buffers.
  Status init(const Program &program, const WeightSource &weights,
              const SessionOptions &options);

  Expected<ChunkResult> run(const char *entryName, const Chunk &chunk) override;
  Status resetSlot(int32_t slot) override;
  std::string deviceName() const override { return deviceName_; }
  bool keepsHostWeights() const override { return check_ != nullptr; }
  std::string kernelCheckReport(bool &passed) const override;
  std::vector<StartupPhase> startupPhases() const override { return startup_; }

protected:
  detail::PagePool &pagePool() override { return *pages_; }

private:
  /// Zeroes pages `zero`, then copies each (from, to) of `copies` (and the
  /// same in the kernel check's mirror).
  Status applyPageChanges(const detail::PageChanges &changes);

  //===--------------------------------------------------------------------===//
  // Memory (CudaMemory.cpp)
  //===--------------------------------------------------------------------===//

  Status allocate(uint64_t bytes, CUdeviceptr &out);
  Status upload(const void *host, uint64_t bytes, CUdeviceptr &out);
  /// Every weight and its scales, read from `weights` and copied (bf16
  /// weights quantized at load: quantised on the device) on the fly;
  /// `stagingSeconds`: the part spent allocating (device buffers, the
  /// pinned ring, streams, the quantiser) before the first read.
  Status uploadWeights(const Program &program, const WeightSource &weights,
                       const LoadProgress &progress, double &stagingSeconds);
  /// The arena, the KV cache (zeroed) and the chunk's index buffers.
  Status allocateBuffers(const Program &program);

  std::vector<CUdeviceptr> allocations_, weightPtrs_, scalePtrs_;
  CUdeviceptr arena_ = 0, cache_ = 0, tokens_ = 0, positions_ = 0, slots_ = 0,
              rows_ = 0, sampling_ = 0, pageTable_ = 0;
  /// The pages of the cache and the page table (on the host: the kernel
  /// check's mirror reads it; copied to pageTable_ when it changes).
  std::unique_ptr<detail::PagePool> pages_;
  int64_t maxTokens_ = 0;

  //===--------------------------------------------------------------------===//
  // Module and kernels (CudaModule.cpp)
  //===--------------------------------------------------------------------===//

  /// Loads the program's GPU image and finds each kernel's entry.
  Status loadModule(const Program &program);
  /// One argument table per launch, all in one device buffer.
  Status buildArgumentTables(const Program &program);
  /// Launches every kernel of `entry` for `chunk`: in list order on the
  /// stream, or, while capturing a plain graph (launchStreams_), each on
  /// its program stream after the launches it waits for.
  Status launchAll(const fb::Entry &entry, size_t entryIndex,
                   const Chunk &chunk);
  /// One launch on stream `on` of kernel `index` (the launch's kernel or
  /// the variant its rows chose), with its host twin and marks around it.
  Status launchOne(const fb::Launch &launch, uint32_t index,
                   uint64_t tableOffset, int64_t count, int64_t extent,
                   CUstream on, const Chunk &chunk);
  /// The program's stream `index` (0: the session's stream), created on
  /// first use.
  Status launchStream(uint32_t index, CUstream &out);
  /// Event `index` of launchEvents_, created on first use.
  Status launchEvent(size_t index, CUevent &out);

  std::vector<CUfunction> functions_;
  /// Whether launchAll places launches on their streams (set while a plain
  /// graph is captured, when the driver has events).
  bool launchStreams_ = false;
  /// DSRT_ONE_STREAM: graphs run every launch in list order, ignoring the
  /// program's streams (for measuring what they buy).
  bool oneStream_ = std::getenv("DSRT_ONE_STREAM") != nullptr;
  std::vector<CUstream> sideStreams_; // program streams 1.., in order
  std::vector<CUevent> launchEvents_; // forks, joins, waited-for launches
  CUdeviceptr tables_ = 0;
  std::vector<std::vector<uint64_t>> tableOffsets_;

  //===--------------------------------------------------------------------===//
  // Graphs (CudaGraphs.cpp)
  //===--------------------------------------------------------------------===//

  /// Whether chunks replay graphs (not when checking kernels or with
  /// DSRT_NO_GRAPHS).
  bool usesGraphs() const;
  /// Runs the chunk's launches from the entry's graph for its (tokens,
  /// outputs), capturing it when the cache policy says so (CudaGraphs.cpp),
  /// or launches them one by one.
  Status launchGraph(const fb::Entry &entry, size_t entryIndex,
                     const Chunk &chunk);
  void destroyGraphs();

  bool noGraphs_ = std::getenv("DSRT_NO_GRAPHS") != nullptr;
  /// DSRT_NO_PDL: launch without programmatic stream serialization, so each
  /// kernel starts only after its predecessor has finished (the kernels'
  /// griddepcontrol instructions then return at once); for measuring what
  /// programmatic dependent launch buys.
  bool noProgrammatic_ = std::getenv("DSRT_NO_PDL") != nullptr;
  /// DSRT_NO_VARIANTS: every launch runs its own kernel, never a variant
  /// for few rows (Kernel.variants), to compare the two in one executable.
  bool noVariants_ = std::getenv("DSRT_NO_VARIANTS") != nullptr;
  /// (entry index, tokens, outputs): everything a chunk's launches depend on
  /// besides device memory (their grids and their row-count arguments).
  using GraphKey = std::tuple<size_t, size_t, size_t>;
  struct CachedGraph {
    CUgraphExec exec = nullptr;
    uint64_t lastUse = 0;
    bool prefill = false; // evictable
  };
  std::map<GraphKey, CachedGraph> graphs_;
  /// Prefill sizes met once and not captured yet.
  std::set<GraphKey> prefillSeen_;
  size_t prefillGraphs_ = 0;
  uint64_t graphUses_ = 0;

  //===--------------------------------------------------------------------===//
  // Profiling (CudaProfiling.cpp)
  //===--------------------------------------------------------------------===//

  /// --profile: after the chunk ran, replays it as a CUDA graph with an
  /// event between every two launches, and as its plain graph, each many
  /// times with L2 flushed before every replay; records the chunk's profile.
  Status profileChunk(const fb::Entry &entry, size_t entryIndex,
                      const Chunk &chunk);
  /// Captures the chunk's launches (with `marks` recorded between them when
  /// given) and instantiates the graph.
  Status captureGraph(const fb::Entry &entry, size_t entryIndex,
                      const Chunk &chunk, bool marks, CUgraphExec &exec);
  /// What an event node between two launches adds to a graph, measured on
  /// a chain of empty kernels with and without events between them
  /// (markerSeconds_; once per session).
  Status calibrateMarkers();
  std::vector<ChunkProfile> profiles() const override { return profiles_; }
  void setProfiling(bool on) override {
    profile_ = on && canProfile_;
    profiled_.clear();
  }

  bool canProfile_ = false, profile_ = false;
  std::set<GraphKey> profiled_;
  std::vector<ChunkProfile> profiles_;
  std::vector<CUevent> events_; // created on first use, reused
  size_t marksUsed_ = 0;        // of events_, in the graph being captured
  CUevent stepStart_ = nullptr, stepEnd_ = nullptr;
  CUdeviceptr flush_ = 0; // twice the L2, rewritten before each replay
  size_t flushBytes_ = 0;
  unsigned char flushValue_ = 0;
  double markerSeconds_ = -1; // < 0: not calibrated yet
  /// While capturing a marked graph: an event before each launch and after
  /// the last (launchAll records them), and the kernel of each launch.
  bool marks_ = false;
  std::vector<uint32_t> markedKernels_;
  /// Records the next of marks_ on the stream (an event node in the graph
  /// being captured), creating it when needed.
  Status recordMark();

  //===--------------------------------------------------------------------===//
  // Kernel checks (CudaKernelCheck.cpp)
  //===--------------------------------------------------------------------===//

  /// --check-kernels: a host mirror of the arena and the cache that always
  /// holds what the GPU computed, so each launch's host twin reads exactly
  /// the GPU kernel's inputs.
  struct KernelStats {
    int64_t launches = 0, intMismatches = 0, failures = 0;
    double maxRelError = 0;
  };
  struct KernelCheck {
    const HostKernel *hostKernels = nullptr;
    detail::HostWeightTables weights;
    std::unique_ptr<CpuDevice> cpu;
    std::vector<uint8_t> arena, cache, scratch;
    /// The launch's arena outputs in the mirror before its twin ran:
    /// elements neither the twin nor the GPU kernel changed are not
    /// compared (a kernel may leave parts of an output unwritten, such as
    /// the unused shares of a position-split attention's workspace).
    std::vector<uint8_t> before;
    std::vector<KernelStats> stats;
  };
  /// Largest relative error (L2 of the difference over L2 of the host
  /// result) a float output may have; bf16 rounding of sums taken in
  /// another order moves single elements by an ulp (2^-8 relative).
  static constexpr double kMaxRelError = 1e-2;

  /// The host twins read `weights` when it is a store, or a host copy
  /// loaded from it (hostWeights).
  Status initKernelCheck(const Program &program, const WeightSource &weights,
                         const SessionOptions &options);
  /// Runs the host twin of kernel `index` (the launch's or its variant)
  /// on the mirror, before the GPU kernel.
  Status runTwin(const fb::Launch &launch, uint32_t index, const Chunk &chunk);
  /// Compares what the GPU kernel wrote with the twin's results, then puts
  /// the GPU's values in the mirror.
  Status compareWithTwin(const fb::Launch &launch, uint32_t index,
                         const Chunk &chunk);

  std::unique_ptr<KernelCheck> check_;
  std::unique_ptr<WeightStore> hostWeights_;

  //===--------------------------------------------------------------------===//
  // Device and results (CudaSession.cpp)
  //===--------------------------------------------------------------------===//

  const Program *program_ = nullptr;
  std::vector<StartupPhase> startup_; // init()'s steps
  const CudaDriver *driver_ = nullptr;
  CUdevice device_ = 0;
  /// The primary context, made current on every thread that calls the
  /// driver (the weight readers).
  CUcontext context_ = nullptr;
  std::string deviceName_;
  CUstream stream_ = nullptr;
  std::vector<float> logits_;
  std::vector<int32_t> next_;
  std::vector<float> logProbs_;     // [outputs, top_logprobs + 1]
  std::vector<int32_t> logProbIds_; // the same ids
};

} // namespace dsrt

#endif // DSRT_SRC_DEVICE_CUDA_CUDASESSION_H
