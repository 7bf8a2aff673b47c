//===- KernelFamilies.h - one entry point per op family -----------*- C++
//-*-===//
//
// Each op family's file builds the body of one kernel for an op of its
// family and says how its launches split the work. The strategy table
// (KernelStrategies.cpp) says which file emits which (op, strategy);
// KernelGenerator.cpp dispatches through it.
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

/// One row of the strategy table: the kernel-level op (by name), a strategy
/// and the function that emits it.
struct KernelStrategyRow {
  StringRef op;
  KernelStrategy strategy;
  EmitKernel emit;
};

/// The table of every (op, strategy) a kernel file implements
/// (KernelStrategies.cpp): a new strategy is a new file plus rows here.
ArrayRef<KernelStrategyRow> kernelStrategies();

/// The emitter of `strategy` for the op named `op`, or null.
EmitKernel findKernelStrategy(StringRef op, KernelStrategy strategy);

/// ds.embed, ds.rms_norm, ds.rope, ds.swiglu, ds.add (NormsAndRope.cpp).
KernelShape emitNormOrElementwiseKernel(const KernelBodyContext &context,
                                        Operation *op);
/// ds.linear, ds.router_logits, ds.lm_head (MatrixProducts.cpp).
KernelShape emitMatrixProductKernel(const KernelBodyContext &context,
                                    Operation *op);
/// ds.sample (Sampling.cpp).
KernelShape emitSamplingKernel(const KernelBodyContext &context, Operation *op);
/// ds.mla_cache_write, ds.mla_attention and the absorbed attention
/// (Attention.cpp).
KernelShape emitAttentionKernel(const KernelBodyContext &context,
                                Operation *op);
/// ds.moe_select, ds.moe_expert_up, ds.moe_expert_down (MoE.cpp).
KernelShape emitMoEKernel(const KernelBodyContext &context, Operation *op);

} // namespace dsc::kernels

#endif // DSC_TARGET_KERNELS_KERNELFAMILIES_H
