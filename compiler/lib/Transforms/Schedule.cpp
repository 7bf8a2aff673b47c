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

#include "llvm/ADT/BitVector.h"

#include <optional>

namespace dsc {
#define GEN_PASS_DEF_DSSCHEDULE
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// A byte range one launch reads or writes: in the arena (space 0) or in
/// the cache (space 1, a layer's rows).
struct Access {
  unsigned space;
  uint64_t begin, end;

  bool overlaps(const Access &o) const {
    return space == o.space && begin < o.end && o.begin < end;
  }
};

struct LaunchAccesses {
  SmallVector<Access> reads, writes;
};

bool anyOverlap(ArrayRef<Access> a, ArrayRef<Access> b) {
  for (const Access &x : a)
    for (const Access &y : b)
      if (x.overlaps(y))
        return true;
  return false;
}

/// Where each launch runs: its stream and the launches of other streams it
/// waits for (see Passes.td).
struct StreamPlacement {
  SmallVector<int32_t> stream;
  SmallVector<SmallVector<int64_t>> waits;
};

/// Places launches with accesses `accesses` (in list order) on at most
/// `streams` streams.
StreamPlacement placeOnStreams(ArrayRef<LaunchAccesses> accesses,
                               int64_t streams) {
  size_t n = accesses.size();
  StreamPlacement placed;
  placed.stream.assign(n, 0);
  placed.waits.resize(n);
  // What each launch follows once placed: its stream's earlier launches,
  // what it waits for, and theirs, transitively.
  SmallVector<llvm::BitVector> follows(n, llvm::BitVector(n));
  SmallVector<int64_t> tail(streams, -1); // each stream's last launch
  for (size_t i = 0; i < n; ++i) {
    // Direct dependencies, latest first, keeping those no kept one implies.
    llvm::BitVector implied(n);
    SmallVector<int64_t> kept;
    for (size_t j = i; j-- > 0;) {
      if (implied[j])
        continue;
      const LaunchAccesses &a = accesses[i], &b = accesses[j];
      if (!anyOverlap(a.writes, b.reads) && !anyOverlap(a.writes, b.writes) &&
          !anyOverlap(a.reads, b.writes))
        continue;
      kept.push_back(static_cast<int64_t>(j));
      implied |= follows[j];
      implied.set(j);
    }
    auto isKept = [&](int64_t launch) {
      return launch >= 0 && llvm::is_contained(kept, launch);
    };
    int64_t chosen = -1;
    // The stream of a direct dependency, the latest one.
    for (int64_t s = 0; s < streams; ++s)
      if (isKept(tail[s]) && (chosen < 0 || tail[s] > tail[chosen]))
        chosen = s;
    // A stream whose last launch it follows anyway.
    for (int64_t s = 0; s < streams && chosen < 0; ++s)
      if (tail[s] >= 0 && implied[tail[s]])
        chosen = s;
    // A stream not used yet.
    for (int64_t s = 0; s < streams && chosen < 0; ++s)
      if (tail[s] < 0)
        chosen = s;
    // Behind the oldest last launch.
    if (chosen < 0) {
      chosen = 0;
      for (int64_t s = 1; s < streams; ++s)
        if (tail[s] < tail[chosen])
          chosen = s;
    }
    llvm::BitVector &mine = follows[i];
    if (int64_t t = tail[chosen]; t >= 0) {
      mine = follows[t];
      mine.set(t);
    }
    for (int64_t j : llvm::reverse(kept)) {
      if (mine[j])
        continue;
      placed.waits[i].push_back(j);
      mine |= follows[j];
      mine.set(j);
    }
    placed.stream[i] = static_cast<int32_t>(chosen);
    tail[chosen] = static_cast<int64_t>(i);
  }
  return placed;
}

struct SchedulePass : dsc::impl::DSScheduleBase<SchedulePass> {
  using DSScheduleBase::DSScheduleBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    if (maxSeqLen <= 0 || maxBatch <= 0 || streams <= 0 || streams > 8) {
      module.emitError("ds-schedule: max-seq-len and max-batch must be "
                       "positive and streams between 1 and 8");
      return signalPassFailure();
    }
    // The runtime has no collectives yet (issue 16): a partitioned program
    // would run each rank's part as if it were the whole model.
    if (module->hasAttr("ds.ranks")) {
      module.emitError("ds-schedule: the module is partitioned over ranks "
                       "(ds-partition); scheduling its collectives is not "
                       "supported yet");
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
    SmallVector<LaunchAccesses> accesses;
    auto maxTokens = f->getAttrOfType<IntegerAttr>("ds.max_tokens");
    if (!maxTokens)
      return f.emitOpError("has no ds.max_tokens (run ds-plan-buffers)");
    // The arena bytes of a placed value, the cache rows of an op's layer.
    auto arenaAccess = [&](Value v, ArgAttr at) {
      uint64_t bytes = dsc::arenaBufferBytes(
          cast<RankedTensorType>(v.getType()), maxTokens.getInt());
      return Access{0, at.getValue(), at.getValue() + bytes};
    };
    auto cacheAccess = [&](Operation &op) {
      auto layer = op.getAttrOfType<IntegerAttr>("layer");
      uint64_t begin = layer.getInt() * layerBytes;
      return Access{1, begin, begin + layerBytes};
    };
    ArgAttr logits, sampled, logProbs, logProbIds;
    int64_t topLogProbs = -1;
    for (Operation &op : body) {
      if (auto get = dyn_cast<GetWeightOp>(op)) {
        weightOf[get.getResult()] =
            weightIndex.lookup(get.getNameAttr().getAttr());
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        logits = where.lookup(ret.getOperand(0));
        sampled = where.lookup(ret.getOperand(1));
        // ds-logprobs: (logits, tokens, log-probabilities, ids, cache).
        if (ret.getNumOperands() == 5) {
          logProbs = where.lookup(ret.getOperand(2));
          logProbIds = where.lookup(ret.getOperand(3));
          topLogProbs = cast<RankedTensorType>(ret.getOperand(3).getType())
                            .getDimSize(1) -
                        1;
          if (!logProbs || logProbs.getKind() != ArgKind::Arena ||
              !logProbIds || logProbIds.getKind() != ArgKind::Arena)
            return f.emitOpError("must return log-probabilities computed in "
                                 "the arena");
        }
        continue;
      }
      auto kernel = op.getAttrOfType<FlatSymbolRefAttr>("ds.kernel_ref");
      if (!kernel)
        return op.emitOpError("names no kernel (run ds-generate-kernels)");
      if (!SymbolTable::lookupNearestSymbolFrom<KernelOp>(f, kernel.getAttr()))
        return op.emitOpError("runs kernel ")
               << kernel << ", which is not declared";
      auto offsets = op.getAttrOfType<ArrayAttr>("ds.arena_offsets");
      LaunchAccesses &access = accesses.emplace_back();
      for (OpResult r : op.getResults()) {
        if (isa<LatentCacheType>(r.getType())) {
          if (!op.hasAttr("layer"))
            return op.emitOpError("writes the cache without a layer");
          where[r] = {};
          access.writes.push_back(cacheAccess(op));
          continue;
        }
        if (!offsets)
          return op.emitOpError("has no arena offsets (run ds-plan-buffers)");
        where[r] =
            arg(ArgKind::Arena,
                cast<IntegerAttr>(offsets[r.getResultNumber()]).getInt());
        access.writes.push_back(arenaAccess(r, where[r]));
      }
      for (Value v : op.getOperands()) {
        if (isa<LatentCacheType>(v.getType())) {
          if (!op.hasAttr("layer"))
            return op.emitOpError("reads the cache without a layer");
          access.reads.push_back(cacheAccess(op));
        } else if (ArgAttr at = where.lookup(v);
                   at && at.getKind() == ArgKind::Arena) {
          access.reads.push_back(arenaAccess(v, at));
        }
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
    StreamPlacement placed = placeOnStreams(accesses, streams);
    for (auto [i, launch] : llvm::enumerate(launches)) {
      DenseI64ArrayAttr waits;
      if (!placed.waits[i].empty())
        waits = b.getDenseI64ArrayAttr(placed.waits[i]);
      LaunchOp::create(b, loc, launch.first, launch.second,
                       b.getI32IntegerAttr(placed.stream[i]), waits);
    }
    func::ReturnOp::create(b, loc);
    f->setAttr("ds.logits", logits);
    f->setAttr("ds.sampled", sampled);
    if (logProbs) {
      f->setAttr("ds.logprobs", logProbs);
      f->setAttr("ds.logprob_ids", logProbIds);
      f->setAttr("ds.top_logprobs", b.getI64IntegerAttr(topLogProbs));
    }
    return success();
  }
};

} // namespace
