//===- MoE.cpp - router selection and routed experts --------------------===//
//
// The kernels of ds.moe_select (scores, group-limited or noaux_tc choice,
// top-k weights; docs/model.md §3.3), ds.moe_expert_up (gate and up
// products of each choice with SwiGLU) and ds.moe_expert_down (down
// products weighted and summed over a token's choices, with the shared
// experts' down product and the residual when ds-fuse-epilogues joined them).
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

/// The choices a block of the expert-grouped up projection scans for its
/// expert at a time (its block-shared list).
constexpr int64_t kChoiceWindow = 512;

class MoEKernels : public KernelBody {
public:
  using KernelBody::KernelBody;
  using KernelBody::select;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](MoESelectOp o) { return select(o); })
            .Case([&](MoEGateOp o) { return gate(o); })
            .Case([&](MoEExpertUpOp o) { return expertUp(o); })
            .Case([&](MoEExpertDownOp o) { return expertDown(o); })
            .Case([&](MoELocalChoicesOp o) { return localChoices(o); }));
  }

private:
  /// What the choice of experts needs from ds.moe_select or ds.moe_gate
  /// (docs/model.md §3.3): their attributes, and the bias's buffer (null
  /// without one).
  struct Routing {
    int64_t experts, topK, groups, keptGroups;
    bool sigmoid, normTopkProb;
    TopkMethod method;
    double scale;
    Value bias;
    int64_t perGroup() const { return experts / groups; }
  };
  template <typename RoutingOp> Routing routing(RoutingOp op, int64_t experts) {
    Routing r;
    r.experts = experts;
    r.topK = op.getTopK();
    r.groups = op.getNGroup();
    r.keptGroups = op.getTopkGroup();
    r.sigmoid = op.getScoring() == ScoringFunc::Sigmoid;
    r.normTopkProb = op.getNormTopkProb();
    r.method = op.getTopkMethod();
    r.scale = op.getRoutedScalingFactor().convertToDouble();
    MutableOperandRange bias = op.getBiasMutable();
    r.bias = bias.empty() ? Value() : operand(bias[0].getOperandNumber());
    return r;
  }
  /// A token's logit of expert i (i64).
  using LogitOf = std::function<Value(Value)>;

  /// Scores, group-limited selection and top-k from the logits, one
  /// token per parallel index (docs/model.md §3.3).
  std::pair<ParallelDim, int64_t> select(MoESelectOp op) {
    int64_t experts = op.getLogits().getType().getDimSize(1);
    Routing r = routing(op, experts);
    if (gpu) {
      Value warp = e.c64(Emitter::kWarp);
      e.loop(e.begin, e.end, [&](Value index) {
        Value t = e.div(index, warp), lane = e.rem(index, warp);
        Value row = e.mul(t, e.c64(experts));
        chooseWarp(r, t, lane, [&](Value i) {
          return e.load(operand(0), e.b.getF32Type(), e.add(row, i));
        });
      });
      return {ParallelDim::TokensTimesStatic, Emitter::kWarp};
    }
    ChoiceScratch scratch = choiceScratch(r);
    e.loop(e.begin, e.end, [&](Value t) {
      Value row = e.mul(t, e.c64(experts));
      choose(r, scratch, t, [&](Value i) {
        return e.load(operand(0), e.b.getF32Type(), e.add(row, i));
      });
    });
    return tokens();
  }

  /// The router in one kernel: a token's logits (as ds.router_logits
  /// computes them), then its choice (as ds.moe_select makes it).
  /// Host: a token per parallel index, its logits in scratch memory.
  /// CUDA (`cluster_block`, `block`): a token per cluster (or block) of
  /// `splits` blocks, expert e's logit by warp e mod (warps of the
  /// cluster) of block e / (warps of a block) as the router product's warp
  /// computes it (the block's input row normalised once into shared memory
  /// where a norm is folded), stored in the first block's shared memory
  /// (across the cluster: distributed shared memory); after a barrier of
  /// the cluster (or block) the first warp of the first block chooses.
  std::pair<ParallelDim, int64_t> gate(MoEGateOp op) {
    WeightView w = e.weight(1);
    int64_t experts = w.rows, k = w.cols;
    Routing r = routing(op, experts);
    std::optional<Emitter::RowNorm> norm = inputNorm();
    Type f32 = e.b.getF32Type();
    if (!gpu) {
      ChoiceScratch scratch = choiceScratch(r);
      Value logits = e.scratch(experts);
      e.loop(e.begin, e.end, [&](Value t) {
        Value x = e.mul(t, e.c64(k));
        Emitter::RowNorm rowNorm =
            norm ? e.withInv(*norm, operand(0), x, k, Value())
                 : Emitter::RowNorm{};
        e.loop(0, experts, [&](Value i) {
          e.store(e.dot(operand(0), bf16(), x, w, e.c64(0), i,
                        norm ? &rowNorm : nullptr),
                  logits, i);
        });
        choose(r, scratch, t, [&](Value i) { return e.load(logits, f32, i); });
      });
      return tokens();
    }
    int64_t threads = config.getBlock(), warps = threads / Emitter::kWarp;
    int64_t blocks = config.getStrategy() == KernelStrategy::ClusterBlock
                         ? config.getSplits()
                         : 1;
    int64_t walkers = blocks * threads, clusterWarps = blocks * warps;
    int64_t perWarp = (experts + clusterWarps - 1) / clusterWarps;
    // All the cluster's warps read the token's row: a folded norm is
    // staged once per block.
    StagingBuffers staged = stagingBuffers(norm, k, clusterWarps);
    Value logits = sharedPointer("logits", experts);
    if (blocks > 1) // every block of the cluster has started (its shared
                    // memory exists) once this barrier completes
      NVVM::ClusterArriveRelaxedOp::create(e.b, e.loc, UnitAttr());
    e.loop(e.begin, e.end, [&](Value index) {
      Value t = e.div(index, e.c64(walkers));
      Value local = e.rem(index, e.c64(walkers));
      Value rank = e.div(local, e.c64(threads));
      Value warp = e.div(e.rem(local, e.c64(threads)), e.c64(Emitter::kWarp));
      Value lane = e.rem(index, e.c64(Emitter::kWarp));
      WarpInput in = warpInput(operand(0), e.mul(t, e.c64(k)), k, norm, staged,
                               lane, index);
      SmallVector<std::pair<Value, Value>> sums; // (expert, logit)
      for (int64_t j = 0; j < perWarp; ++j) {
        Value expert = e.add(e.add(e.mul(rank, e.c64(warps)), warp),
                             e.c64(j * clusterWarps));
        Value valid = cmpI(arith::CmpIPredicate::slt, expert, e.c64(experts));
        Value safe = select(valid, expert, e.c64(experts - 1));
        // The norm's staging (its barriers) runs once, with the first
        // product, in every warp.
        Value logit = e.warpSum(
            e.dotLane(in.x, bf16(), in.offset, w, e.c64(0), safe, lane, in.norm,
                      /*weightsFirst=*/true, j == 0 ? in.stage() : nullptr));
        sums.push_back({expert, logit});
      }
      Value first = logits;
      if (blocks > 1) {
        NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
        first = NVVM::MapaOp::create(e.b, e.loc, e.ptrType, logits, c32(0));
      }
      Value isFirstLane = cmpI(arith::CmpIPredicate::eq, lane, e.c64(0));
      for (auto [expert, logit] : sums)
        ifThen(arith::AndIOp::create(
                   e.b, e.loc, isFirstLane,
                   cmpI(arith::CmpIPredicate::slt, expert, e.c64(experts))),
               [&, expert = expert, logit = logit] {
                 e.store(logit, first, expert);
               });
      // The logits are in the first block's shared memory for every thread
      // after this barrier (release and acquire across the cluster).
      if (blocks > 1) {
        NVVM::ClusterArriveOp::create(e.b, e.loc, UnitAttr());
        NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
      } else {
        barrier();
      }
      Value chooser = arith::AndIOp::create(
          e.b, e.loc, cmpI(arith::CmpIPredicate::eq, rank, e.c64(0)),
          cmpI(arith::CmpIPredicate::eq, warp, e.c64(0)));
      ifThen(chooser, [&] {
        chooseWarp(r, t, lane, [&](Value i) { return e.load(logits, f32, i); });
      });
    });
    return {ParallelDim::TokensTimesStatic, walkers};
  }

  /// The generic choice's per-thread scratch arrays.
  struct ChoiceScratch {
    Value scores, selection, groupScores, chosen;
  };
  ChoiceScratch choiceScratch(const Routing &r) {
    return {e.scratch(r.experts), e.scratch(r.experts), e.scratch(r.groups),
            e.scratch(r.topK)};
  }

  /// Host: token t's scores, group-limited selection and top-k from its
  /// logits, written to the op's weights and indices (results 0 and 1).
  void choose(const Routing &r, const ChoiceScratch &scratch, Value t,
              const LogitOf &logitOf) {
    int64_t experts = r.experts, topK = r.topK, groups = r.groups,
            keptGroups = r.keptGroups, perGroup = r.perGroup();
    bool sigmoid = r.sigmoid;
    TopkMethod method = r.method;
    bool hasBias = static_cast<bool>(r.bias);
    Value weightsOut = result(0), indicesOut = result(1);
    Type f32 = e.b.getF32Type();
    Value scores = scratch.scores, selection = scratch.selection;
    Value groupScores = scratch.groupScores;
    Value chosen = scratch.chosen;
    {
      Value maxLogit =
          e.reduce(0, experts, e.f32(-INFINITY), [&](Value i, Value m) {
            Value logit = logitOf(i);
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
          s = e.fadd(s, e.load(r.bias, f32, i));
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
      bool normalise = r.normTopkProb && topK > 1;
      bool applyScale = sigmoid || !normalise;
      Value factor = e.f32(applyScale ? r.scale : 1.0);
      if (normalise)
        factor = e.fdiv(factor, e.fadd(total, e.f32(1e-20)));
      e.loop(0, topK, [&](Value j) {
        e.store(e.fmul(e.load(chosen, f32, j), factor), weightsOut,
                e.add(out, j));
      });
    }
  }

  /// GPU: token t's choice by one warp, lane l holding experts l, l + 32,
  /// ... in registers (at most kMaxExpertsPerLane each): the softmax's max
  /// and sum, the group scores and every top-k round are warp reductions,
  /// so the selection takes a few hundred instructions instead of a
  /// thread's dozen serial passes through local memory. Same choices, ties
  /// and weights as the generic kernel (the softmax sum is added in another
  /// order, so weights may differ in their last bits). Lane 0 writes the
  /// op's weights and indices (results 0 and 1).
  void chooseWarp(const Routing &r, Value t, Value lane,
                  const LogitOf &logitOf) {
    int64_t experts = r.experts, topK = r.topK, groups = r.groups,
            keptGroups = r.keptGroups, perGroup = r.perGroup();
    int64_t perLane = (experts + Emitter::kWarp - 1) / Emitter::kWarp;
    bool sigmoid = r.sigmoid;
    TopkMethod method = r.method;
    Type f32 = e.b.getF32Type();
    Value inf = e.f32(INFINITY), minusInf = e.f32(-INFINITY);
    {
      SmallVector<Value> expert, valid, scores, selection;
      for (int64_t u = 0; u < perLane; ++u) {
        Value ex = e.add(lane, e.c64(u * Emitter::kWarp));
        Value ok = cmpI(arith::CmpIPredicate::slt, ex, e.c64(experts));
        Value safe = select(ok, ex, e.c64(experts - 1));
        expert.push_back(ex);
        valid.push_back(ok);
        scores.push_back(select(ok, logitOf(safe), minusInf));
      }
      if (sigmoid) {
        for (int64_t u = 0; u < perLane; ++u)
          scores[u] = select(
              valid[u],
              e.fdiv(e.f32(1.0),
                     e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0.0), scores[u])))),
              e.f32(0.0));
      } else {
        Value m = minusInf;
        for (Value l : scores)
          m = e.fmax(m, l);
        m = warpMax(m);
        Value sum = e.f32(0.0);
        for (int64_t u = 0; u < perLane; ++u) {
          scores[u] = select(valid[u], e.exp(e.fsub(scores[u], m)), e.f32(0.0));
          sum = e.fadd(sum, scores[u]);
        }
        sum = e.warpSum(sum);
        for (Value &p : scores)
          p = e.fdiv(p, sum);
      }
      for (int64_t u = 0; u < perLane; ++u) {
        Value s = scores[u];
        if (r.bias)
          s = e.fadd(s,
                     e.load(r.bias, f32,
                            select(valid[u], expert[u], e.c64(experts - 1))));
        selection.push_back(select(valid[u], s, minusInf));
      }
      if (method != TopkMethod::Greedy && groups > 1) {
        // Each group's best (or two best) selection scores, reduced over
        // the lanes as (first, second) pairs.
        SmallVector<Value> groupScores;
        for (int64_t g = 0; g < groups; ++g) {
          Value b1 = minusInf, b2 = minusInf;
          auto offer = [&](Value v) {
            Value above1 = cmpF(arith::CmpFPredicate::OGT, v, b1);
            Value above2 = cmpF(arith::CmpFPredicate::OGT, v, b2);
            Value n2 = select(above1, b1, select(above2, v, b2));
            b1 = select(above1, v, b1);
            b2 = n2;
          };
          for (int64_t u = 0; u < perLane; ++u) {
            Value inGroup = arith::AndIOp::create(
                e.b, e.loc, valid[u],
                cmpI(arith::CmpIPredicate::eq,
                     e.div(expert[u], e.c64(perGroup)), e.c64(g)));
            offer(select(inGroup, selection[u], minusInf));
          }
          for (int32_t offset = 16; offset >= 1; offset /= 2) {
            Value o1 = e.shuffleXor(b1, offset), o2 = e.shuffleXor(b2, offset);
            offer(o1);
            offer(o2);
          }
          groupScores.push_back(method == TopkMethod::NoauxTc ? e.fadd(b1, b2)
                                                              : b1);
        }
        // The kept groups become +inf, in the generic kernel's order.
        for (int64_t k = 0; k < keptGroups; ++k) {
          Value best = minusInf, pick = e.c64(0);
          for (int64_t g = 0; g < groups; ++g) {
            Value v = groupScores[g];
            Value better = arith::AndIOp::create(
                e.b, e.loc, cmpF(arith::CmpFPredicate::OGT, v, best),
                cmpF(arith::CmpFPredicate::OLT, v, inf));
            best = select(better, v, best);
            pick = select(better, e.c64(g), pick);
          }
          for (int64_t g = 0; g < groups; ++g)
            groupScores[g] =
                select(cmpI(arith::CmpIPredicate::eq, pick, e.c64(g)), inf,
                       groupScores[g]);
        }
        for (int64_t u = 0; u < perLane; ++u) {
          Value g =
              e.div(select(valid[u], expert[u], e.c64(0)), e.c64(perGroup));
          Value kept = e.f32(0.0);
          for (int64_t k = 0; k < groups; ++k)
            kept = select(cmpI(arith::CmpIPredicate::eq, g, e.c64(k)),
                          groupScores[k], kept);
          Value isKept = cmpF(arith::CmpFPredicate::OEQ, kept, inf);
          selection[u] = select(
              valid[u], select(isKept, selection[u], e.f32(0.0)), minusInf);
        }
      }
      // Top-k by repeated arg-max (lowest index on ties).
      Value out = e.mul(t, e.c64(topK));
      Value isFirst = cmpI(arith::CmpIPredicate::eq, lane, e.c64(0));
      Value total = e.f32(0.0);
      SmallVector<Value> picks, weights;
      for (int64_t k = 0; k < topK; ++k) {
        Value best = minusInf, bestIndex = c32(0);
        for (int64_t u = 0; u < perLane; ++u) {
          Value better = cmpF(arith::CmpFPredicate::OGT, selection[u], best);
          best = select(better, selection[u], best);
          bestIndex = select(
              better, arith::TruncIOp::create(e.b, e.loc, i32(), expert[u]),
              bestIndex);
        }
        Value pick = laneArgmax(best, bestIndex).second;
        Value pick64 = e.i32ToI64(pick);
        Value w = e.f32(0.0);
        for (int64_t u = 0; u < perLane; ++u) {
          Value taken = cmpI(arith::CmpIPredicate::eq, expert[u], pick64);
          w = select(taken, scores[u], w);
          selection[u] = select(taken, minusInf, selection[u]);
        }
        w = e.warpSum(w);
        picks.push_back(pick);
        weights.push_back(w);
        total = e.fadd(total, w);
      }
      bool normalise = r.normTopkProb && topK > 1;
      Value factor = e.f32(sigmoid || !normalise ? r.scale : 1.0);
      if (normalise)
        factor = e.fdiv(factor, e.fadd(total, e.f32(1e-20)));
      auto write = scf::IfOp::create(e.b, e.loc, isFirst, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(&write.getThenRegion().front());
      for (int64_t k = 0; k < topK; ++k) {
        e.store(picks[k], result(1), e.add(out, e.c64(k)));
        e.store(e.fmul(weights[k], factor), result(0), e.add(out, e.c64(k)));
      }
    }
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

  /// GPU: one warp per (choice, output feature), gate and up rows read in
  /// one pass: a chunk's choices of one expert read its rows from L2 after
  /// the first.
  std::pair<ParallelDim, int64_t> expertUpWarp(MoEExpertUpOp op) {
    if (config.getRowGroup() > 1)
      return expertUpGrouped(op);
    WeightView gateW = e.weight(2), upW = e.weight(3);
    int64_t hidden = featureCount(op.getInput());
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = gateW.rows;
    std::optional<Emitter::RowNorm> norm = inputNorm();
    // A block's warps are consecutive features of one choice (one token).
    StagingBuffers staged = stagingBuffers(norm, hidden, inner);
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value n = e.rem(pair, e.c64(inner)), choice = e.div(pair, e.c64(inner));
      Value expert = e.loadI64(operand(1), choice);
      Value x = e.mul(e.div(choice, e.c64(topK)), e.c64(hidden));
      WarpInput in = warpInput(operand(0), x, hidden, norm, staged, lane, i);
      auto [g, u] =
          e.gateUpWarpSums(in.x, in.offset, gateW, upW, expert, n, lane,
                           in.norm, /*weightsFirst=*/false, in.stage());
      e.storeBF16(e.fmul(e.silu(e.roundBF16(g)), e.roundBF16(u)), result(),
                  e.add(e.mul(choice, e.c64(inner)), n));
    });
    return {ParallelDim::TokensTimesStatic, topK * inner * Emitter::kWarp};
  }

  /// GPU with a row group G (`warp`, row_group > 1): the choices grouped by
  /// expert, so each selected expert's rows are read once per G choices of
  /// it rather than once per choice. A block of W warps serves W
  /// consecutive features of one expert (the launch: every expert's
  /// features, whatever the chunk). Per window of kChoiceWindow choices its
  /// threads find those of the block's expert and append them to a
  /// block-shared list (an atomic count: the order differs from run to run,
  /// each choice's sums do not); then per G listed choices the block stages
  /// their tokens' rows (normalised where the norm is folded in), and each
  /// warp reads its feature's gate and up weight groups once for all G
  /// (dotLanes, DotTerm::weightsOf), in the lanes and order of the
  /// one-choice kernel, so every sum is bit for bit that kernel's. Blocks of
  /// experts no token chose leave after the scan.
  std::pair<ParallelDim, int64_t> expertUpGrouped(MoEExpertUpOp op) {
    WeightView gateW = e.weight(2), upW = e.weight(3);
    int64_t hidden = featureCount(op.getInput());
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = gateW.rows, group = config.getRowGroup();
    int64_t experts = moeCost(op).experts;
    int64_t block = config.getBlock();
    std::optional<Emitter::RowNorm> norm = inputNorm();
    StagingBuffers staged = groupBuffers(norm, hidden, group);
    // [0]: the window's count; [1...]: its choices (i32).
    Value list = sharedPointer("expert_choices", kChoiceWindow + 1);
    Value total = e.mul(e.tokens, e.c64(topK));
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value n = e.rem(pair, e.c64(inner)), expert = e.div(pair, e.c64(inner));
      Value thread = e.rem(i, e.c64(block));
      e.loop(
          e.c64(0), total,
          [&](Value window) {
            ifThen(cmpI(arith::CmpIPredicate::eq, thread, e.c64(0)),
                   [&] { e.store(c32(0), list, e.c64(0)); });
            barrier();
            Value end = arith::MinSIOp::create(
                e.b, e.loc, total, e.add(window, e.c64(kChoiceWindow)));
            e.loop(
                e.add(window, thread), end,
                [&](Value choice) {
                  ifThen(cmpI(arith::CmpIPredicate::eq,
                              e.loadI64(operand(1), choice), expert),
                         [&] {
                           Value at = LLVM::AtomicRMWOp::create(
                               e.b, e.loc, LLVM::AtomicBinOp::add,
                               e.gep(list, i32(), e.c64(0)), c32(1),
                               LLVM::AtomicOrdering::monotonic);
                           e.store(arith::TruncIOp::create(e.b, e.loc, i32(),
                                                           choice),
                                   list, e.add(e.i32ToI64(at), e.c64(1)));
                         });
                },
                block);
            barrier();
            Value count = e.i32ToI64(e.load(list, i32(), e.c64(0)));
            e.loop(
                e.c64(0), count,
                [&](Value start) {
                  Value last = e.fsubI(count, e.c64(1));
                  SmallVector<Value> choices, exists, offsets;
                  for (int64_t r = 0; r < group; ++r) {
                    Value at = e.add(start, e.c64(r));
                    Value ok = cmpI(arith::CmpIPredicate::sle, at, last);
                    exists.push_back(ok);
                    Value choice =
                        e.loadI64(list, e.add(select(ok, at, last), e.c64(1)));
                    choices.push_back(choice);
                    offsets.push_back(
                        e.mul(e.div(choice, e.c64(topK)), e.c64(hidden)));
                  }
                  Emitter::Prologue stage = groupStage(
                      operand(0), offsets, hidden, norm, staged, lane, i);
                  SmallVector<Emitter::DotTerm> terms;
                  for (int64_t r = 0; r < group; ++r) {
                    terms.push_back({&gateW, e.c64(r * hidden), expert, n, 0,
                                     stage.row, nullptr, r ? 0 : -1});
                    terms.push_back({&upW, e.c64(r * hidden), expert, n, 0,
                                     stage.row, nullptr, r ? 1 : -1});
                  }
                  SmallVector<Value> parts = e.dotLanes(
                      operand(0), terms, lane, 0, Emitter::kLoadsInFlight,
                      /*weightsFirst=*/false, &stage);
                  for (int64_t r = 0; r < group; ++r) {
                    Value g = e.warpSum(parts[2 * r]),
                          u = e.warpSum(parts[2 * r + 1]);
                    ifThen(exists[r], [&] {
                      e.storeBF16(
                          e.fmul(e.silu(e.roundBF16(g)), e.roundBF16(u)),
                          result(), e.add(e.mul(choices[r], e.c64(inner)), n));
                    });
                  }
                  // The next group's staging overwrites these rows.
                  barrier();
                },
                group);
            // The next window's scan overwrites the list.
            barrier();
          },
          kChoiceWindow);
    });
    return {ParallelDim::Static, experts * inner * Emitter::kWarp};
  }

  /// GPU: one warp per (token, output feature); the rows of all the
  /// token's choices are read in one pass (their loads in flight
  /// together), and the weighted sum over the choices, in choice order,
  /// stays in a register and is rounded once. A fused shared expert
  /// (`shared(...)`) reads its row in the same pass, as segments of the
  /// routed rows' length where it splits into them, and the store adds it
  /// and the addends (storeDown).
  std::pair<ParallelDim, int64_t> expertDownWarp(MoEExpertDownOp op) {
    WeightView down = e.weight(3);
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = down.cols, hidden = down.rows;
    Type f32 = e.b.getF32Type();
    Value warp = e.c64(Emitter::kWarp);
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value d = e.rem(pair, e.c64(hidden)), t = e.div(pair, e.c64(hidden));
      Value acc = e.f32(0.0), sharedSum;
      if (down.readsInGroups()) {
        SmallVector<Emitter::DotTerm> terms;
        SmallVector<Value> choices;
        for (int64_t j = 0; j < topK; ++j) {
          Value choice = e.add(e.mul(t, e.c64(topK)), e.c64(j));
          choices.push_back(choice);
          terms.push_back({&down, e.mul(choice, e.c64(inner)),
                           e.loadI64(operand(2), choice), d});
        }
        // A fused shared expert whose row splits into segments of the
        // routed rows' length joins their pass (its loads in flight with
        // theirs); its segments' parts are added before the warp sum.
        std::optional<WeightView> shared;
        std::optional<MoEDownTerms> layout = moeDownTerms(op);
        int64_t segments = layout->sharedSegments;
        if (op.getSharedInput())
          shared = e.weight(5);
        for (int64_t g = 0; g < segments; ++g)
          terms.push_back(
              {&*shared, e.add(e.mul(t, e.c64(shared->cols)), e.c64(g * inner)),
               e.c64(0), d, g * inner, operand(4)});
        SmallVector<Value> parts;
        if (config.getStrategy() == KernelStrategy::WarpAsync) {
          // The block's token's activations staged once in the front of
          // its dynamic shared memory (every warp reads them from there);
          // then each warp's rows in its share of the rest, as many
          // iterations ahead as the share holds.
          int64_t warps = config.getBlock() / Emitter::kWarp;
          int64_t warpBytes =
              (config.getDynamicSharedBytes() - layout->inputBytes) / warps;
          WarpStageLayout l = warpStageLayout(
              inner, layout->bf16Terms, layout->fp8Terms,
              kWarpAsyncLoadsInFlight, warpBytes, layout->fp8BlockCols);
          Value warpInBlock = e.div(e.rem(i, e.c64(config.getBlock())), warp);
          Type sharedPtr = LLVM::LLVMPointerType::get(e.b.getContext(), 3);
          LLVM::GlobalOp dynamic = dynamicSharedArray();
          Value base = LLVM::AddressOfOp::create(e.b, e.loc, dynamic);
          base =
              LLVM::GEPOp::create(e.b, e.loc, sharedPtr, e.b.getI8Type(), base,
                                  ArrayRef<LLVM::GEPArg>{e.add(
                                      e.c64(layout->inputBytes),
                                      e.mul(warpInBlock, e.c64(warpBytes)))});
          Emitter::WeightStage stage{base,
                                     l.stages,
                                     l.iterationBytes,
                                     l.groupsPerIteration,
                                     l.laneColumns,
                                     l.scaleBytes};
          Value row = genericPointer(dynamic);
          SmallVector<StagedSegment> input{
              {operand(0), e.mul(t, e.c64(topK * inner)), topK * inner}};
          if (segments)
            input.push_back(
                {operand(4), e.mul(t, e.c64(shared->cols)), shared->cols});
          Emitter::Prologue staging = stagedRows(row, input, i);
          // The terms read their activations there, in the same order.
          for (auto [j, term] : llvm::enumerate(terms)) {
            term.x = row;
            term.xOffset = e.c64(static_cast<int64_t>(j) * inner);
          }
          parts = e.dotLanes(operand(0), terms, lane, inner,
                             kWarpAsyncLoadsInFlight, /*weightsFirst=*/false,
                             &staging, &stage);
        } else {
          // With the shared segments, one group per term per iteration: 72
          // registers (138 at two groups), so V2-Lite's 2,048 warps stay
          // one wave on an H200 (measured: 0.445 ms per step against 0.591
          // at two groups and 0.560 for the two kernels apart).
          parts = e.dotLanes(operand(0), terms, lane, inner,
                             segments ? Emitter::kLoadsInFlight / 2
                                      : Emitter::kLoadsInFlight);
        }
        for (int64_t j = 0; j < topK; ++j)
          acc = e.fadd(acc, e.fmul(e.load(operand(1), f32, choices[j]),
                                   e.roundBF16(e.warpSum(parts[j]))));
        if (segments) {
          Value part = parts[topK];
          for (int64_t g = 1; g < segments; ++g)
            part = e.fadd(part, parts[topK + g]);
          sharedSum = e.warpSum(part);
        }
      } else {
        acc = e.reduce(0, topK, e.f32(0.0), [&](Value j, Value a) {
          Value choice = e.add(e.mul(t, e.c64(topK)), j);
          Value expert = e.loadI64(operand(2), choice);
          Value y = e.roundBF16(e.warpSum(e.dotLane(operand(0), bf16(),
                                                    e.mul(choice, e.c64(inner)),
                                                    down, expert, d, lane)));
          return e.fadd(a, e.fmul(e.load(operand(1), f32, choice), y));
        });
      }
      storeDown(op, acc, t, d, [&](const WeightView &shared, Value x) {
        if (sharedSum)
          return sharedSum;
        return e.warpSum(
            e.dotLane(operand(4), bf16(), x, shared, e.c64(0), d, lane));
      });
    });
    return {ParallelDim::TokensTimesStatic, hidden * Emitter::kWarp};
  }

  /// The store of a down projection's output (t, d) whose routed sum is
  /// `routed` (f32): rounded to bf16, or, with a shared product (its f32
  /// sum from sharedDot(weight, input offset)), the shared product rounded
  /// plus the routed sum, then each addend, rounding after each addition
  /// (the ds.linear ... plus(routed, addends...) this fuses).
  void
  storeDown(MoEExpertDownOp op, Value routed, Value t, Value d,
            const std::function<Value(const WeightView &, Value)> &sharedDot) {
    int64_t hidden = featureCount(op.getResult());
    Value out = e.add(e.mul(t, e.c64(hidden)), d);
    Value y = e.roundBF16(routed);
    if (op.getSharedInput()) {
      WeightView shared = e.weight(5);
      Value s = sharedDot(shared, e.mul(t, e.c64(shared.cols)));
      y = e.roundBF16(e.fadd(e.roundBF16(s), y));
      for (unsigned i = 0; i < op.getAddends().size(); ++i)
        y = e.roundBF16(e.fadd(y, e.loadBF16(operand(6 + i), out)));
    }
    e.storeBF16(y, result(), out);
  }

  /// Each choice of a token (an element of a tokens x k launch): the
  /// global expert e becomes e / ranks on the rank e mod ranks, else -1.
  std::pair<ParallelDim, int64_t> localChoices(MoELocalChoicesOp op) {
    int64_t topK = op.getIndices().getType().getDimSize(1);
    Value ranks = e.c64(op.getRanks());
    Value rank = e.loadI64(operand(1), e.c64(0));
    e.loop(e.begin, e.end, [&](Value i) {
      Value expert = e.loadI64(operand(0), i);
      Value here = arith::CmpIOp::create(e.b, e.loc, arith::CmpIPredicate::eq,
                                         e.rem(expert, ranks), rank);
      Value local = arith::SelectOp::create(e.b, e.loc, here,
                                            e.div(expert, ranks), e.c64(-1));
      e.store(arith::TruncIOp::create(e.b, e.loc, e.b.getI32Type(), local),
              result(), i);
    });
    return {ParallelDim::TokensTimesStatic, topK};
  }

  std::pair<ParallelDim, int64_t> expertUp(MoEExpertUpOp op) {
    if (gpu)
      return expertUpWarp(op);
    WeightView gateW = e.weight(2), upW = e.weight(3);
    int64_t hidden = featureCount(op.getInput());
    int64_t topK = op.getIndices().getType().getDimSize(1);
    int64_t inner = gateW.rows;
    std::optional<Emitter::RowNorm> norm = inputNorm();
    e.loop(e.begin, e.end, [&](Value n) {
      e.loop(e.c64(0), e.tokens, [&](Value t) {
        Value x = e.mul(t, e.c64(hidden));
        Emitter::RowNorm rowNorm =
            norm ? e.withInv(*norm, operand(0), x, hidden, Value())
                 : Emitter::RowNorm{};
        const Emitter::RowNorm *normed = norm ? &rowNorm : nullptr;
        e.loop(0, topK, [&](Value j) {
          Value choice = e.add(e.mul(t, e.c64(topK)), j);
          Value expert = e.loadI64(operand(1), choice);
          Value out = e.add(e.mul(choice, e.c64(inner)), n);
          // A choice of another rank's expert (-1, ds.moe_local_choices)
          // stores zeros: the down projection skips it.
          Value held = arith::CmpIOp::create(
              e.b, e.loc, arith::CmpIPredicate::sge, expert, e.c64(0));
          auto ifHeld = scf::IfOp::create(e.b, e.loc, held, /*else=*/true);
          {
            OpBuilder::InsertionGuard guard(e.b);
            e.b.setInsertionPointToStart(ifHeld.thenBlock());
            Value g = e.roundBF16(
                e.dot(operand(0), bf16(), x, gateW, expert, n, normed));
            Value u = e.roundBF16(
                e.dot(operand(0), bf16(), x, upW, expert, n, normed));
            e.storeBF16(e.fmul(e.silu(g), u), result(), out);
            e.b.setInsertionPointToStart(ifHeld.elseBlock());
            e.storeBF16(e.f32(0.0), result(), out);
          }
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
          // A choice of another rank's expert (-1) adds nothing.
          Value held = arith::CmpIOp::create(
              e.b, e.loc, arith::CmpIPredicate::sge, expert, e.c64(0));
          auto ifHeld = scf::IfOp::create(e.b, e.loc, f32, held,
                                          /*else=*/true);
          {
            OpBuilder::InsertionGuard guard(e.b);
            e.b.setInsertionPointToStart(ifHeld.thenBlock());
            Value y = e.roundBF16(e.dot(operand(0), bf16(),
                                        e.mul(choice, e.c64(inner)), down,
                                        expert, d));
            scf::YieldOp::create(
                e.b, e.loc,
                e.fadd(a, e.fmul(e.load(operand(1), f32, choice), y)));
            e.b.setInsertionPointToStart(ifHeld.elseBlock());
            scf::YieldOp::create(e.b, e.loc, a);
          }
          return ifHeld.getResult(0);
        });
        storeDown(op, acc, t, d, [&](const WeightView &shared, Value x) {
          return e.dot(operand(4), bf16(), x, shared, e.c64(0), d);
        });
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
/// indices written, about 4 FLOPs per expert (score, bias, comparisons);
/// the whole gate: the router's product instead of the logits row.
KernelCost moeCost(Operation *op) {
  KernelCost cost;
  llvm::TypeSwitch<Operation *>(op)
      // The choices read and written, a few integer operations each.
      .Case([&](MoELocalChoicesOp o) {
        cost.bytesPerRow = 2 * rowBytes(o.getIndices());
        cost.bytesFixed = 4;
      })
      .Case([&](MoESelectOp o) {
        double experts = featureCount(o.getLogits());
        if (o.getBias())
          cost.bytesFixed = weightBytes(o.getBias().getType());
        cost.bytesPerRow = rowBytes(o.getLogits()) + rowBytes(o.getWeights()) +
                           rowBytes(o.getIndices());
        cost.flopsPerRow = 4 * experts;
      })
      // The router's product (its weight once, the input row per row) and
      // the choice, its logits kept on chip.
      .Case([&](MoEGateOp o) {
        double experts = o.getWeight().getType().getDimSize(0);
        double hidden = featureCount(o.getInput());
        cost.bytesFixed = weightBytes(o.getWeight().getType());
        if (o.getBias())
          cost.bytesFixed += weightBytes(o.getBias().getType());
        if (o.getNormWeight())
          cost.bytesFixed += weightBytes(o.getNormWeight().getType());
        cost.bytesPerRow = rowBytes(o.getInput()) + rowBytes(o.getWeights()) +
                           rowBytes(o.getIndices());
        cost.flopsPerRow = 2 * experts * hidden + 4 * experts;
      })
      .Case([&](MoEExpertUpOp o) {
        Type gate = o.getGate().getType(), up = o.getUp().getType();
        int64_t topK = featureCount(o.getIndices());
        cost.experts = isFP8(gate)
                           ? cast<FP8BlockWeightType>(gate).getShape()[0]
                           : cast<RankedTensorType>(gate).getDimSize(0);
        cost.expertsPerRow = topK;
        cost.bytesPerExpert = expertBytes(gate) + expertBytes(up);
        if (o.getNormWeight())
          cost.bytesFixed = weightBytes(o.getNormWeight().getType());
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
        // The fused shared expert: its weight once, its input row and the
        // addends per row.
        if (Value shared = o.getSharedInput()) {
          cost.bytesFixed = weightBytes(o.getSharedDown().getType());
          cost.bytesPerRow += rowBytes(shared);
          for (Value addend : o.getAddends())
            cost.bytesPerRow += rowBytes(addend);
          cost.flopsPerRow += 2.0 * featureCount(shared) * hidden;
        }
      });
  return cost;
}

} // namespace dsc::kernels
