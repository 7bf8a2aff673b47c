//===- KernelBody.h - what every kernel strategy builds on --------*- C++
//-*-===//
//
// A kernel body is the code of one kernel function: `KernelBody` gives each
// op family's strategies (MatrixProducts.cpp, NormsAndRope.cpp,
// Attention.cpp, MoE.cpp, Sampling.cpp) the op's buffers, the cache
// geometry, the rope and shared-memory tables of the kernel module, and the
// lane-strided passes (sums, arg-max) that the warp-cooperative strategies
// and the generic host loop share: a row is walked by `lanes()` lanes, 32 on
// CUDA warps and 1 on the host, so both run the same algorithm.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_KERNELS_KERNELBODY_H
#define DSC_TARGET_KERNELS_KERNELBODY_H

#include "Emitter.h"

#include <cmath>

namespace dsc::kernels {

/// What a strategy needs besides the op: the builder, the cache geometry,
/// the strategy ds-configure-kernels chose, and the module-level tables it
/// may ask for.
struct KernelBodyContext {
  Emitter &e;
  CacheGeometry cache;
  KernelConfigAttr config;
  /// The f32 inverse-frequency table of a rope.
  std::function<LLVM::GlobalOp(RopeAttr)> invFreqTable;
  /// A block-shared f32 array of the kernel (CUDA only).
  std::function<LLVM::GlobalOp(StringRef, int64_t)> sharedArray;
  /// The kernel's dynamic shared memory (bytes; CUDA only, sized by the
  /// configuration's dynamic_shared_bytes).
  std::function<LLVM::GlobalOp()> dynamicSharedArray;
};

/// How a generated kernel's launches split their work (its GPU block size
/// is its configuration's).
struct KernelShape {
  ParallelDim parallel = ParallelDim::Tokens;
  int64_t extent = 0;
  /// Why the configuration cannot be generated (a hand-written one that the
  /// strategy does not fit); empty on success.
  std::string error;
};

class KernelBody {
public:
  explicit KernelBody(const KernelBodyContext &context)
      : e(context.e), cache(context.cache), config(context.config),
        gpu(context.config.isWarpCooperative()),
        invFreqTable(context.invFreqTable), sharedArray(context.sharedArray),
        dynamicSharedArray(context.dynamicSharedArray) {}

protected:
  Emitter &e;
  CacheGeometry cache;
  KernelConfigAttr config;
  /// Whether 32 lanes share each row (every strategy but `generic`).
  bool gpu;
  std::function<LLVM::GlobalOp(RopeAttr)> invFreqTable;
  std::function<LLVM::GlobalOp(StringRef, int64_t)> sharedArray;
  std::function<LLVM::GlobalOp()> dynamicSharedArray;

  KernelShape shape(std::pair<ParallelDim, int64_t> split) const {
    return {split.first, split.second, failure};
  }
  /// Set by a strategy that cannot generate its configuration (the
  /// generator reports it on the op).
  std::string failure;

  Value operand(unsigned i) { return e.operandPtrs.lookup(i); }
  /// The RMSNorm a product reads its input through (its `norm(...)`
  /// clause), without the row's inv.
  std::optional<Emitter::RowNorm> inputNorm() {
    std::optional<InputNorm> norm = getInputNorm(e.op);
    if (!norm)
      return std::nullopt;
    return Emitter::RowNorm{operand(norm->weight->getOperandNumber()),
                            norm->eps};
  }
  Value result(unsigned i = 0) { return e.resultPtrs.lookup(i); }
  Type bf16() { return e.b.getBF16Type(); }
  std::pair<ParallelDim, int64_t> tokens() { return {ParallelDim::Tokens, 0}; }
  std::pair<ParallelDim, int64_t> fixed(int64_t n) {
    return {ParallelDim::Static, n};
  }

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

  /// Emits `then` under `cond` and `otherwise` (may be null) in its else.
  void ifThen(Value cond, const std::function<void()> &then,
              const std::function<void()> &otherwise = nullptr) {
    auto ifOp = scf::IfOp::create(e.b, e.loc, cond,
                                  /*withElse=*/static_cast<bool>(otherwise));
    OpBuilder::InsertionGuard guard(e.b);
    e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    then();
    if (otherwise) {
      e.b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      otherwise();
    }
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

  /// Index of (slot, position) from the op's layer base in the paged cache,
  /// in elements: the page comes from the page table, and pages are
  /// `layers * pageSize` rows apart.
  Value cacheRow(Value slot, Value position, int64_t width) {
    Value pageSize = e.c64(cache.pageSize);
    Value entry = e.add(e.mul(slot, e.c64(cache.pagesPerSequence())),
                        e.div(position, pageSize));
    Value page = e.loadI64(e.pageTable, entry);
    Value row = e.add(e.mul(page, e.c64(cache.layers * cache.pageSize)),
                      e.rem(position, pageSize));
    return e.mul(row, e.c64(width));
  }

  //===--- block-cooperative pieces (CUDA strategies) ---------------------===//

  /// A block-shared array of `count` f32 (reinterpretable as `2 * count`
  /// bf16), as a generic pointer.
  Value sharedPointer(StringRef what, int64_t count) {
    return genericPointer(sharedArray(what, count));
  }
  /// Waits for every thread of the block (bar.sync 0).
  void barrier() { NVVM::Barrier0Op::create(e.b, e.loc); }
  /// `v` (f32) of lane `source` (i64, uniform or not) of the warp.
  Value shuffleFrom(Value v, Value source) {
    auto kind = NVVM::ShflKindAttr::get(e.b.getContext(), NVVM::ShflKind::idx);
    Value lane = arith::TruncIOp::create(e.b, e.loc, i32(), source);
    return NVVM::ShflOp::create(e.b, e.loc, v.getType(), c32(-1), v, lane,
                                c32(31), kind, UnitAttr());
  }
  /// The sum (or maximum) of `v` over each group of `lanes` consecutive
  /// lanes (a power of two), in every lane of the group: butterflies over
  /// the low lane bits.
  Value lowLanesReduce(Value v, int32_t lanes, bool max) {
    for (int32_t offset = 1; offset < lanes; offset *= 2) {
      Value other = e.shuffleXor(v, offset);
      v = max ? e.fmax(v, other) : e.fadd(v, other);
    }
    return v;
  }
  /// The maximum of `v` over the 32 lanes, in every lane.
  Value warpMax(Value v) {
    for (int32_t offset = 16; offset >= 1; offset /= 2)
      v = e.fmax(v, e.shuffleXor(v, offset));
    return v;
  }
  /// Transposed warp sum: each lane holds partial sums of 32 items
  /// (`parts[i]` for item i); returns on lane l the sum over the warp of
  /// item l. Halving exchanges (16 + 8 + 4 + 2 + 1 = 31 shuffles, where 32
  /// separate warp sums take 160); the order of additions is fixed, so the
  /// result is the same every run.
  Value transposedWarpSum(SmallVector<Value> parts, Value lane) {
    for (int32_t offset = 16; offset >= 1; offset /= 2) {
      Value upper = cmpI(arith::CmpIPredicate::ne,
                         arith::AndIOp::create(e.b, e.loc, lane, e.c64(offset)),
                         e.c64(0));
      SmallVector<Value> kept;
      for (int32_t i = 0; i < offset; ++i) {
        Value keep = select(upper, parts[i + offset], parts[i]);
        Value send = select(upper, parts[i], parts[i + offset]);
        kept.push_back(e.fadd(keep, e.shuffleXor(send, offset)));
      }
      parts = std::move(kept);
    }
    return parts.front();
  }
  /// Eight bf16 at `base[index]` (16-byte aligned) as a vector.
  Value loadBF16x8(Value base, Value index) {
    auto type = VectorType::get({8}, bf16());
    return LLVM::LoadOp::create(e.b, e.loc, type, e.gep(base, bf16(), index),
                                /*alignment=*/16);
  }
  void storeVector(Value v, Value base, Type element, Value index) {
    LLVM::StoreOp::create(e.b, e.loc, v, e.gep(base, element, index),
                          /*alignment=*/16);
  }
  /// The eight elements of a vector<8xbf16>, widened to f32.
  SmallVector<Value> widenBF16x8(Value v) { return e.unpack(v, 8); }
  //===--- an input RMSNorm normalised once per block (CUDA products) -----===//

  /// Whether a warp-per-output product with `outputs` outputs per input
  /// row of `width` features can stage its fused RMSNorm
  /// (normalizedRowStage): every warp of a block then reads one row (the
  /// block's warps are consecutive outputs of it), and the row splits into
  /// 8-column groups of every lane.
  bool canStageNormalizedRow(int64_t width, int64_t outputs) const {
    int64_t block = config.getBlock();
    return gpu && block % Emitter::kWarp == 0 &&
           outputs % (block / Emitter::kWarp) == 0 &&
           width % (Emitter::kWarp * 8) == 0;
  }

  /// What a warp product reads as its input row x[xOffset...] of `width`:
  /// with a fused norm that can be staged, the block's normalised row in
  /// shared memory, which `prologue` fills (pass it to dotLanes); with a
  /// norm that cannot, the row read through the norm per output.
  struct WarpInput {
    Value x, offset;
    const Emitter::RowNorm *norm = nullptr;
    std::optional<Emitter::Prologue> prologue;
    const Emitter::Prologue *stage() const {
      return prologue ? &*prologue : nullptr;
    }
  };
  /// A kernel's staging buffers (one set per kernel: the normalised row and
  /// its groups' sums of squares, [group][lane]), null where it stages
  /// nothing.
  struct StagingBuffers {
    Value row, partials;
  };
  StagingBuffers stagingBuffers(const std::optional<Emitter::RowNorm> &norm,
                                int64_t width, int64_t outputs) {
    if (!norm || !canStageNormalizedRow(width, outputs))
      return {};
    return {sharedPointer("normalized_row", width / 2),
            sharedPointer("square_sums", width / 8)};
  }
  /// The block-shared arrays of a group of `group` staged rows of `width`
  /// bf16 (normalised where there is a norm), and a norm's sums of
  /// squares, [row][group][lane].
  StagingBuffers groupBuffers(const std::optional<Emitter::RowNorm> &norm,
                              int64_t width, int64_t group) {
    return {sharedPointer(norm ? "normalized_rows" : "input_rows",
                          group * width / 2),
            norm ? sharedPointer("square_sums", group * width / 8) : Value()};
  }

  /// Fills `buffers` (groupBuffers) with the rows x[offsets[r], + width),
  /// row r at r * width, for a dot product whose terms read row r there:
  /// each row normalised once per block (normalizedRowStage, a row after
  /// the other) where there is a norm, else copied (stagedRows).
  Emitter::Prologue groupStage(Value x, ArrayRef<Value> offsets, int64_t width,
                               const std::optional<Emitter::RowNorm> &norm,
                               const StagingBuffers &buffers, Value lane,
                               Value index) {
    if (!norm) {
      SmallVector<StagedSegment> segments;
      for (Value offset : offsets)
        segments.push_back({x, offset, width});
      Emitter::Prologue p = stagedRows(buffers.row, segments, index);
      p.plainRows = true;
      return p;
    }
    std::vector<Emitter::Prologue> rows;
    for (auto [r, offset] : llvm::enumerate(offsets)) {
      int64_t at = static_cast<int64_t>(r) * width;
      StagingBuffers slice{
          e.gep(buffers.row, e.b.getBF16Type(), e.c64(at)),
          e.gep(buffers.partials, e.b.getF32Type(), e.c64(at / 8))};
      rows.push_back(
          normalizedRowStage(*norm, x, offset, width, lane, index, slice));
    }
    Emitter::Prologue p;
    p.row = buffers.row;
    p.weights = [rows] {
      for (const Emitter::Prologue &row : rows)
        row.weights();
    };
    p.loads = [rows] {
      for (const Emitter::Prologue &row : rows)
        row.loads();
    };
    p.finish = [rows] {
      for (const Emitter::Prologue &row : rows)
        row.finish();
    };
    return p;
  }

  WarpInput warpInput(Value x, Value xOffset, int64_t width,
                      const std::optional<Emitter::RowNorm> &norm,
                      const StagingBuffers &buffers, Value lane, Value index) {
    if (!norm)
      return {x, xOffset};
    if (!buffers.row)
      return {x, xOffset, &*norm};
    return {buffers.row, e.c64(0), nullptr,
            normalizedRowStage(*norm, x, xOffset, width, lane, index, buffers)};
  }

  /// ds.rms_norm of the row x[xOffset, xOffset + width) into shared memory
  /// (bf16), once per block instead of once per output, bit for bit the
  /// ds.rms_norm warp kernel's output (rmsNormRowWarp): lane l's 8-column
  /// groups are g*256 + l*8; each group's squares are summed in column
  /// order, a lane's group sums in group order, then over the warp's lanes
  /// by butterflies. Here warp w of the block loads only the groups
  /// g = w, w + warps, ... (and their norm weights: `weights`, which may
  /// precede the wait for the previous kernel; the row: `loads`), sums each
  /// group's squares and leaves the sum in shared memory; after a barrier
  /// every lane adds its groups' sums in group order and the warp reduces
  /// them, so every warp holds the kernel's inv; each warp then normalises
  /// its groups from its registers, rounding as the kernel does, and the
  /// block meets at a second barrier. `index` is the thread's parallel
  /// index (the grid is whole blocks).
  Emitter::Prologue normalizedRowStage(const Emitter::RowNorm &norm, Value x,
                                       Value xOffset, int64_t width, Value lane,
                                       Value index,
                                       const StagingBuffers &buffers) {
    constexpr int64_t kVec = 8, kSpan = Emitter::kWarp * kVec;
    int64_t groups = width / kSpan;
    int64_t warps = config.getBlock() / Emitter::kWarp;
    int64_t mine = (groups + warps - 1) / warps;
    struct State {
      SmallVector<Value> columns, valid, gs, xs;
    };
    auto state = std::make_shared<State>();
    Emitter::Prologue p;
    p.row = buffers.row;
    // This warp's groups: their first columns (clamped into the row) and
    // whether they exist.
    auto place = [this, state, lane, index, groups, warps, mine] {
      if (!state->columns.empty())
        return;
      Value warp =
          e.div(e.rem(index, e.c64(config.getBlock())), e.c64(Emitter::kWarp));
      for (int64_t j = 0; j < mine; ++j) {
        Value g = e.add(warp, e.c64(j * warps));
        Value ok = cmpI(arith::CmpIPredicate::slt, g, e.c64(groups));
        Value safe = select(ok, g, e.c64(groups - 1));
        state->valid.push_back(ok);
        state->columns.push_back(
            e.add(e.mul(safe, e.c64(kSpan)), e.mul(lane, e.c64(kVec))));
      }
    };
    // Up to two groups a warp (V2-Lite's 2,048 features) stay in registers
    // from before the weights to the end; more (V3's 7,168: seven) would
    // cost the weights' registers, so they are loaded again (from L1) to be
    // normalised, and their norm weights only then.
    bool keep = mine <= 2;
    Value weight = norm.weight;
    p.weights = [this, state, place, weight, keep] {
      place();
      if (keep)
        for (Value k : state->columns)
          state->gs.push_back(loadBF16x8(weight, k));
    };
    p.loads = [this, state, place, x, xOffset] {
      place();
      for (Value k : state->columns)
        state->xs.push_back(loadBF16x8(x, e.add(xOffset, k)));
    };
    double eps = norm.eps;
    p.finish = [this, state, lane, buffers, groups, width, eps, mine, keep, x,
                xOffset, weight] {
      Type f32 = e.b.getF32Type();
      auto ifValid = [&](Value ok, const std::function<void()> &body) {
        auto ifOp = scf::IfOp::create(e.b, e.loc, ok, /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        body();
      };
      SmallVector<SmallVector<Value>> xs;
      for (int64_t j = 0; j < mine; ++j) {
        xs.push_back(widenBF16x8(state->xs[j]));
        Value part = e.f32(0.0);
        for (Value v : xs.back())
          part = e.fma(v, v, part);
        if (!keep)
          xs.back().clear();
        // The group's sum, at [group][lane].
        Value at = e.add(e.mul(e.div(state->columns[j], e.c64(kSpan)),
                               e.c64(Emitter::kWarp)),
                         lane);
        ifValid(state->valid[j], [&] { e.store(part, buffers.partials, at); });
      }
      barrier();
      Value sum = e.f32(0.0);
      for (int64_t g = 0; g < groups; ++g)
        sum = e.fadd(sum, e.load(buffers.partials, f32,
                                 e.add(e.c64(g * Emitter::kWarp), lane)));
      Value inv = e.invRMS(e.warpSum(sum), width, eps);
      auto type = VectorType::get({kVec}, bf16());
      for (int64_t j = 0; j < mine; ++j) {
        if (!keep) {
          xs[j] = widenBF16x8(loadBF16x8(x, e.add(xOffset, state->columns[j])));
          state->gs.push_back(loadBF16x8(weight, state->columns[j]));
        }
        SmallVector<Value> gs = widenBF16x8(state->gs[j]);
        Value out = LLVM::UndefOp::create(e.b, e.loc, type);
        for (int64_t i = 0; i < kVec; ++i)
          out = LLVM::InsertElementOp::create(
              e.b, e.loc, out,
              arith::TruncFOp::create(
                  e.b, e.loc, bf16(),
                  e.fmul(e.roundBF16(e.fmul(xs[j][i], inv)), gs[i])),
              c32(static_cast<int32_t>(i)));
        ifValid(state->valid[j], [&] {
          storeVector(out, buffers.row, bf16(), state->columns[j]);
        });
      }
      barrier();
    };
    return p;
  }

  /// `count` bf16 (a multiple of 8) at src[offset...], 16-byte aligned.
  struct StagedSegment {
    Value src, offset;
    int64_t count;
  };
  /// The segments copied one after the other into the block-shared bf16
  /// array `row` (a generic pointer): every thread of the block loads its
  /// 8-element groups (g = thread, thread + block, ...; `loads`), stores
  /// them and meets the block at a barrier (`finish`). `index` is the
  /// thread's parallel index (the grid is whole blocks).
  Emitter::Prologue stagedRows(Value row, ArrayRef<StagedSegment> segments,
                               Value index) {
    constexpr int64_t kVec = 8;
    struct State {
      SmallVector<Value> xs, to, valid;
    };
    auto state = std::make_shared<State>();
    std::vector<StagedSegment> copies(segments.begin(), segments.end());
    int64_t block = config.getBlock();
    Emitter::Prologue p;
    p.row = row;
    p.weights = [] {};
    p.loads = [this, state, copies, block, index] {
      Value thread = e.rem(index, e.c64(block));
      int64_t start = 0;
      for (const StagedSegment &s : copies) {
        int64_t groups = s.count / kVec;
        for (int64_t j = 0; j * block < groups; ++j) {
          Value g = e.add(thread, e.c64(j * block));
          Value ok;
          if ((j + 1) * block > groups) {
            ok = cmpI(arith::CmpIPredicate::slt, g, e.c64(groups));
            g = select(ok, g, e.c64(groups - 1));
          }
          Value k = e.mul(g, e.c64(kVec));
          state->xs.push_back(loadBF16x8(s.src, e.add(s.offset, k)));
          state->to.push_back(e.add(k, e.c64(start)));
          state->valid.push_back(ok);
        }
        start += s.count;
      }
    };
    p.finish = [this, state, row] {
      for (auto [x, to, ok] : llvm::zip(state->xs, state->to, state->valid)) {
        if (!ok) {
          storeVector(x, row, bf16(), to);
          continue;
        }
        auto ifOp = scf::IfOp::create(e.b, e.loc, ok, /*withElse=*/false);
        OpBuilder::InsertionGuard guard(e.b);
        e.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        storeVector(x, row, bf16(), to);
      }
      barrier();
    };
    return p;
  }

  //===--- tensor cores and asynchronous copies (CUDA strategies) ---------===//

  Value inlineAsm(Type result, ValueRange operands, StringRef text,
                  StringRef constraints, bool isVolatile) {
    return e.inlineAsm(result, operands, text, constraints, isVolatile);
  }
  /// The shared-window address (i64) of a shared array, for the
  /// instructions that take one (ldmatrix, cp.async).
  Value sharedAddress(LLVM::GlobalOp array) {
    Value address = LLVM::AddressOfOp::create(e.b, e.loc, array);
    return LLVM::PtrToIntOp::create(e.b, e.loc, e.b.getI64Type(), address);
  }
  /// A shared array as a generic pointer (for plain loads and stores).
  Value genericPointer(LLVM::GlobalOp array) {
    Value address = LLVM::AddressOfOp::create(e.b, e.loc, array);
    return LLVM::AddrSpaceCastOp::create(e.b, e.loc, e.ptrType, address);
  }
  /// `count` (1, 2 or 4) 8x8 b16 matrices from shared memory, rows
  /// addressed by lanes 8j..8j+7 for matrix j; `transpose` gives each lane
  /// a column pair instead of a row pair. One i32 (two b16) per matrix.
  SmallVector<Value> loadMatrices(int count, bool transpose, Value address) {
    std::string regs, constraints;
    for (int i = 0; i < count; ++i) {
      regs += (i ? ",$" : "$") + std::to_string(i);
      constraints += "=r,";
    }
    std::string text = "ldmatrix.sync.aligned.m8n8.x" + std::to_string(count) +
                       (transpose ? ".trans" : "") + ".shared.b16 {" + regs +
                       "}, [$" + std::to_string(count) + "];";
    SmallVector<Type> types(count, i32());
    Type result =
        count == 1 ? i32()
                   : LLVM::LLVMStructType::getLiteral(e.b.getContext(), types);
    Value v = inlineAsm(result, ValueRange{address}, text, constraints + "l",
                        /*isVolatile=*/true);
    if (count == 1)
      return {v};
    SmallVector<Value> out;
    for (int i = 0; i < count; ++i)
      out.push_back(LLVM::ExtractValueOp::create(e.b, e.loc, v, i));
    return out;
  }
  /// d = a b + c on tensor cores, m16n8k16, bf16 in (a: 4 i32, b: 2 i32 in
  /// mma.sync's fragment layout), f32 accumulators (c: 4).
  SmallVector<Value> mmaBF16(ArrayRef<Value> a, ArrayRef<Value> b,
                             ArrayRef<Value> c) {
    return mma("bf16", a, b, c);
  }
  /// mmaBF16 with f16 operands.
  SmallVector<Value> mmaF16(ArrayRef<Value> a, ArrayRef<Value> b,
                            ArrayRef<Value> c) {
    return mma("f16", a, b, c);
  }
  SmallVector<Value> mma(StringRef operandType, ArrayRef<Value> a,
                         ArrayRef<Value> b, ArrayRef<Value> c) {
    Type f32 = e.b.getF32Type();
    Type result = LLVM::LLVMStructType::getLiteral(e.b.getContext(),
                                                   {f32, f32, f32, f32});
    SmallVector<Value> operands(a);
    llvm::append_range(operands, b);
    llvm::append_range(operands, c);
    Value d = inlineAsm(
        result, operands,
        ("mma.sync.aligned.m16n8k16.row.col.f32." + operandType + "." +
         operandType +
         ".f32 {$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};")
            .str(),
        "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f", /*isVolatile=*/false);
    SmallVector<Value> out;
    for (int i = 0; i < 4; ++i)
      out.push_back(LLVM::ExtractValueOp::create(e.b, e.loc, d, i));
    return out;
  }
  /// Two f32 rounded to bf16 (to nearest even) in one i32, `low` in bits
  /// 0-15: an operand pair of mma.sync.
  Value packBF16x2(Value low, Value high) {
    return inlineAsm(i32(), ValueRange{high, low},
                     "cvt.rn.bf16x2.f32 $0, $1, $2;", "=r,f,f",
                     /*isVolatile=*/false);
  }

  /// Two f32 rounded to f16 (to nearest even) in one i32, `low` in bits
  /// 0-15.
  Value packF16x2(Value low, Value high) {
    return inlineAsm(i32(), ValueRange{high, low},
                     "cvt.rn.f16x2.f32 $0, $1, $2;", "=r,f,f",
                     /*isVolatile=*/false);
  }
  /// The four e4m3 bytes of an i32 as two f16x2 (bytes 0-1, bytes 2-3),
  /// exactly (cvt.rn.f16x2.e4m3x2, sm_89+; the lower byte in the lower
  /// half).
  std::pair<Value, Value> decodeE4M3x4(Value word) {
    Type pair =
        LLVM::LLVMStructType::getLiteral(e.b.getContext(), {i32(), i32()});
    Value d = inlineAsm(pair, ValueRange{word},
                        "{ .reg .b16 lo, hi; mov.b32 {lo, hi}, $2; "
                        "cvt.rn.f16x2.e4m3x2 $0, lo; "
                        "cvt.rn.f16x2.e4m3x2 $1, hi; }",
                        "=r,=r,r", /*isVolatile=*/false);
    return {LLVM::ExtractValueOp::create(e.b, e.loc, d, 0),
            LLVM::ExtractValueOp::create(e.b, e.loc, d, 1)};
  }

  /// Four f32 as a vector<4xf32>.
  Value packF32x4(ArrayRef<Value> values) {
    auto type = VectorType::get({4}, e.b.getF32Type());
    Value v = LLVM::UndefOp::create(e.b, e.loc, type);
    for (int32_t j = 0; j < 4; ++j)
      v = LLVM::InsertElementOp::create(e.b, e.loc, v, values[j], c32(j));
    return v;
  }
};

} // namespace dsc::kernels

#endif // DSC_TARGET_KERNELS_KERNELBODY_H
