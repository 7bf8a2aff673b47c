//===- WeightParts.h - the checkpoint tensors behind a weight ---*- C++ -*-===//
//
// Which checkpoint tensors make up one manifest entry (one per expert of a
// stack, with the dtype and shape the program expects), shared by the
// manifest check (Weights.cpp) and the weight source (WeightSource.cpp).
// Internal to the library.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_IO_WEIGHTPARTS_H
#define DSRT_SRC_IO_WEIGHTPARTS_H

#include "dsrt/Program.h"
#include "dsrt/Safetensors.h"

#include <string>
#include <vector>

namespace dsrt::detail {

/// `pattern` with "{e}" replaced by the expert's number.
inline std::string expertName(const std::string &pattern, int64_t expert) {
  std::string name = pattern;
  size_t at = name.find("{e}");
  if (at != std::string::npos)
    name.replace(at, 3, std::to_string(expert));
  return name;
}

inline DType checkpointDType(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::BF16:
    return DType::BF16;
  case fb::DType::F32:
    return DType::F32;
  case fb::DType::F8_E4M3:
    return DType::F8_E4M3;
  case fb::DType::I32:
    return DType::I32;
  }
  return DType::U8;
}

/// One checkpoint tensor a manifest entry needs: per expert when stacked.
struct WeightPart {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

/// The tensors behind manifest entry `w` (data, or its scales), in the
/// order they are stacked. A weight quantized at load reads a bf16 tensor
/// of its shape and has no scale tensor.
inline std::vector<WeightPart> partsOf(const fb::Weight &w, bool scales) {
  const flatbuffers::Vector<int64_t> *dims =
      scales ? w.scale_shape() : w.shape();
  std::vector<int64_t> shape(dims->begin(), dims->end());
  std::string pattern = (scales ? w.scale_tensor() : w.tensor())->str();
  DType dtype = scales                  ? DType::F32
                : w.quantized_at_load() ? DType::BF16
                                        : checkpointDType(w.dtype());
  if (w.experts() == 0)
    return {{pattern, dtype, shape}};
  std::vector<int64_t> one(shape.begin() + 1, shape.end());
  std::vector<WeightPart> parts;
  for (int64_t e = 0; e < w.experts(); ++e)
    parts.push_back({expertName(pattern, e), dtype, one});
  return parts;
}

} // namespace dsrt::detail

#endif // DSRT_SRC_IO_WEIGHTPARTS_H
