//===- Executable.h - program serialization, object emission, linking -*- C++
//-*-===//
//
// The last steps of `dsc compile`: the scheduled module becomes the
// FlatBuffer program (ds-serialize), the host kernels become machine code in
// an object file next to the program bytes and the kernel table, and the
// system C++ driver links that object with libdsrt into one executable.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_EXECUTABLE_H
#define DSC_TARGET_EXECUTABLE_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsc {

struct ProgramMetadata {
  std::string target = "cpu";
  std::string dscVersion;
  std::string checkpointDir; // absolute; empty when compiled from a config
  // CUDA targets: the compiled kernels.
  std::vector<uint8_t> gpuImage;
  std::string gpuImageFormat; // "cubin" | "ptx"
  std::string gpuChip;
  // Text in, text out: tokenizer.json as read, and the chat format.
  std::string tokenizerJson;
  std::string chatTemplate;
};

/// ds-serialize: the FlatBuffer program (runtime/schemas/program.fbs) of a
/// module that went through ds-schedule.
mlir::FailureOr<std::vector<uint8_t>>
serializeProgram(mlir::ModuleOp scheduled, const ProgramMetadata &metadata);

/// Writes an object file for the host CPU `cpu` ("native": this machine)
/// holding `dsc_program_data`/`dsc_program_size` and
/// `dsc_kernel_table`/`dsc_kernel_count`. With `hostKernels` (the nested
/// `@kernels` module of a CPU target, or the `@host_twins` of a
/// --check-kernels build) that module is lowered (in place) and compiled
/// into the table, one function per ds.kernel in order; otherwise (GPU
/// targets, whose kernels travel in the program) the table is empty.
mlir::LogicalResult emitHostObject(mlir::ModuleOp scheduled,
                                   const std::vector<uint8_t> &program,
                                   const std::string &cpu,
                                   mlir::ModuleOp hostKernels,
                                   const std::string &objectPath);

/// Links `objectPath` with libdsrt-main.a and libdsrt.a from `runtimeDir`
/// into the executable `outputPath` (static libstdc++ and libgcc).
mlir::LogicalResult linkExecutable(const std::string &objectPath,
                                   const std::string &runtimeDir,
                                   const std::string &outputPath,
                                   std::string &error);

} // namespace dsc

#endif // DSC_TARGET_EXECUTABLE_H
