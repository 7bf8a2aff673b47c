//===- Passes.h - dsc target passes -----------------------------*- C++ -*-===//
//
// Declarations and registration of the target passes (kernel generation,
// program emission), generated from Passes.td beside this file.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_PASSES_H
#define DSC_TARGET_PASSES_H

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/Pass/Pass.h"

namespace dsc {

#define GEN_PASS_DECL
#include "dsc/Target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dsc/Target/Passes.h.inc"

} // namespace dsc

#endif // DSC_TARGET_PASSES_H
