//===- PlanBuffers.cpp - ds-plan-buffers
//-----------------------------------===//
//
// Liveness-based first-fit placement of every activation of the entry
// points in one arena. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/BitVector.h"

#include <map>

namespace dsc {
#define GEN_PASS_DEF_DSPLANBUFFERS
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;

namespace {

constexpr uint64_t kAlignment = 64;

uint64_t alignUp(uint64_t n) {
  return (n + kAlignment - 1) / kAlignment * kAlignment;
}

} // namespace

uint64_t dsc::arenaBufferBytes(RankedTensorType type, int64_t maxTokens) {
  uint64_t elements = 1;
  for (int64_t d : type.getShape())
    elements *= ShapedType::isDynamic(d) ? maxTokens : d;
  return alignUp(elements * ((type.getElementTypeBitWidth() + 7) / 8));
}

namespace {

/// First-fit placement over [0, infinity) with a running peak. Each
/// placed buffer stays occupied until the caller frees it.
class Arena {
public:
  uint64_t allocate(uint64_t bytes) {
    uint64_t offset = 0;
    for (auto [start, size] : live) {
      if (start >= offset + bytes)
        break;
      offset = std::max(offset, start + size);
    }
    live.emplace(offset, bytes);
    peak = std::max(peak, offset + bytes);
    return offset;
  }
  void release(uint64_t offset) { live.erase(offset); }
  uint64_t peak = 0;

private:
  std::map<uint64_t, uint64_t> live; // start -> size
};

struct PlanBuffersPass : dsc::impl::DSPlanBuffersBase<PlanBuffersPass> {
  using DSPlanBuffersBase::DSPlanBuffersBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder b(&getContext());
    uint64_t arenaBytes = 0;
    for (auto func : module.getOps<func::FuncOp>()) {
      auto entry = func->getAttrOfType<StringAttr>("ds.entry");
      if (!entry)
        continue;
      int64_t maxTokens =
          entry.getValue() == "decode" ? maxBatch : prefillChunk;
      if (maxTokens <= 0) {
        func.emitError("ds-plan-buffers: max tokens must be positive");
        return signalPassFailure();
      }
      func->setAttr("ds.max_tokens", b.getI64IntegerAttr(maxTokens));
      arenaBytes = std::max(arenaBytes, plan(func, maxTokens));
    }
    module->setAttr("ds.arena_bytes", b.getI64IntegerAttr(arenaBytes));
  }

  uint64_t plan(func::FuncOp func, int64_t maxTokens) {
    Builder b(func.getContext());
    Block &body = func.getBody().front();
    SmallVector<Operation *> ops;
    llvm::DenseMap<Operation *, unsigned> index;
    for (Operation &op : body) {
      index[&op] = ops.size();
      ops.push_back(&op);
    }
    // Last user of each value, in op order.
    llvm::DenseMap<Value, Operation *> lastUse;
    for (Operation &op : body)
      for (Value operand : op.getOperands())
        lastUse[operand] = &op;
    // Concurrent plans: each op's data-flow ancestors.
    SmallVector<llvm::BitVector> ancestors;
    if (concurrent) {
      ancestors.assign(ops.size(), llvm::BitVector(ops.size()));
      for (auto [i, op] : llvm::enumerate(ops))
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp();
              def && def->getBlock() == &body) {
            ancestors[i] |= ancestors[index[def]];
            ancestors[i].set(index[def]);
          }
    }
    Arena arena;
    llvm::DenseMap<Value, uint64_t> placed;
    // Concurrent plans: buffers past their last use, freed for the first op
    // that follows every user of theirs.
    SmallVector<std::pair<Value, uint64_t>> retired;
    for (auto [i, opPtr] : llvm::enumerate(ops)) {
      Operation &op = *opPtr;
      if (concurrent)
        llvm::erase_if(retired, [&](const std::pair<Value, uint64_t> &r) {
          for (Operation *user : r.first.getUsers())
            if (!ancestors[i][index[user]])
              return false;
          arena.release(r.second);
          return true;
        });
      SmallVector<Attribute> offsets;
      bool any = false;
      for (Value result : op.getResults()) {
        auto type = dyn_cast<RankedTensorType>(result.getType());
        // Weights live in their own buffers, the rank of a partitioned
        // program in the runtime's: only computed tensors are placed.
        if (!type || isa<dsc::ds::GetWeightOp, dsc::ds::RankOp>(op)) {
          offsets.push_back(b.getI64IntegerAttr(-1));
          continue;
        }
        uint64_t offset =
            arena.allocate(dsc::arenaBufferBytes(type, maxTokens));
        placed[result] = offset;
        offsets.push_back(b.getI64IntegerAttr(static_cast<int64_t>(offset)));
        any = true;
      }
      if (any)
        op.setAttr("ds.arena_offsets", b.getArrayAttr(offsets));
      // Operands whose last use this is are free for the next op (or, in a
      // concurrent plan, retire until their users are all behind an op).
      // Values the function returns stay live to the end.
      for (Value operand : op.getOperands()) {
        auto it = placed.find(operand);
        if (it != placed.end() && lastUse[operand] == &op &&
            !isa<func::ReturnOp>(op)) {
          if (concurrent)
            retired.emplace_back(operand, it->second);
          else
            arena.release(it->second);
          placed.erase(it);
        }
      }
    }
    return arena.peak;
  }
};

} // namespace
