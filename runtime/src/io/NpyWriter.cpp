//===- NpyWriter.cpp - write float32 arrays as NumPy .npy files -*- C++ -*-===//
//
// Implements dsrt/NpyWriter.h: the version 1.0 header, written through POSIX
// write() with partial writes and EINTR handled, and the element count checks
// of NpyFloat32Writer. On a big-endian host the values are byte-swapped in
// small chunks, since the files always say '<f4'.
//
//===----------------------------------------------------------------------===//

#include "dsrt/NpyWriter.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace dsrt {

namespace {

/// The data of an .npy file starts at a multiple of this (NumPy's
/// ARRAY_ALIGN).
constexpr size_t kNpyAlignment = 64;
/// Magic (6), version (2) and header length (2).
constexpr size_t kNpyPreambleSize = 10;
/// Version 1.0 stores the header length in 16 bits.
constexpr size_t kNpyMaxHeaderSize = 0xffff;
/// write() of more than this at once is split (Linux caps a call near 2 GiB).
constexpr size_t kMaxWriteChunk = size_t(1) << 30;

std::string errnoMessage() {
  return std::error_code(errno, std::generic_category()).message();
}

bool hostIsLittleEndian() {
  const uint32_t one = 1;
  unsigned char firstByte;
  std::memcpy(&firstByte, &one, 1);
  return firstByte == 1;
}

/// The NumPy spelling of a shape: "()", "(5,)", "(2, 3, 4)".
std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0)
      text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    text += ",";
  return text + ")";
}

/// Writes all of `bytes[0, size)` to `fd`.
Status writeAll(int fd, const std::string &path, const void *bytes,
                size_t size) {
  const char *next = static_cast<const char *>(bytes);
  while (size > 0) {
    ssize_t count = ::write(fd, next, std::min(size, kMaxWriteChunk));
    if (count < 0 && errno == EINTR)
      continue;
    if (count < 0)
      return Status::error(path + ": cannot write: " + errnoMessage());
    if (count == 0)
      return Status::error(path + ": cannot write: no bytes were written");
    next += count;
    size -= static_cast<size_t>(count);
  }
  return Status::success();
}

/// Writes `count` floats as little-endian float32.
Status writeFloats(int fd, const std::string &path, const float *values,
                   size_t count) {
  if (hostIsLittleEndian())
    return writeAll(fd, path, values, count * sizeof(float));
  unsigned char buffer[4096];
  constexpr size_t kPerChunk = sizeof(buffer) / sizeof(float);
  for (size_t done = 0; done < count;) {
    size_t chunk = std::min(count - done, kPerChunk);
    std::memcpy(buffer, values + done, chunk * sizeof(float));
    for (size_t i = 0; i < chunk; ++i) {
      std::swap(buffer[4 * i], buffer[4 * i + 3]);
      std::swap(buffer[4 * i + 1], buffer[4 * i + 2]);
    }
    if (Status status = writeAll(fd, path, buffer, chunk * sizeof(float));
        !status)
      return status;
    done += chunk;
  }
  return Status::success();
}

} // namespace

//===----------------------------------------------------------------------===//
// NpyFloat32Writer
//===----------------------------------------------------------------------===//

Expected<NpyFloat32Writer>
NpyFloat32Writer::create(const std::string &path,
                         const std::vector<int64_t> &shape) {
  using Result = Expected<NpyFloat32Writer>;
  const std::string shapeText = formatShape(shape);

  // The byte count of the data must fit an off_t.
  const uint64_t maxElements =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) /
      sizeof(float);
  uint64_t numElements = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return Result::error(path + ": negative dimension " +
                           std::to_string(dim) + " in shape " + shapeText);
    if (dim != 0 && numElements > maxElements / static_cast<uint64_t>(dim))
      return Result::error(path + ": shape " + shapeText +
                           " holds too many values for one file");
    numElements *= static_cast<uint64_t>(dim);
  }

  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeText + ", }";
  size_t unpadded = kNpyPreambleSize + header.size() + 1; // 1: the '\n'
  size_t padded =
      (unpadded + kNpyAlignment - 1) / kNpyAlignment * kNpyAlignment;
  header.append(padded - unpadded, ' ');
  header += '\n';
  if (header.size() > kNpyMaxHeaderSize)
    return Result::error(path + ": the shape of " +
                         std::to_string(shape.size()) +
                         " dimensions does not fit a version 1.0 header");

  unsigned char preamble[kNpyPreambleSize] = {0x93, 'N', 'U', 'M',
                                              'P',  'Y', 1,   0};
  preamble[8] = static_cast<unsigned char>(header.size() & 0xff);
  preamble[9] = static_cast<unsigned char>(header.size() >> 8);

  NpyFloat32Writer writer;
  writer.path_ = path;
  writer.shapeText_ = shapeText;
  writer.numElements_ = numElements;
  writer.fd_ =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (writer.fd_ < 0)
    return Result::error(path + ": cannot open for writing: " + errnoMessage());
  if (Status status = writeAll(writer.fd_, path, preamble, sizeof(preamble));
      !status)
    return Result::error(status.error());
  if (Status status = writeAll(writer.fd_, path, header.data(), header.size());
      !status)
    return Result::error(status.error());
  return Result(std::move(writer));
}

NpyFloat32Writer::NpyFloat32Writer(NpyFloat32Writer &&other) noexcept
    : path_(std::move(other.path_)), shapeText_(std::move(other.shapeText_)),
      fd_(std::exchange(other.fd_, -1)), numElements_(other.numElements_),
      numAppended_(other.numAppended_), finished_(other.finished_),
      error_(std::move(other.error_)) {}

NpyFloat32Writer &
NpyFloat32Writer::operator=(NpyFloat32Writer &&other) noexcept {
  if (this != &other) {
    closeFile();
    path_ = std::move(other.path_);
    shapeText_ = std::move(other.shapeText_);
    fd_ = std::exchange(other.fd_, -1);
    numElements_ = other.numElements_;
    numAppended_ = other.numAppended_;
    finished_ = other.finished_;
    error_ = std::move(other.error_);
  }
  return *this;
}

NpyFloat32Writer::~NpyFloat32Writer() { closeFile(); }

void NpyFloat32Writer::closeFile() {
  if (fd_ >= 0)
    ::close(fd_); // an unfinished file is incomplete anyway
  fd_ = -1;
}

Status NpyFloat32Writer::append(const float *values, size_t count) {
  if (!error_.empty())
    return Status::error(error_);
  if (finished_ || fd_ < 0)
    return Status::error(path_ + ": append() after finish()");
  if (count > numElements_ - numAppended_) {
    error_ = path_ + ": appending " + std::to_string(count) +
             " values to the " + std::to_string(numAppended_) +
             " written would exceed the " + std::to_string(numElements_) +
             " values of shape " + shapeText_;
    return Status::error(error_);
  }
  if (count == 0)
    return Status::success();
  if (!values) {
    error_ = path_ + ": append() of " + std::to_string(count) +
             " values from a null pointer";
    return Status::error(error_);
  }
  if (Status status = writeFloats(fd_, path_, values, count); !status) {
    error_ = status.error();
    return status;
  }
  numAppended_ += count;
  return Status::success();
}

Status NpyFloat32Writer::finish() {
  if (!error_.empty())
    return Status::error(error_);
  if (finished_ || fd_ < 0)
    return Status::error(path_ + ": finish() called twice");
  finished_ = true;
  if (numAppended_ != numElements_) {
    error_ = path_ + ": shape " + shapeText_ + " holds " +
             std::to_string(numElements_) + " values but " +
             std::to_string(numAppended_) + " were written";
    closeFile();
    return Status::error(error_);
  }
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    // POSIX leaves the descriptor's state unspecified after EINTR; Linux has
    // closed it, so it is not retried.
    error_ = path_ + ": cannot close: " + errnoMessage();
    return Status::error(error_);
  }
  return Status::success();
}

//===----------------------------------------------------------------------===//
// writeNpyFloat32
//===----------------------------------------------------------------------===//

Status writeNpyFloat32(const std::string &path,
                       const std::vector<int64_t> &shape, const float *data) {
  Expected<NpyFloat32Writer> writer = NpyFloat32Writer::create(path, shape);
  if (!writer)
    return Status::error(writer.error());
  NpyFloat32Writer &out = writer.value();
  // size_t may be narrower than the count on 32-bit hosts: append in pieces.
  uint64_t remaining = out.numElements();
  const float *next = data;
  while (remaining > 0) {
    size_t count = static_cast<size_t>(std::min<uint64_t>(
        remaining, std::numeric_limits<size_t>::max() / sizeof(float)));
    if (Status status = out.append(next, count); !status)
      return status;
    next += count;
    remaining -= count;
  }
  return out.finish();
}

} // namespace dsrt
