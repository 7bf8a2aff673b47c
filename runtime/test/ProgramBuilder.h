//===- ProgramBuilder.h - build compiled programs in tests ------*- C++ -*-===//
//
// ProgramBuilder describes a compiled program (schemas/program.fbs) as plain
// structs and serializes it with flatbuffers::FlatBufferBuilder. A default
// ProgramBuilder is the smallest program that Program::load() accepts; every
// field is public, so a test breaks exactly one rule by editing one field
// (a shape, an offset, the identifier, a table left out) and builds again.
// The fuzz seed generator (fuzz/make_program_seeds.cpp) uses it too, so it
// needs no gtest.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_TEST_PROGRAMBUILDER_H
#define DSRT_TEST_PROGRAMBUILDER_H

#include "dsrt/Program.h"
#include "dsrt/program_generated.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dsrt::test {

/// One manifest entry. An empty scaleTensor or scaleShape is left out of the
/// buffer (the field is absent, not an empty string or vector).
struct WeightSpec {
  WeightSpec(std::string symbol, std::string tensor, fb::DType dtype,
             std::vector<int64_t> shape, std::string scaleTensor = "",
             std::vector<int64_t> scaleShape = {}, int64_t experts = 0)
      : symbol(std::move(symbol)), tensor(std::move(tensor)), dtype(dtype),
        shape(std::move(shape)), scaleTensor(std::move(scaleTensor)),
        scaleShape(std::move(scaleShape)), experts(experts) {}

  std::string symbol;
  std::string tensor;
  fb::DType dtype = fb::DType::BF16;
  std::vector<int64_t> shape;
  std::string scaleTensor;
  std::vector<int64_t> scaleShape;
  int64_t experts = 0;
  // Schema 3: the blocks each scale covers (0: not recorded) and whether
  // the runtime quantizes a bf16 tensor at load.
  int64_t scaleBlockRows = 0;
  int64_t scaleBlockCols = 0;
  bool quantizedAtLoad = false;
  // Schema 6: one rank's part of a partitioned program's weight.
  int32_t shardDim = -1;
  int32_t shardRanks = 0;
  bool shardInterleaved = false;
};

struct KernelSpec {
  std::string name;
  fb::ParallelDim parallel = fb::ParallelDim::Tokens;
  int64_t extent = 0;
  fb::RowCount rows = fb::RowCount::Tokens;
  std::vector<fb::KernelOutput> outputs;
  uint32_t block = 128;
  // A LaunchShape table when set; block/grid unset leave those fields out.
  struct Launch {
    std::optional<std::array<uint32_t, 3>> block;
    fb::GridRule gridRule = fb::GridRule::PerIndex;
    std::optional<std::array<uint32_t, 3>> grid;
    uint32_t sharedBytes = 0;
    bool programmatic = false;
    uint32_t cluster = 1;
  };
  std::optional<Launch> launch;
  // A KernelCost table when set.
  struct Cost {
    double bytesFixed = 0, bytesPerRow = 0, bytesPerContext = 0,
           bytesPerExpert = 0;
    int64_t experts = 0, expertsPerRow = 0;
    double flopsPerRow = 0, flopsPerContext = 0;
    bool fp8 = false;
  };
  std::optional<Cost> cost;
  // Kernel.variants: (rows, kernel) pairs; empty leaves the field out.
  std::vector<fb::KernelVariant> variants;
  bool writesCache = false;
};

// The program's DeviceCeilings table.
struct DeviceSpec {
  std::string name = "h200";
  double memoryBytesPerSecond = 4.26e12;
  double bf16FlopsPerSecond = 989e12;
  double fp8FlopsPerSecond = 1979e12;
  int64_t l2Bytes = 60 << 20;
};

struct LaunchSpec {
  uint32_t kernel = 0;
  std::vector<fb::Arg> args;
  uint8_t stream = 0;
  std::vector<uint32_t> waits; // none: the field is absent
};

struct EntrySpec {
  std::string name;
  int64_t maxTokens = 1;
  std::vector<LaunchSpec> launches;
  uint64_t logitsOffset = 0;
  uint64_t sampledOffset = 0;
};

struct ModelSpec {
  std::string family = "deepseek_v3";
  int64_t vocabSize = 32;
  int64_t hiddenSize = 16;
  int64_t numLayers = 2;
  int64_t bosTokenId = 0;
  int64_t eosTokenId = 1;
  int64_t maxPositionEmbeddings = 16;
};

/// Cache bytes: layers x slots x maxSeq x (latent + rope) x 2, in pages of
/// pageSize positions of every layer (0: one page per sequence, maxSeq).
/// Cache arguments are a layer's offset inside a page.
struct CacheSpec {
  int64_t layers = 2;
  int64_t latent = 8;
  int64_t rope = 4;
  int64_t slots = 2;
  int64_t maxSeq = 16;
  int64_t pageSize = 0;
};

inline fb::Arg arenaArg(uint64_t offset) {
  return {fb::ArgKind::Arena, offset};
}
inline fb::Arg weightArg(uint64_t index) {
  return {fb::ArgKind::Weight, index};
}
inline fb::Arg scalesArg(uint64_t index) {
  return {fb::ArgKind::WeightScales, index};
}
inline fb::Arg cacheArg(uint64_t offset) {
  return {fb::ArgKind::Cache, offset};
}
inline fb::Arg tokensArg() { return {fb::ArgKind::Tokens, 0}; }
inline fb::Arg positionsArg() { return {fb::ArgKind::Positions, 0}; }
inline fb::Arg slotsArg() { return {fb::ArgKind::Slots, 0}; }
inline fb::Arg rowsArg() { return {fb::ArgKind::Rows, 0}; }
inline fb::Arg samplingArg() { return {fb::ArgKind::Sampling, 0}; }

class ProgramBuilder {
public:
  /// The minimal valid program: vocabulary 32, a bf16 embedding [32, 16]
  /// (weight 0), an fp8 lm_head [32, 16] with scales [2, 1] (weight 1),
  /// four kernels (embed and attention over tokens, lm_head static over
  /// 32 and sample over the outputs), a 1536-byte cache, a 1024-byte arena,
  /// and prefill (4 tokens) and decode (2 tokens) entry points with their
  /// logits at arena offset 512 and sampled tokens at 1000.
  ProgramBuilder() {
    weights = {
        {"embed", "model.embed_tokens.weight", fb::DType::BF16, {32, 16}},
        {"lm_head",
         "lm_head.weight",
         fb::DType::F8_E4M3,
         {32, 16},
         "lm_head.weight_scale_inv",
         {2, 1}},
    };
    kernels = {
        {"embed", fb::ParallelDim::Tokens, 0},
        {"attention", fb::ParallelDim::Tokens, 0},
        {"lm_head", fb::ParallelDim::Static, 32, fb::RowCount::Outputs},
        {"sample", fb::ParallelDim::Tokens, 0, fb::RowCount::Outputs},
    };
    std::vector<LaunchSpec> launches = {
        {0, {tokensArg(), weightArg(0), arenaArg(0)}},
        {1,
         {arenaArg(0), cacheArg(0), cacheArg(384), positionsArg(), slotsArg()}},
        {2,
         {arenaArg(0), weightArg(1), scalesArg(1), rowsArg(), arenaArg(512)}},
        {3, {arenaArg(512), samplingArg(), arenaArg(1000)}},
    };
    entries = {
        {"prefill", 4, launches, 512, 1000},
        {"decode", 2, launches, 512, 1000},
    };
  }

  uint32_t schemaVersion = kSchemaVersion;
  /// Four characters, written where the "DSCP" file identifier goes.
  std::string identifier = "DSCP";
  std::string target = "cpu";
  std::string dscVersion = "test";
  std::string checkpointDir = "/nonexistent/checkpoint";
  ModelSpec model;
  CacheSpec cache;
  std::vector<WeightSpec> weights;
  std::vector<KernelSpec> kernels;
  std::vector<KernelSpec> hostTwins; // empty: none
  std::optional<DeviceSpec> device;  // none: no DeviceCeilings
  std::vector<EntrySpec> entries;
  uint64_t arenaBytes = 1024;
  std::vector<uint8_t> tokenizer;
  /// Leave a required table out of the buffer.
  bool omitModel = false;
  bool omitCache = false;
  bool omitWeights = false;
  /// Write weight 0's shape, or every launch's arguments, so that their
  /// 8-byte elements sit 4 bytes off 8-byte alignment: a layout the
  /// FlatBuffer verifier accepts (it checks only the 4-byte length).
  bool misalignFirstShape = false;
  bool misalignArgs = false;
  bool misalignOutputs = false; // every kernel's output table

  /// The entry point called `name`; it must exist.
  EntrySpec &entry(const std::string &name) {
    for (EntrySpec &e : entries)
      if (e.name == name)
        return e;
    std::fprintf(stderr, "ProgramBuilder: no entry point '%s'\n", name.c_str());
    std::abort();
  }

  std::vector<uint8_t> build() const {
    flatbuffers::FlatBufferBuilder fbb(1024);
    // The final buffer's size is a multiple of 8 (its largest alignment),
    // so an element lies 4 mod 8 from its start when the vector's length
    // field ends at a multiple of 8 from the end being built towards.
    auto misaligned = [&](const void *elements, size_t count,
                          size_t elementBytes) {
      size_t words = count * elementBytes / 4;
      fbb.Align(4);
      if ((fbb.GetSize() + 4) % 8 != 0)
        fbb.PushElement<uint32_t>(0);
      fbb.StartVector(words, 4);
      const uint8_t *bytes = static_cast<const uint8_t *>(elements);
      for (size_t i = words; i-- > 0;) {
        uint32_t word;
        std::memcpy(&word, bytes + 4 * i, 4);
        fbb.PushElement(word);
      }
      return fbb.EndVector(count);
    };
    auto stringOrNone = [&](const std::string &s) {
      return s.empty() ? flatbuffers::Offset<flatbuffers::String>()
                       : fbb.CreateString(s);
    };
    auto modelOffset = fb::CreateModelInfo(
        fbb, fbb.CreateString(model.family), model.vocabSize, model.hiddenSize,
        model.numLayers, model.bosTokenId, model.eosTokenId,
        model.maxPositionEmbeddings);

    std::vector<flatbuffers::Offset<fb::Weight>> weightOffsets;
    for (const WeightSpec &w : weights)
      weightOffsets.push_back(fb::CreateWeight(
          fbb, stringOrNone(w.symbol), stringOrNone(w.tensor), w.dtype,
          misalignFirstShape && weightOffsets.empty()
              ? flatbuffers::Offset<flatbuffers::Vector<int64_t>>(
                    misaligned(w.shape.data(), w.shape.size(), 8))
              : fbb.CreateVector(w.shape),
          stringOrNone(w.scaleTensor),
          w.scaleShape.empty() ? 0 : fbb.CreateVector(w.scaleShape), w.experts,
          w.scaleBlockRows, w.scaleBlockCols, w.quantizedAtLoad, w.shardDim,
          w.shardRanks, w.shardInterleaved));

    auto kernelTable = [&](const std::vector<KernelSpec> &specs) {
      std::vector<flatbuffers::Offset<fb::Kernel>> offsets;
      for (const KernelSpec &k : specs) {
        flatbuffers::Offset<fb::LaunchShape> launch = 0;
        if (k.launch) {
          std::optional<fb::Dim3> block, grid;
          if (k.launch->block)
            block.emplace((*k.launch->block)[0], (*k.launch->block)[1],
                          (*k.launch->block)[2]);
          if (k.launch->grid)
            grid.emplace((*k.launch->grid)[0], (*k.launch->grid)[1],
                         (*k.launch->grid)[2]);
          launch = fb::CreateLaunchShape(
              fbb, block ? &*block : nullptr, k.launch->gridRule,
              grid ? &*grid : nullptr, k.launch->sharedBytes,
              k.launch->programmatic, k.launch->cluster);
        }
        flatbuffers::Offset<fb::KernelCost> cost = 0;
        if (k.cost)
          cost = fb::CreateKernelCost(
              fbb, k.cost->bytesFixed, k.cost->bytesPerRow,
              k.cost->bytesPerContext, k.cost->bytesPerExpert, k.cost->experts,
              k.cost->expertsPerRow, k.cost->flopsPerRow,
              k.cost->flopsPerContext, k.cost->fp8);
        offsets.push_back(fb::CreateKernel(
            fbb, stringOrNone(k.name), fbb.CreateString("test kernel"),
            k.parallel, k.extent, k.rows,
            misalignOutputs && !k.outputs.empty()
                ? flatbuffers::Offset<
                      flatbuffers::Vector<const fb::KernelOutput *>>(
                      misaligned(k.outputs.data(), k.outputs.size(),
                                 sizeof(fb::KernelOutput)))
                : fbb.CreateVectorOfStructs(k.outputs),
            k.writesCache, k.block, launch, cost,
            k.variants.empty() ? 0 : fbb.CreateVectorOfStructs(k.variants)));
      }
      return offsets;
    };
    std::vector<flatbuffers::Offset<fb::Kernel>> kernelOffsets =
        kernelTable(kernels);
    std::vector<flatbuffers::Offset<fb::Kernel>> twinOffsets =
        kernelTable(hostTwins);

    std::vector<flatbuffers::Offset<fb::Entry>> entryOffsets;
    for (const EntrySpec &e : entries) {
      std::vector<flatbuffers::Offset<fb::Launch>> launches;
      for (const LaunchSpec &l : e.launches)
        launches.push_back(fb::CreateLaunch(
            fbb, l.kernel,
            misalignArgs
                ? flatbuffers::Offset<flatbuffers::Vector<const fb::Arg *>>(
                      misaligned(l.args.data(), l.args.size(), sizeof(fb::Arg)))
                : fbb.CreateVectorOfStructs(l.args),
            l.stream, l.waits.empty() ? 0 : fbb.CreateVector(l.waits)));
      entryOffsets.push_back(fb::CreateEntry(
          fbb, stringOrNone(e.name), e.maxTokens, fbb.CreateVector(launches),
          e.logitsOffset, e.sampledOffset));
    }

    auto cacheOffset = fb::CreateCacheInfo(
        fbb, cache.layers, cache.latent, cache.rope, cache.slots, cache.maxSeq,
        cache.pageSize ? cache.pageSize : cache.maxSeq);
    flatbuffers::Offset<fb::DeviceCeilings> deviceOffset = 0;
    if (device)
      deviceOffset = fb::CreateDeviceCeilings(
          fbb, stringOrNone(device->name), device->memoryBytesPerSecond,
          device->bf16FlopsPerSecond, device->fp8FlopsPerSecond,
          device->l2Bytes);
    auto program = fb::CreateProgram(
        fbb, schemaVersion, fbb.CreateString(target),
        fbb.CreateString(dscVersion), omitModel ? 0 : modelOffset,
        omitWeights ? 0 : fbb.CreateVector(weightOffsets),
        fbb.CreateVector(kernelOffsets), fbb.CreateVector(entryOffsets),
        omitCache ? 0 : cacheOffset, arenaBytes,
        fbb.CreateString(checkpointDir),
        tokenizer.empty() ? 0 : fbb.CreateVector(tokenizer), 0, 0, 0, 0,
        hostTwins.empty() ? 0 : fbb.CreateVector(twinOffsets), deviceOffset);
    fbb.Finish(program, identifier.c_str());
    return std::vector<uint8_t>(fbb.GetBufferPointer(),
                                fbb.GetBufferPointer() + fbb.GetSize());
  }
};

} // namespace dsrt::test

#endif // DSRT_TEST_PROGRAMBUILDER_H
