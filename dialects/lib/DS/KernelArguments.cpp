//===- KernelArguments.cpp - launch arguments of kernel-level ops ---------===//
//
// See KernelArguments.h.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/KernelArguments.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include <algorithm>

using namespace mlir;

namespace dsc::ds {

bool isKernelOp(Operation *op) {
  return isa<EmbedOp, RMSNormOp, LinearOp, GatedLinearOp, SwiGLUOp, AddOp,
             LMHeadOp, SampleOp, RopeOp, MLACacheWriteOp, MLAAttentionOp,
             MLAAbsorbQueryOp, MLALatentAttentionOp,
             MLALatentAttentionPartialOp, MLAAttentionCombineOp,
             MLAAbsorbValueOp, RouterLogitsOp, MoESelectOp, MoEExpertUpOp,
             MoEExpertDownOp>(op);
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
  if (llvm::any_of(op->getOperandTypes(),
                   [](Type t) { return isa<LatentCacheType>(t); }))
    args.push_back({KernelArgument::PageTable, 0});
  return args;
}

int64_t positionSplitHeadGroup(int64_t heads) {
  int64_t group = std::clamp<int64_t>(heads, 1, 8);
  while (heads % group != 0)
    --group;
  return group;
}

PositionSplitMmaLayout positionSplitMmaLayout(int64_t width) {
  PositionSplitMmaLayout l;
  l.rowStride = width + 8;
  l.scoreStride = 40;
  l.tileBytes = 32 * l.rowStride * 2;
  l.tilesOffset = kPositionSplitMmaHeads * l.rowStride * 2;
  l.scoresOffset = l.tilesOffset + 2 * l.tileBytes;
  l.bytes = l.scoresOffset + kPositionSplitMmaHeads * l.scoreStride * 4;
  return l;
}

int64_t resolvePageSize(int64_t requested, int64_t maxSeqLen) {
  if (maxSeqLen <= 0 || requested < 0)
    return 0;
  if (requested == 0) {
    int64_t page = std::min<int64_t>(64, maxSeqLen);
    while (maxSeqLen % page != 0)
      --page;
    return page;
  }
  return maxSeqLen % requested == 0 ? requested : 0;
}

} // namespace dsc::ds
