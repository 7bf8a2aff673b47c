//===- Decompose.cpp - ds-decompose ---------------------------------------===//
//
// Splits the model-level ops that hold several kernels (ds.mla, ds.mlp,
// ds.moe_experts) into kernel-level ops, each one launch with one parallel
// dimension. The patterns are exported (populateDSDecomposePatterns) for
// pipelines of other targets.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Compiler/Transforms.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace dsc {
#define GEN_PASS_DEF_DSDECOMPOSE
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// [T, features] bf16 with the token count of `like`.
RankedTensorType tokenRows(Value like, int64_t features) {
  auto type = cast<RankedTensorType>(like.getType());
  return RankedTensorType::get({type.getDimSize(0), features},
                               type.getElementType());
}

int64_t weightRows(Value weight) {
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(weight.getType()))
    return fp8.getRows();
  auto shape = cast<RankedTensorType>(weight.getType()).getShape();
  return shape[shape.size() - 2];
}

Value linear(PatternRewriter &rewriter, Location loc, Value input,
             Value weight) {
  return LinearOp::create(rewriter, loc, tokenRows(input, weightRows(weight)),
                          input, weight);
}

struct DecomposeMLP : OpRewritePattern<MLPOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MLPOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value gate = linear(rewriter, loc, op.getInput(), op.getGate());
    Value up = linear(rewriter, loc, op.getInput(), op.getUp());
    Value hidden = SwiGLUOp::create(rewriter, loc, gate, up);
    rewriter.replaceOp(op, linear(rewriter, loc, hidden, op.getDown()));
    return success();
  }
};

struct DecomposeMLA : OpRewritePattern<MLAOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MLAOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value q;
    if (op.getQProj()) {
      q = linear(rewriter, loc, x, op.getQProj());
    } else {
      Value qa = linear(rewriter, loc, x, op.getQAProj());
      Value normed =
          RMSNormOp::create(rewriter, loc, qa, op.getQANorm(), op.getEpsAttr());
      q = linear(rewriter, loc, normed, op.getQBProj());
    }
    Value kv = linear(rewriter, loc, x, op.getKvAProj());
    Value cache = MLACacheWriteOp::create(
        rewriter, loc, op.getCache().getType(), kv, op.getKvANorm(),
        op.getPositions(), op.getSlots(), op.getCache(), op.getLayerAttr(),
        op.getEpsAttr(), op.getRopeAttr());
    int64_t heads = op.getNumHeads(), vDim = op.getVHeadDim();
    Value attention;
    if (op.getAbsorbed()) {
      // Latent space (§2.7) in three kernels: the queries through W_UK, the
      // attention over the cache, the result through W_UV.
      auto cacheType = cast<LatentCacheType>(op.getCache().getType());
      int64_t latent = cacheType.getLatent(), rope = cacheType.getRope();
      auto tokensDim = cast<RankedTensorType>(x.getType()).getDimSize(0);
      Type bf16 = rewriter.getBF16Type();
      Value qLat = MLAAbsorbQueryOp::create(
          rewriter, loc,
          RankedTensorType::get({tokensDim, heads, latent + rope}, bf16), q,
          op.getPositions(), op.getKvBProj(), op.getNumHeadsAttr(),
          op.getQkNopeHeadDimAttr(), op.getQkRopeHeadDimAttr(),
          op.getVHeadDimAttr(), op.getRopeAttr());
      Value oLat = MLALatentAttentionOp::create(
          rewriter, loc,
          RankedTensorType::get({tokensDim, heads, latent}, bf16), qLat,
          op.getPositions(), op.getSlots(), cache, op.getLayerAttr(),
          op.getNumHeadsAttr(), op.getSoftmaxScaleAttr());
      attention = MLAAbsorbValueOp::create(
          rewriter, loc, tokenRows(x, heads * vDim), oLat, op.getKvBProj(),
          op.getNumHeadsAttr(), op.getQkNopeHeadDimAttr(),
          op.getVHeadDimAttr());
    } else {
      attention = MLAAttentionOp::create(
          rewriter, loc, tokenRows(x, heads * vDim), q, op.getPositions(),
          op.getSlots(), cache, op.getKvBProj(), op.getLayerAttr(),
          op.getNumHeadsAttr(), op.getQkNopeHeadDimAttr(),
          op.getQkRopeHeadDimAttr(), op.getVHeadDimAttr(),
          op.getSoftmaxScaleAttr(), op.getRopeAttr(), UnitAttr());
    }
    Value out = linear(rewriter, loc, attention, op.getOProj());
    rewriter.replaceOp(op, {out, cache});
    return success();
  }
};

struct DecomposeMoEGate : OpRewritePattern<MoEGateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MoEGateOp op,
                                PatternRewriter &rewriter) const override {
    auto input = op.getInput().getType();
    int64_t experts = op.getWeight().getType().getDimSize(0);
    auto logitsType = RankedTensorType::get({input.getDimSize(0), experts},
                                            rewriter.getF32Type());
    Value logits = RouterLogitsOp::create(rewriter, op.getLoc(), logitsType,
                                          op.getInput(), op.getWeight());
    rewriter.replaceOpWithNewOp<MoESelectOp>(
        op, op.getWeights().getType(), op.getIndices().getType(), logits,
        op.getBias(), op.getScoringAttr(), op.getTopkMethodAttr(),
        op.getTopKAttr(), op.getNGroupAttr(), op.getTopkGroupAttr(),
        op.getNormTopkProbAttr(), op.getRoutedScalingFactorAttr());
    return success();
  }
};

struct DecomposeMoEExperts : OpRewritePattern<MoEExpertsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MoEExpertsOp op,
                                PatternRewriter &rewriter) const override {
    auto input = op.getInput().getType();
    auto indices = op.getIndices().getType();
    int64_t inner = weightRows(op.getGate());
    auto hiddenType = RankedTensorType::get(
        {input.getDimSize(0), indices.getDimSize(1), inner},
        input.getElementType());
    Value hidden =
        MoEExpertUpOp::create(rewriter, op.getLoc(), hiddenType, op.getInput(),
                              op.getIndices(), op.getGate(), op.getUp());
    rewriter.replaceOpWithNewOp<MoEExpertDownOp>(
        op, input, hidden, op.getWeights(), op.getIndices(), op.getDown());
    return success();
  }
};

struct DecomposePass : dsc::impl::DSDecomposeBase<DecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    dsc::populateDSDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void dsc::populateDSDecomposePatterns(RewritePatternSet &patterns) {
  patterns
      .add<DecomposeMLP, DecomposeMLA, DecomposeMoEGate, DecomposeMoEExperts>(
          patterns.getContext());
}
