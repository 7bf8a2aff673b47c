//===- TargetDescription.h - what a target chip can do ------------*- C++
//-*-===//
//
// A target is a description: its name, the chip, the PTX version its code
// needs, and the capabilities kernel generators choose variants by (never by
// chip name): mma.sync, wgmma, TMA, fp8 tensor cores, shared memory. Adding
// a GPU is adding an entry to the table in TargetDescription.cpp.
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
  std::string name;        // "cpu", "cuda:sm_90a"
  std::string chip;        // "sm_90a" (CUDA only)
  std::string ptxFeature;  // "+ptx80": the PTX ISA the code is emitted for
  bool hasMmaSync = false; // warp-level mma.sync (sm_80+)
  bool hasWgmma = false;   // warpgroup mma (sm_90a)
  bool hasTma = false;     // bulk tensor copies (sm_90+)
  bool hasFp8Mma = false;  // fp8 tensor-core math (sm_89+)
  int64_t sharedMemoryBytes = 0; // per block, opt-in maximum

  bool isCUDA() const { return kind == Kind::CUDA; }
};

/// The description of `name`, or nullopt with the known names in `known`.
std::optional<TargetDescription> lookupTarget(llvm::StringRef name,
                                              std::string &known);

} // namespace dsc

#endif // DSC_TARGET_TARGETDESCRIPTION_H
