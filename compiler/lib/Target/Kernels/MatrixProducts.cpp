//===- MatrixProducts.cpp - linear, router and lm_head products ---------===//
//
// The kernels of ds.linear, ds.router_logits and ds.lm_head: [rows, K] x
// [N, K]^T with bf16 or fp8 block-scaled weights. Host: a thread share of
// the N output features, each a serial dot product. CUDA: one warp per
// output element (row, feature), lanes reading consecutive 16-byte groups of
// the weight row, reduced with shuffles. A ds.linear's addends (its fused
// residual adds) are added in the store; a fused RMSNorm (`norm(...)`) is
// applied once per block into shared memory on CUDA
// (KernelBody::stageNormalizedRow), per activation as it is read on the
// host. Cost: the weight once,
// 2 N K FLOPs per row.
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

class MatrixProductKernels : public KernelBody {
public:
  using KernelBody::KernelBody;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](LinearOp o) { return linear(o); })
            .Case([&](GatedLinearOp o) { return gatedLinear(o); })
            .Case([&](RouterLogitsOp o) { return routerLogits(o); })
            .Case([&](LMHeadOp o) { return lmHead(o); }));
  }

private:
  /// [T*rows, K] x [N, K]^T: parallel over the N output features.
  /// How a matrix product stores its f32 sum.
  enum class Output { BF16, F32OfBF16, F32 };
  void matmul(Value input, unsigned weightOperand, int64_t rows, Output out) {
    WeightView w = e.weight(weightOperand);
    int64_t k = w.cols, n = w.rows;
    Value total = e.mul(e.tokens, e.c64(rows));
    std::optional<Emitter::RowNorm> norm = inputNorm();
    e.loop(e.begin, e.end, [&](Value col) {
      e.loop(e.c64(0), total, [&](Value row) {
        Value x = e.mul(inputRow(row), e.c64(k));
        Emitter::RowNorm rowNorm =
            norm ? e.withInv(*norm, operand(0), x, k, Value())
                 : Emitter::RowNorm{};
        Value acc = e.dot(operand(0), bf16(), x, w, e.c64(0), col,
                          norm ? &rowNorm : nullptr);
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
      e.storeBF16(addAddends(acc, index), result(), index);
  }

  /// A ds.linear's epilogue: its addends (operands 2...) added in order to
  /// the rounded product, rounding after each as ds.add does.
  Value addAddends(Value acc, Value index) {
    auto linear = dyn_cast<LinearOp>(e.op);
    if (!linear || linear.getAddends().empty())
      return acc;
    for (unsigned i = 0; i < linear.getAddends().size(); ++i)
      acc = e.roundBF16(
          e.fadd(e.roundBF16(acc), e.loadBF16(operand(2 + i), index)));
    return acc;
  }

  /// GPU: one warp per output feature; every lane stores the same sum.
  /// GPU: one warp per output element (row, feature), so small products
  /// still fill the GPU; warps of one feature share its weight row in L2.
  void matmulWarp(unsigned weightOperand, Output out) {
    WeightView w = e.weight(weightOperand);
    int64_t k = w.cols, n = w.rows;
    Value warp = e.c64(Emitter::kWarp);
    std::optional<Emitter::RowNorm> norm = inputNorm();
    StagingBuffers staged = stagingBuffers(norm, k, n);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value col = e.rem(pair, e.c64(n)), row = e.div(pair, e.c64(n));
      WarpInput in = warpInput(operand(0), e.mul(inputRow(row), e.c64(k)), k,
                               norm, staged, lane, i);
      // Weights first where the input row is not itself read from memory.
      Value acc = e.warpSum(e.dotLane(in.x, bf16(), in.offset, w, e.c64(0), col,
                                      lane, in.norm,
                                      /*weightsFirst=*/!rowMap, in.stage()));
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

  /// silu(bf16(x G^T)) * bf16(x U^T), rounded to bf16. GPU: a warp per
  /// output element reading its gate and up rows in one pass (dotLanes);
  /// host: a thread share of the output features.
  std::pair<ParallelDim, int64_t> gatedLinear(GatedLinearOp op) {
    WeightView gate = e.weight(1), up = e.weight(2);
    int64_t k = gate.cols, n = gate.rows;
    int64_t rows = rowsPerToken(op.getInput());
    std::optional<Emitter::RowNorm> norm = inputNorm();
    auto store = [&](Value g, Value u, Value row, Value col) {
      e.storeBF16(e.fmul(e.silu(e.roundBF16(g)), e.roundBF16(u)), result(),
                  e.add(e.mul(row, e.c64(n)), col));
    };
    if (gpu) {
      Value warp = e.c64(Emitter::kWarp);
      StagingBuffers staged = stagingBuffers(norm, k, n);
      e.loop(e.begin, e.end, [&](Value i) {
        Value pair = e.div(i, warp), lane = e.rem(i, warp);
        Value col = e.rem(pair, e.c64(n)), row = e.div(pair, e.c64(n));
        WarpInput in = warpInput(operand(0), e.mul(row, e.c64(k)), k, norm,
                                 staged, lane, i);
        auto [g, u] = e.gateUpWarpSums(in.x, in.offset, gate, up, e.c64(0), col,
                                       lane, in.norm,
                                       /*weightsFirst=*/true, in.stage());
        store(g, u, row, col);
      });
      return {ParallelDim::TokensTimesStatic, rows * n * Emitter::kWarp};
    }
    Value total = e.mul(e.tokens, e.c64(rows));
    e.loop(e.begin, e.end, [&](Value col) {
      e.loop(e.c64(0), total, [&](Value row) {
        Value x = e.mul(row, e.c64(k));
        Emitter::RowNorm rowNorm =
            norm ? e.withInv(*norm, operand(0), x, k, Value())
                 : Emitter::RowNorm{};
        const Emitter::RowNorm *normed = norm ? &rowNorm : nullptr;
        store(e.dot(operand(0), bf16(), x, gate, e.c64(0), col, normed),
              e.dot(operand(0), bf16(), x, up, e.c64(0), col, normed), row,
              col);
      });
    });
    return fixed(n);
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
};

} // namespace

KernelShape emitMatrixProductKernel(const KernelBodyContext &context,
                                    Operation *op) {
  return MatrixProductKernels(context).emit(op);
}

/// [R, K] x [N, K]^T: the weight (with its scales) once, each input row of
/// K and output row of N once, 2 N K FLOPs per row. ds.linear rows are
/// the token's rows ([T, ..., K]); ds.lm_head reads the index of the input
/// row its output row takes.
KernelCost matrixProductCost(Operation *op) {
  Type weight = op->getOperand(1).getType();
  // ds.gated_linear: two weights of one shape, one output.
  double products = isa<GatedLinearOp>(op) ? 2 : 1;
  Value input = op->getOperand(0), output = op->getResult(0);
  double n = isFP8(weight) ? cast<FP8BlockWeightType>(weight).getRows()
                           : cast<RankedTensorType>(weight).getDimSize(0);
  double k = featureCount(input);
  double rows = rowsPerToken(input);
  KernelCost cost;
  cost.bytesFixed = products * weightBytes(weight);
  if (std::optional<InputNorm> norm = getInputNorm(op))
    cost.bytesFixed += weightBytes(norm->weight->get().getType());
  cost.bytesPerRow = rowBytes(input) + rowBytes(output);
  if (auto linear = dyn_cast<LinearOp>(op))
    for (Value addend : linear.getAddends())
      cost.bytesPerRow += rowBytes(addend);
  if (isa<LMHeadOp>(op))
    cost.bytesPerRow += 4;
  cost.flopsPerRow = products * rows * 2 * n * k;
  cost.fp8 = isFP8(weight);
  return cost;
}

} // namespace dsc::kernels
