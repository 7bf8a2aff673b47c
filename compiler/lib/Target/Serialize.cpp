//===- Serialize.cpp - ds-serialize ---------------------------------------===//
//
// Writes the FlatBuffer program of a scheduled module (see Passes.td and
// dsc::serializeProgram).
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/Executable.h"
#include "dsc/Target/Passes.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

namespace dsc {
#define GEN_PASS_DEF_DSSERIALIZE
#include "dsc/Target/Passes.h.inc"
} // namespace dsc

using namespace mlir;

namespace {
struct SerializePass : dsc::impl::DSSerializeBase<SerializePass> {
  using DSSerializeBase::DSSerializeBase;

  void runOnOperation() override {
    if (output.empty()) {
      getOperation().emitError("ds-serialize needs output=FILE");
      return signalPassFailure();
    }
    dsc::ProgramMetadata metadata;
    metadata.target = target;
    auto program = dsc::serializeProgram(getOperation(), metadata);
    if (failed(program))
      return signalPassFailure();
    std::string error;
    auto file = openOutputFile(output, &error);
    if (!file) {
      getOperation().emitError(error);
      return signalPassFailure();
    }
    file->os().write(reinterpret_cast<const char *>(program->data()),
                     program->size());
    file->keep();
    markAllAnalysesPreserved();
  }
};
} // namespace
