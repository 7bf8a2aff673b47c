//===- NpyWriter.h - write float32 arrays as NumPy .npy files ---*- C++ -*-===//
//
// Writes float32 arrays in the NumPy .npy format, version 1.0, so that logits
// and activations of a compiled model can be compared with a reference in
// Python (numpy.load). A file is the magic "\x93NUMPY", the version bytes
// 1 and 0, a little-endian uint16 header length, then the header: the text
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }" padded with
// spaces and ended by '\n' so that the data starts at a multiple of 64 bytes,
// and finally the values in row-major order as little-endian float32.
//
// writeNpyFloat32() writes a whole array at once; NpyFloat32Writer writes one
// whose values arrive in pieces (row by row, token by token) and checks at
// finish() that exactly as many values came as the shape holds. Every write
// is checked, and every message names the file.
//
// Ownership: an NpyFloat32Writer owns the open file and closes it when it is
// destroyed; a file not finished is left incomplete (numpy.load rejects it).
// The values passed in stay with the caller and are read only during the call.
// Threading: a writer is not thread-safe; distinct writers share nothing.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_NPYWRITER_H
#define DSRT_NPYWRITER_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsrt {

/// Writes `data`, row-major with `shape` (empty for a scalar), to a new or
/// truncated file at `path`. `data` holds the product of `shape` values and may
/// be null when that product is 0. Dimensions must be non-negative.
Status writeNpyFloat32(const std::string &path,
                       const std::vector<int64_t> &shape, const float *data);

/// Writes an .npy float32 file whose values are appended in pieces.
class NpyFloat32Writer {
public:
  /// Checks `shape`, creates or truncates the file at `path` and writes the
  /// header.
  static Expected<NpyFloat32Writer> create(const std::string &path,
                                           const std::vector<int64_t> &shape);

  NpyFloat32Writer(NpyFloat32Writer &&other) noexcept;
  NpyFloat32Writer &operator=(NpyFloat32Writer &&other) noexcept;
  NpyFloat32Writer(const NpyFloat32Writer &) = delete;
  NpyFloat32Writer &operator=(const NpyFloat32Writer &) = delete;
  ~NpyFloat32Writer();

  /// Writes the next `count` values (`values` may be null when `count` is 0).
  /// Fails, writing nothing, if they would exceed the shape.
  Status append(const float *values, size_t count);

  /// Checks that exactly numElements() values were appended and closes the
  /// file. After finish(), or after any error, the writer accepts no more
  /// calls: each fails with the first error (or says it is finished).
  Status finish();

  const std::string &path() const { return path_; }
  /// The product of the shape.
  uint64_t numElements() const { return numElements_; }
  /// The values appended so far.
  uint64_t numAppended() const { return numAppended_; }

private:
  NpyFloat32Writer() = default;
  void closeFile();

  std::string path_;
  std::string shapeText_; // e.g. "(2, 3, 4)", for messages
  int fd_ = -1;           // the open file, or -1
  uint64_t numElements_ = 0;
  uint64_t numAppended_ = 0;
  bool finished_ = false;
  std::string error_; // the first error; the writer is unusable once set
};

} // namespace dsrt

#endif // DSRT_NPYWRITER_H
