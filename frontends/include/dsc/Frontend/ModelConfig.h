//===- ModelConfig.h - a DeepSeek config.json, validated ----------*- C++
//-*-===//
//
// The model hyper-parameters of a DeepSeek-V2/V2-Lite/V3/R1/V3.1 checkpoint,
// read from its `config.json` (every field of `docs/model.md` §1), with
// HuggingFace's defaults where HF has them, and checked for consistency.
// This library depends only on the runtime's JSON reader (no MLIR), so that
// it can be fuzzed and sanitized on its own.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_FRONTEND_MODELCONFIG_H
#define DSC_FRONTEND_MODELCONFIG_H

#include "dsrt/Expected.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsc {

enum class ModelFamily { DeepSeekV2, DeepSeekV3 };
enum class ScoringFunc { Softmax, Sigmoid };
enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };

const char *familyName(ModelFamily family); // "deepseek_v2", "deepseek_v3"
const char *scoringFuncName(ScoringFunc func);
const char *topkMethodName(TopkMethod method);

/// `rope_theta` and `rope_scaling`. Without `rope_scaling`, `yarn` is false
/// and the other fields keep neutral values.
struct RopeConfig {
  double theta = 10000.0;
  bool yarn = false;
  double factor = 1.0;
  int64_t originalMaxPosition = 4096;
  double betaFast = 32.0;
  double betaSlow = 1.0;
  double mscale = 1.0;
  double mscaleAllDim = 0.0; // 0 = absent: no softmax-scale correction
};

/// `quantization_config` of an fp8 checkpoint (V3, R1, V3.1), or the fp8
/// weights `dsc compile --quantize=fp8` makes of a bf16 checkpoint.
struct FP8Config {
  int64_t blockRows = 128;
  int64_t blockCols = 128;
  bool ue8m0Scales = false; // scale_fmt = "ue8m0" (V3.1)
  // The checkpoint holds the linear weights in bf16 and the runtime
  // quantises them when they load (`docs/model.md` §5.4).
  bool quantizedAtLoad = false;
};

struct ModelConfig {
  ModelFamily family = ModelFamily::DeepSeekV3;
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t moeIntermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t qLoraRank = 0; // 0: queries through q_proj alone
  int64_t kvLoraRank = 0;
  int64_t qkNopeHeadDim = 0;
  int64_t qkRopeHeadDim = 0;
  int64_t vHeadDim = 0;
  int64_t numRoutedExperts = 0; // 0: every layer is dense
  int64_t numSharedExperts = 0;
  int64_t numExpertsPerToken = 0;
  int64_t numGroups = 1;
  int64_t topkGroup = 1;
  TopkMethod topkMethod = TopkMethod::Greedy;
  ScoringFunc scoringFunc = ScoringFunc::Softmax;
  bool normTopkProb = false;
  double routedScalingFactor = 1.0;
  int64_t firstKDenseReplace = 0;
  int64_t moeLayerFreq = 1;
  double rmsNormEps = 1e-6;
  int64_t maxPositionEmbeddings = 0;
  RopeConfig rope;
  std::optional<int64_t> bosTokenId;
  std::optional<int64_t> eosTokenId;
  int64_t numNextnPredictLayers = 0;
  std::optional<FP8Config> fp8;

  int64_t qkHeadDim() const { return qkNopeHeadDim + qkRopeHeadDim; }
  bool hasMoE() const { return numRoutedExperts > 0; }
  /// Layer `i` uses routed experts (`docs/model.md` §3.1).
  bool isMoELayer(int64_t i) const {
    return hasMoE() && i >= firstKDenseReplace && i % moeLayerFreq == 0;
  }
  /// qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 with YaRN (§2.5).
  double softmaxScale() const;
  /// Whether the router combines the weights with the correction bias.
  bool hasCorrectionBias() const { return topkMethod == TopkMethod::NoauxTc; }
};

/// Parses and validates `config.json` text. Errors read
/// "<fileName>: field '<name>': <problem>".
dsrt::Expected<ModelConfig> parseModelConfig(std::string_view text,
                                             std::string_view fileName);

/// Reads `path`: a `config.json` file, or a checkpoint folder holding one.
dsrt::Expected<ModelConfig> loadModelConfig(const std::string &path);

} // namespace dsc

#endif // DSC_FRONTEND_MODELCONFIG_H
