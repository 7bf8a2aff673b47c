//===- DSTypes.cpp - ds types --------------------------------------------===//
//
// The block-scaled fp8 weight type and the latent cache type: custom shape
// syntax, verifiers and derived shapes.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dsc::ds;

/// `2048x7168`: a static shape without element type.
static ParseResult parseStaticShape(AsmParser &parser,
                                    SmallVector<int64_t> &shape) {
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                /*withTrailingX=*/false))
    return failure();
  if (shape.empty())
    return parser.emitError(loc, "expected a shape such as 2048x7168");
  return success();
}

static void printStaticShape(AsmPrinter &printer, ArrayRef<int64_t> shape) {
  llvm::interleave(shape, printer.getStream(), "x");
}

/// `128x128`: the block of one scale.
static ParseResult parseBlockShape(AsmParser &parser, int64_t &rows,
                                   int64_t &cols) {
  SmallVector<int64_t> dims;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseDimensionList(dims, /*allowDynamic=*/false,
                                /*withTrailingX=*/false))
    return failure();
  if (dims.size() != 2)
    return parser.emitError(loc, "expected a block shape such as 128x128");
  rows = dims[0];
  cols = dims[1];
  return success();
}

static void printBlockShape(AsmPrinter &printer, int64_t rows, int64_t cols) {
  printer << rows << "x" << cols;
}

#define GET_TYPEDEF_CLASSES
#include "dsc/Dialect/DS/DSOpsTypes.cpp.inc"

void DSDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dsc/Dialect/DS/DSOpsTypes.cpp.inc"
      >();
}

static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

SmallVector<int64_t> FP8BlockWeightType::getScaleShape() const {
  SmallVector<int64_t> shape(getShape().begin(), getShape().end());
  size_t rank = shape.size();
  shape[rank - 2] = ceilDiv(shape[rank - 2], getBlockRows());
  shape[rank - 1] = ceilDiv(shape[rank - 1], getBlockCols());
  return shape;
}

LogicalResult
FP8BlockWeightType::verify(function_ref<InFlightDiagnostic()> emitError,
                           ArrayRef<int64_t> shape, int64_t blockRows,
                           int64_t blockCols, ScaleFormat) {
  if (shape.size() != 2 && shape.size() != 3)
    return emitError() << "fp8_block weight must have rank 2 ([N, K]) or 3 "
                          "([E, N, K]), got rank "
                       << shape.size();
  for (int64_t d : shape)
    if (d <= 0)
      return emitError() << "fp8_block weight dimensions must be positive";
  if (blockRows <= 0 || blockCols <= 0)
    return emitError() << "fp8_block block shape must be positive, got "
                       << blockRows << "x" << blockCols;
  return success();
}

LogicalResult
LatentCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t layers, int64_t latent, int64_t rope,
                        Type elementType) {
  if (layers <= 0 || latent <= 0 || rope <= 0)
    return emitError() << "latent_cache layers, latent and rope must be "
                          "positive";
  if (!elementType.isBF16() && !elementType.isF32())
    return emitError() << "latent_cache element type must be bf16 or f32, got "
                       << elementType;
  return success();
}
