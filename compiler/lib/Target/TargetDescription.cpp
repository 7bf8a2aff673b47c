//===- TargetDescription.cpp - the table of targets ----------------------===//
//
// One entry per supported target. Figures are NVIDIA's published limits.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/TargetDescription.h"

namespace dsc {

static const TargetDescription kTargets[] = {
    {TargetDescription::Kind::Host, "cpu", "", "", false, false, false, false,
     0},
    // A100 / A30: mma.sync (bf16), cp.async; 163 KB shared memory per block.
    {TargetDescription::Kind::CUDA, "cuda:sm_80", "sm_80", "+ptx70", true,
     false, false, false, 163 * 1024},
    // L4 / L40 / RTX 4090: adds fp8 mma.sync; 99 KB per block.
    {TargetDescription::Kind::CUDA, "cuda:sm_89", "sm_89", "+ptx78", true,
     false, false, true, 99 * 1024},
    // H100 / H200: wgmma, TMA, fp8; 227 KB per block.
    {TargetDescription::Kind::CUDA, "cuda:sm_90a", "sm_90a", "+ptx80", true,
     true, true, true, 227 * 1024},
};

std::optional<TargetDescription> lookupTarget(llvm::StringRef name,
                                              std::string &known) {
  known.clear();
  for (const TargetDescription &t : kTargets) {
    if (t.name == name)
      return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  return std::nullopt;
}

} // namespace dsc
