//===- Safetensors.h - bounds-checked safetensors reader --------*- C++ -*-===//
//
// Reads the safetensors files that hold a checkpoint's weights. A file is an
// 8-byte little-endian header length N, N bytes of JSON describing every
// tensor (dtype, shape, byte range), then the raw row-major tensor data, with
// byte ranges counted from the end of the header.
//
// parseSafetensorsHeader() checks everything the header claims against the
// file before anyone reads a tensor: known dtypes, non-negative shapes whose
// element and byte counts do not overflow, byte ranges that lie inside the data
// region, match dtype x shape, and do not overlap. After it succeeds, every
// TensorInfo describes bytes that exist; gaps between tensors are allowed.
//
// Ownership: SafetensorsFile owns a read-only private mapping of the file
// and a descriptor of it (for readTensor()), and releases both when
// destroyed; pointers from tensorData() and references to its header live as
// long as the SafetensorsFile (moving the object keeps them valid). The file
// must not shrink while it is mapped (reading a page that no longer exists
// raises SIGBUS; readTensor() reports it instead). SafetensorsHeader is a
// plain value.
// Threading: parsing has no shared state; a SafetensorsFile is immutable
// after open() and may be read from several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SAFETENSORS_H
#define DSRT_SAFETENSORS_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsrt {

/// Element types, spelled as in safetensors headers.
enum class DType {
  BOOL,
  U8,
  I8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F16,
  BF16,
  F32,
  F64,
  F8_E4M3,
  F8_E5M2
};

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// The safetensors spelling, e.g. "BF16", "F8_E4M3".
const char *dtypeName(DType dtype);
/// Parses a safetensors spelling; returns false for an unknown one.
bool parseDType(std::string_view name, DType &dtype);

/// One tensor of a safetensors header.
struct TensorInfo {
  std::string name;
  DType dtype = DType::U8;
  std::vector<int64_t> shape; // empty for a scalar
  uint64_t begin = 0;         // byte offsets relative to the data region,
  uint64_t end = 0;           // half-open: [begin, end)

  /// The product of the shape (1 for a scalar).
  uint64_t numElements() const;
  uint64_t numBytes() const { return end - begin; }
};

/// The validated header of one safetensors file.
struct SafetensorsHeader {
  /// All tensors, sorted by name (find() relies on this order).
  std::vector<TensorInfo> tensors;
  /// The "__metadata__" entries in file order.
  std::vector<std::pair<std::string, std::string>> metadata;
  /// Where the data region starts in the file: 8 + header length.
  uint64_t dataOffset = 0;
  /// Size of the data region: file size - dataOffset.
  uint64_t dataSize = 0;

  /// The tensor named `name`, or nullptr. Logarithmic in the tensor count.
  const TensorInfo *find(std::string_view name) const;
};

/// The largest header accepted, in bytes.
constexpr uint64_t kMaxSafetensorsHeaderSize = uint64_t(100) << 20;

/// Parses and validates the header of a whole safetensors file held in
/// `bytes[0, size)`. `fileName` only names the file in error messages. Never
/// reads outside the buffer, whatever the bytes.
Expected<SafetensorsHeader> parseSafetensorsHeader(const uint8_t *bytes,
                                                   size_t size,
                                                   std::string_view fileName);

/// A safetensors file mapped into memory, with its validated header.
class SafetensorsFile {
public:
  /// Maps and validates the file at `path`.
  static Expected<SafetensorsFile> open(const std::string &path);

  SafetensorsFile(SafetensorsFile &&other) noexcept;
  SafetensorsFile &operator=(SafetensorsFile &&other) noexcept;
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;
  ~SafetensorsFile();

  const SafetensorsHeader &header() const { return header_; }
  const std::string &path() const { return path_; }
  /// The first byte of `tensor`'s data, which holds tensor.numBytes() bytes;
  /// nullptr if `tensor` does not lie inside this file's data region (a
  /// TensorInfo of this file's header always does).
  const uint8_t *tensorData(const TensorInfo &tensor) const;
  size_t fileSize() const { return size_; }
  /// Reads bytes [offset, offset + size) of `tensor`'s data into `out` with
  /// pread: one copy from the page cache, no page faults on the mapping,
  /// and a file cut short since open() is an error naming the file and
  /// the tensor instead of a SIGBUS. The range must lie inside the tensor.
  Status readTensor(const TensorInfo &tensor, uint64_t offset, uint64_t size,
                    void *out) const;

private:
  SafetensorsFile() = default;
  void unmap();

  std::string path_;
  SafetensorsHeader header_;
  const uint8_t *bytes_ = nullptr; // the mapping, or nullptr
  size_t size_ = 0;
  int fd_ = -1; // open for readTensor(), closed with the mapping
};

} // namespace dsrt

#endif // DSRT_SAFETENSORS_H
