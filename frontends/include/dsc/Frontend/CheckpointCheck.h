//===- CheckpointCheck.h - does a checkpoint hold the model? ------*- C++
//-*-===//
//
// Compares the tensors of a checkpoint folder with the list the config
// implies (ModelWeights.h): every tensor present with the expected dtype and
// shape, fp8 weights with their scale tensors. MTP tensors are recognised and
// ignored; anything else unexpected is reported as a warning.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_FRONTEND_CHECKPOINTCHECK_H
#define DSC_FRONTEND_CHECKPOINTCHECK_H

#include "dsc/Frontend/ModelConfig.h"

#include <string>
#include <vector>

namespace dsrt {
class Checkpoint;
}

namespace dsc {

struct CheckpointReport {
  std::vector<std::string> errors;   // one line per missing/mismatched tensor
  std::vector<std::string> warnings; // unexpected tensors
  std::vector<std::string> notes;    // e.g. the MTP layer being ignored
  bool ok() const { return errors.empty(); }
};

CheckpointReport checkCheckpoint(const ModelConfig &config,
                                 const dsrt::Checkpoint &checkpoint);

} // namespace dsc

#endif // DSC_FRONTEND_CHECKPOINTCHECK_H
