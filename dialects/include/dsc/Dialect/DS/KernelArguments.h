//===- KernelArguments.h - launch arguments of kernel-level ops -*- C++ -*-===//
//
// Which ds ops are kernel-level (one kernel launch each) and the order of
// their kernels' pointer arguments. Both sides of a launch use it: the
// kernel generators of every target (which read the pointers in this order)
// and ds-schedule (which writes the launch arguments), so it belongs to the
// dialect rather than to either.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_KERNELARGUMENTS_H
#define DSC_DIALECT_DS_KERNELARGUMENTS_H

#include "mlir/IR/Operation.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace dsc::ds {

class MoEExpertDownOp;

/// One pointer argument of a kernel launch.
struct KernelArgument {
  enum Kind { Operand, OperandScales, Result, PageTable } kind;
  unsigned index; // operand or result number (0 for the page table)
};

/// The pointer arguments of the kernel of `op`, in order: each operand (an
/// fp8 weight adds its scales right after its data; a cache operand is the
/// base of the op's layer inside a page), then each tensor result, then, for
/// an op that reads or writes the paged cache, the page table. A cache
/// result shares the operand's storage and has no argument.
std::vector<KernelArgument> kernelArguments(mlir::Operation *op);

/// The positions per page of the paged latent cache: `requested`, or with 0
/// the largest divisor of `maxSeqLen` that is at most 64; 0 when
/// `requested` is negative or does not divide `maxSeqLen`. Kernels and the
/// schedule both address the cache by it.
int64_t resolvePageSize(int64_t requested, int64_t maxSeqLen);

/// The heads one block of a `position_split` latent attention serves: the
/// largest divisor of `heads` that is at most 8: a warp per head of a
/// 256-thread block (measured on the H200 at V2-Lite's 16 heads, groups of
/// 8 beat groups of 16, two heads per warp, at every context: 351 vs 332
/// tok/s at batch 1, 323 vs 296 at 4K: twice the blocks, half the work per
/// lane, the tile read from L2 by both groups).
/// ds-configure-kernels sizes the block by it and the kernel indexes by it.
int64_t positionSplitHeadGroup(int64_t heads);

/// The heads one block of a `position_split_mma` latent attention serves:
/// the M of mma.sync m16n8k16 (a model with fewer heads, or a last group
/// with fewer, pads the rows with zero queries).
constexpr int64_t kPositionSplitMmaHeads = 16;

/// The dynamic shared memory of a `position_split_mma` block, in bytes from
/// its start: the group's 16 queries, then two tiles of 32 cache rows (rows
/// of `rowStride` bf16: the cache row width plus 8, so that the 8 rows an
/// ldmatrix reads fall in different banks), then the tile's 16 x 32 f32
/// scores (rows of `scoreStride`).
struct PositionSplitMmaLayout {
  int64_t rowStride, scoreStride, tileBytes, tilesOffset, scoresOffset, bytes;
};
PositionSplitMmaLayout positionSplitMmaLayout(int64_t width);

/// ds.rms_norm on CUDA cores reads its row in 256-column groups (lane l
/// takes columns g * 256 + 8 l, 16 bytes). The `warp` kernel (a warp per
/// row) holds up to kRMSNormWarpGroups groups of the row and their norm
/// weights in registers, every load issued at once; a wider row (V3's
/// 7,168 columns: 28 groups) would take one memory latency per group, so
/// it gets a block per row (`block`) whose warps hold kRMSNormBlockGroups
/// groups each.
constexpr int64_t kRMSNormWarpGroups = 8;
constexpr int64_t kRMSNormBlockGroups = 2;

/// ds.logprobs reports at most kMaxTopLogProbs most likely tokens per row
/// (the kernels keep them in shared memory) and selects over vocabularies
/// of at most kMaxLogProbsVocab tokens (its tie passes read 24 index bits).
constexpr int64_t kMaxTopLogProbs = 64;
constexpr int64_t kMaxLogProbsVocab = int64_t(1) << 24;

/// How a `warp_async` product stages a warp's weights in shared memory:
/// its rows of `cols` columns are read in groups of `laneColumns` columns
/// a lane (lane l takes columns g * 32 * laneColumns + laneColumns * l),
/// `groupsPerIteration` groups of every term per iteration, and each
/// iteration's groups take `iterationBytes` of the warp's shared memory.
/// 8 columns a lane: per lane and term, 16 bytes of bf16 weights or 8 of
/// e4m3 with their 4-byte block scale. 16 (kWarpAsyncFp8PairColumns, e4m3
/// rows only: a lane's weights one 16-byte copy, which bypasses L1): per
/// term, 32 lanes' 16 bytes, then the group's block scales once each
/// (`scaleBytes`, 16-byte aligned). `stages` iterations are in flight at
/// once; `warpBytes` is their shared memory.
/// The activation groups of 8 columns a `warp_async` lane reads per
/// iteration.
constexpr int64_t kWarpAsyncLoadsInFlight = 8;
constexpr int64_t kWarpAsyncFp8PairColumns = 16;
/// Whether a warp's rows of `cols` columns may be read 16 columns a lane
/// (kWarpAsyncFp8PairColumns; lane l takes columns g * 512 + 16 l): every
/// row fp8 (`bf16Terms` 0), 16 | cols, and the rows' common block width
/// `fp8BlockCols` (0: none) a multiple of 16 that divides a warp's 512
/// columns, so a lane's 16 columns lie in one block and a group's blocks
/// start at its first column (the terms starting at multiples of the block
/// width). Both dotLanes paths (staged by warpStageLayout, and the
/// registers of the `warp` strategy) use it.
bool fp8PairColumns(int64_t cols, int64_t bf16Terms, int64_t fp8BlockCols);
struct WarpStageLayout {
  int64_t laneColumns = 8, groupsPerIteration = 0, iterations = 0,
          iterationBytes = 0, stages = 0, warpBytes = 0, scaleBytes = 0;
};
/// The layout of `bf16Terms` bf16 and `fp8Terms` fp8 rows of `cols`
/// columns, `loadsInFlight` activation groups a lane reads per iteration,
/// as many stages as `maxWarpBytes` holds (at least one; at most the
/// iterations). 16 columns a lane where every row is fp8, 16 | cols, the
/// rows' common block width `fp8BlockCols` (0: none) is a multiple of 16
/// that divides a warp's 512 columns (a lane's 16 columns lie in one block;
/// a group's blocks start at its first column, the terms starting at
/// multiples of the block width), unless that leaves one stage where 8
/// columns a lane would have two or more.
WarpStageLayout warpStageLayout(int64_t cols, int64_t bf16Terms,
                                int64_t fp8Terms, int64_t loadsInFlight,
                                int64_t maxWarpBytes, int64_t fp8BlockCols = 0);

/// The rows a fused `ds.moe_expert_down` warp reads in one pass: its top-k
/// routed rows, plus the shared expert's row as segments of the routed
/// rows' length where it splits into them (`sharedSegments`, 0 where it is
/// read apart or there is none). Null where the rows do not read in
/// 8-column groups.
struct MoEDownTerms {
  int64_t cols = 0, bf16Terms = 0, fp8Terms = 0, sharedSegments = 0;
  /// The fp8 rows' scale block width where they all have the same (else
  /// 0), for warpStageLayout.
  int64_t fp8BlockCols = 0;
  /// The activations those rows are dotted with, one token's: its top-k
  /// routed rows then the shared expert's input row where it is read in
  /// segments (bf16 bytes; what a `warp_async` block stages in shared
  /// memory before its warps' weight stages).
  int64_t inputBytes = 0;
};
std::optional<MoEDownTerms> moeDownTerms(MoEExpertDownOp op);

/// A `tile_mma` product (ds.linear, ds.gated_linear, ds.lm_head on tensor
/// cores): a block per kTileMmaFeatures output features (mma.sync
/// m16n8k16's N: the weight rows are its B operand) and kTileMmaRows input
/// rows (its M), its warps taking the 128-byte iterations of the weight
/// rows in turn. A warp's iterations stay in its registers together: at
/// most kTileMmaRegisterIterations over all its weights (16 registers
/// each).
constexpr int64_t kTileMmaFeatures = 8;
constexpr int64_t kTileMmaRows = 16;
constexpr int64_t kTileMmaRegisterIterations = 4;
/// A product `tile_mma` can compute: its weights' output features and
/// columns, its terms (2 for ds.gated_linear's gate and up), whether they
/// are fp8 and the 128-byte iterations of a weight row.
struct TileMmaProduct {
  int64_t features = 0, cols = 0, terms = 1, iterations = 0;
  bool fp8 = false;
};
/// `op`'s product shape where `tile_mma` applies to it (ds.linear,
/// ds.gated_linear, ds.lm_head with 2-D weights; features a multiple of 8;
/// rows a multiple of 128 bytes; fp8 scale blocks of a multiple of 128
/// columns and 8 rows; a folded norm's row a multiple of 256 columns),
/// else null and, where `why` is given, the reason.
std::optional<TileMmaProduct> tileMmaProduct(mlir::Operation *op,
                                             std::string *why = nullptr);
/// A `tile_mma` block's dynamic shared memory, in bytes from its start:
/// `rows` staged activation rows (`rowStride` apart: the row's f16 or bf16
/// plus 16 bytes, so that the rows fall in different banks), for fp8
/// weights their f32 inverse scales ([rows][cols / 128]), then the warps'
/// f32 sums ([warps][terms][32 lanes][4]).
struct TileMmaLayout {
  /// Rows staged at once: a power of two, at most kTileMmaRows; a block
  /// takes its rows in passes of this many.
  int64_t rows = 0, rowStride = 0, scalesOffset = 0, sumsOffset = 0, bytes = 0;
};
TileMmaLayout tileMmaLayout(int64_t cols, bool fp8, int64_t terms,
                            int64_t warps, int64_t rows);
/// The layout staging the most rows (16, 8, ..., 1) in `maxBytes`; `rows`
/// is 0 where not even one fits. The configuration pass sizes a block by
/// it and the kernel recovers its rows from the bytes it was given.
TileMmaLayout tileMmaLayoutWithin(int64_t cols, bool fp8, int64_t terms,
                                  int64_t warps, int64_t maxBytes);

/// Whether `op` is a kernel-level op (every target generates its kernel).
bool isKernelOp(mlir::Operation *op);

} // namespace dsc::ds

#endif // DSC_DIALECT_DS_KERNELARGUMENTS_H
