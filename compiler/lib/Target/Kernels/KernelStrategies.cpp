//===- KernelStrategies.cpp - which file emits which kernel strategy ------===//
//
// The strategy table: one row per (kernel-level op, strategy) that a kernel
// file implements, naming the function that emits it. ds-configure-kernels
// chooses among these; the generator refuses a choice with no row. Adding a
// strategy for a new chip is adding its file and its rows here.
//
//===----------------------------------------------------------------------===//

#include "KernelFamilies.h"

namespace dsc::kernels {

ArrayRef<KernelStrategyRow> kernelStrategies() {
  static const KernelStrategyRow rows[] = {
      {EmbedOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel},
      {RMSNormOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel},
      {RMSNormOp::getOperationName(), KernelStrategy::Warp,
       emitNormOrElementwiseKernel},
      {RopeOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel},
      {SwiGLUOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel},
      {AddOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel},
      {LinearOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel},
      {LinearOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel},
      {RouterLogitsOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel},
      {RouterLogitsOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel},
      {LMHeadOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel},
      {LMHeadOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel},
      {SampleOp::getOperationName(), KernelStrategy::Generic,
       emitSamplingKernel},
      {SampleOp::getOperationName(), KernelStrategy::Warp, emitSamplingKernel},
      {MLACacheWriteOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel},
      {MLACacheWriteOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel},
      {MLAAttentionOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel},
      {MLAAbsorbQueryOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel},
      {MLAAbsorbQueryOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::WarpQueryGroup,
       emitAttentionKernel},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::BlockSplit,
       emitAttentionKernel},
      {MLAAbsorbValueOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel},
      {MLAAbsorbValueOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel},
      {MoESelectOp::getOperationName(), KernelStrategy::Generic, emitMoEKernel},
      {MoEExpertUpOp::getOperationName(), KernelStrategy::Generic,
       emitMoEKernel},
      {MoEExpertUpOp::getOperationName(), KernelStrategy::Warp, emitMoEKernel},
      {MoEExpertDownOp::getOperationName(), KernelStrategy::Generic,
       emitMoEKernel},
      {MoEExpertDownOp::getOperationName(), KernelStrategy::Warp,
       emitMoEKernel},
  };
  return rows;
}

EmitKernel findKernelStrategy(StringRef op, KernelStrategy strategy) {
  for (const KernelStrategyRow &row : kernelStrategies())
    if (row.op == op && row.strategy == strategy)
      return row.emit;
  return nullptr;
}

} // namespace dsc::kernels
