//===- DSDialect.h - the ds dialect -------------------------------*- C++
//-*-===//
//
// Everything a user of the ds dialect includes: the dialect class, its enums,
// attributes, types and operations.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_DSDIALECT_H
#define DSC_DIALECT_DS_DSDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace dsc::ds::detail {
/// Parses a float literal into an APFloat of double semantics (the parser of
/// the f64 parameters of ds attributes).
mlir::FailureOr<llvm::APFloat> parseF64(mlir::AsmParser &parser);
/// A cost coefficient: an integer or float literal, `inf` or `nan`.
mlir::FailureOr<llvm::APFloat> parseCost(mlir::AsmParser &parser);
void printCost(mlir::AsmPrinter &printer, const llvm::APFloat &value);
} // namespace dsc::ds::detail

#include "dsc/Dialect/DS/DSEnums.h.inc"

namespace dsc::ds {
/// Whether decode attention configured with `s` splits each token's
/// positions into shares that ds.mla_attention_combine merges (the
/// strategies ds-split-attention rewrites).
inline bool isPositionSplit(KernelStrategy s) {
  return s == KernelStrategy::PositionSplit ||
         s == KernelStrategy::PositionSplitMma;
}
/// The most blocks of a `cluster_block` cluster: the portable cluster size
/// (a launch may not ask for more without a per-function opt-in).
constexpr int64_t kMaxClusterBlocks = 8;
} // namespace dsc::ds

// Before the dialect: its discardable-attribute helpers return these.
#define GET_ATTRDEF_CLASSES
#include "dsc/Dialect/DS/DSAttrs.h.inc"

#include "dsc/Dialect/DS/DSOpsDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dsc/Dialect/DS/DSOpsTypes.h.inc"

#define GET_OP_CLASSES
#include "dsc/Dialect/DS/DSOps.h.inc"

namespace dsc::ds {
/// The RMSNorm a product reads its input (operand 0) through, its
/// `norm(...)` clause (ds-fuse-norms): the norm weight's operand and eps.
struct InputNorm {
  mlir::OpOperand *weight = nullptr;
  double eps = 0;
};
/// Whether `op` is a product that can take a `norm(...)` clause
/// (ds.linear, ds.gated_linear, ds.router_logits, ds.moe_expert_up,
/// ds.lm_head).
bool acceptsInputNorm(mlir::Operation *op);
/// `op`'s norm clause, if it has one.
std::optional<InputNorm> getInputNorm(mlir::Operation *op);
/// Makes `op` (acceptsInputNorm, without a norm) read `input` through the
/// RMSNorm of `weight` and `eps`.
void setInputNorm(mlir::Operation *op, mlir::Value input, mlir::Value weight,
                  mlir::FloatAttr eps);
} // namespace dsc::ds

#endif // DSC_DIALECT_DS_DSDIALECT_H
