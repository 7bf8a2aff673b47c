//===- KernelCost.cpp - sizes the kernels' cost functions share -----------===//
//
// The byte counts every op family's cost function is built from: a weight
// with its fp8 block scales, one matrix of an expert stack, one token's row
// of an activation. The cost functions themselves live next to each
// family's emitter (MatrixProducts.cpp, NormsAndRope.cpp, Attention.cpp,
// MoE.cpp, Sampling.cpp).
//
//===----------------------------------------------------------------------===//

#include "KernelFamilies.h"

namespace dsc::kernels {

namespace {

double elementBytes(Type element) {
  if (element.isBF16() || element.isF16())
    return 2;
  if (isa<Float8E4M3FNType>(element) || element.isInteger(8))
    return 1;
  return element.getIntOrFloatBitWidth() / 8.0;
}

double product(ArrayRef<int64_t> shape) {
  double n = 1;
  for (int64_t d : shape)
    n *= static_cast<double>(d);
  return n;
}

} // namespace

bool isFP8(Type weight) { return isa<FP8BlockWeightType>(weight); }

double weightBytes(Type weight) {
  // fp8: a byte per element and an f32 per block (the runtime uploads the
  // scales as f32 whatever their format).
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(weight))
    return product(fp8.getShape()) + 4 * product(fp8.getScaleShape());
  auto tensor = cast<RankedTensorType>(weight);
  return product(tensor.getShape()) * elementBytes(tensor.getElementType());
}

double expertBytes(Type stack) {
  ArrayRef<int64_t> shape = isa<FP8BlockWeightType>(stack)
                                ? cast<FP8BlockWeightType>(stack).getShape()
                                : cast<RankedTensorType>(stack).getShape();
  return weightBytes(stack) / static_cast<double>(shape.front());
}

int64_t rowElements(Value activation) {
  int64_t n = 1;
  for (int64_t d :
       cast<RankedTensorType>(activation.getType()).getShape().drop_front())
    n *= d;
  return n;
}

double rowBytes(Value activation) {
  return static_cast<double>(rowElements(activation)) *
         elementBytes(
             cast<RankedTensorType>(activation.getType()).getElementType());
}

} // namespace dsc::kernels
