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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <cstdint>
#include <functional>
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
