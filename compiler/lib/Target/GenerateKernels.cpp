//===- GenerateKernels.cpp - ds-generate-kernels --------------------------===//
//
// The target step that turns configured kernel-level ops into kernels: one
// per distinct signature, in `module @kernels` (and their generic twins in
// `module @host_twins` for --check-kernels builds), each declared as a
// ds.kernel and named on the ops that run it. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/HostKernels.h"
#include "dsc/Target/Passes.h"
#include "dsc/Target/TargetDescription.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace dsc {
#define GEN_PASS_DEF_DSGENERATEKERNELS
#include "dsc/Target/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct GenerateKernelsPass
    : dsc::impl::DSGenerateKernelsBase<GenerateKernelsPass> {
  using DSGenerateKernelsBase::DSGenerateKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    if (maxSeqLen <= 0 || maxBatch <= 0) {
      module.emitError("ds-generate-kernels: max-seq-len and max-batch must "
                       "be positive");
      return signalPassFailure();
    }
    int64_t page = resolvePageSize(pageSize, maxSeqLen);
    if (page <= 0) {
      module.emitError("ds-generate-kernels: page-size must divide "
                       "max-seq-len");
      return signalPassFailure();
    }
    // The layers that share a page: those of the entry points' cache.
    int64_t layers = 1;
    module.walk([&](func::FuncOp f) {
      for (Type t : f.getArgumentTypes())
        if (auto c = dyn_cast<LatentCacheType>(t))
          layers = c.getLayers();
    });
    dsc::CacheGeometry geometry{maxBatch, maxSeqLen, page, layers};

    // CUDA kernels where ds-configure-kernels configured for a CUDA target.
    auto target = module->getAttrOfType<StringAttr>("ds.target");
    bool cuda = target && target.getValue().starts_with("cuda:");
    if (hostTwins && !cuda) {
      module.emitError(
          "ds-generate-kernels: host-twins needs kernels configured "
          "for a cuda target (ds-configure-kernels)");
      return signalPassFailure();
    }
    b.setInsertionPointToEnd(module.getBody());
    auto kernels = ModuleOp::create(b, module.getLoc(), StringRef("kernels"));
    kernels->setAttr("ds.kernels", b.getStringAttr(cuda ? "cuda" : "cpu"));
    // fp8 weights decode with the hardware conversion where the target
    // has one (the "<isa>/<gpu>" that ds-configure-kernels recorded).
    dsc::FP8Decode fp8Decode = dsc::FP8Decode::Table;
    bool weightsBeforeWait = false;
    if (cuda) {
      std::string known;
      std::optional<dsc::TargetDescription> isa =
          dsc::lookupTarget(target.getValue().split('/').first, known);
      if (!isa) {
        module.emitError("ds-generate-kernels: unknown target '")
            << target.getValue() << "' (known: " << known << ")";
        return signalPassFailure();
      }
      fp8Decode = isa->hasFp8Convert ? dsc::FP8Decode::Hardware
                                     : dsc::FP8Decode::ExponentShift;
      weightsBeforeWait = isa->hasGridDependencyControl;
    }
    dsc::HostKernelGenerator generator(kernels, geometry,
                                       /*genericOnly=*/false, fp8Decode,
                                       weightsBeforeWait);
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
      if (failed(generate(f, generator, twins ? &*twins : nullptr)))
        return signalPassFailure();
    const auto &infos = generator.infos();

    // Declare the kernels, in index order, before the entry points.
    b.setInsertionPoint(entries.empty() ? kernels.getOperation()
                                        : entries.front().getOperation());
    for (const dsc::KernelInfo &k : generator.infos()) {
      // What it writes: (argument, dtype, elements per row) triples.
      SmallVector<int64_t> outputs;
      for (const dsc::KernelOutput &o : k.outputs)
        outputs.append({o.arg, o.dtype, o.rowElements});
      DenseI64ArrayAttr variantRows;
      ArrayAttr variantKernels;
      auto found = variants.find(&k - infos.data());
      if (found != variants.end() && !found->second.empty()) {
        SmallVector<int64_t> rows;
        SmallVector<Attribute> kernels;
        for (auto [r, v] : found->second) {
          rows.push_back(r);
          kernels.push_back(FlatSymbolRefAttr::get(ctx, infos[v].name));
        }
        variantRows = b.getDenseI64ArrayAttr(rows);
        variantKernels = b.getArrayAttr(kernels);
      }
      KernelOp::create(b, module.getLoc(), b.getStringAttr(k.name),
                       ParallelDimAttr::get(ctx, k.parallel),
                       b.getI64IntegerAttr(k.extent),
                       RowCountAttr::get(ctx, k.perOutput ? RowCount::Outputs
                                                          : RowCount::Tokens),
                       k.config, variantRows, variantKernels,
                       b.getDenseI64ArrayAttr(outputs),
                       k.writesCache ? b.getUnitAttr() : UnitAttr(), k.cost,
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
          module.emitError("ds-generate-kernels: internal error: no twin ")
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
  }

  /// Generates (or finds) the kernel of `op` with its current `ds.config`,
  /// and its host twin at the same index.
  FailureOr<unsigned> kernelOf(Operation &op,
                               dsc::HostKernelGenerator &generator,
                               dsc::HostKernelGenerator *twins) {
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
    return *kernel;
  }

  /// Generates (or finds) the kernel of every kernel-level op of `f`, and
  /// the kernels of its `ds.variants` (the op generated again with each
  /// variant's config), and names the op's kernel on it.
  LogicalResult generate(func::FuncOp f, dsc::HostKernelGenerator &generator,
                         dsc::HostKernelGenerator *twins) {
    // Every op of an entry point but weight reads, the rank, the
    // collectives (the runtime's steps between launches) and the return is
    // one launch (the generator rejects ops that are not kernel-level).
    for (Operation &op : f.getBody().front()) {
      if (isa<GetWeightOp, RankOp, AllReduceOp, AllGatherOp, func::ReturnOp>(
              op))
        continue;
      SmallVector<std::pair<int64_t, unsigned>> own;
      if (auto list = op.getAttrOfType<ArrayAttr>("ds.variants")) {
        auto config = op.getAttrOfType<KernelConfigAttr>("ds.config");
        if (!config)
          return op.emitOpError("has ds.variants but no ds.config");
        // A variant is the kernel the op would have with its config and
        // no variants (shared with ops configured so).
        op.removeAttr("ds.variants");
        for (auto v : list.getAsRange<KernelVariantAttr>()) {
          op.setAttr("ds.config", v.getConfig());
          FailureOr<unsigned> k = kernelOf(op, generator, twins);
          if (failed(k))
            return failure();
          own.push_back({v.getRows(), *k});
        }
        op.setAttr("ds.config", config);
        op.setAttr("ds.variants", list);
      }
      FailureOr<unsigned> kernel = kernelOf(op, generator, twins);
      if (failed(kernel))
        return failure();
      // Ops that share a kernel share its variants (the signature counts
      // ds.variants).
      auto [at, inserted] = variants.try_emplace(*kernel, own);
      if (!inserted && at->second != own)
        return op.emitOpError("internal error: kernel ")
               << generator.infos()[*kernel].name
               << " generated with other variants";
      if (llvm::any_of(own, [&](auto v) { return v.second == *kernel; }))
        return op.emitOpError("a variant's config is the op's own");
      op.setAttr("ds.kernel_ref",
                 FlatSymbolRefAttr::get(op.getContext(),
                                        generator.infos()[*kernel].name));
    }
    return success();
  }

  /// The (rows, kernel) variants of each kernel that has some.
  llvm::DenseMap<unsigned, SmallVector<std::pair<int64_t, unsigned>>> variants;
};

} // namespace
