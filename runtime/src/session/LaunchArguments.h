//===- LaunchArguments.h - what each launch argument points at --*- C++ -*-===//
//
// Every argument of a launch (fb::Arg) names a place: an offset into the
// activation arena or into the KV cache, a weight or its scales, or one of
// the chunk's index arrays (tokens, positions, slots, output rows, sampling
// parameters). resolveLaunchArgument() is the one place that turns an
// argument into an address; the sessions differ only in where the places
// are: host pointers for the cpu session (and for the host mirror of the
// cuda session's --check-kernels), device addresses for the cuda session's
// argument tables. Internal to the library; not installed.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_SESSION_LAUNCHARGUMENTS_H
#define DSRT_SRC_SESSION_LAUNCHARGUMENTS_H

#include "dsrt/Session.h"

#include <cstdint>
#include <vector>

namespace dsrt::detail {

/// Where the places of one device are. `Address` is a host pointer
/// (uint8_t *) or a device address (CUdeviceptr); arena and cache arguments
/// are byte offsets from their base, weight arguments index the tables.
template <typename Address> struct LaunchArgumentPlaces {
  Address arena{}, cache{};
  /// By weight index: its data, and its scales (null when it has none).
  const Address *weights = nullptr, *weightScales = nullptr;
  Address tokens{}, positions{}, slots{}, rows{}, sampling{};
  /// The cache's page table (i32 page ids by slot and page of the slot).
  Address pageTable{};
};

/// The address `arg` names in `places`.
template <typename Address>
Address resolveLaunchArgument(const fb::Arg &arg,
                              const LaunchArgumentPlaces<Address> &places) {
  switch (arg.kind()) {
  case fb::ArgKind::Arena:
    return places.arena + arg.value();
  case fb::ArgKind::Weight:
    return places.weights[arg.value()];
  case fb::ArgKind::WeightScales:
    return places.weightScales[arg.value()];
  case fb::ArgKind::Cache:
    return places.cache + arg.value();
  case fb::ArgKind::Tokens:
    return places.tokens;
  case fb::ArgKind::Positions:
    return places.positions;
  case fb::ArgKind::Slots:
    return places.slots;
  case fb::ArgKind::Rows:
    return places.rows;
  case fb::ArgKind::Sampling:
    return places.sampling;
  case fb::ArgKind::PageTable:
    return places.pageTable;
  }
  return Address{};
}

/// Places on the host. Kernels write through these pointers, so the
/// read-only views they come from (weights, the chunk) lose their const.
using HostArgumentPlaces = LaunchArgumentPlaces<uint8_t *>;

/// The host weight tables of `weights`, for HostArgumentPlaces.
struct HostWeightTables {
  std::vector<uint8_t *> data, scales;

  HostWeightTables() = default;
  explicit HostWeightTables(const WeightStore &weights) {
    for (uint32_t i = 0; i < weights.numWeights(); ++i) {
      data.push_back(
          static_cast<uint8_t *>(const_cast<void *>(weights.data(i))));
      scales.push_back(
          static_cast<uint8_t *>(const_cast<void *>(weights.scales(i))));
    }
  }
};

/// Host places of an arena, a cache, `weights` and `chunk`'s index arrays.
inline HostArgumentPlaces hostArgumentPlaces(uint8_t *arena, uint8_t *cache,
                                             const int32_t *pageTable,
                                             const HostWeightTables &weights,
                                             const Chunk &chunk) {
  auto bytes = [](const void *p) {
    return static_cast<uint8_t *>(const_cast<void *>(p));
  };
  HostArgumentPlaces places;
  places.arena = arena;
  places.cache = cache;
  places.pageTable = bytes(pageTable);
  places.weights = weights.data.data();
  places.weightScales = weights.scales.data();
  places.tokens = bytes(chunk.tokens.data());
  places.positions = bytes(chunk.positions.data());
  places.slots = bytes(chunk.slots.data());
  places.rows = bytes(chunk.rows.data());
  places.sampling = bytes(chunk.sampling.data());
  return places;
}

} // namespace dsrt::detail

#endif // DSRT_SRC_SESSION_LAUNCHARGUMENTS_H
