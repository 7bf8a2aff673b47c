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

/// Where one rank's part of a tensor lies in the whole tensor, in elements:
/// `outer` runs of `run` contiguous elements, run o starting at element
/// o * stride + first. A whole tensor is one run.
struct SliceRuns {
  uint64_t outer = 1, run = 0, stride = 0, first = 0;
  bool whole() const { return outer == 1 && first == 0 && run == stride; }
};

/// The runs of rank `rank`'s part `part` (a shape) of a tensor split along
/// `dim` over `ranks` ranks: indices [rank * n, (rank + 1) * n) of `dim`,
/// n = part[dim].
inline SliceRuns sliceRuns(const std::vector<int64_t> &part, size_t dim,
                           int64_t ranks, int64_t rank) {
  uint64_t outer = 1, inner = 1;
  for (size_t d = 0; d < dim; ++d)
    outer *= uint64_t(part[d]);
  for (size_t d = dim + 1; d < part.size(); ++d)
    inner *= uint64_t(part[d]);
  uint64_t n = uint64_t(part[dim]) * inner;
  return {outer, n, n * uint64_t(ranks), uint64_t(rank) * n};
}

/// One checkpoint tensor a manifest entry needs: per expert when stacked.
struct WeightPart {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;     // what the program holds of it
  std::vector<int64_t> fullShape; // the checkpoint tensor's
  SliceRuns runs;                 // where `shape` lies in the tensor
  int64_t expert = -1;            // an expert stack's: the global index
};

/// The tensors behind manifest entry `w` (data, or its scales) for rank
/// `rank` of a partitioned program (0 otherwise), in the order they are
/// stacked. A weight quantized at load reads a bf16 tensor of its shape and
/// has no scale tensor. A split weight (shard_ranks >= 2) reads rank's part
/// of each tensor: rows or columns of it, or its experts i * ranks + rank
/// (interleaved) or rank * experts + i.
inline std::vector<WeightPart> partsOf(const fb::Weight &w, bool scales,
                                       int64_t rank = 0) {
  const flatbuffers::Vector<int64_t> *dims =
      scales ? w.scale_shape() : w.shape();
  std::vector<int64_t> shape(dims->begin(), dims->end());
  std::string pattern = (scales ? w.scale_tensor() : w.tensor())->str();
  DType dtype = scales                  ? DType::F32
                : w.quantized_at_load() ? DType::BF16
                                        : checkpointDType(w.dtype());
  int64_t ranks = w.shard_ranks() >= 2 ? w.shard_ranks() : 1;
  int64_t split = ranks > 1 ? w.shard_dim() : -1;
  auto part = [&](std::string name, std::vector<int64_t> local, int64_t dim,
                  int64_t expert) {
    WeightPart p{std::move(name), dtype, local, local, {}, expert};
    uint64_t n = 1;
    for (int64_t d : local)
      n *= uint64_t(d);
    p.runs = {1, n, n, 0};
    if (dim >= 0) {
      p.fullShape[dim] *= ranks;
      p.runs = sliceRuns(local, size_t(dim), ranks, rank);
    }
    return p;
  };
  if (w.experts() == 0)
    return {part(pattern, shape, split, -1)};
  std::vector<int64_t> one(shape.begin() + 1, shape.end());
  std::vector<WeightPart> parts;
  for (int64_t i = 0; i < w.experts(); ++i) {
    int64_t e = i;
    if (split == 0)
      e = w.shard_interleaved() ? i * ranks + rank : rank * w.experts() + i;
    parts.push_back(
        part(expertName(pattern, e), one, split >= 1 ? split - 1 : -1, e));
  }
  return parts;
}
} // namespace dsrt::detail

#endif // DSRT_SRC_IO_WEIGHTPARTS_H
