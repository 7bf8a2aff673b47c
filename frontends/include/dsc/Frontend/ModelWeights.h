//===- ModelWeights.h - the tensors a DeepSeek model needs --------*- C++
//-*-===//
//
// Enumerates every checkpoint tensor of a model from its config
// (`docs/model.md` §6): name, shape, role, and whether an fp8 checkpoint
// stores it as fp8 with block scales. The frontend checks a checkpoint
// against this list, `dsc info` counts parameters from it, and the importer
// names its weight symbols after it.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_FRONTEND_MODELWEIGHTS_H
#define DSC_FRONTEND_MODELWEIGHTS_H

#include "dsc/Frontend/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsc {

enum class WeightRole {
  Embedding,      // [vocab, D] row-gathered table
  Head,           // [vocab, D] lm_head (bf16 in every checkpoint)
  Norm,           // RMSNorm weight, bf16
  Linear,         // projection: fp8 + weight_scale_inv in fp8 checkpoints
  Router,         // MoE gate weight, bf16
  CorrectionBias, // e_score_correction_bias, f32
  Projection,     // bf16 matrix that fp8 checkpoints keep in bf16 (MTP eh_proj)
};

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  WeightRole role;
  int64_t layer = -1;  // -1 for embeddings, final norm and head
  int64_t expert = -1; // routed expert index, or -1
  bool mtp = false;    // part of the multi-token-prediction layer

  int64_t numElements() const;
  /// Compiled as fp8 e4m3 with block scales: stored so in this checkpoint
  /// (weight_scale_inv), or quantized at load (--quantize=fp8).
  bool isFP8(const ModelConfig &config) const {
    return config.fp8.has_value() && role == WeightRole::Linear;
  }
  /// isFP8, and the checkpoint holds it so (not quantized at load).
  bool isStoredFP8(const ModelConfig &config) const {
    return isFP8(config) && !config.fp8->quantizedAtLoad;
  }
  std::string scaleName() const { return name + "_scale_inv"; }
  std::vector<int64_t> scaleShape(const ModelConfig &config) const;
};

/// Every tensor of the main model, in checkpoint order (layer by layer), and
/// with `includeMTP` also those of the MTP layers.
std::vector<WeightSpec> listWeights(const ModelConfig &config,
                                    bool includeMTP = false);

/// The checkpoint prefix of layer `i`: "model.layers.<i>.".
std::string layerPrefix(int64_t layer);

/// Bytes of one weight when linears are stored as fp8 with f32 block scales
/// (`fp8`) or everything as bf16; f32 tensors stay f32.
int64_t weightBytes(const WeightSpec &w, const ModelConfig &config, bool fp8);

/// Figures `dsc info` reports.
struct ModelSummary {
  int64_t denseLayers = 0;
  int64_t moeLayers = 0;
  int64_t totalParameters = 0;  // main model, MTP excluded
  int64_t activeParameters = 0; // read per token (see ModelWeights.cpp)
  int64_t mtpParameters = 0;
  int64_t bf16BytesPerToken = 0;    // weight bytes read per token, all bf16
  int64_t fp8BytesPerToken = 0;     // ... with fp8 linears (+ their scales)
  int64_t kvCacheBytesPerToken = 0; // latent cache, bf16, all layers
};

ModelSummary summarize(const ModelConfig &config);

} // namespace dsc

#endif // DSC_FRONTEND_MODELWEIGHTS_H
