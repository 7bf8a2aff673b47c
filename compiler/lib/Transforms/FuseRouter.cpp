//===- FuseRouter.cpp - ds-fuse-router ------------------------------------===//
//
// Joins a ds.moe_select and the ds.router_logits that only it reads into one
// ds.moe_gate (one kernel). See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSFUSEROUTER
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct FuseRouterPass : dsc::impl::DSFuseRouterBase<FuseRouterPass> {
  using DSFuseRouterBase::DSFuseRouterBase;

  void runOnOperation() override {
    SmallVector<MoESelectOp> selects;
    getOperation().walk([&](MoESelectOp op) { selects.push_back(op); });
    for (MoESelectOp select : selects) {
      auto logits = select.getLogits().getDefiningOp<RouterLogitsOp>();
      if (!logits || !logits->hasOneUse() ||
          logits->getBlock() != select->getBlock())
        continue;
      // In the selection's place: every operand of both ops dominates it.
      OpBuilder b(select);
      auto gate = MoEGateOp::create(
          b, select.getLoc(), select.getWeights().getType(),
          select.getIndices().getType(), logits.getInput(), logits.getWeight(),
          select.getBias(), select.getScoringAttr(), select.getTopkMethodAttr(),
          select.getTopKAttr(), select.getNGroupAttr(),
          select.getTopkGroupAttr(), select.getNormTopkProbAttr(),
          select.getRoutedScalingFactorAttr(), logits.getNormWeight(),
          logits.getNormEpsAttr());
      select->replaceAllUsesWith(gate->getResults());
      select->erase();
      logits->erase();
    }
  }
};

} // namespace
