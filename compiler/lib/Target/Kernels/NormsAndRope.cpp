//===- NormsAndRope.cpp - RMSNorm, rope and element-wise kernels --------===//
//
// The kernels of ds.embed, ds.rms_norm, ds.rope, ds.swiglu and ds.add: a
// row or an element per parallel index on the host; RMSNorm gets a warp per
// row on CUDA targets (16-byte loads where the width allows), a block per
// row where the row is wider than a warp's loads in flight.
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

class NormAndElementwiseKernels : public KernelBody {
public:
  using KernelBody::KernelBody;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](EmbedOp o) { return embed(o); })
            .Case([&](RMSNormOp o) { return rmsNorm(o); })
            .Case([&](SwiGLUOp o) { return swiglu(o); })
            .Case([&](AddOp o) { return addOp(o); })
            .Case([&](RopeOp o) { return rope(o); }));
  }

private:
  std::pair<ParallelDim, int64_t> embed(EmbedOp op) {
    int64_t d = featureCount(op.getTable());
    if (gpu && d % 8 == 0) {
      // A warp per token, each lane copying 16-byte groups of its row.
      auto group = VectorType::get({8}, bf16());
      Value warp = e.c64(Emitter::kWarp);
      e.loop(e.begin, e.end, [&](Value index) {
        Value t = e.div(index, warp), lane = e.rem(index, warp);
        Value row = e.div(e.mul(e.loadI64(operand(0), t), e.c64(d)), e.c64(8));
        Value out = e.div(e.mul(t, e.c64(d)), e.c64(8));
        e.loop(
            lane, e.c64(d / 8),
            [&](Value g) {
              e.store(e.load(operand(1), group, e.add(row, g)), result(),
                      e.add(out, g));
            },
            Emitter::kWarp);
      });
      return {ParallelDim::TokensTimesStatic, Emitter::kWarp};
    }
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

  /// GPU, `block` strategy: a block per row, its warps loading their
  /// 256-column groups of the row and of the norm weights all at once, the
  /// groups' sums of squares shared through shared memory
  /// (normalizedRowStage, the products' staging: the same sums in the same
  /// order as the warp kernel, so the same bits), each warp storing its
  /// groups of the normalised row.
  std::pair<ParallelDim, int64_t> rmsNormBlock(RMSNormOp op) {
    int64_t width = featureCount(op.getInput());
    int64_t rows = rowsPerToken(op.getInput());
    int64_t block = config.getBlock();
    Emitter::RowNorm norm{operand(1), op.getEps().convertToDouble()};
    Value partials = sharedPointer("square_sums", width / 8);
    e.loop(e.begin, e.end, [&](Value index) {
      Value row = e.div(index, e.c64(block));
      Value lane = e.rem(index, e.c64(Emitter::kWarp));
      Value offset = e.mul(row, e.c64(width));
      StagingBuffers out{e.gep(result(), bf16(), offset), partials};
      normalizedRowStage(norm, operand(0), offset, width, lane, index, out)
          .run();
    });
    return {ParallelDim::TokensTimesStatic, rows * block};
  }

  std::pair<ParallelDim, int64_t> rmsNorm(RMSNormOp op) {
    if (gpu && config.getStrategy() == KernelStrategy::Block)
      return rmsNormBlock(op);
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
};

} // namespace

KernelShape emitNormOrElementwiseKernel(const KernelBodyContext &context,
                                        Operation *op) {
  return NormAndElementwiseKernels(context).emit(op);
}

/// Row traffic (inputs read, results written) and a few FLOPs per element:
/// RMSNorm 4 (square, sum, scale, weight) plus its weight once; a rope 3
/// per rotated element (4 multiplies and 2 adds per pair) plus the i32
/// position; SwiGLU 5 (silu's negate, exp, add and divide, the product);
/// add 1; the embedding gathers its token's table row (the i32 id, the
/// row read and written).
KernelCost normOrElementwiseCost(Operation *op) {
  KernelCost cost;
  double out = rowBytes(op->getResult(0));
  double elements = rowElements(op->getResult(0));
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](EmbedOp) { cost.bytesPerRow = 4 + 2 * out; })
      .Case([&](RMSNormOp o) {
        cost.bytesFixed = weightBytes(o.getWeight().getType());
        cost.bytesPerRow = rowBytes(o.getInput()) + out;
        cost.flopsPerRow = 4 * elements;
      })
      .Case([&](RopeOp o) {
        cost.bytesPerRow = 4 + rowBytes(o.getInput()) + out;
        cost.flopsPerRow = 3 * elements;
      })
      .Case([&](SwiGLUOp o) {
        cost.bytesPerRow = rowBytes(o.getGate()) + rowBytes(o.getUp()) + out;
        cost.flopsPerRow = 5 * elements;
      })
      .Case([&](AddOp o) {
        cost.bytesPerRow = rowBytes(o.getLhs()) + rowBytes(o.getRhs()) + out;
        cost.flopsPerRow = elements;
      });
  return cost;
}

} // namespace dsc::kernels
