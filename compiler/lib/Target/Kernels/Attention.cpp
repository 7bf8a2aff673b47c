//===- Attention.cpp - multi-head latent attention kernels --------------===//
//
// The kernels of MLA (docs/model.md §2.7): the latent cache write (RMSNorm
// of the latent, rope of k_pe), the naive single-kernel attention (generic
// lowering), and the absorbed form in three kernels (query absorption into
// the latent space, attention over the latent cache, value absorption). On
// CUDA targets decode attention either splits each token's positions into
// shares, a block per share serving a group of heads from cache rows staged
// in shared memory (`position_split`: ds.mla_latent_attention_partial, then
// ds.mla_attention_combine), or splits each (token, head) over a block of
// warps (`block_split`); prefill attention serves a group of a slot's
// tokens per warp.
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

/// ds.mla_absorb_query's warp: the latent columns it computes (4 lanes of
/// 8 columns each, times 8 row lanes).
constexpr int64_t kAbsorbWarpColumns = 32;

class AttentionKernels : public KernelBody {
public:
  using KernelBody::KernelBody;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](MLACacheWriteOp o) { return cacheWrite(o); })
            .Case([&](MLAAttentionOp o) { return attention(o); })
            .Case([&](MLAAbsorbQueryOp o) { return absorbQuery(o); })
            .Case([&](MLALatentAttentionOp o) { return latentAttention(o); })
            .Case([&](MLALatentAttentionPartialOp o) {
              return latentAttentionPartial(o);
            })
            .Case([&](MLAAttentionCombineOp o) { return attentionCombine(o); })
            .Case([&](MLAAbsorbValueOp o) { return absorbValue(o); }));
  }

private:
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
      e.reduceStep(lane, e.c64(ropeDim / 2), Emitter::kWarp, e.f32(0.0),
                   [&](Value i, Value unused) {
                     e.ropePair(
                         [&](Value k) {
                           return e.loadBF16(operand(0), e.add(ropeSrc, k));
                         },
                         [&](Value k, Value v) {
                           e.storeBF16(v, cachePtr, e.add(ropeDst, k));
                         },
                         position, i, rope, freqs);
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
  /// (token, head) per index. GPU: a warp per (token, head, 32 latent
  /// columns) where W_UK reads in 8-column groups, else one thread per
  /// (token, head, column c < R) and per rotary pair, so lanes read
  /// consecutive columns of W_UK.
  std::pair<ParallelDim, int64_t> absorbQuery(MLAAbsorbQueryOp op) {
    WeightView kvB = e.weight(2);
    int64_t latent = kvB.cols, ropeDim = op.getQkRopeHeadDim();
    int64_t heads = op.getNumHeads(), nope = op.getQkNopeHeadDim(),
            vDim = op.getVHeadDim(), qkDim = nope + ropeDim;
    int64_t width = latent + ropeDim;
    RopeAttr rope = op.getRope();
    LLVM::GlobalOp freqs = invFreqTable(rope);
    Value zero = e.c64(0);
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
      e.ropePair(
          [&](Value k) { return e.loadBF16(operand(0), e.add(qPeBase, k)); },
          [&](Value k, Value v) { e.storeBF16(v, result(), e.add(out, k)); },
          e.loadI64(operand(1), t), pairIndex, rope, freqs);
    };
    int64_t pairs = ropeDim / 2;
    if (gpu && kvB.readsInGroups() && latent % kAbsorbWarpColumns == 0) {
      // One warp per (token, head, 32 latent columns): lane l = 4 r + c
      // takes the 8 columns c0 + 8 c of the rows d = r, r + 8, ... of
      // W_UK[h], one 16-byte (bf16) or 8-byte (fp8) load each, all issued
      // at once: every load instruction of the warp reads 8 rows' 64 (32)
      // contiguous bytes, whole sectors. Each lane sums its rows for its 8
      // columns; butterflies over the row lanes (offsets 4, 8, 16) add the
      // 8 row lanes, and lanes 0-3 store the 32 columns. One more warp per
      // (token, head) rotates q_pe.
      constexpr int64_t kColumnLanes = kAbsorbWarpColumns / 8;
      constexpr int64_t kRowLanes = Emitter::kWarp / kColumnLanes;
      int64_t columnGroups = latent / kAbsorbWarpColumns;
      int64_t rowsPerLane = (nope + kRowLanes - 1) / kRowLanes;
      Value warp = e.c64(Emitter::kWarp);
      e.loop(e.begin, e.end, [&](Value index) {
        Value warpIndex = e.div(index, warp), lane = e.rem(index, warp);
        Value th = e.div(warpIndex, e.c64(columnGroups + 1));
        Value group = e.rem(warpIndex, e.c64(columnGroups + 1));
        Value t = e.div(th, e.c64(heads)), h = e.rem(th, e.c64(heads));
        auto isQAbs = scf::IfOp::create(
            e.b, e.loc,
            cmpI(arith::CmpIPredicate::slt, group, e.c64(columnGroups)),
            /*withElse=*/true);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&isQAbs.getThenRegion().front());
        Value rowLane = e.div(lane, e.c64(kColumnLanes));
        Value c0 = e.add(e.mul(group, e.c64(kAbsorbWarpColumns)),
                         e.mul(e.rem(lane, e.c64(kColumnLanes)), e.c64(8)));
        Value qBase =
            e.add(e.mul(t, e.c64(heads * qkDim)), e.mul(h, e.c64(qkDim)));
        Value kvRow0 = e.mul(h, e.c64(nope + vDim));
        SmallVector<Value> sums(8, e.f32(0.0));
        SmallVector<std::pair<Value, SmallVector<Value>>> rows;
        // The W_UK groups first; with weightsBeforeWait they are requested
        // before the wait for the query's producer.
        SmallVector<std::pair<Value, Value>> ds; // (inRange, safe row)
        for (int64_t r = 0; r < rowsPerLane; ++r) {
          Value d = e.add(rowLane, e.c64(r * kRowLanes));
          Value inRange = cmpI(arith::CmpIPredicate::slt, d, e.c64(nope));
          Value safeD = select(inRange, d, e.c64(nope - 1));
          ds.push_back({inRange, safeD});
          rows.push_back(
              {Value(), e.weightGroup(kvB, e.add(kvRow0, safeD), c0)});
        }
        if (e.weightsBeforeWait)
          e.waitForPredecessor();
        for (auto [r, d] : llvm::enumerate(ds))
          rows[r].first =
              select(d.first, e.loadBF16(operand(0), e.add(qBase, d.second)),
                     e.f32(0.0));
        for (auto &[q, ws] : rows)
          for (int64_t j = 0; j < 8; ++j)
            sums[j] = e.fma(q, ws[j], sums[j]);
        for (int32_t offset = kColumnLanes; offset < Emitter::kWarp;
             offset *= 2)
          for (Value &sum : sums)
            sum = e.fadd(sum, e.shuffleXor(sum, offset));
        Value out =
            e.add(e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(width)), c0);
        auto first = scf::IfOp::create(
            e.b, e.loc,
            cmpI(arith::CmpIPredicate::slt, lane, e.c64(kColumnLanes)),
            /*withElse=*/false);
        {
          OpBuilder::InsertionGuard inner(e.b);
          e.b.setInsertionPointToStart(&first.getThenRegion().front());
          for (int64_t j = 0; j < 8; ++j)
            e.storeBF16(sums[j], result(), e.add(out, e.c64(j)));
        }
        e.b.setInsertionPointToStart(&isQAbs.getElseRegion().front());
        // Every path waits before it reads the query.
        if (e.weightsBeforeWait)
          e.waitForPredecessor();
        e.loop(
            lane, e.c64(pairs), [&](Value i) { ropePair(t, h, i); },
            Emitter::kWarp);
      });
      return {ParallelDim::TokensTimesStatic,
              heads * (columnGroups + 1) * Emitter::kWarp};
    }
    int64_t perHead = latent + pairs;
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
    if (op.getLse())
      return combineAbsorbValue(op);
    WeightView kvB = e.weight(1);
    int64_t latent = kvB.cols, heads = op.getNumHeads(),
            nope = op.getQkNopeHeadDim(), vDim = op.getVHeadDim();
    Value zero = e.c64(0);
    auto output = [&](Value t, Value h, Value j, Value lane) {
      Value row = e.add(e.mul(h, e.c64(nope + vDim)), e.add(e.c64(nope), j));
      Value x = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(latent));
      Value out =
          e.add(e.mul(t, e.c64(heads * vDim)), e.add(e.mul(h, e.c64(vDim)), j));
      // Weights first: nothing above reads what a kernel wrote.
      Value sum = lane ? e.warpSum(e.dotLane(operand(0), bf16(), x, kvB, zero,
                                             row, lane, /*norm=*/nullptr,
                                             /*weightsFirst=*/true))
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

  /// ds.mla_absorb_value combine(lse): o[t, h] merged from the splits as
  /// ds.mla_attention_combine merges it (bf16), then the products.
  /// Host: a (token, head) per index, the merged row in scratch memory.
  /// CUDA (`cluster_block`): a cluster of `splits` blocks per (token,
  /// head). Block r merges latent quads [r Q, (r + 1) Q) (Q = R / 4 /
  /// splits; kCombineLanes lanes a quad, combineQuad) and stores them, as
  /// bf16, into every block's copy of the row through distributed shared
  /// memory; after a cluster barrier its warps compute the head's features
  /// r D .. (r + 1) D - 1 (D = dv / splits), D / warps each in one pass
  /// over the copy, their W_UV rows requested before the wait for the
  /// previous kernel. The same values as the two kernels, bit for bit: the
  /// merge's arithmetic and the product's order of additions are theirs.
  std::pair<ParallelDim, int64_t> combineAbsorbValue(MLAAbsorbValueOp op) {
    SplitStates st = splitStates(op, 0);
    WeightView kvB = e.weight(2);
    int64_t latent = kvB.cols, heads = op.getNumHeads(),
            nope = op.getQkNopeHeadDim(), vDim = op.getVHeadDim();
    Value zero = e.c64(0);
    auto weightRow = [&](Value h, Value j) {
      return e.add(e.mul(h, e.c64(nope + vDim)), e.add(e.c64(nope), j));
    };
    auto outIndex = [&](Value t, Value h, Value j) {
      return e.add(e.mul(t, e.c64(heads * vDim)),
                   e.add(e.mul(h, e.c64(vDim)), j));
    };
    if (!gpu) {
      Value row = e.scratch(latent);
      Type f32 = e.b.getF32Type();
      e.loop(e.begin, e.end, [&](Value pair) {
        Value t = e.div(pair, e.c64(heads)), h = e.rem(pair, e.c64(heads));
        e.loop(0, latent, [&](Value c) {
          e.store(e.roundBF16(combineColumn(st, t, h, c)), row, c);
        });
        e.loop(0, vDim, [&](Value j) {
          e.storeBF16(e.dot(row, f32, zero, kvB, zero, weightRow(h, j)),
                      result(), outIndex(t, h, j));
        });
      });
      return {ParallelDim::TokensTimesStatic, heads};
    }
    assert(config.getStrategy() == KernelStrategy::ClusterBlock &&
           "ds-configure-kernels gives a merging absorb_value a cluster");
    int64_t blocks = config.getSplits(), threads = config.getBlock();
    int64_t warps = threads / Emitter::kWarp;
    int64_t perWarp = vDim / blocks / warps;
    int64_t quadsPerBlock = latent / 4 / blocks;
    int64_t mergers = quadsPerBlock * kCombineLanes;
    assert(perWarp * warps * blocks == vDim && mergers <= threads &&
           mergers % Emitter::kWarp == 0 && "the configuration's shape");
    // The merged row, bf16, in every block; its stores come from the
    // cluster's blocks once all have started.
    Value merged = sharedPointer("merged_row", latent / 2);
    NVVM::ClusterArriveRelaxedOp::create(e.b, e.loc, UnitAttr());
    e.loop(e.begin, e.end, [&](Value index) {
      Value local = e.rem(index, e.c64(threads));
      Value block = e.div(index, e.c64(threads));
      Value rank = e.rem(block, e.c64(blocks));
      Value th = e.div(block, e.c64(blocks));
      Value t = e.div(th, e.c64(heads)), h = e.rem(th, e.c64(heads));
      Value lane = e.rem(index, e.c64(Emitter::kWarp));
      Value j0 =
          e.add(e.mul(rank, e.c64(vDim / blocks)),
                e.mul(e.div(local, e.c64(Emitter::kWarp)), e.c64(perWarp)));
      Emitter::Prologue merge;
      merge.row = merged;
      merge.weights = [] {};
      merge.loads = [] {};
      merge.finish = [&] {
        SmallVector<Value> values;
        Value g = e.rem(local, e.c64(kCombineLanes));
        Value quad = e.add(e.mul(rank, e.c64(quadsPerBlock)),
                           e.div(local, e.c64(kCombineLanes)));
        // Whole warps merge (mergers is a multiple of 32): the butterflies
        // see every lane of theirs.
        Value merging = cmpI(arith::CmpIPredicate::slt, local, e.c64(mergers));
        auto ifMerging = scf::IfOp::create(e.b, e.loc, merging,
                                           /*withElse=*/false);
        {
          OpBuilder::InsertionGuard guard(e.b);
          e.b.setInsertionPointToStart(&ifMerging.getThenRegion().front());
          values = combineQuad(st, t, h, quad, g);
          // Every block of the cluster has started: its copy exists.
          NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
          ifThen(cmpI(arith::CmpIPredicate::eq, g, e.c64(0)), [&] {
            Value at = e.mul(quad, e.c64(4));
            for (int64_t peer = 0; peer < blocks; ++peer) {
              Value copy = NVVM::MapaOp::create(e.b, e.loc, e.ptrType, merged,
                                                c32(peer));
              for (int64_t k = 0; k < 4; ++k)
                e.storeBF16(values[k], copy, e.add(at, e.c64(k)));
            }
          });
        }
        {
          // The other warps' half of the start barrier.
          OpBuilder::InsertionGuard guard(e.b);
          auto idle = scf::IfOp::create(
              e.b, e.loc,
              cmpI(arith::CmpIPredicate::sge, local, e.c64(mergers)),
              /*withElse=*/false);
          e.b.setInsertionPointToStart(&idle.getThenRegion().front());
          NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
        }
        // The row is whole in every block after this barrier (release and
        // acquire across the cluster).
        NVVM::ClusterArriveOp::create(e.b, e.loc, UnitAttr());
        NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
      };
      SmallVector<Emitter::DotTerm> terms;
      for (int64_t f = 0; f < perWarp; ++f)
        terms.push_back(
            {&kvB, zero, zero, weightRow(h, e.add(j0, e.c64(f))), 0, merged});
      SmallVector<Value> parts =
          e.dotLanes(merged, terms, lane, 0, Emitter::kLoadsInFlight,
                     /*weightsFirst=*/true, &merge);
      SmallVector<Value> sums;
      for (Value part : parts)
        sums.push_back(e.warpSum(part));
      ifThen(cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)), [&] {
        for (int64_t f = 0; f < perWarp; ++f)
          e.storeBF16(sums[f], result(), outIndex(t, h, e.add(j0, e.c64(f))));
      });
    });
    return {ParallelDim::TokensTimesStatic, heads * blocks * threads};
  }

  /// o_lat[t, h] = bf16(softmax(scores) . c). Generic: one (token, head) per
  /// index, scores in a buffer, probabilities rounded to bf16.
  std::pair<ParallelDim, int64_t> latentAttention(MLALatentAttentionOp op) {
    if (config.getStrategy() == KernelStrategy::BlockSplit)
      return latentAttentionSplit(op);
    if (config.getStrategy() == KernelStrategy::WarpQueryGroup)
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
  /// coalesced. With `warp_query_group` (prefill) tokens [base, base + G) of
  /// one slot share a warp and read each cache row once for all of them; the
  /// group's first warp serves it and the others return (tokens of distinct
  /// slots each keep their own warp).
  std::pair<ParallelDim, int64_t> latentAttentionWarp(MLALatentAttentionOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t heads = op.getNumHeads();
    int64_t group = config.getRowGroup();
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

  /// GPU decode (`block_split`): one block of `block / 32` warps per
  /// (token, head), each warp taking a contiguous share of the cached
  /// positions (flash-decoding's split), combined through shared memory: the
  /// block's maximum of the warps' running maxima, each warp's sum and
  /// accumulators rescaled to it, the accumulators added with shared-memory
  /// atomics. Long contexts thus use many warps per head instead of one.
  std::pair<ParallelDim, int64_t>
  latentAttentionSplit(MLALatentAttentionOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), heads = op.getNumHeads();
    int64_t block = config.getBlock();
    const int64_t kSplitWarps = block / Emitter::kWarp;
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

  /// One warp's share of the latent attention of a (token, head): lane
  /// `lane` holds columns c = lane + 32 k of the latent (`perLane` of them)
  /// and of the rotary part (`ropeLane`).
  struct LatentLanes {
    int64_t latent, ropeDim, width, heads, perLane, ropeLane;
    double softmaxScale;
    Value cachePtr, lane;
  };
  LatentLanes latentLanes(LatentCacheType type, MLALatentAttentionOp op,
                          Value lane) {
    LatentLanes g;
    g.latent = type.getLatent();
    g.ropeDim = type.getRope();
    g.width = g.latent + g.ropeDim;
    g.heads = op.getNumHeads();
    g.perLane = (g.latent + Emitter::kWarp - 1) / Emitter::kWarp;
    g.ropeLane = (g.ropeDim + Emitter::kWarp - 1) / Emitter::kWarp;
    g.softmaxScale = op.getSoftmaxScale().convertToDouble();
    g.cachePtr = operand(3);
    g.lane = lane;
    return g;
  }
  /// Column k of this lane, clamped into [0, limit), and whether it is in
  /// range.
  std::pair<Value, Value> laneColumn(const LatentLanes &g, int64_t k,
                                     int64_t limit) {
    Value c = e.add(g.lane, e.c64(k * Emitter::kWarp));
    Value inRange = cmpI(arith::CmpIPredicate::slt, c, e.c64(limit));
    return {select(inRange, c, e.c64(limit - 1)), inRange};
  }
  /// This lane's query columns of `token` and head `h`: (q_abs, q_pe).
  std::pair<SmallVector<Value>, SmallVector<Value>>
  laneQuery(const LatentLanes &g, Value token, Value h) {
    Value q = e.mul(e.add(e.mul(token, e.c64(g.heads)), h), e.c64(g.width));
    SmallVector<Value> qAbs, qPe;
    for (int64_t k = 0; k < g.perLane; ++k)
      qAbs.push_back(
          e.loadBF16(operand(0), e.add(q, laneColumn(g, k, g.latent).first)));
    for (int64_t k = 0; k < g.ropeLane; ++k)
      qPe.push_back(
          e.loadBF16(operand(0), e.add(e.add(q, e.c64(g.latent)),
                                       laneColumn(g, k, g.ropeDim).first)));
    return {qAbs, qPe};
  }
  /// This lane's columns of cache row `row` (zero out of range): (c, k_pe).
  std::pair<SmallVector<Value>, SmallVector<Value>>
  laneCacheRow(const LatentLanes &g, Value row) {
    SmallVector<Value> cv, kpe;
    for (int64_t k = 0; k < g.perLane; ++k) {
      auto [c, inRange] = laneColumn(g, k, g.latent);
      cv.push_back(
          select(inRange, e.loadBF16(g.cachePtr, e.add(row, c)), e.f32(0.0)));
    }
    for (int64_t k = 0; k < g.ropeLane; ++k) {
      auto [r, inRange] = laneColumn(g, k, g.ropeDim);
      kpe.push_back(
          select(inRange,
                 e.loadBF16(g.cachePtr, e.add(e.add(row, e.c64(g.latent)), r)),
                 e.f32(0.0)));
    }
    return {cv, kpe};
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
    LatentLanes g = latentLanes(type, op, lane);
    int64_t perLane = g.perLane, ropeLane = g.ropeLane;
    auto [qAbs, qPe] = laneQuery(g, token, h);
    SmallVector<Value> init = {e.f32(-INFINITY), e.f32(0.0)};
    init.append(perLane, e.f32(0.0));
    auto online = scf::ForOp::create(e.b, e.loc, from, to, e.c64(1), init);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(online.getBody());
      auto [cv, kpe] =
          laneCacheRow(g, cacheRow(slot, online.getInductionVar(), g.width));
      Value part = e.f32(0.0);
      for (int64_t k = 0; k < perLane; ++k)
        part = e.fma(qAbs[k], cv[k], part);
      for (int64_t k = 0; k < ropeLane; ++k)
        part = e.fma(qPe[k], kpe[k], part);
      Value score = e.fmul(e.warpSum(part), e.f32(g.softmaxScale));
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
    LatentLanes geo = latentLanes(type, op, lane);
    int64_t latent = geo.latent, perLane = geo.perLane, ropeLane = geo.ropeLane;
    // This lane's query columns of each token (q_abs, then q_pe).
    SmallVector<Value> positions;
    SmallVector<SmallVector<Value>> qAbs(n), qPe(n);
    for (int64_t t = 0; t < n; ++t) {
      positions.push_back(e.loadI64(operand(1), tokens[t]));
      std::tie(qAbs[t], qPe[t]) = laneQuery(geo, tokens[t], h);
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
      auto [cv, kpe] = laneCacheRow(geo, cacheRow(slot, s, geo.width));
      SmallVector<Value> yields;
      for (int64_t g = 0; g < n; ++g) {
        auto args = online.getRegionIterArgs().slice(g * stride, stride);
        Value part = e.f32(0.0);
        for (int64_t k = 0; k < perLane; ++k)
          part = e.fma(qAbs[g][k], cv[k], part);
        for (int64_t k = 0; k < ropeLane; ++k)
          part = e.fma(qPe[g][k], kpe[k], part);
        Value score = e.fmul(e.warpSum(part), e.f32(geo.softmaxScale));
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
          e.mul(e.add(e.mul(tokens[g], e.c64(geo.heads)), h), e.c64(latent));
      for (int64_t k = 0; k < perLane; ++k) {
        auto [c, inRange] = laneColumn(geo, k, latent);
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

  //===--- position_split: shares of the positions, then their combine ----===//

  /// Positions per tile of the position_split kernel, and the fewest a
  /// share of a token's positions holds (the op's formula).
  static constexpr int64_t kSplitRows = 32;
  static_assert(kSplitRows == Emitter::kWarp,
                "a tile's scores are one per lane");

  /// How token `t`'s `count` positions split (ds.mla_latent_attention_partial):
  /// splits = max(1, min(S / T, ceil(count / 32), ceil(sqrt(count))))
  /// shares of ceil(count / splits) positions. The square root balances a
  /// share's positions against the partial states the combine reads, one
  /// per share: at 4,096 positions 64 shares of 64 (V2-Lite batch-1 decode
  /// measured 2% faster than with 128 of 32; docs/performance.md, ninth
  /// session).
  std::pair<Value, Value> positionShares(Value count, int64_t maxSplits) {
    Value perToken = e.div(e.c64(maxSplits), e.tokens);
    Value byLength =
        e.div(e.add(count, e.c64(kSplitRows - 1)), e.c64(kSplitRows));
    Value splits = arith::MaxSIOp::create(
        e.b, e.loc, e.c64(1),
        arith::MinSIOp::create(
            e.b, e.loc, perToken,
            arith::MinSIOp::create(e.b, e.loc, byLength, ceilSqrt(count))));
    Value share = e.div(e.add(count, e.fsubI(splits, e.c64(1))), splits);
    return {splits, share};
  }

  /// ceil(sqrt(n)) of an i64 n >= 0, exactly: the f32 root, corrected by
  /// one either way.
  Value ceilSqrt(Value n) {
    Type f32 = e.b.getF32Type();
    Value root = math::SqrtOp::create(
        e.b, e.loc, arith::SIToFPOp::create(e.b, e.loc, f32, n));
    Value r = arith::FPToSIOp::create(e.b, e.loc, e.b.getI64Type(), root);
    auto above = [&](Value k) { // k * k > n
      return cmpI(arith::CmpIPredicate::sgt, e.mul(k, k), n);
    };
    r = select(above(r), e.fsubI(r, e.c64(1)), r);
    Value next = e.add(r, e.c64(1));
    r = select(above(next), r, next); // floor(sqrt(n))
    return select(cmpI(arith::CmpIPredicate::eq, e.mul(r, r), n), r,
                  e.add(r, e.c64(1)));
  }

  /// What block `blockIndex` of a split decode attention serves: token t,
  /// head group g, share s; the token's positions (count), shares and
  /// positions per share.
  struct SplitBlock {
    Value t, g, s, count, splits, share;
  };
  SplitBlock splitBlock(Value blockIndex, int64_t maxSplits, int64_t groups) {
    SplitBlock b;
    b.t = e.div(blockIndex, e.c64(maxSplits * groups));
    Value within = e.rem(blockIndex, e.c64(maxSplits * groups));
    b.g = e.div(within, e.c64(maxSplits));
    b.s = e.rem(within, e.c64(maxSplits));
    b.count = e.add(e.loadI64(operand(1), b.t), e.c64(1));
    std::tie(b.splits, b.share) = positionShares(b.count, maxSplits);
    return b;
  }

  /// Positions [from, to) of share `s` (of `share` positions) of `count`.
  std::pair<Value, Value> shareRange(Value s, Value share, Value count) {
    Value from = arith::MinSIOp::create(e.b, e.loc, e.mul(s, share), count);
    return {from,
            arith::MinSIOp::create(e.b, e.loc, e.add(from, share), count)};
  }

  /// m + log(l), or -inf where l is 0 (an empty share).
  Value logSumExp(Value m, Value l) {
    Value empty = cmpF(arith::CmpFPredicate::OLE, l, e.f32(0.0));
    return select(empty, e.f32(-INFINITY),
                  e.fadd(m, math::LogOp::create(e.b, e.loc, l)));
  }

  /// Generic: one (token, split, head) per index, two passes over the
  /// share's scores (kept in a buffer), no bf16 rounding of probabilities.
  std::pair<ParallelDim, int64_t>
  latentAttentionPartial(MLALatentAttentionPartialOp op) {
    if (config.getStrategy() == KernelStrategy::PositionSplit)
      return latentAttentionPositionSplit(op);
    if (config.getStrategy() == KernelStrategy::PositionSplitMma)
      return latentAttentionPositionSplitMma(op);
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), width = latent + type.getRope();
    int64_t heads = op.getNumHeads(), maxSplits = op.getMaxSplits();
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    Value scores = e.scratch(cache.maxSeq);
    Type f32 = e.b.getF32Type();
    e.loop(e.begin, e.end, [&](Value index) {
      // index = (t * S + s) * H + h: also the element of lse.
      Value h = e.rem(index, e.c64(heads));
      Value ts = e.div(index, e.c64(heads));
      Value s = e.rem(ts, e.c64(maxSplits)), t = e.div(ts, e.c64(maxSplits));
      Value count = e.add(e.loadI64(operand(1), t), e.c64(1));
      auto [splits, share] = positionShares(count, maxSplits);
      ifThen(
          cmpI(arith::CmpIPredicate::slt, s, splits),
          [&] {
            auto [from, to] = shareRange(s, share, count);
            Value slot = e.loadI64(operand(2), t);
            Value q = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(width));
            Value maxScore = e.reduce(
                from, to, e.f32(-INFINITY), [&](Value p, Value running) {
                  Value row = cacheRow(slot, p, width);
                  Value dot =
                      e.reduce(0, width, e.f32(0.0), [&](Value c, Value a) {
                        return e.fma(e.loadBF16(operand(0), e.add(q, c)),
                                     e.loadBF16(cachePtr, e.add(row, c)), a);
                      });
                  Value score = e.fmul(dot, e.f32(softmaxScale));
                  e.store(score, scores, e.fsubI(p, from));
                  return e.fmax(running, score);
                });
            Value sum = e.reduce(from, to, e.f32(0.0), [&](Value p, Value a) {
              Value i = e.fsubI(p, from);
              Value w = e.exp(e.fsub(e.load(scores, f32, i), maxScore));
              e.store(w, scores, i);
              return e.fadd(a, w);
            });
            Value inv = select(cmpF(arith::CmpFPredicate::OGT, sum, e.f32(0.0)),
                               e.fdiv(e.f32(1.0), sum), e.f32(0.0));
            Value out = e.mul(index, e.c64(latent));
            e.loop(0, latent, [&](Value c) {
              Value acc = e.reduce(from, to, e.f32(0.0), [&](Value p, Value a) {
                Value cv =
                    e.loadBF16(cachePtr, e.add(cacheRow(slot, p, width), c));
                return e.fma(e.load(scores, f32, e.fsubI(p, from)), cv, a);
              });
              e.store(e.fmul(acc, inv), result(0), e.add(out, c));
            });
            e.store(logSumExp(maxScore, sum), result(1), index);
          },
          [&] { e.store(e.f32(-INFINITY), result(1), index); });
    });
    return {ParallelDim::TokensTimesStatic, maxSplits * heads};
  }

  /// GPU decode (`position_split`): a block per (token, share, group of
  /// heads); splits the chunk's tokens do not use end at once. The block
  /// walks its share in tiles of 32 cache rows: its threads stage a tile in
  /// shared memory with 16-byte loads, then each warp serves `group /
  /// warps` heads from it, so a cache row is read from memory once for the
  /// whole group. A lane holds 8-column groups lane + 32 i of the latent
  /// (and rotary columns lane + 32 i) of its heads' queries and output
  /// accumulators. Scores: each lane's partial dot products with the 32
  /// rows, summed across the warp by a transposed reduction that leaves the
  /// score of row l on lane l; online softmax per tile (running maximum
  /// and sum, accumulators rescaled); values: the 32 probabilities are
  /// broadcast by shuffles. Every sum has a fixed order (deterministic).
  /// As in attendGroup, probabilities are not rounded to bf16.
  std::pair<ParallelDim, int64_t>
  latentAttentionPositionSplit(MLALatentAttentionPartialOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), ropeDim = type.getRope();
    int64_t width = latent + ropeDim;
    int64_t heads = op.getNumHeads(), maxSplits = op.getMaxSplits();
    int64_t group = positionSplitHeadGroup(heads), groups = heads / group;
    int64_t block = config.getBlock(), warps = block / Emitter::kWarp;
    int64_t perWarp = std::max<int64_t>(1, group / warps);
    int64_t latentChunks = latent / 8, rowChunks = width / 8;
    int64_t chunksPerLane =
        (latentChunks + Emitter::kWarp - 1) / Emitter::kWarp;
    int64_t ropePerLane = (ropeDim + Emitter::kWarp - 1) / Emitter::kWarp;
    int64_t tileChunks = kSplitRows * rowChunks;
    int64_t loadsPerThread = (tileChunks + block - 1) / block;
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    Value tile = sharedPointer("tile", kSplitRows * width / 2);
    Type f32 = e.b.getF32Type();
    e.loop(e.begin, e.end, [&](Value index) {
      Value blockIndex = e.div(index, e.c64(block));
      Value thread = e.rem(index, e.c64(block));
      Value warp = e.div(thread, e.c64(Emitter::kWarp));
      Value lane = e.rem(thread, e.c64(Emitter::kWarp));
      SplitBlock served = splitBlock(blockIndex, maxSplits, groups);
      Value t = served.t, g = served.g, s = served.s, count = served.count;
      Value splits = served.splits, share = served.share;
      // lse[t, s, h] for the heads of this block: (t * S + s) * H + h.
      Value lseBase =
          e.add(e.mul(e.add(e.mul(t, e.c64(maxSplits)), s), e.c64(heads)),
                e.mul(g, e.c64(group)));
      ifThen(
          cmpI(arith::CmpIPredicate::slt, s, splits),
          [&] {
            auto [from, to] = shareRange(s, share, count);
            Value slot = e.loadI64(operand(2), t);
            // This warp's heads (within the group) and their queries.
            SmallVector<Value> headOf;
            SmallVector<SmallVector<Value>> q(perWarp);
            for (int64_t k = 0; k < perWarp; ++k) {
              Value h = e.add(e.mul(g, e.c64(group)),
                              e.add(e.mul(warp, e.c64(perWarp)), e.c64(k)));
              headOf.push_back(h);
              Value row = e.mul(e.add(e.mul(t, e.c64(heads)), h), e.c64(width));
              for (int64_t i = 0; i < chunksPerLane; ++i) {
                auto [chunk, inRange] = laneSlot(lane, i, latentChunks);
                for (Value x : widenBF16x8(loadBF16x8(
                         operand(0), e.add(row, e.mul(chunk, e.c64(8))))))
                  q[k].push_back(select(inRange, x, e.f32(0.0)));
              }
              for (int64_t i = 0; i < ropePerLane; ++i) {
                auto [column, inRange] = laneSlot(lane, i, ropeDim);
                Value x = e.loadBF16(operand(0),
                                     e.add(row, e.add(e.c64(latent), column)));
                q[k].push_back(select(inRange, x, e.f32(0.0)));
              }
            }
            int64_t accumulators = chunksPerLane * 8;
            int64_t stride = 2 + accumulators; // m, l, accumulators
            SmallVector<Value> init;
            for (int64_t k = 0; k < perWarp; ++k) {
              init.append({e.f32(-INFINITY), e.f32(0.0)});
              init.append(accumulators, e.f32(0.0));
            }
            auto tiles = scf::ForOp::create(e.b, e.loc, from, to,
                                            e.c64(kSplitRows), init);
            {
              OpBuilder::InsertionGuard guard(e.b);
              e.b.setInsertionPointToStart(tiles.getBody());
              Value start = tiles.getInductionVar();
              Value lastRow = e.fsubI(to, e.c64(1));
              // Stage the tile: rows past the share repeat the last row
              // (their scores are masked below).
              SmallVector<std::pair<Value, Value>> staged;
              SmallVector<Value> stagedOk;
              for (int64_t i = 0; i < loadsPerThread; ++i) {
                Value chunk = e.add(thread, e.c64(i * block));
                Value ok =
                    cmpI(arith::CmpIPredicate::slt, chunk, e.c64(tileChunks));
                chunk = select(ok, chunk, e.c64(0));
                Value row = e.div(chunk, e.c64(rowChunks));
                Value column = e.mul(e.rem(chunk, e.c64(rowChunks)), e.c64(8));
                Value position = arith::MinSIOp::create(
                    e.b, e.loc, e.add(start, row), lastRow);
                Value value = loadBF16x8(
                    cachePtr, e.add(cacheRow(slot, position, width), column));
                staged.push_back(
                    {value, e.add(e.mul(row, e.c64(width)), column)});
                stagedOk.push_back(ok);
              }
              for (auto [i, item] : llvm::enumerate(staged)) {
                auto store = [&, value = item.first, at = item.second] {
                  storeVector(value, tile, bf16(), at);
                };
                if (tileChunks % block == 0)
                  store();
                else
                  ifThen(stagedOk[i], store);
              }
              barrier();
              // Scores: partial dot products of this lane's columns.
              SmallVector<SmallVector<Value>> parts(perWarp);
              auto laneRow = [&](Value rowBase) {
                SmallVector<Value> c;
                for (int64_t i = 0; i < chunksPerLane; ++i) {
                  Value chunk = laneSlot(lane, i, latentChunks).first;
                  for (Value x : widenBF16x8(loadBF16x8(
                           tile, e.add(rowBase, e.mul(chunk, e.c64(8))))))
                    c.push_back(x);
                }
                return c;
              };
              for (int64_t j = 0; j < kSplitRows; ++j) {
                Value rowBase = e.c64(j * width);
                SmallVector<Value> c = laneRow(rowBase);
                for (int64_t i = 0; i < ropePerLane; ++i) {
                  Value column = laneSlot(lane, i, ropeDim).first;
                  c.push_back(e.loadBF16(
                      tile, e.add(rowBase, e.add(e.c64(latent), column))));
                }
                for (int64_t k = 0; k < perWarp; ++k) {
                  Value dot = e.f32(0.0);
                  for (size_t x = 0; x < c.size(); ++x)
                    dot = e.fma(q[k][x], c[x], dot);
                  parts[k].push_back(dot);
                }
              }
              // Online softmax over the tile; row `lane` is this lane's.
              Value valid =
                  cmpI(arith::CmpIPredicate::slt, e.add(start, lane), to);
              auto args = tiles.getRegionIterArgs();
              SmallVector<Value> probability, next;
              for (int64_t k = 0; k < perWarp; ++k) {
                Value score = select(valid,
                                     e.fmul(transposedWarpSum(parts[k], lane),
                                            e.f32(softmaxScale)),
                                     e.f32(-INFINITY));
                Value m = args[k * stride], l = args[k * stride + 1];
                Value mNext = e.fmax(m, warpMax(score));
                Value alpha = e.exp(e.fsub(m, mNext));
                Value p = e.exp(e.fsub(score, mNext));
                probability.push_back(p);
                next.push_back(mNext);
                next.push_back(e.fadd(e.fmul(l, alpha), e.warpSum(p)));
                for (int64_t x = 0; x < accumulators; ++x)
                  next.push_back(e.fmul(args[k * stride + 2 + x], alpha));
              }
              // Values: acc += p_j c_j over the tile's rows.
              SmallVector<Value> accInit;
              for (int64_t k = 0; k < perWarp; ++k)
                for (int64_t x = 0; x < accumulators; ++x)
                  accInit.push_back(next[k * stride + 2 + x]);
              auto rows = scf::ForOp::create(
                  e.b, e.loc, e.c64(0), e.c64(kSplitRows), e.c64(1), accInit);
              {
                OpBuilder::InsertionGuard inner(e.b);
                e.b.setInsertionPointToStart(rows.getBody());
                Value j = rows.getInductionVar();
                SmallVector<Value> c = laneRow(e.mul(j, e.c64(width)));
                SmallVector<Value> acc;
                for (int64_t k = 0; k < perWarp; ++k) {
                  Value p = shuffleFrom(probability[k], j);
                  for (int64_t x = 0; x < accumulators; ++x)
                    acc.push_back(
                        e.fma(p, c[x],
                              rows.getRegionIterArgs()[k * accumulators + x]));
                }
                scf::YieldOp::create(e.b, e.loc, acc);
              }
              for (int64_t k = 0; k < perWarp; ++k)
                for (int64_t x = 0; x < accumulators; ++x)
                  next[k * stride + 2 + x] =
                      rows.getResult(k * accumulators + x);
              // The tile is read by every warp before the next replaces it.
              barrier();
              scf::YieldOp::create(e.b, e.loc, next);
            }
            for (int64_t k = 0; k < perWarp; ++k) {
              Value m = tiles.getResult(k * stride);
              Value l = tiles.getResult(k * stride + 1);
              Value inv = select(cmpF(arith::CmpFPredicate::OGT, l, e.f32(0.0)),
                                 e.fdiv(e.f32(1.0), l), e.f32(0.0));
              Value h = headOf[k];
              Value rowIndex = e.add(
                  e.mul(e.add(e.mul(t, e.c64(maxSplits)), s), e.c64(heads)), h);
              Value out = e.mul(rowIndex, e.c64(latent));
              for (int64_t i = 0; i < chunksPerLane; ++i) {
                auto [chunk, inRange] = laneSlot(lane, i, latentChunks);
                auto store = [&, i = i, chunk = chunk] {
                  for (int64_t half = 0; half < 2; ++half) {
                    SmallVector<Value> values;
                    for (int64_t x = 0; x < 4; ++x)
                      values.push_back(
                          e.fmul(tiles.getResult(k * stride + 2 + i * 8 +
                                                 half * 4 + x),
                                 inv));
                    storeVector(packF32x4(values), result(0), f32,
                                e.add(out, e.add(e.mul(chunk, e.c64(8)),
                                                 e.c64(half * 4))));
                  }
                };
                if (latentChunks % Emitter::kWarp == 0)
                  store();
                else
                  ifThen(inRange, store);
              }
              ifThen(cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)),
                     [&] { e.store(logSumExp(m, l), result(1), rowIndex); });
            }
          },
          [&] {
            ifThen(cmpI(arith::CmpIPredicate::slt, thread, e.c64(group)), [&] {
              e.store(e.f32(-INFINITY), result(1), e.add(lseBase, thread));
            });
          });
    });
    return {ParallelDim::TokensTimesStatic, maxSplits * groups * block};
  }

  /// GPU decode on tensor cores (`position_split_mma`): a block of 4 warps
  /// per (token, share, group of 16 heads), the heads being the M of
  /// mma.sync m16n8k16 (bf16 operands, f32 accumulators). The group's
  /// queries and the share's cache rows, 32 per tile, are staged in dynamic
  /// shared memory by cp.async (rows padded by 16 bytes so ldmatrix reads
  /// them without bank conflicts); the next tile is in flight while the
  /// current one is used. Per tile, warp w scores rows 8w..8w+7 for the 16
  /// heads (ldmatrix fragments of the queries and rows, four independent
  /// accumulator chains over the width), the scores meet in shared memory,
  /// every warp takes the tile's online-softmax step for all 16 heads (its
  /// lanes hold rows g and g + 8 of the fragments), and warp w accumulates
  /// latent columns [w L/4, (w+1) L/4) of the values with the probabilities
  /// as the A operand (rounded to bf16; their sum stays f32).
  std::pair<ParallelDim, int64_t>
  latentAttentionPositionSplitMma(MLALatentAttentionPartialOp op) {
    LatentCacheType type = op.getCache().getType();
    int64_t latent = type.getLatent(), width = latent + type.getRope();
    int64_t heads = op.getNumHeads(), maxSplits = op.getMaxSplits();
    constexpr int64_t kHeads = kPositionSplitMmaHeads, kWarps = 4;
    constexpr int64_t kBlock = kWarps * Emitter::kWarp;
    int64_t groups = (heads + kHeads - 1) / kHeads;
    PositionSplitMmaLayout layout = positionSplitMmaLayout(width);
    int64_t stride = layout.rowStride, scoreStride = layout.scoreStride;
    int64_t rowChunks = width / 8, columnsPerWarp = latent / kWarps;
    int64_t blocksPerWarp = columnsPerWarp / 8; // n8 blocks of the values
    double softmaxScale = op.getSoftmaxScale().convertToDouble();
    Value cachePtr = operand(3);
    LLVM::GlobalOp shared = dynamicSharedArray();
    Value sharedBase = sharedAddress(shared);
    Value queries = sharedBase;
    Value firstTile = e.add(sharedBase, e.c64(layout.tilesOffset));
    Value scores = e.gep(genericPointer(shared), e.b.getI8Type(),
                         e.c64(layout.scoresOffset));
    Type f32 = e.b.getF32Type();
    auto f32x2 = VectorType::get({2}, f32);
    auto pair = [&](Value x, Value y) {
      Value v = LLVM::UndefOp::create(e.b, e.loc, f32x2);
      v = LLVM::InsertElementOp::create(e.b, e.loc, v, x, c32(0));
      return LLVM::InsertElementOp::create(e.b, e.loc, v, y, c32(1))
          .getResult();
    };
    auto storePair = [&](Value x, Value y, Value base, Value index) {
      LLVM::StoreOp::create(e.b, e.loc, pair(x, y), e.gep(base, f32, index),
                            /*alignment=*/8);
    };
    auto loadPair = [&](Value base, Value index) {
      Value v = LLVM::LoadOp::create(e.b, e.loc, f32x2, e.gep(base, f32, index),
                                     /*alignment=*/8);
      return std::pair<Value, Value>{
          LLVM::ExtractElementOp::create(e.b, e.loc, v, c32(0)),
          LLVM::ExtractElementOp::create(e.b, e.loc, v, c32(1))};
    };
    auto quadReduce = [&](Value v, bool isMax) {
      return lowLanesReduce(v, 4, isMax);
    };
    e.loop(e.begin, e.end, [&](Value index) {
      Value blockIndex = e.div(index, e.c64(kBlock));
      Value thread = e.rem(index, e.c64(kBlock));
      Value warp = e.div(thread, e.c64(Emitter::kWarp));
      Value lane = e.rem(thread, e.c64(Emitter::kWarp));
      // mma.sync fragments: lane holds rows lane/4 and lane/4 + 8, column
      // pair 2 (lane % 4).
      Value row = e.div(lane, e.c64(4)),
            pairColumn = e.mul(e.rem(lane, e.c64(4)), e.c64(2));
      SplitBlock served = splitBlock(blockIndex, maxSplits, groups);
      Value t = served.t, g = served.g, s = served.s, count = served.count;
      Value splits = served.splits, share = served.share;
      Value headBase = e.mul(g, e.c64(kHeads));
      Value lseRow = e.mul(e.add(e.mul(t, e.c64(maxSplits)), s), e.c64(heads));
      ifThen(
          cmpI(arith::CmpIPredicate::slt, s, splits),
          [&] {
            auto [from, to] = shareRange(s, share, count);
            Value slot = e.loadI64(operand(2), t);
            // The group's queries (zeros past the last head): chunk
            // thread + 128 i of the 16 rows' 16-byte chunks.
            int64_t queryChunks = kHeads * rowChunks;
            for (int64_t i = 0; i < (queryChunks + kBlock - 1) / kBlock; ++i) {
              Value chunk = e.add(thread, e.c64(i * kBlock));
              auto copy = [&] {
                Value r = e.div(chunk, e.c64(rowChunks));
                Value column = e.mul(e.rem(chunk, e.c64(rowChunks)), e.c64(8));
                Value head = e.add(headBase, r);
                Value valid =
                    cmpI(arith::CmpIPredicate::slt, head, e.c64(heads));
                head =
                    arith::MinSIOp::create(e.b, e.loc, head, e.c64(heads - 1));
                Value source =
                    e.gep(operand(0), bf16(),
                          e.add(e.mul(e.add(e.mul(t, e.c64(heads)), head),
                                      e.c64(width)),
                                column));
                e.cpAsync(
                    e.add(queries, e.mul(e.add(e.mul(r, e.c64(stride)), column),
                                         e.c64(2))),
                    source, select(valid, c32(16), c32(0)));
              };
              if ((i + 1) * kBlock <= queryChunks)
                copy();
              else
                ifThen(
                    cmpI(arith::CmpIPredicate::slt, chunk, e.c64(queryChunks)),
                    copy);
            }
            // Rows [start, start + 32) of the share into a tile buffer
            // (rows past the share repeat its last; their scores are
            // masked).
            Value lastRow = e.fsubI(to, e.c64(1));
            // Lane l copies row l of the tile, warp w its 16-byte chunks
            // w, w + 4, ...: one page-table read per thread and tile.
            auto loadTile = [&](Value start, Value buffer) {
              Value position = arith::MinSIOp::create(
                  e.b, e.loc, e.add(start, lane), lastRow);
              Value rowBase = cacheRow(slot, position, width);
              Value tileRow = e.add(buffer, e.mul(lane, e.c64(stride * 2)));
              for (int64_t j = 0; j < (rowChunks + kWarps - 1) / kWarps; ++j) {
                Value column = e.mul(e.add(warp, e.c64(j * kWarps)), e.c64(8));
                auto copy = [&] {
                  e.cpAsync(e.add(tileRow, e.mul(column, e.c64(2))),
                            e.gep(cachePtr, bf16(), e.add(rowBase, column)),
                            c32(16));
                };
                if ((j + 1) * kWarps <= rowChunks)
                  copy();
                else
                  ifThen(cmpI(arith::CmpIPredicate::slt, column, e.c64(width)),
                         copy);
              }
            };
            loadTile(from, firstTile);
            e.cpAsyncCommit();
            // Loop-invariant parts of the lanes' ldmatrix addresses (bytes):
            // query matrices j = lane / 8 cover rows 8 (j % 2).., columns
            // 8 (j / 2)..; score matrices rows 8 w + lane % 8, columns
            // 8 ((lane / 8) % 2)..; value matrices (transposed) row `lane`.
            Value laneEight = e.rem(lane, e.c64(8));
            Value matrix = e.div(lane, e.c64(8));
            Value queryLane = e.mul(
                e.add(e.mul(e.add(laneEight,
                                  e.mul(e.rem(matrix, e.c64(2)), e.c64(8))),
                            e.c64(stride)),
                      e.mul(e.div(matrix, e.c64(2)), e.c64(8))),
                e.c64(2));
            Value scoreLane =
                e.mul(e.add(e.mul(e.add(e.mul(warp, e.c64(8)), laneEight),
                                  e.c64(stride)),
                            e.mul(e.rem(matrix, e.c64(2)), e.c64(8))),
                      e.c64(2));
            Value valueLane = e.mul(e.add(e.mul(lane, e.c64(stride)),
                                          e.mul(warp, e.c64(columnsPerWarp))),
                                    e.c64(2));
            // m and l of rows `row` and `row + 8`, the buffer parity, the
            // value accumulators (4 per n8 block).
            SmallVector<Value> init{e.f32(-INFINITY), e.f32(-INFINITY),
                                    e.f32(0.0), e.f32(0.0), e.c64(0)};
            init.append(blocksPerWarp * 4, e.f32(0.0));
            auto tiles = scf::ForOp::create(e.b, e.loc, from, to,
                                            e.c64(kSplitRows), init);
            {
              OpBuilder::InsertionGuard guard(e.b);
              e.b.setInsertionPointToStart(tiles.getBody());
              Value start = tiles.getInductionVar();
              auto args = tiles.getRegionIterArgs();
              Value parity = args[4];
              Value buffer =
                  e.add(firstTile, e.mul(parity, e.c64(layout.tileBytes)));
              Value other = e.add(firstTile, e.mul(e.fsubI(e.c64(1), parity),
                                                   e.c64(layout.tileBytes)));
              Value next = e.add(start, e.c64(kSplitRows));
              ifThen(cmpI(arith::CmpIPredicate::slt, next, to),
                     [&] { loadTile(next, other); });
              e.cpAsyncCommit();
              e.cpAsyncWait(1);
              barrier();
              // Scores of rows 8w..8w+7 for the 16 heads: k16 steps in a
              // loop of kChains steps (independent accumulators, so the
              // products overlap; a loop, not unrolled, keeps the
              // fragments' registers few), the remainder after it.
              constexpr int64_t kChains = 4;
              int64_t steps = width / 16, looped = steps / kChains * kChains;
              auto step = [&](Value k, SmallVector<Value> acc) {
                Value offset = e.mul(k, e.c64(32));
                SmallVector<Value> a = loadMatrices(
                    4, false, e.add(queries, e.add(queryLane, offset)));
                SmallVector<Value> b = loadMatrices(
                    2, false, e.add(buffer, e.add(scoreLane, offset)));
                return mmaBF16(a, b, acc);
              };
              SmallVector<SmallVector<Value>> chains(
                  kChains, SmallVector<Value>(4, e.f32(0.0)));
              if (looped > 0) {
                SmallVector<Value> flat;
                for (auto &chain : chains)
                  flat.append(chain);
                auto kLoop = scf::ForOp::create(
                    e.b, e.loc, e.c64(0), e.c64(looped), e.c64(kChains), flat);
                OpBuilder::InsertionGuard inner(e.b);
                e.b.setInsertionPointToStart(kLoop.getBody());
                SmallVector<Value> yieldedChains;
                for (int64_t c = 0; c < kChains; ++c) {
                  auto acc = kLoop.getRegionIterArgs().slice(4 * c, 4);
                  llvm::append_range(
                      yieldedChains,
                      step(e.add(kLoop.getInductionVar(), e.c64(c)),
                           SmallVector<Value>(acc)));
                }
                scf::YieldOp::create(e.b, e.loc, yieldedChains);
                e.b.setInsertionPointAfter(kLoop);
                for (int64_t c = 0; c < kChains; ++c)
                  chains[c] =
                      SmallVector<Value>(kLoop.getResults().slice(4 * c, 4));
              }
              for (int64_t k = looped; k < steps; ++k)
                chains[k % kChains] = step(e.c64(k), chains[k % kChains]);
              SmallVector<Value> score(4);
              Value column = e.add(e.mul(warp, e.c64(8)), pairColumn);
              Value position = e.add(start, column);
              for (int i = 0; i < 4; ++i) {
                Value sum = chains[0][i];
                for (int c = 1; c < kChains; ++c)
                  sum = e.fadd(sum, chains[c][i]);
                Value valid = cmpI(arith::CmpIPredicate::slt,
                                   e.add(position, e.c64(i % 2)), to);
                score[i] = select(valid, e.fmul(sum, e.f32(softmaxScale)),
                                  e.f32(-INFINITY));
              }
              for (int half = 0; half < 2; ++half)
                storePair(score[2 * half], score[2 * half + 1], scores,
                          e.add(e.mul(e.add(row, e.c64(8 * half)),
                                      e.c64(scoreStride)),
                                column));
              barrier();
              // The online-softmax step of rows `row` and `row + 8`: this
              // lane's 8 columns of each (the A fragments' pairs), the
              // quad's 32 together.
              SmallVector<Value> next4;
              SmallVector<SmallVector<Value>> p(2);
              SmallVector<Value> alpha(2);
              for (int half = 0; half < 2; ++half) {
                Value rowStart =
                    e.mul(e.add(row, e.c64(8 * half)), e.c64(scoreStride));
                SmallVector<Value> v;
                for (int q = 0; q < 4; ++q) {
                  auto [x, y] = loadPair(
                      scores, e.add(rowStart, e.add(pairColumn, e.c64(8 * q))));
                  v.append({x, y});
                }
                Value tileMax = v[0];
                for (size_t i = 1; i < v.size(); ++i)
                  tileMax = e.fmax(tileMax, v[i]);
                Value m = args[half];
                Value mNext = e.fmax(m, quadReduce(tileMax, /*isMax=*/true));
                Value mBase = select(
                    cmpF(arith::CmpFPredicate::OEQ, mNext, e.f32(-INFINITY)),
                    e.f32(0.0), mNext);
                alpha[half] = e.exp(e.fsub(m, mBase));
                Value sum = e.f32(0.0);
                for (Value x : v) {
                  p[half].push_back(e.exp(e.fsub(x, mBase)));
                  sum = e.fadd(sum, p[half].back());
                }
                next4.push_back(mNext);
                next4.push_back(e.fadd(e.fmul(args[2 + half], alpha[half]),
                                       quadReduce(sum, /*isMax=*/false)));
              }
              // A fragments of the two k16 steps: (row, k 2c..), (row + 8,
              // k 2c..), (row, k 2c+8..), (row + 8, k 2c+8..).
              SmallVector<SmallVector<Value>> probabilities(2);
              for (int step = 0; step < 2; ++step)
                for (int q = 0; q < 2; ++q)
                  for (int half = 0; half < 2; ++half) {
                    int i = 4 * step + 2 * q;
                    probabilities[step].push_back(
                        packBF16x2(p[half][i], p[half][i + 1]));
                  }
              SmallVector<Value> yielded{next4[0], next4[2], next4[1], next4[3],
                                         e.fsubI(e.c64(1), parity)};
              for (int64_t j = 0; j < blocksPerWarp; ++j) {
                SmallVector<Value> acc;
                for (int i = 0; i < 4; ++i)
                  acc.push_back(e.fmul(args[5 + 4 * j + i], alpha[i / 2]));
                SmallVector<Value> b = loadMatrices(
                    4, true, e.add(buffer, e.add(valueLane, e.c64(16 * j))));
                acc = mmaBF16(probabilities[0], {b[0], b[1]}, acc);
                acc = mmaBF16(probabilities[1], {b[2], b[3]}, acc);
                yielded.append(acc);
              }
              // Every warp is done with the tile and the scores before
              // they are replaced.
              barrier();
              scf::YieldOp::create(e.b, e.loc, yielded);
            }
            e.cpAsyncWait(0);
            for (int half = 0; half < 2; ++half) {
              Value m = tiles.getResult(half), l = tiles.getResult(2 + half);
              Value inv = select(cmpF(arith::CmpFPredicate::OGT, l, e.f32(0.0)),
                                 e.fdiv(e.f32(1.0), l), e.f32(0.0));
              Value head = e.add(headBase, e.add(row, e.c64(8 * half)));
              ifThen(cmpI(arith::CmpIPredicate::slt, head, e.c64(heads)), [&] {
                Value out = e.mul(e.add(lseRow, head), e.c64(latent));
                for (int64_t j = 0; j < blocksPerWarp; ++j) {
                  Value column = e.add(
                      e.add(e.mul(warp, e.c64(columnsPerWarp)), e.c64(8 * j)),
                      pairColumn);
                  storePair(e.fmul(tiles.getResult(5 + 4 * j + 2 * half), inv),
                            e.fmul(tiles.getResult(6 + 4 * j + 2 * half), inv),
                            result(0), e.add(out, column));
                }
                Value first = arith::AndIOp::create(
                    e.b, e.loc, cmpI(arith::CmpIPredicate::eq, warp, e.c64(0)),
                    cmpI(arith::CmpIPredicate::eq, pairColumn, e.c64(0)));
                ifThen(first, [&] {
                  e.store(logSumExp(m, l), result(1), e.add(lseRow, head));
                });
              });
            }
          },
          [&] {
            Value head = e.add(headBase, thread);
            Value mine = arith::AndIOp::create(
                e.b, e.loc,
                cmpI(arith::CmpIPredicate::slt, thread, e.c64(kHeads)),
                cmpI(arith::CmpIPredicate::slt, head, e.c64(heads)));
            ifThen(mine, [&] {
              e.store(e.f32(-INFINITY), result(1), e.add(lseRow, head));
            });
          });
    });
    return {ParallelDim::TokensTimesStatic, maxSplits * groups * kBlock};
  }

  /// Slot `i` of a lane-strided walk over `limit` items (lane + 32 i),
  /// clamped into range, and whether it is in range.
  std::pair<Value, Value> laneSlot(Value lane, int64_t i, int64_t limit) {
    Value item = e.add(lane, e.c64(i * Emitter::kWarp));
    Value inRange = cmpI(arith::CmpIPredicate::slt, item, e.c64(limit));
    return {select(inRange, item, e.c64(limit - 1)), inRange};
  }

  /// Where a split attention's states lie: `partial` [T, S, H, R] and
  /// `lse` [T, S, H] (f32), read by ds.mla_attention_combine and by
  /// ds.mla_absorb_value's combine(...) clause.
  struct SplitStates {
    Value partial, lse;
    int64_t splits, heads, latent;
    /// lse[t, s, h]'s index (and partial[t, s, h]'s row).
    Value lseIndex(Emitter &e, Value t, Value h, Value s) const {
      return e.add(e.mul(e.add(e.mul(t, e.c64(splits)), s), e.c64(heads)), h);
    }
  };
  /// The states of the op's operands `partial` and `partial + 1`.
  SplitStates splitStates(Operation *op, unsigned partial) {
    auto type = cast<RankedTensorType>(op->getOperand(partial).getType());
    return {operand(partial), operand(partial + 1), type.getDimSize(1),
            type.getDimSize(2), type.getDimSize(3)};
  }

  /// GPU: the merge of token t's splits at head h, latent columns
  /// 4 quad .. 4 quad + 3, by kCombineLanes lanes (`g`, bits 0-2 of the
  /// lane index; the caller's warps are whole): lane g takes shares g,
  /// g + 8, ... The lse scan's loads are all issued before the first is
  /// used (one memory latency, not one per share); the weighted sums keep
  /// kInFlight shares' 16-byte loads in flight per lane, and both are
  /// joined by butterflies over lane bits 0-2. Every lane returns the 4
  /// merged values (f32, before rounding). Fixed orders throughout:
  /// deterministic, and the same in every kernel that merges.
  static constexpr int64_t kCombineLanes = 8;
  SmallVector<Value> combineQuad(const SplitStates &st, Value t, Value h,
                                 Value quad, Value g) {
    constexpr int64_t kInFlight = 4;
    Type f32 = e.b.getF32Type();
    int64_t splits = st.splits;
    auto butterfly = [&](Value v, bool max) {
      return lowLanesReduce(v, kCombineLanes, max);
    };
    // The largest lse and how many shares lead with a finite one (neither
    // depends on the order the lanes read them in).
    SmallVector<Value> lses;
    for (int64_t s = 0; s < splits; s += kCombineLanes) {
      Value share = e.add(g, e.c64(s));
      Value ok = cmpI(arith::CmpIPredicate::slt, share, e.c64(splits));
      Value at = st.lseIndex(e, t, h, select(ok, share, e.c64(splits - 1)));
      lses.push_back(select(ok, e.load(st.lse, f32, at), e.f32(-INFINITY)));
    }
    Value top = e.f32(-INFINITY), finiteCount = e.f32(0.0);
    for (Value lse : lses) {
      Value finite = cmpF(arith::CmpFPredicate::OGT, lse, e.f32(-INFINITY));
      top = e.fmax(top, lse);
      finiteCount = e.fadd(finiteCount, select(finite, e.f32(1.0), e.f32(0.0)));
    }
    top = butterfly(top, /*max=*/true);
    Value used = arith::FPToSIOp::create(e.b, e.loc, e.b.getI64Type(),
                                         butterfly(finiteCount, /*max=*/false));
    SmallVector<Value> init(5 * kInFlight, e.f32(0.0));
    auto sums = scf::ForOp::create(e.b, e.loc, g, used,
                                   e.c64(kCombineLanes * kInFlight), init);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(sums.getBody());
      auto args = sums.getRegionIterArgs();
      SmallVector<Value> next;
      for (int64_t u = 0; u < kInFlight; ++u) {
        Value s = e.add(sums.getInductionVar(), e.c64(u * kCombineLanes));
        Value ok = cmpI(arith::CmpIPredicate::slt, s, used);
        Value at = st.lseIndex(e, t, h, select(ok, s, e.c64(0)));
        Value lse = e.load(st.lse, f32, at);
        Value o = LLVM::LoadOp::create(
            e.b, e.loc, VectorType::get({4}, f32),
            e.gep(st.partial, f32,
                  e.add(e.mul(at, e.c64(st.latent)), e.mul(quad, e.c64(4)))),
            /*alignment=*/16);
        Value w = select(ok, e.exp(e.fsub(lse, top)), e.f32(0.0));
        next.push_back(e.fadd(args[5 * u], w));
        for (int32_t j = 0; j < 4; ++j)
          next.push_back(
              e.fma(w, LLVM::ExtractElementOp::create(e.b, e.loc, o, c32(j)),
                    args[5 * u + 1 + j]));
      }
      scf::YieldOp::create(e.b, e.loc, next);
    }
    SmallVector<Value> total(sums.getResults().take_front(5));
    for (int64_t u = 1; u < kInFlight; ++u)
      for (int64_t j = 0; j < 5; ++j)
        total[j] = e.fadd(total[j], sums.getResult(5 * u + j));
    for (Value &v : total)
      v = butterfly(v, /*max=*/false);
    Value positive = cmpF(arith::CmpFPredicate::OGT, total[0], e.f32(0.0));
    SmallVector<Value> merged;
    for (int64_t j = 0; j < 4; ++j)
      merged.push_back(
          select(positive, e.fdiv(total[1 + j], total[0]), e.f32(0.0)));
    return merged;
  }

  /// GPU (`warp`): kCombineLanes lanes per (token, head, 4 latent
  /// columns), merged by combineQuad, so a token's shares are read by 8
  /// times as many threads as the generic kernel has.
  std::pair<ParallelDim, int64_t>
  attentionCombineWarp(MLAAttentionCombineOp op) {
    SplitStates st = splitStates(op, 0);
    int64_t quads = st.latent / 4;
    e.loop(e.begin, e.end, [&](Value index) {
      Value g = e.rem(index, e.c64(kCombineLanes));
      Value rest = e.div(index, e.c64(kCombineLanes));
      Value quad = e.rem(rest, e.c64(quads));
      Value th = e.div(rest, e.c64(quads));
      Value h = e.rem(th, e.c64(st.heads)), t = e.div(th, e.c64(st.heads));
      SmallVector<Value> merged = combineQuad(st, t, h, quad, g);
      ifThen(cmpI(arith::CmpIPredicate::eq, g, e.c64(0)), [&] {
        Value out = e.add(e.mul(th, e.c64(st.latent)), e.mul(quad, e.c64(4)));
        for (int64_t j = 0; j < 4; ++j)
          e.storeBF16(merged[j], result(), e.add(out, e.c64(j)));
      });
    });
    return {ParallelDim::TokensTimesStatic, st.heads * quads * kCombineLanes};
  }

  /// Host: the merge of token t's splits at head h, latent column c (f32,
  /// before rounding). The shares with a finite lse are a prefix [0, k) of
  /// the S (a token's used shares come first, and only the last of them
  /// can be empty), so a first pass over the lse values finds their
  /// maximum and k, and the second reads the k partial outputs
  /// kCombineUnroll at a time without branches. Sums in a fixed order:
  /// deterministic.
  static constexpr int64_t kCombineUnroll = 8;
  Value combineColumn(const SplitStates &st, Value t, Value h, Value c) {
    Type f32 = e.b.getF32Type(), i64 = e.b.getI64Type();
    auto scan =
        scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(st.splits), e.c64(1),
                           ValueRange{e.f32(-INFINITY), e.c64(0)});
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(scan.getBody());
      Value lse =
          e.load(st.lse, f32, st.lseIndex(e, t, h, scan.getInductionVar()));
      Value finite = cmpF(arith::CmpFPredicate::OGT, lse, e.f32(-INFINITY));
      Value top = e.fmax(scan.getRegionIterArgs()[0], lse);
      Value used = e.add(scan.getRegionIterArgs()[1],
                         arith::ExtUIOp::create(e.b, e.loc, i64, finite));
      scf::YieldOp::create(e.b, e.loc, ValueRange{top, used});
    }
    Value top = scan.getResult(0), used = scan.getResult(1);
    SmallVector<Value> init(2 * kCombineUnroll, e.f32(0.0));
    auto sums = scf::ForOp::create(e.b, e.loc, e.c64(0), used,
                                   e.c64(kCombineUnroll), init);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(sums.getBody());
      SmallVector<Value> next;
      for (int64_t u = 0; u < kCombineUnroll; ++u) {
        Value s = e.add(sums.getInductionVar(), e.c64(u));
        Value ok = cmpI(arith::CmpIPredicate::slt, s, used);
        Value at = st.lseIndex(e, t, h, select(ok, s, e.c64(0)));
        Value lse = e.load(st.lse, f32, at);
        Value o =
            e.load(st.partial, f32, e.add(e.mul(at, e.c64(st.latent)), c));
        Value w = select(ok, e.exp(e.fsub(lse, top)), e.f32(0.0));
        next.push_back(e.fadd(sums.getRegionIterArgs()[2 * u], w));
        next.push_back(e.fma(w, o, sums.getRegionIterArgs()[2 * u + 1]));
      }
      scf::YieldOp::create(e.b, e.loc, next);
    }
    Value weight = sums.getResult(0), acc = sums.getResult(1);
    for (int64_t u = 1; u < kCombineUnroll; ++u) {
      weight = e.fadd(weight, sums.getResult(2 * u));
      acc = e.fadd(acc, sums.getResult(2 * u + 1));
    }
    return select(cmpF(arith::CmpFPredicate::OGT, weight, e.f32(0.0)),
                  e.fdiv(acc, weight), e.f32(0.0));
  }

  /// ds.mla_attention_combine, generic: one (token, head, latent column)
  /// per index (combineColumn).
  std::pair<ParallelDim, int64_t> attentionCombine(MLAAttentionCombineOp op) {
    if (gpu)
      return attentionCombineWarp(op);
    SplitStates st = splitStates(op, 0);
    e.loop(e.begin, e.end, [&](Value index) {
      Value c = e.rem(index, e.c64(st.latent));
      Value th = e.div(index, e.c64(st.latent));
      Value h = e.rem(th, e.c64(st.heads)), t = e.div(th, e.c64(st.heads));
      e.storeBF16(combineColumn(st, t, h, c), result(), index);
    });
    return {ParallelDim::TokensTimesStatic, st.heads * st.latent};
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
};

} // namespace

KernelShape emitAttentionKernel(const KernelBodyContext &context,
                                Operation *op) {
  return AttentionKernels(context).emit(op);
}

/// Per row: its activations, i32 positions (and slots); per attended
/// position: the cache row (latent + rope, bf16) read once. The absorbed
/// form reads the W_UK rows of kv_b in the query kernel and the W_UV rows
/// in the value kernel (each once per launch, so together kv_b once); its
/// attention does 2 H (R + dr) FLOPs per position for the scores and 2 H R
/// for the values. The single-kernel ds.mla_attention expands keys and
/// values from each cached position (2 H (dn + dv) R more per position)
/// unless it is marked absorbed. Page-table reads are not counted.
KernelCost attentionCost(Operation *op) {
  KernelCost cost;
  // kv_b's bytes and the share of them a kernel reads.
  auto kvB = [](Type type, double share) {
    return std::make_pair(weightBytes(type) * share, isFP8(type));
  };
  auto cacheRowBytes = [](Value cache) {
    auto type = cast<LatentCacheType>(cache.getType());
    return 2.0 * (type.getLatent() + type.getRope());
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](MLACacheWriteOp o) {
        LatentCacheType type = o.getCache().getType();
        cost.bytesFixed = weightBytes(o.getNorm().getType());
        cost.bytesPerRow =
            rowBytes(o.getKv()) + 8 + cacheRowBytes(o.getCache());
        cost.flopsPerRow = 4.0 * type.getLatent() + 3.0 * type.getRope();
      })
      .Case([&](MLAAbsorbQueryOp o) {
        double heads = o.getNumHeads(), nope = o.getQkNopeHeadDim(),
               vDim = o.getVHeadDim(), ropeDim = o.getQkRopeHeadDim();
        Type weight = o.getKvB().getType();
        double latent = isFP8(weight)
                            ? cast<FP8BlockWeightType>(weight).getCols()
                            : cast<RankedTensorType>(weight).getDimSize(1);
        std::tie(cost.bytesFixed, cost.fp8) = kvB(weight, nope / (nope + vDim));
        cost.bytesPerRow = rowBytes(o.getQ()) + 4 + rowBytes(o.getResult());
        cost.flopsPerRow = 2 * heads * nope * latent + 3 * heads * ropeDim;
      })
      .Case([&](MLALatentAttentionOp o) {
        auto type = cast<LatentCacheType>(o.getCache().getType());
        double heads = o.getNumHeads(), latent = type.getLatent(),
               ropeDim = type.getRope();
        cost.bytesPerRow = rowBytes(o.getQ()) + 8 + rowBytes(o.getResult());
        cost.bytesPerContext = cacheRowBytes(o.getCache());
        cost.flopsPerContext =
            2 * heads * (latent + ropeDim) + 2 * heads * latent;
      })
      .Case([&](MLALatentAttentionPartialOp o) {
        // As the unsplit op, plus the per-share states: at least one share
        // per token is written (more at run time when a token's positions
        // are split; that traffic depends on the chunk, not on the op).
        auto type = cast<LatentCacheType>(o.getCache().getType());
        double heads = o.getNumHeads(), latent = type.getLatent(),
               ropeDim = type.getRope();
        cost.bytesPerRow =
            rowBytes(o.getQ()) + 8 + 4 * heads * latent + 4 * heads;
        cost.bytesPerContext = cacheRowBytes(o.getCache());
        cost.flopsPerContext =
            2 * heads * (latent + ropeDim) + 2 * heads * latent;
      })
      .Case([&](MLAAttentionCombineOp o) {
        // Every share's lse, at least one share's output, the bf16 result.
        auto partial = cast<RankedTensorType>(o.getPartial().getType());
        double heads = partial.getDimSize(2), latent = partial.getDimSize(3);
        cost.bytesPerRow =
            rowBytes(o.getLse()) + 4 * heads * latent + rowBytes(o.getResult());
        cost.flopsPerRow = 3 * heads * latent;
      })
      .Case([&](MLAAbsorbValueOp o) {
        double heads = o.getNumHeads(), nope = o.getQkNopeHeadDim(),
               vDim = o.getVHeadDim();
        auto oType = cast<RankedTensorType>(o.getO().getType());
        double latent = oType.getShape().back();
        std::tie(cost.bytesFixed, cost.fp8) =
            kvB(o.getKvB().getType(), vDim / (nope + vDim));
        cost.flopsPerRow = 2 * heads * vDim * latent;
        cost.bytesPerRow = rowBytes(o.getResult());
        if (o.getLse()) {
          // The combine's reads (every share's lse, at least one share's
          // state); the merged row is never stored.
          cost.bytesPerRow += rowBytes(o.getLse()) + 4 * heads * latent;
          cost.flopsPerRow += 3 * heads * latent;
        } else {
          cost.bytesPerRow += rowBytes(o.getO());
        }
      })
      .Case([&](MLAAttentionOp o) {
        auto type = cast<LatentCacheType>(o.getCache().getType());
        double heads = o.getNumHeads(), nope = o.getQkNopeHeadDim(),
               vDim = o.getVHeadDim(), ropeDim = o.getQkRopeHeadDim(),
               latent = type.getLatent();
        std::tie(cost.bytesFixed, cost.fp8) = kvB(o.getKvB().getType(), 1.0);
        cost.bytesPerRow = rowBytes(o.getQ()) + 8 + rowBytes(o.getResult());
        cost.bytesPerContext = cacheRowBytes(o.getCache());
        cost.flopsPerRow = 3 * heads * ropeDim;
        if (o.getAbsorbed()) {
          cost.flopsPerRow += 2 * heads * (nope + vDim) * latent;
          cost.flopsPerContext =
              2 * heads * (latent + ropeDim) + 2 * heads * latent;
        } else {
          // Keys and values expanded per position: k_nope = W_UK c and
          // v = W_UV c (2 (dn + dv) R), scores 2 (dn + dr), sums 2 dv.
          cost.flopsPerContext = heads * (2 * (nope + vDim) * latent +
                                          2 * (nope + ropeDim) + 2 * vDim);
        }
      });
  return cost;
}

} // namespace dsc::kernels
