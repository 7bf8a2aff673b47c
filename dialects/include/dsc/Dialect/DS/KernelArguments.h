//===- KernelArguments.h - launch arguments of kernel-level ops -*- C++ -*-===//
//
// Which ds ops are kernel-level (one kernel launch each) and the order of
// their kernels' pointer arguments. Both sides of a launch use it: the
// kernel generators of every target (which read the pointers in this order)
// and ds-schedule (which writes the launch arguments), so it belongs to the
// dialect rather than to either.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_KERNELARGUMENTS_H
#define DSC_DIALECT_DS_KERNELARGUMENTS_H

#include "mlir/IR/Operation.h"

#include <vector>

namespace dsc::ds {

/// One pointer argument of a kernel launch.
struct KernelArgument {
  enum Kind { Operand, OperandScales, Result } kind;
  unsigned index; // operand or result number
};

/// The pointer arguments of the kernel of `op`, in order: each operand (an
/// fp8 weight adds its scales right after its data; a cache operand is the
/// base of the op's layer), then each tensor result. A cache result shares
/// the operand's storage and has no argument.
std::vector<KernelArgument> kernelArguments(mlir::Operation *op);

/// Whether `op` is a kernel-level op (every target generates its kernel).
bool isKernelOp(mlir::Operation *op);

} // namespace dsc::ds

#endif // DSC_DIALECT_DS_KERNELARGUMENTS_H
