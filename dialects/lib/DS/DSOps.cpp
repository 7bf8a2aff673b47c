//===- DSOps.cpp - ds operation verifiers --------------------------------===//
//
// The verifiers of the ds operations: every rule in an op's description that
// its ODS type constraints cannot express is checked here, with a message
// that names the operand and the expected value.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace dsc::ds;

#define GET_OP_CLASSES
#include "dsc/Dialect/DS/DSOps.cpp.inc"

namespace {
/// The logical shape of a weight value: a bf16/f32 tensor or an fp8 block
/// weight, seen as [E,] N x K.
struct WeightShape {
  SmallVector<int64_t> dims;
  int64_t rows() const { return dims[dims.size() - 2]; }
  int64_t cols() const { return dims.back(); }
};
} // namespace

static WeightShape getWeightShape(Type type) {
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(type))
    return {SmallVector<int64_t>(fp8.getShape())};
  auto tensor = cast<RankedTensorType>(type);
  return {SmallVector<int64_t>(tensor.getShape())};
}

/// Checks that `value` (a linear weight) is a [rows, cols] matrix.
static LogicalResult checkMatrix(Operation *op, StringRef name, Value value,
                                 int64_t rows, int64_t cols) {
  WeightShape shape = getWeightShape(value.getType());
  if (shape.dims.size() != 2)
    return op->emitOpError()
           << name << " must be a matrix, got rank " << shape.dims.size();
  if (shape.rows() != rows || shape.cols() != cols)
    return op->emitOpError()
           << name << " must have shape [" << rows << ", " << cols << "], got ["
           << shape.rows() << ", " << shape.cols() << "]";
  return success();
}

static LogicalResult checkVector(Operation *op, StringRef name, Value value,
                                 int64_t size) {
  int64_t actual = cast<RankedTensorType>(value.getType()).getDimSize(0);
  if (actual != size)
    return op->emitOpError()
           << name << " must have " << size << " elements, got " << actual;
  return success();
}

static int64_t lastDim(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape().back();
}

/// Token-major activations: [T, features] with a dynamic or static T.
static LogicalResult checkTokenMatrix(Operation *op, StringRef name,
                                      Value value, int64_t features) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != 2)
    return op->emitOpError() << name << " must be [tokens, " << features
                             << "], got rank " << type.getRank();
  if (type.getDimSize(1) != features)
    return op->emitOpError() << name << " must have " << features
                             << " features, got " << type.getDimSize(1);
  return success();
}

static bool sameTokenCount(Type a, Type b) {
  int64_t ta = cast<RankedTensorType>(a).getDimSize(0);
  int64_t tb = cast<RankedTensorType>(b).getDimSize(0);
  return ShapedType::isDynamic(ta) || ShapedType::isDynamic(tb) || ta == tb;
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  Type type = getType();
  bool stacked = getExperts().has_value();
  bool hasTemplate = getTensor().contains("{e}");
  if (getTensor().empty())
    return emitOpError("tensor name must not be empty");
  if (stacked != hasTemplate)
    return emitOpError(stacked ? "with experts, the tensor name must contain "
                                 "'{e}'"
                               : "tensor name contains '{e}' but experts is "
                                 "not set");

  ArrayRef<int64_t> shape;
  if (getQuantized()) {
    auto fp8 = dyn_cast<FP8BlockWeightType>(type);
    if (!fp8 || fp8.getScales() != ScaleFormat::F32)
      return emitOpError("a quantized weight must be !ds.fp8_block with f32 "
                         "scales, got ")
             << type;
    if (getScaleTensor())
      return emitOpError("a quantized weight has no scale tensor (the "
                         "runtime computes its scales at load)");
  }
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(type)) {
    // The scales come from the checkpoint or from quantizing at load.
    if (!getQuantized() && !getScaleTensor())
      return emitOpError("fp8 weight requires a scale tensor or 'quantized'");
    if (getScaleTensor() && stacked != getScaleTensor()->contains("{e}"))
      return emitOpError("scale tensor name must contain '{e}' exactly when "
                         "experts is set");
    shape = fp8.getShape();
  } else if (auto tensor = dyn_cast<RankedTensorType>(type)) {
    Type element = tensor.getElementType();
    if (!element.isBF16() && !element.isF32())
      return emitOpError("weight element type must be bf16 or f32 (fp8 "
                         "weights use !ds.fp8_block), got ")
             << element;
    if (getScaleTensor())
      return emitOpError("only fp8 weights have a scale tensor");
    if (!tensor.hasStaticShape())
      return emitOpError("weight shape must be static");
    shape = tensor.getShape();
  } else {
    return emitOpError("weight type must be a ranked tensor or "
                       "!ds.fp8_block, got ")
           << type;
  }
  for (int64_t d : shape)
    if (d <= 0)
      return emitOpError("weight dimensions must be positive");
  if (stacked) {
    int64_t experts = *getExperts();
    if (experts <= 0)
      return emitOpError("experts must be positive");
    if (shape.size() < 2 || shape.front() != experts)
      return emitOpError("leading dimension must equal experts (")
             << experts << ")";
  }
  if (ShardAttr shard = getShardAttr()) {
    int64_t dim = shard.getDim();
    if (dim >= static_cast<int64_t>(shape.size()))
      return emitOpError("shard dim ") << dim << " is outside the weight's "
                                       << shape.size() << " dimensions";
    if (shard.getInterleaved() && !stacked)
      return emitOpError("an interleaved shard needs an expert stack");
    // A part of an fp8 weight covers whole scale blocks along its dim (the
    // expert dimension of a stack has none).
    auto fp8 = dyn_cast<FP8BlockWeightType>(type);
    int64_t rank = static_cast<int64_t>(shape.size());
    if (fp8 && !(stacked && dim == 0)) {
      int64_t block = dim == rank - 1 ? fp8.getBlockCols() : fp8.getBlockRows();
      if (shape[dim] % block != 0)
        return emitOpError("an fp8 shard along dim ")
               << dim << " must cover whole scale blocks of " << block
               << ", got " << shape[dim];
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// GetWeightOp
//===----------------------------------------------------------------------===//

LogicalResult
GetWeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto weight =
      symbolTable.lookupNearestSymbolFrom<WeightOp>(*this, getNameAttr());
  if (!weight)
    return emitOpError("'") << getName() << "' does not name a ds.weight";
  if (weight.getType() != getResult().getType())
    return emitOpError("result type ")
           << getResult().getType() << " differs from the weight's type "
           << weight.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Dense building blocks
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::verify() {
  int64_t hidden = getTable().getType().getDimSize(1);
  if (failed(checkTokenMatrix(*this, "result", getResult(), hidden)))
    return failure();
  if (!sameTokenCount(getTokens().getType(), getResult().getType()))
    return emitOpError("result must have one row per token");
  return success();
}

LogicalResult RMSNormOp::verify() {
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError("eps must be positive");
  return checkVector(*this, "weight", getWeight(), lastDim(getInput()));
}

/// The shapes of `input x W^T -> result` for ds.linear ("weight") and
/// ds.gated_linear ("weights"): a matrix weight whose columns are the
/// input's features and whose rows are the result's, leading dimensions
/// kept.
static LogicalResult verifyProductShapes(Operation *op, Type weight,
                                         RankedTensorType input,
                                         RankedTensorType result, bool plural) {
  WeightShape w = getWeightShape(weight);
  if (w.dims.size() != 2)
    return op->emitOpError(plural ? "weights must be matrices, got rank "
                                  : "weight must be a matrix, got rank ")
           << w.dims.size();
  if (input.getShape().back() != w.cols())
    return op->emitOpError("input has ")
           << input.getShape().back() << " features but the "
           << (plural ? "weights expect " : "weight expects ") << w.cols();
  if (result.getRank() != input.getRank() ||
      input.getShape().drop_back() != result.getShape().drop_back())
    return op->emitOpError("result must keep the input's leading dimensions");
  if (result.getShape().back() != w.rows())
    return op->emitOpError("result has ")
           << result.getShape().back() << " features but the "
           << (plural ? "weights give " : "weight gives ") << w.rows();
  return success();
}

/// A fused epilogue's addends have the result's type.
static LogicalResult verifyAddends(Operation *op, ValueRange addends,
                                   Type result) {
  for (auto [i, addend] : llvm::enumerate(addends))
    if (addend.getType() != result)
      return op->emitOpError("addend ") << i << " has type " << addend.getType()
                                        << " but the result is " << result;
  return success();
}

/// A product's `norm(...)` clause: weight and eps together, the weight one
/// entry per input feature, eps positive.
static LogicalResult verifyInputNorm(Operation *op, Value weight,
                                     std::optional<APFloat> eps, Value input) {
  if (static_cast<bool>(weight) != eps.has_value())
    return op->emitOpError("needs both a norm weight and norm_eps, or neither");
  if (!weight)
    return success();
  if (!(eps->convertToDouble() > 0.0))
    return op->emitOpError("norm_eps must be positive");
  return checkVector(op, "norm weight", weight, lastDim(input));
}

LogicalResult LinearOp::verify() {
  auto result = getResult().getType();
  if (failed(verifyProductShapes(*this, getWeight().getType(),
                                 getInput().getType(), result,
                                 /*plural=*/false)) ||
      failed(verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput())))
    return failure();
  return verifyAddends(*this, getAddends(), result);
}

LogicalResult MoEExpertUpOp::verify() {
  return verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput());
}

bool dsc::ds::acceptsInputNorm(Operation *op) {
  return isa<LinearOp, GatedLinearOp, RouterLogitsOp, MoEGateOp, MoEExpertUpOp,
             LMHeadOp>(op);
}

std::optional<InputNorm> dsc::ds::getInputNorm(Operation *op) {
  std::optional<InputNorm> norm;
  llvm::TypeSwitch<Operation *>(op)
      .Case<LinearOp, GatedLinearOp, RouterLogitsOp, MoEGateOp, MoEExpertUpOp,
            LMHeadOp>([&](auto product) {
        MutableOperandRange weight = product.getNormWeightMutable();
        if (weight.size() == 1)
          norm = InputNorm{&weight[0], product.getNormEps()->convertToDouble()};
      });
  return norm;
}

void dsc::ds::setInputNorm(Operation *op, Value input, Value weight,
                           FloatAttr eps) {
  llvm::TypeSwitch<Operation *>(op)
      .Case<LinearOp, GatedLinearOp, RouterLogitsOp, MoEGateOp, MoEExpertUpOp,
            LMHeadOp>([&](auto product) {
        product.getInputMutable().assign(input);
        product.getNormWeightMutable().assign(weight);
        product.setNormEpsAttr(eps);
      });
}

LogicalResult MoEExpertDownOp::verify() {
  if (static_cast<bool>(getSharedInput()) != static_cast<bool>(getSharedDown()))
    return emitOpError("needs both the shared input and the shared down "
                       "weight, or neither");
  if (!getSharedInput())
    return getAddends().empty()
               ? success()
               : emitOpError("has addends but no shared product to add "
                             "them to");
  auto result = getResult().getType();
  if (failed(verifyProductShapes(*this, getSharedDown().getType(),
                                 getSharedInput().getType(), result,
                                 /*plural=*/false)))
    return failure();
  return verifyAddends(*this, getAddends(), result);
}

LogicalResult GatedLinearOp::verify() {
  if (getGate().getType() != getUp().getType())
    return emitOpError("gate and up weights must have one type, got ")
           << getGate().getType() << " and " << getUp().getType();
  if (failed(verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput())))
    return failure();
  return verifyProductShapes(*this, getGate().getType(), getInput().getType(),
                             getResult().getType(), /*plural=*/true);
}

LogicalResult RopeOp::verify() {
  auto type = getInput().getType();
  if (type.getRank() != 2 && type.getRank() != 3)
    return emitOpError("input must be [tokens, dim] or [tokens, heads, dim]");
  if (type.getShape().back() != getRope().getDim())
    return emitOpError("input's last dimension ")
           << type.getShape().back() << " differs from rope dim "
           << getRope().getDim();
  if (!sameTokenCount(type, getPositions().getType()))
    return emitOpError("positions must have one entry per token");
  return success();
}

LogicalResult MLPOp::verify() {
  int64_t hidden = lastDim(getInput());
  WeightShape gate = getWeightShape(getGate().getType());
  if (gate.dims.size() != 2)
    return emitOpError("gate must be a matrix");
  int64_t inner = gate.rows();
  if (failed(checkMatrix(*this, "gate", getGate(), inner, hidden)) ||
      failed(checkMatrix(*this, "up", getUp(), inner, hidden)) ||
      failed(checkMatrix(*this, "down", getDown(), hidden, inner)))
    return failure();
  return success();
}

LogicalResult LMHeadOp::verify() {
  auto weight = getWeight().getType();
  if (failed(
          checkTokenMatrix(*this, "input", getInput(), weight.getDimSize(1))) ||
      failed(
          checkTokenMatrix(*this, "result", getResult(), weight.getDimSize(0))))
    return failure();
  if (!sameTokenCount(getRows().getType(), getResult().getType()))
    return emitOpError("result must have one row per entry of rows");
  return verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput());
}

LogicalResult SampleOp::verify() {
  auto params = getParams().getType();
  if (params.getDimSize(1) != 8)
    return emitOpError("params must have 8 i32 words per row, got ")
           << params.getDimSize(1);
  if (!sameTokenCount(getLogits().getType(), params) ||
      !sameTokenCount(getLogits().getType(), getResult().getType()) ||
      !sameTokenCount(getLogits().getType(), getWeights().getType()))
    return emitOpError("logits, params and results must have the same rows");
  if (getWeights().getType().getDimSize(1) !=
      getLogits().getType().getDimSize(1))
    return emitOpError("weights must have one column per logit");
  if (ShapedType::isDynamic(getLogits().getType().getDimSize(1)))
    return emitOpError("the vocabulary size must be static");
  return success();
}

LogicalResult LogProbsOp::verify() {
  RankedTensorType logits = getLogits().getType();
  RankedTensorType params = getParams().getType();
  if (params.getDimSize(1) != 8)
    return emitOpError("params must have 8 i32 words per row, got ")
           << params.getDimSize(1);
  if (!sameTokenCount(logits, params) ||
      !sameTokenCount(logits, getChosen().getType()) ||
      !sameTokenCount(logits, getLogprobs().getType()) ||
      !sameTokenCount(logits, getIds().getType()))
    return emitOpError("logits, chosen, params and results must have the "
                       "same rows");
  int64_t vocab = logits.getDimSize(1);
  if (ShapedType::isDynamic(vocab))
    return emitOpError("the vocabulary size must be static");
  if (vocab > kMaxLogProbsVocab)
    return emitOpError("vocabulary of ")
           << vocab << " tokens; at most " << kMaxLogProbsVocab;
  int64_t columns = getLogprobs().getType().getDimSize(1);
  if (ShapedType::isDynamic(columns) ||
      getIds().getType().getDimSize(1) != columns)
    return emitOpError("logprobs and ids must have the same static column "
                       "count (1 + the top tokens reported)");
  int64_t top = columns - 1;
  if (top < 0 || top > std::min(kMaxTopLogProbs, vocab))
    return emitOpError("reports ")
           << top << " top tokens; at most " << kMaxTopLogProbs
           << " and at most the vocabulary";
  return success();
}

//===----------------------------------------------------------------------===//
// MLAOp
//===----------------------------------------------------------------------===//

LogicalResult MLAOp::verify() {
  int64_t hidden = lastDim(getInput());
  int64_t heads = getNumHeads(), qLora = getQLoraRank(),
          kvLora = getKvLoraRank(), nope = getQkNopeHeadDim(),
          rope = getQkRopeHeadDim(), vDim = getVHeadDim();
  if (heads <= 0 || kvLora <= 0 || nope <= 0 || rope <= 0 || vDim <= 0 ||
      qLora < 0)
    return emitOpError("head count and dims must be positive (q_lora_rank "
                       "may be 0)");
  if (failed(checkTokenMatrix(*this, "input", getInput(), hidden)))
    return failure();
  if (!sameTokenCount(getInput().getType(), getPositions().getType()) ||
      !sameTokenCount(getInput().getType(), getSlots().getType()))
    return emitOpError("positions and slots must have one entry per token");

  int64_t qkDim = nope + rope;
  bool lowRank = getQAProj() || getQANorm() || getQBProj();
  if (qLora == 0) {
    if (!getQProj() || lowRank)
      return emitOpError("with q_lora_rank = 0 the queries come from q alone "
                         "(no q_a, q_a_norm, q_b)");
    if (failed(checkMatrix(*this, "q", getQProj(), heads * qkDim, hidden)))
      return failure();
  } else {
    if (getQProj() || !getQAProj() || !getQANorm() || !getQBProj())
      return emitOpError("with q_lora_rank > 0 the queries need q_a, "
                         "q_a_norm and q_b (and no q)");
    if (failed(checkMatrix(*this, "q_a", getQAProj(), qLora, hidden)) ||
        failed(checkVector(*this, "q_a_norm", getQANorm(), qLora)) ||
        failed(checkMatrix(*this, "q_b", getQBProj(), heads * qkDim, qLora)))
      return failure();
  }
  if (failed(checkMatrix(*this, "kv_a", getKvAProj(), kvLora + rope, hidden)) ||
      failed(checkVector(*this, "kv_a_norm", getKvANorm(), kvLora)) ||
      failed(checkMatrix(*this, "kv_b", getKvBProj(), heads * (nope + vDim),
                         kvLora)) ||
      failed(checkMatrix(*this, "o", getOProj(), hidden, heads * vDim)))
    return failure();

  LatentCacheType cache = getCache().getType();
  if (cache.getLatent() != kvLora || cache.getRope() != rope)
    return emitOpError("cache stores ")
           << cache.getLatent() << " latent + " << cache.getRope()
           << " rope values per token, but the layer needs " << kvLora << " + "
           << rope;
  int64_t layer = getLayer();
  if (layer < 0 || layer >= cache.getLayers())
    return emitOpError("layer ") << layer << " is outside the cache's "
                                 << cache.getLayers() << " layers";
  if (getRope().getDim() != rope)
    return emitOpError("rope dim ")
           << getRope().getDim() << " differs from qk_rope_head_dim " << rope;
  if (!(getSoftmaxScale().convertToDouble() > 0.0))
    return emitOpError("softmax_scale must be positive");
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError("eps must be positive");
  if (getResult().getType() != getInput().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

//===----------------------------------------------------------------------===//
// MoE
//===----------------------------------------------------------------------===//

/// The routing rules shared by ds.moe_gate and ds.moe_select: `tokens` is
/// the type whose first dimension counts the tokens.
template <typename RoutingOp>
static LogicalResult verifyRouting(RoutingOp op, int64_t experts, Type tokens) {
  int64_t topK = op.getTopK(), groups = op.getNGroup(),
          keptGroups = op.getTopkGroup();
  if (groups <= 0 || experts % groups != 0)
    return op.emitOpError("n_group (")
           << groups << ") must divide the " << experts << " experts";
  if (keptGroups < 1 || keptGroups > groups)
    return op.emitOpError("topk_group (")
           << keptGroups << ") must be in [1, n_group = " << groups << "]";
  int64_t reachable = keptGroups * (experts / groups);
  if (topK < 1 || topK > reachable)
    return op.emitOpError("top_k (")
           << topK << ") must be in [1, " << reachable
           << "], the experts held by the " << keptGroups << " kept groups";
  bool noaux = op.getTopkMethod() == TopkMethod::NoauxTc;
  if (noaux != static_cast<bool>(op.getBias()))
    return op.emitOpError(noaux ? "noaux_tc requires a correction bias"
                                : "a correction bias is only used by noaux_tc");
  if (op.getBias() && failed(checkVector(op, "bias", op.getBias(), experts)))
    return failure();
  if (noaux && experts / groups < 2)
    return op.emitOpError("noaux_tc scores a group by its two best experts, "
                          "so groups need at least 2 experts");
  if (!(op.getRoutedScalingFactor().convertToDouble() > 0.0))
    return op.emitOpError("routed_scaling_factor must be positive");
  for (Value result : {op.getWeights(), op.getIndices()}) {
    auto type = cast<RankedTensorType>(result.getType());
    if (type.getDimSize(1) != topK)
      return op.emitOpError("weights and indices must be [tokens, ")
             << topK << "]";
    if (!sameTokenCount(type, tokens))
      return op.emitOpError("weights and indices must have one row per token");
  }
  return success();
}

LogicalResult MoEGateOp::verify() {
  auto weight = getWeight().getType();
  if (failed(
          checkTokenMatrix(*this, "input", getInput(), weight.getDimSize(1))))
    return failure();
  if (failed(verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput())))
    return failure();
  return verifyRouting(*this, weight.getDimSize(0), getInput().getType());
}

LogicalResult MoESelectOp::verify() {
  auto logits = getLogits().getType();
  return verifyRouting(*this, logits.getDimSize(1), logits);
}

LogicalResult MoEExpertsOp::verify() {
  int64_t hidden = lastDim(getInput());
  WeightShape gate = getWeightShape(getGate().getType());
  WeightShape up = getWeightShape(getUp().getType());
  WeightShape down = getWeightShape(getDown().getType());
  if (gate.dims.size() != 3 || up.dims.size() != 3 || down.dims.size() != 3)
    return emitOpError("gate, up and down must be [experts, rows, cols] "
                       "stacks");
  int64_t experts = gate.dims[0], inner = gate.rows();
  auto expect = [&](StringRef name, const WeightShape &s, int64_t rows,
                    int64_t cols) -> LogicalResult {
    if (s.dims[0] == experts && s.rows() == rows && s.cols() == cols)
      return success();
    return emitOpError() << name << " must have shape [" << experts << ", "
                         << rows << ", " << cols << "], got [" << s.dims[0]
                         << ", " << s.rows() << ", " << s.cols() << "]";
  };
  if (failed(expect("gate", gate, inner, hidden)) ||
      failed(expect("up", up, inner, hidden)) ||
      failed(expect("down", down, hidden, inner)))
    return failure();
  auto weights = getWeights().getType();
  if (weights.getShape() != getIndices().getType().getShape())
    return emitOpError("weights and indices must have the same shape");
  if (!sameTokenCount(weights, getInput().getType()))
    return emitOpError("weights and indices must have one row per token");
  // A rank of a partitioned program holds fewer experts than the router
  // chooses from.
  if (weights.getDimSize(1) > experts &&
      !getIndices().getDefiningOp<MoELocalChoicesOp>())
    return emitOpError("cannot choose ")
           << weights.getDimSize(1) << " of " << experts << " experts";
  if (getResult().getType() != getInput().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

//===----------------------------------------------------------------------===//
// Several ranks
//===----------------------------------------------------------------------===//

LogicalResult RankOp::verify() {
  auto type = cast<RankedTensorType>(getResult().getType());
  if (type.getRank() != 1 || type.getDimSize(0) != 1)
    return emitOpError("result must be tensor<1xi32>, got ") << type;
  return success();
}

LogicalResult AllReduceOp::verify() {
  if (getRanks() < 2)
    return emitOpError("needs at least 2 ranks, got ") << getRanks();
  return success();
}

LogicalResult AllGatherOp::verify() {
  if (getRanks() < 2)
    return emitOpError("needs at least 2 ranks, got ") << getRanks();
  auto input = getInput().getType(), result = getResult().getType();
  if (input.getElementType() != result.getElementType() ||
      !sameTokenCount(input, result))
    return emitOpError("result must have the input's rows and element type");
  if (ShapedType::isDynamic(input.getDimSize(1)) ||
      result.getDimSize(1) != input.getDimSize(1) * getRanks())
    return emitOpError("result must have ")
           << getRanks() << " times the input's " << input.getDimSize(1)
           << " columns, got " << result.getDimSize(1);
  return success();
}

LogicalResult MoELocalChoicesOp::verify() {
  if (getRanks() < 2)
    return emitOpError("needs at least 2 ranks, got ") << getRanks();
  auto rank = cast<RankedTensorType>(getRank().getType());
  if (rank.getRank() != 1 || rank.getDimSize(0) != 1)
    return emitOpError("rank must be tensor<1xi32>, got ") << rank;
  return success();
}

//===----------------------------------------------------------------------===//
// Kernel-level ops
//===----------------------------------------------------------------------===//

LogicalResult MLACacheWriteOp::verify() {
  LatentCacheType cache = getCache().getType();
  int64_t latent = cache.getLatent(), rope = cache.getRope();
  if (failed(checkTokenMatrix(*this, "kv", getKv(), latent + rope)) ||
      failed(checkVector(*this, "norm", getNorm(), latent)))
    return failure();
  int64_t layer = getLayer();
  if (layer < 0 || layer >= cache.getLayers())
    return emitOpError("layer ") << layer << " is outside the cache's "
                                 << cache.getLayers() << " layers";
  if (getRope().getDim() != rope)
    return emitOpError("rope dim ")
           << getRope().getDim() << " differs from the cache's " << rope;
  return success();
}

LogicalResult MLAAttentionOp::verify() {
  LatentCacheType cache = getCache().getType();
  int64_t heads = getNumHeads(), nope = getQkNopeHeadDim(),
          rope = getQkRopeHeadDim(), vDim = getVHeadDim();
  if (heads <= 0 || nope <= 0 || rope <= 0 || vDim <= 0)
    return emitOpError("head count and dims must be positive");
  if (failed(checkTokenMatrix(*this, "q", getQ(), heads * (nope + rope))) ||
      failed(checkMatrix(*this, "kv_b", getKvB(), heads * (nope + vDim),
                         cache.getLatent())) ||
      failed(checkTokenMatrix(*this, "result", getResult(), heads * vDim)))
    return failure();
  if (cache.getRope() != rope || getRope().getDim() != rope)
    return emitOpError("rope dims of the cache (")
           << cache.getRope() << ") and the rope attribute ("
           << getRope().getDim() << ") must equal qk_rope_head_dim " << rope;
  int64_t layer = getLayer();
  if (layer < 0 || layer >= cache.getLayers())
    return emitOpError("layer ") << layer << " is outside the cache's "
                                 << cache.getLayers() << " layers";
  return success();
}

/// [T, heads, width] bf16 activations.
static LogicalResult checkHeads(Operation *op, StringRef name, Value value,
                                int64_t heads, int64_t width) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != 3 || type.getDimSize(1) != heads ||
      type.getDimSize(2) != width)
    return op->emitOpError() << name << " must be [tokens, " << heads << ", "
                             << width << "], got " << type;
  return success();
}

static int64_t latentOf(Value kvB) {
  WeightShape shape = getWeightShape(kvB.getType());
  return shape.dims.empty() ? 0 : shape.cols();
}

LogicalResult MLAAbsorbQueryOp::verify() {
  int64_t heads = getNumHeads(), nope = getQkNopeHeadDim(),
          rope = getQkRopeHeadDim(), vDim = getVHeadDim();
  if (heads <= 0 || nope <= 0 || rope <= 0 || vDim <= 0)
    return emitOpError("head count and dims must be positive");
  int64_t latent = latentOf(getKvB());
  if (failed(checkTokenMatrix(*this, "q", getQ(), heads * (nope + rope))) ||
      failed(checkMatrix(*this, "kv_b", getKvB(), heads * (nope + vDim),
                         latent)) ||
      failed(checkHeads(*this, "result", getResult(), heads, latent + rope)))
    return failure();
  if (getRope().getDim() != rope)
    return emitOpError("the rope attribute's dim (")
           << getRope().getDim() << ") must equal qk_rope_head_dim " << rope;
  if (!sameTokenCount(getQ().getType(), getResult().getType()))
    return emitOpError("result must have one row per token");
  return success();
}

LogicalResult MLALatentAttentionOp::verify() {
  LatentCacheType cache = getCache().getType();
  int64_t heads = getNumHeads();
  if (heads <= 0)
    return emitOpError("head count must be positive");
  if (failed(checkHeads(*this, "q", getQ(), heads,
                        cache.getLatent() + cache.getRope())) ||
      failed(
          checkHeads(*this, "result", getResult(), heads, cache.getLatent())))
    return failure();
  if (!sameTokenCount(getQ().getType(), getResult().getType()))
    return emitOpError("result must have one row per token");
  int64_t layer = getLayer();
  if (layer < 0 || layer >= cache.getLayers())
    return emitOpError("layer ") << layer << " is outside the cache's "
                                 << cache.getLayers() << " layers";
  return success();
}

LogicalResult MLALatentAttentionPartialOp::verify() {
  LatentCacheType cache = getCache().getType();
  int64_t heads = getNumHeads(), latent = cache.getLatent();
  if (heads <= 0)
    return emitOpError("head count must be positive");
  if (failed(checkHeads(*this, "q", getQ(), heads, latent + cache.getRope())))
    return failure();
  auto partial = cast<RankedTensorType>(getPartial().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());
  int64_t splits = lse.getRank() == 3 ? lse.getDimSize(1) : 0;
  if (lse.getRank() != 3 || ShapedType::isDynamic(splits) || splits < 1 ||
      lse.getDimSize(2) != heads)
    return emitOpError("lse must be [tokens, splits, ")
           << heads << "] with a static splits >= 1, got " << lse;
  if (partial.getRank() != 4 || partial.getDimSize(1) != splits ||
      partial.getDimSize(2) != heads || partial.getDimSize(3) != latent)
    return emitOpError("partial must be [tokens, ")
           << splits << ", " << heads << ", " << latent << "], got " << partial;
  if (!sameTokenCount(getQ().getType(), partial) ||
      !sameTokenCount(getQ().getType(), lse))
    return emitOpError("results must have one row per token");
  int64_t layer = getLayer();
  if (layer < 0 || layer >= cache.getLayers())
    return emitOpError("layer ") << layer << " is outside the cache's "
                                 << cache.getLayers() << " layers";
  return success();
}

LogicalResult MLAAttentionCombineOp::verify() {
  auto partial = cast<RankedTensorType>(getPartial().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (partial.getRank() != 4 || lse.getRank() != 3 || result.getRank() != 3)
    return emitOpError("expected partial [tokens, splits, heads, latent], lse "
                       "[tokens, splits, heads] and result [tokens, heads, "
                       "latent]");
  if (lse.getDimSize(1) != partial.getDimSize(1) ||
      lse.getDimSize(2) != partial.getDimSize(2))
    return emitOpError("lse must be [tokens, ")
           << partial.getDimSize(1) << ", " << partial.getDimSize(2)
           << "] to match partial, got " << lse;
  if (result.getDimSize(1) != partial.getDimSize(2) ||
      result.getDimSize(2) != partial.getDimSize(3))
    return emitOpError("result must be [tokens, ")
           << partial.getDimSize(2) << ", " << partial.getDimSize(3)
           << "], got " << result;
  if (!sameTokenCount(partial, lse) || !sameTokenCount(partial, result))
    return emitOpError("operands and result must have one row per token");
  return success();
}

LogicalResult MLAAbsorbValueOp::verify() {
  int64_t heads = getNumHeads(), nope = getQkNopeHeadDim(),
          vDim = getVHeadDim();
  if (heads <= 0 || nope <= 0 || vDim <= 0)
    return emitOpError("head count and dims must be positive");
  int64_t latent = latentOf(getKvB());
  if (failed(checkMatrix(*this, "kv_b", getKvB(), heads * (nope + vDim),
                         latent)) ||
      failed(checkTokenMatrix(*this, "result", getResult(), heads * vDim)))
    return failure();
  auto o = cast<RankedTensorType>(getO().getType());
  if (!getLse()) {
    if (!o.getElementType().isBF16())
      return emitOpError("o must be bf16 without combine(lse), got ") << o;
    if (failed(checkHeads(*this, "o", getO(), heads, latent)))
      return failure();
  } else {
    // o is a split attention's partial states, merged here.
    auto lse = cast<RankedTensorType>(getLse().getType());
    if (!o.getElementType().isF32() || o.getRank() != 4 ||
        o.getDimSize(2) != heads || o.getDimSize(3) != latent)
      return emitOpError("with combine(lse), o must be f32 [tokens, splits, ")
             << heads << ", " << latent << "], got " << o;
    if (lse.getRank() != 3 || lse.getDimSize(1) != o.getDimSize(1) ||
        lse.getDimSize(2) != heads)
      return emitOpError("lse must be [tokens, ")
             << o.getDimSize(1) << ", " << heads << "] to match o, got " << lse;
    if (!sameTokenCount(o, lse))
      return emitOpError("o and lse must have one row per token");
  }
  if (!sameTokenCount(o, getResult().getType()))
    return emitOpError("result must have one row per token");
  return success();
}

//===----------------------------------------------------------------------===//
// Schedule-level ops
//===----------------------------------------------------------------------===//

LogicalResult KernelOp::verify() {
  if (getParallel() != ParallelDim::Tokens &&
      static_cast<int64_t>(getExtent()) <= 0)
    return emitOpError("a static kernel needs a positive extent");
  if (getVariantRows().has_value() != getVariantKernels().has_value())
    return emitOpError("variants need both their rows and their kernels");
  if (std::optional<ArrayRef<int64_t>> rows = getVariantRows()) {
    if (rows->empty() || rows->size() != getVariantKernels()->size())
      return emitOpError("variants need one kernel per row count, got ")
             << rows->size() << " row counts and "
             << getVariantKernels()->size() << " kernels";
    int64_t previous = 0;
    for (int64_t r : *rows) {
      if (r <= previous)
        return emitOpError("variant rows must be positive and increasing");
      previous = r;
    }
  }
  ArrayRef<int64_t> outputs = getOutputs();
  if (outputs.size() % 3 != 0)
    return emitOpError("outputs must be (argument, dtype, elements per row) "
                       "triples, got ")
           << outputs.size() << " values";
  for (size_t i = 0; i < outputs.size(); i += 3) {
    int64_t dtype = outputs[i + 1];
    if (outputs[i] < 0 || (dtype != 0 && dtype != 1 && dtype != 3) ||
        outputs[i + 2] <= 0)
      return emitOpError("output ")
             << i / 3 << " needs an argument >= 0, a dtype of 0 (bf16), "
             << "1 (f32) or 3 (i32) and a positive row width";
  }
  return success();
}

LogicalResult RouterLogitsOp::verify() {
  auto weight = getWeight().getType();
  if (failed(
          checkTokenMatrix(*this, "input", getInput(), weight.getDimSize(1))) ||
      failed(
          checkTokenMatrix(*this, "result", getResult(), weight.getDimSize(0))))
    return failure();
  return verifyInputNorm(*this, getNormWeight(), getNormEps(), getInput());
}
