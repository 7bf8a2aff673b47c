//===- Emitter.h - the vocabulary kernel generators build IR with -*- C++
//-*-===//
//
// The small kernel-building library every kernel strategy uses: `Emitter`
// wraps an OpBuilder positioned in one kernel function with constants,
// arithmetic, pointer loads and stores, loops and reductions over raw
// pointers, warp shuffles (CUDA strategies), and the reads of bf16 and fp8
// block-scaled weights (`WeightView`). Numeric helpers shared by strategies
// (rope frequencies, the e4m3 decoding table, shape queries) are declared
// here and defined in Emitter.cpp.
//
// Numerics follow docs/model.md §9b: bf16 in memory, fp32 arithmetic, bf16
// rounding exactly where the references round.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_KERNELS_EMITTER_H
#define DSC_TARGET_KERNELS_EMITTER_H

#include "dsc/Target/HostKernels.h"

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <tuple>
#include <vector>

namespace dsc::kernels {

using namespace mlir;
using namespace dsc::ds;

/// A weight operand as the kernel sees it: data (bf16 or e4m3 bytes) and,
/// for fp8, its f32 block scales; [experts,] rows x cols.
struct WeightView {
  Value data, scales;
  bool fp8 = false;
  int64_t rows = 0, cols = 0, blockRows = 1, blockCols = 1, scaleRows = 0,
          scaleCols = 0;
  /// Whether rows read as 16-byte groups of 8 columns inside one scale
  /// block (dotLanes, weightGroup).
  bool readsInGroups() const {
    return cols % 8 == 0 && (!fp8 || blockCols % 8 == 0);
  }
};

class Emitter {
public:
  Emitter(OpBuilder &builder, Location loc, func::FuncOp func, Operation *op,
          LLVM::GlobalOp fp8Table)
      : b(builder), loc(loc), op(op), fp8Table(fp8Table) {
    Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    argsPtr = entry->getArgument(0);
    tokens = entry->getArgument(1);
    begin = entry->getArgument(2);
    end = entry->getArgument(3);
    ptrType = LLVM::LLVMPointerType::get(b.getContext());
    auto layout = kernelArguments(op);
    for (unsigned i = 0; i < layout.size(); ++i) {
      Value slot = gep(argsPtr, ptrType, c64(i));
      Value ptr = LLVM::LoadOp::create(b, loc, ptrType, slot);
      const KernelArgument &a = layout[i];
      if (a.kind == KernelArgument::Operand)
        operandPtrs[a.index] = ptr;
      else if (a.kind == KernelArgument::OperandScales)
        scalePtrs[a.index] = ptr;
      else if (a.kind == KernelArgument::PageTable)
        pageTable = ptr;
      else
        resultPtrs[a.index] = ptr;
    }
  }

  OpBuilder &b;
  Location loc;
  Operation *op;
  LLVM::GlobalOp fp8Table;
  /// How warp kernels decode fp8 weights (the generic loops always use the
  /// table and per-element bf16 rounding of the references).
  FP8Decode fp8Decode = FP8Decode::Table;
  /// CUDA targets with griddepcontrol: a product may issue its first weight
  /// loads and then wait for the previous kernel itself
  /// (waitForPredecessor), so that the weights' latency overlaps that
  /// kernel's tail; `waitsInBody` records that the body did.
  bool weightsBeforeWait = false;
  bool waitsInBody = false;
  /// Blocks per SM a CUDA body's registers must allow (0: no bound).
  int64_t minBlocksPerSM = 0;
  Value argsPtr, tokens, begin, end;
  /// The launch's page table (i32 page ids), for ops that read the cache.
  Value pageTable;
  Type ptrType;
  llvm::DenseMap<unsigned, Value> operandPtrs, scalePtrs, resultPtrs;

  // Constants and arithmetic.
  Value c64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivSIOp::create(b, loc, x, y); }
  Value fsubI(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  /// x*y+acc with reassociation allowed, so reductions vectorise.
  Value fma(Value x, Value y, Value acc) {
    auto flags = arith::FastMathFlagsAttr::get(
        b.getContext(),
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
    Value product = arith::MulFOp::create(b, loc, x, y, flags);
    return arith::AddFOp::create(b, loc, acc, product, flags);
  }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value exp(Value x) { return math::ExpOp::create(b, loc, x); }
  Value roundBF16(Value x) {
    Value narrow = arith::TruncFOp::create(b, loc, b.getBF16Type(), x);
    return arith::ExtFOp::create(b, loc, b.getF32Type(), narrow);
  }
  Value silu(Value x) {
    Value one = f32(1.0);
    return fdiv(x, fadd(one, exp(fsub(f32(0.0), x))));
  }
  Value i32ToI64(Value x) {
    return arith::ExtSIOp::create(b, loc, b.getI64Type(), x);
  }

  // Memory.
  Value gep(Value base, Type element, Value index) {
    return LLVM::GEPOp::create(b, loc, ptrType, element, base,
                               ArrayRef<LLVM::GEPArg>{index});
  }
  Value load(Value base, Type element, Value index) {
    return LLVM::LoadOp::create(b, loc, element, gep(base, element, index));
  }
  void store(Value value, Value base, Value index) {
    LLVM::StoreOp::create(b, loc, value, gep(base, value.getType(), index));
  }
  /// An element widened to f32 (bf16 and f32 buffers).
  Value loadF32(Value base, Type element, Value index) {
    Value v = load(base, element, index);
    return element.isF32() ? v
                           : arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  }
  Value loadBF16(Value base, Value index) {
    return loadF32(base, b.getBF16Type(), index);
  }
  void storeBF16(Value value, Value base, Value index) {
    store(arith::TruncFOp::create(b, loc, b.getBF16Type(), value), base, index);
  }
  Value loadI64(Value base, Value index) {
    return i32ToI64(load(base, b.getI32Type(), index));
  }
  /// A stack array of `count` f32, allocated once at function entry.
  Value scratch(int64_t count) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&begin.getParentBlock()->getParent()->front());
    return LLVM::AllocaOp::create(b, loc, ptrType, b.getF32Type(), c64(count),
                                  /*alignment=*/64);
  }

  // Loops.
  void loop(Value lb, Value ub, const std::function<void(Value)> &body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, c64(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }
  void loop(int64_t lb, int64_t ub, const std::function<void(Value)> &body) {
    loop(c64(lb), c64(ub), body);
  }
  void loop(Value lb, Value ub, const std::function<void(Value)> &body,
            int64_t step) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, c64(step));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }
  Value reduce(Value lb, Value ub, Value init,
               const std::function<Value(Value, Value)> &body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, c64(1), ValueRange{init});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    Value next = body(forOp.getInductionVar(), forOp.getRegionIterArgs()[0]);
    scf::YieldOp::create(b, loc, next);
    return forOp.getResult(0);
  }
  Value reduce(int64_t lb, int64_t ub, Value init,
               const std::function<Value(Value, Value)> &body) {
    return reduce(c64(lb), c64(ub), init, body);
  }
  Value reduceStep(Value lb, Value ub, int64_t step, Value init,
                   const std::function<Value(Value, Value)> &body) {
    auto forOp =
        scf::ForOp::create(b, loc, lb, ub, c64(step), ValueRange{init});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    Value next = body(forOp.getInductionVar(), forOp.getRegionIterArgs()[0]);
    scf::YieldOp::create(b, loc, next);
    return forOp.getResult(0);
  }

  // Warps (GPU variants): 32 lanes share one output.
  static constexpr int64_t kWarp = 32;
  Value rem(Value x, Value y) { return arith::RemSIOp::create(b, loc, x, y); }
  /// The sum of `v` over the 32 lanes, in every lane (butterfly shuffles;
  /// all lanes add the same pairs, so all hold the same bits).
  Value warpSum(Value v) {
    for (int32_t offset = 16; offset >= 1; offset /= 2)
      v = fadd(v, shuffleXor(v, offset));
    return v;
  }
  /// `v` of the lane whose index differs from this one in the bits of
  /// `offset` (f32 or i32).
  Value shuffleXor(Value v, int32_t offset) {
    auto c32 = [&](int32_t x) {
      return arith::ConstantIntOp::create(b, loc, x, 32).getResult();
    };
    auto kind = NVVM::ShflKindAttr::get(b.getContext(), NVVM::ShflKind::bfly);
    return NVVM::ShflOp::create(b, loc, v.getType(), c32(-1), v, c32(offset),
                                c32(31), kind, UnitAttr());
  }
  /// An RMSNorm a product applies to its activations as it reads them (a
  /// fused ds.rms_norm, ds-fuse-norms): x_k becomes
  /// bf16(bf16(x_k * inv) * g_k), inv = 1 / sqrt(mean(x^2) + eps) over the
  /// row, the roundings of the ds.rms_norm kernel.
  struct RowNorm {
    Value weight; // g: bf16, one per feature
    double eps = 0;
    /// The row's inv; null where the dot product derives it (withInv;
    /// dotLanes by a pass over the row before its loop).
    Value inv = {};
  };

  /// Work a product does on its activations before reading them
  /// (KernelBody::normalizedRowStage), in three steps that dotLanes places
  /// around its first weight loads: `weights` loads data no kernel writes
  /// (it may precede the wait for the previous kernel), `loads` issues the
  /// loads of what the previous kernel wrote, `finish` does the rest.
  struct Prologue {
    std::function<void()> weights, loads, finish;
    /// The activations it leaves in shared memory (a term's x): read as
    /// they are used, not with the weights.
    Value row;
    /// Whether `row` holds the activations as they are used (no term reads
    /// them through a norm), so that a lane may read its 16 fp8 columns as
    /// two 8-column halves there (`wide`).
    bool plainRows = false;
    /// All three steps in order, where nothing is placed between them.
    void run() const {
      weights();
      loads();
      finish();
    }
  };

  /// This lane's part of sum_k x[xOffset + k] * W[expert, n, k]: the k that
  /// are `lane` modulo 32 (consecutive lanes read consecutive elements).
  /// Four independent partial sums (k, k + 32, k + 64, k + 96) keep four
  /// loads in flight per lane; out-of-range k contribute zero.
  /// With `norm`, x is read through that RMSNorm (x bf16).
  Value dotLane(Value x, Type xElement, Value xOffset, const WeightView &w,
                Value expert, Value n, Value lane,
                const RowNorm *norm = nullptr, bool weightsFirst = false,
                const Prologue *prologue = nullptr) {
    if (xElement.isBF16() && w.readsInGroups())
      return dotLanes(x, {DotTerm{&w, xOffset, expert, n, 0, {}, norm}}, lane,
                      0, kLoadsInFlight, weightsFirst, prologue)
          .front();
    if (prologue)
      prologue->run();
    RowNorm normWithInv =
        norm ? withInv(*norm, x, xOffset, w.cols, lane) : RowNorm{};
    constexpr int kChains = 4;
    Value cols = c64(w.cols), last = c64(w.cols - 1);
    SmallVector<Value> init(kChains, f32(0.0));
    auto forOp =
        scf::ForOp::create(b, loc, lane, cols, c64(kWarp * kChains), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      SmallVector<Value> next;
      for (int u = 0; u < kChains; ++u) {
        Value k = add(forOp.getInductionVar(), c64(kWarp * u));
        Value inRange =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, cols);
        Value safeK = arith::SelectOp::create(b, loc, inRange, k, last);
        Value xv = loadF32(x, xElement, add(xOffset, safeK));
        if (norm)
          xv = normalized(xv, loadBF16(normWithInv.weight, safeK),
                          normWithInv.inv);
        xv = arith::SelectOp::create(b, loc, inRange, xv, f32(0.0));
        next.push_back(fma(xv, weightElement(w, expert, n, safeK),
                           forOp.getRegionIterArgs()[u]));
      }
      scf::YieldOp::create(b, loc, next);
    }
    Value sum = forOp.getResult(0);
    for (int u = 1; u < kChains; ++u)
      sum = fadd(sum, forOp.getResult(u));
    return sum;
  }

  /// inv of the row x[offset, offset + width) (bf16): serially when `lane`
  /// is null, else by the warp's lanes (16-byte loads where 8 | width),
  /// every lane ending with the same value.
  Value rowInvRMS(Value x, Value offset, int64_t width, double eps,
                  Value lane) {
    Value sum;
    if (!lane) {
      sum = reduce(0, width, f32(0.0), [&](Value k, Value acc) {
        Value v = loadBF16(x, add(offset, k));
        return fma(v, v, acc);
      });
    } else if (width % 8 == 0) {
      // Unrolled: a lane's 16-byte groups are loaded kLoadsInFlight at a
      // time, not one latency per group.
      auto group = VectorType::get({8}, b.getBF16Type());
      int64_t groups = (width + kWarp * 8 - 1) / (kWarp * 8);
      Value first = mul(lane, c64(8)), last = c64(width - 8);
      sum = f32(0.0);
      for (int64_t g0 = 0; g0 < groups; g0 += kLoadsInFlight) {
        SmallVector<std::pair<Value, Value>> loaded; // (inRange, group)
        for (int64_t g = g0; g < std::min(groups, g0 + kLoadsInFlight); ++g) {
          Value k = add(first, c64(g * kWarp * 8));
          Value inRange = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::slt, k, c64(width));
          Value safeK = arith::SelectOp::create(b, loc, inRange, k, last);
          loaded.push_back(
              {inRange,
               LLVM::LoadOp::create(b, loc, group,
                                    gep(x, b.getBF16Type(), add(offset, safeK)),
                                    /*alignment=*/16)});
        }
        issueLoadsAbove();
        for (auto [inRange, v] : loaded) {
          Value part = f32(0.0);
          for (Value xk : unpack(v, 8))
            part = fma(xk, xk, part);
          sum = fadd(sum,
                     arith::SelectOp::create(b, loc, inRange, part, f32(0.0)));
        }
      }
      sum = warpSum(sum);
    } else {
      sum = warpSum(reduceStep(lane, c64(width), kWarp, f32(0.0),
                               [&](Value k, Value acc) {
                                 Value v = loadBF16(x, add(offset, k));
                                 return fma(v, v, acc);
                               }));
    }
    return invRMS(sum, width, eps);
  }
  /// 1 / sqrt(sum / width + eps), as the ds.rms_norm kernels compute it.
  Value invRMS(Value sumSquares, int64_t width, double eps) {
    Value meanSquare = fdiv(sumSquares, f32(static_cast<double>(width)));
    return fdiv(f32(1.0),
                math::SqrtOp::create(b, loc, fadd(meanSquare, f32(eps))));
  }
  /// `norm` with its inv for the row at x[offset...] of `width` features.
  RowNorm withInv(const RowNorm &norm, Value x, Value offset, int64_t width,
                  Value lane) {
    RowNorm n = norm;
    if (!n.inv)
      n.inv = rowInvRMS(x, offset, width, n.eps, lane);
    return n;
  }
  /// Feature x (f32 of a bf16) of a row with inverse RMS `inv`, through the
  /// norm weight's g.
  Value normalized(Value x, Value g, Value inv) {
    return roundBF16(fmul(roundBF16(fmul(x, inv)), g));
  }

  /// The warp sums of a SwiGLU's gate and up rows `row` of `expert`
  /// against x[xOffset...] (bf16): in one pass (dotLanes) where both read
  /// in 16-byte groups of one row length, else one after the other.
  std::pair<Value, Value>
  gateUpWarpSums(Value x, Value xOffset, const WeightView &gate,
                 const WeightView &up, Value expert, Value row, Value lane,
                 const RowNorm *norm = nullptr, bool weightsFirst = false,
                 const Prologue *prologue = nullptr) {
    if (gate.readsInGroups() && up.readsInGroups() && gate.cols == up.cols) {
      SmallVector<Value> parts =
          dotLanes(x,
                   {DotTerm{&gate, xOffset, expert, row, 0, {}, norm},
                    DotTerm{&up, xOffset, expert, row, 0, {}, norm}},
                   lane, 0, kLoadsInFlight, weightsFirst, prologue);
      return {warpSum(parts[0]), warpSum(parts[1])};
    }
    if (prologue)
      prologue->run();
    Type bf16 = b.getBF16Type();
    RowNorm withRowInv;
    if (norm) {
      withRowInv = withInv(*norm, x, xOffset, gate.cols, lane);
      norm = &withRowInv;
    }
    Value g = warpSum(dotLane(x, bf16, xOffset, gate, expert, row, lane, norm));
    return {g, warpSum(dotLane(x, bf16, xOffset, up, expert, row, lane, norm))};
  }

  /// One of the dot products dotLanes computes together:
  /// sum_k x[xOffset + k] * W[expert, row, kOffset + k], k in [0, length).
  struct DotTerm {
    const WeightView *w;
    Value xOffset, expert, row;
    /// A static start column (a multiple of 8, and of the scale block for
    /// fp8): a term can cover one segment of a longer row.
    int64_t kOffset = 0;
    /// Its activations' buffer (null: dotLanes' x).
    Value x = {};
    /// The RMSNorm its activations are read through, if any (x[xOffset...]
    /// is then the whole row the norm spans).
    const RowNorm *norm = nullptr;
    /// An earlier term (its index) whose weight row this term reads against
    /// other activations (another input row of a `row_group` product): its
    /// loads and decoded weights are that term's, not loaded again. -1:
    /// none.
    int64_t weightsOf = -1;
  };

  /// Where dotLanes stages a warp's weights (the `warp_async` strategy):
  /// this warp's region of the block's shared memory (`base`, a pointer in
  /// the shared address space) and its layout (ds::warpStageLayout of the
  /// terms). Every group of every term (and, for fp8, its block scale) is
  /// copied there by cp.async, `layout.stages` iterations ahead of its use,
  /// and read back by the lane that copied it: no barrier, and no register
  /// holds a weight in flight. With 16 columns a lane (`laneColumns`: fp8
  /// terms only), each lane's group is one 16-byte copy, and the group's
  /// block scales (`scaleBytes` a term) are copied once each by the first
  /// lanes and read by all: there the warp meets (bar.warp.sync, no block
  /// barrier) after its wait and before it refills a stage.
  struct WeightStage {
    Value base;
    int64_t stages = 1, iterationBytes = 0, groupsPerIteration = 0,
            laneColumns = 8, scaleBytes = 0;
  };

  /// Weight loads of 16 bytes or fewer one lane keeps in flight per
  /// iteration of dotLanes (with as many activation loads: ~128 registers).
  static constexpr int64_t kLoadsInFlight = 16;

  /// This lane's parts of several dot products of one row length, in one
  /// pass: each lane takes 8 consecutive k per group (8 bf16 activations
  /// and 8 bf16 or fp8 weights of one scale block; rows and activations
  /// start 16-byte aligned and cols is a multiple of 8), and every
  /// iteration issues all terms' loads for as many groups as
  /// kLoadsInFlight allows before any arithmetic, so a warp has up to
  /// 8 KB of weights in flight (a matrix-vector product is bound by bytes
  /// in flight per SM). On CUDA targets with fp8 decoding (fp8Decode not
  /// Table) an fp8 group is decoded two bytes at a time and its f32 sum
  /// multiplied by the block scale once; the host (Table) rounds every
  /// dequantised weight to bf16 as the references do.
  /// `length` is the terms' common length (0: the first term's row). A
  /// term with a norm normalises each activation as it is used (its inv,
  /// unless given, from a pass over the row before the loop).
  /// `weightsFirst` (the caller has loaded nothing a kernel writes): with
  /// weightsBeforeWait, the first iteration's weights are requested, then
  /// the body waits for the previous kernel, then the activations are read.
  /// A `prologue` prepares the activations (a normalised row in shared
  /// memory): its loads are issued beside the first iteration's weight
  /// loads and its work done while they are in flight, before any
  /// activation is read.
  SmallVector<Value> dotLanes(Value x, ArrayRef<DotTerm> terms, Value lane,
                              int64_t length = 0,
                              int64_t loadsInFlight = kLoadsInFlight,
                              bool weightsFirst = false,
                              const Prologue *prologue = nullptr,
                              const WeightStage *stage = nullptr) {
    constexpr int64_t kVec = 8;
    int64_t cols = length ? length : terms.front().w->cols;
    // A prologue's barrier keeps the first iteration's weights in registers
    // until the block meets (ptxas cannot sink them below it): half as many
    // 16-byte (bf16) loads keep the registers near those of the kernel
    // without; 8-byte fp8 loads take half the registers already.
    bool fp8Terms =
        llvm::all_of(terms, [](const DotTerm &term) { return term.w->fp8; });
    if (prologue && !fp8Terms && !stage)
      loadsInFlight = std::max<int64_t>(loadsInFlight / 2, 1);
    // 16 columns a lane in registers (`wide`; the `warp` strategy's fp8
    // products, as a staged pass's pairs: ds::fp8PairColumns): a lane's
    // weights one 16-byte load a term, its block scale one load for the
    // 16, its activations two 16-byte loads, and half as many groups an
    // iteration (the same bytes in flight). Not with norms or a norm's
    // prologue (their activations are read 8 columns at a time; plain rows
    // staged in shared memory are read a half at a time), nor where halving
    // would leave less than one group a term that loads, nor on the host
    // (Table).
    int64_t termCount = static_cast<int64_t>(terms.size());
    int64_t firstBlockCols = terms.front().w->blockCols;
    // Terms that read their own weights (the others share an earlier
    // term's loads).
    int64_t weightTerms = llvm::count_if(
        terms, [](const DotTerm &term) { return term.weightsOf < 0; });
    bool sharing = weightTerms < termCount;
    assert((!sharing || !stage) && "a staged pass reads every term's weights");
    bool wide = !stage && (!prologue || prologue->plainRows) && fp8Terms &&
                fp8Decode != FP8Decode::Table &&
                loadsInFlight >= 2 * weightTerms &&
                llvm::all_of(terms,
                             [&](const DotTerm &term) {
                               return !term.norm &&
                                      term.w->blockCols == firstBlockCols &&
                                      term.kOffset % firstBlockCols == 0;
                             }) &&
                fp8PairColumns(cols, /*bf16Terms=*/0, firstBlockCols);
    int64_t laneColumns = wide ? kWarpAsyncFp8PairColumns : kVec;
    int64_t groups = (cols + kWarp * laneColumns - 1) / (kWarp * laneColumns);
    // Terms that share a weight row hold one weight load a group between
    // them; their activations, from a prologue's shared row, are read as
    // they are used (else each term's is a load beside the weights).
    int64_t loadsPerGroup = termCount;
    if (sharing) {
      loadsPerGroup = 0;
      for (const DotTerm &term : terms)
        loadsPerGroup += (term.weightsOf < 0) +
                         (prologue && term.x == prologue->row ? 0 : 1);
      loadsPerGroup = std::max<int64_t>(loadsPerGroup, 1);
    }
    int64_t perIteration = std::clamp<int64_t>(
        loadsInFlight / (loadsPerGroup * (laneColumns / kVec)), 1, groups);
    int64_t iterations = (groups + perIteration - 1) / perIteration;
    perIteration = (groups + iterations - 1) / iterations;
    Type bf16Type = b.getBF16Type(), i8 = b.getI8Type();
    auto vecOf = [&](Type t) { return VectorType::get({kVec}, t); };
    Value colsV = c64(cols), lastGroup = c64(cols - laneColumns);
    // Each norm's inv, keyed by the norm: given, or from a pass over the
    // row before the loop.
    llvm::SmallDenseMap<const RowNorm *, Value> invs;
    for (const DotTerm &term : terms)
      if (term.norm && !invs.count(term.norm))
        invs[term.norm] = term.norm->inv
                              ? term.norm->inv
                              : rowInvRMS(term.x ? term.x : x, term.xOffset,
                                          cols, term.norm->eps, lane);
    struct Loaded {
      Value xs, ws, scale, inRange, gs;
      bool xsLater = false; // xs holds the column; loaded in accumulate
      // The next group is the rest of this one's 16 columns (a staged
      // pair, or `wide`): its part continues this one's, scaled once.
      bool sharesNext = false;
    };
    using Iteration = std::vector<std::vector<Loaded>>;
    // An iteration's weight loads (and scales) from column `start` on.
    auto loadWeights = [&](Value start) {
      Iteration loaded(terms.size());
      for (int64_t g = 0; g < perIteration; ++g) {
        Value k = add(start, c64(kWarp * laneColumns * g));
        Value inRange =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, colsV);
        Value safeK = arith::SelectOp::create(b, loc, inRange, k, lastGroup);
        // `wide`: the second half's column (the terms share it, and so
        // their activation loads).
        Value rest = wide ? add(safeK, c64(kVec)) : Value();
        for (auto [t, term] : llvm::enumerate(terms)) {
          if (term.weightsOf >= 0)
            continue;
          const WeightView &w = *term.w;
          Value row = add(mul(term.expert, c64(w.rows)), term.row);
          Value column = add(safeK, c64(term.kOffset));
          Value at = add(mul(row, c64(w.cols)), column);
          Loaded l;
          l.inRange = inRange;
          // The activations' column, for loadActivations.
          l.xs = safeK;
          if (wide) {
            // One 16-byte load, read as two 8-column halves that share
            // the block scale.
            Value bytes = LLVM::LoadOp::create(
                b, loc, VectorType::get({2 * kVec}, i8), gep(w.data, i8, at),
                /*alignment=*/16);
            Value scaleRow = add(mul(term.expert, c64(w.scaleRows)),
                                 div(term.row, c64(w.blockRows)));
            l.scale = load(w.scales, b.getF32Type(),
                           add(mul(scaleRow, c64(w.scaleCols)),
                               div(column, c64(w.blockCols))));
            for (int64_t h = 0; h < 2; ++h) {
              SmallVector<int32_t, kVec> half;
              for (int64_t j = 0; j < kVec; ++j)
                half.push_back(static_cast<int32_t>(h * kVec + j));
              l.ws = LLVM::ShuffleVectorOp::create(b, loc, bytes, bytes, half);
              l.xs = h ? rest : safeK;
              l.sharesNext = h == 0;
              loaded[t].push_back(l);
            }
            continue;
          }
          if (w.fp8) {
            l.ws = LLVM::LoadOp::create(b, loc, vecOf(i8), gep(w.data, i8, at),
                                        /*alignment=*/8);
            Value scaleRow = add(mul(term.expert, c64(w.scaleRows)),
                                 div(term.row, c64(w.blockRows)));
            l.scale = load(w.scales, b.getF32Type(),
                           add(mul(scaleRow, c64(w.scaleCols)),
                               div(column, c64(w.blockCols))));
          } else {
            l.ws = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                        gep(w.data, bf16Type, at),
                                        /*alignment=*/16);
          }
          loaded[t].push_back(l);
        }
      }
      // A term that shares an earlier term's weight row: the same loads
      // (and the same columns, so its activations' too).
      for (auto [t, term] : llvm::enumerate(terms))
        if (term.weightsOf >= 0) {
          assert(static_cast<size_t>(term.weightsOf) < t &&
                 terms[term.weightsOf].weightsOf < 0 &&
                 "a term shares the weights of an earlier term that loads");
          loaded[t] = loaded[term.weightsOf];
        }
      return loaded;
    };
    // Its activation (and norm weight) loads, beside the weights'.
    // Terms that read the same activations (gate and up) share one load.
    using Seen = llvm::SmallDenseMap<std::tuple<Value, Value, Value>, Value>;
    auto activation = [&](Seen &seen, const DotTerm &term, Value safeK) {
      Value from = term.x ? term.x : x;
      Value &v = seen[{from, term.xOffset, safeK}];
      if (!v)
        v = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                 gep(from, bf16Type, add(term.xOffset, safeK)),
                                 /*alignment=*/16);
      return v;
    };
    Value sharedRow = prologue ? prologue->row : Value();
    auto loadActivations = [&](Iteration &loaded) {
      Seen seen;
      for (auto [t, term] : llvm::enumerate(terms))
        for (Loaded &l : loaded[t]) {
          Value safeK = l.xs;
          if (sharedRow && term.x == sharedRow)
            l.xsLater = true;
          else
            l.xs = activation(seen, term, safeK);
          if (term.norm)
            l.gs = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                        gep(term.norm->weight, bf16Type, safeK),
                                        /*alignment=*/16);
        }
    };
    // Its arithmetic, once every load is issued.
    auto accumulate = [&](const Iteration &loaded, ValueRange accs) {
      SmallVector<Value> next;
      Seen seen;
      // Weights decoded once for the terms that share them (keyed by the
      // loaded vector).
      llvm::SmallDenseMap<Value, SmallVector<Value>> decoded;
      for (auto [t, term] : llvm::enumerate(terms)) {
        Value acc = accs[t], part = f32(0.0);
        for (const Loaded &l : loaded[t]) {
          SmallVector<Value> xs =
              unpack(l.xsLater ? activation(seen, term, l.xs) : l.xs, kVec);
          if (term.norm) {
            SmallVector<Value> gs = unpack(l.gs, kVec);
            for (int64_t j = 0; j < kVec; ++j)
              xs[j] = normalized(xs[j], gs[j], invs[term.norm]);
          }
          bool scaleOnce = term.w->fp8 && fp8Decode != FP8Decode::Table;
          auto [it, fresh] = decoded.try_emplace(l.ws);
          SmallVector<Value> &ws = it->second;
          if (fresh && scaleOnce)
            ws = decodeE4M3Group(l.ws, kVec);
          else if (fresh && term.w->fp8)
            for (int64_t j = 0; j < kVec; ++j)
              ws.push_back(roundBF16(
                  fmul(decodeE4M3(LLVM::ExtractElementOp::create(
                           b, loc, l.ws,
                           arith::ConstantIntOp::create(b, loc, j, 32))),
                       l.scale)));
          else if (fresh)
            ws = unpack(l.ws, kVec);
          for (int64_t j = 0; j < kVec; ++j)
            part = fma(xs[j], ws[j], part);
          if (l.sharesNext)
            continue;
          if (scaleOnce)
            part = fmul(part, fp8Decode == FP8Decode::ExponentShift
                                  ? fmul(l.scale, f32(256.0))
                                  : l.scale);
          acc = fadd(
              acc, arith::SelectOp::create(b, loc, l.inRange, part, f32(0.0)));
          part = f32(0.0);
        }
        next.push_back(acc);
      }
      return next;
    };
    Value first = mul(lane, c64(laneColumns)),
          stride = c64(kWarp * laneColumns * perIteration);
    SmallVector<Value> init(terms.size(), f32(0.0));
    if (stage) {
      assert(invs.empty() && "a staged pass reads plain activations");
      // 16 columns a lane (fp8 terms only, warpStageLayout): each lane's
      // 16 weight bytes come in one 16-byte copy, which bypasses L1
      // (cp.async.cg; 4- and 8-byte copies are .ca only, so every fp8 byte
      // was also allocated in L1), and are read back as two 8-column
      // groups that share a block scale. The layout's split replaces the
      // 8-column one above.
      bool pairs = stage->laneColumns == 2 * kVec;
      int64_t span = kWarp * stage->laneColumns;
      assert((pairs || stage->groupsPerIteration == perIteration) &&
             "the layout splits the groups as dotLanes does");
      perIteration = stage->groupsPerIteration;
      iterations = (cols + span * perIteration - 1) / (span * perIteration);
      // A pair's block scales: one per blockCols columns (the terms share
      // it), blocks starting at the pair's first column.
      int64_t blockCols = pairs ? terms.front().w->blockCols : 0;
      int64_t pairScales = pairs ? span / blockCols : 0;
      // Per group slot: each term's 32 lanes' data (16 or 8 bytes), then an
      // fp8 term's scales (4 bytes a lane, or a pair's scales once each).
      SmallVector<int64_t> termOffset;
      int64_t groupBytes = 0;
      for (const DotTerm &term : terms) {
        assert((!pairs || (term.w->fp8 && term.w->blockCols == blockCols &&
                           term.kOffset % blockCols == 0)) &&
               "pairs need fp8 terms of one block width, blocks aligned");
        termOffset.push_back(groupBytes);
        groupBytes += pairs ? kWarp * 16 + stage->scaleBytes
                            : kWarp * (term.w->fp8 ? 12 : 16);
      }
      assert(groupBytes * perIteration == stage->iterationBytes);
      Type sharedPtr = LLVM::LLVMPointerType::get(b.getContext(), 3);
      auto at = [&](int64_t offset, Value laneOffset) {
        return LLVM::GEPOp::create(
            b, loc, sharedPtr, i8, stage->base,
            ArrayRef<LLVM::GEPArg>{add(c64(offset), laneOffset)});
      };
      Value lane16 = mul(lane, c64(16)), lane8 = mul(lane, c64(8)),
            lane4 = mul(lane, c64(4));
      auto c32 = [&](int32_t v) {
        return arith::ConstantIntOp::create(b, loc, v, 32).getResult();
      };
      auto slot = [&](int64_t iteration, int64_t g, size_t t) {
        return ((iteration % stage->stages) * perIteration + g) * groupBytes +
               termOffset[t];
      };
      // This lane's first column, and the last a lane's group may start at.
      Value laneColumn = pairs ? lane16 : first;
      Value lastColumn = c64(cols - stage->laneColumns);
      // Each group's column (clamped into the row) and whether it exists
      // (with 16 | cols, a lane's 16 columns are all in the row or none).
      auto columnOf = [&](int64_t iteration, int64_t g) {
        Value k = add(laneColumn, c64(span * (iteration * perIteration + g)));
        Value inRange =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, colsV);
        return std::make_pair(
            inRange, arith::SelectOp::create(b, loc, inRange, k, lastColumn)
                         .getResult());
      };
      // A pair's two halves, in the order this lane reads them: lanes
      // whose bits 2 and 3 differ take the second half first. Then each
      // read is free of bank conflicts: the activations' 16-byte reads
      // (32 bytes apart a lane) are served 8 lanes at a time, the weights'
      // 8-byte reads (16 apart) 16 at a time.
      Value half, otherHalf, laneScale;
      if (pairs) {
        auto bit = [&](int64_t shift) {
          return arith::AndIOp::create(
              b, loc, arith::ShRUIOp::create(b, loc, lane, c64(shift)), c64(1));
        };
        Value swap = arith::XOrIOp::create(b, loc, bit(2), bit(3));
        half = mul(swap, c64(kVec));
        otherHalf = fsubI(c64(kVec), half);
        // The byte of this lane's scale among its pair's scales.
        laneScale = mul(div(lane16, c64(blockCols)), c64(4));
      }
      // Each term's row at this lane's first column, and for fp8 its
      // scale there (for pairs, the pair's scale this lane copies: lane j
      // the j-th): the copies address them plus a constant (one register
      // a term, not one a copy).
      SmallVector<Value> rowAt, scaleAt;
      for (const DotTerm &term : terms) {
        const WeightView &w = *term.w;
        Value row = add(mul(term.expert, c64(w.rows)), term.row);
        Value column = add(laneColumn, c64(term.kOffset));
        rowAt.push_back(gep(w.data, w.fp8 ? i8 : bf16Type,
                            add(mul(row, c64(w.cols)), column)));
        if (w.fp8) {
          Value scaleRow = add(mul(term.expert, c64(w.scaleRows)),
                               div(term.row, c64(w.blockRows)));
          Value block = pairs ? add(c64(term.kOffset / w.blockCols), lane)
                              : div(column, c64(w.blockCols));
          scaleAt.push_back(gep(w.scales, b.getF32Type(),
                                add(mul(scaleRow, c64(w.scaleCols)), block)));
        } else {
          scaleAt.push_back(Value());
        }
      }
      auto sharedAt = [&](Value laneOffset) {
        return LLVM::PtrToIntOp::create(b, loc, b.getI64Type(),
                                        at(0, laneOffset));
      };
      Value to16 = sharedAt(lane16), to8 = sharedAt(lane8),
            to4 = sharedAt(lane4);
      // The lanes that copy a pair's scales (all where it has 32).
      Value copiesScale;
      if (pairs && pairScales < kWarp)
        copiesScale = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            lane, c64(pairScales));
      auto copy = [&](int64_t iteration) {
        for (int64_t g = 0; g < perIteration; ++g) {
          int64_t group = iteration * perIteration + g;
          // Whether every lane's columns of the group are in the row;
          // where not, lanes past its end copy nothing (zero-filled).
          bool whole = (group + 1) * span <= cols;
          Value inRange = whole ? Value() : columnOf(iteration, g).first;
          auto bytesIf = [&](Value ok, int64_t size) {
            return whole
                       ? c32(size)
                       : arith::SelectOp::create(b, loc, ok, c32(size), c32(0))
                             .getResult();
          };
          auto bytesOf = [&](int64_t size) { return bytesIf(inRange, size); };
          // A lane past the end reads from its row's start.
          auto source = [&](Value base, Type element, int64_t elements,
                            int64_t &offset) {
            offset = 0;
            if (whole) {
              offset = elements * static_cast<int64_t>(
                                      element.getIntOrFloatBitWidth() / 8);
              return base;
            }
            return gep(base, element,
                       arith::SelectOp::create(b, loc, inRange, c64(elements),
                                               c64(0)));
          };
          for (auto [t, term] : llvm::enumerate(terms)) {
            const WeightView &w = *term.w;
            int64_t size = w.fp8 && !pairs ? 8 : 16, offset;
            Value from =
                source(rowAt[t], w.fp8 ? i8 : bf16Type, group * span, offset);
            cpAsyncAt(size == 16 ? to16 : to8, slot(iteration, g, t), from,
                      offset, bytesOf(size), size);
            if (!w.fp8)
              continue;
            if (pairs) {
              // Lane j copies the pair's j-th scale where that block is in
              // the row (else nothing, addressing the row's first scale).
              int64_t scaleOffset = 0;
              Value scaleFrom = scaleAt[t], ok;
              if (whole) {
                scaleOffset = group * pairScales * 4;
              } else {
                ok = arith::CmpIOp::create(
                    b, loc, arith::CmpIPredicate::slt,
                    add(mul(lane, c64(blockCols)), c64(group * span)), colsV);
                scaleFrom = gep(scaleFrom, b.getF32Type(),
                                arith::SelectOp::create(b, loc, ok,
                                                        c64(group * pairScales),
                                                        fsubI(c64(0), lane)));
              }
              cpAsyncAt(to4, slot(iteration, g, t) + kWarp * 16, scaleFrom,
                        scaleOffset, bytesIf(ok, 4), 4, copiesScale);
              continue;
            }
            // The group's scale: `span / blockCols` scales on from the
            // first group's where blocks hold whole spans of columns.
            Value scaleFrom;
            int64_t scaleOffset = 0;
            if (span % w.blockCols == 0) {
              scaleFrom = source(scaleAt[t], b.getF32Type(),
                                 group * (span / w.blockCols), scaleOffset);
            } else {
              auto [ok, safeK] = columnOf(iteration, g);
              Value scaleRow = add(mul(term.expert, c64(w.scaleRows)),
                                   div(term.row, c64(w.blockRows)));
              scaleFrom = gep(
                  w.scales, b.getF32Type(),
                  add(mul(scaleRow, c64(w.scaleCols)),
                      div(add(safeK, c64(term.kOffset)), c64(w.blockCols))));
            }
            cpAsyncAt(to4, slot(iteration, g, t) + kWarp * 8, scaleFrom,
                      scaleOffset, bytesOf(4), 4);
          }
        }
        cpAsyncCommit();
      };
      // An iteration's groups with their activations requested (they come
      // from L2, beside the copies' DRAM reads), then its staged weights.
      // A pair is two 8-column groups, in this lane's order of its halves.
      auto requestActivations = [&](int64_t iteration) {
        Iteration loaded(terms.size());
        for (int64_t g = 0; g < perIteration; ++g) {
          auto [inRange, safeK] = columnOf(iteration, g);
          SmallVector<Value, 2> columns{safeK};
          if (pairs)
            columns = {add(safeK, half), add(safeK, otherHalf)};
          for (size_t t = 0; t < terms.size(); ++t)
            for (auto [h, column] : llvm::enumerate(columns)) {
              Loaded l;
              l.inRange = inRange;
              l.xs = column;
              l.sharesNext = h + 1 < columns.size();
              loaded[t].push_back(l);
            }
        }
        loadActivations(loaded);
        return loaded;
      };
      auto readWeights = [&](int64_t iteration, Iteration &loaded) {
        for (auto [t, term] : llvm::enumerate(terms)) {
          if (pairs) {
            for (int64_t g = 0; g < perIteration; ++g) {
              int64_t offset = slot(iteration, g, t);
              Loaded &one = loaded[t][2 * g], &other = loaded[t][2 * g + 1];
              one.ws = LLVM::LoadOp::create(b, loc, vecOf(i8),
                                            at(offset, add(lane16, half)),
                                            /*alignment=*/8);
              other.ws = LLVM::LoadOp::create(
                  b, loc, vecOf(i8), at(offset, add(lane16, otherHalf)),
                  /*alignment=*/8);
              one.scale = other.scale = LLVM::LoadOp::create(
                  b, loc, b.getF32Type(), at(offset + kWarp * 16, laneScale),
                  /*alignment=*/4);
            }
            continue;
          }
          for (auto [g, l] : llvm::enumerate(loaded[t])) {
            int64_t offset = slot(iteration, g, t);
            if (term.w->fp8) {
              l.ws = LLVM::LoadOp::create(b, loc, vecOf(i8), at(offset, lane8),
                                          /*alignment=*/8);
              l.scale = LLVM::LoadOp::create(b, loc, b.getF32Type(),
                                             at(offset + kWarp * 8, lane4),
                                             /*alignment=*/4);
            } else {
              l.ws = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                          at(offset, lane16),
                                          /*alignment=*/16);
            }
          }
        }
      };
      // A prologue's loads go beside the first stages' copies, its work
      // (the activations into shared memory) while they are in flight.
      if (prologue) {
        prologue->weights();
        prologue->loads();
      }
      int64_t ahead = std::min(stage->stages, iterations);
      for (int64_t i = 0; i < ahead; ++i)
        copy(i);
      if (prologue) {
        issueLoadsAbove();
        prologue->finish();
      }
      SmallVector<Value> accs(init);
      // Activations one iteration ahead of their use.
      Iteration next = requestActivations(0);
      for (int64_t i = 0; i < iterations; ++i) {
        Iteration loaded = std::move(next);
        if (i + 1 < iterations)
          next = requestActivations(i + 1);
        issueLoadsAbove();
        // Groups committed after this one may stay in flight.
        cpAsyncWait(std::min(i + ahead - 1, iterations - 1) - i);
        // A pair's scales were copied by other lanes: every lane's copies
        // of the stage have landed once the warp meets after its waits.
        if (pairs)
          syncWarp();
        readWeights(i, loaded);
        accs = accumulate(loaded, accs);
        // The slot this iteration read, refilled once its values are used
        // (by every lane, for the scales other lanes read).
        if (i + ahead < iterations) {
          if (pairs)
            syncWarp();
          copy(i + ahead);
        }
      }
      return accs;
    }
    // Weights first: the first iteration's weights are requested before
    // the wait for the previous kernel (a norm applied per output reads the
    // activations before the loop, so it keeps the entry's wait). A
    // prologue's loads go beside them, its work while they are in flight.
    bool early = weightsFirst && weightsBeforeWait && invs.empty();
    if (early || prologue) {
      Iteration loaded;
      if (early) {
        loaded = loadWeights(first);
        if (prologue)
          prologue->weights();
        waitForPredecessor();
        if (prologue)
          prologue->loads();
      } else {
        // The prologue's loads first: the weights' addresses may wait on
        // an index the caller loaded (a chosen expert).
        prologue->weights();
        prologue->loads();
        loaded = loadWeights(first);
      }
      if (prologue) {
        issueLoadsAbove();
        prologue->finish();
      }
      loadActivations(loaded);
      issueLoadsAbove();
      init = accumulate(loaded, init);
      if (iterations == 1)
        return init;
      first = add(first, stride);
    }
    auto forOp = scf::ForOp::create(b, loc, first, colsV, stride, init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      // Every load of the iteration first, then the arithmetic.
      Iteration loaded = loadWeights(forOp.getInductionVar());
      loadActivations(loaded);
      issueLoadsAbove();
      scf::YieldOp::create(b, loc,
                           accumulate(loaded, forOp.getRegionIterArgs()));
    }
    return SmallVector<Value>(forOp.getResults());
  }

  /// Columns [k, k + 8) of row `row` of a weight (expert 0) as f32, from
  /// one 16- or 8-byte load (k a multiple of 8, inside one scale block):
  /// bf16 widened, fp8 decoded as fp8Decode says and times its block scale
  /// (rounded to bf16 per element with the Table, as the references).
  SmallVector<Value> weightGroup(const WeightView &w, Value row, Value k) {
    constexpr int64_t kVec = 8;
    Value at = add(mul(row, c64(w.cols)), k);
    if (!w.fp8)
      return unpack(
          LLVM::LoadOp::create(b, loc, VectorType::get({kVec}, b.getBF16Type()),
                               gep(w.data, b.getBF16Type(), at),
                               /*alignment=*/16),
          kVec);
    Value bytes =
        LLVM::LoadOp::create(b, loc, VectorType::get({kVec}, b.getI8Type()),
                             gep(w.data, b.getI8Type(), at),
                             /*alignment=*/8);
    Value scale = load(w.scales, b.getF32Type(),
                       add(mul(div(row, c64(w.blockRows)), c64(w.scaleCols)),
                           div(k, c64(w.blockCols))));
    SmallVector<Value> values;
    if (fp8Decode == FP8Decode::Table) {
      for (int64_t j = 0; j < kVec; ++j)
        values.push_back(roundBF16(fmul(
            decodeE4M3(LLVM::ExtractElementOp::create(
                b, loc, bytes, arith::ConstantIntOp::create(b, loc, j, 32))),
            scale)));
      return values;
    }
    if (fp8Decode == FP8Decode::ExponentShift)
      scale = fmul(scale, f32(256.0));
    for (Value v : decodeE4M3Group(bytes, kVec))
      values.push_back(fmul(v, scale));
    return values;
  }

  /// Keeps the loads emitted before it issued before it: an empty inline
  /// asm that LLVM must assume touches memory. LLVM's -O3 otherwise sinks
  /// each load to its first use, and a warp then waits for one load at a
  /// time instead of having them all in flight.
  /// griddepcontrol.wait: until the previous kernel of the stream has
  /// finished and its writes are visible. Only loads of data no kernel of
  /// the launch writes (weights, scales, the arguments table) may come
  /// before it; the asm that follows keeps every later load below it.
  void waitForPredecessor() {
    NVVM::GriddepcontrolOp::create(b, loc, NVVM::GridDepActionKind::wait);
    issueLoadsAbove();
    waitsInBody = true;
  }

  void issueLoadsAbove() {
    LLVM::InlineAsmOp::create(b, loc, Type(), ValueRange{}, "", "~{memory}",
                              /*has_side_effects=*/true,
                              /*is_align_stack=*/false,
                              LLVM::tailcallkind::TailCallKind::None,
                              LLVM::AsmDialectAttr(), ArrayAttr());
  }

  /// PTX `text` as inline assembly with LLVM `constraints`; `volatile`
  /// keeps it in order with barriers and other volatile assembly.
  Value inlineAsm(Type result, ValueRange operands, StringRef text,
                  StringRef constraints, bool isVolatile) {
    auto op = LLVM::InlineAsmOp::create(
        b, loc, result, operands, text, constraints, isVolatile,
        /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
        LLVM::AsmDialectAttr(), ArrayAttr());
    return result ? op.getResult(0) : Value();
  }
  /// Copies `size` bytes (4, 8 or 16) from global memory (a generic
  /// pointer) to the shared address `to` (i64) without passing through
  /// registers; `bytes` (i32, `size` or 0) are read and the rest
  /// zero-filled. 16-byte copies bypass L1 (.cg). Lands by cpAsyncWait.
  void cpAsync(Value to, Value from, Value bytes, int64_t size = 16) {
    Value global = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), from);
    std::string text = std::string("{ .reg .u64 g; cvta.to.global.u64 g, $1; "
                                   "cp.async.") +
                       (size == 16 ? "cg" : "ca") +
                       ".shared.global [$0], [g], " + std::to_string(size) +
                       ", $2; }";
    inlineAsm(Type(), ValueRange{to, global, bytes}, text, "l,l,r,~{memory}",
              /*isVolatile=*/true);
  }
  /// cpAsync from `from` + `fromOffset` bytes to the shared address `to`
  /// + `toOffset` (constants folded into the instruction's addresses);
  /// with `predicate` (i1), only where it holds (elsewhere nothing is
  /// written).
  void cpAsyncAt(Value to, int64_t toOffset, Value from, int64_t fromOffset,
                 Value bytes, int64_t size, Value predicate = {}) {
    Value global = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), from);
    std::string copy = std::string("cp.async.") + (size == 16 ? "cg" : "ca") +
                       ".shared.global [$0+" + std::to_string(toOffset) +
                       "], [g+" + std::to_string(fromOffset) + "], " +
                       std::to_string(size) + ", $2;";
    if (!predicate) {
      inlineAsm(Type(), ValueRange{to, global, bytes},
                "{ .reg .u64 g; cvta.to.global.u64 g, $1; " + copy + " }",
                "l,l,r,~{memory}", /*isVolatile=*/true);
      return;
    }
    inlineAsm(Type(), ValueRange{to, global, bytes, predicate},
              "{ .reg .u64 g; cvta.to.global.u64 g, $1; @$3 " + copy + " }",
              "l,l,r,b,~{memory}", /*isVolatile=*/true);
  }
  /// bar.warp.sync over the whole warp: orders its lanes' shared memory
  /// accesses before it with those after it (a lane reading what another
  /// lane's awaited cp.async wrote, or refilling what another lane read).
  void syncWarp() {
    inlineAsm(Type(), ValueRange{}, "bar.warp.sync -1;", "~{memory}", true);
  }
  /// Closes the group of the copies issued since the last commit.
  void cpAsyncCommit() {
    inlineAsm(Type(), ValueRange{}, "cp.async.commit_group;", "~{memory}",
              true);
  }
  /// Waits until at most `pending` committed groups are still in flight.
  void cpAsyncWait(int64_t pending) {
    inlineAsm(Type(), ValueRange{},
              "cp.async.wait_group " + std::to_string(pending) + ";",
              "~{memory}", true);
  }

  /// The `count` elements of a bf16 or f16 vector, widened to f32. An even
  /// count of bf16 is widened a 32-bit word (two elements) at a time: the
  /// low element shifted up 16 bits, the high one masked, the exact f32 of
  /// each (one instruction per element, where a widening per element takes
  /// three: split, zero-extend, shift).
  SmallVector<Value> unpack(Value vector, int64_t count) {
    SmallVector<Value> values;
    auto type = cast<VectorType>(vector.getType());
    if (type.getElementType().isBF16() && count % 2 == 0 &&
        type.getNumElements() == count) {
      Type i32 = b.getI32Type(), f32Type = b.getF32Type();
      Value words = LLVM::BitcastOp::create(
          b, loc, VectorType::get({count / 2}, i32), vector);
      Value sixteen = arith::ConstantIntOp::create(b, loc, 16, 32);
      Value highMask = arith::ConstantIntOp::create(
          b, loc, static_cast<int32_t>(0xFFFF0000), 32);
      for (int64_t j = 0; j < count / 2; ++j) {
        Value word = LLVM::ExtractElementOp::create(
            b, loc, words, arith::ConstantIntOp::create(b, loc, j, 32));
        Value low = arith::ShLIOp::create(b, loc, word, sixteen);
        Value high = arith::AndIOp::create(b, loc, word, highMask);
        values.push_back(arith::BitcastOp::create(b, loc, f32Type, low));
        values.push_back(arith::BitcastOp::create(b, loc, f32Type, high));
      }
      return values;
    }
    for (int64_t j = 0; j < count; ++j) {
      Value element = LLVM::ExtractElementOp::create(
          b, loc, vector, arith::ConstantIntOp::create(b, loc, j, 32));
      values.push_back(arith::ExtFOp::create(b, loc, b.getF32Type(), element));
    }
    return values;
  }

  /// `count` e4m3 bytes (a vector of i8) as f32, unscaled: two at a time
  /// through cvt.rn.f16x2.e4m3x2 (Hardware, sm_89+; exact, e4m3 values
  /// are f16 values), or by moving sign, exponent and mantissa into an f16
  /// (ExponentShift: the f16 is the value times 2^-8, which the caller's
  /// scale undoes; e4m3fn's NaN bytes, which quantised weights never hold,
  /// become finite).
  SmallVector<Value> decodeE4M3Group(Value bytes, int64_t count) {
    SmallVector<Value> values;
    Type f16 = b.getF16Type(), i16 = b.getI16Type();
    for (int64_t j = 0; j < count; j += 2) {
      if (fp8Decode == FP8Decode::Hardware) {
        Value pair = LLVM::ShuffleVectorOp::create(
            b, loc, bytes, bytes,
            ArrayRef<int32_t>{int32_t(j), int32_t(j + 1)});
        Value halves = NVVM::ConvertF8x2ToF16x2Op::create(
            b, loc, VectorType::get({2}, f16), pair, /*relu=*/false,
            b.getType<Float8E4M3FNType>());
        llvm::append_range(values, unpack(halves, 2));
        continue;
      }
      for (int64_t i = j; i < j + 2; ++i) {
        Value byte = LLVM::ExtractElementOp::create(
            b, loc, bytes, arith::ConstantIntOp::create(b, loc, i, 32));
        Value wide = arith::ExtUIOp::create(b, loc, i16, byte);
        auto c16 = [&](int64_t v) {
          return arith::ConstantIntOp::create(b, loc, v, 16).getResult();
        };
        Value sign = arith::ShLIOp::create(
            b, loc, arith::AndIOp::create(b, loc, wide, c16(0x80)), c16(8));
        Value magnitude = arith::ShLIOp::create(
            b, loc, arith::AndIOp::create(b, loc, wide, c16(0x7F)), c16(7));
        Value half = arith::BitcastOp::create(
            b, loc, f16, arith::OrIOp::create(b, loc, sign, magnitude));
        values.push_back(arith::ExtFOp::create(b, loc, b.getF32Type(), half));
      }
    }
    return values;
  }

  // Weights.
  WeightView weight(unsigned operand) {
    WeightView w;
    Type type = op->getOperand(operand).getType();
    w.data = operandPtrs.lookup(operand);
    if (auto fp8 = dyn_cast<FP8BlockWeightType>(type)) {
      w.fp8 = true;
      w.scales = scalePtrs.lookup(operand);
      w.rows = fp8.getRows();
      w.cols = fp8.getCols();
      w.blockRows = fp8.getBlockRows();
      w.blockCols = fp8.getBlockCols();
      auto scaleShape = fp8.getScaleShape();
      w.scaleRows = scaleShape[scaleShape.size() - 2];
      w.scaleCols = scaleShape.back();
    } else {
      auto shape = cast<RankedTensorType>(type).getShape();
      w.rows = shape[shape.size() - 2];
      w.cols = shape.back();
    }
    return w;
  }

  /// fp8 e4m3 byte to f32 through a 256-entry table.
  Value decodeE4M3(Value byte) {
    Value index = arith::ExtUIOp::create(b, loc, b.getI64Type(), byte);
    Value table = LLVM::AddressOfOp::create(b, loc, fp8Table);
    return load(table, b.getF32Type(), index);
  }

  /// Element [expert, n, k] of a weight as the references use it (bf16).
  Value weightElement(const WeightView &w, Value expert, Value n, Value k) {
    Value row = add(mul(expert, c64(w.rows)), n);
    if (!w.fp8)
      return loadBF16(w.data, add(mul(row, c64(w.cols)), k));
    Value byte = load(w.data, b.getI8Type(), add(mul(row, c64(w.cols)), k));
    Value scaleRow =
        add(mul(expert, c64(w.scaleRows)), div(n, c64(w.blockRows)));
    Value scale =
        load(w.scales, b.getF32Type(),
             add(mul(scaleRow, c64(w.scaleCols)), div(k, c64(w.blockCols))));
    return roundBF16(fmul(decodeE4M3(byte), scale));
  }

  /// sum_k x[xOffset + k] * W[expert, n, k], accumulated in f32; with
  /// `norm` (its inv given), x (bf16) read through that RMSNorm.
  Value dot(Value x, Type xElement, Value xOffset, const WeightView &w,
            Value expert, Value n, const RowNorm *norm = nullptr) {
    Value row = add(mul(expert, c64(w.rows)), n);
    Value rowStart = mul(row, c64(w.cols));
    auto activation = [&](Value k) {
      Value xv = loadF32(x, xElement, add(xOffset, k));
      return norm ? normalized(xv, loadBF16(norm->weight, k), norm->inv) : xv;
    };
    if (!w.fp8)
      return reduce(0, w.cols, f32(0.0), [&](Value k, Value acc) {
        Value xv = activation(k);
        Value wv = loadBF16(w.data, add(rowStart, k));
        return fma(xv, wv, acc);
      });
    // Block by block: one scale per block of columns.
    Value scaleRow =
        add(mul(expert, c64(w.scaleRows)), div(n, c64(w.blockRows)));
    return reduce(0, w.scaleCols, f32(0.0), [&](Value kb, Value acc) {
      Value scale = load(w.scales, b.getF32Type(),
                         add(mul(scaleRow, c64(w.scaleCols)), kb));
      Value lo = mul(kb, c64(w.blockCols));
      Value hi = arith::MinSIOp::create(b, loc, add(lo, c64(w.blockCols)),
                                        c64(w.cols));
      return reduce(lo, hi, acc, [&](Value k, Value inner) {
        Value xv = activation(k);
        Value byte = load(w.data, b.getI8Type(), add(rowStart, k));
        Value wv = roundBF16(fmul(decodeE4M3(byte), scale));
        return fma(xv, wv, inner);
      });
    });
  }

  /// RMSNorm of one row: dst[dstOff + i] = bf16(bf16(x_i * rsqrt) * w_i).
  void rmsNormRow(Value src, Value srcOff, int64_t width, Value weightPtr,
                  Value dst, Value dstOff, double eps) {
    Value inv = rowInvRMS(src, srcOff, width, eps, /*lane=*/Value());
    loop(0, width, [&](Value i) {
      Value y = roundBF16(fmul(loadBF16(src, add(srcOff, i)), inv));
      storeBF16(fmul(y, loadBF16(weightPtr, i)), dst, add(dstOff, i));
    });
  }

  /// rmsNormRow by one warp (GPU): lanes split the row; with 256 | width
  /// each lane moves 8 bf16 per 16-byte load and store (rows start 16-byte
  /// aligned), else one element at a time. Every lane ends with the same
  /// sum of squares.
  void rmsNormRowWarp(Value src, Value srcOff, int64_t width, Value weightPtr,
                      Value dst, Value dstOff, double eps, Value lane) {
    Type bf16Type = b.getBF16Type(), f32Type = b.getF32Type();
    bool vector = width % (kWarp * 8) == 0;
    int64_t per = vector ? 8 : 1;
    auto vecType = VectorType::get({8}, bf16Type);
    auto loadGroup = [&](Value base, Value offset) {
      SmallVector<Value> values;
      if (!vector) {
        values.push_back(loadBF16(base, offset));
        return values;
      }
      Value v =
          LLVM::LoadOp::create(b, loc, vecType, gep(base, bf16Type, offset),
                               /*alignment=*/16);
      for (int64_t j = 0; j < 8; ++j) {
        Value element = LLVM::ExtractElementOp::create(
            b, loc, v, arith::ConstantIntOp::create(b, loc, j, 32));
        values.push_back(arith::ExtFOp::create(b, loc, f32Type, element));
      }
      return values;
    };
    Value first = mul(lane, c64(per));
    auto storeGroup = [&](ArrayRef<Value> ys, Value i) {
      Value out = LLVM::UndefOp::create(b, loc, vecType);
      for (int64_t j = 0; j < 8; ++j)
        out = LLVM::InsertElementOp::create(
            b, loc, out, ys[j], arith::ConstantIntOp::create(b, loc, j, 32));
      LLVM::StoreOp::create(b, loc, out, gep(dst, bf16Type, add(dstOff, i)),
                            /*alignment=*/16);
    };
    int64_t groups = width / (kWarp * 8);
    if (vector && groups <= kRMSNormWarpGroups) {
      // The whole row in registers: every load of the row and of the
      // weight issued at once, one pass.
      SmallVector<SmallVector<Value>> xs, ws;
      for (int64_t g = 0; g < groups; ++g) {
        Value i = add(first, c64(g * kWarp * 8));
        xs.push_back(loadGroup(src, add(srcOff, i)));
        ws.push_back(loadGroup(weightPtr, i));
      }
      issueLoadsAbove();
      // Each group's squares summed, then the groups' sums in order (the
      // order the products' staged norms reproduce).
      Value part = f32(0.0);
      for (auto &group : xs) {
        Value groupSum = f32(0.0);
        for (Value x : group)
          groupSum = fma(x, x, groupSum);
        part = fadd(part, groupSum);
      }
      Value inv = invRMS(warpSum(part), width, eps);
      for (int64_t g = 0; g < groups; ++g) {
        SmallVector<Value> ys;
        for (int64_t j = 0; j < 8; ++j)
          ys.push_back(arith::TruncFOp::create(
              b, loc, bf16Type,
              fmul(roundBF16(fmul(xs[g][j], inv)), ws[g][j])));
        storeGroup(ys, add(first, c64(g * kWarp * 8)));
      }
      return;
    }
    Value part = reduceStep(
        first, c64(width), kWarp * per, f32(0.0), [&](Value i, Value acc) {
          SmallVector<Value> xs = loadGroup(src, add(srcOff, i));
          if (!vector)
            return fma(xs[0], xs[0], acc);
          Value groupSum = f32(0.0);
          for (Value x : xs)
            groupSum = fma(x, x, groupSum);
          return fadd(acc, groupSum);
        });
    Value inv = invRMS(warpSum(part), width, eps);
    reduceStep(
        first, c64(width), kWarp * per, f32(0.0), [&](Value i, Value unused) {
          SmallVector<Value> xs = loadGroup(src, add(srcOff, i));
          SmallVector<Value> ws = loadGroup(weightPtr, i);
          SmallVector<Value> ys;
          for (size_t j = 0; j < xs.size(); ++j)
            ys.push_back(arith::TruncFOp::create(
                b, loc, bf16Type, fmul(roundBF16(fmul(xs[j], inv)), ws[j])));
          if (!vector)
            store(ys[0], dst, add(dstOff, i));
          else
            storeGroup(ys, i);
          return unused;
        });
  }

  /// Rotates the interleaved pairs of one row of `dim` values at `position`
  /// (f32 in, f32 out); the caller rounds or stores.
  void ropeRow(const std::function<Value(Value)> &read,
               const std::function<void(Value, Value)> &write, Value position,
               RopeAttr rope, LLVM::GlobalOp invFreq) {
    loop(0, rope.getDim() / 2,
         [&](Value i) { ropePair(read, write, position, i, rope, invFreq); });
  }

  /// Rotates pair `i`, (x[2i], x[2i+1]), of a row at `position` (i64): f32
  /// in through `read`, f32 out through `write`.
  void ropePair(const std::function<Value(Value)> &read,
                const std::function<void(Value, Value)> &write, Value position,
                Value i, RopeAttr rope, LLVM::GlobalOp invFreq) {
    Value pos = arith::SIToFPOp::create(b, loc, b.getF32Type(), position);
    Value freqs = LLVM::AddressOfOp::create(b, loc, invFreq);
    Value scale = f32(rope.getCosSinScale());
    Value angle = fmul(pos, load(freqs, b.getF32Type(), i));
    Value cos = fmul(math::CosOp::create(b, loc, angle), scale);
    Value sin = fmul(math::SinOp::create(b, loc, angle), scale);
    Value even = mul(i, c64(2)), odd = add(even, c64(1));
    Value x0 = read(even), x1 = read(odd);
    write(even, fsub(fmul(x0, cos), fmul(x1, sin)));
    write(odd, fadd(fmul(x0, sin), fmul(x1, cos)));
  }
};

/// The last (feature) dimension of a [T, ..., W] tensor value.
int64_t featureCount(Value v);

/// Rows per token of a [T, ..., W] tensor.
int64_t rowsPerToken(Value v);

/// YaRN inverse frequencies in f32, computed as torch does (docs/model.md
/// §4: fp32 pow, reciprocal and ramp).
std::vector<float> ropeInverseFrequencies(RopeAttr rope);

/// e4m3fn (bias 7, no infinities, 0x7F/0xFF NaN) decoded, for the table.
float decodeE4M3Value(uint8_t byte);

} // namespace dsc::kernels

#endif // DSC_TARGET_KERNELS_EMITTER_H
