//===- DSDialect.cpp - ds dialect registration ---------------------------===//
//
// Registers the ds dialect's operations, types and attributes, and holds the
// generated enum and dialect definitions.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dsc::ds;

#include "dsc/Dialect/DS/DSEnums.cpp.inc"
#include "dsc/Dialect/DS/DSOpsDialect.cpp.inc"

void DSDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dsc/Dialect/DS/DSOps.cpp.inc"
      >();
  registerTypes();
  registerAttributes();
}
