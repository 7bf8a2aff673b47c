//===- FuseEpilogues.cpp - ds-fuse-epilogues ------------------------------===//
//
// Folds each ds.add that consumes a single-use ds.linear into that linear's
// addends (its store epilogue). See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSFUSEEPILOGUES
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// The operand of `add` that is a ds.linear of the same block used only by
/// `add` (the later-defined one when both are), and the other operand.
std::optional<std::pair<LinearOp, Value>> fusible(AddOp add) {
  std::optional<std::pair<LinearOp, Value>> best;
  for (unsigned i = 0; i < 2; ++i) {
    auto linear = add->getOperand(i).getDefiningOp<LinearOp>();
    if (!linear || !linear->hasOneUse() ||
        linear->getBlock() != add->getBlock() ||
        linear.getResult().getType() != add.getResult().getType())
      continue;
    if (!best || best->first->isBeforeInBlock(linear))
      best = {linear, add->getOperand(1 - i)};
  }
  return best;
}

struct FuseEpiloguesPass : dsc::impl::DSFuseEpiloguesBase<FuseEpiloguesPass> {
  void runOnOperation() override {
    SmallVector<AddOp> adds;
    getOperation().walk([&](AddOp add) { adds.push_back(add); });
    // In program order, so a chain's second add sees the first's fused
    // product.
    for (AddOp add : adds) {
      auto found = fusible(add);
      if (!found)
        continue;
      auto [linear, other] = *found;
      SmallVector<Value> addends(linear.getAddends());
      addends.push_back(other);
      OpBuilder b(add);
      auto fused =
          LinearOp::create(b, linear.getLoc(), add.getType(), linear.getInput(),
                           linear.getWeight(), addends);
      fused->setDiscardableAttrs(linear->getDiscardableAttrDictionary());
      add.getResult().replaceAllUsesWith(fused.getResult());
      add->erase();
      linear->erase();
    }
  }
};

} // namespace
