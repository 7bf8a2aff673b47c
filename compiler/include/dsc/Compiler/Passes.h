//===- Passes.h - dsc passes ---------------------------------------*- C++
//-*-===//
//
// Declarations and registration of every dsc pass (generated from
// Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef DSC_COMPILER_PASSES_H
#define DSC_COMPILER_PASSES_H

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/Pass.h"

namespace dsc {

#define GEN_PASS_DECL
#include "dsc/Compiler/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dsc/Compiler/Passes.h.inc"

/// Bytes ds-plan-buffers reserves in the arena for a value of `type`, its
/// dynamic (token) dimension at `maxTokens`, rounded up to the arena's
/// alignment: the range a kernel may read or write there.
uint64_t arenaBufferBytes(mlir::RankedTensorType type, int64_t maxTokens);

} // namespace dsc

#endif // DSC_COMPILER_PASSES_H
