//===- CheckpointCheck.cpp - check a checkpoint against its config -------===//
//
// Walks the expected tensor list once, looking each tensor (and scale) up in
// the checkpoint, then lists what the checkpoint holds beyond it.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/CheckpointCheck.h"

#include "dsc/Frontend/ModelWeights.h"
#include "dsrt/Checkpoint.h"

#include <set>

namespace dsc {

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Checks one tensor; returns an error line or "".
static std::string checkTensor(const dsrt::Checkpoint &checkpoint,
                               const std::string &name, dsrt::DType dtype,
                               const std::vector<int64_t> &shape) {
  const dsrt::Checkpoint::Entry *entry = checkpoint.find(name);
  std::string expected =
      std::string(dsrt::dtypeName(dtype)) + " " + shapeString(shape);
  if (!entry)
    return "missing tensor '" + name + "' (expected " + expected + ")";
  const dsrt::TensorInfo &info = *entry->info;
  if (info.dtype != dtype || info.shape != shape)
    return "tensor '" + name + "' is " + dsrt::dtypeName(info.dtype) + " " +
           shapeString(info.shape) + ", expected " + expected;
  return "";
}

static dsrt::DType expectedDType(const WeightSpec &w, const ModelConfig &c) {
  if (w.role == WeightRole::CorrectionBias)
    return dsrt::DType::F32;
  return w.isStoredFP8(c) ? dsrt::DType::F8_E4M3 : dsrt::DType::BF16;
}

CheckpointReport checkCheckpoint(const ModelConfig &config,
                                 const dsrt::Checkpoint &checkpoint) {
  CheckpointReport report;
  std::set<std::string> known;
  bool sawMTP = false;
  for (const WeightSpec &w : listWeights(config, /*includeMTP=*/true)) {
    known.insert(w.name);
    if (w.isStoredFP8(config))
      known.insert(w.scaleName());
    if (w.mtp) {
      sawMTP = sawMTP || checkpoint.find(w.name);
      continue;
    }
    std::string error =
        checkTensor(checkpoint, w.name, expectedDType(w, config), w.shape);
    if (error.empty() && w.isStoredFP8(config))
      error = checkTensor(checkpoint, w.scaleName(), dsrt::DType::F32,
                          w.scaleShape(config));
    if (!error.empty())
      report.errors.push_back(error);
  }
  if (sawMTP)
    report.notes.push_back(
        "the checkpoint's multi-token-prediction layer (model.layers." +
        std::to_string(config.numLayers) +
        ".*) is recognised and not compiled");

  size_t unexpected = 0;
  std::string examples;
  for (const std::string &name : checkpoint.tensorNames()) {
    if (known.count(name))
      continue;
    // Some exports carry the rotary tables; they are recomputed from config.
    if (name.find("rotary_emb.inv_freq") != std::string::npos)
      continue;
    if (++unexpected <= 5)
      examples += (unexpected > 1 ? ", '" : "'") + name + "'";
  }
  if (unexpected)
    report.warnings.push_back(
        std::to_string(unexpected) +
        " tensor(s) in the checkpoint are not part of the model and are "
        "ignored: " +
        examples + (unexpected > 5 ? ", ..." : ""));
  return report;
}

} // namespace dsc
