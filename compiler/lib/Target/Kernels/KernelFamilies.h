//===- KernelFamilies.h - one entry point per op family -----------*- C++
//-*-===//
//
// Each op family's file builds the body of one kernel for an op of its
// family, says how its launches split the work, and says what a launch must
// move and compute (its cost model). The strategy table
// (KernelStrategies.cpp) says which file emits which (op, strategy) and
// which cost function models it; KernelGenerator.cpp dispatches through it.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_KERNELS_KERNELFAMILIES_H
#define DSC_TARGET_KERNELS_KERNELFAMILIES_H

#include "KernelBody.h"

namespace dsc::kernels {

/// Builds the body of the kernel of `op` and says how its launches split
/// the work.
using EmitKernel = KernelShape (*)(const KernelBodyContext &context,
                                   Operation *op);

/// What one launch of a kernel must move and compute (the coefficients of
/// `#ds.kernel_cost`): with R rows, C attended positions and X = min(experts,
/// R * expertsPerRow) experts,
///   bytes = bytesFixed + bytesPerRow R + bytesPerContext C + bytesPerExpert X
///   flops = flopsPerRow R + flopsPerContext C.
/// Bytes are compulsory HBM traffic (weights and scales read once, cache and
/// activation rows read and written), whatever the strategy re-reads; the
/// same for every strategy of an op.
struct KernelCost {
  double bytesFixed = 0, bytesPerRow = 0, bytesPerContext = 0,
         bytesPerExpert = 0;
  int64_t experts = 0, expertsPerRow = 0;
  double flopsPerRow = 0, flopsPerContext = 0;
  bool fp8 = false;
};

/// The cost model of the kernel of `op`.
using CostKernel = KernelCost (*)(Operation *op);

/// One row of the strategy table: the kernel-level op (by name), a strategy,
/// the function that emits it and the family's cost function.
struct KernelStrategyRow {
  StringRef op;
  KernelStrategy strategy;
  EmitKernel emit;
  CostKernel cost;
};

/// The table of every (op, strategy) a kernel file implements
/// (KernelStrategies.cpp): a new strategy is a new file plus rows here.
ArrayRef<KernelStrategyRow> kernelStrategies();

/// The row of `strategy` for the op named `op`, or null.
const KernelStrategyRow *findKernelStrategy(StringRef op,
                                            KernelStrategy strategy);

/// Sizes the cost functions share (KernelCost.cpp): the bytes of a weight
/// (with its fp8 scales, f32), of one matrix of an expert stack, and of one
/// token's row of an activation [T, ...].
double weightBytes(Type weight);
double expertBytes(Type stack);
double rowBytes(Value activation);
/// Elements of one token's row of an activation [T, ...].
int64_t rowElements(Value activation);
/// Whether `weight` is a block-scaled fp8 weight.
bool isFP8(Type weight);

/// ds.embed, ds.rms_norm, ds.rope, ds.swiglu, ds.add (NormsAndRope.cpp).
KernelShape emitNormOrElementwiseKernel(const KernelBodyContext &context,
                                        Operation *op);
KernelCost normOrElementwiseCost(Operation *op);
/// ds.linear, ds.router_logits, ds.lm_head (MatrixProducts.cpp).
KernelShape emitMatrixProductKernel(const KernelBodyContext &context,
                                    Operation *op);
KernelCost matrixProductCost(Operation *op);
/// ds.sample (Sampling.cpp).
KernelShape emitSamplingKernel(const KernelBodyContext &context, Operation *op);
KernelCost samplingCost(Operation *op);
/// ds.mla_cache_write, ds.mla_attention and the absorbed attention
/// (Attention.cpp).
KernelShape emitAttentionKernel(const KernelBodyContext &context,
                                Operation *op);
KernelCost attentionCost(Operation *op);
/// ds.moe_select, ds.moe_expert_up, ds.moe_expert_down (MoE.cpp).
KernelShape emitMoEKernel(const KernelBodyContext &context, Operation *op);
KernelCost moeCost(Operation *op);

} // namespace dsc::kernels

#endif // DSC_TARGET_KERNELS_KERNELFAMILIES_H
