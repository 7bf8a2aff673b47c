//===- MoE.cpp - router selection and routed experts --------------------===//
//
// The kernels of ds.moe_select (scores, group-limited or noaux_tc choice,
// top-k weights; docs/model.md §3.3), ds.moe_expert_up (gate and up
// products of each choice with SwiGLU) and ds.moe_expert_down (down
// products weighted and summed over a token's choices).
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

class MoEKernels : public KernelBody {
public:
  using KernelBody::KernelBody;
  using KernelBody::select;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](MoESelectOp o) { return select(o); })
            .Case([&](MoEExpertUpOp o) { return expertUp(o); })
            .Case([&](MoEExpertDownOp o) { return expertDown(o); }));
  }

private:
  /// Scores, group-limited selection and top-k from the logits, one
  /// token per parallel index (docs/model.md §3.3).
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

} // namespace

KernelShape emitMoEKernel(const KernelBodyContext &context, Operation *op) {
  return MoEKernels(context).emit(op);
}

/// The routed experts: per expert touched, its matrices (gate and up, or
/// down, with their scales) once; per row its activations, choices (i32)
/// and combine weights (f32), and 2 k (matrix elements) FLOPs. The
/// selection: the f32 logits row (and the bias once), the k weights and
/// indices written, about 4 FLOPs per expert (score, bias, comparisons).
KernelCost moeCost(Operation *op) {
  KernelCost cost;
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](MoESelectOp o) {
        double experts = featureCount(o.getLogits());
        if (o.getBias())
          cost.bytesFixed = weightBytes(o.getBias().getType());
        cost.bytesPerRow = rowBytes(o.getLogits()) + rowBytes(o.getWeights()) +
                           rowBytes(o.getIndices());
        cost.flopsPerRow = 4 * experts;
      })
      .Case([&](MoEExpertUpOp o) {
        Type gate = o.getGate().getType(), up = o.getUp().getType();
        int64_t topK = featureCount(o.getIndices());
        cost.experts = isFP8(gate)
                           ? cast<FP8BlockWeightType>(gate).getShape()[0]
                           : cast<RankedTensorType>(gate).getDimSize(0);
        cost.expertsPerRow = topK;
        cost.bytesPerExpert = expertBytes(gate) + expertBytes(up);
        cost.bytesPerRow = rowBytes(o.getInput()) + rowBytes(o.getIndices()) +
                           rowBytes(o.getResult());
        double inner = featureCount(o.getResult());
        double hidden = featureCount(o.getInput());
        cost.flopsPerRow = 2.0 * topK * (2 * inner * hidden);
        cost.fp8 = isFP8(gate);
      })
      .Case([&](MoEExpertDownOp o) {
        Type down = o.getDown().getType();
        int64_t topK = featureCount(o.getIndices());
        cost.experts = isFP8(down)
                           ? cast<FP8BlockWeightType>(down).getShape()[0]
                           : cast<RankedTensorType>(down).getDimSize(0);
        cost.expertsPerRow = topK;
        cost.bytesPerExpert = expertBytes(down);
        cost.bytesPerRow = rowBytes(o.getInput()) + rowBytes(o.getWeights()) +
                           rowBytes(o.getIndices()) + rowBytes(o.getResult());
        double inner = featureCount(o.getInput());
        double hidden = featureCount(o.getResult());
        cost.flopsPerRow = 2.0 * topK * inner * hidden;
        cost.fp8 = isFP8(down);
      });
  return cost;
}

} // namespace dsc::kernels
