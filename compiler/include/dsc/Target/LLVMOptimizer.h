//===- LLVMOptimizer.h - LLVM's -O3 for generated kernels ----------*- C++
//-*-===//
//
// The LLVM new-pass-manager -O3 pipeline for a target machine, shared by the
// host (x86-64) and NVPTX code generators.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_LLVMOPTIMIZER_H
#define DSC_TARGET_LLVMOPTIMIZER_H

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace dsc {

/// Runs -O3 on `module` for `machine` (vectorisation, NVVMReflect, ...).
void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine);

} // namespace dsc

#endif // DSC_TARGET_LLVMOPTIMIZER_H
