//===- Schedule.cpp - ds-schedule
//------------------------------------------===//
//
// Generates the host kernels (deduplicated by signature) into a nested
// `module @kernels` and rewrites each planned entry point into ds.launch
// ops. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Target/HostKernels.h"

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
    int64_t page = pageSize;
    if (page == 0)
      for (page = std::min<int64_t>(64, maxSeqLen); maxSeqLen % page;)
        --page;
    if (page <= 0 || maxSeqLen % page != 0) {
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
    dsc::CacheGeometry geometry{maxBatch, maxSeqLen, page,
                                cacheType.getLayers()};

    // CUDA kernels where ds-configure-kernels configured for a CUDA target.
    auto target = module->getAttrOfType<StringAttr>("ds.target");
    bool cuda = target && target.getValue().starts_with("cuda:");
    if (hostTwins && !cuda) {
      module.emitError("ds-schedule: host-twins needs kernels configured for "
                       "a cuda target (ds-configure-kernels)");
      return signalPassFailure();
    }
    b.setInsertionPointToEnd(module.getBody());
    auto kernels = ModuleOp::create(b, module.getLoc(), StringRef("kernels"));
    kernels->setAttr("ds.kernels", b.getStringAttr(cuda ? "cuda" : "cpu"));
    dsc::HostKernelGenerator generator(kernels, geometry);
    // Check builds: the generic host lowering of every kernel, with the
    // same indices (both generators deduplicate by the same signature).
    std::optional<dsc::HostKernelGenerator> twins;
    if (hostTwins) {
      auto twinModule =
          ModuleOp::create(b, module.getLoc(), StringRef("host_twins"));
      twinModule->setAttr("ds.twin_kernels", b.getStringAttr("cpu"));
      twins.emplace(twinModule, geometry,
                    /*genericOnly=*/true);
    }

    SmallVector<func::FuncOp> entries;
    for (auto f : module.getOps<func::FuncOp>())
      if (f->hasAttr("ds.entry"))
        entries.push_back(f);
    // Warp-cooperative kernels need a CUDA target's warp shuffles.
    if (!cuda) {
      WalkResult cpuOnly = module.walk([&](Operation *op) {
        auto config = op->getAttrOfType<KernelConfigAttr>("ds.config");
        if (config && config.isWarpCooperative()) {
          op->emitOpError("is configured for a CUDA strategy ('")
              << stringifyKernelStrategy(config.getStrategy())
              << "') but the kernels are for the host (run "
                 "ds-configure-kernels with a cuda target)";
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      });
      if (cpuOnly.wasInterrupted())
        return signalPassFailure();
    }
    for (func::FuncOp f : entries)
      if (failed(schedule(f, generator, twins ? &*twins : nullptr, weightIndex,
                          layerBytes)))
        return signalPassFailure();

    // Declare the kernels, in index order, before the entry points.
    b.setInsertionPoint(entries.empty() ? kernels.getOperation()
                                        : entries.front().getOperation());
    for (const dsc::KernelInfo &k : generator.infos()) {
      // What it writes: (argument, dtype, elements per row) triples.
      SmallVector<int64_t> outputs;
      for (const dsc::KernelOutput &o : k.outputs)
        outputs.append({o.arg, o.dtype, o.rowElements});
      KernelOp::create(b, module.getLoc(), b.getStringAttr(k.name),
                       ParallelDimAttr::get(ctx, k.parallel),
                       b.getI64IntegerAttr(k.extent),
                       RowCountAttr::get(ctx, k.perOutput ? RowCount::Outputs
                                                          : RowCount::Tokens),
                       k.config, b.getDenseI64ArrayAttr(outputs),
                       k.writesCache ? b.getUnitAttr() : UnitAttr(),
                       b.getStringAttr(k.summary));
    }
    if (twins) {
      // (parallel, extent) of each kernel's host twin. A twin carries the
      // name of the kernel it mirrors, so the executable's host table pairs
      // them by name.
      SmallVector<Attribute> shapes;
      SmallVector<func::FuncOp> functions;
      for (const dsc::KernelInfo &twin : twins->infos()) {
        shapes.push_back(b.getDenseI64ArrayAttr(
            {static_cast<int64_t>(twin.parallel), twin.extent}));
        functions.push_back(
            twins->module().lookupSymbol<func::FuncOp>(twin.name));
        if (!functions.back()) {
          module.emitError("ds-schedule: internal error: no twin ")
              << twin.name;
          return signalPassFailure();
        }
      }
      // Kernel and twin names may overlap in another order: rename in two
      // steps so no two functions ever share a name.
      for (auto [i, f] : llvm::enumerate(functions))
        SymbolTable::setSymbolName(f, "dsc_twin_" + std::to_string(i));
      for (auto [k, f] : llvm::zip_equal(generator.infos(), functions))
        SymbolTable::setSymbolName(f, k.name);
      module->setAttr("ds.host_twins", b.getArrayAttr(shapes));
    }
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

  LogicalResult schedule(func::FuncOp f, dsc::HostKernelGenerator &generator,
                         dsc::HostKernelGenerator *twins,
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
      FailureOr<unsigned> kernel = generator.getOrCreate(&op);
      if (failed(kernel))
        return failure();
      if (twins) {
        FailureOr<unsigned> twin = twins->getOrCreate(&op);
        if (failed(twin))
          return failure();
        if (*twin != *kernel)
          return op.emitOpError("internal error: host twin ")
                 << *twin << " of kernel " << *kernel;
      }
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
      for (const dsc::KernelArgument &a : dsc::kernelArguments(&op)) {
        if (a.kind == dsc::KernelArgument::PageTable) {
          args.push_back(arg(ArgKind::PageTable, 0));
          continue;
        }
        if (a.kind == dsc::KernelArgument::Result) {
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
          args.push_back(arg(a.kind == dsc::KernelArgument::OperandScales
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
      launches.emplace_back(
          FlatSymbolRefAttr::get(ctx, generator.infos()[*kernel].name),
          b.getArrayAttr(args));
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
