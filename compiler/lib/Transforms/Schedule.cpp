//===- Schedule.cpp - ds-schedule -----------------------------------------===//
//
// Rewrites each planned entry point into ds.launch ops of the kernels that
// ds-generate-kernels declared. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace dsc {
#define GEN_PASS_DEF_DSSCHEDULE
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct SchedulePass : dsc::impl::DSScheduleBase<SchedulePass> {
  using DSScheduleBase::DSScheduleBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    if (maxSeqLen <= 0 || maxBatch <= 0) {
      module.emitError("ds-schedule: max-seq-len and max-batch must be "
                       "positive");
      return signalPassFailure();
    }
    int64_t page = resolvePageSize(pageSize, maxSeqLen);
    if (page <= 0) {
      module.emitError("ds-schedule: page-size must divide max-seq-len");
      return signalPassFailure();
    }

    // The manifest: ds.weight symbols in module order.
    llvm::DenseMap<StringAttr, uint64_t> weightIndex;
    for (WeightOp w : module.getOps<WeightOp>())
      weightIndex[w.getSymNameAttr()] = weightIndex.size();

    LatentCacheType cacheType;
    module.walk([&](func::FuncOp f) {
      for (Type t : f.getArgumentTypes())
        if (auto c = dyn_cast<LatentCacheType>(t))
          cacheType = c;
    });
    if (!cacheType) {
      module.emitError("ds-schedule: no entry point takes a latent cache");
      return signalPassFailure();
    }
    // Pages are [page][layer][row]: a layer's rows are contiguous in a page.
    uint64_t layerBytes = static_cast<uint64_t>(page) *
                          (cacheType.getLatent() + cacheType.getRope()) * 2;

    SmallVector<func::FuncOp> entries;
    for (auto f : module.getOps<func::FuncOp>())
      if (f->hasAttr("ds.entry"))
        entries.push_back(f);
    for (func::FuncOp f : entries)
      if (failed(schedule(f, weightIndex, layerBytes)))
        return signalPassFailure();

    module->setAttr(
        "ds.cache",
        b.getDictionaryAttr(
            {b.getNamedAttr("layers",
                            b.getI64IntegerAttr(cacheType.getLayers())),
             b.getNamedAttr("latent",
                            b.getI64IntegerAttr(cacheType.getLatent())),
             b.getNamedAttr("rope", b.getI64IntegerAttr(cacheType.getRope())),
             b.getNamedAttr("slots", b.getI64IntegerAttr(maxBatch)),
             b.getNamedAttr("max_seq", b.getI64IntegerAttr(maxSeqLen)),
             b.getNamedAttr("page_size", b.getI64IntegerAttr(page))}));
  }

  LogicalResult schedule(func::FuncOp f,
                         llvm::DenseMap<StringAttr, uint64_t> &weightIndex,
                         uint64_t layerBytes) {
    MLIRContext *ctx = f.getContext();
    OpBuilder b(ctx);
    Block &body = f.getBody().front();
    auto arg = [&](ArgKind kind, uint64_t value) {
      return ArgAttr::get(ctx, kind, value);
    };
    // Where each value lives.
    llvm::DenseMap<Value, ArgAttr> where;
    where[body.getArgument(0)] = arg(ArgKind::Tokens, 0);
    where[body.getArgument(1)] = arg(ArgKind::Positions, 0);
    where[body.getArgument(2)] = arg(ArgKind::Slots, 0);
    where[body.getArgument(3)] = arg(ArgKind::Rows, 0);
    where[body.getArgument(4)] = arg(ArgKind::Sampling, 0);
    Value cache = body.getArgument(5);
    llvm::DenseMap<Value, uint64_t> weightOf;

    SmallVector<std::pair<FlatSymbolRefAttr, ArrayAttr>> launches;
    ArgAttr logits, sampled;
    for (Operation &op : body) {
      if (auto get = dyn_cast<GetWeightOp>(op)) {
        weightOf[get.getResult()] =
            weightIndex.lookup(get.getNameAttr().getAttr());
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        logits = where.lookup(ret.getOperand(0));
        sampled = where.lookup(ret.getOperand(1));
        continue;
      }
      auto kernel = op.getAttrOfType<FlatSymbolRefAttr>("ds.kernel_ref");
      if (!kernel)
        return op.emitOpError("names no kernel (run ds-generate-kernels)");
      if (!SymbolTable::lookupNearestSymbolFrom<KernelOp>(f, kernel.getAttr()))
        return op.emitOpError("runs kernel ")
               << kernel << ", which is not declared";
      auto offsets = op.getAttrOfType<ArrayAttr>("ds.arena_offsets");
      for (OpResult r : op.getResults()) {
        if (isa<LatentCacheType>(r.getType())) {
          where[r] = {};
          continue;
        }
        if (!offsets)
          return op.emitOpError("has no arena offsets (run ds-plan-buffers)");
        where[r] =
            arg(ArgKind::Arena,
                cast<IntegerAttr>(offsets[r.getResultNumber()]).getInt());
      }
      SmallVector<Attribute> args;
      for (const KernelArgument &a : kernelArguments(&op)) {
        if (a.kind == KernelArgument::PageTable) {
          args.push_back(arg(ArgKind::PageTable, 0));
          continue;
        }
        if (a.kind == KernelArgument::Result) {
          args.push_back(where.lookup(op.getResult(a.index)));
          continue;
        }
        Value v = op.getOperand(a.index);
        if (isa<LatentCacheType>(v.getType())) {
          auto layer = op.getAttrOfType<IntegerAttr>("layer");
          args.push_back(arg(ArgKind::Cache, layer.getInt() * layerBytes));
          continue;
        }
        auto w = weightOf.find(v);
        if (w != weightOf.end()) {
          args.push_back(arg(a.kind == KernelArgument::OperandScales
                                 ? ArgKind::WeightScales
                                 : ArgKind::Weight,
                             w->second));
          continue;
        }
        ArgAttr placed = where.lookup(v);
        if (!placed)
          return op.emitOpError("operand #") << a.index << " has no storage";
        args.push_back(placed);
      }
      launches.emplace_back(kernel, b.getArrayAttr(args));
    }
    (void)cache;
    if (!logits || logits.getKind() != ArgKind::Arena || !sampled ||
        sampled.getKind() != ArgKind::Arena)
      return f.emitOpError("must return logits and sampled tokens computed "
                           "in the arena");

    // Replace the body with the launches.
    Location loc = f.getLoc();
    body.clear();
    body.eraseArguments(0, body.getNumArguments());
    f.setType(FunctionType::get(ctx, {}, {}));
    b.setInsertionPointToEnd(&body);
    for (auto &[kernel, args] : launches)
      LaunchOp::create(b, loc, kernel, args);
    func::ReturnOp::create(b, loc);
    f->setAttr("ds.logits", logits);
    f->setAttr("ds.sampled", sampled);
    return success();
  }
};

} // namespace
