//===- HostKernels.cpp - generic host kernels of the ds ops --------------===//
//
// Builds one kernel per distinct kernel-level op signature as scf/arith/math
// IR over raw pointers (loads and stores through llvm.getelementptr), then
// lowers that to the LLVM dialect. Loops are written out by hand rather than
// through linalg because most of the work is data-dependent indexing (token
// ids, expert choices, cache slots and positions) that a structured op does
// not express; the dot products carry `reassoc` so LLVM vectorises them.
//
// Numerics follow deepseek-model.md §9b: bf16 in memory, fp32 arithmetic,
// bf16 rounding exactly where the references round. fp8 e4m3 weights are
// dequantised element by element (table lookup times block scale, rounded to
// bf16, as DeepSeek's reference dequantises before its bf16 GEMM).
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/HostKernels.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cfloat>
#include <cmath>
#include <functional>

using namespace mlir;
using namespace dsc::ds;

namespace dsc {

//===----------------------------------------------------------------------===//
// Argument layout
//===----------------------------------------------------------------------===//

bool isKernelOp(Operation *op) {
  return isa<EmbedOp, RMSNormOp, LinearOp, SwiGLUOp, AddOp, LMHeadOp, SampleOp,
             RopeOp, MLACacheWriteOp, MLAAttentionOp, MLAAbsorbQueryOp,
             MLALatentAttentionOp, MLAAbsorbValueOp, RouterLogitsOp,
             MoESelectOp, MoEExpertUpOp, MoEExpertDownOp>(op);
}

std::vector<KernelArgument> kernelArguments(Operation *op) {
  std::vector<KernelArgument> args;
  for (OpOperand &operand : op->getOpOperands()) {
    args.push_back({KernelArgument::Operand, operand.getOperandNumber()});
    if (isa<FP8BlockWeightType>(operand.get().getType()))
      args.push_back(
          {KernelArgument::OperandScales, operand.getOperandNumber()});
  }
  for (OpResult result : op->getResults())
    if (isa<RankedTensorType>(result.getType()))
      args.push_back({KernelArgument::Result, result.getResultNumber()});
  return args;
}

namespace {

//===----------------------------------------------------------------------===//
// Emitter: small vocabulary for pointer loops
//===----------------------------------------------------------------------===//

/// A weight operand as the kernel sees it: data (bf16 or e4m3 bytes) and,
/// for fp8, its f32 block scales; [experts,] rows x cols.
struct WeightView {
  Value data, scales;
  bool fp8 = false;
  int64_t rows = 0, cols = 0, blockRows = 1, blockCols = 1, scaleRows = 0,
          scaleCols = 0;
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
      else
        resultPtrs[a.index] = ptr;
    }
  }

  OpBuilder &b;
  Location loc;
  Operation *op;
  LLVM::GlobalOp fp8Table;
  Value argsPtr, tokens, begin, end;
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
  /// This lane's part of sum_k x[xOffset + k] * W[expert, n, k]: the k that
  /// are `lane` modulo 32 (consecutive lanes read consecutive elements).
  /// Four independent partial sums (k, k + 32, k + 64, k + 96) keep four
  /// loads in flight per lane; out-of-range k contribute zero.
  Value dotLane(Value x, Type xElement, Value xOffset, const WeightView &w,
                Value expert, Value n, Value lane) {
    if (xElement.isBF16() && w.cols % 8 == 0 &&
        (!w.fp8 || w.blockCols % 8 == 0))
      return dotLaneVector(x, xOffset, w, expert, n, lane);
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

  /// dotLane with 16-byte loads: each lane takes 8 consecutive k (8 bf16
  /// activations and 8 bf16 or fp8 weights of one scale block) per load,
  /// two groups in flight, so a warp moves 512 bytes of weights per load
  /// instruction. Rows and activations start 16-byte aligned (the arena and
  /// weight buffers are, and cols is a multiple of 8).
  Value dotLaneVector(Value x, Value xOffset, const WeightView &w, Value expert,
                      Value n, Value lane) {
    constexpr int kChains = 2;
    constexpr int64_t kVec = 8;
    Type bf16Type = b.getBF16Type(), i8 = b.getI8Type();
    auto vecOf = [&](Type t) { return VectorType::get({kVec}, t); };
    Value cols = c64(w.cols), lastGroup = c64(w.cols - kVec);
    Value row = add(mul(expert, c64(w.rows)), n);
    Value rowStart = mul(row, cols);
    Value scaleRow;
    if (w.fp8)
      scaleRow = add(mul(expert, c64(w.scaleRows)), div(n, c64(w.blockRows)));
    SmallVector<Value> init(kChains, f32(0.0));
    auto forOp = scf::ForOp::create(b, loc, mul(lane, c64(kVec)), cols,
                                    c64(kWarp * kVec * kChains), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      SmallVector<Value> next;
      for (int u = 0; u < kChains; ++u) {
        Value k = add(forOp.getInductionVar(), c64(kWarp * kVec * u));
        Value inRange =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, cols);
        Value safeK = arith::SelectOp::create(b, loc, inRange, k, lastGroup);
        Value xs = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                        gep(x, bf16Type, add(xOffset, safeK)),
                                        /*alignment=*/16);
        Value ws, scale;
        if (w.fp8) {
          ws = LLVM::LoadOp::create(b, loc, vecOf(i8),
                                    gep(w.data, i8, add(rowStart, safeK)),
                                    /*alignment=*/8);
          scale = load(w.scales, b.getF32Type(),
                       add(mul(scaleRow, c64(w.scaleCols)),
                           div(safeK, c64(w.blockCols))));
        } else {
          ws = LLVM::LoadOp::create(b, loc, vecOf(bf16Type),
                                    gep(w.data, bf16Type, add(rowStart, safeK)),
                                    /*alignment=*/16);
        }
        Value part = f32(0.0);
        for (int64_t j = 0; j < kVec; ++j) {
          Value lanePos = arith::ConstantIntOp::create(b, loc, j, 32);
          Value xElt = LLVM::ExtractElementOp::create(b, loc, xs, lanePos);
          Value xv = arith::ExtFOp::create(b, loc, b.getF32Type(), xElt);
          Value wv = LLVM::ExtractElementOp::create(b, loc, ws, lanePos);
          wv = w.fp8 ? roundBF16(fmul(decodeE4M3(wv), scale))
                     : arith::ExtFOp::create(b, loc, b.getF32Type(), wv)
                           .getResult();
          part = fma(xv, wv, part);
        }
        next.push_back(
            fadd(forOp.getRegionIterArgs()[u],
                 arith::SelectOp::create(b, loc, inRange, part, f32(0.0))));
      }
      scf::YieldOp::create(b, loc, next);
    }
    Value sum = forOp.getResult(0);
    for (int u = 1; u < kChains; ++u)
      sum = fadd(sum, forOp.getResult(u));
    return sum;
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

  /// sum_k x[xOffset + k] * W[expert, n, k], accumulated in f32.
  Value dot(Value x, Type xElement, Value xOffset, const WeightView &w,
            Value expert, Value n) {
    Value row = add(mul(expert, c64(w.rows)), n);
    Value rowStart = mul(row, c64(w.cols));
    if (!w.fp8)
      return reduce(0, w.cols, f32(0.0), [&](Value k, Value acc) {
        Value xv = loadF32(x, xElement, add(xOffset, k));
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
        Value xv = loadF32(x, xElement, add(xOffset, k));
        Value byte = load(w.data, b.getI8Type(), add(rowStart, k));
        Value wv = roundBF16(fmul(decodeE4M3(byte), scale));
        return fma(xv, wv, inner);
      });
    });
  }

  /// RMSNorm of one row: dst[dstOff + i] = bf16(bf16(x_i * rsqrt) * w_i).
  void rmsNormRow(Value src, Value srcOff, int64_t width, Value weightPtr,
                  Value dst, Value dstOff, double eps) {
    Value sumSquares = reduce(0, width, f32(0.0), [&](Value i, Value acc) {
      Value x = loadBF16(src, add(srcOff, i));
      return fma(x, x, acc);
    });
    Value meanSquare = fdiv(sumSquares, f32(static_cast<double>(width)));
    Value inv = fdiv(f32(1.0),
                     math::SqrtOp::create(b, loc, fadd(meanSquare, f32(eps))));
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
    Value part = reduceStep(first, c64(width), kWarp * per, f32(0.0),
                            [&](Value i, Value acc) {
                              for (Value x : loadGroup(src, add(srcOff, i)))
                                acc = fma(x, x, acc);
                              return acc;
                            });
    Value meanSquare = fdiv(warpSum(part), f32(static_cast<double>(width)));
    Value inv = fdiv(f32(1.0),
                     math::SqrtOp::create(b, loc, fadd(meanSquare, f32(eps))));
    reduceStep(
        first, c64(width), kWarp * per, f32(0.0), [&](Value i, Value unused) {
          SmallVector<Value> xs = loadGroup(src, add(srcOff, i));
          SmallVector<Value> ws = loadGroup(weightPtr, i);
          SmallVector<Value> ys;
          for (size_t j = 0; j < xs.size(); ++j)
            ys.push_back(arith::TruncFOp::create(
                b, loc, bf16Type, fmul(roundBF16(fmul(xs[j], inv)), ws[j])));
          if (!vector) {
            store(ys[0], dst, add(dstOff, i));
            return unused;
          }
          Value out = LLVM::UndefOp::create(b, loc, vecType);
          for (int64_t j = 0; j < 8; ++j)
            out = LLVM::InsertElementOp::create(
                b, loc, out, ys[j],
                arith::ConstantIntOp::create(b, loc, j, 32));
          LLVM::StoreOp::create(b, loc, out, gep(dst, bf16Type, add(dstOff, i)),
                                /*alignment=*/16);
          return unused;
        });
  }

  /// Rotates the interleaved pairs of one row of `dim` values at `position`
  /// (f32 in, f32 out); the caller rounds or stores.
  void ropeRow(const std::function<Value(Value)> &read,
               const std::function<void(Value, Value)> &write, Value position,
               RopeAttr rope, LLVM::GlobalOp invFreq) {
    Value pos = arith::SIToFPOp::create(b, loc, b.getF32Type(), position);
    Value freqs = LLVM::AddressOfOp::create(b, loc, invFreq);
    Value scale = f32(rope.getCosSinScale());
    loop(0, rope.getDim() / 2, [&](Value i) {
      Value angle = fmul(pos, load(freqs, b.getF32Type(), i));
      Value cos = fmul(math::CosOp::create(b, loc, angle), scale);
      Value sin = fmul(math::SinOp::create(b, loc, angle), scale);
      Value even = mul(i, c64(2)), odd = add(even, c64(1));
      Value x0 = read(even), x1 = read(odd);
      write(even, fsub(fmul(x0, cos), fmul(x1, sin)));
      write(odd, fadd(fmul(x0, sin), fmul(x1, cos)));
    });
  }
};

int64_t featureCount(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

/// Rows per token of a [T, ..., W] tensor.
int64_t rowsPerToken(Value v) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  int64_t rows = 1;
  for (size_t i = 1; i + 1 < shape.size(); ++i)
    rows *= shape[i];
  return rows;
}

/// YaRN inverse frequencies in f32, computed as torch does (deepseek-model.md
/// §4: fp32 pow, reciprocal and ramp).
std::vector<float> ropeInverseFrequencies(RopeAttr rope) {
  int64_t dim = rope.getDim();
  float base = static_cast<float>(rope.getTheta().convertToDouble());
  std::vector<float> invFreq(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i)
    invFreq[i] = 1.0f / std::pow(base, static_cast<float>(2 * i) /
                                           static_cast<float>(dim));
  if (rope.getScaling() != RopeScaling::Yarn)
    return invFreq;
  double factor = rope.getFactor().convertToDouble();
  double original = static_cast<double>(rope.getOriginalMaxPosition());
  auto correctionDim = [&](double rotations) {
    return dim * std::log(original / (rotations * 2 * M_PI)) /
           (2 * std::log(rope.getTheta().convertToDouble()));
  };
  double low = std::max(
      std::floor(correctionDim(rope.getBetaFast().convertToDouble())), 0.0);
  double high =
      std::min(std::ceil(correctionDim(rope.getBetaSlow().convertToDouble())),
               static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001;
  for (int64_t i = 0; i < dim / 2; ++i) {
    float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) /
                                static_cast<float>(high - low),
                            0.0f, 1.0f);
    float extrapolation = invFreq[i];
    float interpolation = extrapolation / static_cast<float>(factor);
    invFreq[i] = interpolation * ramp + extrapolation * (1.0f - ramp);
  }
  return invFreq;
}

/// e4m3fn (bias 7, no infinities, 0x7F/0xFF NaN) decoded, for the table.
float decodeE4M3Value(uint8_t byte) {
  int sign = byte >> 7, exponent = (byte >> 3) & 15, mantissa = byte & 7;
  float value;
  if (exponent == 15 && mantissa == 7)
    value = std::nanf("");
  else if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -9);
  else
    value = std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
  return sign ? -value : value;
}

} // namespace

//===----------------------------------------------------------------------===//
// Kernel bodies
//===----------------------------------------------------------------------===//

namespace {

class KernelBodies {
public:
  KernelBodies(Emitter &e, CacheGeometry cache, bool gpu,
               std::function<LLVM::GlobalOp(RopeAttr)> invFreqTable,
               std::function<LLVM::GlobalOp(StringRef, int64_t)> sharedArray)
      : e(e), cache(cache), gpu(gpu), invFreqTable(std::move(invFreqTable)),
        sharedArray(std::move(sharedArray)) {}

  /// GPU threads per block the emitted kernel needs.
  int64_t blockSize = 128;

  /// Emits the body; returns the parallel dimension and its extent.
  std::pair<ParallelDim, int64_t> emit(Operation *op) {
    return llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
        .Case([&](EmbedOp o) { return embed(o); })
        .Case([&](RMSNormOp o) { return rmsNorm(o); })
        .Case([&](LinearOp o) { return linear(o); })
        .Case([&](LMHeadOp o) { return lmHead(o); })
        .Case([&](SampleOp o) { return sample(o); })
        .Case([&](SwiGLUOp o) { return swiglu(o); })
        .Case([&](AddOp o) { return addOp(o); })
        .Case([&](RopeOp o) { return rope(o); })
        .Case([&](MLACacheWriteOp o) { return cacheWrite(o); })
        .Case([&](MLAAttentionOp o) { return attention(o); })
        .Case([&](MLAAbsorbQueryOp o) { return absorbQuery(o); })
        .Case([&](MLALatentAttentionOp o) { return latentAttention(o); })
        .Case([&](MLAAbsorbValueOp o) { return absorbValue(o); })
        .Case([&](RouterLogitsOp o) { return routerLogits(o); })
        .Case([&](MoESelectOp o) { return select(o); })
        .Case([&](MoEExpertUpOp o) { return expertUp(o); })
        .Case([&](MoEExpertDownOp o) { return expertDown(o); });
  }

private:
  Emitter &e;
  CacheGeometry cache;
  bool gpu;
  std::function<LLVM::GlobalOp(RopeAttr)> invFreqTable;
  /// A block-shared f32 array of the kernel (GPU only).
  std::function<LLVM::GlobalOp(StringRef, int64_t)> sharedArray;

  Value operand(unsigned i) { return e.operandPtrs.lookup(i); }
  Value result(unsigned i = 0) { return e.resultPtrs.lookup(i); }
  Type bf16() { return e.b.getBF16Type(); }
  std::pair<ParallelDim, int64_t> tokens() { return {ParallelDim::Tokens, 0}; }
  std::pair<ParallelDim, int64_t> fixed(int64_t n) {
    return {ParallelDim::Static, n};
  }

  std::pair<ParallelDim, int64_t> embed(EmbedOp op) {
    int64_t d = featureCount(op.getTable());
    e.loop(e.begin, e.end, [&](Value t) {
      Value row = e.mul(e.loadI64(operand(0), t), e.c64(d));
      Value out = e.mul(t, e.c64(d));
      e.loop(0, d, [&](Value i) {
        e.store(e.load(operand(1), bf16(), e.add(row, i)), result(),
                e.add(out, i));
      });
    });
    return tokens();
  }

  /// GPU: one warp per row; lanes split the row.
  std::pair<ParallelDim, int64_t> rmsNormWarp(RMSNormOp op) {
    int64_t width = featureCount(op.getInput());
    int64_t rows = rowsPerToken(op.getInput());
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value index) {
      Value row = e.div(index, warp), lane = e.rem(index, warp);
      Value offset = e.mul(row, e.c64(width));
      e.rmsNormRowWarp(operand(0), offset, width, operand(1), result(), offset,
                       op.getEps().convertToDouble(), lane);
    });
    return {ParallelDim::TokensTimesStatic, rows * Emitter::kWarp};
  }

  std::pair<ParallelDim, int64_t> rmsNorm(RMSNormOp op) {
    if (gpu)
      return rmsNormWarp(op);
    int64_t width = featureCount(op.getInput());
    int64_t rows = rowsPerToken(op.getInput());
    double eps = op.getEps().convertToDouble();
    e.loop(e.mul(e.begin, e.c64(rows)), e.mul(e.end, e.c64(rows)),
           [&](Value r) {
             Value offset = e.mul(r, e.c64(width));
             e.rmsNormRow(operand(0), offset, width, operand(1), result(),
                          offset, eps);
           });
    return tokens();
  }

  /// [T*rows, K] x [N, K]^T: parallel over the N output features.
  /// How a matrix product stores its f32 sum.
  enum class Output { BF16, F32OfBF16, F32 };
  void matmul(Value input, unsigned weightOperand, int64_t rows, Output out) {
    WeightView w = e.weight(weightOperand);
    int64_t k = w.cols, n = w.rows;
    Value total = e.mul(e.tokens, e.c64(rows));
    e.loop(e.begin, e.end, [&](Value col) {
      e.loop(e.c64(0), total, [&](Value row) {
        Value acc = e.dot(operand(0), bf16(), e.mul(inputRow(row), e.c64(k)), w,
                          e.c64(0), col);
        store(acc, e.add(e.mul(row, e.c64(n)), col), out);
      });
    });
    (void)input;
  }

  void store(Value acc, Value index, Output out) {
    if (out == Output::F32)
      e.store(acc, result(), index);
    else if (out == Output::F32OfBF16)
      e.store(e.roundBF16(acc), result(), index);
    else
      e.storeBF16(acc, result(), index);
  }

  /// GPU: one warp per output feature; every lane stores the same sum.
  /// GPU: one warp per output element (row, feature), so small products
  /// still fill the GPU; warps of one feature share its weight row in L2.
  void matmulWarp(unsigned weightOperand, Output out) {
    WeightView w = e.weight(weightOperand);
    int64_t k = w.cols, n = w.rows;
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value col = e.rem(pair, e.c64(n)), row = e.div(pair, e.c64(n));
      Value acc = e.warpSum(e.dotLane(operand(0), bf16(),
                                      e.mul(inputRow(row), e.c64(k)), w,
                                      e.c64(0), col, lane));
      store(acc, e.add(e.mul(row, e.c64(n)), col), out);
    });
  }

  /// A matrix product with the weight in operand 1: warp per output on
  /// GPUs, thread share of the outputs on the CPU.
  std::pair<ParallelDim, int64_t> product(Value input, int64_t rows,
                                          Output out) {
    int64_t outputs = e.weight(1).rows;
    if (gpu) {
      matmulWarp(1, out);
      return {ParallelDim::TokensTimesStatic, rows * outputs * Emitter::kWarp};
    }
    matmul(input, 1, rows, out);
    return fixed(outputs);
  }

  std::pair<ParallelDim, int64_t> linear(LinearOp op) {
    return product(op.getInput(), rowsPerToken(op.getInput()), Output::BF16);
  }

  /// fp32 logits of bf16 inputs, not rounded (the router, §3.3).
  std::pair<ParallelDim, int64_t> routerLogits(RouterLogitsOp op) {
    return product(op.getInput(), 1, Output::F32);
  }

  /// Output row `o` reads input row rows[o] (its count is the outputs').
  std::pair<ParallelDim, int64_t> lmHead(LMHeadOp op) {
    rowMap = operand(2);
    return product(op.getInput(), 1, Output::F32OfBF16);
  }

  /// The input row a matrix product's output row `row` reads.
  Value inputRow(Value row) { return rowMap ? e.loadI64(rowMap, row) : row; }
  Value rowMap; // ds.lm_head: i32 [outputs] of input rows

  //===--- ds.sample ---------------------------------------------------===//
  // One row per (GPU: warp | CPU: thread share); every pass over the
  // vocabulary is lane-strided and its result combined over the lanes, so
  // the CPU kernel is the same algorithm with one lane.

  Type i32() { return e.b.getI32Type(); }
  Value c32(int32_t v) {
    return arith::ConstantIntOp::create(e.b, e.loc, v, 32);
  }
  Value cmpF(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(e.b, e.loc, p, x, y);
  }
  Value cmpI(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(e.b, e.loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(e.b, e.loc, c, x, y);
  }
  Value bitcast(Type t, Value v) {
    return arith::BitcastOp::create(e.b, e.loc, t, v);
  }
  /// splitmix64's finaliser.
  Value mix64(Value z) {
    auto shr = [&](Value x, int64_t n) {
      return arith::ShRUIOp::create(e.b, e.loc, x, e.c64(n)).getResult();
    };
    auto xorOp = [&](Value x, Value y) {
      return arith::XOrIOp::create(e.b, e.loc, x, y).getResult();
    };
    z = e.mul(xorOp(z, shr(z, 30)),
              e.c64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL)));
    z = e.mul(xorOp(z, shr(z, 27)),
              e.c64(static_cast<int64_t>(0x94d049bb133111ebULL)));
    return xorOp(z, shr(z, 31));
  }
  /// Sum over the lanes of a row (identity on the CPU).
  Value laneSum(Value v) { return gpu ? e.warpSum(v) : v; }
  /// (value, index) with the largest value, the lowest index on ties, over
  /// the lanes of a row.
  std::pair<Value, Value> laneArgmax(Value v, Value i) {
    if (!gpu)
      return {v, i};
    for (int32_t offset = 16; offset >= 1; offset /= 2) {
      Value ov = e.shuffleXor(v, offset), oi = e.shuffleXor(i, offset);
      Value take = arith::OrIOp::create(
          e.b, e.loc, cmpF(arith::CmpFPredicate::OGT, ov, v),
          arith::AndIOp::create(e.b, e.loc,
                                cmpF(arith::CmpFPredicate::OEQ, ov, v),
                                cmpI(arith::CmpIPredicate::slt, oi, i)));
      v = select(take, ov, v);
      i = select(take, oi, i);
    }
    return {v, i};
  }
  /// Lane-strided passes over a row handle kUnroll tokens per iteration:
  /// their loads are issued together, so one warp keeps several in flight
  /// (a pass is otherwise bound by one memory latency per token).
  static constexpr int64_t kUnroll = 8;
  /// Calls body(u, index, inRange) for the kUnroll tokens of the iteration
  /// at `i` (out-of-range tokens read the last one's data and must not
  /// count).
  template <typename Body>
  void unrolled(Value i, int64_t count, int64_t unroll, Body body) {
    int64_t lanes = gpu ? Emitter::kWarp : 1;
    for (int64_t u = 0; u < unroll; ++u) {
      Value index = e.add(i, e.c64(u * lanes));
      Value inRange = cmpI(arith::CmpIPredicate::slt, index, e.c64(count));
      body(u, select(inRange, index, e.c64(count - 1)), inRange);
    }
  }
  /// Lane-strided argmax of score(i) over [0, count): (value, i32 index).
  std::pair<Value, Value>
  stridedArgmax(Value lane, int64_t count,
                const std::function<Value(Value)> &score) {
    int64_t lanes = gpu ? Emitter::kWarp : 1;
    auto forOp = scf::ForOp::create(e.b, e.loc, lane, e.c64(count),
                                    e.c64(lanes * kUnroll),
                                    ValueRange{e.f32(-INFINITY), c32(0)});
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(forOp.getBody());
      SmallVector<std::pair<Value, Value>> scored;
      unrolled(forOp.getInductionVar(), count, kUnroll,
               [&](int64_t, Value index, Value inRange) {
                 scored.push_back(
                     {select(inRange, score(index), e.f32(-INFINITY)),
                      arith::TruncIOp::create(e.b, e.loc, i32(), index)});
               });
      // In index order, so the first of equal scores stays.
      Value best = forOp.getRegionIterArgs()[0];
      Value bestIndex = forOp.getRegionIterArgs()[1];
      for (auto [v, index] : scored) {
        Value better = cmpF(arith::CmpFPredicate::OGT, v, best);
        best = select(better, v, best);
        bestIndex = select(better, index, bestIndex);
      }
      scf::YieldOp::create(e.b, e.loc, ValueRange{best, bestIndex});
    }
    return laneArgmax(forOp.getResult(0), forOp.getResult(1));
  }
  /// Lane-strided sum of term(i) over [0, count), over the lanes.
  Value stridedSum(Value lane, int64_t count,
                   const std::function<Value(Value)> &term) {
    int64_t lanes = gpu ? Emitter::kWarp : 1;
    SmallVector<Value> zeros(kUnroll, e.f32(0.0));
    auto forOp = scf::ForOp::create(e.b, e.loc, lane, e.c64(count),
                                    e.c64(lanes * kUnroll), zeros);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(forOp.getBody());
      SmallVector<Value> next;
      unrolled(forOp.getInductionVar(), count, kUnroll,
               [&](int64_t u, Value index, Value inRange) {
                 next.push_back(
                     e.fadd(forOp.getRegionIterArgs()[u],
                            select(inRange, term(index), e.f32(0.0))));
               });
      scf::YieldOp::create(e.b, e.loc, next);
    }
    Value sum = forOp.getResult(0);
    for (int64_t u = 1; u < kUnroll; ++u)
      sum = e.fadd(sum, forOp.getResult(u));
    return laneSum(sum);
  }
  /// The largest key t in [lo, hi] (lo <= hi < 2^32) with measure(t) >=
  /// target, where measure(t) = sum over tokens with key(i) >= t of
  /// value(i) decreases as t grows and measure(lo) >= target. A 16-way
  /// search: each pass over the vocabulary measures 15 cut points at once
  /// (one load per token, independent sums in flight): a span of s keys
  /// shrinks to at most ceil(s / 16) - 1, and spans under 16 are measured
  /// whole, so 9 passes settle any span under 2^32 (weights in (0, 1] have
  /// keys under 2^30: 8 passes, the ninth finds lo == hi and is skipped).
  Value search(Value lo, Value hi, Value target, Value lane, int64_t count,
               const std::function<Value(Value)> &keyOf,
               const std::function<Value(Value)> &valueOf) {
    constexpr int64_t kWays = 16;
    int64_t lanes = gpu ? Emitter::kWarp : 1;
    auto forOp = scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(9), e.c64(1),
                                    ValueRange{lo, hi});
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(forOp.getBody());
    Value l = forOp.getRegionIterArgs()[0], h = forOp.getRegionIterArgs()[1];
    auto ifOp =
        scf::IfOp::create(e.b, e.loc, TypeRange{l.getType(), h.getType()},
                          cmpI(arith::CmpIPredicate::slt, l, h),
                          /*withElse=*/true);
    {
      OpBuilder::InsertionGuard inner(e.b);
      e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      // Cut j = l + ceil(j (h - l) / 16), j = 1..15: increasing, in (l, h].
      Value span = e.fsubI(h, l);
      SmallVector<Value> cuts;
      for (int64_t j = 1; j < kWays; ++j)
        cuts.push_back(
            e.add(l, e.div(e.add(e.mul(span, e.c64(j)), e.c64(kWays - 1)),
                           e.c64(kWays))));
      SmallVector<Value> zeros(cuts.size(), e.f32(0.0));
      constexpr int64_t kSearchUnroll = 4;
      auto pass = scf::ForOp::create(e.b, e.loc, lane, e.c64(count),
                                     e.c64(lanes * kSearchUnroll), zeros);
      {
        OpBuilder::InsertionGuard body(e.b);
        e.b.setInsertionPointToStart(pass.getBody());
        SmallVector<std::pair<Value, Value>> tokens; // (key, value)
        unrolled(
            pass.getInductionVar(), count, kSearchUnroll,
            [&](int64_t, Value index, Value inRange) {
              tokens.push_back(
                  {keyOf(index), select(inRange, valueOf(index), e.f32(0.0))});
            });
        SmallVector<Value> next(pass.getRegionIterArgs().begin(),
                                pass.getRegionIterArgs().end());
        for (auto [k, v] : tokens)
          for (size_t j = 0; j < cuts.size(); ++j)
            next[j] = e.fadd(next[j],
                             select(cmpI(arith::CmpIPredicate::sge, k, cuts[j]),
                                    v, e.f32(0.0)));
        scf::YieldOp::create(e.b, e.loc, next);
      }
      // The last cut that still measures >= target bounds the answer from
      // below, the cut after it from above.
      Value newLo = l, newHi = h;
      for (size_t j = 0; j < cuts.size(); ++j) {
        Value ok =
            cmpF(arith::CmpFPredicate::OGE, laneSum(pass.getResult(j)), target);
        newLo = select(ok, cuts[j], newLo);
        Value below = e.fsubI(cuts[j], e.c64(1));
        Value firstFail = arith::AndIOp::create(
            e.b, e.loc,
            arith::XOrIOp::create(
                e.b, e.loc, ok, arith::ConstantIntOp::create(e.b, e.loc, 1, 1)),
            cmpI(arith::CmpIPredicate::eq, newHi, h));
        newHi = select(firstFail, below, newHi);
      }
      scf::YieldOp::create(e.b, e.loc, ValueRange{newLo, newHi});
      e.b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(e.b, e.loc, ValueRange{l, h});
    }
    scf::YieldOp::create(e.b, e.loc, ifOp.getResults());
    return forOp.getResult(0);
  }
  /// Emits `then` (yielding one i32) under `cond`, else yields `otherwise`.
  Value ifElse(Value cond, const std::function<Value()> &then,
               Value otherwise) {
    auto ifOp = scf::IfOp::create(e.b, e.loc, TypeRange{otherwise.getType()},
                                  cond, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(e.b, e.loc, then());
    e.b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(e.b, e.loc, otherwise);
    return ifOp.getResult(0);
  }

  /// The sampled branch of ds.sample for one row (see the op): weights to
  /// result 1, thresholds by a 16-way search over the weights' bit patterns
  /// (non-negative floats order like their bits), then Gumbel-max.
  Value sampleRow(Value lane, int64_t vocab, Value logitsRow, Value maxLogit,
                  Value temperature, Value topK, Value topP, Value minP,
                  Value seed, Value draw,
                  const std::function<Value(Value)> &logit) {
    Type f32 = e.b.getF32Type();
    Value weights = result(1);
    Value infinite = cmpF(arith::CmpFPredicate::OEQ, maxLogit, e.f32(INFINITY));
    // Pass 1: w = exp((l - max) / T), stored; +inf logits weigh 1, the
    // rest 0, when the maximum is +inf.
    Value total = stridedSum(lane, vocab, [&](Value i) {
      Value x = logit(i);
      Value scaled = e.exp(e.fdiv(e.fsub(x, maxLogit), temperature));
      Value top = select(cmpF(arith::CmpFPredicate::OEQ, x, e.f32(INFINITY)),
                         e.f32(1.0), e.f32(0.0));
      Value w = select(infinite, top, scaled);
      e.store(w, weights, e.add(logitsRow, i));
      return w;
    });
    (void)total;
    auto weight = [&](Value i) {
      return e.load(weights, f32, e.add(logitsRow, i));
    };
    auto key = [&](Value w) { return e.i32ToI64(bitcast(i32(), w)); };
    Value one = key(e.f32(1.0)), smallest = e.c64(1); // the least positive
    auto imax = [&](Value x, Value y) {
      return arith::MaxSIOp::create(e.b, e.loc, x, y).getResult();
    };
    // min-p: w >= min_p (the best token weighs 1).
    Value threshold = imax(smallest, key(minP));
    // top-k: the k-th largest weight.
    Value useK = arith::AndIOp::create(
        e.b, e.loc, cmpI(arith::CmpIPredicate::sgt, topK, e.c64(0)),
        cmpI(arith::CmpIPredicate::slt, topK, e.c64(vocab)));
    auto keyAt = [&](Value i) { return key(weight(i)); };
    Value kKey = ifElse(
        useK,
        [&]() -> Value {
          Value target = arith::SIToFPOp::create(e.b, e.loc, f32, topK);
          return search(smallest, one, target, lane, vocab, keyAt,
                        [&](Value) { return e.f32(1.0); });
        },
        smallest);
    threshold = imax(threshold, kKey);
    // top-p over the tokens top-k keeps.
    Value useP = cmpF(arith::CmpFPredicate::OLT, topP, e.f32(1.0));
    Value pKey = ifElse(
        useP,
        [&]() -> Value {
          Value kept = stridedSum(lane, vocab, [&](Value i) {
            Value w = weight(i);
            return select(cmpI(arith::CmpIPredicate::sge, key(w), kKey), w,
                          e.f32(0.0));
          });
          return search(kKey, one, e.fmul(topP, kept), lane, vocab, keyAt,
                        weight);
        },
        smallest);
    threshold = imax(threshold, pKey);
    // Gumbel-max over the kept tokens.
    Value stream = mix64(arith::XOrIOp::create(
        e.b, e.loc, seed,
        mix64(
            e.add(draw, e.c64(static_cast<int64_t>(0x9e3779b97f4a7c15ULL))))));
    auto [best, pick] = stridedArgmax(lane, vocab, [&](Value i) {
      Value w = weight(i);
      Value bits = mix64(e.add(
          stream, e.mul(e.add(i, e.c64(1)),
                        e.c64(static_cast<int64_t>(0xd1b54a32d192ed03ULL)))));
      Value top24 = arith::ShRUIOp::create(e.b, e.loc, bits, e.c64(40));
      Value u = e.fmul(
          e.fadd(arith::UIToFPOp::create(e.b, e.loc, f32, top24), e.f32(0.5)),
          e.f32(1.0 / 16777216.0));
      auto log = [&](Value x) {
        return math::LogOp::create(e.b, e.loc, x).getResult();
      };
      Value gumbel = e.fsub(e.f32(0.0), log(e.fsub(e.f32(0.0), log(u))));
      Value kept = cmpI(arith::CmpIPredicate::sge, key(w), threshold);
      return select(kept, e.fadd(log(w), gumbel), e.f32(-INFINITY));
    });
    (void)best;
    return pick;
  }

  std::pair<ParallelDim, int64_t> sample(SampleOp op) {
    int64_t vocab = featureCount(op.getLogits());
    Type f32 = e.b.getF32Type(), i64 = e.b.getI64Type();
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value index) {
      Value row = gpu ? e.div(index, warp) : index;
      Value lane = gpu ? e.rem(index, warp) : e.c64(0);
      Value logitsRow = e.mul(row, e.c64(vocab));
      Value words = e.mul(row, e.c64(8));
      auto word = [&](int64_t k) {
        return e.load(operand(1), i32(), e.add(words, e.c64(k)));
      };
      auto word64 = [&](int64_t k) {
        Value lo = arith::ExtUIOp::create(e.b, e.loc, i64, word(k));
        Value hi = arith::ExtUIOp::create(e.b, e.loc, i64, word(k + 1));
        return arith::OrIOp::create(
                   e.b, e.loc, lo,
                   arith::ShLIOp::create(e.b, e.loc, hi, e.c64(32)))
            .getResult();
      };
      Value temperature = bitcast(f32, word(0));
      Value topK = e.i32ToI64(word(1));
      Value topP = bitcast(f32, word(2));
      Value minP = bitcast(f32, word(3));
      Value seed = word64(4), draw = word64(6);
      // NaN counts as -inf.
      auto logit = [&](Value i) {
        Value x = e.load(operand(0), f32, e.add(logitsRow, i));
        return select(cmpF(arith::CmpFPredicate::UNO, x, x), e.f32(-INFINITY),
                      x);
      };

      auto [maxLogit, argmax] = stridedArgmax(lane, vocab, logit);
      Value greedy = arith::OrIOp::create(
          e.b, e.loc, cmpF(arith::CmpFPredicate::ULE, temperature, e.f32(0.0)),
          cmpF(arith::CmpFPredicate::OEQ, maxLogit, e.f32(-INFINITY)));
      Value chosen = ifElse(
          arith::XOrIOp::create(e.b, e.loc, greedy,
                                arith::ConstantIntOp::create(e.b, e.loc, 1, 1)),
          [&]() -> Value {
            return sampleRow(lane, vocab, logitsRow, maxLogit, temperature,
                             topK, topP, minP, seed, draw, logit);
          },
          argmax);
      auto first = scf::IfOp::create(
          e.b, e.loc, cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)),
          /*withElse=*/false);
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(&first.getThenRegion().front());
      e.store(chosen, result(), row);
    });
    if (gpu)
      return {ParallelDim::TokensTimesStatic, Emitter::kWarp};
    return tokens();
  }

  // Element-wise ops are parallel over every element of the chunk.
  std::pair<ParallelDim, int64_t> swiglu(SwiGLUOp op) {
    int64_t width = featureCount(op.getGate()) * rowsPerToken(op.getGate());
    e.loop(e.begin, e.end, [&](Value i) {
      Value g = e.loadBF16(operand(0), i), u = e.loadBF16(operand(1), i);
      e.storeBF16(e.fmul(e.silu(g), u), result(), i);
    });
    return {ParallelDim::TokensTimesStatic, width};
  }

  std::pair<ParallelDim, int64_t> addOp(AddOp op) {
    int64_t width = featureCount(op.getLhs()) * rowsPerToken(op.getLhs());
    e.loop(e.begin, e.end, [&](Value i) {
      e.storeBF16(e.fadd(e.loadBF16(operand(0), i), e.loadBF16(operand(1), i)),
                  result(), i);
    });
    return {ParallelDim::TokensTimesStatic, width};
  }

  std::pair<ParallelDim, int64_t> rope(RopeOp op) {
    int64_t dim = op.getRope().getDim();
    int64_t rows = rowsPerToken(op.getInput());
    LLVM::GlobalOp freqs = invFreqTable(op.getRope());
    e.loop(e.begin, e.end, [&](Value t) {
      Value position = e.loadI64(operand(1), t);
      e.loop(0, rows, [&](Value r) {
        Value base = e.mul(e.add(e.mul(t, e.c64(rows)), r), e.c64(dim));
        e.ropeRow(
            [&](Value i) { return e.loadBF16(operand(0), e.add(base, i)); },
            [&](Value i, Value v) { e.storeBF16(v, result(), e.add(base, i)); },
            position, op.getRope(), freqs);
      });
    });
    return tokens();
  }

  /// Index of (slot, position) in one layer of the cache, in elements.
  Value cacheRow(Value slot, Value position, int64_t width) {
    return e.mul(e.add(e.mul(slot, e.c64(cache.maxSeq)), position),
                 e.c64(width));
  }

  std::pair<ParallelDim, int64_t> cacheWrite(MLACacheWriteOp op) {
    if (gpu)
      return cacheWriteWarp(op);
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim;
    LLVM::GlobalOp freqs = invFreqTable(op.getRope());
    Value cachePtr = operand(4);
    e.loop(e.begin, e.end, [&](Value t) {
      Value position = e.loadI64(operand(2), t);
      Value row = cacheRow(e.loadI64(operand(3), t), position, width);
      Value src = e.mul(t, e.c64(width));
      e.rmsNormRow(operand(0), src, latent, operand(1), cachePtr, row,
                   op.getEps().convertToDouble());
      Value ropeSrc = e.add(src, e.c64(latent));
      Value ropeDst = e.add(row, e.c64(latent));
      e.ropeRow(
          [&](Value i) { return e.loadBF16(operand(0), e.add(ropeSrc, i)); },
          [&](Value i, Value v) {
            e.storeBF16(v, cachePtr, e.add(ropeDst, i));
          },
          position, op.getRope(), freqs);
    });
    return tokens();
  }

  /// GPU: one warp per token; the lanes normalise the latent together and
  /// rotate one pair of k_pe each.
  std::pair<ParallelDim, int64_t> cacheWriteWarp(MLACacheWriteOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim;
    RopeAttr rope = op.getRope();
    LLVM::GlobalOp freqs = invFreqTable(rope);
    Value cachePtr = operand(4);
    Value warp = e.c64(Emitter::kWarp);
    Type f32 = e.b.getF32Type();
    e.loop(e.begin, e.end, [&](Value index) {
      Value t = e.div(index, warp), lane = e.rem(index, warp);
      Value position = e.loadI64(operand(2), t);
      Value row = cacheRow(e.loadI64(operand(3), t), position, width);
      Value src = e.mul(t, e.c64(width));
      e.rmsNormRowWarp(operand(0), src, latent, operand(1), cachePtr, row,
                       op.getEps().convertToDouble(), lane);
      // Pair i = lane, lane + 32, ... of the rotary part (as ropeRow).
      Value ropeSrc = e.add(src, e.c64(latent));
      Value ropeDst = e.add(row, e.c64(latent));
      Value pos = arith::SIToFPOp::create(e.b, e.loc, f32, position);
      Value table = LLVM::AddressOfOp::create(e.b, e.loc, freqs);
      Value scale = e.f32(rope.getCosSinScale());
      e.reduceStep(
          lane, e.c64(ropeDim / 2), Emitter::kWarp, e.f32(0.0),
          [&](Value i, Value unused) {
            Value angle = e.fmul(pos, e.load(table, f32, i));
            Value cos = e.fmul(math::CosOp::create(e.b, e.loc, angle), scale);
            Value sin = e.fmul(math::SinOp::create(e.b, e.loc, angle), scale);
            Value even = e.mul(i, e.c64(2)), odd = e.add(even, e.c64(1));
            Value x0 = e.loadBF16(operand(0), e.add(ropeSrc, even));
            Value x1 = e.loadBF16(operand(0), e.add(ropeSrc, odd));
            e.storeBF16(e.fsub(e.fmul(x0, cos), e.fmul(x1, sin)), cachePtr,
                        e.add(ropeDst, even));
            e.storeBF16(e.fadd(e.fmul(x0, sin), e.fmul(x1, cos)), cachePtr,
                        e.add(ropeDst, odd));
            return unused;
          });
    });
    return {ParallelDim::TokensTimesStatic, Emitter::kWarp};
  }

  /// scores[0, last) become bf16(softmax) in f32 storage (§9b: fp32
  /// softmax, probabilities rounded to bf16); `maxScore` is their maximum.
  void softmaxToBF16(Value scores, Value last, Value maxScore) {
    Type f32 = e.b.getF32Type();
    Value sum = e.reduce(e.c64(0), last, e.f32(0.0), [&](Value s, Value a) {
      Value p = e.exp(e.fsub(e.load(scores, f32, s), maxScore));
      e.store(p, scores, s);
      return e.fadd(a, p);
    });
    Value inv = e.fdiv(e.f32(1.0), sum);
    e.loop(e.c64(0), last, [&](Value s) {
      e.store(e.roundBF16(e.fmul(e.load(scores, f32, s), inv)), scores, s);
    });
  }

  //===--- the absorbed attention in three kernels (§2.7) -----------------===//

  /// q_lat[t, h] = [bf16(q_nope W_UK[h]) | bf16(rope(q_pe))]. Generic: one
  /// (token, head) per index. GPU: one thread per (token, head, column c <
  /// R) and per rotary pair, so lanes read consecutive columns of W_UK.
  std::pair<ParallelDim, int64_t> absorbQuery(MLAAbsorbQueryOp op) {
    WeightView kvB = e.weight(2);
    int64_t latent = kvB.cols, ropeDim = op.getQkRopeHeadDim();
    int64_t heads = op.getNumHeads(), nope = op.getQkNopeHeadDim(),
            vDim = op.getVHeadDim(), qkDim = nope + ropeDim;
    int64_t width = latent + ropeDim;
    RopeAttr rope = op.getRope();
    LLVM::GlobalOp freqs = invFreqTable(rope);
    Value zero = e.c64(0);
    Type f32 = e.b.getF32Type();
    auto qAbsColumn = [&](Value t, Value h, Value c) {
      Value kvRow0 = e.mul(h, e.c64(nope + vDim));
      Value qBase =
          e.add(e.mul(t, e.c64(heads * qkDim)), e.mul(h, e.c64(qkDim)));
      // Four chains, so four weight loads are in flight.
      int64_t chains = nope % 4 == 0 ? 4 : 1;
      SmallVector<Value> init(chains, e.f32(0.0));
      auto dot = scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(nope),
                                    e.c64(chains), init);
      {
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(dot.getBody());
        SmallVector<Value> next;
        for (int64_t u = 0; u < chains; ++u) {
          Value j = e.add(dot.getInductionVar(), e.c64(u));
          Value w = e.weightElement(kvB, zero, e.add(kvRow0, j), c);
          next.push_back(e.fma(e.loadBF16(operand(0), e.add(qBase, j)), w,
                               dot.getRegionIterArgs()[u]));
        }
        scf::YieldOp::create(e.b, e.loc, next);
      }
      Value acc = dot.getResult(0);
      for (int64_t u = 1; u < chains; ++u)
        acc = e.fadd(acc, dot.getResult(u));
      Value out = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(width));
      e.storeBF16(acc, result(), e.add(out, c));
    };
    auto ropePair = [&](Value t, Value h, Value pairIndex) {
      Value qPeBase =
          e.add(e.add(e.mul(t, e.c64(heads * qkDim)), e.mul(h, e.c64(qkDim))),
                e.c64(nope));
      Value out = e.add(e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(width)),
                        e.c64(latent));
      Value pos =
          arith::SIToFPOp::create(e.b, e.loc, f32, e.loadI64(operand(1), t));
      Value table = LLVM::AddressOfOp::create(e.b, e.loc, freqs);
      Value scale = e.f32(rope.getCosSinScale());
      Value angle = e.fmul(pos, e.load(table, f32, pairIndex));
      Value cos = e.fmul(math::CosOp::create(e.b, e.loc, angle), scale);
      Value sin = e.fmul(math::SinOp::create(e.b, e.loc, angle), scale);
      Value even = e.mul(pairIndex, e.c64(2)), odd = e.add(even, e.c64(1));
      Value x0 = e.loadBF16(operand(0), e.add(qPeBase, even));
      Value x1 = e.loadBF16(operand(0), e.add(qPeBase, odd));
      e.storeBF16(e.fsub(e.fmul(x0, cos), e.fmul(x1, sin)), result(),
                  e.add(out, even));
      e.storeBF16(e.fadd(e.fmul(x0, sin), e.fmul(x1, cos)), result(),
                  e.add(out, odd));
    };
    int64_t pairs = ropeDim / 2, perHead = latent + pairs;
    if (gpu) {
      e.loop(e.begin, e.end, [&](Value index) {
        Value th = e.div(index, e.c64(perHead));
        Value c = e.rem(index, e.c64(perHead));
        Value t = e.div(th, e.c64(heads)), h = e.rem(th, e.c64(heads));
        auto isQAbs = scf::IfOp::create(
            e.b, e.loc, cmpI(arith::CmpIPredicate::slt, c, e.c64(latent)),
            /*withElse=*/true);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&isQAbs.getThenRegion().front());
        qAbsColumn(t, h, c);
        e.b.setInsertionPointToStart(&isQAbs.getElseRegion().front());
        ropePair(t, h, e.fsubI(c, e.c64(latent)));
      });
      return {ParallelDim::TokensTimesStatic, heads * perHead};
    }
    e.loop(e.begin, e.end, [&](Value pair) {
      Value t = e.div(pair, e.c64(heads)), h = e.rem(pair, e.c64(heads));
      e.loop(0, pairs, [&](Value i) { ropePair(t, h, i); });
      e.loop(0, latent, [&](Value c) { qAbsColumn(t, h, c); });
    });
    return {ParallelDim::TokensTimesStatic, heads};
  }

  /// result[t, h, j] = bf16(o_lat[t, h] . W_UV[h][j]): one warp per output
  /// on GPUs (a matrix product with one weight row per (head, feature)).
  std::pair<ParallelDim, int64_t> absorbValue(MLAAbsorbValueOp op) {
    WeightView kvB = e.weight(1);
    int64_t latent = kvB.cols, heads = op.getNumHeads(),
            nope = op.getQkNopeHeadDim(), vDim = op.getVHeadDim();
    Value zero = e.c64(0);
    auto output = [&](Value t, Value h, Value j, Value lane) {
      Value row = e.add(e.mul(h, e.c64(nope + vDim)), e.add(e.c64(nope), j));
      Value x = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(latent));
      Value out =
          e.add(e.mul(t, e.c64(heads * vDim)), e.add(e.mul(h, e.c64(vDim)), j));
      Value sum = lane ? e.warpSum(e.dotLane(operand(0), bf16(), x, kvB, zero,
                                             row, lane))
                       : e.dot(operand(0), bf16(), x, kvB, zero, row);
      e.storeBF16(sum, result(), out);
    };
    if (gpu) {
      Value warp = e.c64(Emitter::kWarp);
      e.loop(e.begin, e.end, [&](Value index) {
        Value element = e.div(index, warp), lane = e.rem(index, warp);
        Value th = e.div(element, e.c64(vDim)), j = e.rem(element, e.c64(vDim));
        output(e.div(th, e.c64(heads)), e.rem(th, e.c64(heads)), j, lane);
      });
      return {ParallelDim::TokensTimesStatic, heads * vDim * Emitter::kWarp};
    }
    e.loop(e.begin, e.end, [&](Value pair) {
      Value t = e.div(pair, e.c64(heads)), h = e.rem(pair, e.c64(heads));
      e.loop(0, vDim, [&](Value j) { output(t, h, j, Value()); });
    });
    return {ParallelDim::TokensTimesStatic, heads};
  }

  /// o_lat[t, h] = bf16(softmax(scores) . c). Generic: one (token, head) per
  /// index, scores in a buffer, probabilities rounded to bf16.
  std::pair<ParallelDim, int64_t> latentAttention(MLALatentAttentionOp op) {
    if (gpu)
      return latentAttentionWarp(op);
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim, heads = op.getNumHeads();
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    Value scores = e.scratch(cache.maxSeq);
    Type f32 = e.b.getF32Type();
    e.loop(e.begin, e.end, [&](Value pair) {
      Value t = e.div(pair, e.c64(heads));
      Value position = e.loadI64(operand(1), t);
      Value slot = e.loadI64(operand(2), t);
      Value q = e.mul(pair, e.c64(width)); // (t * heads + h) * width
      Value last = e.add(position, e.c64(1));
      Value maxScore = e.reduce(
          e.c64(0), last, e.f32(-INFINITY), [&](Value s, Value running) {
            Value row = cacheRow(slot, s, width);
            auto part = [&](int64_t from, int64_t to) {
              return e.reduce(from, to, e.f32(0.0), [&](Value c, Value a) {
                return e.fma(e.loadBF16(operand(0), e.add(q, c)),
                             e.loadBF16(cachePtr, e.add(row, c)), a);
              });
            };
            Value score = e.fmul(e.fadd(part(0, latent), part(latent, width)),
                                 e.f32(softmaxScale));
            e.store(score, scores, s);
            return e.fmax(running, score);
          });
      softmaxToBF16(scores, last, maxScore);
      Value out = e.mul(pair, e.c64(latent));
      e.loop(0, latent, [&](Value c) {
        Value acc = e.reduce(e.c64(0), last, e.f32(0.0), [&](Value s, Value a) {
          Value cv = e.loadBF16(cachePtr, e.add(cacheRow(slot, s, width), c));
          return e.fma(e.load(scores, f32, s), cv, a);
        });
        e.storeBF16(acc, result(), e.add(out, c));
      });
    });
    return {ParallelDim::TokensTimesStatic, heads};
  }

  /// GPU: one warp per (token, head); lanes split the latent dimension
  /// (c = lane + 32 k) for the scores and o_lat, so cache reads are
  /// coalesced. In prefill (`ds.query_group`) tokens [base, base + G) of one
  /// slot share a warp and read each cache row once for all of them; the
  /// group's first warp serves it and the others return (tokens of distinct
  /// slots each keep their own warp).
  std::pair<ParallelDim, int64_t> latentAttentionWarp(MLALatentAttentionOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t heads = op.getNumHeads();
    auto groupAttr = op->getAttrOfType<IntegerAttr>("ds.query_group");
    int64_t group = groupAttr ? std::max<int64_t>(groupAttr.getInt(), 1) : 1;
    if (group == 1)
      return latentAttentionSplit(op);
    Value warp = e.c64(Emitter::kWarp);
    Value yes = arith::ConstantIntOp::create(e.b, e.loc, 1, 1);
    e.loop(e.begin, e.end, [&](Value index) {
      Value pair = e.div(index, warp), lane = e.rem(index, warp);
      Value t = e.div(pair, e.c64(heads));
      Value h = e.rem(pair, e.c64(heads));
      if (group == 1) {
        attendGroup(type, op, lane, h, e.loadI64(operand(2), t), {t}, {yes});
        return;
      }
      Value base = e.fsubI(t, e.rem(t, e.c64(group)));
      Value lastToken = e.fsubI(e.tokens, e.c64(1));
      Value slot0 = e.loadI64(operand(2), base);
      Value same = yes;
      SmallVector<Value> tokens, valid;
      for (int64_t g = 0; g < group; ++g) {
        Value tg = e.add(base, e.c64(g));
        Value inChunk = cmpI(arith::CmpIPredicate::slt, tg, e.tokens);
        Value clamped = arith::MinSIOp::create(e.b, e.loc, tg, lastToken);
        Value sameSlot = cmpI(arith::CmpIPredicate::eq,
                              e.loadI64(operand(2), clamped), slot0);
        same = arith::AndIOp::create(
            e.b, e.loc, same,
            arith::OrIOp::create(
                e.b, e.loc, arith::XOrIOp::create(e.b, e.loc, inChunk, yes),
                sameSlot));
        tokens.push_back(clamped);
        valid.push_back(inChunk);
      }
      auto shared = scf::IfOp::create(e.b, e.loc, same, /*withElse=*/true);
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(&shared.getThenRegion().front());
      auto leader =
          scf::IfOp::create(e.b, e.loc, cmpI(arith::CmpIPredicate::eq, t, base),
                            /*withElse=*/false);
      e.b.setInsertionPointToStart(&leader.getThenRegion().front());
      attendGroup(type, op, lane, h, slot0, tokens, valid);
      e.b.setInsertionPointToStart(&shared.getElseRegion().front());
      attendGroup(type, op, lane, h, e.loadI64(operand(2), t), {t}, {yes});
    });
    return {ParallelDim::TokensTimesStatic, heads * Emitter::kWarp};
  }

  /// GPU decode: one block of kSplitWarps warps per (token, head), each warp
  /// taking a contiguous share of the cached positions (flash-decoding's
  /// split), combined through shared memory: the block's maximum of the
  /// warps' running maxima, each warp's sum and accumulators rescaled to it,
  /// the accumulators added with shared-memory atomics. Long contexts thus
  /// use kSplitWarps warps per head instead of one.
  static constexpr int64_t kSplitWarps =
      16; // 512 threads: <= 128 registers each
  std::pair<ParallelDim, int64_t>
  latentAttentionSplit(MLALatentAttentionOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), heads = op.getNumHeads();
    int64_t block = kSplitWarps * Emitter::kWarp;
    blockSize = block;
    Type f32 = e.b.getF32Type();
    auto shared = [&](StringRef what, int64_t count) {
      Value address =
          LLVM::AddressOfOp::create(e.b, e.loc, sharedArray(what, count));
      return LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrType, address)
          .getResult();
    };
    Value sharedMax = shared("max", kSplitWarps);
    Value sharedSum = shared("sum", kSplitWarps);
    Value sharedAcc = shared("acc", latent);
    Value yes = arith::ConstantIntOp::create(e.b, e.loc, 1, 1);
    e.loop(e.begin, e.end, [&](Value index) {
      Value pair = e.div(index, e.c64(block));
      Value thread = e.rem(index, e.c64(block));
      Value warpIndex = e.div(thread, e.c64(Emitter::kWarp));
      Value lane = e.rem(thread, e.c64(Emitter::kWarp));
      Value t = e.div(pair, e.c64(heads)), h = e.rem(pair, e.c64(heads));
      Value count = e.add(e.loadI64(operand(1), t), e.c64(1));
      Value share =
          e.div(e.add(count, e.c64(kSplitWarps - 1)), e.c64(kSplitWarps));
      Value from =
          arith::MinSIOp::create(e.b, e.loc, e.mul(warpIndex, share), count);
      Value to = arith::MinSIOp::create(e.b, e.loc, e.add(from, share), count);
      // The block's accumulator starts at zero.
      {
        auto zero = scf::IfOp::create(
            e.b, e.loc, cmpI(arith::CmpIPredicate::slt, thread, e.c64(latent)),
            /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&zero.getThenRegion().front());
        e.store(e.f32(0.0), sharedAcc, thread);
      }
      AttendResult part =
          attendRange(type, op, lane, h, e.loadI64(operand(2), t), t, from, to);
      {
        auto first = scf::IfOp::create(
            e.b, e.loc, cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)),
            /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&first.getThenRegion().front());
        e.store(part.max, sharedMax, warpIndex);
        e.store(part.sum, sharedSum, warpIndex);
      }
      NVVM::Barrier0Op::create(e.b, e.loc);
      Value blockMax =
          e.reduce(0, kSplitWarps, e.f32(-INFINITY), [&](Value w, Value m) {
            return e.fmax(m, e.load(sharedMax, f32, w));
          });
      Value blockSum =
          e.reduce(0, kSplitWarps, e.f32(0.0), [&](Value w, Value l) {
            Value m = e.load(sharedMax, f32, w);
            Value scale =
                select(cmpF(arith::CmpFPredicate::OEQ, m, e.f32(-INFINITY)),
                       e.f32(0.0), e.exp(e.fsub(m, blockMax)));
            return e.fadd(l, e.fmul(e.load(sharedSum, f32, w), scale));
          });
      Value scale =
          select(cmpF(arith::CmpFPredicate::OEQ, part.max, e.f32(-INFINITY)),
                 e.f32(0.0), e.exp(e.fsub(part.max, blockMax)));
      for (size_t k = 0; k < part.acc.size(); ++k) {
        Value c = e.add(lane, e.c64(static_cast<int64_t>(k) * Emitter::kWarp));
        auto add = scf::IfOp::create(
            e.b, e.loc, cmpI(arith::CmpIPredicate::slt, c, e.c64(latent)),
            /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&add.getThenRegion().front());
        LLVM::AtomicRMWOp::create(
            e.b, e.loc, LLVM::AtomicBinOp::fadd, e.gep(sharedAcc, f32, c),
            e.fmul(part.acc[k], scale), LLVM::AtomicOrdering::monotonic);
      }
      NVVM::Barrier0Op::create(e.b, e.loc);
      {
        auto out = scf::IfOp::create(
            e.b, e.loc, cmpI(arith::CmpIPredicate::slt, thread, e.c64(latent)),
            /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&out.getThenRegion().front());
        Value base = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(latent));
        e.storeBF16(e.fdiv(e.load(sharedAcc, f32, thread), blockSum), result(),
                    e.add(base, thread));
      }
      (void)yes;
    });
    return {ParallelDim::TokensTimesStatic, heads * block};
  }

  /// A warp's online softmax over cached positions [from, to) of one
  /// token: its running maximum (-inf when empty), sum and this lane's
  /// accumulators (c = lane + 32 k).
  struct AttendResult {
    Value max, sum;
    SmallVector<Value> acc;
  };
  AttendResult attendRange(LatentCacheType type, MLALatentAttentionOp op,
                           Value lane, Value h, Value slot, Value token,
                           Value from, Value to) {
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim, heads = op.getNumHeads();
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    int64_t perLane = (latent + Emitter::kWarp - 1) / Emitter::kWarp;
    int64_t ropeLane = (ropeDim + Emitter::kWarp - 1) / Emitter::kWarp;
    auto column = [&](int64_t k, int64_t limit) {
      Value c = e.add(lane, e.c64(k * Emitter::kWarp));
      Value inRange = cmpI(arith::CmpIPredicate::slt, c, e.c64(limit));
      return std::make_pair(select(inRange, c, e.c64(limit - 1)), inRange);
    };
    Value q = e.mul(e.add(e.mul(token, e.c64(heads)), h), e.c64(width));
    SmallVector<Value> qAbs, qPe;
    for (int64_t k = 0; k < perLane; ++k)
      qAbs.push_back(e.loadBF16(operand(0), e.add(q, column(k, latent).first)));
    for (int64_t k = 0; k < ropeLane; ++k)
      qPe.push_back(e.loadBF16(operand(0), e.add(e.add(q, e.c64(latent)),
                                                 column(k, ropeDim).first)));
    SmallVector<Value> init = {e.f32(-INFINITY), e.f32(0.0)};
    init.append(perLane, e.f32(0.0));
    auto online = scf::ForOp::create(e.b, e.loc, from, to, e.c64(1), init);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(online.getBody());
      Value row = cacheRow(slot, online.getInductionVar(), width);
      SmallVector<Value> cv;
      Value part = e.f32(0.0);
      for (int64_t k = 0; k < perLane; ++k) {
        auto [c, inRange] = column(k, latent);
        cv.push_back(
            select(inRange, e.loadBF16(cachePtr, e.add(row, c)), e.f32(0.0)));
        part = e.fma(qAbs[k], cv[k], part);
      }
      for (int64_t k = 0; k < ropeLane; ++k) {
        auto [r, inRange] = column(k, ropeDim);
        Value kpe = select(
            inRange, e.loadBF16(cachePtr, e.add(e.add(row, e.c64(latent)), r)),
            e.f32(0.0));
        part = e.fma(qPe[k], kpe, part);
      }
      Value score = e.fmul(e.warpSum(part), e.f32(softmaxScale));
      auto args = online.getRegionIterArgs();
      Value next = e.fmax(args[0], score);
      Value alpha = e.exp(e.fsub(args[0], next));
      Value p = e.exp(e.fsub(score, next));
      SmallVector<Value> yields = {next, e.fadd(e.fmul(args[1], alpha), p)};
      for (int64_t k = 0; k < perLane; ++k)
        yields.push_back(e.fma(p, cv[k], e.fmul(args[2 + k], alpha)));
      scf::YieldOp::create(e.b, e.loc, yields);
    }
    AttendResult r{online.getResult(0), online.getResult(1), {}};
    for (int64_t k = 0; k < perLane; ++k)
      r.acc.push_back(online.getResult(2 + k));
    return r;
  }

  /// One warp attends head `h` for `tokens` (all of cache slot `slot`;
  /// `valid[g]` false for padding past the chunk). The softmax is kept
  /// online in one pass (flash-decoding): per token the running maximum m,
  /// the running sum l of exp(score - m) and this lane's o_lat accumulators
  /// (registers) are rescaled by exp(m_old - m_new) as m grows; no score is
  /// stored, so the context is bounded by the cache alone. Unlike the
  /// generic kernel the probabilities are not rounded to bf16 before the
  /// weighted sum (--check-kernels bounds the difference).
  void attendGroup(LatentCacheType type, MLALatentAttentionOp op, Value lane,
                   Value h, Value slot, ArrayRef<Value> tokens,
                   ArrayRef<Value> valid) {
    int64_t n = static_cast<int64_t>(tokens.size());
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim, heads = op.getNumHeads();
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    int64_t perLane = (latent + Emitter::kWarp - 1) / Emitter::kWarp;
    int64_t ropeLane = (ropeDim + Emitter::kWarp - 1) / Emitter::kWarp;
    auto column = [&](int64_t k, int64_t limit) {
      Value c = e.add(lane, e.c64(k * Emitter::kWarp));
      Value inRange = cmpI(arith::CmpIPredicate::slt, c, e.c64(limit));
      return std::make_pair(select(inRange, c, e.c64(limit - 1)), inRange);
    };
    // This lane's query columns of each token (q_abs, then q_pe).
    SmallVector<Value> positions;
    SmallVector<SmallVector<Value>> qAbs(n), qPe(n);
    for (int64_t g = 0; g < n; ++g) {
      positions.push_back(e.loadI64(operand(1), tokens[g]));
      Value q = e.mul(e.add(e.mul(tokens[g], e.c64(heads)), h), e.c64(width));
      for (int64_t k = 0; k < perLane; ++k)
        qAbs[g].push_back(
            e.loadBF16(operand(0), e.add(q, column(k, latent).first)));
      for (int64_t k = 0; k < ropeLane; ++k)
        qPe[g].push_back(
            e.loadBF16(operand(0), e.add(e.add(q, e.c64(latent)),
                                         column(k, ropeDim).first)));
    }
    // The positions to visit: up to the last valid token's.
    Value last = e.c64(0);
    for (int64_t g = 0; g < n; ++g)
      last = select(valid[g],
                    arith::MaxSIOp::create(e.b, e.loc, last,
                                           e.add(positions[g], e.c64(1))),
                    last);
    // Per token: m, l, then perLane accumulators.
    int64_t stride = 2 + perLane;
    SmallVector<Value> init;
    for (int64_t g = 0; g < n; ++g) {
      init.append({e.f32(-INFINITY), e.f32(0.0)});
      init.append(perLane, e.f32(0.0));
    }
    auto online =
        scf::ForOp::create(e.b, e.loc, e.c64(0), last, e.c64(1), init);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(online.getBody());
      Value s = online.getInductionVar();
      Value row = cacheRow(slot, s, width);
      SmallVector<Value> cv, kpe;
      for (int64_t k = 0; k < perLane; ++k) {
        auto [c, inRange] = column(k, latent);
        cv.push_back(
            select(inRange, e.loadBF16(cachePtr, e.add(row, c)), e.f32(0.0)));
      }
      for (int64_t k = 0; k < ropeLane; ++k) {
        auto [r, inRange] = column(k, ropeDim);
        kpe.push_back(select(
            inRange, e.loadBF16(cachePtr, e.add(e.add(row, e.c64(latent)), r)),
            e.f32(0.0)));
      }
      SmallVector<Value> yields;
      for (int64_t g = 0; g < n; ++g) {
        auto args = online.getRegionIterArgs().slice(g * stride, stride);
        Value part = e.f32(0.0);
        for (int64_t k = 0; k < perLane; ++k)
          part = e.fma(qAbs[g][k], cv[k], part);
        for (int64_t k = 0; k < ropeLane; ++k)
          part = e.fma(qPe[g][k], kpe[k], part);
        Value score = e.fmul(e.warpSum(part), e.f32(softmaxScale));
        Value active = arith::AndIOp::create(
            e.b, e.loc, valid[g],
            cmpI(arith::CmpIPredicate::sle, s, positions[g]));
        Value m = args[0], l = args[1];
        Value next = e.fmax(m, score);
        Value alpha = e.exp(e.fsub(m, next));
        Value p = e.exp(e.fsub(score, next));
        yields.push_back(select(active, next, m));
        yields.push_back(select(active, e.fadd(e.fmul(l, alpha), p), l));
        for (int64_t k = 0; k < perLane; ++k)
          yields.push_back(select(active,
                                  e.fma(p, cv[k], e.fmul(args[2 + k], alpha)),
                                  args[2 + k]));
      }
      scf::YieldOp::create(e.b, e.loc, yields);
    }
    for (int64_t g = 0; g < n; ++g) {
      Value inv = e.fdiv(e.f32(1.0), online.getResult(g * stride + 1));
      Value out =
          e.mul(e.add(e.mul(tokens[g], e.c64(heads)), h), e.c64(latent));
      for (int64_t k = 0; k < perLane; ++k) {
        auto [c, inRange] = column(k, latent);
        auto store = scf::IfOp::create(
            e.b, e.loc, arith::AndIOp::create(e.b, e.loc, valid[g], inRange),
            /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&store.getThenRegion().front());
        e.storeBF16(e.fmul(online.getResult(g * stride + 2 + k), inv), result(),
                    e.add(out, c));
      }
    }
  }

  /// ds.mla_attention in one kernel (the generic lowering, also on GPUs:
  /// their pipeline produces the three absorbed ops instead).
  std::pair<ParallelDim, int64_t> attention(MLAAttentionOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), ropeDim = op.getQkRopeHeadDim();
    int64_t width = latent + ropeDim;
    int64_t heads = op.getNumHeads(), nope = op.getQkNopeHeadDim(),
            vDim = op.getVHeadDim(), qkDim = nope + ropeDim;
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    bool absorbed = op.getAbsorbed();
    WeightView kvB = e.weight(4);
    Value cachePtr = operand(3);
    Value zero = e.c64(0);
    LLVM::GlobalOp freqs = invFreqTable(op.getRope());

    Value qPe = e.scratch(ropeDim);
    Value scores = e.scratch(cache.maxSeq);
    Value qAbs = absorbed ? e.scratch(latent) : Value();
    Value oLat = absorbed ? e.scratch(latent) : Value();
    Type f32 = e.b.getF32Type();

    // One (token, head) pair per parallel index.
    e.loop(e.begin, e.end, [&](Value pair) {
      Value t = e.div(pair, e.c64(heads));
      Value h = arith::RemSIOp::create(e.b, e.loc, pair, e.c64(heads));
      Value kvRow0 = e.mul(h, e.c64(nope + vDim)); // first W_UK row of head h
      {
        Value position = e.loadI64(operand(1), t);
        Value slot = e.loadI64(operand(2), t);
        Value qBase =
            e.add(e.mul(t, e.c64(heads * qkDim)), e.mul(h, e.c64(qkDim)));
        Value qPeBase = e.add(qBase, e.c64(nope));
        e.ropeRow(
            [&](Value i) { return e.loadBF16(operand(0), e.add(qPeBase, i)); },
            [&](Value i, Value v) { e.store(e.roundBF16(v), qPe, i); },
            position, op.getRope(), freqs);
        if (absorbed) {
          // q_abs[c] = bf16(sum_j q_nope[j] * W_UK[h][j, c])
          e.loop(0, latent, [&](Value c) {
            Value acc = e.reduce(0, nope, e.f32(0.0), [&](Value j, Value a) {
              Value w = e.weightElement(kvB, zero, e.add(kvRow0, j), c);
              return e.fma(e.loadBF16(operand(0), e.add(qBase, j)), w, a);
            });
            e.store(e.roundBF16(acc), qAbs, c);
          });
        }
        Value last = e.add(position, e.c64(1));
        // Scores over the cached positions [0, position].
        Value maxScore = e.reduce(
            e.c64(0), last, e.f32(-INFINITY), [&](Value s, Value running) {
              Value row = cacheRow(slot, s, width);
              Value nopePart;
              if (absorbed) {
                nopePart =
                    e.reduce(0, latent, e.f32(0.0), [&](Value c, Value a) {
                      return e.fma(e.load(qAbs, f32, c),
                                   e.loadBF16(cachePtr, e.add(row, c)), a);
                    });
              } else {
                nopePart = e.reduce(0, nope, e.f32(0.0), [&](Value j, Value a) {
                  Value k = e.roundBF16(e.dot(cachePtr, e.b.getBF16Type(), row,
                                              kvB, zero, e.add(kvRow0, j)));
                  return e.fma(e.loadBF16(operand(0), e.add(qBase, j)), k, a);
                });
              }
              Value pePart =
                  e.reduce(0, ropeDim, e.f32(0.0), [&](Value i, Value a) {
                    Value k = e.loadBF16(cachePtr,
                                         e.add(e.add(row, e.c64(latent)), i));
                    return e.fma(e.load(qPe, f32, i), k, a);
                  });
              Value score =
                  e.fmul(e.fadd(nopePart, pePart), e.f32(softmaxScale));
              e.store(score, scores, s);
              return e.fmax(running, score);
            });
        softmaxToBF16(scores, last, maxScore);
        Value outBase =
            e.add(e.mul(t, e.c64(heads * vDim)), e.mul(h, e.c64(vDim)));
        Value vRow0 = e.add(kvRow0, e.c64(nope));
        if (absorbed) {
          // o_lat = bf16(P c); out = bf16(W_UV[h] o_lat)
          e.loop(0, latent, [&](Value c) {
            Value acc =
                e.reduce(e.c64(0), last, e.f32(0.0), [&](Value s, Value a) {
                  Value cv =
                      e.loadBF16(cachePtr, e.add(cacheRow(slot, s, width), c));
                  return e.fma(e.load(scores, f32, s), cv, a);
                });
            e.store(e.roundBF16(acc), oLat, c);
          });
          e.loop(0, vDim, [&](Value j) {
            Value v = e.dot(oLat, f32, zero, kvB, zero, e.add(vRow0, j));
            e.storeBF16(v, result(), e.add(outBase, j));
          });
        } else {
          // out[j] = bf16(sum_s P_s * bf16(W_UV[h][j] . c_s))
          e.loop(0, vDim, [&](Value j) {
            Value acc =
                e.reduce(e.c64(0), last, e.f32(0.0), [&](Value s, Value a) {
                  Value v = e.roundBF16(e.dot(cachePtr, e.b.getBF16Type(),
                                              cacheRow(slot, s, width), kvB,
                                              zero, e.add(vRow0, j)));
                  return e.fma(e.load(scores, f32, s), v, a);
                });
            e.storeBF16(acc, result(), e.add(outBase, j));
          });
        }
      }
    });
    return {ParallelDim::TokensTimesStatic, heads};
  }

  /// Scores, group-limited selection and top-k from the logits, one
  /// token per parallel index (deepseek-model.md §3.3).
  std::pair<ParallelDim, int64_t> select(MoESelectOp op) {
    int64_t experts = op.getLogits().getType().getDimSize(1);
    int64_t topK = op.getTopK(), groups = op.getNGroup(),
            keptGroups = op.getTopkGroup(), perGroup = experts / groups;
    bool sigmoid = op.getScoring() == ScoringFunc::Sigmoid;
    TopkMethod method = op.getTopkMethod();
    bool hasBias = static_cast<bool>(op.getBias());
    Value weightsOut = result(0), indicesOut = result(1);
    Type f32 = e.b.getF32Type();
    Value scores = e.scratch(experts), selection = e.scratch(experts);
    Value groupScores = e.scratch(groups);
    Value chosen = e.scratch(topK);

    e.loop(e.begin, e.end, [&](Value t) {
      Value row = e.mul(t, e.c64(experts));
      Value maxLogit =
          e.reduce(0, experts, e.f32(-INFINITY), [&](Value i, Value m) {
            Value logit = e.load(operand(0), f32, e.add(row, i));
            e.store(logit, scores, i);
            return e.fmax(m, logit);
          });
      if (sigmoid) {
        e.loop(0, experts, [&](Value i) {
          Value l = e.load(scores, f32, i);
          e.store(e.fdiv(e.f32(1.0),
                         e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0.0), l)))),
                  scores, i);
        });
      } else {
        Value sum = e.reduce(0, experts, e.f32(0.0), [&](Value i, Value a) {
          Value p = e.exp(e.fsub(e.load(scores, f32, i), maxLogit));
          e.store(p, scores, i);
          return e.fadd(a, p);
        });
        e.loop(0, experts, [&](Value i) {
          e.store(e.fdiv(e.load(scores, f32, i), sum), scores, i);
        });
      }
      e.loop(0, experts, [&](Value i) {
        Value s = e.load(scores, f32, i);
        if (hasBias)
          s = e.fadd(s, e.load(operand(1), f32, i));
        e.store(s, selection, i);
      });
      if (method != TopkMethod::Greedy && groups > 1) {
        // Group scores: max (group_limited_greedy) or the sum of the two
        // best (noaux_tc) selection scores of each group.
        e.loop(0, groups, [&](Value g) {
          Value first = e.mul(g, e.c64(perGroup));
          auto best = scf::ForOp::create(
              e.b, e.loc, first, e.add(first, e.c64(perGroup)), e.c64(1),
              ValueRange{e.f32(-INFINITY), e.f32(-INFINITY)});
          {
            OpBuilder::InsertionGuard guard(e.b);
            e.b.setInsertionPointToStart(best.getBody());
            Value v = e.load(selection, f32, best.getInductionVar());
            Value b1 = best.getRegionIterArgs()[0],
                  b2 = best.getRegionIterArgs()[1];
            Value above1 = arith::CmpFOp::create(
                e.b, e.loc, arith::CmpFPredicate::OGT, v, b1);
            Value above2 = arith::CmpFOp::create(
                e.b, e.loc, arith::CmpFPredicate::OGT, v, b2);
            Value n1 = arith::SelectOp::create(e.b, e.loc, above1, v, b1);
            Value n2 = arith::SelectOp::create(
                e.b, e.loc, above1, b1,
                arith::SelectOp::create(e.b, e.loc, above2, v, b2));
            scf::YieldOp::create(e.b, e.loc, ValueRange{n1, n2});
          }
          Value groupScore = method == TopkMethod::NoauxTc
                                 ? e.fadd(best.getResult(0), best.getResult(1))
                                 : best.getResult(0);
          e.store(groupScore, groupScores, g);
        });
        // Keep the best topk_group groups (ties: lower index): mark a kept
        // group with +inf, then zero the experts of the others.
        e.loop(0, keptGroups, [&](Value) {
          Value pick = argmax(groupScores, groups, /*skipInf=*/true);
          e.store(e.f32(INFINITY), groupScores, pick);
        });
        e.loop(0, experts, [&](Value i) {
          Value g = e.div(i, e.c64(perGroup));
          Value kept = arith::CmpFOp::create(
              e.b, e.loc, arith::CmpFPredicate::OEQ,
              e.load(groupScores, f32, g), e.f32(INFINITY));
          Value s = e.load(selection, f32, i);
          e.store(arith::SelectOp::create(e.b, e.loc, kept, s, e.f32(0.0)),
                  selection, i);
        });
      }
      // Top-k by repeated argmax (ties: lower index); a taken expert's
      // selection score becomes -inf. The raw weights wait in `chosen` so
      // that the outputs are written once (lanes of a warp write the same
      // values; none reads them back).
      Value out = e.mul(t, e.c64(topK));
      Value total = e.reduce(0, topK, e.f32(0.0), [&](Value j, Value sum) {
        Value pick = argmax(selection, experts, /*skipInf=*/false);
        e.store(e.f32(-INFINITY), selection, pick);
        Value w = e.load(scores, f32, pick);
        e.store(arith::TruncIOp::create(e.b, e.loc, e.b.getI32Type(), pick),
                indicesOut, e.add(out, j));
        e.store(w, chosen, j);
        return e.fadd(sum, w);
      });
      bool normalise = op.getNormTopkProb() && topK > 1;
      double scale = op.getRoutedScalingFactor().convertToDouble();
      bool applyScale = sigmoid || !normalise;
      Value factor = e.f32(applyScale ? scale : 1.0);
      if (normalise)
        factor = e.fdiv(factor, e.fadd(total, e.f32(1e-20)));
      e.loop(0, topK, [&](Value j) {
        e.store(e.fmul(e.load(chosen, f32, j), factor), weightsOut,
                e.add(out, j));
      });
    });
    return tokens();
  }

  /// Index of the largest of `count` f32 (first one on ties); with
  /// `skipInf`, +inf entries (already taken) are ignored.
  Value argmax(Value values, int64_t count, bool skipInf) {
    Type f32 = e.b.getF32Type();
    auto forOp =
        scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(count), e.c64(1),
                           ValueRange{e.f32(-INFINITY), e.c64(0)});
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(forOp.getBody());
      Value i = forOp.getInductionVar();
      Value v = e.load(values, f32, i);
      Value best = forOp.getRegionIterArgs()[0];
      Value bestIndex = forOp.getRegionIterArgs()[1];
      Value better =
          arith::CmpFOp::create(e.b, e.loc, arith::CmpFPredicate::OGT, v, best);
      if (skipInf) {
        Value finite = arith::CmpFOp::create(
            e.b, e.loc, arith::CmpFPredicate::OLT, v, e.f32(INFINITY));
        better = arith::AndIOp::create(e.b, e.loc, better, finite);
      }
      scf::YieldOp::create(
          e.b, e.loc,
          ValueRange{
              arith::SelectOp::create(e.b, e.loc, better, v, best),
              arith::SelectOp::create(e.b, e.loc, better, i, bestIndex)});
    }
    return forOp.getResult(1);
  }

  /// GPU: one warp per (choice, output feature): a chunk's choices of one
  /// expert read its rows from L2 after the first.
  std::pair<ParallelDim, int64_t> expertUpWarp(MoEExpertUpOp op) {
    WeightView gateW = e.weight(2), upW = e.weight(3);
    int64_t hidden = featureCount(op.getInput());
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = gateW.rows;
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value n = e.rem(pair, e.c64(inner)), choice = e.div(pair, e.c64(inner));
      Value expert = e.loadI64(operand(1), choice);
      Value x = e.mul(e.div(choice, e.c64(topK)), e.c64(hidden));
      Value g = e.roundBF16(
          e.warpSum(e.dotLane(operand(0), bf16(), x, gateW, expert, n, lane)));
      Value u = e.roundBF16(
          e.warpSum(e.dotLane(operand(0), bf16(), x, upW, expert, n, lane)));
      e.storeBF16(e.fmul(e.silu(g), u), result(),
                  e.add(e.mul(choice, e.c64(inner)), n));
    });
    return {ParallelDim::TokensTimesStatic, topK * inner * Emitter::kWarp};
  }

  /// GPU: one warp per (token, output feature); the token's weighted sum
  /// over its choices stays in a register and is rounded once.
  std::pair<ParallelDim, int64_t> expertDownWarp(MoEExpertDownOp op) {
    WeightView down = e.weight(3);
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = down.cols, hidden = down.rows;
    Type f32 = e.b.getF32Type();
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value d = e.rem(pair, e.c64(hidden)), t = e.div(pair, e.c64(hidden));
      Value acc = e.reduce(0, topK, e.f32(0.0), [&](Value j, Value a) {
        Value choice = e.add(e.mul(t, e.c64(topK)), j);
        Value expert = e.loadI64(operand(2), choice);
        Value y = e.roundBF16(
            e.warpSum(e.dotLane(operand(0), bf16(), e.mul(choice, e.c64(inner)),
                                down, expert, d, lane)));
        return e.fadd(a, e.fmul(e.load(operand(1), f32, choice), y));
      });
      e.storeBF16(acc, result(), e.add(e.mul(t, e.c64(hidden)), d));
    });
    return {ParallelDim::TokensTimesStatic, hidden * Emitter::kWarp};
  }

  std::pair<ParallelDim, int64_t> expertUp(MoEExpertUpOp op) {
    if (gpu)
      return expertUpWarp(op);
    WeightView gateW = e.weight(2), upW = e.weight(3);
    int64_t hidden = featureCount(op.getInput());
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = gateW.rows;
    e.loop(e.begin, e.end, [&](Value n) {
      e.loop(e.c64(0), e.tokens, [&](Value t) {
        Value x = e.mul(t, e.c64(hidden));
        e.loop(0, topK, [&](Value j) {
          Value choice = e.add(e.mul(t, e.c64(topK)), j);
          Value expert = e.loadI64(operand(1), choice);
          Value g = e.roundBF16(e.dot(operand(0), bf16(), x, gateW, expert, n));
          Value u = e.roundBF16(e.dot(operand(0), bf16(), x, upW, expert, n));
          e.storeBF16(e.fmul(e.silu(g), u), result(),
                      e.add(e.mul(choice, e.c64(inner)), n));
        });
      });
    });
    return fixed(inner);
  }

  std::pair<ParallelDim, int64_t> expertDown(MoEExpertDownOp op) {
    if (gpu)
      return expertDownWarp(op);
    WeightView down = e.weight(3);
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = down.cols, hidden = down.rows;
    Type f32 = e.b.getF32Type();
    e.loop(e.begin, e.end, [&](Value d) {
      e.loop(e.c64(0), e.tokens, [&](Value t) {
        Value acc = e.reduce(0, topK, e.f32(0.0), [&](Value j, Value a) {
          Value choice = e.add(e.mul(t, e.c64(topK)), j);
          Value expert = e.loadI64(operand(2), choice);
          Value y =
              e.roundBF16(e.dot(operand(0), bf16(), e.mul(choice, e.c64(inner)),
                                down, expert, d));
          return e.fadd(a, e.fmul(e.load(operand(1), f32, choice), y));
        });
        e.storeBF16(acc, result(), e.add(e.mul(t, e.c64(hidden)), d));
      });
    });
    return fixed(hidden);
  }
};

std::string signatureOf(Operation *op) {
  std::string key;
  llvm::raw_string_ostream os(key);
  os << op->getName() << "(";
  for (Type t : op->getOperandTypes())
    os << t << ",";
  os << ")->(";
  for (Type t : op->getResultTypes())
    os << t << ",";
  os << ")";
  for (NamedAttribute attr : op->getAttrs())
    // The layer only moves the cache pointer; discardable "ds.*"
    // attributes (buffer placement) do not change the code.
    if (attr.getName() == "ds.query_group" ||
        (attr.getName() != "layer" &&
         !attr.getName().getValue().starts_with("ds.")))
      os << attr.getName().getValue() << "=" << attr.getValue() << ";";
  return key;
}

} // namespace

FailureOr<unsigned> HostKernelGenerator::getOrCreate(Operation *op) {
  if (!isKernelOp(op))
    return op->emitOpError("has no host kernel (run ds-decompose first)");
  std::string signature = signatureOf(op);
  auto found = bySignature.find(signature);
  if (found != bySignature.end())
    return found->second;

  MLIRContext *ctx = kernels.getContext();
  ctx->loadDialect<arith::ArithDialect, func::FuncDialect, scf::SCFDialect,
                   math::MathDialect, LLVM::LLVMDialect>();
  OpBuilder b(ctx);
  Location loc = op->getLoc();
  b.setInsertionPointToEnd(kernels.getBody());

  // Shared constant tables.
  auto f32Array = [&](StringRef name, ArrayRef<float> values) {
    if (auto existing = kernels.lookupSymbol<LLVM::GlobalOp>(name))
      return existing;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      b.getF32Type());
    return LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getF32Type(), values.size()),
        /*isConstant=*/true, LLVM::Linkage::Internal, name,
        DenseElementsAttr::get(type, values));
  };
  std::vector<float> e4m3(256);
  for (int i = 0; i < 256; ++i)
    e4m3[i] = decodeE4M3Value(static_cast<uint8_t>(i));
  LLVM::GlobalOp fp8Table = f32Array("dsc_e4m3fn_table", e4m3);
  unsigned index = kernelInfos.size();
  auto invFreqTable = [&](RopeAttr rope) {
    return f32Array(("dsc_rope_inv_freq_" + std::to_string(index)),
                    ropeInverseFrequencies(rope));
  };

  if (gpu)
    ctx->loadDialect<NVVM::NVVMDialect>();
  std::string name = "dsc_kernel_" + std::to_string(index);
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i64 = b.getI64Type();
  auto func = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType({ptr, i64, i64, i64}, {}));
  auto sharedArray = [&](StringRef what, int64_t count) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    auto type = LLVM::LLVMArrayType::get(b.getF32Type(), count);
    return LLVM::GlobalOp::create(
        b, loc, type, /*isConstant=*/false, LLVM::Linkage::Internal,
        name + "_" + what.str(), Attribute(), /*alignment=*/16,
        /*addrSpace=*/3);
  };
  Emitter emitter(b, loc, func, op, fp8Table);
  KernelBodies bodies(emitter, cache, gpu, invFreqTable, sharedArray);
  auto [parallel, extent] = bodies.emit(op);
  func::ReturnOp::create(b, loc);

  KernelInfo info;
  info.name = name;
  info.parallel = parallel;
  info.extent = extent;
  info.perOutput = isa<LMHeadOp, SampleOp>(op);
  info.blockSize = bodies.blockSize;
  std::vector<KernelArgument> layout = kernelArguments(op);
  for (unsigned i = 0; i < layout.size(); ++i) {
    if (layout[i].kind != KernelArgument::Result)
      continue;
    auto type =
        cast<RankedTensorType>(op->getResult(layout[i].index).getType());
    KernelOutput out;
    out.arg = i;
    Type element = type.getElementType();
    out.dtype = element.isBF16()  ? KernelOutput::BF16
                : element.isF32() ? KernelOutput::F32
                                  : KernelOutput::I32;
    out.rowElements = 1;
    for (int64_t d : type.getShape().drop_front())
      out.rowElements *= d;
    info.outputs.push_back(out);
  }
  info.writesCache = llvm::any_of(
      op->getResultTypes(), [](Type t) { return isa<LatentCacheType>(t); });
  llvm::raw_string_ostream summary(info.summary);
  summary << op->getName();
  for (Type t : op->getOperandTypes())
    if (!isa<LatentCacheType>(t))
      summary << " " << t;
  kernelInfos.push_back(info);
  bySignature[signature] = index;
  return index;
}

LogicalResult lowerHostKernelsToLLVM(ModuleOp kernels) {
  PassManager pm(kernels.getContext());
  // bf16 extf/truncf become integer bit manipulation (round to nearest
  // even), which every x86-64 CPU runs and LLVM vectorises.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  return pm.run(kernels);
}

} // namespace dsc
