//===- Transforms.h - reusable rewrite patterns of dsc -------------*- C++
//-*-===//
//
// The rewrite patterns behind dsc's passes, exported so that another
// pipeline or target can apply them with its own driver.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_COMPILER_TRANSFORMS_H
#define DSC_COMPILER_TRANSFORMS_H

#include "mlir/IR/PatternMatch.h"

namespace dsc {

/// ds.mla, ds.mlp and ds.moe_experts into kernel-level ops (ds-decompose).
void populateDSDecomposePatterns(mlir::RewritePatternSet &patterns);

} // namespace dsc

#endif // DSC_COMPILER_TRANSFORMS_H
