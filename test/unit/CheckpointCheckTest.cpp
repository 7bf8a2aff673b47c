//===- CheckpointCheckTest.cpp - checkpoint against config ---------------===//
//
// Builds complete checkpoints of a small config in a temporary folder, then
// breaks them one way at a time: each missing or mismatched tensor must be
// reported by name, the MTP layer noted, and strangers warned about.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/CheckpointCheck.h"
#include "dsc/Frontend/ModelWeights.h"
#include "dsrt/Checkpoint.h"

#include "SafetensorsBuilder.h"
#include "TempDir.h"

#include <gtest/gtest.h>

#include <functional>

using namespace dsc;

namespace {

const char *kConfig = R"({"model_type": "deepseek_v3", "vocab_size": 64,
  "hidden_size": 32, "intermediate_size": 48, "moe_intermediate_size": 16,
  "num_hidden_layers": 2, "num_attention_heads": 2, "q_lora_rank": 16,
  "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 8,
  "v_head_dim": 8, "n_routed_experts": 4, "n_shared_experts": 1,
  "num_experts_per_tok": 2, "n_group": 2, "topk_group": 1,
  "first_k_dense_replace": 1, "num_nextn_predict_layers": 1,
  "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}})";

using Edit = std::function<void(std::string &name, dsrt::DType &dtype,
                                std::vector<int64_t> &shape)>;

/// Writes the checkpoint of kConfig into `dir`, passing every tensor through
/// `edit` (which may rename it to "" to drop it), plus `extra` tensors.
void writeCheckpoint(const dsrt::test::TempDir &dir, const ModelConfig &config,
                     const Edit &edit,
                     const std::vector<std::string> &extra = {}) {
  dsrt::test::SafetensorsBuilder builder(7);
  auto add = [&](std::string name, dsrt::DType dtype,
                 std::vector<int64_t> shape) {
    edit(name, dtype, shape);
    if (!name.empty())
      builder.add(name, dtype, shape);
  };
  for (const WeightSpec &w : listWeights(config, /*includeMTP=*/true)) {
    if (w.role == WeightRole::CorrectionBias)
      add(w.name, dsrt::DType::F32, w.shape);
    else if (w.isFP8(config)) {
      add(w.name, dsrt::DType::F8_E4M3, w.shape);
      add(w.scaleName(), dsrt::DType::F32, w.scaleShape(config));
    } else
      add(w.name, dsrt::DType::BF16, w.shape);
  }
  for (const std::string &name : extra)
    builder.add(name, dsrt::DType::BF16, {2});
  dir.writeFile("model.safetensors", builder.build());
}

CheckpointReport check(const Edit &edit,
                       const std::vector<std::string> &extra = {}) {
  ModelConfig config = parseModelConfig(kConfig, "config.json").take();
  dsrt::test::TempDir dir;
  writeCheckpoint(dir, config, edit, extra);
  auto checkpoint = dsrt::Checkpoint::open(dir.path());
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.error();
  return checkCheckpoint(config, checkpoint.value());
}

const Edit kKeep = [](std::string &, dsrt::DType &, std::vector<int64_t> &) {};

TEST(CheckpointCheck, CompleteCheckpointPasses) {
  CheckpointReport report = check(kKeep);
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(report.warnings.empty());
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find("model.layers.2."), std::string::npos);
}

TEST(CheckpointCheck, MissingTensorIsNamed) {
  CheckpointReport report =
      check([](std::string &name, dsrt::DType &, std::vector<int64_t> &) {
        if (name == "model.layers.1.mlp.experts.3.up_proj.weight" ||
            name == "model.norm.weight")
          name.clear();
      });
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.errors[0],
            "missing tensor 'model.layers.1.mlp.experts.3.up_proj.weight' "
            "(expected F8_E4M3 [16, 32])");
  EXPECT_EQ(report.errors[1],
            "missing tensor 'model.norm.weight' (expected BF16 [32])");
}

TEST(CheckpointCheck, WrongDtypeAndShape) {
  CheckpointReport report = check(
      [](std::string &name, dsrt::DType &dtype, std::vector<int64_t> &shape) {
        if (name == "lm_head.weight")
          dtype = dsrt::DType::F16;
        if (name == "model.layers.0.self_attn.q_a_proj.weight_scale_inv")
          shape = {2, 1};
      });
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.errors[0],
            "tensor 'model.layers.0.self_attn.q_a_proj.weight_scale_inv' is "
            "F32 [2, 1], expected F32 [1, 1]");
  EXPECT_EQ(report.errors[1],
            "tensor 'lm_head.weight' is F16 [64, 32], expected BF16 [64, 32]");
}

TEST(CheckpointCheck, UnexpectedTensorsWarn) {
  CheckpointReport report = check(kKeep, {"model.extra.weight", "other"});
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("2 tensor(s)"), std::string::npos);
  EXPECT_NE(report.warnings[0].find("'model.extra.weight'"), std::string::npos);
}

} // namespace

/// --quantize=fp8: the config's linears are fp8 quantized at load, and the
/// checkpoint must hold them in bf16 without scale tensors.
CheckpointReport checkQuantized(bool writeFP8) {
  ModelConfig stored = parseModelConfig(kConfig, "config.json").take();
  if (!writeFP8)
    stored.fp8.reset();
  dsrt::test::TempDir dir;
  writeCheckpoint(dir, stored, kKeep);
  ModelConfig quantized = stored;
  quantized.fp8 = FP8Config{};
  quantized.fp8->quantizedAtLoad = true;
  auto checkpoint = dsrt::Checkpoint::open(dir.path());
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.error();
  return checkCheckpoint(quantized, checkpoint.value());
}

TEST(CheckpointCheck, QuantizedAtLoadExpectsBF16Tensors) {
  CheckpointReport bf16 = checkQuantized(/*writeFP8=*/false);
  EXPECT_TRUE(bf16.ok()) << bf16.errors.front();
  EXPECT_TRUE(bf16.warnings.empty());

  // An fp8 checkpoint: every linear is the wrong dtype and the scale tensors
  // are strangers.
  CheckpointReport fp8 = checkQuantized(/*writeFP8=*/true);
  ASSERT_FALSE(fp8.ok());
  EXPECT_EQ(fp8.errors.front(),
            "tensor 'model.layers.0.self_attn.q_a_proj.weight' is F8_E4M3 "
            "[16, 32], expected BF16 [16, 32]");
  ASSERT_EQ(fp8.warnings.size(), 1u);
  EXPECT_NE(fp8.warnings[0].find("_scale_inv'"), std::string::npos);
  // The summary counts a quantised model's weights as fp8.
  ModelConfig config = parseModelConfig(kConfig, "config.json").take();
  ModelConfig quantized = config;
  quantized.fp8->quantizedAtLoad = true;
  EXPECT_EQ(summarize(quantized).fp8BytesPerToken,
            summarize(config).fp8BytesPerToken);
  EXPECT_LT(summarize(quantized).fp8BytesPerToken,
            summarize(quantized).bf16BytesPerToken);
}
