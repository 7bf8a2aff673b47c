//===- SplitAttention.cpp - ds-split-attention ----------------------------===//
//
// Rewrites each latent attention configured `position_split` into the two
// kernel-level ops of that strategy: the partial attention of every share
// of the positions (an f32 workspace of per-split states, planned by
// ds-plan-buffers like any activation) and the combine that merges them.
// See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSSPLITATTENTION
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct SplitAttentionPass
    : dsc::impl::DSSplitAttentionBase<SplitAttentionPass> {
  using DSSplitAttentionBase::DSSplitAttentionBase;

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    DSDialect *dialect = context->getLoadedDialect<DSDialect>();
    if (splits < 0) {
      getOperation().emitError("ds-split-attention: splits must be >= 0");
      return signalPassFailure();
    }
    // (op, its partial's configuration)
    SmallVector<std::pair<MLALatentAttentionOp, KernelConfigAttr>> work;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      StringAttr entry = dialect->getEntryAttrHelper().getAttr(func);
      func.walk([&](MLALatentAttentionOp op) {
        KernelConfigAttr config = dialect->getConfigAttrHelper().getAttr(op);
        if (config && isPositionSplit(config.getStrategy())) {
          if (splits > 0)
            config = KernelConfigAttr::get(
                context, config.getStrategy(), config.getBlock(),
                config.getRowGroup(), config.getDynamicSharedBytes(), splits);
          work.push_back({op, config});
        } else if (splits > 0 && entry && entry.getValue() == "decode" &&
                   (!config ||
                    config.getStrategy() == KernelStrategy::Generic)) {
          // The host's split (a test of the split's semantics).
          work.push_back({op, KernelConfigAttr::getGeneric(context)});
        }
      });
    }
    for (auto [op, config] : work) {
      if (config.getStrategy() == KernelStrategy::PositionSplit) {
        int64_t warps = config.getBlock() / 32;
        int64_t group = positionSplitHeadGroup(op.getNumHeads());
        if (group % warps != 0) {
          op.emitOpError("position_split needs the block's ")
              << warps << " warps to divide its group of " << group << " heads";
          return signalPassFailure();
        }
      }
      int64_t maxSplits = isPositionSplit(config.getStrategy())
                              ? config.getSplits()
                              : splits.getValue();
      auto result = cast<RankedTensorType>(op.getResult().getType());
      int64_t tokens = result.getDimSize(0), heads = op.getNumHeads(),
              latent = op.getCache().getType().getLatent();
      Type f32 = Float32Type::get(context);
      auto partialType =
          RankedTensorType::get({tokens, maxSplits, heads, latent}, f32);
      auto lseType = RankedTensorType::get({tokens, maxSplits, heads}, f32);
      OpBuilder b(op);
      auto partial = MLALatentAttentionPartialOp::create(
          b, op.getLoc(), partialType, lseType, op.getQ(), op.getPositions(),
          op.getSlots(), op.getCache(), op.getLayer(), op.getNumHeads(),
          op.getSoftmaxScale());
      dialect->getConfigAttrHelper().setAttr(partial, config);
      auto combine = MLAAttentionCombineOp::create(
          b, op.getLoc(), result, partial.getPartial(), partial.getLse());
      // The combine reads 4 columns per lane with 16-byte loads on GPUs.
      bool warp = isPositionSplit(config.getStrategy()) && latent % 4 == 0;
      dialect->getConfigAttrHelper().setAttr(
          combine, warp ? KernelConfigAttr::get(context, KernelStrategy::Warp,
                                                128, 1, 0, 1)
                        : KernelConfigAttr::getGeneric(context));
      op.getResult().replaceAllUsesWith(combine.getResult());
      op.erase();
    }
  }
};

} // namespace
