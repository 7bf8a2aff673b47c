//===- Sampling.cpp - the token sampler ---------------------------------===//
//
// The kernel of ds.sample (its op description is the specification): the
// arg-max for greedy rows; for sampled rows the weights exp((l - max) / T),
// top-k / top-p / min-p thresholds found by a 16-bin radix search over the
// weights' bit patterns, and Gumbel-max with hashed uniforms.
//
// One row per CUDA block (`block` strategy), per thread-block cluster
// (`cluster_block`, sm_90+) and per host thread share (`generic`): the same
// algorithm with `walkers` per row (the block's or the cluster's threads,
// or 1). Every pass over the vocabulary is split over the walkers with
// 16-byte loads (four f32 logits or weights); what a pass finds (sums,
// arg-max, a search's 17 bin sums) is combined over the block through shared
// memory and then, in a cluster, over its blocks in rank order through
// distributed shared memory, so every walker ends a pass holding the same
// value and the control flow stays uniform over the block and the cluster
// (every thread reaches every barrier).
//
// What the thread layout cannot change: the weights (each token's own
// expression), the thresholds (the largest bit pattern whose measure reaches
// the target is defined by the weights alone; only the rounding of a sum of
// weights could move it, and top-k's counts are exact integers), the hashed
// uniforms (a function of seed, draw and token), each token's Gumbel score,
// and so the chosen token (the lowest index among equal scores). The order
// in which sums are added depends on the thread count.
//
//===----------------------------------------------------------------------===//

#include "KernelBody.h"
#include "KernelFamilies.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cfloat>
#include <cmath>

namespace dsc::kernels {
namespace {

class SamplingKernels : public KernelBody {
public:
  using KernelBody::KernelBody;

  KernelShape emit(Operation *op) {
    return shape(
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op)
            .Case([&](SampleOp o) { return sample(o); })
            .Case([&](LogProbsOp o) { return logProbs(o); }));
  }

private:
  //===--- ds.sample ---------------------------------------------------===//

  /// Bins of one search pass (each 2^s keys wide), plus one for the keys
  /// above them all.
  static constexpr int64_t kBins = 16;
  /// Token groups in flight per walker and pass.
  static constexpr int64_t kGroups = 4;

  /// Threads per block (1 on the host), blocks per row (a cluster's with
  /// `cluster_block`, else 1), and so walkers per row.
  int64_t threads = 1, blocks = 1;
  int64_t walkers() const { return threads * blocks; }
  /// Consecutive f32 per load: 4 (16 bytes) when rows allow it.
  int64_t vec = 1;
  /// This walker's index within its row (0 on the host), and its thread's
  /// within the block.
  Value thread, local;
  /// CUDA: (value, index) slots of the warps' partial results, the
  /// per-thread bin sums (bin-major), the bins' block totals; in a cluster,
  /// the block's results that its peers read and what the cluster's
  /// combine left for the block. Host: the bin sums on the stack.
  Value partials, bins, totals, exchange, gathered;

  Value shared(StringRef what, int64_t count) {
    Value address =
        LLVM::AddressOfOp::create(e.b, e.loc, sharedArray(what, count));
    return LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrType, address)
        .getResult();
  }
  void barrier() {
    if (gpu)
      NVVM::Barrier0Op::create(e.b, e.loc);
  }
  int64_t warps() const { return threads / Emitter::kWarp; }
  Value yes() { return arith::ConstantIntOp::create(e.b, e.loc, 1, 1); }
  Value notOp(Value c) { return arith::XOrIOp::create(e.b, e.loc, c, yes()); }
  Value andOp(Value x, Value y) {
    return arith::AndIOp::create(e.b, e.loc, x, y);
  }
  Value orOp(Value x, Value y) {
    return arith::OrIOp::create(e.b, e.loc, x, y);
  }
  /// Emits `body` under `cond` (no results).
  void when(Value cond, const std::function<void()> &body) {
    auto ifOp = scf::IfOp::create(e.b, e.loc, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    body();
  }

  /// The sum of every walker's `v`, in every walker: warp sums, then the
  /// warps' sums in warp order through shared memory.
  Value rowSum(Value v) {
    if (!gpu)
      return v;
    Value warp = e.div(local, e.c64(Emitter::kWarp));
    Value lane = e.rem(local, e.c64(Emitter::kWarp));
    v = e.warpSum(v);
    when(cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)),
         [&] { e.store(v, partials, warp); });
    barrier();
    Value sum = e.reduce(0, warps(), e.f32(0.0), [&](Value w, Value acc) {
      return e.fadd(acc, e.load(partials, e.b.getF32Type(), w));
    });
    barrier(); // the slots are free again
    if (blocks == 1)
      return sum;
    when(isFirstThread(), [&] { e.store(sum, exchange, e.c64(0)); });
    return acrossCluster(exchange, {sum.getType()}, 1,
                         [&](ArrayRef<Value> acc, ArrayRef<Value> other) {
                           return SmallVector<Value>{e.fadd(acc[0], other[0])};
                         })
        .front();
  }

  Value isFirstThread() {
    return cmpI(arith::CmpIPredicate::eq, local, e.c64(0));
  }

  /// A barrier of the whole cluster (every thread of its blocks), ordering
  /// the memory accesses before it, shared memory included, before those
  /// after it.
  void clusterBarrier() {
    NVVM::ClusterArriveOp::create(e.b, e.loc, UnitAttr());
    NVVM::ClusterWaitOp::create(e.b, e.loc, UnitAttr());
  }

  /// The cluster's combine: `records` records of `types.size()` 4-byte
  /// values, each block's at `source` in its shared memory (written by the
  /// block before the call). Thread r of each block folds record r over
  /// the blocks in rank order with `fold` (the same order in every block),
  /// and every thread returns the folded records, record-major. Two
  /// cluster barriers: the first publishes `source`, the second the folds
  /// (and frees `source` and `gathered` for the next combine).
  SmallVector<Value> acrossCluster(
      Value source, ArrayRef<Type> types, int64_t records,
      const std::function<SmallVector<Value>(ArrayRef<Value>, ArrayRef<Value>)>
          &fold) {
    int64_t width = types.size();
    clusterBarrier();
    when(cmpI(arith::CmpIPredicate::slt, local, e.c64(records)), [&] {
      auto recordOf = [&](int64_t rank) {
        Value peer = NVVM::MapaOp::create(e.b, e.loc, e.ptrType, source,
                                          c32(static_cast<int32_t>(rank)));
        SmallVector<Value> values;
        for (int64_t j = 0; j < width; ++j)
          values.push_back(e.load(peer, types[j],
                                  e.add(e.mul(local, e.c64(width)), e.c64(j))));
        return values;
      };
      SmallVector<Value> acc = recordOf(0);
      for (int64_t rank = 1; rank < blocks; ++rank)
        acc = fold(acc, recordOf(rank));
      for (int64_t j = 0; j < width; ++j)
        e.store(acc[j], gathered, e.add(e.mul(local, e.c64(width)), e.c64(j)));
    });
    clusterBarrier();
    SmallVector<Value> out;
    for (int64_t r = 0; r < records; ++r)
      for (int64_t j = 0; j < width; ++j)
        out.push_back(e.load(gathered, types[j], e.c64(r * width + j)));
    return out;
  }

  /// (value, i32 index) with the largest value over every walker, the
  /// lowest index on ties, in every walker.
  std::pair<Value, Value> rowArgmax(Value v, Value i) {
    if (!gpu)
      return {v, i};
    Value warp = e.div(local, e.c64(Emitter::kWarp));
    Value lane = e.rem(local, e.c64(Emitter::kWarp));
    std::tie(v, i) = laneArgmax(v, i);
    when(cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)), [&] {
      e.store(v, partials, warp);
      e.store(i, partials, e.add(warp, e.c64(warps())));
    });
    barrier();
    auto forOp =
        scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(warps()), e.c64(1),
                           ValueRange{e.f32(-INFINITY), c32(0)});
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(forOp.getBody());
      Value w = forOp.getInductionVar();
      Value best = forOp.getRegionIterArgs()[0];
      Value bestIndex = forOp.getRegionIterArgs()[1];
      Value ov = e.load(partials, e.b.getF32Type(), w);
      Value oi = e.load(partials, i32(), e.add(w, e.c64(warps())));
      Value take = orOp(cmpF(arith::CmpFPredicate::OGT, ov, best),
                        andOp(cmpF(arith::CmpFPredicate::OEQ, ov, best),
                              cmpI(arith::CmpIPredicate::slt, oi, bestIndex)));
      scf::YieldOp::create(
          e.b, e.loc,
          ValueRange{select(take, ov, best), select(take, oi, bestIndex)});
    }
    barrier();
    if (blocks == 1)
      return {forOp.getResult(0), forOp.getResult(1)};
    when(isFirstThread(), [&] {
      e.store(forOp.getResult(0), exchange, e.c64(0));
      e.store(forOp.getResult(1), exchange, e.c64(1));
    });
    SmallVector<Value> best = acrossCluster(
        exchange, {e.b.getF32Type(), i32()}, 1,
        [&](ArrayRef<Value> acc, ArrayRef<Value> other) {
          Value take =
              orOp(cmpF(arith::CmpFPredicate::OGT, other[0], acc[0]),
                   andOp(cmpF(arith::CmpFPredicate::OEQ, other[0], acc[0]),
                         cmpI(arith::CmpIPredicate::slt, other[1], acc[1])));
          return SmallVector<Value>{select(take, other[0], acc[0]),
                                    select(take, other[1], acc[1])};
        });
    return {best[0], best[1]};
  }

  /// One pass over a row of `count` f32 at `base + rowStart`: this walker's
  /// groups of `vec` consecutive tokens (group starts thread * vec + k *
  /// walkers * vec, so a walker sees its tokens in increasing order), kGroups
  /// groups loaded together. body(xs, first, inRange, state) returns the
  /// next state; out-of-range groups read the last group and must not count.
  SmallVector<Value> forEachGroup(
      Value base, Value rowStart, int64_t count, ValueRange init,
      const std::function<SmallVector<Value>(ArrayRef<Value>, Value, Value,
                                             ValueRange)> &body) {
    Type f32 = e.b.getF32Type();
    int64_t stride = walkers() * vec;
    auto forOp =
        scf::ForOp::create(e.b, e.loc, e.mul(thread, e.c64(vec)), e.c64(count),
                           e.c64(stride * kGroups), init);
    OpBuilder::InsertionGuard guard(e.b);
    // A loop without state comes with its terminator.
    bool stateless = init.empty();
    if (stateless)
      e.b.setInsertionPoint(forOp.getBody()->getTerminator());
    else
      e.b.setInsertionPointToStart(forOp.getBody());
    SmallVector<std::tuple<SmallVector<Value>, Value, Value>> groups;
    for (int64_t g = 0; g < kGroups; ++g) {
      Value first = e.add(forOp.getInductionVar(), e.c64(g * stride));
      Value inRange = cmpI(arith::CmpIPredicate::slt, first, e.c64(count));
      first = select(inRange, first, e.c64(count - vec));
      Value address = e.gep(base, f32, e.add(rowStart, first));
      SmallVector<Value> xs;
      if (vec == 1) {
        xs.push_back(LLVM::LoadOp::create(e.b, e.loc, f32, address));
      } else {
        Value v = LLVM::LoadOp::create(e.b, e.loc, VectorType::get({vec}, f32),
                                       address, /*alignment=*/gpu ? 16 : 4);
        for (int64_t j = 0; j < vec; ++j)
          xs.push_back(LLVM::ExtractElementOp::create(e.b, e.loc, v, c32(j)));
      }
      groups.push_back({xs, first, inRange});
    }
    SmallVector<Value> state(forOp.getRegionIterArgs().begin(),
                             forOp.getRegionIterArgs().end());
    for (auto &[xs, first, inRange] : groups)
      state = body(xs, first, inRange, state);
    if (!stateless)
      scf::YieldOp::create(e.b, e.loc, state);
    return SmallVector<Value>(forOp.getResults().begin(),
                              forOp.getResults().end());
  }

  /// f32 `w` as a search key: non-negative floats order like their bits.
  Value key(Value w) { return bitcast(i32(), w); }

  /// The largest key t in [lo, hi] (0 < lo <= hi < 2^30) with measure(t) >=
  /// target, where measure(t) = sum of valueOf(w) over the row's weights w
  /// with key(w) >= t (decreasing in t; measure(lo) >= target). A radix
  /// search: each pass sorts the keys at or above l into 16 bins of 2^s keys
  /// from l (and one for the keys above them), sums each bin over the block,
  /// and moves l to the start of the last bin whose measure (its sum and all
  /// above it) reaches the target; s shrinks by 4 per pass, so 8 passes
  /// settle any span under 2^30, and a pass with s = 0 ends the search. The
  /// answer depends on the weights only, not on the bins: a walker that
  /// counted in another order finds the same key unless a sum rounds across
  /// the target.
  Value search(Value lo, Value hi, Value target, Value weights, Value rowStart,
               int64_t vocab, const std::function<Value(Value)> &valueOf) {
    Type f32 = e.b.getF32Type();
    // The first width: the least s with hi - lo < 16 * 2^s; s = -1 when
    // there is nothing left to search.
    Value span = e.fsubI(hi, lo);
    Value s = c32(0);
    for (int32_t k = 4; k <= 30; ++k)
      s = select(cmpI(arith::CmpIPredicate::sge, span, c32(1 << k)), c32(k - 3),
                 s);
    s = select(cmpI(arith::CmpIPredicate::eq, span, c32(0)), c32(-1), s);
    auto forOp = scf::ForOp::create(e.b, e.loc, e.c64(0), e.c64(9), e.c64(1),
                                    ValueRange{lo, s});
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(forOp.getBody());
    Value l = forOp.getRegionIterArgs()[0],
          width = forOp.getRegionIterArgs()[1];
    auto ifOp = scf::IfOp::create(
        e.b, e.loc, TypeRange{l.getType(), width.getType()},
        cmpI(arith::CmpIPredicate::sge, width, c32(0)), /*withElse=*/true);
    {
      OpBuilder::InsertionGuard inner(e.b);
      e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      // This walker's bins start at zero.
      Value mine = gpu ? local : e.c64(0);
      int64_t binStride = gpu ? threads : 1;
      for (int64_t b = 0; b <= kBins; ++b)
        e.store(e.f32(0.0), bins, e.add(mine, e.c64(b * binStride)));
      forEachGroup(
          weights, rowStart, vocab, ValueRange{},
          [&](ArrayRef<Value> ws, Value, Value inRange, ValueRange) {
            for (Value w : ws) {
              Value k = key(w);
              when(andOp(inRange, cmpI(arith::CmpIPredicate::sge, k, l)), [&] {
                Value bin =
                    arith::ShRUIOp::create(e.b, e.loc, e.fsubI(k, l), width);
                bin = arith::MinUIOp::create(e.b, e.loc, bin, c32(kBins));
                Value slot =
                    e.add(mine, e.mul(e.i32ToI64(bin), e.c64(binStride)));
                e.store(e.fadd(e.load(bins, f32, slot), valueOf(w)), bins,
                        slot);
              });
            }
            return SmallVector<Value>{};
          });
      // Bin totals: on CUDA warp w sums bins w, w + warps, ... over the
      // block's threads.
      SmallVector<Value> sums;
      if (gpu) {
        barrier();
        Value warp = e.div(local, e.c64(Emitter::kWarp));
        Value lane = e.rem(local, e.c64(Emitter::kWarp));
        auto binLoop = scf::ForOp::create(e.b, e.loc, warp, e.c64(kBins + 1),
                                          e.c64(warps()));
        {
          OpBuilder::InsertionGuard body(e.b);
          e.b.setInsertionPoint(binLoop.getBody()->getTerminator());
          Value b = binLoop.getInductionVar();
          Value part = e.reduceStep(
              lane, e.c64(threads), Emitter::kWarp, e.f32(0.0),
              [&](Value t, Value acc) {
                return e.fadd(
                    acc, e.load(bins, f32, e.add(e.mul(b, e.c64(threads)), t)));
              });
          part = e.warpSum(part);
          when(cmpI(arith::CmpIPredicate::eq, lane, e.c64(0)),
               [&] { e.store(part, totals, b); });
        }
        barrier();
        if (blocks == 1) {
          for (int64_t b = 0; b <= kBins; ++b)
            sums.push_back(e.load(totals, f32, e.c64(b)));
        } else {
          sums = acrossCluster(totals, {f32}, kBins + 1,
                               [&](ArrayRef<Value> acc, ArrayRef<Value> other) {
                                 return SmallVector<Value>{
                                     e.fadd(acc[0], other[0])};
                               });
        }
      } else {
        for (int64_t b = 0; b <= kBins; ++b)
          sums.push_back(e.load(bins, f32, e.c64(b)));
      }
      // measure(l + b 2^s) = the sum of bins b..16; the measures reaching
      // the target are those of b = 0 .. the answer's bin.
      Value measure = sums[kBins];
      Value chosen = c32(0);
      for (int64_t b = kBins - 1; b >= 1; --b) {
        measure = e.fadd(measure, sums[b]);
        chosen = arith::AddIOp::create(
            e.b, e.loc, chosen,
            arith::ExtUIOp::create(
                e.b, e.loc, i32(),
                cmpF(arith::CmpFPredicate::OGE, measure, target)));
      }
      Value newL = arith::AddIOp::create(
          e.b, e.loc, l, arith::ShLIOp::create(e.b, e.loc, chosen, width));
      Value newWidth =
          select(cmpI(arith::CmpIPredicate::eq, width, c32(0)), c32(-1),
                 arith::MaxSIOp::create(
                     e.b, e.loc,
                     arith::SubIOp::create(e.b, e.loc, width, c32(4)), c32(0)));
      scf::YieldOp::create(e.b, e.loc, ValueRange{newL, newWidth});
      e.b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(e.b, e.loc, ValueRange{l, width});
    }
    scf::YieldOp::create(e.b, e.loc, ifOp.getResults());
    return forOp.getResult(0);
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

  /// The Gumbel-max score ln w + g of token i (w > 0), g = -ln(-ln u) with u
  /// in (0, 1) from the top 24 bits of the token's hash: (bits + 0.5) / 2^24,
  /// at most the largest float below 1 (so g < 16.7).
  Value gumbelScore(Value stream, Value i, Value w) {
    Type f32 = e.b.getF32Type();
    Value bits = mix64(e.add(
        stream, e.mul(e.add(i, e.c64(1)),
                      e.c64(static_cast<int64_t>(0xd1b54a32d192ed03ULL)))));
    Value top24 = arith::ShRUIOp::create(e.b, e.loc, bits, e.c64(40));
    Value u = e.fmul(
        e.fadd(arith::UIToFPOp::create(e.b, e.loc, f32, top24), e.f32(0.5)),
        e.f32(1.0 / 16777216.0));
    u = arith::MinimumFOp::create(e.b, e.loc, u,
                                  e.f32(std::nextafter(1.0f, 0.0f)));
    auto log = [&](Value x) {
      return math::LogOp::create(e.b, e.loc, x).getResult();
    };
    Value gumbel = e.fsub(e.f32(0.0), log(e.fsub(e.f32(0.0), log(u))));
    return e.fadd(log(w), gumbel);
  }

  /// The sampled branch of ds.sample for one row (see the op): weights to
  /// result 1, thresholds by radix searches over the weights' bit patterns,
  /// then Gumbel-max over the kept tokens.
  Value sampleRow(int64_t vocab, Value logitsRow, Value maxLogit,
                  Value temperature, Value topK, Value topP, Value minP,
                  Value seed, Value draw) {
    Type f32 = e.b.getF32Type();
    Value weights = result(1);
    Value infinite = cmpF(arith::CmpFPredicate::OEQ, maxLogit, e.f32(INFINITY));
    // Pass 1: w = exp((l - max) / T), stored; +inf logits weigh 1, the
    // rest 0, when the maximum is +inf. Their sum is what top-p measures
    // against when top-k keeps every token.
    Value partTotal =
        forEachGroup(
            operand(0), logitsRow, vocab, ValueRange{e.f32(0.0)},
            [&](ArrayRef<Value> xs, Value first, Value inRange,
                ValueRange state) {
              SmallVector<Value> ws;
              Value sum = state[0];
              for (Value x : xs) {
                x = select(cmpF(arith::CmpFPredicate::UNO, x, x),
                           e.f32(-INFINITY), x);
                Value scaled = e.exp(e.fdiv(e.fsub(x, maxLogit), temperature));
                Value top =
                    select(cmpF(arith::CmpFPredicate::OEQ, x, e.f32(INFINITY)),
                           e.f32(1.0), e.f32(0.0));
                Value w = select(infinite, top, scaled);
                ws.push_back(w);
                sum = e.fadd(sum, select(inRange, w, e.f32(0.0)));
              }
              Value address = e.gep(weights, f32, e.add(logitsRow, first));
              if (vec == 1) {
                LLVM::StoreOp::create(e.b, e.loc, ws[0], address);
              } else {
                Value v = LLVM::UndefOp::create(e.b, e.loc,
                                                VectorType::get({vec}, f32));
                for (int64_t j = 0; j < vec; ++j)
                  v = LLVM::InsertElementOp::create(e.b, e.loc, v, ws[j],
                                                    c32(j));
                LLVM::StoreOp::create(e.b, e.loc, v, address,
                                      /*alignment=*/gpu ? 16 : 4);
              }
              return SmallVector<Value>{sum};
            })
            .front();
    // The stores above are this walker's own tokens, which every later pass
    // gives it again; the reduction's barrier orders the rest.
    Value total = rowSum(partTotal);
    Value one = key(e.f32(1.0)), smallest = c32(1); // the least positive
    auto imax = [&](Value x, Value y) {
      return arith::MaxSIOp::create(e.b, e.loc, x, y).getResult();
    };
    // min-p: w >= min_p (the best token weighs 1).
    Value threshold = imax(smallest, key(minP));
    // top-k: the k-th largest weight.
    Value useK = andOp(cmpI(arith::CmpIPredicate::sgt, topK, e.c64(0)),
                       cmpI(arith::CmpIPredicate::slt, topK, e.c64(vocab)));
    Value kKey = ifElse(
        useK,
        [&]() -> Value {
          Value target = arith::SIToFPOp::create(e.b, e.loc, f32, topK);
          return search(smallest, one, target, weights, logitsRow, vocab,
                        [&](Value) { return e.f32(1.0); });
        },
        smallest);
    threshold = imax(threshold, kKey);
    // top-p over the tokens top-k keeps (all of them without top-k).
    Value useP = cmpF(arith::CmpFPredicate::OLT, topP, e.f32(1.0));
    Value pKey = ifElse(
        useP,
        [&]() -> Value {
          auto keptByK = [&]() -> Value {
            Value part =
                forEachGroup(
                    weights, logitsRow, vocab, ValueRange{e.f32(0.0)},
                    [&](ArrayRef<Value> ws, Value, Value inRange,
                        ValueRange state) {
                      Value sum = state[0];
                      for (Value w : ws)
                        sum = e.fadd(
                            sum, select(andOp(inRange,
                                              cmpI(arith::CmpIPredicate::sge,
                                                   key(w), kKey)),
                                        w, e.f32(0.0)));
                      return SmallVector<Value>{sum};
                    })
                    .front();
            return rowSum(part);
          };
          auto kept = scf::IfOp::create(e.b, e.loc, TypeRange{f32}, useK,
                                        /*withElse=*/true);
          {
            OpBuilder::InsertionGuard guard(e.b);
            e.b.setInsertionPointToStart(&kept.getThenRegion().front());
            scf::YieldOp::create(e.b, e.loc, keptByK());
            e.b.setInsertionPointToStart(&kept.getElseRegion().front());
            scf::YieldOp::create(e.b, e.loc, total);
          }
          return search(kKey, one, e.fmul(topP, kept.getResult(0)), weights,
                        logitsRow, vocab, [](Value w) { return w; });
        },
        smallest);
    threshold = imax(threshold, pKey);
    // Gumbel-max over the kept tokens. The best token (w = 1) is kept
    // whenever any is, and scores at least g_min = -ln(-ln 2^-25) > -2.86;
    // a token with ln w < -20 scores below -20 + 16.7 and cannot win, so
    // only tokens weighing e^-20 or more are scored (the same winner).
    Value hopeless = key(e.f32(std::exp(-20.0)));
    Value gate = imax(threshold, hopeless);
    Value stream = mix64(arith::XOrIOp::create(
        e.b, e.loc, seed,
        mix64(
            e.add(draw, e.c64(static_cast<int64_t>(0x9e3779b97f4a7c15ULL))))));
    SmallVector<Value> best = forEachGroup(
        weights, logitsRow, vocab, ValueRange{e.f32(-INFINITY), c32(0)},
        [&](ArrayRef<Value> ws, Value first, Value inRange, ValueRange state) {
          // In index order, so the first of equal scores stays.
          Value bestScore = state[0], bestIndex = state[1];
          for (size_t j = 0; j < ws.size(); ++j) {
            Value i = e.add(first, e.c64(static_cast<int64_t>(j)));
            Value candidate = andOp(
                inRange, cmpI(arith::CmpIPredicate::sge, key(ws[j]), gate));
            auto scored = scf::IfOp::create(e.b, e.loc, TypeRange{f32},
                                            candidate, /*withElse=*/true);
            {
              OpBuilder::InsertionGuard guard(e.b);
              e.b.setInsertionPointToStart(&scored.getThenRegion().front());
              scf::YieldOp::create(e.b, e.loc, gumbelScore(stream, i, ws[j]));
              e.b.setInsertionPointToStart(&scored.getElseRegion().front());
              scf::YieldOp::create(e.b, e.loc, e.f32(-INFINITY));
            }
            Value score = scored.getResult(0);
            Value better = cmpF(arith::CmpFPredicate::OGT, score, bestScore);
            bestScore = select(better, score, bestScore);
            bestIndex =
                select(better, arith::TruncIOp::create(e.b, e.loc, i32(), i),
                       bestIndex);
          }
          return SmallVector<Value>{bestScore, bestIndex};
        });
    return rowArgmax(best[0], best[1]).second;
  }

  //===--- ds.logprobs -------------------------------------------------===//

  /// Bins of one radix-selection pass: 8 bits of a key.
  static constexpr int64_t kRadixBins = 256;

  /// CUDA: the block's (chosen digit, count above it, its count) cells and
  /// the next free slot of the gathered top tokens. Host: the bins and the
  /// cells on the stack.
  Value radixBins, radixPick, topKeys, topIds, topCount;

  /// The f32 logit `x` (NaN as -inf) as an i32 key whose unsigned order is
  /// the floats' order: negative floats with every bit flipped, the rest
  /// with the sign bit set.
  Value orderedKey(Value x) {
    Value bits = bitcast(i32(), x);
    Value negative = cmpI(arith::CmpIPredicate::slt, bits, c32(0));
    return select(negative, arith::XOrIOp::create(e.b, e.loc, bits, c32(-1)),
                  arith::OrIOp::create(e.b, e.loc, bits, c32(INT32_MIN)));
  }
  Value noNaN(Value x) {
    return select(cmpF(arith::CmpFPredicate::UNO, x, x), e.f32(-INFINITY), x);
  }
  Value shr(Value x, int64_t n) {
    return arith::ShRUIOp::create(e.b, e.loc, x, c32(static_cast<int32_t>(n)));
  }
  /// Adds 1 to the i32 count at `base[index]`: atomically on CUDA (the
  /// block's threads share the bins), a plain update on the host.
  Value countUp(Value base, Value index) {
    Value at = e.gep(base, i32(), index);
    if (gpu)
      return LLVM::AtomicRMWOp::create(e.b, e.loc, LLVM::AtomicBinOp::add, at,
                                       c32(1), LLVM::AtomicOrdering::monotonic)
          .getResult();
    Value old = LLVM::LoadOp::create(e.b, e.loc, i32(), at);
    LLVM::StoreOp::create(e.b, e.loc,
                          arith::AddIOp::create(e.b, e.loc, old, c32(1)), at);
    return old;
  }

  /// Radix selection: the `need`-th largest key (unsigned, `bits` wide, a
  /// multiple of 8) among the row's tokens that `eligible` admits, 8 bits a
  /// pass from the top. Each pass counts, per value of the next 8 bits, the
  /// eligible keys that match the bits chosen so far, and picks the largest
  /// digit d whose keys with digits >= d number at least `need` (less those
  /// above d). Returns the key, how many tokens with exactly that key are
  /// still needed (at least 1), and how many have it. Counts are integers,
  /// so the result depends on the keys alone.
  std::tuple<Value, Value, Value>
  radixSelect(Value logitsRow, int64_t vocab, Value need, int64_t bits,
              const std::function<Value(Value, Value)> &keyOf,
              const std::function<Value(Value, Value)> &eligible) {
    Value prefix = c32(0), tied = c32(0);
    Value lane = e.rem(local, e.c64(Emitter::kWarp));
    for (int64_t shift = bits - 8; shift >= 0; shift -= 8) {
      // Empty bins.
      if (gpu) {
        e.loop(
            local, e.c64(kRadixBins),
            [&](Value b) { e.store(c32(0), radixBins, b); }, threads);
        barrier();
      } else {
        e.loop(0, kRadixBins, [&](Value b) { e.store(c32(0), radixBins, b); });
      }
      Value decided = prefix;
      forEachGroup(
          operand(0), logitsRow, vocab, ValueRange{},
          [&](ArrayRef<Value> xs, Value first, Value inRange, ValueRange) {
            for (size_t j = 0; j < xs.size(); ++j) {
              Value i = e.add(first, e.c64(static_cast<int64_t>(j)));
              Value x = noNaN(xs[j]);
              Value key = keyOf(x, i);
              Value match = andOp(inRange, eligible(x, i));
              if (shift + 8 < bits)
                match = andOp(match, cmpI(arith::CmpIPredicate::eq,
                                          shr(key, shift + 8),
                                          shr(decided, shift + 8)));
              when(match, [&] {
                Value digit = arith::AndIOp::create(e.b, e.loc, shr(key, shift),
                                                    c32(kRadixBins - 1));
                countUp(radixBins, e.i32ToI64(digit));
              });
            }
            return SmallVector<Value>{};
          });
      // The digit: the largest d with (keys at digits >= d) >= need.
      if (gpu) {
        barrier();
        // Warp 0: lane l holds bins 8 l .. 8 l + 7; the counts at or above
        // each lane's bins by a suffix scan over the lanes.
        when(cmpI(arith::CmpIPredicate::slt, local, e.c64(Emitter::kWarp)),
             [&] {
               constexpr int64_t per = kRadixBins / Emitter::kWarp;
               SmallVector<Value> counts;
               Value own = c32(0);
               for (int64_t k = 0; k < per; ++k) {
                 counts.push_back(
                     e.load(radixBins, i32(),
                            e.add(e.mul(lane, e.c64(per)), e.c64(k))));
                 own = arith::AddIOp::create(e.b, e.loc, own, counts.back());
               }
               Value atOrAbove = own;
               auto down = NVVM::ShflKindAttr::get(e.b.getContext(),
                                                   NVVM::ShflKind::down);
               for (int32_t offset = 1; offset < Emitter::kWarp; offset *= 2) {
                 Value other = NVVM::ShflOp::create(
                     e.b, e.loc, i32(), c32(-1), atOrAbove, c32(offset),
                     c32(Emitter::kWarp - 1), down, UnitAttr());
                 Value inWarp =
                     cmpI(arith::CmpIPredicate::slt, e.add(lane, e.c64(offset)),
                          e.c64(Emitter::kWarp));
                 atOrAbove = arith::AddIOp::create(
                     e.b, e.loc, atOrAbove, select(inWarp, other, c32(0)));
               }
               Value acc = arith::SubIOp::create(e.b, e.loc, atOrAbove, own);
               Value found = cmpI(arith::CmpIPredicate::ne, c32(0), c32(0));
               Value digit = c32(0), above = c32(0), count = c32(0);
               for (int64_t k = per - 1; k >= 0; --k) {
                 Value next = arith::AddIOp::create(e.b, e.loc, acc, counts[k]);
                 Value hit =
                     andOp(notOp(found),
                           andOp(cmpI(arith::CmpIPredicate::slt, acc, need),
                                 cmpI(arith::CmpIPredicate::sge, next, need)));
                 Value d = arith::TruncIOp::create(
                     e.b, e.loc, i32(),
                     e.add(e.mul(lane, e.c64(per)), e.c64(k)));
                 digit = select(hit, d, digit);
                 above = select(hit, acc, above);
                 count = select(hit, counts[k], count);
                 found = orOp(found, hit);
                 acc = next;
               }
               when(found, [&] {
                 e.store(digit, radixPick, e.c64(0));
                 e.store(above, radixPick, e.c64(1));
                 e.store(count, radixPick, e.c64(2));
               });
             });
        barrier();
      } else {
        auto forOp = scf::ForOp::create(
            e.b, e.loc, e.c64(0), e.c64(kRadixBins), e.c64(1),
            ValueRange{c32(0), c32(0), c32(0), c32(0),
                       cmpI(arith::CmpIPredicate::ne, c32(0), c32(0))});
        {
          OpBuilder::InsertionGuard guard(e.b);
          e.b.setInsertionPointToStart(forOp.getBody());
          Value d = e.fsubI(e.c64(kRadixBins - 1), forOp.getInductionVar());
          ValueRange st = forOp.getRegionIterArgs();
          Value acc = st[0], found = st[4];
          Value c = e.load(radixBins, i32(), d);
          Value next = arith::AddIOp::create(e.b, e.loc, acc, c);
          Value hit = andOp(notOp(found),
                            andOp(cmpI(arith::CmpIPredicate::slt, acc, need),
                                  cmpI(arith::CmpIPredicate::sge, next, need)));
          scf::YieldOp::create(
              e.b, e.loc,
              ValueRange{next,
                         select(hit,
                                arith::TruncIOp::create(e.b, e.loc, i32(), d),
                                st[1]),
                         select(hit, acc, st[2]), select(hit, c, st[3]),
                         orOp(found, hit)});
        }
        e.store(forOp.getResult(1), radixPick, e.c64(0));
        e.store(forOp.getResult(2), radixPick, e.c64(1));
        e.store(forOp.getResult(3), radixPick, e.c64(2));
      }
      Value digit = e.load(radixPick, i32(), e.c64(0));
      Value above = e.load(radixPick, i32(), e.c64(1));
      tied = e.load(radixPick, i32(), e.c64(2));
      prefix = arith::OrIOp::create(
          e.b, e.loc, prefix,
          arith::ShLIOp::create(e.b, e.loc, digit,
                                c32(static_cast<int32_t>(shift))));
      need = arith::SubIOp::create(e.b, e.loc, need, above);
      // Every thread has read the cells before the next pass rewrites them
      // (after that pass's own barriers).
    }
    return {prefix, need, tied};
  }

  /// The kernel of ds.logprobs (see the op) for one row.
  void logProbsRow(int64_t vocab, int64_t top, Value row, Value logitsRow) {
    Type f32 = e.b.getF32Type();
    Value words = e.mul(row, e.c64(8));
    Value temperature = bitcast(f32, e.load(operand(2), i32(), words));
    Value scale =
        select(cmpF(arith::CmpFPredicate::OGT, temperature, e.f32(0.0)),
               temperature, e.f32(1.0));
    // Pass 1: the largest logit.
    SmallVector<Value> part = forEachGroup(
        operand(0), logitsRow, vocab, ValueRange{e.f32(-INFINITY), c32(0)},
        [&](ArrayRef<Value> xs, Value, Value inRange, ValueRange state) {
          Value best = state[0];
          for (Value x : xs)
            best = select(inRange, e.fmax(best, noNaN(x)), best);
          return SmallVector<Value>{best, state[1]};
        });
    Value maxLogit = rowArgmax(part[0], part[1]).first;
    Value finite =
        andOp(cmpF(arith::CmpFPredicate::ONE, maxLogit, e.f32(INFINITY)),
              cmpF(arith::CmpFPredicate::ONE, maxLogit, e.f32(-INFINITY)));
    // Pass 2: the sum of the weights exp((l - max) / T), or the count of
    // +inf logits when the largest is +inf.
    SmallVector<Value> sums = forEachGroup(
        operand(0), logitsRow, vocab, ValueRange{e.f32(0.0), e.f32(0.0)},
        [&](ArrayRef<Value> xs, Value, Value inRange, ValueRange state) {
          Value sum = state[0], infinite = state[1];
          for (Value x : xs) {
            x = noNaN(x);
            Value w = e.exp(e.fdiv(e.fsub(x, maxLogit), scale));
            sum = e.fadd(sum, select(andOp(inRange, finite), w, e.f32(0.0)));
            infinite = e.fadd(
                infinite, select(andOp(inRange, cmpF(arith::CmpFPredicate::OEQ,
                                                     x, e.f32(INFINITY))),
                                 e.f32(1.0), e.f32(0.0)));
          }
          return SmallVector<Value>{sum, infinite};
        });
    Value logSum = math::LogOp::create(e.b, e.loc, rowSum(sums[0]));
    Value logInfinite = math::LogOp::create(e.b, e.loc, rowSum(sums[1]));
    Value plusInf = cmpF(arith::CmpFPredicate::OEQ, maxLogit, e.f32(INFINITY));
    auto logProb = [&](Value x) {
      x = noNaN(x);
      Value normal = e.fsub(e.fdiv(e.fsub(x, maxLogit), scale), logSum);
      Value ofInfinite =
          select(cmpF(arith::CmpFPredicate::OEQ, x, e.f32(INFINITY)),
                 e.fsub(e.f32(0.0), logInfinite), e.f32(-INFINITY));
      return select(finite, normal,
                    select(plusInf, ofInfinite, e.f32(-INFINITY)));
    };
    Value outRow = e.mul(row, e.c64(top + 1));
    // Column 0: the chosen token.
    when(cmpI(arith::CmpIPredicate::eq, thread, e.c64(0)), [&] {
      Value chosen = e.load(operand(1), i32(), row);
      Value valid = andOp(cmpI(arith::CmpIPredicate::sge, chosen, c32(0)),
                          cmpI(arith::CmpIPredicate::slt, chosen,
                               c32(static_cast<int32_t>(vocab))));
      Value at = e.i32ToI64(select(valid, chosen, c32(0)));
      Value lp =
          select(valid, logProb(e.load(operand(0), f32, e.add(logitsRow, at))),
                 e.f32(NAN));
      e.store(lp, result(0), outRow);
      e.store(chosen, result(1), outRow);
    });
    if (top == 0)
      return;
    // The K-th largest logit's key, then (when more tokens share it than
    // the K places left) the highest index among them to take.
    auto always = [&](Value, Value) {
      return cmpI(arith::CmpIPredicate::eq, c32(0), c32(0));
    };
    auto [threshold, need, tied] = radixSelect(
        logitsRow, vocab, c32(static_cast<int32_t>(top)), 32,
        [&](Value x, Value) { return orderedKey(x); }, always);
    constexpr int32_t kIndexMask = (1 << 24) - 1;
    auto indexKey = [&](Value, Value i) {
      return arith::SubIOp::create(
          e.b, e.loc, c32(kIndexMask),
          arith::TruncIOp::create(e.b, e.loc, i32(), i));
    };
    Value lastIndex = ifElse(
        cmpI(arith::CmpIPredicate::sgt, tied, need),
        [&]() -> Value {
          auto [lowest, n, t] = radixSelect(
              logitsRow, vocab, need, 24, indexKey, [&](Value x, Value) {
                return cmpI(arith::CmpIPredicate::eq, orderedKey(x), threshold);
              });
          (void)n;
          (void)t;
          return arith::SubIOp::create(e.b, e.loc, c32(kIndexMask), lowest);
        },
        c32(static_cast<int32_t>(vocab)));
    // Gather the K tokens (any order), then each goes to its rank.
    if (gpu) {
      when(isFirstThread(), [&] { e.store(c32(0), topCount, e.c64(0)); });
      barrier();
    } else {
      e.store(c32(0), topCount, e.c64(0));
    }
    forEachGroup(
        operand(0), logitsRow, vocab, ValueRange{},
        [&](ArrayRef<Value> xs, Value first, Value inRange, ValueRange) {
          for (size_t j = 0; j < xs.size(); ++j) {
            Value i = arith::TruncIOp::create(
                e.b, e.loc, i32(),
                e.add(first, e.c64(static_cast<int64_t>(j))));
            Value key = orderedKey(noNaN(xs[j]));
            Value take = andOp(
                inRange,
                orOp(cmpI(arith::CmpIPredicate::ugt, key, threshold),
                     andOp(cmpI(arith::CmpIPredicate::eq, key, threshold),
                           cmpI(arith::CmpIPredicate::sle, i, lastIndex))));
            when(take, [&] {
              // Exactly K tokens pass; the bound keeps shared memory safe
              // even so.
              Value slot = e.i32ToI64(countUp(topCount, e.c64(0)));
              when(cmpI(arith::CmpIPredicate::slt, slot, e.c64(top)), [&] {
                e.store(key, topKeys, slot);
                e.store(i, topIds, slot);
              });
            });
          }
          return SmallVector<Value>{};
        });
    barrier();
    auto placeOne = [&](Value j) {
      Value key = e.load(topKeys, i32(), j);
      Value id = e.load(topIds, i32(), j);
      Value rank = e.reduce(0, top, e.c64(0), [&](Value o, Value acc) {
        Value ok = e.load(topKeys, i32(), o), oi = e.load(topIds, i32(), o);
        Value before = orOp(cmpI(arith::CmpIPredicate::ugt, ok, key),
                            andOp(cmpI(arith::CmpIPredicate::eq, ok, key),
                                  cmpI(arith::CmpIPredicate::slt, oi, id)));
        return e.add(
            acc, arith::ExtUIOp::create(e.b, e.loc, e.b.getI64Type(), before));
      });
      Value at = e.add(outRow, e.add(rank, e.c64(1)));
      e.store(
          logProb(e.load(operand(0), f32, e.add(logitsRow, e.i32ToI64(id)))),
          result(0), at);
      e.store(id, result(1), at);
    };
    if (gpu)
      e.loop(local, e.c64(top), placeOne, threads);
    else
      e.loop(0, top, placeOne);
    barrier(); // the shared cells are free for the next row
  }

  std::pair<ParallelDim, int64_t> logProbs(LogProbsOp op) {
    int64_t vocab = featureCount(op.getLogits());
    int64_t top = op.getLogprobs().getType().getDimSize(1) - 1;
    threads = gpu ? config.getBlock() : 1;
    blocks = 1;
    vec = vocab % 4 == 0 ? 4 : 1;
    if (gpu) {
      partials = shared("partials", 2 * warps());
      radixBins = shared("radix_bins", kRadixBins);
      radixPick = shared("radix_pick", 4);
      topKeys = shared("top_keys", std::max<int64_t>(top, 1));
      topIds = shared("top_ids", std::max<int64_t>(top, 1));
      topCount = shared("top_count", 1);
    } else {
      radixBins = e.scratch(kRadixBins);
      radixPick = e.scratch(4);
      topKeys = e.scratch(std::max<int64_t>(top, 1));
      topIds = e.scratch(std::max<int64_t>(top, 1));
      topCount = e.scratch(1);
    }
    e.loop(e.begin, e.end, [&](Value index) {
      Value row = gpu ? e.div(index, e.c64(walkers())) : index;
      thread = gpu ? e.rem(index, e.c64(walkers())) : e.c64(0);
      local = thread;
      logProbsRow(vocab, top, row, e.mul(row, e.c64(vocab)));
    });
    if (gpu)
      return {ParallelDim::TokensTimesStatic, walkers()};
    return tokens();
  }

  std::pair<ParallelDim, int64_t> sample(SampleOp op) {
    int64_t vocab = featureCount(op.getLogits());
    Type f32 = e.b.getF32Type(), i64 = e.b.getI64Type();
    threads = gpu ? config.getBlock() : 1;
    blocks = config.getStrategy() == KernelStrategy::ClusterBlock
                 ? config.getSplits()
                 : 1;
    vec = vocab % 4 == 0 ? 4 : 1;
    if (gpu) {
      partials = shared("partials", 2 * warps());
      bins = shared("bins", (kBins + 1) * threads);
      totals = shared("totals", kBins + 1);
      if (blocks > 1) {
        exchange = shared("exchange", 2);
        gathered = shared("gathered", kBins + 1);
      }
    } else {
      bins = e.scratch(kBins + 1);
    }
    e.loop(e.begin, e.end, [&](Value index) {
      Value row = gpu ? e.div(index, e.c64(walkers())) : index;
      thread = gpu ? e.rem(index, e.c64(walkers())) : e.c64(0);
      local = gpu ? e.rem(index, e.c64(threads)) : e.c64(0);
      Value logitsRow = e.mul(row, e.c64(vocab));
      Value words = e.mul(row, e.c64(8));
      auto word = [&](int64_t k) {
        return e.load(operand(1), i32(), e.add(words, e.c64(k)));
      };
      auto word64 = [&](int64_t k) {
        Value lo = arith::ExtUIOp::create(e.b, e.loc, i64, word(k));
        Value hi = arith::ExtUIOp::create(e.b, e.loc, i64, word(k + 1));
        return orOp(lo, arith::ShLIOp::create(e.b, e.loc, hi, e.c64(32)));
      };
      Value temperature = bitcast(f32, word(0));
      Value topK = e.i32ToI64(word(1));
      Value topP = bitcast(f32, word(2));
      Value minP = bitcast(f32, word(3));
      Value seed = word64(4), draw = word64(6);

      // Pass 0: the arg-max (NaN counts as -inf), in index order per walker.
      SmallVector<Value> part = forEachGroup(
          operand(0), logitsRow, vocab, ValueRange{e.f32(-INFINITY), c32(0)},
          [&](ArrayRef<Value> xs, Value first, Value inRange,
              ValueRange state) {
            Value best = state[0], bestIndex = state[1];
            for (size_t j = 0; j < xs.size(); ++j) {
              Value x = xs[j];
              x = select(cmpF(arith::CmpFPredicate::UNO, x, x),
                         e.f32(-INFINITY), x);
              Value better =
                  andOp(inRange, cmpF(arith::CmpFPredicate::OGT, x, best));
              best = select(better, x, best);
              bestIndex =
                  select(better,
                         arith::TruncIOp::create(
                             e.b, e.loc, i32(),
                             e.add(first, e.c64(static_cast<int64_t>(j)))),
                         bestIndex);
            }
            return SmallVector<Value>{best, bestIndex};
          });
      auto [maxLogit, argmax] = rowArgmax(part[0], part[1]);
      Value greedy =
          orOp(cmpF(arith::CmpFPredicate::ULE, temperature, e.f32(0.0)),
               cmpF(arith::CmpFPredicate::OEQ, maxLogit, e.f32(-INFINITY)));
      Value chosen = ifElse(
          notOp(greedy),
          [&]() -> Value {
            return sampleRow(vocab, logitsRow, maxLogit, temperature, topK,
                             topP, minP, seed, draw);
          },
          argmax);
      when(cmpI(arith::CmpIPredicate::eq, thread, e.c64(0)),
           [&] { e.store(chosen, result(), row); });
    });
    if (gpu)
      return {ParallelDim::TokensTimesStatic, walkers()};
    return tokens();
  }
};

} // namespace

KernelShape emitSamplingKernel(const KernelBodyContext &context,
                               Operation *op) {
  return SamplingKernels(context).emit(op);
}

/// Per output row: the f32 logits row read, its 32 bytes of parameters,
/// the i32 token written, a comparison per logit. A sampled (not greedy)
/// row also writes and rereads its f32 weights; they are not counted, so a
/// greedy step is measured against what it must move.
KernelCost samplingCost(Operation *op) {
  KernelCost cost;
  if (auto lp = dyn_cast<LogProbsOp>(op)) {
    // ds.logprobs: the row, its parameters and chosen token read, the
    // (K + 1) log-probabilities and ids written; the row's later passes
    // come from the cache and are not counted.
    cost.bytesPerRow = rowBytes(lp.getLogits()) + rowBytes(lp.getParams()) +
                       rowBytes(lp.getChosen()) + rowBytes(lp.getLogprobs()) +
                       rowBytes(lp.getIds());
    cost.flopsPerRow = 4 * featureCount(lp.getLogits());
    return cost;
  }
  auto sample = cast<SampleOp>(op);
  cost.bytesPerRow = rowBytes(sample.getLogits()) +
                     rowBytes(sample.getParams()) +
                     rowBytes(sample.getResult());
  cost.flopsPerRow = featureCount(sample.getLogits());
  return cost;
}

} // namespace dsc::kernels
