//===- ModelImporter.h - DeepSeek config to ds module -------------*- C++
//-*-===//
//
// Builds the model-level ds module of a whole DeepSeek model from its
// validated config.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_FRONTEND_MODELIMPORTER_H
#define DSC_FRONTEND_MODELIMPORTER_H

#include "dsc/Frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace dsc {

/// Builds the ds module of `config` (see docs/design/entry-points.md):
/// one `ds.weight` per checkpoint tensor (routed experts stacked per layer),
/// and the entry points `@prefill` and `@decode`. `source` names the config
/// file in locations. Loads the dialects it needs into `context`.
mlir::OwningOpRef<mlir::ModuleOp> importModel(mlir::MLIRContext &context,
                                              const ModelConfig &config,
                                              llvm::StringRef source);

} // namespace dsc

#endif // DSC_FRONTEND_MODELIMPORTER_H
