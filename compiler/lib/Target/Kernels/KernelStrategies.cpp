//===- KernelStrategies.cpp - which file emits which kernel strategy ------===//
//
// The strategy table: one row per (kernel-level op, strategy) that a kernel
// file implements, naming the function that emits it and the cost function
// of its family (what a launch moves and computes). ds-configure-kernels
// chooses among these; the generator refuses a choice with no row. Adding a
// strategy for a new chip is adding its file and its rows here.
//
//===----------------------------------------------------------------------===//

#include "KernelFamilies.h"

namespace dsc::kernels {

ArrayRef<KernelStrategyRow> kernelStrategies() {
  static const KernelStrategyRow rows[] = {
      {EmbedOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {EmbedOp::getOperationName(), KernelStrategy::Warp,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {RMSNormOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {RMSNormOp::getOperationName(), KernelStrategy::Warp,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {RMSNormOp::getOperationName(), KernelStrategy::Block,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {RopeOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {SwiGLUOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {AddOp::getOperationName(), KernelStrategy::Generic,
       emitNormOrElementwiseKernel, normOrElementwiseCost},
      {LinearOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel, matrixProductCost},
      {LinearOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel, matrixProductCost},
      {LinearOp::getOperationName(), KernelStrategy::TileMma,
       emitMatrixProductKernel, matrixProductCost},
      {GatedLinearOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel, matrixProductCost},
      {GatedLinearOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel, matrixProductCost},
      {GatedLinearOp::getOperationName(), KernelStrategy::TileMma,
       emitMatrixProductKernel, matrixProductCost},
      {RouterLogitsOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel, matrixProductCost},
      {RouterLogitsOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel, matrixProductCost},
      {LMHeadOp::getOperationName(), KernelStrategy::Generic,
       emitMatrixProductKernel, matrixProductCost},
      {LMHeadOp::getOperationName(), KernelStrategy::Warp,
       emitMatrixProductKernel, matrixProductCost},
      {LMHeadOp::getOperationName(), KernelStrategy::TileMma,
       emitMatrixProductKernel, matrixProductCost},
      {SampleOp::getOperationName(), KernelStrategy::Generic,
       emitSamplingKernel, samplingCost},
      {SampleOp::getOperationName(), KernelStrategy::Block, emitSamplingKernel,
       samplingCost},
      {SampleOp::getOperationName(), KernelStrategy::ClusterBlock,
       emitSamplingKernel, samplingCost},
      {LogProbsOp::getOperationName(), KernelStrategy::Generic,
       emitSamplingKernel, samplingCost},
      {LogProbsOp::getOperationName(), KernelStrategy::Block,
       emitSamplingKernel, samplingCost},
      {MLACacheWriteOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLACacheWriteOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel, attentionCost},
      {MLAAttentionOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLAAbsorbQueryOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLAAbsorbQueryOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel, attentionCost},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::WarpQueryGroup,
       emitAttentionKernel, attentionCost},
      {MLALatentAttentionOp::getOperationName(), KernelStrategy::BlockSplit,
       emitAttentionKernel, attentionCost},
      {MLALatentAttentionPartialOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLALatentAttentionPartialOp::getOperationName(),
       KernelStrategy::PositionSplit, emitAttentionKernel, attentionCost},
      {MLALatentAttentionPartialOp::getOperationName(),
       KernelStrategy::PositionSplitMma, emitAttentionKernel, attentionCost},
      {MLAAttentionCombineOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLAAttentionCombineOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel, attentionCost},
      {MLAAbsorbValueOp::getOperationName(), KernelStrategy::Generic,
       emitAttentionKernel, attentionCost},
      {MLAAbsorbValueOp::getOperationName(), KernelStrategy::Warp,
       emitAttentionKernel, attentionCost},
      {MLAAbsorbValueOp::getOperationName(), KernelStrategy::ClusterBlock,
       emitAttentionKernel, attentionCost},
      {MoESelectOp::getOperationName(), KernelStrategy::Generic, emitMoEKernel,
       moeCost},
      {MoESelectOp::getOperationName(), KernelStrategy::Warp, emitMoEKernel,
       moeCost},
      {MoEGateOp::getOperationName(), KernelStrategy::Generic, emitMoEKernel,
       moeCost},
      {MoEGateOp::getOperationName(), KernelStrategy::Block, emitMoEKernel,
       moeCost},
      {MoEGateOp::getOperationName(), KernelStrategy::ClusterBlock,
       emitMoEKernel, moeCost},
      {MoELocalChoicesOp::getOperationName(), KernelStrategy::Generic,
       emitMoEKernel, moeCost},
      {MoEExpertUpOp::getOperationName(), KernelStrategy::Generic,
       emitMoEKernel, moeCost},
      {MoEExpertUpOp::getOperationName(), KernelStrategy::Warp, emitMoEKernel,
       moeCost},
      {MoEExpertDownOp::getOperationName(), KernelStrategy::Generic,
       emitMoEKernel, moeCost},
      {MoEExpertDownOp::getOperationName(), KernelStrategy::Warp, emitMoEKernel,
       moeCost},
      {MoEExpertDownOp::getOperationName(), KernelStrategy::WarpAsync,
       emitMoEKernel, moeCost},
  };
  return rows;
}

const KernelStrategyRow *findKernelStrategy(StringRef op,
                                            KernelStrategy strategy) {
  for (const KernelStrategyRow &row : kernelStrategies())
    if (row.op == op && row.strategy == strategy)
      return &row;
  return nullptr;
}

} // namespace dsc::kernels
