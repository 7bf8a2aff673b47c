//===- Sampling.cpp - the token sampler ---------------------------------===//
//
// The kernel of ds.sample (its op description is the specification): the
// arg-max for greedy rows; for sampled rows the weights exp((l - max) / T),
// top-k / top-p / min-p thresholds found by a 16-way search over the
// weights' bit patterns, and Gumbel-max with hashed uniforms. One row per
// warp on CUDA targets and per thread share on the host, the same
// algorithm with 32 or 1 lanes.
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
        llvm::TypeSwitch<Operation *, std::pair<ParallelDim, int64_t>>(op).Case(
            [&](SampleOp o) { return sample(o); }));
  }

private:
  //===--- ds.sample ---------------------------------------------------===//
  // One row per (GPU: warp | CPU: thread share); every pass over the
  // vocabulary is lane-strided and its result combined over the lanes, so
  // the CPU kernel is the same algorithm with one lane.

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
  auto sample = cast<SampleOp>(op);
  KernelCost cost;
  cost.bytesPerRow = rowBytes(sample.getLogits()) +
                     rowBytes(sample.getParams()) +
                     rowBytes(sample.getResult());
  cost.flopsPerRow = featureCount(sample.getLogits());
  return cost;
}

} // namespace dsc::kernels
