//===- Safetensors.cpp - bounds-checked safetensors reader ------*- C++ -*-===//
//
// Implements dsrt/Safetensors.h: the dtype table, validation of a header
// against the bytes of its file, and the memory mapping of SafetensorsFile.
// Every number the header states is checked before it is used as a size or an
// offset; every message names the file and, where there is one, the tensor.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Safetensors.h"

#include "dsrt/Json.h"
#include "io/QuoteForMessage.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <system_error>
#include <tuple>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dsrt {

//===----------------------------------------------------------------------===//
// DType
//===----------------------------------------------------------------------===//

namespace {
struct DTypeDescription {
  DType dtype;
  const char *name;
  size_t size;
};

constexpr DTypeDescription kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},           {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},         {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},         {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},       {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},         {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeDescription &describe(DType dtype) {
  for (const DTypeDescription &description : kDTypes)
    if (description.dtype == dtype)
      return description;
  static const DTypeDescription invalid = {DType::U8, "invalid", 0};
  return invalid; // only reachable through a cast of an out-of-range value
}
} // namespace

size_t dtypeSize(DType dtype) { return describe(dtype).size; }

const char *dtypeName(DType dtype) { return describe(dtype).name; }

bool parseDType(std::string_view name, DType &dtype) {
  for (const DTypeDescription &description : kDTypes) {
    if (name == description.name) {
      dtype = description.dtype;
      return true;
    }
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Header validation
//===----------------------------------------------------------------------===//

uint64_t TensorInfo::numElements() const {
  uint64_t count = 1;
  for (int64_t dim : shape)
    count *= static_cast<uint64_t>(dim);
  return count;
}

const TensorInfo *SafetensorsHeader::find(std::string_view name) const {
  auto it =
      std::lower_bound(tensors.begin(), tensors.end(), name,
                       [](const TensorInfo &tensor, std::string_view key) {
                         return tensor.name < key;
                       });
  if (it == tensors.end() || it->name != name)
    return nullptr;
  return &*it;
}

namespace {

using detail::quoteForMessage;

uint64_t readLittleEndian64(const uint8_t *bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i)
    value = (value << 8) | bytes[i];
  return value;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string formatRange(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + ")";
}

/// Reads a JSON number that must be an integer >= 0.
bool getNonNegativeInteger(const json::Value &value, uint64_t &out) {
  int64_t integer = 0;
  if (!value.getInt64(integer) || integer < 0)
    return false;
  out = static_cast<uint64_t>(integer);
  return true;
}

/// Product of `shape` times `elementSize`, or false if it overflows 64 bits.
/// A zero dimension makes the product zero whatever the other dimensions.
bool byteSize(const std::vector<int64_t> &shape, uint64_t elementSize,
              uint64_t &bytes) {
  bytes = 0;
  if (std::find(shape.begin(), shape.end(), 0) != shape.end())
    return true;
  uint64_t product = elementSize;
  for (int64_t dim : shape) {
    auto extent = static_cast<uint64_t>(dim);
    if (product > std::numeric_limits<uint64_t>::max() / extent)
      return false;
    product *= extent;
  }
  bytes = product;
  return true;
}

Status readMetadata(const json::Value &value,
                    std::vector<std::pair<std::string, std::string>> &out) {
  if (!value.isObject())
    return Status::error("__metadata__ is a JSON " +
                         json::kindName(value.kind()) +
                         ", expected an object of strings");
  for (const auto &[key, entry] : value.members()) {
    if (!entry.isString())
      return Status::error("__metadata__ entry " + quoteForMessage(key) +
                           " is a JSON " + json::kindName(entry.kind()) +
                           ", expected a string");
    out.emplace_back(key, entry.asString());
  }
  return Status::success();
}

/// Reads and checks the fields of one tensor entry of a header; every message
/// starts with "tensor '<name>': ".
class TensorEntryReader {
public:
  TensorEntryReader(std::string name, uint64_t dataSize)
      : prefix_("tensor " + quoteForMessage(name) + ": "), dataSize_(dataSize) {
    tensor_.name = std::move(name);
  }

  Expected<TensorInfo> read(const json::Value &entry);

private:
  Status checkFieldNames(const json::Value &entry) const;
  Status readDType(const json::Value &value);
  Status readShape(const json::Value &value);
  Status readDataOffsets(const json::Value &value);
  Status checkByteLength() const;
  Status error(const std::string &message) const {
    return Status::error(prefix_ + message);
  }

  std::string prefix_;
  uint64_t dataSize_;
  TensorInfo tensor_;
};

Expected<TensorInfo> TensorEntryReader::read(const json::Value &entry) {
  if (!entry.isObject())
    return Expected<TensorInfo>::error(prefix_ + "entry is a JSON " +
                                       json::kindName(entry.kind()) +
                                       ", expected an object");
  Status status = checkFieldNames(entry);
  if (status)
    status = readDType(*entry.find("dtype"));
  if (status)
    status = readShape(*entry.find("shape"));
  if (status)
    status = readDataOffsets(*entry.find("data_offsets"));
  if (status)
    status = checkByteLength();
  if (!status)
    return Expected<TensorInfo>::error(status.error());
  return std::move(tensor_);
}

Status TensorEntryReader::checkFieldNames(const json::Value &entry) const {
  static constexpr const char *kFields[] = {"dtype", "shape", "data_offsets"};
  for (const auto &member : entry.members()) {
    if (std::find(std::begin(kFields), std::end(kFields), member.first) ==
        std::end(kFields))
      return error("unexpected field " + quoteForMessage(member.first));
  }
  for (const char *field : kFields)
    if (!entry.find(field))
      return error(std::string("missing field '") + field + "'");
  return Status::success();
}

Status TensorEntryReader::readDType(const json::Value &value) {
  if (!value.isString())
    return error("dtype is a JSON " + json::kindName(value.kind()) +
                 ", expected a string");
  if (!parseDType(value.asString(), tensor_.dtype))
    return error("unknown dtype " + quoteForMessage(value.asString()));
  return Status::success();
}

Status TensorEntryReader::readShape(const json::Value &value) {
  if (!value.isArray())
    return error("shape is a JSON " + json::kindName(value.kind()) +
                 ", expected an array");
  const std::vector<json::Value> &dims = value.elements();
  for (size_t i = 0; i < dims.size(); ++i) {
    uint64_t dim = 0;
    if (!getNonNegativeInteger(dims[i], dim))
      return error("shape[" + std::to_string(i) +
                   "] is not a non-negative integer");
    tensor_.shape.push_back(static_cast<int64_t>(dim));
  }
  uint64_t bytes = 0;
  if (!byteSize(tensor_.shape, dtypeSize(tensor_.dtype), bytes))
    return error(std::string("dtype ") + dtypeName(tensor_.dtype) +
                 " x shape " + formatShape(tensor_.shape) +
                 " needs more than 2^64 bytes");
  return Status::success();
}

Status TensorEntryReader::readDataOffsets(const json::Value &value) {
  if (!value.isArray() || value.elements().size() != 2)
    return error("data_offsets must be an array of 2 integers");
  uint64_t offsets[2];
  for (size_t i = 0; i < 2; ++i)
    if (!getNonNegativeInteger(value.elements()[i], offsets[i]))
      return error("data_offsets[" + std::to_string(i) +
                   "] is not a non-negative integer");
  tensor_.begin = offsets[0];
  tensor_.end = offsets[1];
  if (tensor_.begin > tensor_.end)
    return error("data_offsets [" + std::to_string(tensor_.begin) + "," +
                 std::to_string(tensor_.end) + "] begin after end");
  if (tensor_.end > dataSize_)
    return error("data_offsets " + formatRange(tensor_.begin, tensor_.end) +
                 " end past the data region of " + std::to_string(dataSize_) +
                 " bytes");
  return Status::success();
}

Status TensorEntryReader::checkByteLength() const {
  uint64_t needed = 0;
  byteSize(tensor_.shape, dtypeSize(tensor_.dtype), needed); // checked before
  if (tensor_.numBytes() != needed)
    return error("data_offsets cover " + std::to_string(tensor_.numBytes()) +
                 " bytes but dtype " + dtypeName(tensor_.dtype) + " x shape " +
                 formatShape(tensor_.shape) + " needs " +
                 std::to_string(needed));
  return Status::success();
}

/// Rejects two tensors whose byte ranges share a byte. Empty tensors occupy
/// no bytes and overlap nothing.
Status checkNoOverlap(const std::vector<TensorInfo> &tensors) {
  std::vector<const TensorInfo *> byBegin;
  for (const TensorInfo &tensor : tensors)
    if (tensor.begin != tensor.end)
      byBegin.push_back(&tensor);
  std::sort(byBegin.begin(), byBegin.end(),
            [](const TensorInfo *a, const TensorInfo *b) {
              return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
            });
  // Until the first overlap the ranges are disjoint, so the previous range
  // has the largest end so far.
  for (size_t i = 1; i < byBegin.size(); ++i) {
    const TensorInfo &previous = *byBegin[i - 1];
    const TensorInfo &current = *byBegin[i];
    if (current.begin < previous.end)
      return Status::error("tensor " + quoteForMessage(previous.name) + " " +
                           formatRange(previous.begin, previous.end) +
                           " overlaps tensor " + quoteForMessage(current.name) +
                           " " + formatRange(current.begin, current.end));
  }
  return Status::success();
}

/// Validates the parsed JSON header of a file whose data region has
/// `header.dataSize` bytes, filling `header`.
Status readHeaderObject(const json::Value &root, SafetensorsHeader &header) {
  if (!root.isObject())
    return Status::error("header is a JSON " + json::kindName(root.kind()) +
                         ", expected an object");
  for (const auto &[name, entry] : root.members()) {
    if (name == "__metadata__") {
      Status status = readMetadata(entry, header.metadata);
      if (!status)
        return status;
      continue;
    }
    Expected<TensorInfo> tensor =
        TensorEntryReader(name, header.dataSize).read(entry);
    if (!tensor)
      return Status::error(tensor.error());
    header.tensors.push_back(tensor.take());
  }
  std::sort(
      header.tensors.begin(), header.tensors.end(),
      [](const TensorInfo &a, const TensorInfo &b) { return a.name < b.name; });
  return checkNoOverlap(header.tensors);
}

} // namespace

Expected<SafetensorsHeader> parseSafetensorsHeader(const uint8_t *bytes,
                                                   size_t size,
                                                   std::string_view fileName) {
  auto fail = [&](const std::string &message) {
    return Expected<SafetensorsHeader>::error(std::string(fileName) + ": " +
                                              message);
  };
  if (size < 8)
    return fail("truncated: the file is " + std::to_string(size) +
                " bytes, too short for the 8-byte header length");
  uint64_t headerLength = readLittleEndian64(bytes);
  if (headerLength > size - 8)
    return fail("header length " + std::to_string(headerLength) +
                " exceeds the file size " + std::to_string(size));
  if (headerLength > kMaxSafetensorsHeaderSize)
    return fail("header length " + std::to_string(headerLength) +
                " exceeds the cap of " +
                std::to_string(kMaxSafetensorsHeaderSize) + " bytes");

  std::string_view text(reinterpret_cast<const char *>(bytes + 8),
                        static_cast<size_t>(headerLength));
  json::ParseOptions options;
  options.maxSize = kMaxSafetensorsHeaderSize;
  // ~10 values per tensor: a checkpoint of 90k tensors in one file fits;
  // a hostile header of tiny values costs at most ~0.4 GB of nodes.
  options.maxValues = size_t(2) << 20;
  Expected<json::Value> root = json::parse(text, options);
  if (!root)
    return fail("header is not valid JSON: " + root.error());

  SafetensorsHeader header;
  header.dataOffset = 8 + headerLength;
  header.dataSize = size - header.dataOffset;
  Status status = readHeaderObject(root.value(), header);
  if (!status)
    return fail(status.error());
  return header;
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

namespace {
std::string describeErrno(const std::string &path, const char *action) {
  return path + ": " + action + ": " +
         std::error_code(errno, std::generic_category()).message();
}

/// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor &) = delete;
  FileDescriptor &operator=(const FileDescriptor &) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_;
};
} // namespace

Expected<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
  using Result = Expected<SafetensorsFile>;
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return Result::error(describeErrno(path, "cannot open"));
  struct stat status;
  if (::fstat(fd.get(), &status) != 0)
    return Result::error(describeErrno(path, "cannot stat"));
  if (!S_ISREG(status.st_mode))
    return Result::error(path + ": not a regular file");
  if (status.st_size < 0 ||
      uint64_t(status.st_size) > std::numeric_limits<size_t>::max())
    return Result::error(path + ": file size does not fit in memory");

  SafetensorsFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(status.st_size);
  if (file.size_ != 0) { // mmap rejects empty mappings
    void *mapping =
        ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (mapping == MAP_FAILED)
      return Result::error(describeErrno(path, "cannot map"));
    file.bytes_ = static_cast<const uint8_t *>(mapping);
  }
  Expected<SafetensorsHeader> header =
      parseSafetensorsHeader(file.bytes_, file.size_, path);
  if (!header)
    return Result::error(header.error()); // `file` unmaps on return
  file.header_ = header.take();
  // Tensors are read through the descriptor too (readTensor); the readers
  // go through each shard front to back.
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  file.fd_ = fd.release();
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile &&other) noexcept
    : path_(std::move(other.path_)), header_(std::move(other.header_)),
      bytes_(std::exchange(other.bytes_, nullptr)),
      size_(std::exchange(other.size_, 0)), fd_(std::exchange(other.fd_, -1)) {}

SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    header_ = std::move(other.header_);
    bytes_ = std::exchange(other.bytes_, nullptr);
    size_ = std::exchange(other.size_, 0);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

void SafetensorsFile::unmap() {
  if (bytes_)
    ::munmap(const_cast<uint8_t *>(bytes_), size_);
  bytes_ = nullptr;
  size_ = 0;
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

const uint8_t *SafetensorsFile::tensorData(const TensorInfo &tensor) const {
  if (!bytes_ || tensor.begin > tensor.end || tensor.end > header_.dataSize)
    return nullptr;
  return bytes_ + header_.dataOffset + tensor.begin;
}

Status SafetensorsFile::readTensor(const TensorInfo &tensor, uint64_t offset,
                                   uint64_t size, void *out) const {
  auto fail = [&](const std::string &what) {
    return Status::error(path_ + ": tensor '" + tensor.name + "' " + what);
  };
  if (tensor.begin > tensor.end || tensor.end > header_.dataSize)
    return fail("lies outside the file");
  if (offset > tensor.numBytes() || size > tensor.numBytes() - offset)
    return fail("has " + std::to_string(tensor.numBytes()) +
                " bytes; cannot read " + std::to_string(size) + " at " +
                std::to_string(offset));
  if (fd_ < 0)
    return fail("cannot be read: the file is not open");
  uint8_t *to = static_cast<uint8_t *>(out);
  uint64_t at = header_.dataOffset + tensor.begin + offset;
  while (size > 0) {
    // pread moves at most about 2 GB at once.
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, 1ull << 30));
    ssize_t got = ::pread(fd_, to, want, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return fail("cannot be read: " +
                  std::error_code(errno, std::generic_category()).message());
    if (got == 0)
      return fail("is cut short: the file ends at byte " + std::to_string(at) +
                  " (it was " + std::to_string(size_) +
                  " bytes when opened; was it truncated?)");
    to += got;
    at += static_cast<uint64_t>(got);
    size -= static_cast<uint64_t>(got);
  }
  return Status::success();
}

} // namespace dsrt
