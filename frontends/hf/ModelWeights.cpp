//===- ModelWeights.cpp - tensor list and parameter counts ---------------===//
//
// The tensor list of `docs/model.md` §6.2-§6.3, derived from the config,
// and the parameter and byte counts of `dsc info`.
//
// Parameters read per token count every weight a token passes through: all
// attention and dense-MLP weights, the router, the shared experts, top-k of
// the routed experts, every norm and the lm_head, plus one row of the
// embedding table (not the table). This is the convention of DeepSeek's
// published "activated parameters" (37B for V3, 2.4B for V2-Lite).
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelWeights.h"

namespace dsc {

int64_t WeightSpec::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int64_t> WeightSpec::scaleShape(const ModelConfig &config) const {
  int64_t rows = shape[0], cols = shape[1];
  return {ceilDiv(rows, config.fp8->blockRows),
          ceilDiv(cols, config.fp8->blockCols)};
}

std::string layerPrefix(int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

namespace {

/// Appends the tensors of one decoder layer (main or MTP).
class LayerLister {
public:
  LayerLister(const ModelConfig &c, std::vector<WeightSpec> &out, int64_t layer,
              bool mtp)
      : c(c), out(out), layer(layer), mtp(mtp), prefix(layerPrefix(layer)) {}

  void add(const std::string &name, std::vector<int64_t> shape, WeightRole role,
           int64_t expert = -1) {
    out.push_back({prefix + name, std::move(shape), role, layer, expert, mtp});
  }

  void swiglu(const std::string &at, int64_t inner, int64_t expert = -1) {
    int64_t d = c.hiddenSize;
    add(at + "gate_proj.weight", {inner, d}, WeightRole::Linear, expert);
    add(at + "up_proj.weight", {inner, d}, WeightRole::Linear, expert);
    add(at + "down_proj.weight", {d, inner}, WeightRole::Linear, expert);
  }

  void decoderLayer(bool moe) {
    int64_t d = c.hiddenSize, h = c.numHeads;
    add("input_layernorm.weight", {d}, WeightRole::Norm);
    if (c.qLoraRank == 0) {
      add("self_attn.q_proj.weight", {h * c.qkHeadDim(), d},
          WeightRole::Linear);
    } else {
      add("self_attn.q_a_proj.weight", {c.qLoraRank, d}, WeightRole::Linear);
      add("self_attn.q_a_layernorm.weight", {c.qLoraRank}, WeightRole::Norm);
      add("self_attn.q_b_proj.weight", {h * c.qkHeadDim(), c.qLoraRank},
          WeightRole::Linear);
    }
    add("self_attn.kv_a_proj_with_mqa.weight",
        {c.kvLoraRank + c.qkRopeHeadDim, d}, WeightRole::Linear);
    add("self_attn.kv_a_layernorm.weight", {c.kvLoraRank}, WeightRole::Norm);
    add("self_attn.kv_b_proj.weight",
        {h * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank}, WeightRole::Linear);
    add("self_attn.o_proj.weight", {d, h * c.vHeadDim}, WeightRole::Linear);
    add("post_attention_layernorm.weight", {d}, WeightRole::Norm);
    if (!moe) {
      swiglu("mlp.", c.intermediateSize);
      return;
    }
    add("mlp.gate.weight", {c.numRoutedExperts, d}, WeightRole::Router);
    if (c.hasCorrectionBias())
      add("mlp.gate.e_score_correction_bias", {c.numRoutedExperts},
          WeightRole::CorrectionBias);
    for (int64_t e = 0; e < c.numRoutedExperts; ++e)
      swiglu("mlp.experts." + std::to_string(e) + ".", c.moeIntermediateSize,
             e);
    if (c.numSharedExperts > 0)
      swiglu("mlp.shared_experts.", c.numSharedExperts * c.moeIntermediateSize);
  }

private:
  const ModelConfig &c;
  std::vector<WeightSpec> &out;
  int64_t layer;
  bool mtp;
  std::string prefix;
};

} // namespace

std::vector<WeightSpec> listWeights(const ModelConfig &c, bool includeMTP) {
  std::vector<WeightSpec> out;
  int64_t d = c.hiddenSize, vocab = c.vocabSize;
  out.push_back(
      {"model.embed_tokens.weight", {vocab, d}, WeightRole::Embedding});
  for (int64_t i = 0; i < c.numLayers; ++i)
    LayerLister(c, out, i, /*mtp=*/false).decoderLayer(c.isMoELayer(i));
  out.push_back({"model.norm.weight", {d}, WeightRole::Norm});
  out.push_back({"lm_head.weight", {vocab, d}, WeightRole::Head});
  if (!includeMTP)
    return out;
  for (int64_t k = 0; k < c.numNextnPredictLayers; ++k) {
    int64_t i = c.numLayers + k;
    LayerLister mtp(c, out, i, /*mtp=*/true);
    mtp.add("embed_tokens.weight", {vocab, d}, WeightRole::Embedding);
    mtp.add("enorm.weight", {d}, WeightRole::Norm);
    mtp.add("hnorm.weight", {d}, WeightRole::Norm);
    mtp.add("eh_proj.weight", {d, 2 * d}, WeightRole::Projection);
    mtp.decoderLayer(c.isMoELayer(i));
    mtp.add("shared_head.norm.weight", {d}, WeightRole::Norm);
    mtp.add("shared_head.head.weight", {vocab, d}, WeightRole::Head);
  }
  return out;
}

int64_t weightBytes(const WeightSpec &w, const ModelConfig &c, bool fp8) {
  if (w.role == WeightRole::CorrectionBias)
    return 4 * w.numElements();
  if (!fp8 || w.role != WeightRole::Linear)
    return 2 * w.numElements();
  ModelConfig blocks = c;
  if (!blocks.fp8)
    blocks.fp8 = FP8Config{};
  std::vector<int64_t> scales = w.scaleShape(blocks);
  return w.numElements() + 4 * scales[0] * scales[1];
}

ModelSummary summarize(const ModelConfig &c) {
  ModelSummary s;
  for (int64_t i = 0; i < c.numLayers; ++i)
    (c.isMoELayer(i) ? s.moeLayers : s.denseLayers) += 1;

  // Routed experts are all the same size: a token reads top_k of the
  // num_routed_experts of each MoE layer.
  int64_t expertParams = 0, expertBf16 = 0, expertFp8 = 0;
  for (const WeightSpec &w : listWeights(c, /*includeMTP=*/true)) {
    int64_t n = w.numElements();
    if (w.mtp) {
      s.mtpParameters += n;
      continue;
    }
    s.totalParameters += n;
    if (w.expert >= 0) {
      expertParams += n;
      expertBf16 += weightBytes(w, c, false);
      expertFp8 += weightBytes(w, c, true);
      continue;
    }
    bool table = w.role == WeightRole::Embedding;
    int64_t read = table ? c.hiddenSize : n;
    s.activeParameters += read;
    s.bf16BytesPerToken += table ? 2 * read : weightBytes(w, c, false);
    s.fp8BytesPerToken += table ? 2 * read : weightBytes(w, c, true);
  }
  if (c.hasMoE()) {
    int64_t k = c.numExpertsPerToken, e = c.numRoutedExperts;
    s.activeParameters += expertParams / e * k;
    s.bf16BytesPerToken += expertBf16 / e * k;
    s.fp8BytesPerToken += expertFp8 / e * k;
  }
  s.kvCacheBytesPerToken = 2 * c.numLayers * (c.kvLoraRank + c.qkRopeHeadDim);
  return s;
}

} // namespace dsc
