//===- TargetDescription.h - instruction sets and device profiles -*- C++
//-*-===//
//
// Two descriptions, kept apart, that the compiler chooses kernel strategies
// from (never from a chip name):
//
// - `TargetDescription`, the instruction-set target (`cpu`, `cuda:sm_80`,
//   `cuda:sm_89`, `cuda:sm_90a`): which instructions and launch features the
//   emitted code may use and the PTX version it is written for. It decides
//   what *can* be generated.
// - `DeviceProfile`, one GPU model (`h200`, `h100`, `a100`, `l40s`, ...):
//   its memory, bandwidth, SM count, shared memory and register file, and
//   ceilings measured on it. It decides what is *worth* generating: block
//   sizes, splits and groupings are sized from it.
//
// Adding a GPU is adding a row to a table in TargetDescription.cpp (and, for
// a new instruction set, a row to the other).
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_TARGETDESCRIPTION_H
#define DSC_TARGET_TARGETDESCRIPTION_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace dsc {

struct TargetDescription {
  enum class Kind { Host, CUDA } kind = Kind::Host;
  std::string name;            // "cpu", "cuda:sm_90a"
  std::string chip;            // "sm_90a" (CUDA only)
  std::string ptxFeature;      // "+ptx80": the PTX ISA the code is emitted for
  bool hasWarpShuffle = false; // shfl.sync: warp-cooperative reductions
  bool hasMmaSync = false;     // warp-level mma.sync (sm_80+)
  bool hasWgmma = false;       // warpgroup mma (sm_90a)
  bool hasTma = false;         // bulk tensor copies (sm_90+)
  bool hasFp8Mma = false;      // fp8 tensor-core math (sm_89+)
  bool hasFp8Convert = false;  // cvt between e4m3x2 and f16x2 (sm_89+)
  /// griddepcontrol and programmatic dependent launch (sm_90+): a kernel
  /// may start while its predecessor finishes and wait for it on the GPU.
  bool hasGridDependencyControl = false;
  /// Thread-block clusters (sm_90+): blocks co-scheduled on neighbouring
  /// SMs that read each other's shared memory and meet at cluster barriers.
  bool hasClusters = false;
  /// cp.async (sm_80+): copies from global to shared memory that hold no
  /// registers while in flight.
  bool hasAsyncCopy = false;
  int64_t maxThreadsPerBlock = 0;
  int64_t maxRegistersPerThread = 0;
  int64_t maxSharedMemoryPerBlock = 0; // bytes, opt-in maximum
  std::string defaultDevice;           // profile of `--gpu` when not given

  bool isCUDA() const { return kind == Kind::CUDA; }
};

/// One GPU model: capacities and the ceilings measured on it. Figures the
/// project has not measured come from the vendor's datasheet and say so in
/// the table.
struct DeviceProfile {
  std::string name;        // "h200"
  std::string description; // "NVIDIA H200 SXM (141 GB HBM3e)"
  std::string chip;        // the instruction-set chip it runs: "sm_90a"
  int64_t smCount = 0;
  int64_t registersPerSM = 0;    // 32-bit registers
  int64_t sharedMemoryPerSM = 0; // bytes
  int64_t l2Bytes = 0;
  int64_t memoryBytes = 0;
  double memoryBandwidth = 0; // bytes/s, measured copy bandwidth
  double bf16MatrixFlops = 0; // FLOP/s, dense tensor cores
  double fp8MatrixFlops = 0;  // FLOP/s, dense tensor cores
};

/// The description of `name`, or nullopt with the known names in `known`.
std::optional<TargetDescription> lookupTarget(llvm::StringRef name,
                                              std::string &known);

/// The profile of `name` ("h200"), or nullopt with the known names in
/// `known`.
std::optional<DeviceProfile> lookupDeviceProfile(llvm::StringRef name,
                                                 std::string &known);

} // namespace dsc

#endif // DSC_TARGET_TARGETDESCRIPTION_H
