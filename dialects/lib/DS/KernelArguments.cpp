//===- KernelArguments.cpp - launch arguments of kernel-level ops ---------===//
//
// See KernelArguments.h.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/KernelArguments.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include <algorithm>

using namespace mlir;

namespace dsc::ds {

bool isKernelOp(Operation *op) {
  return isa<EmbedOp, RMSNormOp, LinearOp, GatedLinearOp, SwiGLUOp, AddOp,
             LMHeadOp, SampleOp, LogProbsOp, RopeOp, MLACacheWriteOp,
             MLAAttentionOp, MLAAbsorbQueryOp, MLALatentAttentionOp,
             MLALatentAttentionPartialOp, MLAAttentionCombineOp,
             MLAAbsorbValueOp, RouterLogitsOp, MoESelectOp, MoEGateOp,
             MoEExpertUpOp, MoEExpertDownOp, MoELocalChoicesOp>(op);
}

std::vector<KernelArgument> kernelArguments(Operation *op) {
  std::vector<KernelArgument> args;
  for (OpOperand &operand : op->getOpOperands()) {
    args.push_back({KernelArgument::Operand, operand.getOperandNumber()});
    if (isa<FP8BlockWeightType>(operand.get().getType()))
      args.push_back(
          {KernelArgument::OperandScales, operand.getOperandNumber()});
  }
  for (OpResult result : op->getResults())
    if (isa<RankedTensorType>(result.getType()))
      args.push_back({KernelArgument::Result, result.getResultNumber()});
  if (llvm::any_of(op->getOperandTypes(),
                   [](Type t) { return isa<LatentCacheType>(t); }))
    args.push_back({KernelArgument::PageTable, 0});
  return args;
}

int64_t positionSplitHeadGroup(int64_t heads) {
  int64_t group = std::clamp<int64_t>(heads, 1, 8);
  while (heads % group != 0)
    --group;
  return group;
}

PositionSplitMmaLayout positionSplitMmaLayout(int64_t width) {
  PositionSplitMmaLayout l;
  l.rowStride = width + 8;
  l.scoreStride = 40;
  l.tileBytes = 32 * l.rowStride * 2;
  l.tilesOffset = kPositionSplitMmaHeads * l.rowStride * 2;
  l.scoresOffset = l.tilesOffset + 2 * l.tileBytes;
  l.bytes = l.scoresOffset + kPositionSplitMmaHeads * l.scoreStride * 4;
  return l;
}

std::optional<TileMmaProduct> tileMmaProduct(Operation *op, std::string *why) {
  auto fail = [&](const std::string &reason) -> std::optional<TileMmaProduct> {
    if (why)
      *why = reason;
    return std::nullopt;
  };
  if (!isa<LinearOp, GatedLinearOp, LMHeadOp>(op))
    return fail("tile_mma computes ds.linear, ds.gated_linear and ds.lm_head "
                "only");
  TileMmaProduct p;
  p.terms = isa<GatedLinearOp>(op) ? 2 : 1;
  Type weight = op->getOperand(1).getType();
  int64_t elementBytes = 2;
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(weight)) {
    if (fp8.getBlockCols() % 128 != 0 ||
        fp8.getBlockRows() % kTileMmaFeatures != 0)
      return fail("tile_mma needs fp8 scale blocks of a multiple of 128 "
                  "columns and 8 rows");
    p.fp8 = true;
    p.features = fp8.getRows();
    p.cols = fp8.getCols();
    elementBytes = 1;
  } else {
    auto type = dyn_cast<RankedTensorType>(weight);
    if (!type || type.getRank() != 2)
      return fail("tile_mma needs a 2-D weight");
    p.features = type.getDimSize(0);
    p.cols = type.getDimSize(1);
  }
  if (p.features % kTileMmaFeatures != 0)
    return fail("tile_mma needs a multiple of 8 output features, not " +
                std::to_string(p.features));
  if (p.cols * elementBytes % 128 != 0)
    return fail("tile_mma needs weight rows of a multiple of 128 bytes, not " +
                std::to_string(p.cols * elementBytes));
  if (getInputNorm(op) && p.cols % 256 != 0)
    return fail("tile_mma folds a norm into rows of a multiple of 256 "
                "columns only, not " +
                std::to_string(p.cols));
  p.iterations = p.cols * elementBytes / 128;
  return p;
}

TileMmaLayout tileMmaLayout(int64_t cols, bool fp8, int64_t terms,
                            int64_t warps, int64_t rows) {
  TileMmaLayout l;
  l.rows = rows;
  l.rowStride = cols * 2 + 16;
  l.scalesOffset = rows * l.rowStride;
  int64_t scales = fp8 ? rows * ((cols + 127) / 128) * 4 : 0;
  l.sumsOffset = (l.scalesOffset + scales + 15) / 16 * 16;
  l.bytes = l.sumsOffset + warps * terms * 32 * 4 * 4;
  return l;
}

TileMmaLayout tileMmaLayoutWithin(int64_t cols, bool fp8, int64_t terms,
                                  int64_t warps, int64_t maxBytes) {
  for (int64_t rows = kTileMmaRows; rows >= 1; rows /= 2) {
    TileMmaLayout l = tileMmaLayout(cols, fp8, terms, warps, rows);
    if (l.bytes <= maxBytes)
      return l;
  }
  return {};
}

bool fp8PairColumns(int64_t cols, int64_t bf16Terms, int64_t fp8BlockCols) {
  constexpr int64_t kPairSpan = 32 * kWarpAsyncFp8PairColumns;
  return bf16Terms == 0 && cols % kWarpAsyncFp8PairColumns == 0 &&
         fp8BlockCols > 0 && fp8BlockCols % kWarpAsyncFp8PairColumns == 0 &&
         kPairSpan % fp8BlockCols == 0;
}

WarpStageLayout warpStageLayout(int64_t cols, int64_t bf16Terms,
                                int64_t fp8Terms, int64_t loadsInFlight,
                                int64_t maxWarpBytes, int64_t fp8BlockCols) {
  constexpr int64_t kLanes = 32;
  WarpStageLayout l;
  int64_t terms = bf16Terms + fp8Terms;
  if (cols <= 0 || terms <= 0)
    return l;
  // e4m3 rows in 16-column groups: each lane's weights one 16-byte copy,
  // which may bypass L1 (cp.async.cg; the 4- and 8-byte copies are .ca
  // only), and the group's scales copied once each.
  int64_t pairSpan = kLanes * kWarpAsyncFp8PairColumns;
  bool pairs = fp8PairColumns(cols, bf16Terms, fp8BlockCols);
  if (pairs) {
    l.laneColumns = kWarpAsyncFp8PairColumns;
    l.scaleBytes = (pairSpan / fp8BlockCols * 4 + 15) / 16 * 16;
  }
  int64_t span = kLanes * l.laneColumns;
  // dotLanes' split of the groups into iterations.
  int64_t groups = (cols + span - 1) / span;
  int64_t perIteration = std::clamp<int64_t>(
      loadsInFlight / (terms * l.laneColumns / 8), 1, groups);
  l.iterations = (groups + perIteration - 1) / perIteration;
  l.groupsPerIteration = (groups + l.iterations - 1) / l.iterations;
  l.iterationBytes = l.groupsPerIteration *
                     (pairs ? terms * (kLanes * 16 + l.scaleBytes)
                            : kLanes * (16 * bf16Terms + 12 * fp8Terms));
  l.stages =
      std::clamp<int64_t>(maxWarpBytes / l.iterationBytes, 1, l.iterations);
  l.warpBytes = l.stages * l.iterationBytes;
  // Not where the warp's share holds one stage of 16-column groups but
  // two or more of 8: the warp would wait for each stage with none in
  // flight behind it (V2-Lite's rows in an A100's share).
  if (pairs && l.stages == 1) {
    WarpStageLayout narrow =
        warpStageLayout(cols, bf16Terms, fp8Terms, loadsInFlight, maxWarpBytes);
    if (narrow.stages > 1)
      return narrow;
  }
  return l;
}

std::optional<MoEDownTerms> moeDownTerms(MoEExpertDownOp op) {
  struct Rows {
    int64_t cols = 0, blockCols = 1;
    bool fp8 = false;
    bool readsInGroups() const {
      return cols % 8 == 0 && (!fp8 || blockCols % 8 == 0);
    }
  };
  auto rowsOf = [](mlir::Type type) {
    Rows r;
    if (auto fp8 = mlir::dyn_cast<FP8BlockWeightType>(type)) {
      r.fp8 = true;
      r.cols = fp8.getCols();
      r.blockCols = fp8.getBlockCols();
    } else {
      r.cols = mlir::cast<mlir::RankedTensorType>(type).getShape().back();
    }
    return r;
  };
  Rows down = rowsOf(op.getDown().getType());
  if (!down.readsInGroups())
    return std::nullopt;
  MoEDownTerms t;
  t.cols = down.cols;
  int64_t topK = op.getIndices().getType().getDimSize(1);
  (down.fp8 ? t.fp8Terms : t.bf16Terms) += topK;
  if (down.fp8)
    t.fp8BlockCols = down.blockCols;
  if (op.getSharedInput()) {
    Rows shared = rowsOf(op.getSharedDown().getType());
    if (shared.readsInGroups() && shared.cols % down.cols == 0 &&
        (!shared.fp8 || down.cols % shared.blockCols == 0)) {
      t.sharedSegments = shared.cols / down.cols;
      (shared.fp8 ? t.fp8Terms : t.bf16Terms) += t.sharedSegments;
      if (shared.fp8 && (!down.fp8 || shared.blockCols != down.blockCols))
        t.fp8BlockCols = 0;
    }
  }
  t.inputBytes = (topK + t.sharedSegments) * t.cols * 2;
  return t;
}

int64_t resolvePageSize(int64_t requested, int64_t maxSeqLen) {
  if (maxSeqLen <= 0 || requested < 0)
    return 0;
  if (requested == 0) {
    int64_t page = std::min<int64_t>(64, maxSeqLen);
    while (maxSeqLen % page != 0)
      --page;
    return page;
  }
  return maxSeqLen % requested == 0 ? requested : 0;
}

} // namespace dsc::ds
