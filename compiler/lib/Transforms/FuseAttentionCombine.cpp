//===- FuseAttentionCombine.cpp - ds-fuse-attention-combine ---------------===//
//
// Folds a ds.mla_attention_combine that only a ds.mla_absorb_value reads
// into that op's combine(lse) clause (one kernel). See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSFUSEATTENTIONCOMBINE
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct FuseAttentionCombinePass
    : dsc::impl::DSFuseAttentionCombineBase<FuseAttentionCombinePass> {
  using DSFuseAttentionCombineBase::DSFuseAttentionCombineBase;

  void runOnOperation() override {
    SmallVector<MLAAbsorbValueOp> values;
    getOperation().walk([&](MLAAbsorbValueOp op) { values.push_back(op); });
    for (MLAAbsorbValueOp value : values) {
      auto combine = value.getO().getDefiningOp<MLAAttentionCombineOp>();
      if (!combine || value.getLse() || !combine->hasOneUse() ||
          combine->getBlock() != value->getBlock())
        continue;
      // In the value product's place: the combine's operands dominate it.
      OpBuilder b(value);
      auto fused = MLAAbsorbValueOp::create(
          b, value.getLoc(), value.getResult().getType(), combine.getPartial(),
          combine.getLse(), value.getKvB(), value.getNumHeadsAttr(),
          value.getQkNopeHeadDimAttr(), value.getVHeadDimAttr());
      value.getResult().replaceAllUsesWith(fused.getResult());
      value->erase();
      combine->erase();
    }
  }
};

} // namespace
