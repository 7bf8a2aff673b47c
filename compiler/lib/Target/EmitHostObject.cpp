//===- EmitHostObject.cpp - ds-emit-host-object ---------------------------===//
//
// Writes the host object of a scheduled host-target module (see Passes.td,
// dsc::serializeProgram and dsc::emitHostObject): the step before linking an
// executable, reachable from dsc-opt.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/Executable.h"
#include "dsc/Target/Passes.h"

namespace dsc {
#define GEN_PASS_DEF_DSEMITHOSTOBJECT
#include "dsc/Target/Passes.h.inc"
} // namespace dsc

using namespace mlir;

namespace {

struct EmitHostObjectPass
    : dsc::impl::DSEmitHostObjectBase<EmitHostObjectPass> {
  using DSEmitHostObjectBase::DSEmitHostObjectBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (output.empty()) {
      module.emitError("ds-emit-host-object needs output=FILE");
      return signalPassFailure();
    }
    ModuleOp kernels;
    for (auto nested : module.getOps<ModuleOp>()) {
      auto kind = nested->getAttrOfType<StringAttr>("ds.kernels");
      if (kind && kind.getValue() == "cpu")
        kernels = nested;
    }
    if (!kernels) {
      module.emitError("ds-emit-host-object: no host kernels (a host-target "
                       "module after ds-generate-kernels and ds-schedule)");
      return signalPassFailure();
    }
    FailureOr<std::vector<uint8_t>> program =
        dsc::serializeProgram(module, dsc::ProgramMetadata());
    if (failed(program))
      return signalPassFailure();
    // Lowering the kernels changes them: compile a copy of the module.
    OwningOpRef<ModuleOp> copy = module.clone();
    ModuleOp copiedKernels;
    for (auto nested : copy->getOps<ModuleOp>())
      if (nested.getSymName() == kernels.getSymName())
        copiedKernels = nested;
    if (failed(
            dsc::emitHostObject(*copy, *program, cpu, copiedKernels, output)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
