//===- DSAttrs.cpp - ds attributes ---------------------------------------===//
//
// The RoPE attribute: its verifier and the YaRN cos/sin multiplier; the
// verifiers of the kernel configuration and cost attributes.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace dsc::ds;

FailureOr<llvm::APFloat> dsc::ds::detail::parseF64(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return llvm::APFloat(value);
}

FailureOr<llvm::APFloat> dsc::ds::detail::parseCost(AsmParser &parser) {
  // inf and nan are not literals; they parse so that the verifier names the
  // coefficient that holds one.
  if (succeeded(parser.parseOptionalKeyword("inf")))
    return llvm::APFloat::getInf(llvm::APFloat::IEEEdouble());
  if (succeeded(parser.parseOptionalKeyword("nan")))
    return llvm::APFloat::getNaN(llvm::APFloat::IEEEdouble());
  bool negative = succeeded(parser.parseOptionalMinus());
  int64_t integer;
  OptionalParseResult parsedInteger = parser.parseOptionalInteger(integer);
  double value;
  if (parsedInteger.has_value()) {
    if (failed(*parsedInteger))
      return failure();
    value = static_cast<double>(integer);
  } else if (parser.parseFloat(value)) {
    return failure();
  }
  return llvm::APFloat(negative ? -value : value);
}

void dsc::ds::detail::printCost(AsmPrinter &printer,
                                const llvm::APFloat &value) {
  double v = value.convertToDouble();
  if (std::isnan(v)) {
    printer << "nan";
  } else if (std::isinf(v)) {
    printer << (v < 0 ? "-inf" : "inf");
  } else if (v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    printer << static_cast<int64_t>(v);
  } else {
    printer.printFloat(value);
  }
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
                               /*dynamicSharedBytes=*/0, /*splits=*/1);
}

LogicalResult
KernelConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         KernelStrategy strategy, int64_t block,
                         int64_t rowGroup, int64_t dynamicSharedBytes,
                         int64_t splits) {
  if (block < 32 || block > 1024 || block % 32 != 0)
    return emitError() << "block must be a multiple of 32 in [32, 1024], got "
                       << block;
  if (rowGroup < 1)
    return emitError() << "row_group must be positive, got " << rowGroup;
  if (rowGroup != 1 && strategy != KernelStrategy::WarpQueryGroup &&
      strategy != KernelStrategy::Warp)
    return emitError() << "row_group applies to warp and warp_query_group only";
  if (strategy == KernelStrategy::BlockSplit && block < 64)
    return emitError() << "block_split needs at least two warps per block";
  if (splits < 1)
    return emitError() << "splits must be positive, got " << splits;
  if (strategy == KernelStrategy::ClusterBlock &&
      (splits < 2 || splits > kMaxClusterBlocks))
    return emitError() << "cluster_block needs splits (blocks per cluster) in "
                          "[2, "
                       << kMaxClusterBlocks << "], got " << splits;
  if (splits != 1 && !isPositionSplit(strategy) &&
      strategy != KernelStrategy::ClusterBlock)
    return emitError() << "splits applies to position_split, "
                          "position_split_mma and cluster_block only";
  // sm_90's opt-in maximum per block (the runtime's kMaxDynamicSharedBytes).
  if (dynamicSharedBytes < 0 || dynamicSharedBytes > 227 * 1024)
    return emitError() << "dynamic_shared_bytes must be in [0, 232448], got "
                       << dynamicSharedBytes;
  if (strategy == KernelStrategy::WarpAsync && dynamicSharedBytes == 0)
    return emitError() << "warp_async needs dynamic_shared_bytes (its warps' "
                          "weight stages)";
  if (strategy == KernelStrategy::TileMma && dynamicSharedBytes == 0)
    return emitError() << "tile_mma needs dynamic_shared_bytes (its rows' "
                          "staged activations)";
  return success();
}

LogicalResult ShardAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t dim, int64_t ranks, bool interleaved) {
  if (dim < 0)
    return emitError() << "a shard's dim must not be negative, got " << dim;
  if (ranks < 2)
    return emitError() << "a shard needs at least 2 ranks, got " << ranks;
  if (interleaved && dim != 0)
    return emitError() << "an interleaved shard splits dimension 0 (the "
                          "experts), got "
                       << dim;
  return success();
}

LogicalResult
KernelVariantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t rows, KernelConfigAttr config) {
  if (rows < 1)
    return emitError() << "a variant's rows must be positive, got " << rows;
  if (!config)
    return emitError() << "a variant needs a config";
  return success();
}

LogicalResult KernelCostAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, llvm::APFloat bytesFixed,
    llvm::APFloat bytesPerRow, llvm::APFloat bytesPerContext,
    llvm::APFloat bytesPerExpert, int64_t experts, int64_t expertsPerRow,
    llvm::APFloat flopsPerRow, llvm::APFloat flopsPerContext, bool fp8) {
  std::pair<const char *, const llvm::APFloat *> coefficients[] = {
      {"bytes_fixed", &bytesFixed},
      {"bytes_per_row", &bytesPerRow},
      {"bytes_per_context", &bytesPerContext},
      {"bytes_per_expert", &bytesPerExpert},
      {"flops_per_row", &flopsPerRow},
      {"flops_per_context", &flopsPerContext}};
  for (auto [name, value] : coefficients) {
    double v = value->convertToDouble();
    if (std::isnan(v) || std::isinf(v))
      return emitError() << name << " must be finite and non-negative, got "
                         << (std::isnan(v) ? "nan"
                             : v < 0       ? "-inf"
                                           : "inf");
    if (v < 0)
      return emitError() << name << " must be finite and non-negative, got "
                         << v;
  }
  if (experts < 0 || expertsPerRow < 0)
    return emitError() << "experts and experts_per_row must be non-negative, "
                       << "got " << experts << " and " << expertsPerRow;
  if (expertsPerRow > experts)
    return emitError() << "experts_per_row (" << expertsPerRow
                       << ") exceeds experts (" << experts << ")";
  if (!bytesPerExpert.isZero() && expertsPerRow == 0)
    return emitError() << "bytes_per_expert needs experts and experts_per_row";
  return success();
}

double KernelCostAttr::bytesFor(double rows, double context) const {
  double touched = std::min(static_cast<double>(getExperts()),
                            rows * static_cast<double>(getExpertsPerRow()));
  return getBytesFixed().convertToDouble() +
         getBytesPerRow().convertToDouble() * rows +
         getBytesPerContext().convertToDouble() * context +
         getBytesPerExpert().convertToDouble() * touched;
}

double KernelCostAttr::flopsFor(double rows, double context) const {
  return getFlopsPerRow().convertToDouble() * rows +
         getFlopsPerContext().convertToDouble() * context;
}
