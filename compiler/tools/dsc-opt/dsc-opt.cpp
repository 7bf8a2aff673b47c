//===- dsc-opt.cpp - run ds passes on MLIR text --------------------------===//
//
// `mlir-opt` for dsc: the ds dialect, the upstream dialects our pipelines use,
// and every dsc pass, so that lit tests can run any pass or pipeline on
// `.mlir` text.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Compiler/Pipelines.h"
#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Target/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<dsc::ds::DSDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();
  dsc::registerDSCPasses();
  dsc::registerDSCTargetPasses();
  dsc::registerPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "dsc optimizer driver\n", registry));
}
