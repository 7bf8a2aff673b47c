//===- EmitGpuImage.cpp - ds-emit-gpu-image -------------------------------===//
//
// Writes the PTX or cubin of a module's generated CUDA kernels (see
// Passes.td and dsc::compileCudaKernels), the step `dsc compile` embeds in
// the program, reachable from dsc-opt.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/CudaKernels.h"
#include "dsc/Target/Passes.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

namespace dsc {
#define GEN_PASS_DEF_DSEMITGPUIMAGE
#include "dsc/Target/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

struct EmitGpuImagePass : dsc::impl::DSEmitGpuImageBase<EmitGpuImagePass> {
  using DSEmitGpuImageBase::DSEmitGpuImageBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError("ds-emit-gpu-image: ") << message;
      signalPassFailure();
    };
    if (output.empty())
      return fail("needs output=FILE");
    if (format != "ptx" && format != "cubin")
      return fail("format must be ptx or cubin, got '" + format + "'");
    std::string known;
    std::optional<dsc::TargetDescription> isa =
        dsc::lookupTarget(target, known);
    if (!isa)
      return fail("unknown target '" + target + "' (known: " + known + ")");
    if (!isa->isCUDA())
      return fail("'" + target + "' is not a cuda target");
    ModuleOp kernels;
    for (auto nested : module.getOps<ModuleOp>()) {
      auto kind = nested->getAttrOfType<StringAttr>("ds.kernels");
      if (kind && kind.getValue() == "cuda")
        kernels = nested;
    }
    if (!kernels)
      return fail("no CUDA kernels (run ds-configure-kernels with a cuda "
                  "target, then ds-generate-kernels)");
    std::vector<std::string> names;
    for (KernelOp k : module.getOps<KernelOp>())
      names.push_back(k.getSymName().str());
    // The compilation lowers the kernels in place: work on a copy.
    OwningOpRef<ModuleOp> copy = kernels.clone();
    FailureOr<dsc::CudaImage> image = dsc::compileCudaKernels(
        *copy, names, *isa, dsc::findCudaToolkit(cudaPath),
        /*usePtxas=*/format == "cubin");
    if (failed(image))
      return signalPassFailure();
    if (image->format != format)
      return fail("no ptxas found for a cubin (set cuda-path)");
    std::string error;
    auto file = openOutputFile(output, &error);
    if (!file)
      return fail(error);
    if (format == "ptx")
      file->os() << image->ptx;
    else
      file->os().write(reinterpret_cast<const char *>(image->bytes.data()),
                       image->bytes.size());
    file->keep();
    markAllAnalysesPreserved();
  }
};

} // namespace
