//===- HostKernels.h - generic kernels of the ds kernel-level ops -*- C++
//-*-===//
//
// The generic lowering of ds: one kernel function per distinct kernel-level
// op signature, built as scf/arith/math/llvm IR over raw pointers and
// compiled for the host. Every kernel has the ABI
//
//   void kernel(void **args, int64_t tokens, int64_t begin, int64_t end)
//
// where `args` are the op's buffers (see kernelArguments), `tokens` the
// chunk's token count (its output count for KernelInfo::perOutput kernels), and
// [begin, end) the share of the kernel's parallel dimension this call computes.
// These kernels follow the precision plan of docs/model.md §9b and are the
// reference every specialised kernel is tested against.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_HOSTKERNELS_H
#define DSC_TARGET_HOSTKERNELS_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace dsc {

/// How a kernel's work is split between threads.
enum class ParallelDim {
  Tokens,            // [0, tokens) of the chunk
  Static,            // [0, extent) fixed at compile time (output features)
  TokensTimesStatic, // [0, tokens * extent): (token, head) pairs
};

/// A buffer a kernel writes: launch argument `arg`, `rowElements` elements
/// of `dtype` per row (rows: the launch's row count).
struct KernelOutput {
  enum DType { BF16 = 0, F32 = 1, I32 = 3 }; // the program's DType values
  unsigned arg = 0;
  DType dtype = F32;
  int64_t rowElements = 0;
};

struct KernelInfo {
  std::string name;
  std::string summary; // op name and shapes, for listings
  ParallelDim parallel = ParallelDim::Tokens;
  int64_t extent = 0;    // for ParallelDim::Static
  int64_t grainCost = 1; // rough work per parallel index, to size thread shares
  /// Whether `tokens` counts the chunk's outputs (the rows whose logits
  /// are computed: ds.lm_head, ds.sample) rather than its tokens.
  bool perOutput = false;
  /// The buffers it writes (for checks against another lowering), and
  /// whether it writes the KV cache.
  std::vector<KernelOutput> outputs;
  bool writesCache = false;
  /// GPU threads per block. 128 unless the kernel cooperates through shared
  /// memory across a block (its extent is then a multiple of the block).
  int64_t blockSize = 128;
};

/// Capacity of the latent KV cache, which kernels index directly.
struct CacheGeometry {
  int64_t slots = 1;  // sequences held at once (--max-batch)
  int64_t maxSeq = 1; // positions per sequence (--max-seq-len)
};

/// One pointer argument of a kernel launch.
struct KernelArgument {
  enum Kind { Operand, OperandScales, Result } kind;
  unsigned index; // operand or result number
};

/// The pointer arguments of the kernel of `op`, in order: each operand (an
/// fp8 weight adds its scales right after its data; a cache operand is the
/// base of the op's layer), then each tensor result. A cache result shares
/// the operand's storage and has no argument.
std::vector<KernelArgument> kernelArguments(mlir::Operation *op);

/// Whether `op` is a kernel-level op the generator implements.
bool isKernelOp(mlir::Operation *op);

class HostKernelGenerator {
public:
  /// Kernels are added to `kernels`, a module of func.func.
  /// With `gpu`, the matrix products, the router and the attention use
  /// warp-cooperative variants (32 lanes per output, reduced with shuffles,
  /// so weight reads are coalesced); the module then needs the NVVM dialect
  /// and can only be compiled for a CUDA target.
  HostKernelGenerator(mlir::ModuleOp kernels, CacheGeometry cache,
                      bool gpu = false)
      : kernels(kernels), cache(cache), gpu(gpu) {}

  /// The index of the kernel of `op`, generated on first use of its
  /// signature (op name, attributes but the layer, operand and result types).
  mlir::FailureOr<unsigned> getOrCreate(mlir::Operation *op);

  const std::vector<KernelInfo> &infos() const { return kernelInfos; }

private:
  mlir::ModuleOp kernels;
  CacheGeometry cache;
  bool gpu;
  llvm::StringMap<unsigned> bySignature;
  std::vector<KernelInfo> kernelInfos;
};

/// Lowers a module of host kernels (scf/arith/math/llvm on pointers) to the
/// LLVM dialect.
mlir::LogicalResult lowerHostKernelsToLLVM(mlir::ModuleOp kernels);

} // namespace dsc

#endif // DSC_TARGET_HOSTKERNELS_H
