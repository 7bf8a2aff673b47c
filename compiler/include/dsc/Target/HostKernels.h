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

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <string>
#include <vector>

namespace dsc {

/// How a kernel's work is split between threads: [0, tokens) of the chunk,
/// [0, extent) fixed at compile time (output features), or
/// [0, tokens * extent) ((token, head) pairs).
using ds::ParallelDim;

/// A buffer a kernel writes: launch argument `arg`, `rowElements` elements
/// of `dtype` per row (rows: the launch's row count).
/// Set on a CUDA kernel's body function when the body waits for the
/// previous kernel itself (griddepcontrol.wait after loads of weights
/// only), so its entry does not (the dialect's `waits_in_body`).
inline constexpr llvm::StringLiteral kWaitsInBodyAttr = "ds.waits_in_body";
/// On a kernel body (CUDA): [threads per block, blocks per SM] the body
/// was written for; its entry gets them as launch bounds (.maxntid,
/// .minnctapersm), so that ptxas keeps the registers within them.
inline constexpr llvm::StringLiteral kLaunchBoundsAttr = "ds.launch_bounds";

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
  /// The strategy it was generated with (its block: GPU threads per block;
  /// when not 128 the kernel cooperates across a block and its extent is a
  /// multiple of the block).
  ds::KernelConfigAttr config;
  /// What one launch moves and computes (its op family's cost function).
  ds::KernelCostAttr cost;
};

/// Capacity and layout of the paged latent KV cache. The cache is a pool of
/// pages laid out [page][layer][pageSize][latent + rope] (bf16); a kernel's
/// cache argument is the base of its layer inside page 0, and the page of
/// (slot, position) is pageTable[slot * (maxSeq / pageSize) + position /
/// pageSize] (i32, the launch's page-table argument).
struct CacheGeometry {
  int64_t slots = 1;    // sequences held at once (--max-batch)
  int64_t maxSeq = 1;   // positions per sequence (--max-seq-len)
  int64_t pageSize = 1; // positions per page (--page-size)
  int64_t layers = 1;   // layers sharing a page
  int64_t pagesPerSequence() const { return maxSeq / pageSize; }
};

/// How warp-cooperative kernels turn fp8 e4m3 weight bytes into numbers.
/// Table: a 256-entry table and the block scale per element, each weight
/// rounded to bf16 as the references dequantise (the generic lowering
/// always does this). Hardware: cvt.rn.f16x2.e4m3x2, two bytes per
/// instruction (targets with fp8 conversions); ExponentShift: the bits
/// moved into an f16 (others). Both apply the block scale once per group
/// of eight products.
enum class FP8Decode { Table, ExponentShift, Hardware };

// The launch argument layout of kernel-level ops is the dialect's
// (dsc/Dialect/DS/KernelArguments.h): the schedule uses it without a target.
using ds::isKernelOp;
using ds::KernelArgument;
using ds::kernelArguments;

class HostKernelGenerator {
public:
  /// Kernels are added to `kernels`, a module of func.func. Each op is
  /// generated with the strategy of its `ds.config` (`generic` without one),
  /// or, with `genericOnly`, with the generic lowering whatever it says (the
  /// host twins of --check-kernels builds). Either way kernels are
  /// deduplicated by the op's signature including its `ds.config`, so two
  /// generators given the same ops number their kernels alike. A module with
  /// warp-cooperative kernels needs the NVVM dialect and can only be
  /// compiled for a CUDA target.
  /// `weightsBeforeWait` (CUDA targets with griddepcontrol): products may
  /// issue their first weight loads before waiting for the previous kernel.
  HostKernelGenerator(mlir::ModuleOp kernels, CacheGeometry cache,
                      bool genericOnly = false,
                      FP8Decode fp8Decode = FP8Decode::Table,
                      bool weightsBeforeWait = false)
      : kernels(kernels), cache(cache), genericOnly(genericOnly),
        fp8Decode(fp8Decode), weightsBeforeWait(weightsBeforeWait) {}

  /// The index of the kernel of `op`, generated on first use of its
  /// signature (op name, attributes but the layer, operand and result types,
  /// configuration).
  mlir::FailureOr<unsigned> getOrCreate(mlir::Operation *op);

  const std::vector<KernelInfo> &infos() const { return kernelInfos; }
  mlir::ModuleOp module() const { return kernels; }

private:
  mlir::ModuleOp kernels;
  CacheGeometry cache;
  bool genericOnly;
  FP8Decode fp8Decode;
  bool weightsBeforeWait;
  llvm::StringMap<unsigned> bySignature;
  llvm::StringSet<> names;
  std::vector<KernelInfo> kernelInfos;
};

/// Lowers a module of host kernels (scf/arith/math/llvm on pointers) to the
/// LLVM dialect.
mlir::LogicalResult lowerHostKernelsToLLVM(mlir::ModuleOp kernels);

} // namespace dsc

#endif // DSC_TARGET_HOSTKERNELS_H
