//===- CudaKernels.h - the generic kernels for NVIDIA GPUs --------*- C++
//-*-===//
//
// The generic kernels of HostKernels.h compiled for a CUDA target: each
// kernel body becomes a device function, and an entry kernel
// `<name>_entry(void **args, int64_t tokens, int64_t extent)` runs one
// parallel index per GPU thread. The module goes through LLVM's NVPTX
// backend to PTX (libdevice supplies exp, sin and cos), then through ptxas
// to a cubin when ptxas is found; otherwise the PTX is embedded and the
// driver compiles it when the executable loads it.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_CUDAKERNELS_H
#define DSC_TARGET_CUDAKERNELS_H

#include "dsc/Target/TargetDescription.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace dsc {

/// Threads per block of the generic entry kernels.
constexpr int kGenericBlockSize = 128;

struct CudaImage {
  std::vector<uint8_t> bytes; // cubin, or PTX text (NUL-terminated)
  std::string format;         // "cubin" | "ptx"
  std::string ptx;            // always kept, for --emit=ptx
};

/// Where the CUDA toolkit is: `cudaPath` if given, else $CUDA_HOME, else
/// the folder above `ptxas` on PATH, else /usr/local/cuda. Empty if none.
std::string findCudaToolkit(const std::string &cudaPath);

/// Compiles the `@kernels` module of a scheduled module (whose kernels are
/// named `names`) for `target`; lowers the module in place.
mlir::FailureOr<CudaImage> compileCudaKernels(
    mlir::ModuleOp kernels, const std::vector<std::string> &names,
    const TargetDescription &target, const std::string &toolkit, bool usePtxas);

} // namespace dsc

#endif // DSC_TARGET_CUDAKERNELS_H
