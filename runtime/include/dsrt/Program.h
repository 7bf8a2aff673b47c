//===- Program.h - a verified compiled program ------------------*- C++ -*-===//
//
// The program of a dsc executable (schemas/program.fbs), checked before use:
// the FlatBuffer verifier first (every offset and length inside the buffer),
// then the semantic rules the runtime relies on (kernel and weight indices
// in range, arena and cache offsets inside their allocations, shapes
// positive, both entry points present).
//
// Ownership: a Program views the bytes it was loaded from; they must outlive
// it. Read-only after load(); safe to share between threads.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_PROGRAM_H
#define DSRT_PROGRAM_H

#include "dsrt/Expected.h"
#include "dsrt/program_generated.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsrt {

/// The schema version this runtime reads.
constexpr uint32_t kSchemaVersion = 6;

/// The most likely tokens an entry may report log-probabilities of
/// (fb::Entry::top_logprobs; the compiler's ds.logprobs limit).
constexpr int32_t kMaxTopLogProbs = 64;

/// Streams a program's launches may name (fb::Launch::stream).
constexpr uint32_t kMaxLaunchStreams = 8;

class Program {
public:
  /// Verifies `size` bytes at `data`; `origin` names them in messages.
  static Expected<Program> load(const uint8_t *data, size_t size,
                                const std::string &origin);

  const fb::Program &fb() const { return *program_; }
  const fb::Entry &entry(const char *name) const;
  /// Bytes of the KV cache: slots x pagesPerSequence() pages of
  /// cachePageBytes(). A page holds page_size positions of every layer,
  /// [layer][page_size][latent + rope] bf16.
  uint64_t cacheBytes() const;
  uint64_t cachePageBytes() const;
  int64_t pagesPerSequence() const;
  /// The kernel a launch of kernel `kernel` with `rows` rows runs: the
  /// first of its variants whose rows it fits, else `kernel` itself.
  uint32_t kernelFor(uint32_t kernel, int64_t rows) const;
  /// Elements of weight `index` (all experts) and of its scales.
  uint64_t weightElements(uint32_t index) const;
  uint64_t scaleElements(uint32_t index) const;

private:
  explicit Program(const fb::Program *program) : program_(program) {}
  const fb::Program *program_;
};

/// A kernel's CUDA launch (program.fbs LaunchShape) with the defaults of a
/// kernel that has none filled in: block [Kernel.block, 1, 1], a PerIndex
/// grid, no dynamic shared memory.
struct KernelLaunchShape {
  uint32_t block[3] = {128, 1, 1};
  bool fixedGrid = false;
  uint32_t grid[3] = {1, 1, 1}; // Fixed only
  uint32_t sharedBytes = 0;
  /// Launch with programmatic stream serialization (the kernel waits for
  /// its predecessor itself, griddepcontrol.wait).
  bool programmatic = false;
  /// Blocks per thread-block cluster along x (1: no cluster).
  uint32_t cluster = 1;
  uint64_t threads() const { return uint64_t(block[0]) * block[1] * block[2]; }
  /// The grid for `extent` parallel indices (PerIndex) or the fixed grid.
  void gridFor(int64_t extent, uint32_t out[3]) const;
};
KernelLaunchShape launchShapeOf(const fb::Kernel &kernel);

/// Dynamic shared memory a kernel may ask for (sm_90: 227 KB), and what it
/// may use without raising CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
constexpr uint32_t kMaxDynamicSharedBytes = 227 * 1024;
constexpr uint32_t kDefaultDynamicSharedBytes = 48 * 1024;
/// Blocks a cluster may have without a per-function opt-in (the portable
/// cluster size).
constexpr uint32_t kMaxClusterBlocks = 8;

/// Bytes of one element of `dtype`.
size_t dtypeBytes(fb::DType dtype);

} // namespace dsrt

#endif // DSRT_PROGRAM_H
