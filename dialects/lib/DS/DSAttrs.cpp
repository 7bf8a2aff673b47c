//===- DSAttrs.cpp - ds attributes ---------------------------------------===//
//
// The RoPE attribute: its verifier and the YaRN cos/sin multiplier.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace dsc::ds;

FailureOr<llvm::APFloat> dsc::ds::detail::parseF64(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return llvm::APFloat(value);
}

#define GET_ATTRDEF_CLASSES
#include "dsc/Dialect/DS/DSAttrs.cpp.inc"

void DSDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dsc/Dialect/DS/DSAttrs.cpp.inc"
      >();
}

/// YaRN's attention-magnitude correction (`yarn_get_mscale`).
static double yarnMscale(double factor, double mscale) {
  return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

double RopeAttr::getCosSinScale() const {
  if (getScaling() != RopeScaling::Yarn)
    return 1.0;
  double factor = getFactor().convertToDouble();
  return yarnMscale(factor, getMscale().convertToDouble()) /
         yarnMscale(factor, getMscaleAllDim().convertToDouble());
}

LogicalResult
RopeAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t dim,
                 llvm::APFloat thetaValue, RopeScaling scaling,
                 llvm::APFloat factorValue, int64_t originalMaxPosition,
                 llvm::APFloat betaFastValue, llvm::APFloat betaSlowValue,
                 llvm::APFloat mscaleValue, llvm::APFloat mscaleAllDimValue) {
  double theta = thetaValue.convertToDouble();
  double factor = factorValue.convertToDouble();
  double betaFast = betaFastValue.convertToDouble();
  double betaSlow = betaSlowValue.convertToDouble();
  double mscale = mscaleValue.convertToDouble();
  double mscaleAllDim = mscaleAllDimValue.convertToDouble();
  if (dim <= 0 || dim % 2 != 0)
    return emitError() << "rope dim must be positive and even, got " << dim;
  if (!(theta > 0.0))
    return emitError() << "rope theta must be positive, got " << theta;
  if (scaling != RopeScaling::Yarn)
    return success();
  if (!(factor > 0.0))
    return emitError() << "yarn factor must be positive, got " << factor;
  if (originalMaxPosition <= 0)
    return emitError() << "yarn original_max_position must be positive, got "
                       << originalMaxPosition;
  if (!(betaFast > 0.0) || !(betaSlow > 0.0) || betaSlow > betaFast)
    return emitError()
           << "yarn needs 0 < beta_slow <= beta_fast, got beta_fast = "
           << betaFast << ", beta_slow = " << betaSlow;
  if (!std::isfinite(mscale) || !std::isfinite(mscaleAllDim))
    return emitError() << "yarn mscale values must be finite";
  return success();
}

//===----------------------------------------------------------------------===//
// KernelConfigAttr
//===----------------------------------------------------------------------===//

KernelConfigAttr KernelConfigAttr::getGeneric(MLIRContext *context) {
  return KernelConfigAttr::get(context, KernelStrategy::Generic, 128, 1,
                               /*dynamicSharedBytes=*/0);
}

LogicalResult
KernelConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         KernelStrategy strategy, int64_t block,
                         int64_t queryGroup, int64_t dynamicSharedBytes) {
  if (block < 32 || block > 1024 || block % 32 != 0)
    return emitError() << "block must be a multiple of 32 in [32, 1024], got "
                       << block;
  if (queryGroup < 1)
    return emitError() << "query_group must be positive, got " << queryGroup;
  if (queryGroup != 1 && strategy != KernelStrategy::WarpQueryGroup)
    return emitError() << "query_group applies to warp_query_group only";
  if (strategy == KernelStrategy::BlockSplit && block < 64)
    return emitError() << "block_split needs at least two warps per block";
  // sm_90's opt-in maximum per block (the runtime's kMaxDynamicSharedBytes).
  if (dynamicSharedBytes < 0 || dynamicSharedBytes > 227 * 1024)
    return emitError() << "dynamic_shared_bytes must be in [0, 232448], got "
                       << dynamicSharedBytes;
  return success();
}
