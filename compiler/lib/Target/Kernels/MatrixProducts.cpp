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

#include "dsc/Dialect/DS/KernelArguments.h"

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

  /// GPU: one warp per output element (row, feature), so small products
  /// still fill the GPU; every lane stores the same sum. With a row group
  /// (forEachWarpRows) a warp serves one feature of several rows, reading
  /// each weight group once for all of them.
  void matmulWarp(unsigned weightOperand, Output out, int64_t rows) {
    WeightView w = e.weight(weightOperand);
    int64_t k = w.cols, n = w.rows;
    std::optional<Emitter::RowNorm> norm = inputNorm();
    StagingBuffers staged = rowGroupBuffers(norm, k, n);
    // Weights first where the input row is not itself read from memory.
    bool weightsFirst = !rowMap;
    forEachWarpRows(
        n, rows,
        [&](Value i, Value lane, Value col, Value row) {
          WarpInput in = warpInput(operand(0), e.mul(inputRow(row), e.c64(k)),
                                   k, norm, staged, lane, i);
          Value acc =
              e.warpSum(e.dotLane(in.x, bf16(), in.offset, w, e.c64(0), col,
                                  lane, in.norm, weightsFirst, in.stage()));
          store(acc, e.add(e.mul(row, e.c64(n)), col), out);
        },
        [&](Value i, Value lane, Value col, ArrayRef<Value> group,
            ArrayRef<Value> exists) {
          Emitter::Prologue stage =
              rowGroupStage(group, k, norm, staged, lane, i);
          SmallVector<Emitter::DotTerm> terms;
          for (int64_t r = 0; r < static_cast<int64_t>(group.size()); ++r)
            terms.push_back({&w, e.c64(r * k), e.c64(0), col, 0, stage.row,
                             nullptr, r ? 0 : -1});
          SmallVector<Value> parts =
              e.dotLanes(operand(0), terms, lane, 0, Emitter::kLoadsInFlight,
                         weightsFirst, &stage);
          for (auto [r, row] : llvm::enumerate(group)) {
            Value acc = e.warpSum(parts[r]);
            ifThen(exists[r],
                   [&] { store(acc, e.add(e.mul(row, e.c64(n)), col), out); });
          }
        });
  }

  //===--- row groups: a warp per feature of several rows ----------------===//

  /// The rows one warp of a `warp` product serves (row_group; 1 on the
  /// host).
  int64_t rowGroup() const { return gpu ? config.getRowGroup() : 1; }

  /// The warps of a `warp` product of `n` output features (rows per token
  /// `rowsPerTok`): warp `pair` of the launch serves feature pair mod n of
  /// the rows G (pair / n) + r, r < G, with G the row group. Rows past the
  /// last are computed as the last and not stored (`exists`); warps whose
  /// group starts past the last row return (the launch has a warp per
  /// (row, feature), G times what the groups need). A group of one row (a
  /// batch of one, or a batch's last row) runs `one`, the code of G = 1,
  /// so its sums are bit for bit those of an ungrouped kernel; a larger
  /// group's are too (dotLanes reads the same columns in the same lanes and
  /// order). A block's warps share a group (n is a multiple of the block's
  /// warps), so the branches are uniform over a block and its barriers.
  void
  forEachWarpRows(int64_t n, int64_t rowsPerTok,
                  const std::function<void(Value, Value, Value, Value)> &one,
                  const std::function<void(Value, Value, Value, ArrayRef<Value>,
                                           ArrayRef<Value>)> &many) {
    int64_t group = rowGroup();
    Value warp = e.c64(Emitter::kWarp);
    Value total = e.mul(e.tokens, e.c64(rowsPerTok));
    e.loop(e.begin, e.end, [&](Value i) {
      Value pair = e.div(i, warp), lane = e.rem(i, warp);
      Value col = e.rem(pair, e.c64(n)), g = e.div(pair, e.c64(n));
      if (group == 1) {
        one(i, lane, col, g);
        return;
      }
      Value first = e.mul(g, e.c64(group));
      ifThen(cmpI(arith::CmpIPredicate::slt, first, total), [&] {
        Value last = e.fsubI(total, e.c64(1));
        ifThen(
            cmpI(arith::CmpIPredicate::eq, first, last),
            [&] { one(i, lane, col, first); },
            [&] {
              SmallVector<Value> rows, exists;
              for (int64_t r = 0; r < group; ++r) {
                Value row = e.add(first, e.c64(r));
                Value ok = cmpI(arith::CmpIPredicate::sle, row, last);
                exists.push_back(ok);
                rows.push_back(select(ok, row, last));
              }
              many(i, lane, col, rows, exists);
            });
      });
    });
  }

  /// The block-shared arrays of a product's staged rows (groupBuffers);
  /// a one-row group (and a kernel of one row a warp) uses the first row's.
  StagingBuffers rowGroupBuffers(const std::optional<Emitter::RowNorm> &norm,
                                 int64_t width, int64_t outputs) {
    int64_t group = rowGroup();
    if (group == 1)
      return stagingBuffers(norm, width, outputs);
    assert((norm ? canStageNormalizedRow(width, outputs)
                 : outputs % (config.getBlock() / Emitter::kWarp) == 0 &&
                       width % 8 == 0) &&
           "ds-configure-kernels groups rows a block can stage");
    return groupBuffers(norm, width, group);
  }

  /// Stages the input rows of output rows `group` (each reads inputRow of
  /// it) of `width` features (groupStage).
  Emitter::Prologue rowGroupStage(ArrayRef<Value> group, int64_t width,
                                  const std::optional<Emitter::RowNorm> &norm,
                                  const StagingBuffers &buffers, Value lane,
                                  Value index) {
    SmallVector<Value> offsets;
    for (Value row : group)
      offsets.push_back(e.mul(inputRow(row), e.c64(width)));
    return groupStage(operand(0), offsets, width, norm, buffers, lane, index);
  }

  /// A matrix product with the weight in operand 1: warp per output on
  /// GPUs, thread share of the outputs on the CPU.
  std::pair<ParallelDim, int64_t> product(Value input, int64_t rows,
                                          Output out) {
    int64_t outputs = e.weight(1).rows;
    if (config.getStrategy() == KernelStrategy::TileMma)
      return tileMma({1}, rows, [&](ArrayRef<Value> sums, Value index) {
        store(sums[0], index, out);
      });
    if (gpu) {
      matmulWarp(1, out, rows);
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
    if (config.getStrategy() == KernelStrategy::TileMma)
      return tileMma({1, 2}, rows, [&](ArrayRef<Value> sums, Value index) {
        e.storeBF16(e.fmul(e.silu(e.roundBF16(sums[0])), e.roundBF16(sums[1])),
                    result(), index);
      });
    if (gpu) {
      StagingBuffers staged = rowGroupBuffers(norm, k, n);
      forEachWarpRows(
          n, rows,
          [&](Value i, Value lane, Value col, Value row) {
            WarpInput in = warpInput(operand(0), e.mul(row, e.c64(k)), k, norm,
                                     staged, lane, i);
            auto [g, u] = e.gateUpWarpSums(in.x, in.offset, gate, up, e.c64(0),
                                           col, lane, in.norm,
                                           /*weightsFirst=*/true, in.stage());
            store(g, u, row, col);
          },
          [&](Value i, Value lane, Value col, ArrayRef<Value> group,
              ArrayRef<Value> exists) {
            Emitter::Prologue stage =
                rowGroupStage(group, k, norm, staged, lane, i);
            // Each row's gate and up terms; rows after the first read the
            // first row's weight loads.
            SmallVector<Emitter::DotTerm> terms;
            for (int64_t r = 0; r < static_cast<int64_t>(group.size()); ++r) {
              terms.push_back({&gate, e.c64(r * k), e.c64(0), col, 0, stage.row,
                               nullptr, r ? 0 : -1});
              terms.push_back({&up, e.c64(r * k), e.c64(0), col, 0, stage.row,
                               nullptr, r ? 1 : -1});
            }
            SmallVector<Value> parts =
                e.dotLanes(operand(0), terms, lane, 0, Emitter::kLoadsInFlight,
                           /*weightsFirst=*/true, &stage);
            for (auto [r, row] : llvm::enumerate(group)) {
              Value g = e.warpSum(parts[2 * r]),
                    u = e.warpSum(parts[2 * r + 1]);
              ifThen(exists[r], [&] { store(g, u, row, col); });
            }
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

  //===--- tile_mma: decode products on tensor cores ---------------------===//

  /// The `tile_mma` kernel (ConfigureKernels' tileMma; TileMmaLayout): the
  /// launch has a block per (input row r, tile of 8 output features); the
  /// block of r = b / tiles serves features 8 (b mod tiles) ... + 7 of
  /// rows r ... r + 15 where 16 divides r, and the others return at once
  /// (batch 1: no idle block). Per pass of `layout.rows` rows the block
  /// stages the rows' activations in shared memory (stageTileRow), its
  /// warps take the 128-byte iterations w, w + warps, ... of the 8 weight
  /// rows (every term's), all their loads issued before the first mma
  /// (before the wait for the previous kernel, in a single pass), then
  /// mma.sync m16n8k16 with the activations as A (rows g and g + 8 of lane
  /// 4g + t) and the weights as B (row g: lane 4g + t holds bytes 16t and
  /// 64 + 16t of each iteration; an mma takes 4 consecutive of its columns
  /// as its k 2t, 2t + 1, 2t + 8, 2t + 9, and the activations the same
  /// columns). bf16 weights go to the mma as they are; fp8 ones through
  /// cvt.rn.f16x2.e4m3x2 against f16 activations, each iteration (one
  /// 128-column scale block) summed apart and scaled once by its weight
  /// block scale times the row's inverse activation scale. The warps' sums
  /// meet in shared memory; warp 0 adds them in warp order and `store`s
  /// output (row, feature) with its terms' sums.
  std::pair<ParallelDim, int64_t>
  tileMma(ArrayRef<unsigned> weightOperands, int64_t rowsPerToken,
          const std::function<void(ArrayRef<Value>, Value)> &store) {
    std::optional<TileMmaProduct> product = tileMmaProduct(e.op, &failure);
    if (!product)
      return {ParallelDim::Static, 0};
    SmallVector<WeightView> ws;
    for (unsigned operand : weightOperands)
      ws.push_back(e.weight(operand));
    int64_t n = product->features, k = product->cols, terms = product->terms;
    bool fp8 = product->fp8;
    if (fp8 && e.fp8Decode != FP8Decode::Hardware) {
      failure = "fp8 weights need the e4m3x2 conversion (sm_89+)";
      return {ParallelDim::Static, 0};
    }
    int64_t block = config.getBlock(), warps = block / Emitter::kWarp;
    TileMmaLayout layout = tileMmaLayoutWithin(k, fp8, terms, warps,
                                               config.getDynamicSharedBytes());
    if (!layout.rows) {
      failure = "dynamic_shared_bytes = " +
                std::to_string(config.getDynamicSharedBytes()) +
                " holds no staged row (one needs " +
                std::to_string(tileMmaLayout(k, fp8, terms, warps, 1).bytes) +
                ")";
      return {ParallelDim::Static, 0};
    }
    int64_t passRows = layout.rows, passes = kTileMmaRows / passRows;
    int64_t elementBytes = fp8 ? 1 : 2, rowBytes = k * elementBytes;
    int64_t iterations = rowBytes / 128;
    int64_t perWarp = (iterations + warps - 1) / warps;
    int64_t kPerIteration = 128 / elementBytes;
    int64_t valuesPerChunk = 16 / elementBytes,
            stepsPerChunk = valuesPerChunk / 4;
    int64_t tiles = n / kTileMmaFeatures;
    Type f32 = e.b.getF32Type(), i8 = e.b.getI8Type();
    auto words4 = VectorType::get({4}, i32());
    Value sharedBase = genericPointer(dynamicSharedArray());
    Value totalRows = e.mul(e.tokens, e.c64(rowsPerToken));
    std::optional<Emitter::RowNorm> norm = inputNorm();
    // At most 128 registers a thread (4 blocks of 128 threads an SM, 2 of
    // 256, 1 of 512): without the bound ptxas gives the norm-staged
    // products 138-225, and 512 threads of more than 128 cannot launch.
    e.minBlocksPerSM = std::max<int64_t>(1, 512 / block);
    auto word = [&](Value v, int64_t i) -> Value {
      return LLVM::ExtractElementOp::create(e.b, e.loc, v, c32(i));
    };
    auto loadWords = [&](Value base, Value byteOffset) -> Value {
      return LLVM::LoadOp::create(e.b, e.loc, words4,
                                  e.gep(base, i8, byteOffset),
                                  /*alignment=*/16);
    };

    e.loop(e.begin, e.end, [&](Value index) {
      Value blockIndex = e.div(index, e.c64(block));
      Value thread = e.rem(index, e.c64(block));
      Value warp = e.div(thread, e.c64(Emitter::kWarp));
      Value lane = e.rem(thread, e.c64(Emitter::kWarp));
      Value g = e.div(lane, e.c64(4)), t = e.rem(lane, e.c64(4));
      Value firstRow = e.div(blockIndex, e.c64(tiles));
      Value tile = e.rem(blockIndex, e.c64(tiles));
      Value feature = e.add(e.mul(tile, e.c64(kTileMmaFeatures)), g);
      Value leads = cmpI(arith::CmpIPredicate::eq,
                         e.rem(firstRow, e.c64(kTileMmaRows)), e.c64(0));
      ifThen(leads, [&] {
        // This warp's weights: [term][j] two 16-byte chunks, and for fp8
        // each iteration's block scale (0 past the last iteration).
        struct Weights {
          SmallVector<SmallVector<std::array<Value, 2>>> chunks;
          SmallVector<SmallVector<Value>> scales;
        };
        auto loadWeights = [&] {
          Weights loaded;
          for (const WeightView &w : ws) {
            loaded.chunks.emplace_back();
            loaded.scales.emplace_back();
            for (int64_t j = 0; j < perWarp; ++j) {
              Value it = e.add(warp, e.c64(j * warps));
              Value valid;
              if ((j + 1) * warps > iterations) {
                valid = cmpI(arith::CmpIPredicate::slt, it, e.c64(iterations));
                it = select(valid, it, e.c64(iterations - 1));
              }
              Value start = e.add(
                  e.add(e.mul(feature, e.c64(rowBytes)), e.mul(it, e.c64(128))),
                  e.mul(t, e.c64(16)));
              std::array<Value, 2> pair;
              for (int64_t c = 0; c < 2; ++c) {
                pair[c] = loadWords(w.data, e.add(start, e.c64(c * 64)));
                if (valid && !fp8)
                  pair[c] = select(valid, pair[c],
                                   arith::ConstantOp::create(
                                       e.b, e.loc, words4,
                                       DenseElementsAttr::get(
                                           words4, e.b.getI32IntegerAttr(0))));
              }
              loaded.chunks.back().push_back(pair);
              if (!fp8)
                continue;
              Value scaleRow = e.div(e.mul(tile, e.c64(kTileMmaFeatures)),
                                     e.c64(w.blockRows));
              Value scaleCol =
                  e.div(e.mul(it, e.c64(kPerIteration)), e.c64(w.blockCols));
              Value scale =
                  e.load(w.scales, f32,
                         e.add(e.mul(scaleRow, e.c64(w.scaleCols)), scaleCol));
              if (valid)
                scale = select(valid, scale, e.f32(0.0));
              loaded.scales.back().push_back(scale);
            }
          }
          return loaded;
        };
        auto pass = [&](Value first, const Weights *preloaded) {
          Weights loaded = preloaded ? *preloaded : loadWeights();
          // The pass's rows into shared memory: warp w stages rows w,
          // w + warps, ...
          for (int64_t s = 0; s * warps < passRows; ++s) {
            Value m = e.add(warp, e.c64(s * warps));
            Value row = e.add(first, m);
            Value ok = cmpI(arith::CmpIPredicate::slt, row, totalRows);
            if ((s + 1) * warps > passRows)
              ok = arith::AndIOp::create(
                  e.b, e.loc, ok,
                  cmpI(arith::CmpIPredicate::slt, m, e.c64(passRows)));
            ifThen(ok, [&] {
              stageTileRow(e.mul(inputRow(row), e.c64(k)), k, norm, fp8,
                           sharedBase, m, layout, lane);
            });
          }
          barrier();
          // Lane 4g + t reads staged rows g and g + 8 (rows past the pass
          // repeat its last: their sums are never stored).
          Value rowA =
              arith::MinSIOp::create(e.b, e.loc, g, e.c64(passRows - 1));
          Value baseA = e.mul(rowA, e.c64(layout.rowStride));
          Value baseB = passRows > 8 ? e.add(baseA, e.c64(8 * layout.rowStride))
                                     : Value();
          Value zero = c32(0);
          SmallVector<SmallVector<Value>> totals(
              terms, SmallVector<Value>(4, e.f32(0.0)));
          SmallVector<SmallVector<SmallVector<Value>>> chains(
              terms, SmallVector<SmallVector<Value>>(
                         2, SmallVector<Value>(4, e.f32(0.0))));
          for (int64_t j = 0; j < perWarp; ++j) {
            Value it = arith::MinSIOp::create(e.b, e.loc,
                                              e.add(warp, e.c64(j * warps)),
                                              e.c64(iterations - 1));
            for (int64_t c = 0; c < 2; ++c) {
              // Columns of this chunk: the staged f16 / bf16 at 2 bytes.
              Value column = e.add(e.add(e.mul(it, e.c64(kPerIteration)),
                                         e.c64(c * kPerIteration / 2)),
                                   e.mul(t, e.c64(valuesPerChunk)));
              Value offset = e.mul(column, e.c64(2));
              SmallVector<Value> xg, xh;
              for (int64_t v = 0; v < valuesPerChunk / 8; ++v) {
                Value at = e.add(offset, e.c64(16 * v));
                Value lo = loadWords(sharedBase, e.add(baseA, at));
                Value hi =
                    baseB ? loadWords(sharedBase, e.add(baseB, at)) : Value();
                for (int64_t i = 0; i < 4; ++i) {
                  xg.push_back(word(lo, i));
                  xh.push_back(hi ? word(hi, i) : zero);
                }
              }
              for (int64_t s = 0; s < stepsPerChunk; ++s) {
                SmallVector<Value> a = {xg[2 * s], xh[2 * s], xg[2 * s + 1],
                                        xh[2 * s + 1]};
                for (int64_t term = 0; term < terms; ++term) {
                  Value chunk = loaded.chunks[term][j][c];
                  SmallVector<Value> b;
                  if (fp8) {
                    auto [low, high] = decodeE4M3x4(word(chunk, s));
                    b = {low, high};
                  } else {
                    b = {word(chunk, 2 * s), word(chunk, 2 * s + 1)};
                  }
                  chains[term][c] = fp8 ? mmaF16(a, b, chains[term][c])
                                        : mmaBF16(a, b, chains[term][c]);
                }
              }
            }
            if (!fp8)
              continue;
            // The iteration's block: times the weight scale and the rows'
            // inverse activation scales.
            Value scaleAt =
                e.add(e.c64(layout.scalesOffset), e.mul(it, e.c64(4)));
            int64_t scaleStride = k / 128 * 4;
            Value invG =
                e.load(sharedBase, f32,
                       e.div(e.add(scaleAt, e.mul(rowA, e.c64(scaleStride))),
                             e.c64(4)));
            Value invH =
                baseB ? e.load(sharedBase, f32,
                               e.div(e.add(scaleAt, e.mul(e.add(rowA, e.c64(8)),
                                                          e.c64(scaleStride))),
                                     e.c64(4)))
                      : e.f32(0.0);
            for (int64_t term = 0; term < terms; ++term) {
              Value scale = loaded.scales[term][j];
              Value fg = e.fmul(scale, invG), fh = e.fmul(scale, invH);
              for (int64_t i = 0; i < 4; ++i) {
                Value sum = e.fadd(chains[term][0][i], chains[term][1][i]);
                totals[term][i] = e.fma(sum, i < 2 ? fg : fh, totals[term][i]);
                chains[term][0][i] = chains[term][1][i] = e.f32(0.0);
              }
            }
          }
          if (!fp8)
            for (int64_t term = 0; term < terms; ++term)
              for (int64_t i = 0; i < 4; ++i)
                totals[term][i] =
                    e.fadd(chains[term][0][i], chains[term][1][i]);
          // The warps' sums meet in shared memory; warp 0 adds them.
          auto sumAt = [&](Value w, int64_t term) {
            return e.add(
                e.c64(layout.sumsOffset),
                e.mul(e.add(e.mul(e.add(e.mul(w, e.c64(terms)), e.c64(term)),
                                  e.c64(Emitter::kWarp)),
                            lane),
                      e.c64(16)));
          };
          for (int64_t term = 0; term < terms; ++term)
            LLVM::StoreOp::create(e.b, e.loc, packF32x4(totals[term]),
                                  e.gep(sharedBase, i8, sumAt(warp, term)),
                                  /*alignment=*/16);
          barrier();
          ifThen(cmpI(arith::CmpIPredicate::eq, warp, e.c64(0)), [&] {
            auto f32x4 = VectorType::get({4}, f32);
            SmallVector<SmallVector<Value>> sums(terms);
            for (int64_t term = 0; term < terms; ++term) {
              SmallVector<Value> acc(4, Value());
              for (int64_t w = 0; w < warps; ++w) {
                Value v = LLVM::LoadOp::create(
                    e.b, e.loc, f32x4,
                    e.gep(sharedBase, i8, sumAt(e.c64(w), term)),
                    /*alignment=*/16);
                for (int64_t i = 0; i < 4; ++i) {
                  Value x = word(v, i);
                  acc[i] = acc[i] ? e.fadd(acc[i], x) : x;
                }
              }
              sums[term] = acc;
            }
            for (int64_t i = 0; i < 4; ++i) {
              if (i >= 2 && passRows <= 8)
                break;
              Value m = i < 2 ? g : e.add(g, e.c64(8));
              Value row = e.add(first, m);
              Value ok = cmpI(arith::CmpIPredicate::slt, row, totalRows);
              if (passRows < 8)
                ok = arith::AndIOp::create(
                    e.b, e.loc, ok,
                    cmpI(arith::CmpIPredicate::slt, m, e.c64(passRows)));
              Value col = e.add(e.mul(tile, e.c64(kTileMmaFeatures)),
                                e.add(e.mul(t, e.c64(2)), e.c64(i % 2)));
              ifThen(ok, [&] {
                SmallVector<Value> parts;
                for (int64_t term = 0; term < terms; ++term)
                  parts.push_back(sums[term][i]);
                store(parts, e.add(e.mul(row, e.c64(n)), col));
              });
            }
          });
          if (passes > 1)
            barrier();
        };
        if (passes == 1) {
          Weights first = loadWeights();
          if (e.weightsBeforeWait)
            e.waitForPredecessor();
          pass(firstRow, &first);
          return;
        }
        if (e.weightsBeforeWait)
          e.waitForPredecessor();
        e.loop(e.c64(0), e.c64(passes), [&](Value p) {
          Value first = e.add(firstRow, e.mul(p, e.c64(passRows)));
          ifThen(cmpI(arith::CmpIPredicate::slt, first, totalRows),
                 [&] { pass(first, nullptr); });
        });
      });
    });
    return {ParallelDim::TokensTimesStatic, rowsPerToken * tiles * block};
  }

  /// Row x[xOffset, xOffset + k) of a `tile_mma` pass into staged row `m`
  /// by one warp: lane l takes the 8-column groups l, l + 32, ... (all
  /// loads issued first); through the fused norm where there is one (the
  /// ds.rms_norm warp kernel's sums, in its order, and roundings); bf16
  /// for bf16 weights, else f16 times a power of two per 128 columns (the
  /// half warp's largest magnitude brought into [2^14, 2^15)), its
  /// inverse stored beside the rows.
  void stageTileRow(Value xOffset, int64_t k,
                    const std::optional<Emitter::RowNorm> &norm, bool fp8,
                    Value sharedBase, Value m, const TileMmaLayout &layout,
                    Value lane) {
    constexpr int64_t kVec = 8;
    int64_t groups = k / kVec,
            rounds = (groups + Emitter::kWarp - 1) / Emitter::kWarp;
    Type f32 = e.b.getF32Type(), i8 = e.b.getI8Type();
    SmallVector<Value> columns, valid, xs;
    for (int64_t j = 0; j < rounds; ++j) {
      Value group = e.add(lane, e.c64(j * Emitter::kWarp));
      Value ok;
      if ((j + 1) * Emitter::kWarp > groups) {
        ok = cmpI(arith::CmpIPredicate::slt, group, e.c64(groups));
        group = select(ok, group, e.c64(groups - 1));
      }
      Value column = e.mul(group, e.c64(kVec));
      columns.push_back(column);
      valid.push_back(ok);
      xs.push_back(loadBF16x8(operand(0), e.add(xOffset, column)));
    }
    SmallVector<SmallVector<Value>> values;
    for (Value x : xs)
      values.push_back(widenBF16x8(x));
    if (norm) {
      Value sum = e.f32(0.0);
      for (const SmallVector<Value> &v : values) {
        Value part = e.f32(0.0);
        for (Value x : v)
          part = e.fma(x, x, part);
        sum = e.fadd(sum, part);
      }
      Value inv = e.invRMS(e.warpSum(sum), k, norm->eps);
      // The norm weights only now (from cache), not held with the row.
      for (int64_t j = 0; j < rounds; ++j) {
        SmallVector<Value> g =
            widenBF16x8(loadBF16x8(norm->weight, columns[j]));
        for (int64_t i = 0; i < kVec; ++i)
          values[j][i] = e.normalized(values[j][i], g[i], inv);
      }
    }
    Value rowStart = e.mul(m, e.c64(layout.rowStride));
    auto storeGroup = [&](int64_t j, Value v) {
      Value at = e.add(rowStart, e.mul(columns[j], e.c64(2)));
      auto put = [&] {
        LLVM::StoreOp::create(e.b, e.loc, v, e.gep(sharedBase, i8, at),
                              /*alignment=*/16);
      };
      if (valid[j])
        ifThen(valid[j], put);
      else
        put();
    };
    for (int64_t j = 0; j < rounds; ++j) {
      if (!fp8) {
        auto type = VectorType::get({kVec}, bf16());
        Value out = LLVM::UndefOp::create(e.b, e.loc, type);
        for (int64_t i = 0; i < kVec; ++i)
          out = LLVM::InsertElementOp::create(
              e.b, e.loc, out,
              arith::TruncFOp::create(e.b, e.loc, bf16(), values[j][i]),
              c32(static_cast<int32_t>(i)));
        storeGroup(j, out);
        continue;
      }
      // The half warp's 128 columns share a power-of-two scale.
      Value largest = e.f32(0.0);
      for (Value x : values[j])
        largest = e.fmax(largest, math::AbsFOp::create(e.b, e.loc, x));
      largest = lowLanesReduce(largest, 16, /*max=*/true);
      Value exponent = arith::AndIOp::create(
          e.b, e.loc,
          arith::ShRUIOp::create(e.b, e.loc, bitcast(i32(), largest), c32(23)),
          c32(0xFF));
      // 2^(141 - exponent) (largest times it in [2^14, 2^15)), kept a
      // normal number whose inverse is one too.
      Value field = arith::MinSIOp::create(
          e.b, e.loc, arith::SubIOp::create(e.b, e.loc, c32(268), exponent),
          c32(253));
      Value scale =
          bitcast(f32, arith::ShLIOp::create(e.b, e.loc, field, c32(23)));
      Value inverse =
          bitcast(f32, arith::ShLIOp::create(
                           e.b, e.loc,
                           arith::SubIOp::create(e.b, e.loc, c32(254), field),
                           c32(23)));
      Value out =
          LLVM::UndefOp::create(e.b, e.loc, VectorType::get({4}, i32()));
      for (int64_t i = 0; i < kVec; i += 2)
        out = LLVM::InsertElementOp::create(
            e.b, e.loc, out,
            packF16x2(e.fmul(values[j][i], scale),
                      e.fmul(values[j][i + 1], scale)),
            c32(static_cast<int32_t>(i / 2)));
      storeGroup(j, out);
      // Lane 0 of the half warp stores the inverse of its block.
      Value first =
          cmpI(arith::CmpIPredicate::eq, e.rem(lane, e.c64(16)), e.c64(0));
      if (valid[j])
        first = arith::AndIOp::create(e.b, e.loc, first, valid[j]);
      Value blockIndex = e.div(columns[j], e.c64(128));
      Value at =
          e.add(e.c64(layout.scalesOffset),
                e.mul(e.add(e.mul(m, e.c64(k / 128)), blockIndex), e.c64(4)));
      ifThen(first, [&] { e.store(inverse, sharedBase, e.div(at, e.c64(4))); });
    }
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
