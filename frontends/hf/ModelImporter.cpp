//===- ModelImporter.cpp - DeepSeek config to ds module ------------------===//
//
// Emits the ds module of a DeepSeek model, layer by layer, in the order of
// the forward pass of `docs/model.md` §2.1. Weight symbols are declared
// as layers ask for them, so the module lists them in checkpoint order.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelImporter.h"

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Frontend/ModelWeights.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

namespace dsc {
namespace {

/// The symbol of a checkpoint tensor: its name without "model." and
/// ".weight" ("model.layers.0.self_attn.q_a_proj.weight" becomes
/// "layers.0.self_attn.q_a_proj").
std::string symbolFor(llvm::StringRef tensor) {
  tensor.consume_front("model.");
  tensor.consume_back(".weight");
  return tensor.str();
}

class Importer {
public:
  Importer(MLIRContext &context, const ModelConfig &config,
           llvm::StringRef source)
      : ctx(context), c(config), builder(&context),
        fileLoc(FileLineColLoc::get(&context, source, 1, 1)) {}

  OwningOpRef<ModuleOp> run();

private:
  // Types.
  Type bf16() { return builder.getBF16Type(); }
  RankedTensorType tokens(int64_t features, Type element) {
    return RankedTensorType::get({ShapedType::kDynamic, features}, element);
  }
  RankedTensorType activations() { return tokens(c.hiddenSize, bf16()); }
  Type weightType(llvm::ArrayRef<int64_t> shape, WeightRole role);

  // Weights: declared once in the module, read where used.
  Value declared(const std::string &symbol, const std::string &tensor,
                 Type type, std::optional<int64_t> experts);
  Value weight(const std::string &tensor, llvm::ArrayRef<int64_t> shape,
               WeightRole role);
  Value expertStack(const std::string &layer, const char *projection,
                    int64_t rows, int64_t cols);

  // The forward pass.
  void buildEntry(llvm::StringRef name);
  Value decoderLayer(int64_t layer, Value hidden);
  Value attention(int64_t layer, Value normed);
  Value feedForward(int64_t layer, Value normed);
  Value swiglu(const std::string &prefix, int64_t inner, Value input);
  Location at(const std::string &what) {
    return NameLoc::get(builder.getStringAttr(what), fileLoc);
  }

  MLIRContext &ctx;
  const ModelConfig &c;
  OpBuilder builder;
  Location fileLoc;
  ModuleOp module;
  Operation *firstEntry = nullptr;
  llvm::StringMap<ds::WeightOp> weights;
  // Values of the entry point being built.
  Value positions, slots, cache;
  ds::RopeAttr rope;
};

Type Importer::weightType(llvm::ArrayRef<int64_t> shape, WeightRole role) {
  if (role == WeightRole::Linear && c.fp8)
    return ds::FP8BlockWeightType::get(
        &ctx, shape, c.fp8->blockRows, c.fp8->blockCols,
        c.fp8->ue8m0Scales ? ds::ScaleFormat::UE8M0 : ds::ScaleFormat::F32);
  Type element =
      role == WeightRole::CorrectionBias ? builder.getF32Type() : bf16();
  return RankedTensorType::get(shape, element);
}

Value Importer::declared(const std::string &symbol, const std::string &tensor,
                         Type type, std::optional<int64_t> experts) {
  ds::WeightOp &decl = weights[symbol];
  if (!decl) {
    // Declarations go before the entry points, in the order they are needed.
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPoint(firstEntry);
    // An fp8 weight's scales: the checkpoint's weight_scale_inv, or computed
    // when the bf16 weight is quantized at load (--quantize=fp8).
    StringAttr scale;
    UnitAttr quantized;
    if (isa<ds::FP8BlockWeightType>(type)) {
      if (c.fp8->quantizedAtLoad)
        quantized = builder.getUnitAttr();
      else
        scale = builder.getStringAttr(tensor + "_scale_inv");
    }
    IntegerAttr count =
        experts ? builder.getI64IntegerAttr(*experts) : IntegerAttr();
    decl = ds::WeightOp::create(builder, fileLoc, builder.getStringAttr(symbol),
                                builder.getStringAttr(tensor),
                                TypeAttr::get(type), scale, quantized, count,
                                /*shard=*/ds::ShardAttr());
  }
  return ds::GetWeightOp::create(builder, fileLoc, decl.getType(),
                                 FlatSymbolRefAttr::get(decl.getSymNameAttr()));
}

Value Importer::weight(const std::string &tensor, llvm::ArrayRef<int64_t> shape,
                       WeightRole role) {
  return declared(symbolFor(tensor), tensor, weightType(shape, role),
                  std::nullopt);
}

Value Importer::expertStack(const std::string &layer, const char *projection,
                            int64_t rows, int64_t cols) {
  std::string tensor = layer + "mlp.experts.{e}." + projection + ".weight";
  std::string symbol = symbolFor(layer) + "mlp.experts." + projection;
  Type type = weightType({c.numRoutedExperts, rows, cols}, WeightRole::Linear);
  return declared(symbol, tensor, type, c.numRoutedExperts);
}

Value Importer::swiglu(const std::string &prefix, int64_t inner, Value input) {
  int64_t d = c.hiddenSize;
  Value gate =
      weight(prefix + "gate_proj.weight", {inner, d}, WeightRole::Linear);
  Value up = weight(prefix + "up_proj.weight", {inner, d}, WeightRole::Linear);
  Value down =
      weight(prefix + "down_proj.weight", {d, inner}, WeightRole::Linear);
  return ds::MLPOp::create(builder, at(prefix), input, gate, up, down);
}

Value Importer::attention(int64_t layer, Value normed) {
  std::string p = layerPrefix(layer) + "self_attn.";
  int64_t d = c.hiddenSize, h = c.numHeads;
  Value q, qa, qaNorm, qb;
  if (c.qLoraRank == 0) {
    q = weight(p + "q_proj.weight", {h * c.qkHeadDim(), d}, WeightRole::Linear);
  } else {
    qa = weight(p + "q_a_proj.weight", {c.qLoraRank, d}, WeightRole::Linear);
    qaNorm =
        weight(p + "q_a_layernorm.weight", {c.qLoraRank}, WeightRole::Norm);
    qb = weight(p + "q_b_proj.weight", {h * c.qkHeadDim(), c.qLoraRank},
                WeightRole::Linear);
  }
  Value kva = weight(p + "kv_a_proj_with_mqa.weight",
                     {c.kvLoraRank + c.qkRopeHeadDim, d}, WeightRole::Linear);
  Value kvaNorm =
      weight(p + "kv_a_layernorm.weight", {c.kvLoraRank}, WeightRole::Norm);
  Value kvb = weight(p + "kv_b_proj.weight",
                     {h * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank},
                     WeightRole::Linear);
  Value o =
      weight(p + "o_proj.weight", {d, h * c.vHeadDim}, WeightRole::Linear);
  auto mla = ds::MLAOp::create(
      builder, at(p), normed.getType(), cache.getType(), normed, positions,
      slots, cache, q, qa, qaNorm, qb, kva, kvaNorm, kvb, o,
      builder.getI64IntegerAttr(layer), builder.getI64IntegerAttr(h),
      builder.getI64IntegerAttr(c.qLoraRank),
      builder.getI64IntegerAttr(c.kvLoraRank),
      builder.getI64IntegerAttr(c.qkNopeHeadDim),
      builder.getI64IntegerAttr(c.qkRopeHeadDim),
      builder.getI64IntegerAttr(c.vHeadDim),
      builder.getF64FloatAttr(c.softmaxScale()),
      builder.getF64FloatAttr(c.rmsNormEps), rope);
  cache = mla.getResultCache();
  return mla.getResult();
}

Value Importer::feedForward(int64_t layer, Value normed) {
  std::string p = layerPrefix(layer);
  if (!c.isMoELayer(layer))
    return swiglu(p + "mlp.", c.intermediateSize, normed);

  int64_t d = c.hiddenSize, e = c.numRoutedExperts, k = c.numExpertsPerToken;
  Value router = weight(p + "mlp.gate.weight", {e, d}, WeightRole::Router);
  Value bias;
  if (c.hasCorrectionBias())
    bias = weight(p + "mlp.gate.e_score_correction_bias", {e},
                  WeightRole::CorrectionBias);
  auto scoring = c.scoringFunc == ScoringFunc::Softmax
                     ? ds::ScoringFunc::Softmax
                     : ds::ScoringFunc::Sigmoid;
  ds::TopkMethod method = c.topkMethod == TopkMethod::Greedy
                              ? ds::TopkMethod::Greedy
                          : c.topkMethod == TopkMethod::GroupLimitedGreedy
                              ? ds::TopkMethod::GroupLimitedGreedy
                              : ds::TopkMethod::NoauxTc;
  auto gate = ds::MoEGateOp::create(
      builder, at(p + "mlp.gate"), tokens(k, builder.getF32Type()),
      tokens(k, builder.getI32Type()), normed, router, bias,
      ds::ScoringFuncAttr::get(&ctx, scoring),
      ds::TopkMethodAttr::get(&ctx, method), builder.getI64IntegerAttr(k),
      builder.getI64IntegerAttr(c.numGroups),
      builder.getI64IntegerAttr(c.topkGroup),
      builder.getBoolAttr(c.normTopkProb),
      builder.getF64FloatAttr(c.routedScalingFactor));
  int64_t mi = c.moeIntermediateSize;
  Value gates = expertStack(p, "gate_proj", mi, d);
  Value ups = expertStack(p, "up_proj", mi, d);
  Value downs = expertStack(p, "down_proj", d, mi);
  Value routed = ds::MoEExpertsOp::create(
      builder, at(p + "mlp.experts"), normed.getType(), normed,
      gate.getWeights(), gate.getIndices(), gates, ups, downs);
  if (c.numSharedExperts == 0)
    return routed;
  Value shared =
      swiglu(p + "mlp.shared_experts.", c.numSharedExperts * mi, normed);
  return ds::AddOp::create(builder, at(p + "mlp"), routed, shared);
}

Value Importer::decoderLayer(int64_t layer, Value hidden) {
  std::string p = layerPrefix(layer);
  int64_t d = c.hiddenSize;
  auto eps = builder.getF64FloatAttr(c.rmsNormEps);
  Value inputNorm = weight(p + "input_layernorm.weight", {d}, WeightRole::Norm);
  Value normed = ds::RMSNormOp::create(builder, at(p + "input_layernorm"),
                                       hidden, inputNorm, eps);
  hidden = ds::AddOp::create(builder, at(p + "attention_residual"), hidden,
                             attention(layer, normed));
  Value postNorm =
      weight(p + "post_attention_layernorm.weight", {d}, WeightRole::Norm);
  normed = ds::RMSNormOp::create(builder, at(p + "post_attention_layernorm"),
                                 hidden, postNorm, eps);
  return ds::AddOp::create(builder, at(p + "mlp_residual"), hidden,
                           feedForward(layer, normed));
}

void Importer::buildEntry(llvm::StringRef name) {
  auto indexType =
      RankedTensorType::get({ShapedType::kDynamic}, builder.getI32Type());
  auto paramsType =
      RankedTensorType::get({ShapedType::kDynamic, 8}, builder.getI32Type());
  Type cacheType = ds::LatentCacheType::get(&ctx, c.numLayers, c.kvLoraRank,
                                            c.qkRopeHeadDim, bf16());
  Type logitsType = tokens(c.vocabSize, builder.getF32Type());
  auto funcType = builder.getFunctionType(
      {indexType, indexType, indexType, indexType, paramsType, cacheType},
      {logitsType, indexType, cacheType});

  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, fileLoc, name, funcType);
  func->setAttr("ds.entry", builder.getStringAttr(name));
  if (!firstEntry)
    firstEntry = func;
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  Value tokenIds = body->getArgument(0);
  positions = body->getArgument(1);
  slots = body->getArgument(2);
  Value rows = body->getArgument(3);
  Value sampling = body->getArgument(4);
  cache = body->getArgument(5);

  int64_t d = c.hiddenSize, vocab = c.vocabSize;
  Value table =
      weight("model.embed_tokens.weight", {vocab, d}, WeightRole::Embedding);
  Value hidden = ds::EmbedOp::create(builder, at("model.embed_tokens"),
                                     activations(), tokenIds, table);
  for (int64_t i = 0; i < c.numLayers; ++i)
    hidden = decoderLayer(i, hidden);
  Value norm = weight("model.norm.weight", {d}, WeightRole::Norm);
  hidden = ds::RMSNormOp::create(builder, at("model.norm"), hidden, norm,
                                 builder.getF64FloatAttr(c.rmsNormEps));
  Value head = weight("lm_head.weight", {vocab, d}, WeightRole::Head);
  Value logits = ds::LMHeadOp::create(builder, at("lm_head"), logitsType,
                                      hidden, head, rows);
  Value next = ds::SampleOp::create(builder, at("sample"), indexType,
                                    logitsType, logits, sampling)
                   .getResult();
  func::ReturnOp::create(builder, fileLoc, ValueRange{logits, next, cache});
}

OwningOpRef<ModuleOp> Importer::run() {
  ctx.loadDialect<ds::DSDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> owned = ModuleOp::create(fileLoc);
  module = *owned;

  // Model metadata the later stages and the runtime need.
  SmallVector<NamedAttribute> meta = {
      builder.getNamedAttr("family",
                           builder.getStringAttr(familyName(c.family))),
      builder.getNamedAttr("vocab_size",
                           builder.getI64IntegerAttr(c.vocabSize)),
      builder.getNamedAttr("hidden_size",
                           builder.getI64IntegerAttr(c.hiddenSize)),
      builder.getNamedAttr("num_layers",
                           builder.getI64IntegerAttr(c.numLayers)),
      builder.getNamedAttr("max_position_embeddings",
                           builder.getI64IntegerAttr(c.maxPositionEmbeddings))};
  if (c.bosTokenId)
    meta.push_back(builder.getNamedAttr(
        "bos_token_id", builder.getI64IntegerAttr(*c.bosTokenId)));
  if (c.eosTokenId)
    meta.push_back(builder.getNamedAttr(
        "eos_token_id", builder.getI64IntegerAttr(*c.eosTokenId)));
  module->setAttr("ds.model", builder.getDictionaryAttr(meta));

  const RopeConfig &r = c.rope;
  rope =
      ds::RopeAttr::get(&ctx, c.qkRopeHeadDim, r.theta,
                        r.yarn ? ds::RopeScaling::Yarn : ds::RopeScaling::None,
                        r.yarn ? r.factor : 1.0, r.originalMaxPosition,
                        r.betaFast, r.betaSlow, r.mscale, r.mscaleAllDim);

  buildEntry("prefill");
  buildEntry("decode");
  return owned;
}

} // namespace

OwningOpRef<ModuleOp> importModel(MLIRContext &context,
                                  const ModelConfig &config,
                                  llvm::StringRef source) {
  return Importer(context, config, source).run();
}

} // namespace dsc
