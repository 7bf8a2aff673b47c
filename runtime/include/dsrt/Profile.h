//===- Profile.h - per-kernel profiles of a chunk ---------------*- C++ -*-===//
//
// What `--profile` reports (the cuda session measures it,
// runtime/src/device/cuda/CudaProfiling.cpp): for one chunk shape, the step
// time of its CUDA graph and each kernel's time inside it, with the bytes
// and FLOPs its cost model (program.fbs KernelCost) gives for the chunk, and
// the device's ceilings. Also the evaluation of a cost model and the
// table and JSON the executable prints.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_PROFILE_H
#define DSRT_PROFILE_H

#include "dsrt/Program.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt {

/// One kernel's share of a profiled chunk: its launches' times (each the
/// median over the replays of the chunk's graph) summed, and what its cost
/// model (program.fbs KernelCost) says they move and compute.
struct KernelProfile {
  std::string name, summary;
  int64_t launches = 0;
  double seconds = 0;
  bool hasCost = false; // bytes and flops are known
  double bytes = 0, flops = 0;
  bool fp8 = false; // FLOPs against the fp8 ceiling
};

/// The profile of one chunk shape.
struct ChunkProfile {
  std::string entry;
  int64_t tokens = 0, outputs = 0;
  int64_t context = 0;      // positions attended: sum of (position + 1)
  int64_t replays = 0;      // timed replays of each graph
  double stepSeconds = 0;   // the chunk's plain graph, median
  double markedSeconds = 0; // the graph with events between launches
  /// What each event between launches adds (calibrated on empty kernels),
  /// subtracted from every launch's time.
  double markerSeconds = 0;
  std::vector<KernelProfile> kernels; // by time, largest first
  /// The device's ceilings from the program (0: not recorded).
  std::string ceilingsOf;
  double bandwidth = 0, bf16Flops = 0, fp8Flops = 0;
};

/// What one launch of `kernel` moves and computes by its cost model, for
/// `rows` rows attending `attended` positions in all (the sum over rows of
/// position + 1). False when the kernel has no cost model.
struct KernelWork {
  double bytes = 0, flops = 0;
};
bool kernelWork(const fb::Kernel &kernel, int64_t rows, int64_t attended,
                KernelWork &work);

/// The kernels' time summed (each launch's time, event cost subtracted).
double kernelSeconds(const ChunkProfile &profile);

/// Each profile as a header and one line per kernel (largest first): time
/// per step, share, launches, us per launch, GB/s and TFLOP/s and their
/// fractions of the ceilings.
std::string profileTable(const std::vector<ChunkProfile> &profiles);

/// The same as a JSON array (seconds, bytes and FLOPs, rates, fractions).
std::string profileJson(const std::vector<ChunkProfile> &profiles);

} // namespace dsrt

#endif // DSRT_PROFILE_H
