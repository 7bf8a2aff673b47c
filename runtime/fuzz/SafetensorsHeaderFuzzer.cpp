//===- SafetensorsHeaderFuzzer.cpp - fuzz the header readers ----*- C++ -*-===//
//
// libFuzzer entry point for the untrusted-input parsers of libdsrt. Each input
// is read both as a whole safetensors file (parseSafetensorsHeader) and as a
// JSON document (json::parse). Besides the sanitizers' memory and UB checks, it
// traps when an accepted header breaks a promise of dsrt/Safetensors.h: every
// tensor lies in the data region, matches dtype x shape, is sorted by name and
// overlaps no other tensor.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Json.h"
#include "dsrt/Safetensors.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace {

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

void checkHeaderInvariants(const dsrt::SafetensorsHeader &header, size_t size) {
  check(header.dataOffset >= 8 && header.dataOffset <= size);
  check(header.dataOffset + header.dataSize == size);
  std::vector<const dsrt::TensorInfo *> occupied;
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const dsrt::TensorInfo &tensor = header.tensors[i];
    check(tensor.begin <= tensor.end && tensor.end <= header.dataSize);
    check(tensor.numBytes() ==
          tensor.numElements() * dsrt::dtypeSize(tensor.dtype));
    check(i == 0 || header.tensors[i - 1].name < tensor.name);
    check(header.find(tensor.name) == &tensor);
    if (tensor.begin != tensor.end)
      occupied.push_back(&tensor);
  }
  std::sort(occupied.begin(), occupied.end(),
            [](auto *a, auto *b) { return a->begin < b->begin; });
  for (size_t i = 1; i < occupied.size(); ++i)
    check(occupied[i - 1]->end <= occupied[i]->begin);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dsrt::Expected<dsrt::SafetensorsHeader> header =
      dsrt::parseSafetensorsHeader(data, size, "fuzz");
  if (header)
    checkHeaderInvariants(header.value(), size);
  else
    check(!header.error().empty());

  std::string_view text(reinterpret_cast<const char *>(data), size);
  dsrt::Expected<dsrt::json::Value> value = dsrt::json::parse(text);
  if (value) {
    int64_t integer = 0;
    (void)value.value().getInt64(integer);
    (void)value.value().asNumber();
  }
  return 0;
}
