//===- ModelConfigTest.cpp - unit tests of the config reader -------------===//
//
// parseModelConfig on the real configs (every field of docs/model.md §1),
// HF's per-family defaults, the derived values (softmax scale, MoE layers),
// and the tensor list and parameter counts of ModelWeights.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelConfig.h"
#include "dsc/Frontend/ModelWeights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace dsc;

namespace {

ModelConfig load(const std::string &example) {
  auto config = loadModelConfig(std::string(DSC_EXAMPLES_DIR) + "/" + example);
  EXPECT_TRUE(config.ok()) << config.error();
  return config.ok() ? config.take() : ModelConfig{};
}

ModelConfig parse(const std::string &text) {
  auto config = parseModelConfig(text, "config.json");
  EXPECT_TRUE(config.ok()) << config.error();
  return config.ok() ? config.take() : ModelConfig{};
}

std::string parseError(const std::string &text) {
  auto config = parseModelConfig(text, "config.json");
  EXPECT_FALSE(config.ok());
  return config.ok() ? "" : config.error();
}

TEST(ModelConfig, DeepSeekV3) {
  ModelConfig c = load("deepseek-v3");
  EXPECT_EQ(c.family, ModelFamily::DeepSeekV3);
  EXPECT_EQ(c.vocabSize, 129280);
  EXPECT_EQ(c.hiddenSize, 7168);
  EXPECT_EQ(c.intermediateSize, 18432);
  EXPECT_EQ(c.moeIntermediateSize, 2048);
  EXPECT_EQ(c.numLayers, 61);
  EXPECT_EQ(c.numHeads, 128);
  EXPECT_EQ(c.qLoraRank, 1536);
  EXPECT_EQ(c.kvLoraRank, 512);
  EXPECT_EQ(c.qkHeadDim(), 192);
  EXPECT_EQ(c.vHeadDim, 128);
  EXPECT_EQ(c.numRoutedExperts, 256);
  EXPECT_EQ(c.numSharedExperts, 1);
  EXPECT_EQ(c.numExpertsPerToken, 8);
  EXPECT_EQ(c.numGroups, 8);
  EXPECT_EQ(c.topkGroup, 4);
  EXPECT_EQ(c.topkMethod, TopkMethod::NoauxTc);
  EXPECT_EQ(c.scoringFunc, ScoringFunc::Sigmoid);
  EXPECT_TRUE(c.normTopkProb);
  EXPECT_DOUBLE_EQ(c.routedScalingFactor, 2.5);
  EXPECT_EQ(c.firstKDenseReplace, 3);
  EXPECT_EQ(c.bosTokenId, 0);
  EXPECT_EQ(c.eosTokenId, 1);
  EXPECT_EQ(c.numNextnPredictLayers, 1);
  ASSERT_TRUE(c.fp8.has_value());
  EXPECT_EQ(c.fp8->blockRows, 128);
  EXPECT_EQ(c.fp8->blockCols, 128);
  EXPECT_FALSE(c.fp8->ue8m0Scales);
  EXPECT_TRUE(c.rope.yarn);
  EXPECT_DOUBLE_EQ(c.rope.factor, 40.0);
  EXPECT_EQ(c.rope.originalMaxPosition, 4096);
  EXPECT_DOUBLE_EQ(c.rope.mscaleAllDim, 1.0);
  // docs/model.md §2.5: 192^-0.5 * (0.1 ln 40 + 1)^2.
  EXPECT_NEAR(c.softmaxScale(), 0.1352337789, 1e-10);
  EXPECT_FALSE(c.isMoELayer(2));
  EXPECT_TRUE(c.isMoELayer(3));
  EXPECT_TRUE(c.isMoELayer(60));
}

TEST(ModelConfig, DeepSeekV2Lite) {
  ModelConfig c = load("deepseek-v2-lite/config.json");
  EXPECT_EQ(c.family, ModelFamily::DeepSeekV2);
  EXPECT_EQ(c.qLoraRank, 0); // null: queries through q_proj
  EXPECT_EQ(c.numHeads, 16);
  EXPECT_EQ(c.numRoutedExperts, 64);
  EXPECT_EQ(c.numSharedExperts, 2);
  EXPECT_EQ(c.numExpertsPerToken, 6);
  EXPECT_EQ(c.topkMethod, TopkMethod::Greedy);
  EXPECT_EQ(c.scoringFunc, ScoringFunc::Softmax);
  EXPECT_FALSE(c.normTopkProb);
  EXPECT_EQ(c.bosTokenId, 100000);
  EXPECT_FALSE(c.fp8.has_value());
  EXPECT_DOUBLE_EQ(c.rope.mscaleAllDim, 0.707);
  EXPECT_NEAR(c.softmaxScale(), 0.1147213868, 1e-10);
  EXPECT_FALSE(c.isMoELayer(0));
  EXPECT_TRUE(c.isMoELayer(1));
}

TEST(ModelConfig, FamilyDefaultsFillAbsentFields) {
  ModelConfig v3 = parse(R"({"model_type": "deepseek_v3"})");
  EXPECT_EQ(v3.hiddenSize, 7168);
  EXPECT_EQ(v3.qLoraRank, 1536);
  EXPECT_EQ(v3.topkMethod, TopkMethod::NoauxTc);
  EXPECT_FALSE(v3.rope.yarn);
  EXPECT_NEAR(v3.softmaxScale(), 1.0 / std::sqrt(192.0), 1e-15);

  // DeepseekV2Config leaves the experts unset: a dense model.
  ModelConfig v2 = parse(R"({"model_type": "deepseek_v2"})");
  EXPECT_FALSE(v2.hasMoE());
  EXPECT_FALSE(v2.isMoELayer(5));
  EXPECT_EQ(v2.bosTokenId, 100000);
}

TEST(ModelConfig, QLoraRankNullOrZeroMeansNone) {
  EXPECT_EQ(
      parse(R"({"model_type": "deepseek_v3", "q_lora_rank": null})").qLoraRank,
      0);
  EXPECT_EQ(
      parse(R"({"model_type": "deepseek_v3", "q_lora_rank": 0})").qLoraRank, 0);
}

TEST(ModelConfig, MoELayerFrequency) {
  ModelConfig c = parse(R"({"model_type": "deepseek_v2", "n_routed_experts": 8,
    "num_experts_per_tok": 2, "num_hidden_layers": 6,
    "first_k_dense_replace": 1, "moe_layer_freq": 2})");
  std::vector<bool> moe;
  for (int64_t i = 0; i < c.numLayers; ++i)
    moe.push_back(c.isMoELayer(i));
  EXPECT_EQ(moe, (std::vector<bool>{false, false, true, false, true, false}));
}

TEST(ModelConfig, UE8M0Scales) {
  ModelConfig c = parse(R"({"model_type": "deepseek_v3", "quantization_config":
    {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128],
     "activation_scheme": "dynamic", "scale_fmt": "ue8m0"}})");
  ASSERT_TRUE(c.fp8.has_value());
  EXPECT_TRUE(c.fp8->ue8m0Scales);
}

TEST(ModelConfig, ErrorsNameFileAndField) {
  EXPECT_EQ(parseError(R"({"model_type": "deepseek_v3", "n_group": 7})"),
            "config.json: field 'n_group': 7 groups do not divide the 256 "
            "routed experts (n_routed_experts)");
  EXPECT_EQ(parseError(R"({"model_type": "deepseek_v3", "vocab_size": -1})"),
            "config.json: field 'vocab_size': must be positive, got -1");
  EXPECT_EQ(
      parseError(
          R"({"model_type": "deepseek_v3", "rope_scaling": {"type": 4}})"),
      "config.json: field 'rope_scaling.type': expected a string, got "
      "number");
  EXPECT_NE(parseError("{").find("config.json: invalid JSON"),
            std::string::npos);
}

// Expected tensor count of a config, from docs/model.md §6.2 by hand.
TEST(ModelWeights, TensorListOfTinyV3) {
  ModelConfig c = load("tiny-v3");
  std::vector<WeightSpec> main = listWeights(c);
  int64_t attention =
      1 + 3 + 3 + 1; // input norm, q_a/q_a_norm/q_b, kv_a/kv_a_norm/kv_b, o
  int64_t dense = attention + 1 + 3; // post norm + gate/up/down
  int64_t moe = attention + 1 + 2 + 3 * c.numRoutedExperts +
                3; // router, bias, experts, shared
  int64_t expected = 3 + c.firstKDenseReplace * dense +
                     (c.numLayers - c.firstKDenseReplace) * moe;
  EXPECT_EQ(static_cast<int64_t>(main.size()), expected);
  for (const WeightSpec &w : main)
    EXPECT_FALSE(w.mtp) << w.name;

  std::vector<WeightSpec> all = listWeights(c, /*includeMTP=*/true);
  std::map<std::string, const WeightSpec *> byName;
  for (const WeightSpec &w : all)
    byName[w.name] = &w;
  const WeightSpec *kvA =
      byName.at("model.layers.0.self_attn.kv_a_proj_with_mqa.weight");
  EXPECT_EQ(kvA->shape, (std::vector<int64_t>{144, 256}));
  EXPECT_TRUE(kvA->isFP8(c));
  EXPECT_EQ(kvA->scaleShape(c), (std::vector<int64_t>{2, 2})); // partial block
  const WeightSpec *router = byName.at("model.layers.1.mlp.gate.weight");
  EXPECT_FALSE(router->isFP8(c));
  EXPECT_TRUE(byName.at("model.layers.4.eh_proj.weight")->mtp);
  EXPECT_EQ(byName.at("model.layers.4.eh_proj.weight")->shape,
            (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(byName.count("model.layers.3.mlp.experts.15.down_proj.weight"), 1u);
}

TEST(ModelWeights, SummaryOfTinyV3) {
  ModelConfig c = load("tiny-v3");
  ModelSummary s = summarize(c);
  EXPECT_EQ(s.denseLayers, 1);
  EXPECT_EQ(s.moeLayers, 3);
  int64_t total = 0, experts = 0;
  for (const WeightSpec &w : listWeights(c)) {
    total += w.numElements();
    if (w.expert >= 0)
      experts += w.numElements();
  }
  EXPECT_EQ(s.totalParameters, total);
  int64_t table = c.vocabSize * c.hiddenSize;
  EXPECT_EQ(s.activeParameters,
            total - table + c.hiddenSize - experts +
                experts * c.numExpertsPerToken / c.numRoutedExperts);
  EXPECT_EQ(s.kvCacheBytesPerToken, 2 * 4 * (128 + 16));
  EXPECT_GT(s.mtpParameters, 0);
  EXPECT_LT(s.fp8BytesPerToken, s.bf16BytesPerToken);
}

} // namespace
