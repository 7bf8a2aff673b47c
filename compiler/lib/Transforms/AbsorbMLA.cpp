//===- AbsorbMLA.cpp - ds-absorb-mla --------------------------------------===//
//
// Marks the attention of the decode entry point for the weight-absorbed
// latent form (docs/model.md §2.7). See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/STLExtras.h"

namespace dsc {
#define GEN_PASS_DEF_DSABSORBMLA
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;

namespace {
struct AbsorbMLAPass : dsc::impl::DSAbsorbMLABase<AbsorbMLAPass> {
  using DSAbsorbMLABase::DSAbsorbMLABase;

  void runOnOperation() override {
    SmallVector<std::string> wanted(entries.begin(), entries.end());
    if (wanted.empty())
      wanted.push_back("decode");
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      auto entry = func->getAttrOfType<StringAttr>("ds.entry");
      if (!entry || !llvm::is_contained(wanted, entry.getValue()))
        continue;
      func.walk([](dsc::ds::MLAOp op) { op.setAbsorbed(true); });
    }
  }
};
} // namespace
