//===- ModelConfig.cpp - read and validate config.json -------------------===//
//
// Reads every config field of `docs/model.md` §1 with HuggingFace's
// per-family defaults (DeepseekV2Config / DeepseekV3Config), then checks the
// values against each other. The first problem found is reported, naming the
// file and the field.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelConfig.h"

#include "dsrt/Json.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using dsrt::Expected;
namespace json = dsrt::json;

namespace dsc {

const char *familyName(ModelFamily family) {
  return family == ModelFamily::DeepSeekV2 ? "deepseek_v2" : "deepseek_v3";
}
const char *scoringFuncName(ScoringFunc func) {
  return func == ScoringFunc::Softmax ? "softmax" : "sigmoid";
}
const char *topkMethodName(TopkMethod method) {
  switch (method) {
  case TopkMethod::Greedy:
    return "greedy";
  case TopkMethod::GroupLimitedGreedy:
    return "group_limited_greedy";
  case TopkMethod::NoauxTc:
    return "noaux_tc";
  }
  return "?";
}

double ModelConfig::softmaxScale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qkHeadDim()));
  if (rope.yarn && rope.mscaleAllDim != 0.0 && rope.factor > 1.0) {
    double m = 0.1 * rope.mscaleAllDim * std::log(rope.factor) + 1.0;
    scale *= m * m;
  }
  return scale;
}

namespace {

std::string describe(const json::Value &value) {
  return json::kindName(value.kind());
}

/// Reads typed fields of one JSON object. The first problem is kept in
/// `error`; once set, every later read is a no-op, so callers read a whole
/// group of fields and check once.
class FieldReader {
public:
  FieldReader(const json::Value &object, std::string file, std::string prefix)
      : object(object), file(std::move(file)), prefix(std::move(prefix)) {}

  std::string error;

  void fail(std::string_view field, const std::string &problem) {
    if (error.empty())
      error =
          file + ": field '" + prefix + std::string(field) + "': " + problem;
  }

  /// The member `name`, or nullptr when it is absent or JSON null.
  const json::Value *get(const char *name) const {
    const json::Value *value = object.find(name);
    return value && !value->isNull() ? value : nullptr;
  }

  /// The member `name` to read, or nullptr when there is nothing to read:
  /// an earlier error, or an absent member (then `out` takes `fallback`, or
  /// the member is reported as required).
  template <typename T, typename Fallback>
  const json::Value *member(const char *name, T &out,
                            const std::optional<Fallback> &fallback) {
    if (!error.empty())
      return nullptr;
    const json::Value *value = get(name);
    if (!value) {
      if (fallback)
        out = *fallback;
      else
        fail(name, "is required");
    }
    return value;
  }

  void integer(const char *name, int64_t &out,
               std::optional<int64_t> fallback) {
    const json::Value *value = member(name, out, fallback);
    if (!value)
      return;
    if (!value->isNumber())
      return fail(name, "expected an integer, got " + describe(*value));
    if (!value->getInt64(out))
      fail(name,
           "expected an integer, got " + std::string(value->numberLiteral()));
  }

  void optionalInteger(const char *name, std::optional<int64_t> &out) {
    const json::Value *value = get(name);
    if (!value) {
      out.reset();
      return;
    }
    int64_t v = 0;
    integer(name, v, std::nullopt);
    out = v;
  }

  void number(const char *name, double &out, std::optional<double> fallback) {
    const json::Value *value = member(name, out, fallback);
    if (!value)
      return;
    if (!value->isNumber())
      return fail(name, "expected a number, got " + describe(*value));
    out = value->asNumber();
    if (!std::isfinite(out))
      fail(name, "must be finite");
  }

  void boolean(const char *name, bool &out, bool fallback) {
    const json::Value *value = member(name, out, std::optional<bool>(fallback));
    if (!value)
      return;
    if (!value->isBool())
      return fail(name, "expected true or false, got " + describe(*value));
    out = value->asBool();
  }

  void string(const char *name, std::string &out,
              std::optional<std::string> fallback) {
    const json::Value *value = member(name, out, fallback);
    if (!value)
      return;
    if (!value->isString())
      return fail(name, "expected a string, got " + describe(*value));
    out = value->asString();
  }

  void positive(const char *name, int64_t value) {
    if (error.empty() && value <= 0)
      fail(name, "must be positive, got " + std::to_string(value));
  }

private:
  const json::Value &object;
  std::string file;
  std::string prefix;
};

/// HuggingFace's defaults of the fields a config may leave out.
struct FamilyDefaults {
  int64_t vocabSize, hiddenSize, intermediateSize, moeIntermediateSize,
      numLayers, numHeads, qLoraRank, numRoutedExperts, numSharedExperts,
      numExpertsPerToken, numGroups, topkGroup, firstKDenseReplace,
      maxPositionEmbeddings, bos, eos;
  const char *topkMethod, *scoringFunc;
  bool normTopkProb;
  double routedScalingFactor;
};

// DeepseekV2Config: n_routed_experts, n_shared_experts, num_experts_per_tok,
// n_group and topk_group default to None (a dense model; 1 group).
constexpr FamilyDefaults kV2Defaults = {
    102400, 4096, 11008, 1407, 30,     32,     1536,     0,         0,     0,
    1,      1,    0,     2048, 100000, 100001, "greedy", "softmax", false, 1.0};
// DeepseekV3Config: the released V3 architecture.
constexpr FamilyDefaults kV3Defaults = {
    129280, 7168, 18432, 2048, 61, 128, 1536,       256,       1,    8,
    8,      4,    3,     4096, 0,  1,   "noaux_tc", "sigmoid", true, 2.5};

void readRopeScaling(const json::Value &root, const std::string &file,
                     ModelConfig &config, std::string &error) {
  FieldReader top(root, file, "");
  top.number("rope_theta", config.rope.theta, 10000.0);
  if (top.error.empty() && !(config.rope.theta > 0.0))
    top.fail("rope_theta", "must be positive");
  if (!top.error.empty()) {
    error = top.error;
    return;
  }
  const json::Value *scaling = top.get("rope_scaling");
  if (!scaling)
    return;
  if (!scaling->isObject()) {
    error = file + ": field 'rope_scaling': expected an object or null, got " +
            describe(*scaling);
    return;
  }
  FieldReader r(*scaling, file, "rope_scaling.");
  std::string type;
  if (r.get("type"))
    r.string("type", type, std::nullopt);
  else
    r.string("rope_type", type, std::nullopt);
  if (r.error.empty() && type != "yarn")
    r.fail(r.get("type") ? "type" : "rope_type",
           "only \"yarn\" is supported, got \"" + type + "\"");
  RopeConfig &rope = config.rope;
  rope.yarn = true;
  r.number("factor", rope.factor, std::nullopt);
  r.integer("original_max_position_embeddings", rope.originalMaxPosition, 4096);
  r.number("beta_fast", rope.betaFast, 32.0);
  r.number("beta_slow", rope.betaSlow, 1.0);
  r.number("mscale", rope.mscale, 1.0);
  r.number("mscale_all_dim", rope.mscaleAllDim, 0.0);
  if (r.error.empty() && !(rope.factor > 0.0))
    r.fail("factor", "must be positive");
  r.positive("original_max_position_embeddings", rope.originalMaxPosition);
  if (r.error.empty() && !(rope.betaFast > 0.0 && rope.betaSlow > 0.0 &&
                           rope.betaSlow <= rope.betaFast))
    r.fail("beta_slow", "needs 0 < beta_slow <= beta_fast");
  error = r.error;
}

void readQuantization(const json::Value &root, const std::string &file,
                      ModelConfig &config, std::string &error) {
  FieldReader top(root, file, "");
  const json::Value *quant = top.get("quantization_config");
  if (!quant)
    return;
  if (!quant->isObject()) {
    error = file + ": field 'quantization_config': expected an object, got " +
            describe(*quant);
    return;
  }
  FieldReader r(*quant, file, "quantization_config.");
  std::string method, format, activation, scaleFormat;
  r.string("quant_method", method, std::nullopt);
  if (r.error.empty() && method != "fp8")
    r.fail("quant_method", "only \"fp8\" is supported, got \"" + method + "\"");
  r.string("fmt", format, "e4m3");
  if (r.error.empty() && format != "e4m3")
    r.fail("fmt", "only \"e4m3\" is supported, got \"" + format + "\"");
  r.string("activation_scheme", activation, "dynamic");
  if (r.error.empty() && activation != "dynamic")
    r.fail("activation_scheme",
           "only \"dynamic\" is supported, got \"" + activation + "\"");
  r.string("scale_fmt", scaleFormat, "");
  if (r.error.empty() && !scaleFormat.empty() && scaleFormat != "ue8m0")
    r.fail("scale_fmt",
           "expected \"ue8m0\" or null, got \"" + scaleFormat + "\"");
  FP8Config fp8;
  fp8.ue8m0Scales = scaleFormat == "ue8m0";
  if (const json::Value *block = r.get("weight_block_size")) {
    int64_t dims[2] = {0, 0};
    bool ok = block->isArray() && block->elements().size() == 2 &&
              block->elements()[0].getInt64(dims[0]) &&
              block->elements()[1].getInt64(dims[1]) && dims[0] > 0 &&
              dims[1] > 0;
    if (!ok)
      r.fail("weight_block_size", "expected two positive integers");
    fp8.blockRows = dims[0];
    fp8.blockCols = dims[1];
  }
  if (r.error.empty())
    config.fp8 = fp8;
  error = r.error;
}

// Upper bounds far above any DeepSeek model; they keep parameter counts and
// buffer sizes computed from a config inside int64.
constexpr int64_t kMaxDim = int64_t(1) << 17;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxVocab = int64_t(1) << 22;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxExperts = 4096;

/// Cross-field rules: every value must be usable and consistent.
void validate(const ModelConfig &c, FieldReader &r) {
  auto atMost = [&](const char *name, int64_t value, int64_t limit) {
    if (value > limit)
      r.fail(name, std::to_string(value) + " is larger than the supported " +
                       std::to_string(limit));
  };
  atMost("vocab_size", c.vocabSize, kMaxVocab);
  atMost("num_hidden_layers", c.numLayers, kMaxLayers);
  atMost("num_attention_heads", c.numHeads, kMaxHeads);
  atMost("num_nextn_predict_layers", c.numNextnPredictLayers, kMaxLayers);
  atMost("n_routed_experts", c.numRoutedExperts, kMaxExperts);
  atMost("n_shared_experts", c.numSharedExperts, kMaxExperts);
  for (auto [name, value] :
       {std::pair{"hidden_size", c.hiddenSize},
        std::pair{"intermediate_size", c.intermediateSize},
        std::pair{"moe_intermediate_size", c.moeIntermediateSize},
        std::pair{"q_lora_rank", c.qLoraRank},
        std::pair{"kv_lora_rank", c.kvLoraRank},
        std::pair{"qk_nope_head_dim", c.qkNopeHeadDim},
        std::pair{"qk_rope_head_dim", c.qkRopeHeadDim},
        std::pair{"v_head_dim", c.vHeadDim}})
    atMost(name, value, kMaxDim);
  if (c.numRoutedExperts < 0)
    r.fail("n_routed_experts", "must not be negative");
  r.positive("vocab_size", c.vocabSize);
  r.positive("hidden_size", c.hiddenSize);
  r.positive("num_hidden_layers", c.numLayers);
  r.positive("num_attention_heads", c.numHeads);
  r.positive("kv_lora_rank", c.kvLoraRank);
  r.positive("qk_nope_head_dim", c.qkNopeHeadDim);
  r.positive("qk_rope_head_dim", c.qkRopeHeadDim);
  r.positive("v_head_dim", c.vHeadDim);
  if (c.qLoraRank < 0)
    r.fail("q_lora_rank",
           "must be null, 0 or positive, got " + std::to_string(c.qLoraRank));
  if (c.qkRopeHeadDim % 2 != 0)
    r.fail("qk_rope_head_dim", "must be even (RoPE rotates pairs), got " +
                                   std::to_string(c.qkRopeHeadDim));
  if (!(c.rmsNormEps > 0.0))
    r.fail("rms_norm_eps", "must be positive");
  if (c.firstKDenseReplace < 0 || c.firstKDenseReplace > c.numLayers)
    r.fail("first_k_dense_replace",
           std::to_string(c.firstKDenseReplace) + " is outside [0, " +
               std::to_string(c.numLayers) + "] (num_hidden_layers)");
  if (c.numNextnPredictLayers < 0)
    r.fail("num_nextn_predict_layers", "must not be negative");
  for (auto [name, id] : {std::pair{"bos_token_id", c.bosTokenId},
                          std::pair{"eos_token_id", c.eosTokenId}})
    if (id && (*id < 0 || *id >= c.vocabSize))
      r.fail(name, std::to_string(*id) + " is outside the vocabulary [0, " +
                       std::to_string(c.vocabSize) + ")");
  if (c.hasMoE())
    r.positive("moe_layer_freq", c.moeLayerFreq);
  if (!r.error.empty())
    return;
  bool anyDenseLayer = false;
  for (int64_t i = 0; i < c.numLayers && !anyDenseLayer; ++i)
    anyDenseLayer = !c.isMoELayer(i);
  if (anyDenseLayer)
    r.positive("intermediate_size", c.intermediateSize);
  if (!c.hasMoE())
    return;

  int64_t experts = c.numRoutedExperts;
  r.positive("moe_intermediate_size", c.moeIntermediateSize);
  if (c.numSharedExperts < 0)
    r.fail("n_shared_experts", "must not be negative");
  r.positive("n_group", c.numGroups);
  r.positive("num_experts_per_tok", c.numExpertsPerToken);
  if (!r.error.empty())
    return;
  if (experts % c.numGroups != 0)
    return r.fail("n_group", std::to_string(c.numGroups) +
                                 " groups do not divide the " +
                                 std::to_string(experts) +
                                 " routed experts (n_routed_experts)");
  if (c.topkGroup < 1 || c.topkGroup > c.numGroups)
    return r.fail("topk_group", std::to_string(c.topkGroup) +
                                    " must be in [1, n_group = " +
                                    std::to_string(c.numGroups) + "]");
  int64_t reachable = c.topkGroup * (experts / c.numGroups);
  if (c.numExpertsPerToken > reachable)
    return r.fail("num_experts_per_tok",
                  std::to_string(c.numExpertsPerToken) + " is more than the " +
                      std::to_string(reachable) +
                      " experts held by the topk_group = " +
                      std::to_string(c.topkGroup) + " kept groups");
  if (c.topkMethod == TopkMethod::NoauxTc && experts / c.numGroups < 2)
    return r.fail("topk_method", "noaux_tc scores a group by its two best "
                                 "experts, so groups need at least 2 experts");
  if (!(c.routedScalingFactor > 0.0))
    r.fail("routed_scaling_factor", "must be positive");
}

} // namespace

Expected<ModelConfig> parseModelConfig(std::string_view text,
                                       std::string_view fileName) {
  std::string file(fileName);
  Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return Expected<ModelConfig>::error(file +
                                        ": invalid JSON: " + parsed.error());
  const json::Value &root = parsed.value();
  if (!root.isObject())
    return Expected<ModelConfig>::error(
        file + ": expected a JSON object at the top level, got " +
        describe(root));

  ModelConfig c;
  FieldReader r(root, file, "");
  std::string modelType;
  r.string("model_type", modelType, std::nullopt);
  if (!r.error.empty())
    return Expected<ModelConfig>::error(r.error);
  if (modelType == "deepseek_v2")
    c.family = ModelFamily::DeepSeekV2;
  else if (modelType == "deepseek_v3")
    c.family = ModelFamily::DeepSeekV3;
  else
    return Expected<ModelConfig>::error(
        file + ": field 'model_type': unsupported model \"" + modelType +
        "\" (dsc compiles deepseek_v2 and deepseek_v3)");
  const FamilyDefaults &d =
      c.family == ModelFamily::DeepSeekV2 ? kV2Defaults : kV3Defaults;

  r.integer("vocab_size", c.vocabSize, d.vocabSize);
  r.integer("hidden_size", c.hiddenSize, d.hiddenSize);
  r.integer("intermediate_size", c.intermediateSize, d.intermediateSize);
  r.integer("moe_intermediate_size", c.moeIntermediateSize,
            d.moeIntermediateSize);
  r.integer("num_hidden_layers", c.numLayers, d.numLayers);
  r.integer("num_attention_heads", c.numHeads, d.numHeads);
  if (r.get("q_lora_rank"))
    r.integer("q_lora_rank", c.qLoraRank, std::nullopt);
  else
    c.qLoraRank = root.find("q_lora_rank") ? 0 : d.qLoraRank;
  r.integer("kv_lora_rank", c.kvLoraRank, 512);
  r.integer("qk_nope_head_dim", c.qkNopeHeadDim, 128);
  r.integer("qk_rope_head_dim", c.qkRopeHeadDim, 64);
  r.integer("v_head_dim", c.vHeadDim, 128);
  r.integer("n_routed_experts", c.numRoutedExperts, d.numRoutedExperts);
  r.integer("n_shared_experts", c.numSharedExperts, d.numSharedExperts);
  r.integer("num_experts_per_tok", c.numExpertsPerToken, d.numExpertsPerToken);
  r.integer("n_group", c.numGroups, d.numGroups);
  r.integer("topk_group", c.topkGroup, d.topkGroup);
  r.integer("first_k_dense_replace", c.firstKDenseReplace,
            d.firstKDenseReplace);
  r.integer("moe_layer_freq", c.moeLayerFreq, 1);
  r.integer("max_position_embeddings", c.maxPositionEmbeddings,
            d.maxPositionEmbeddings);
  r.integer("num_nextn_predict_layers", c.numNextnPredictLayers, 0);
  r.boolean("norm_topk_prob", c.normTopkProb, d.normTopkProb);
  r.number("routed_scaling_factor", c.routedScalingFactor,
           d.routedScalingFactor);
  r.number("rms_norm_eps", c.rmsNormEps, 1e-6);
  r.optionalInteger("bos_token_id", c.bosTokenId);
  r.optionalInteger("eos_token_id", c.eosTokenId);
  if (!root.find("bos_token_id"))
    c.bosTokenId = d.bos;
  if (!root.find("eos_token_id"))
    c.eosTokenId = d.eos;

  std::string topkMethod, scoringFunc, activation;
  r.string("topk_method", topkMethod, d.topkMethod);
  r.string("scoring_func", scoringFunc, d.scoringFunc);
  r.string("hidden_act", activation, "silu");
  if (!r.error.empty())
    return Expected<ModelConfig>::error(r.error);

  if (topkMethod == "greedy")
    c.topkMethod = TopkMethod::Greedy;
  else if (topkMethod == "group_limited_greedy")
    c.topkMethod = TopkMethod::GroupLimitedGreedy;
  else if (topkMethod == "noaux_tc")
    c.topkMethod = TopkMethod::NoauxTc;
  else
    r.fail("topk_method", "expected \"greedy\", \"group_limited_greedy\" or "
                          "\"noaux_tc\", got \"" +
                              topkMethod + "\"");
  if (scoringFunc == "softmax")
    c.scoringFunc = ScoringFunc::Softmax;
  else if (scoringFunc == "sigmoid")
    c.scoringFunc = ScoringFunc::Sigmoid;
  else
    r.fail("scoring_func",
           "expected \"softmax\" or \"sigmoid\", got \"" + scoringFunc + "\"");
  if (activation != "silu")
    r.fail("hidden_act",
           "only \"silu\" is supported, got \"" + activation + "\"");
  bool attentionBias = false, tiedEmbeddings = false;
  r.boolean("attention_bias", attentionBias, false);
  r.boolean("tie_word_embeddings", tiedEmbeddings, false);
  if (attentionBias)
    r.fail("attention_bias", "biased attention projections are not "
                             "supported (no DeepSeek model uses them)");
  if (tiedEmbeddings)
    r.fail("tie_word_embeddings", "tied embeddings are not supported (no "
                                  "DeepSeek model uses them)");
  if (!r.error.empty())
    return Expected<ModelConfig>::error(r.error);

  std::string error;
  readRopeScaling(root, file, c, error);
  if (error.empty())
    readQuantization(root, file, c, error);
  if (!error.empty())
    return Expected<ModelConfig>::error(error);

  validate(c, r);
  if (!r.error.empty())
    return Expected<ModelConfig>::error(r.error);
  return c;
}

Expected<ModelConfig> loadModelConfig(const std::string &path) {
  std::string file = path;
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    file =
        path + (path.empty() || path.back() == '/' ? "" : "/") + "config.json";
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Expected<ModelConfig>::error(
        file + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return Expected<ModelConfig>::error(file + ": read error");
  return parseModelConfig(text.str(), file);
}

} // namespace dsc
