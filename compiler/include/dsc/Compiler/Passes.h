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

#include "mlir/Pass/Pass.h"

namespace dsc {

#define GEN_PASS_DECL
#include "dsc/Compiler/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dsc/Compiler/Passes.h.inc"

} // namespace dsc

#endif // DSC_COMPILER_PASSES_H
