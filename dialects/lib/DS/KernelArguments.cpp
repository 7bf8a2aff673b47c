//===- KernelArguments.cpp - launch arguments of kernel-level ops ---------===//
//
// See KernelArguments.h.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/KernelArguments.h"

#include "dsc/Dialect/DS/DSDialect.h"

using namespace mlir;

namespace dsc::ds {

bool isKernelOp(Operation *op) {
  return isa<EmbedOp, RMSNormOp, LinearOp, SwiGLUOp, AddOp, LMHeadOp, SampleOp,
             RopeOp, MLACacheWriteOp, MLAAttentionOp, MLAAbsorbQueryOp,
             MLALatentAttentionOp, MLAAbsorbValueOp, RouterLogitsOp,
             MoESelectOp, MoEExpertUpOp, MoEExpertDownOp>(op);
}

std::vector<KernelArgument> kernelArguments(Operation *op) {
  std::vector<KernelArgument> args;
  for (OpOperand &operand : op->getOpOperands()) {
    args.push_back({KernelArgument::Operand, operand.getOperandNumber()});
    if (isa<FP8BlockWeightType>(operand.get().getType()))
      args.push_back(
          {KernelArgument::OperandScales, operand.getOperandNumber()});
  }
  for (OpResult result : op->getResults())
    if (isa<RankedTensorType>(result.getType()))
      args.push_back({KernelArgument::Result, result.getResultNumber()});
  return args;
}

} // namespace dsc::ds
