//===- LogProbs.cpp - ds-logprobs -----------------------------------------===//
//
// Adds ds.logprobs after each entry point's ds.sample and returns its
// results. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace dsc {
#define GEN_PASS_DEF_DSLOGPROBS
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct LogProbsPass : dsc::impl::DSLogProbsBase<LogProbsPass> {
  using DSLogProbsBase::DSLogProbsBase;

  void runOnOperation() override {
    if (top < 0)
      return;
    if (top > kMaxTopLogProbs) {
      getOperation().emitError("ds-logprobs: top must be at most ")
          << kMaxTopLogProbs << ", got " << static_cast<int64_t>(top);
      return signalPassFailure();
    }
    for (auto f : getOperation().getOps<func::FuncOp>())
      if (f->hasAttr("ds.entry") && failed(addTo(f)))
        return signalPassFailure();
  }

  LogicalResult addTo(func::FuncOp f) {
    if (f.getBody().empty() || !f.getBody().hasOneBlock())
      return f.emitOpError("ds-logprobs: an entry point must be one block");
    Block &body = f.getBody().front();
    auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
    if (!ret || ret.getNumOperands() != 3)
      return f.emitOpError("ds-logprobs: expected the entry to return "
                           "(logits, sampled tokens, cache)");
    auto sample = ret.getOperand(1).getDefiningOp<SampleOp>();
    if (!sample || sample.getLogits() != ret.getOperand(0))
      return f.emitOpError("ds-logprobs: the entry's sampled tokens must come "
                           "from a ds.sample of its returned logits");
    RankedTensorType logits = sample.getLogits().getType();
    if (top > logits.getDimSize(1))
      return f.emitOpError("ds-logprobs: ")
             << static_cast<int64_t>(top)
             << " top tokens, more than the vocabulary ("
             << logits.getDimSize(1) << ")";
    OpBuilder b(ret);
    auto columns = [&](Type element) {
      return RankedTensorType::get({logits.getDimSize(0), top + 1}, element);
    };
    auto lp = LogProbsOp::create(b, sample.getLoc(), columns(b.getF32Type()),
                                 columns(b.getI32Type()), sample.getLogits(),
                                 sample.getResult(), sample.getParams());
    SmallVector<Value> results = {ret.getOperand(0), ret.getOperand(1),
                                  lp.getLogprobs(), lp.getIds(),
                                  ret.getOperand(2)};
    ret->setOperands(results);
    SmallVector<Type> types;
    for (Value v : results)
      types.push_back(v.getType());
    f.setType(FunctionType::get(f.getContext(), f.getArgumentTypes(), types));
    return success();
  }
};

} // namespace
