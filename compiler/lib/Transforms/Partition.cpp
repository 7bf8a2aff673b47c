//===- Partition.cpp - ds-partition ---------------------------------------===//
//
// Splits a model over several ranks: tensor-parallel attention and MLPs,
// the routed experts interleaved over the ranks, a ds.all_reduce after each
// block a rank computes only part of. See Passes.td and
// docs/design/multi-gpu.md.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

namespace dsc {
#define GEN_PASS_DEF_DSPARTITION
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// The shape of a weight type (an expert stack's leading dimension first).
SmallVector<int64_t> shapeOf(Type type) {
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(type))
    return SmallVector<int64_t>(fp8.getShape());
  return SmallVector<int64_t>(cast<RankedTensorType>(type).getShape());
}

/// `type` with dimension `dim` divided by `ranks`.
Type partOf(Type type, int64_t dim, int64_t ranks) {
  SmallVector<int64_t> shape = shapeOf(type);
  shape[dim] /= ranks;
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(type))
    return FP8BlockWeightType::get(type.getContext(), shape, fp8.getBlockRows(),
                                   fp8.getBlockCols(), fp8.getScales());
  auto tensor = cast<RankedTensorType>(type);
  return RankedTensorType::get(shape, tensor.getElementType());
}

struct PartitionPass : dsc::impl::DSPartitionBase<PartitionPass> {
  using DSPartitionBase::DSPartitionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (tensorParallel < 1) {
      module.emitError("ds-partition: tensor-parallel must be positive, got ")
          << static_cast<int64_t>(tensorParallel);
      return signalPassFailure();
    }
    if (tensorParallel == 1)
      return;
    ranks = tensorParallel;
    DSDialect *dialect = getContext().getLoadedDialect<DSDialect>();
    if (dialect->getRanksAttrHelper().isAttrPresent(module)) {
      module.emitError("ds-partition: the module is already partitioned");
      return signalPassFailure();
    }
    if (failed(chooseShards()) || failed(applyShards()))
      return signalPassFailure();
    rewriteBlocks();
    dialect->getRanksAttrHelper().setAttr(
        module, IntegerAttr::get(IntegerType::get(&getContext(), 64), ranks));
  }

private:
  int64_t ranks = 1;
  /// The part of each weight a rank holds, by symbol, in module order.
  llvm::MapVector<StringAttr, ShardAttr> shards;

  /// Records that `weight` (a ds.get_weight result) is split along `dim`.
  LogicalResult split(Operation *user, Value weight, int64_t dim,
                      bool interleaved = false) {
    auto get = weight.getDefiningOp<GetWeightOp>();
    if (!get)
      return user->emitError("ds-partition: operand is not a ds.get_weight");
    auto shard = ShardAttr::get(&getContext(), dim, ranks, interleaved);
    auto [it, inserted] =
        shards.try_emplace(get.getNameAttr().getAttr(), shard);
    if (!inserted && it->second != shard)
      return user->emitError("ds-partition: weight @")
             << get.getName() << " is split two ways (" << it->second << " and "
             << shard << ")";
    return success();
  }

  /// `what` of `op` (a count of heads, features or experts) divides among
  /// the ranks.
  LogicalResult divides(Operation *op, int64_t count, StringRef what) {
    if (count % ranks == 0)
      return success();
    return op->emitError("ds-partition: ")
           << count << " " << what << " do not split over " << ranks
           << " ranks";
  }

  /// Which weights each block splits, and whether its sizes allow it.
  LogicalResult chooseShards() {
    WalkResult walk = getOperation().walk([&](Operation *op) -> WalkResult {
      if (auto mla = dyn_cast<MLAOp>(op)) {
        // Heads: the rows of q (or q_b) and kv_b, the columns of o.
        if (failed(divides(op, mla.getNumHeads(), "attention heads")) ||
            failed(split(op, mla.getQProj() ? mla.getQProj() : mla.getQBProj(),
                         0)) ||
            failed(split(op, mla.getKvBProj(), 0)) ||
            failed(split(op, mla.getOProj(), 1)))
          return WalkResult::interrupt();
      } else if (auto mlp = dyn_cast<MLPOp>(op)) {
        // Intermediate features: rows of gate and up, columns of down.
        int64_t inner = shapeOf(mlp.getGate().getType()).front();
        if (failed(divides(op, inner, "MLP features")) ||
            failed(split(op, mlp.getGate(), 0)) ||
            failed(split(op, mlp.getUp(), 0)) ||
            failed(split(op, mlp.getDown(), 1)))
          return WalkResult::interrupt();
      } else if (auto head = dyn_cast<LMHeadOp>(op)) {
        // The vocabulary, where it divides (else every rank computes every
        // logit).
        if (head.getWeight().getType().getDimSize(0) % ranks == 0 &&
            failed(split(op, head.getWeight(), 0)))
          return WalkResult::interrupt();
      } else if (auto experts = dyn_cast<MoEExpertsOp>(op)) {
        int64_t count = shapeOf(experts.getGate().getType()).front();
        if (failed(divides(op, count, "routed experts")) ||
            failed(split(op, experts.getGate(), 0, /*interleaved=*/true)) ||
            failed(split(op, experts.getUp(), 0, /*interleaved=*/true)) ||
            failed(split(op, experts.getDown(), 0, /*interleaved=*/true)))
          return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    return failure(walk.wasInterrupted());
  }

  /// Gives each split weight its part's type and shard, and every
  /// ds.get_weight of it the part's type.
  LogicalResult applyShards() {
    ModuleOp module = getOperation();
    llvm::DenseMap<StringAttr, Type> parts;
    for (WeightOp w : module.getOps<WeightOp>()) {
      auto it = shards.find(w.getSymNameAttr());
      if (it == shards.end())
        continue;
      ShardAttr shard = it->second;
      Type type = w.getType();
      Type part = partOf(type, shard.getDim(), ranks);
      w.setType(part);
      w.setShardAttr(shard);
      if (w.getExperts())
        w.setExperts(shapeOf(part).front());
      if (failed(w.verify()))
        return failure();
      parts[w.getSymNameAttr()] = part;
    }
    module.walk([&](GetWeightOp get) {
      auto it = parts.find(get.getNameAttr().getAttr());
      if (it != parts.end())
        get.getResult().setType(it->second);
    });
    return success();
  }

  /// Sets each attention's head count to its rank's, maps the router's
  /// choices to the rank's experts, sums the partial outputs of every split
  /// block with a ds.all_reduce (one per MoE layer for the routed and
  /// shared experts together) and gathers a split lm_head's logits.
  void rewriteBlocks() {
    MLIRContext *context = &getContext();
    IntegerAttr ranksAttr =
        IntegerAttr::get(IntegerType::get(context, 64), ranks);
    auto reduce = [&](OpBuilder &b, Value partial) {
      auto sum = AllReduceOp::create(b, partial.getLoc(), partial.getType(),
                                     partial, ranksAttr);
      partial.replaceAllUsesExcept(sum.getResult(), sum);
      return sum;
    };
    for (auto f : getOperation().getOps<func::FuncOp>()) {
      if (f.isExternal())
        continue;
      Value rank;
      SmallVector<Operation *> blocks;
      f.walk([&](Operation *op) {
        if (isa<MLAOp, MLPOp, MoEExpertsOp, LMHeadOp>(op))
          blocks.push_back(op);
      });
      for (Operation *op : blocks) {
        OpBuilder b(op);
        // A split lm_head's logits: every rank gathers all of them.
        if (auto head = dyn_cast<LMHeadOp>(op)) {
          auto type = cast<RankedTensorType>(head.getResult().getType());
          int64_t vocab = head.getWeight().getType().getDimSize(0);
          if (type.getDimSize(1) == vocab)
            continue;
          head.getResult().setType(RankedTensorType::get(
              {type.getDimSize(0), vocab}, type.getElementType()));
          b.setInsertionPointAfter(head);
          auto all = AllGatherOp::create(b, head.getLoc(), type,
                                         head.getResult(), ranksAttr);
          head.getResult().replaceAllUsesExcept(all.getResult(), all);
          continue;
        }
        if (auto mla = dyn_cast<MLAOp>(op))
          mla.setNumHeads(mla.getNumHeads() / ranks);
        if (auto experts = dyn_cast<MoEExpertsOp>(op)) {
          if (!rank) {
            OpBuilder entry = OpBuilder::atBlockBegin(&f.getBody().front());
            rank = RankOp::create(entry, f.getLoc(),
                                  RankedTensorType::get(
                                      {1}, IntegerType::get(context, 32)))
                       .getResult();
          }
          Value indices = experts.getIndices();
          auto local = MoELocalChoicesOp::create(
              b, op->getLoc(), indices.getType(), indices, rank, ranksAttr);
          experts.getIndicesMutable().assign(local.getResult());
        }
        b.setInsertionPointAfter(op);
        reduce(b, op->getResult(0));
      }
      // all_reduce(a) + all_reduce(b) = all_reduce(a + b): the routed and
      // shared experts' partial sums cross the ranks once.
      SmallVector<AddOp> adds;
      f.walk([&](AddOp add) { adds.push_back(add); });
      for (AddOp add : adds) {
        auto lhs = add.getLhs().getDefiningOp<AllReduceOp>();
        auto rhs = add.getRhs().getDefiningOp<AllReduceOp>();
        if (!lhs || !rhs || lhs == rhs || !lhs->hasOneUse() ||
            !rhs->hasOneUse())
          continue;
        OpBuilder b(add);
        auto sum = AddOp::create(b, add.getLoc(), add.getType(), lhs.getInput(),
                                 rhs.getInput());
        auto total = reduce(b, sum.getResult());
        add.getResult().replaceAllUsesWith(total.getResult());
        add.erase();
        lhs.erase();
        rhs.erase();
      }
    }
  }
};
} // namespace
