//===- SafetensorsBuilder.h - build safetensors files in tests --*- C++ -*-===//
//
// SafetensorsBuilder lays out a valid safetensors file: each added tensor gets
// a random non-zero payload (so a wrong data pointer cannot pass by reading
// zeros) placed right after the previous one. assembleSafetensors() joins any
// header text and data bytes into a file, which is how tests write malformed
// headers.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_TEST_SAFETENSORSBUILDER_H
#define DSRT_TEST_SAFETENSORSBUILDER_H

#include "dsrt/Safetensors.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace dsrt::test {

/// A file of the 8-byte little-endian length of `header`, `header`, `data`.
inline std::vector<uint8_t>
assembleSafetensors(const std::string &header,
                    const std::vector<uint8_t> &data) {
  std::vector<uint8_t> bytes;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<uint8_t>(length >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

/// `size` random bytes in [1, 255].
inline std::vector<uint8_t> randomPayload(size_t size, std::mt19937 &random) {
  std::uniform_int_distribution<int> byte(1, 255);
  std::vector<uint8_t> payload(size);
  for (uint8_t &b : payload)
    b = static_cast<uint8_t>(byte(random));
  return payload;
}

class SafetensorsBuilder {
public:
  explicit SafetensorsBuilder(uint32_t seed = 1) : random_(seed) {}

  /// Appends a tensor with a random payload of dtypeSize x product(shape).
  SafetensorsBuilder &add(const std::string &name, DType dtype,
                          const std::vector<int64_t> &shape) {
    uint64_t count = 1;
    for (int64_t dim : shape)
      count *= static_cast<uint64_t>(dim);
    return add(name, dtype, shape,
               randomPayload(count * dtypeSize(dtype), random_));
  }

  /// Appends a tensor with the given payload (its size is not checked).
  SafetensorsBuilder &add(const std::string &name, DType dtype,
                          const std::vector<int64_t> &shape,
                          const std::vector<uint8_t> &payload) {
    std::string entry =
        "\"" + name + "\":{\"dtype\":\"" + dtypeName(dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < shape.size(); ++i)
      entry += (i ? "," : "") + std::to_string(shape[i]);
    entry += "],\"data_offsets\":[" + std::to_string(data_.size()) + "," +
             std::to_string(data_.size() + payload.size()) + "]}";
    entries_.push_back(entry);
    payloads_[name] = payload;
    data_.insert(data_.end(), payload.begin(), payload.end());
    return *this;
  }

  SafetensorsBuilder &metadata(const std::string &key,
                               const std::string &value) {
    entries_.push_back("\"__metadata__\":{\"" + key + "\":\"" + value + "\"}");
    return *this;
  }

  std::string header() const {
    std::string text = "{";
    for (size_t i = 0; i < entries_.size(); ++i)
      text += (i ? "," : "") + entries_[i];
    return text + "}";
  }

  std::vector<uint8_t> build() const {
    return assembleSafetensors(header(), data_);
  }

  /// The payload written for tensor `name`.
  const std::vector<uint8_t> &payload(const std::string &name) const {
    return payloads_.at(name);
  }

private:
  std::mt19937 random_;
  std::vector<std::string> entries_;
  std::map<std::string, std::vector<uint8_t>> payloads_;
  std::vector<uint8_t> data_;
};

} // namespace dsrt::test

#endif // DSRT_TEST_SAFETENSORSBUILDER_H
