//===- FuseEpilogues.cpp - ds-fuse-epilogues ------------------------------===//
//
// Folds a SwiGLU MLP's gate and up products and their ds.swiglu into one
// ds.gated_linear, each ds.add that consumes a single-use ds.linear into
// that linear's addends (its store epilogue), and the shared experts' down
// projection into the routed experts' (ds.moe_expert_down ... shared).
// See Passes.td.
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

/// swiglu(linear(x, G), linear(x, U)) with both products used only there
/// and of one weight type: ds.gated_linear(x, G, U) in the swiglu's place.
void fuseGatedLinear(SwiGLUOp swiglu) {
  auto gate = swiglu.getGate().getDefiningOp<LinearOp>();
  auto up = swiglu.getUp().getDefiningOp<LinearOp>();
  if (!gate || !up || gate == up || !gate->hasOneUse() || !up->hasOneUse() ||
      !gate.getAddends().empty() || !up.getAddends().empty() ||
      gate.getInput() != up.getInput() ||
      gate.getWeight().getType() != up.getWeight().getType() ||
      gate->getBlock() != swiglu->getBlock() ||
      up->getBlock() != swiglu->getBlock())
    return;
  OpBuilder b(swiglu);
  auto fused =
      GatedLinearOp::create(b, swiglu.getLoc(), swiglu.getType(),
                            gate.getInput(), gate.getWeight(), up.getWeight());
  swiglu.getResult().replaceAllUsesWith(fused.getResult());
  swiglu->erase();
  gate->erase();
  up->erase();
}

/// `linear(hs, W) plus(down, a...)` where `down` is a ds.moe_expert_down
/// used only there: one ds.moe_expert_down with the shared product and the
/// remaining addends, in the linear's place.
void fuseSharedDown(LinearOp linear) {
  if (linear.getAddends().empty())
    return;
  auto down = linear.getAddends().front().getDefiningOp<MoEExpertDownOp>();
  if (!down || down.getSharedInput() || !down->hasOneUse())
    return;
  OpBuilder b(linear);
  auto fused = MoEExpertDownOp::create(
      b, linear.getLoc(), linear.getType(), down.getInput(), down.getWeights(),
      down.getIndices(), down.getDown(), linear.getInput(), linear.getWeight(),
      linear.getAddends().drop_front());
  fused->setDiscardableAttrs(down->getDiscardableAttrDictionary());
  linear.getResult().replaceAllUsesWith(fused.getResult());
  linear->erase();
  down->erase();
}

struct FuseEpiloguesPass : dsc::impl::DSFuseEpiloguesBase<FuseEpiloguesPass> {
  void runOnOperation() override {
    SmallVector<SwiGLUOp> swiglus;
    getOperation().walk([&](SwiGLUOp op) { swiglus.push_back(op); });
    for (SwiGLUOp op : swiglus)
      fuseGatedLinear(op);
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
    SmallVector<LinearOp> linears;
    getOperation().walk([&](LinearOp op) { linears.push_back(op); });
    for (LinearOp op : linears)
      fuseSharedDown(op);
  }
};

} // namespace
