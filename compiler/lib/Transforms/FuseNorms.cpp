//===- FuseNorms.cpp - ds-fuse-norms --------------------------------------===//
//
// Folds each ds.rms_norm read only as the input of products that take a
// `norm(...)` clause into those products. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSFUSENORMS
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// Whether every use of `norm` is the input of a product without a norm
/// clause that reads the norm nowhere else (and not a ds.lm_head unless
/// `lmHead`).
bool foldable(RMSNormOp norm, bool lmHead) {
  if (norm->use_empty())
    return false;
  for (OpOperand &use : norm->getUses()) {
    Operation *user = use.getOwner();
    if (use.getOperandNumber() != 0 || !acceptsInputNorm(user) ||
        getInputNorm(user) || (!lmHead && isa<LMHeadOp>(user)))
      return false;
    for (Value operand : user->getOperands().drop_front())
      if (operand == norm.getResult())
        return false;
  }
  return true;
}

struct FuseNormsPass : dsc::impl::DSFuseNormsBase<FuseNormsPass> {
  using DSFuseNormsBase::DSFuseNormsBase;

  void runOnOperation() override {
    SmallVector<std::string> wanted(entries.begin(), entries.end());
    if (wanted.empty())
      wanted.push_back("decode");
    SmallVector<RMSNormOp> norms;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      auto entry = func->getAttrOfType<StringAttr>("ds.entry");
      if (entry && llvm::is_contained(wanted, entry.getValue()))
        func.walk([&](RMSNormOp op) { norms.push_back(op); });
    }
    for (RMSNormOp norm : norms) {
      if (!foldable(norm, lmHead))
        continue;
      SmallVector<Operation *> users(norm->getUsers());
      for (Operation *user : users)
        setInputNorm(user, norm.getInput(), norm.getWeight(),
                     norm.getEpsAttr());
      norm->erase();
    }
  }
};

} // namespace
