//===- ProgramTest.cpp - tests of the compiled program loader ---*- C++ -*-===//
//
// Unit tests of dsrt/Program.h: a valid program loads and its accessors read
// it back; then one test per rule of Program::load(), each breaking a valid
// program (built by ProgramBuilder) in exactly one way and matching the
// whole message that names the rule. Boundary values on the accepted side
// are loaded too, so an off-by-one in either direction fails.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Program.h"

#include "ProgramBuilder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

namespace dsrt {
namespace {

using test::arenaArg;
using test::cacheArg;
using test::ProgramBuilder;
using test::scalesArg;
using test::weightArg;

Expected<Program> loadBytes(const std::vector<uint8_t> &bytes) {
  return Program::load(bytes.data(), bytes.size(), "prog");
}

/// The message of loading `bytes`, which must be rejected.
std::string loadError(const std::vector<uint8_t> &bytes) {
  Expected<Program> program = loadBytes(bytes);
  EXPECT_FALSE(program.ok()) << "accepted";
  return program.error();
}
std::string loadError(const ProgramBuilder &builder) {
  return loadError(builder.build());
}

/// Loads the program of `builder`, which must be accepted.
void expectLoads(const ProgramBuilder &builder) {
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = loadBytes(bytes);
  EXPECT_TRUE(program.ok()) << program.error();
}

std::string corrupted(const std::string &why) {
  return "prog: corrupted program: " + why;
}

const char *kVerifierFailed = "the FlatBuffer verifier rejected it";

//===--- valid programs ---------------------------------------------------===//

TEST(ProgramTest, MinimalProgramLoads) {
  ProgramBuilder builder;
  builder.tokenizer = {1, 2, 3};
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> loaded = loadBytes(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const Program &program = loaded.value();

  EXPECT_EQ(program.fb().schema_version(), kSchemaVersion);
  EXPECT_EQ(program.fb().target()->str(), "cpu");
  EXPECT_EQ(program.fb().model()->vocab_size(), 32);
  EXPECT_EQ(program.fb().arena_bytes(), 1024u);
  EXPECT_EQ(program.fb().tokenizer()->size(), 3u);

  const fb::Entry &prefill = program.entry("prefill");
  EXPECT_EQ(prefill.name()->str(), "prefill");
  EXPECT_EQ(prefill.max_tokens(), 4);
  EXPECT_EQ(prefill.launches()->size(), 4u);
  EXPECT_EQ(prefill.logits_offset(), 512u);
  EXPECT_EQ(prefill.sampled_offset(), 1000u);
  EXPECT_EQ(program.fb().kernels()->Get(3)->rows(), fb::RowCount::Outputs);
  const fb::Entry &decode = program.entry("decode");
  EXPECT_EQ(decode.name()->str(), "decode");
  EXPECT_EQ(decode.max_tokens(), 2);
  EXPECT_NE(&prefill, &decode);

  // 2 layers x 2 slots x 16 positions x (8 + 4) x 2 bytes.
  EXPECT_EQ(program.cacheBytes(), 1536u);
  EXPECT_EQ(program.weightElements(0), 32u * 16u);
  EXPECT_EQ(program.scaleElements(0), 0u);
  EXPECT_EQ(program.weightElements(1), 32u * 16u);
  EXPECT_EQ(program.scaleElements(1), 2u);
}

TEST(ProgramTest, ExpertStacksCountEveryExpert) {
  ProgramBuilder builder;
  builder.weights.push_back({"gate",
                             "model.layers.1.mlp.experts.{e}.w",
                             fb::DType::BF16,
                             {3, 4, 6},
                             "",
                             {},
                             3});
  builder.weights.push_back({"down",
                             "model.layers.1.mlp.experts.{e}.d",
                             fb::DType::F8_E4M3,
                             {3, 6, 4},
                             "model.layers.1.mlp.experts.{e}.d_scale_inv",
                             {3, 2, 1},
                             3});
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> loaded = loadBytes(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded.value().weightElements(2), 72u);
  EXPECT_EQ(loaded.value().scaleElements(2), 0u);
  EXPECT_EQ(loaded.value().weightElements(3), 72u);
  EXPECT_EQ(loaded.value().scaleElements(3), 6u);
}

TEST(ProgramTest, LargeCacheIsSizedExactly) {
  ProgramBuilder builder;
  builder.cache = {61, 512, 64, 8, 4096};
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> loaded = loadBytes(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded.value().cacheBytes(), 61ull * 8 * 4096 * 576 * 2);
}

TEST(ProgramTest, FuzzSeedsAreValidPrograms) {
  size_t seeds = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(DSRT_PROGRAM_SEED_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    Expected<Program> program = loadBytes(bytes);
    EXPECT_TRUE(program.ok()) << entry.path() << ": " << program.error();
    EXPECT_LE(bytes.size(), 4096u) << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 3u);
}

//===--- framing ----------------------------------------------------------===//

TEST(ProgramTest, TooShort) {
  std::string message = corrupted("shorter than a FlatBuffer header");
  EXPECT_EQ(Program::load(nullptr, 0, "prog").error(), message);
  std::vector<uint8_t> bytes = ProgramBuilder().build();
  EXPECT_EQ(Program::load(nullptr, bytes.size(), "prog").error(), message);
  for (size_t size : {0, 1, 7})
    EXPECT_EQ(Program::load(bytes.data(), size, "prog").error(), message)
        << size;
}

TEST(ProgramTest, WrongIdentifier) {
  ProgramBuilder builder;
  builder.identifier = "DSCQ";
  EXPECT_EQ(loadError(builder), corrupted("missing the \"DSCP\" identifier"));
  // Eight bytes that are no FlatBuffer at all.
  EXPECT_EQ(loadError(std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}),
            corrupted("missing the \"DSCP\" identifier"));
}

TEST(ProgramTest, VerifierRejectsTruncatedBuffers) {
  std::vector<uint8_t> bytes = ProgramBuilder().build();
  ASSERT_GT(bytes.size(), 64u);
  // The identifier survives every cut from 8 bytes on; the verifier must
  // notice that something the root reaches is cut off.
  for (size_t size = 8; size < bytes.size(); ++size) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + size);
    EXPECT_EQ(loadError(cut), corrupted(kVerifierFailed)) << size;
  }
}

TEST(ProgramTest, VerifierRejectsGarbageRootOffset) {
  std::vector<uint8_t> bytes = ProgramBuilder().build();
  uint32_t size = static_cast<uint32_t>(bytes.size());
  for (uint32_t root : {size, size - 4, size + 1024, uint32_t(0xFFFFFFF0),
                        uint32_t(3), uint32_t(4)}) {
    std::vector<uint8_t> broken = bytes;
    std::memcpy(broken.data(), &root, 4);
    EXPECT_EQ(loadError(broken), corrupted(kVerifierFailed)) << root;
  }
}

TEST(ProgramTest, MisalignedBuffer) {
  // The verifier checks alignment relative to the buffer's start, so the
  // start itself must be aligned for the 8-byte fields to be.
  std::vector<uint8_t> bytes = ProgramBuilder().build();
  std::vector<uint64_t> storage(bytes.size() / 8 + 2);
  uint8_t *shifted = reinterpret_cast<uint8_t *>(storage.data()) + 4;
  std::memcpy(shifted, bytes.data(), bytes.size());
  EXPECT_EQ(Program::load(shifted, bytes.size(), "prog").error(),
            corrupted("the buffer is not 8-byte aligned in memory"));
}

TEST(ProgramTest, MisalignedVectorElements) {
  // The FlatBuffer verifier accepts 8-byte vector elements 4 bytes off their
  // alignment; reading them would be undefined behaviour.
  ProgramBuilder shape;
  shape.misalignFirstShape = true;
  std::vector<uint8_t> bytes = shape.build();
  const fb::Program *raw = fb::GetProgram(bytes.data());
  ASSERT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % 8, 0u);
  EXPECT_EQ(
      reinterpret_cast<uintptr_t>(raw->weights()->Get(0)->shape()->Data()) % 8,
      4u);
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  EXPECT_TRUE(fb::VerifyProgramBuffer(verifier));
  EXPECT_EQ(loadError(bytes), corrupted("weight 0: misaligned shape"));

  ProgramBuilder args;
  args.misalignArgs = true;
  bytes = args.build();
  raw = fb::GetProgram(bytes.data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(
                raw->entries()->Get(0)->launches()->Get(0)->args()->Data()) %
                8,
            4u);
  EXPECT_EQ(loadError(bytes),
            corrupted("entry 'prefill': misaligned launch arguments"));
}

TEST(ProgramTest, WrongSchemaVersion) {
  ProgramBuilder builder;
  builder.schemaVersion = kSchemaVersion + 1;
  std::string reads =
      ", this runtime reads version " + std::to_string(kSchemaVersion);
  EXPECT_EQ(loadError(builder),
            corrupted("schema version " + std::to_string(kSchemaVersion + 1) +
                      reads));
  builder.schemaVersion = 0;
  EXPECT_EQ(loadError(builder), corrupted("schema version 0" + reads));
}

TEST(ProgramTest, MissingTables) {
  std::string message =
      corrupted("missing model, weights, kernels, entries, cache or target");
  ProgramBuilder noModel;
  noModel.omitModel = true;
  EXPECT_EQ(loadError(noModel), message);
  ProgramBuilder noCache;
  noCache.omitCache = true;
  EXPECT_EQ(loadError(noCache), message);
  ProgramBuilder noWeights;
  noWeights.omitWeights = true;
  EXPECT_EQ(loadError(noWeights), message);
}

//===--- entry points and launches ----------------------------------------===//

TEST(ProgramTest, MissingEntryPoint) {
  std::string message =
      corrupted("the prefill and decode entry points are required");
  ProgramBuilder noDecode;
  noDecode.entries.pop_back();
  EXPECT_EQ(loadError(noDecode), message);
  ProgramBuilder noPrefill;
  noPrefill.entries.erase(noPrefill.entries.begin());
  EXPECT_EQ(loadError(noPrefill), message);
  ProgramBuilder renamed;
  renamed.entry("decode").name = "Decode";
  EXPECT_EQ(loadError(renamed), message);
  ProgramBuilder none;
  none.entries.clear();
  EXPECT_EQ(loadError(none), message);
}

TEST(ProgramTest, EntryWithoutName) {
  ProgramBuilder builder;
  builder.entry("decode").name = "";
  EXPECT_EQ(loadError(builder),
            corrupted("entry point without name or launches"));
}

TEST(ProgramTest, MaxTokensOutOfRange) {
  for (int64_t maxTokens : {int64_t(0), int64_t(-1), int64_t(1 << 20) + 1}) {
    ProgramBuilder builder;
    builder.entry("decode").maxTokens = maxTokens;
    EXPECT_EQ(loadError(builder),
              corrupted("entry 'decode': max_tokens out of range"))
        << maxTokens;
  }
}

TEST(ProgramTest, KernelIndexOutOfRange) {
  ProgramBuilder builder;
  builder.entry("prefill").launches[1].kernel = 4; // four kernels
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': launch of kernel 4 out of range"));
  builder.entry("prefill").launches[1].kernel = 0xFFFFFFFF;
  EXPECT_EQ(
      loadError(builder),
      corrupted("entry 'prefill': launch of kernel 4294967295 out of range"));
  builder.entry("prefill").launches[1].kernel = 2;
  expectLoads(builder);
}

TEST(ProgramTest, LaunchStreamsAndWaits) {
  ProgramBuilder builder;
  test::LaunchSpec &third = builder.entry("prefill").launches[2];
  third.stream = kMaxLaunchStreams - 1;
  third.waits = {0, 1};
  expectLoads(builder);
  third.stream = kMaxLaunchStreams;
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': launch 2 runs on stream 8, outside "
                      "[0, 8)"));
  third.stream = 1;
  // Waits name earlier launches, in increasing order.
  for (std::vector<uint32_t> waits :
       {std::vector<uint32_t>{2}, {0, 3}, {1, 0}, {1, 1}, {0xFFFFFFFF}}) {
    third.waits = waits;
    EXPECT_NE(loadError(builder).find("entry 'prefill': launch 2 waits for "
                                      "launch "),
              std::string::npos);
  }
  third.waits = {1};
  expectLoads(builder);
}

const char *kArgOutOfRange = "a launch argument is out of range";

TEST(ProgramTest, ArenaArgumentPastTheArena) {
  ProgramBuilder builder;
  builder.entry("decode").launches[2].args[4] = arenaArg(1024);
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'decode': ") + kArgOutOfRange));
  builder.entry("decode").launches[2].args[4] = arenaArg(~uint64_t(0));
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'decode': ") + kArgOutOfRange));
  builder.entry("decode").launches[2].args[4] = arenaArg(1023);
  expectLoads(builder);
}

TEST(ProgramTest, WeightArgumentOutOfRange) {
  ProgramBuilder builder;
  builder.entry("prefill").launches[0].args[1] = weightArg(2); // two weights
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'prefill': ") + kArgOutOfRange));
  builder.entry("prefill").launches[0].args[1] = weightArg(1);
  expectLoads(builder);
  builder.entry("prefill").launches[2].args[2] = scalesArg(2);
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'prefill': ") + kArgOutOfRange));
}

TEST(ProgramTest, ScalesOfAWeightWithoutScales) {
  ProgramBuilder builder;
  // Weight 0 (embed) is bf16: it has no scales to point at.
  builder.entry("prefill").launches[2].args[2] = scalesArg(0);
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'prefill': ") + kArgOutOfRange));
  builder.entry("prefill").launches[2].args[2] = scalesArg(1);
  expectLoads(builder);
}

TEST(ProgramTest, CacheOffsetPastTheCache) {
  ProgramBuilder builder; // pages of 768 bytes (2 layers x 16 positions)
  builder.entry("prefill").launches[1].args[2] = cacheArg(768);
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'prefill': ") + kArgOutOfRange));
  builder.entry("prefill").launches[1].args[2] = cacheArg(767);
  expectLoads(builder);
}

TEST(ProgramTest, UnknownArgumentKind) {
  ProgramBuilder builder;
  builder.entry("decode").launches[0].args[0] = {static_cast<fb::ArgKind>(10),
                                                 0};
  EXPECT_EQ(loadError(builder),
            corrupted(std::string("entry 'decode': ") + kArgOutOfRange));
}

TEST(ProgramTest, SampledTokensOutsideTheArena) {
  // decode: 2 tokens x 4 bytes in 1024.
  ProgramBuilder builder;
  builder.entry("decode").sampledOffset = 1017; // 2 tokens x 4 bytes
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'decode': sampled tokens outside the arena"));
  builder.entry("decode").sampledOffset = ~uint64_t(0);
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'decode': sampled tokens outside the arena"));
  builder.entry("decode").sampledOffset = 1016;
  expectLoads(builder);
}

TEST(ProgramTest, UnknownRowCount) {
  ProgramBuilder builder;
  builder.kernels[0].rows = fb::RowCount::Outputs;
  expectLoads(builder);
  builder.kernels[0].rows = static_cast<fb::RowCount>(2);
  EXPECT_EQ(loadError(builder), corrupted("kernel 0 has an unknown row count"));
}

TEST(ProgramTest, LogitsOutsideTheArena) {
  // decode: 2 tokens x 32 x 4 bytes = 256 bytes of logits in 1024.
  ProgramBuilder builder;
  builder.entry("decode").logitsOffset = 769;
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'decode': logits outside the arena"));
  builder.entry("decode").logitsOffset = 1025;
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'decode': logits outside the arena"));
  builder.entry("decode").logitsOffset = 768;
  expectLoads(builder);
  // prefill: 4 x 32 x 4 = 512 bytes; one more token does not fit at 512.
  builder.entry("prefill").maxTokens = 5;
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': logits outside the arena"));
}

TEST(ProgramTest, LogitsBytesMustNotWrapAround) {
  // 4 tokens x 2^62 x 4 bytes is 2^66, which wraps to 0 in 64 bits.
  ProgramBuilder builder;
  builder.model.vocabSize = int64_t(1) << 62;
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': logits outside the arena"));
  builder.model.vocabSize = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': logits outside the arena"));
}

//===--- model, cache and kernels -----------------------------------------===//

TEST(ProgramTest, NonPositiveModelDimensions) {
  ProgramBuilder builder;
  builder.model.hiddenSize = 0;
  EXPECT_EQ(loadError(builder), corrupted("model dimensions must be positive"));
}

TEST(ProgramTest, CacheGeometryOutOfRange) {
  std::string message = corrupted("cache geometry out of range");
  auto withCache = [](auto edit) {
    ProgramBuilder builder;
    edit(builder.cache);
    return builder;
  };
  EXPECT_EQ(loadError(withCache([](auto &c) { c.layers = 0; })), message);
  EXPECT_EQ(loadError(withCache([](auto &c) { c.rope = -4; })), message);
  EXPECT_EQ(loadError(withCache([](auto &c) { c.slots = (1 << 16) + 1; })),
            message);
  EXPECT_EQ(loadError(withCache([](auto &c) { c.latent = (1 << 16); })),
            message);
  // latent + rope must not overflow before it is compared.
  EXPECT_EQ(loadError(withCache([](auto &c) {
              c.latent = std::numeric_limits<int64_t>::max();
            })),
            message);
}

TEST(ProgramTest, CacheBytesMustNotWrapAround) {
  // Each dimension is within its limit, but the bytes (2^69 - 2^45) are not
  // representable in 64 bits; wrapped, they would leave room for the
  // program's cache arguments.
  ProgramBuilder builder;
  builder.cache = {1 << 12, 1 << 15, 1 << 15, 1 << 16, (1 << 24) - 1};
  EXPECT_EQ(loadError(builder), corrupted("cache geometry out of range"));
}

TEST(ProgramTest, KernelWithoutNameOrExtent) {
  ProgramBuilder builder;
  builder.kernels[1].name = "";
  EXPECT_EQ(loadError(builder), corrupted("kernel 1 has no name"));

  std::string message = corrupted("kernel 2 has an extent out of range");
  for (fb::ParallelDim parallel :
       {fb::ParallelDim::Static, fb::ParallelDim::TokensTimesStatic}) {
    for (int64_t extent : {int64_t(0), int64_t(-1), (int64_t(1) << 32) + 1}) {
      builder = ProgramBuilder();
      builder.kernels[2].parallel = parallel;
      builder.kernels[2].extent = extent;
      EXPECT_EQ(loadError(builder), message) << int(parallel) << " " << extent;
    }
    builder.kernels[2].extent = int64_t(1) << 32;
    expectLoads(builder);
  }
  // Over tokens, the extent is not read.
  builder = ProgramBuilder();
  builder.kernels[2].parallel = fb::ParallelDim::Tokens;
  builder.kernels[2].extent = -1;
  expectLoads(builder);

  builder.kernels[2].parallel = static_cast<fb::ParallelDim>(5);
  EXPECT_EQ(loadError(builder),
            corrupted("kernel 2 has an unknown parallel dimension"));
}

TEST(ProgramTest, KernelOutputsLieInTheArena) {
  // The embedding (kernel 0, argument 2 at arena offset 0) writes 4 prefill
  // tokens x 16 bf16 = 128 bytes of the 1024.
  ProgramBuilder builder;
  builder.kernels[0].outputs = {{2, fb::DType::BF16, 16}};
  expectLoads(builder);
  builder.kernels[0].outputs = {{2, fb::DType::F32, 64}}; // exactly 1024
  expectLoads(builder);
  builder.kernels[0].outputs = {{2, fb::DType::F32, 65}};
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': kernel 0 writes past the arena"));
  builder.kernels[0].outputs = {{1, fb::DType::BF16, 16}}; // a weight
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': kernel 0 writes an argument that is "
                      "not in the arena"));
  builder.kernels[0].outputs = {{3, fb::DType::BF16, 16}}; // no such argument
  EXPECT_EQ(loadError(builder),
            corrupted("entry 'prefill': kernel 0 writes an argument that is "
                      "not in the arena"));
  builder.kernels[0].outputs = {{2, static_cast<fb::DType>(9), 16}};
  EXPECT_EQ(loadError(builder), corrupted("kernel 0 has a malformed output"));
  builder.kernels[0].outputs = {{2, fb::DType::BF16, 0}};
  EXPECT_EQ(loadError(builder), corrupted("kernel 0 has a malformed output"));
  // A table the verifier accepts but whose 8-byte fields are misaligned.
  builder.kernels[0].outputs = {{2, fb::DType::BF16, 16}};
  builder.misalignOutputs = true;
  EXPECT_EQ(loadError(builder), corrupted("kernel 0 has misaligned outputs"));
}

TEST(ProgramTest, BlockSizesDivideTheWork) {
  // Kernel 2 (lm_head) is static over 32.
  ProgramBuilder builder;
  builder.kernels[2].block = 32;
  expectLoads(builder);
  std::string message =
      corrupted("kernel 2 has a block size that does not divide its work");
  for (uint32_t block : {0u, 16u, 48u, 64u, 2048u}) {
    builder.kernels[2].block = block;
    EXPECT_EQ(loadError(builder), message) << block;
  }
  // Over tokens only the default fits (the row count is not known).
  builder = ProgramBuilder();
  builder.kernels[0].block = 256;
  EXPECT_EQ(
      loadError(builder),
      corrupted("kernel 0 has a block size that does not divide its work"));
}

TEST(ProgramTest, LaunchShapesAreChecked) {
  using Launch = test::KernelSpec::Launch;
  using Dims = std::array<uint32_t, 3>;
  ProgramBuilder builder;
  // Absent fields are today's launch: [block, 1, 1], one thread per index.
  builder.kernels[0].launch = Launch{};
  builder.kernels[2].launch = Launch{Dims{8, 2, 2}};
  builder.kernels[1].launch = Launch{Dims{32, 4, 8}, fb::GridRule::Fixed,
                                     Dims{7, 3, 2}, 227 * 1024, true};
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = loadBytes(bytes);
  ASSERT_TRUE(program.ok()) << program.error();
  const auto &kernels = *program.value().fb().kernels();
  KernelLaunchShape legacy = launchShapeOf(*kernels.Get(3));
  EXPECT_EQ(legacy.threads(), 128u);
  uint32_t grid[3];
  legacy.gridFor(129, grid);
  EXPECT_EQ(grid[0], 2u);
  EXPECT_EQ(grid[1], 1u);
  EXPECT_EQ(grid[2], 1u);
  KernelLaunchShape fixed = launchShapeOf(*kernels.Get(1));
  fixed.gridFor(5, grid);
  EXPECT_EQ(grid[0], 7u);
  EXPECT_EQ(grid[1], 3u);
  EXPECT_EQ(grid[2], 2u);
  EXPECT_EQ(fixed.sharedBytes, 227u * 1024);
  // Kernels that wait for their predecessor themselves (griddepcontrol)
  // launch programmatically; others, and programs without the field, not.
  EXPECT_TRUE(fixed.programmatic);
  EXPECT_FALSE(legacy.programmatic);
  KernelLaunchShape cube = launchShapeOf(*kernels.Get(2));
  EXPECT_EQ(cube.threads(), 32u);
  cube.gridFor(32, grid);
  EXPECT_EQ(grid[0], 1u);

  auto expectError = [](ProgramBuilder b, const std::string &message) {
    EXPECT_EQ(loadError(b), corrupted(message));
  };
  std::string shapeError = "kernel 2 has a block shape out of range";
  for (Dims block :
       {Dims{0, 1, 1}, Dims{32, 0, 1}, Dims{32, 1, 0}, Dims{1024, 2, 1},
        Dims{64, 32, 1}, Dims{2048, 1, 1}, Dims{1, 1, 128}}) {
    ProgramBuilder b;
    b.kernels[2].launch = Launch{block};
    expectError(b, shapeError);
  }
  // Whole warps; a block other than 128 over a static extent divides it.
  for (Dims block : {Dims{8, 2, 1}, Dims{16, 2, 2}, Dims{48, 1, 1}}) {
    ProgramBuilder b;
    b.kernels[2].launch = Launch{block};
    expectError(b, "kernel 2 has a block size that does not divide its work");
  }
  {
    ProgramBuilder b; // over tokens, only 128 threads fit a per-index grid
    b.kernels[0].launch = Launch{Dims{32, 2, 1}};
    expectError(b, "kernel 0 has a block size that does not divide its work");
    b.kernels[0].launch = Launch{Dims{32, 2, 2}};
    expectLoads(b);
    b.kernels[0].launch = Launch{Dims{32, 2, 1}, fb::GridRule::Fixed,
                                 Dims{1, 1, 1}}; // a fixed grid does not
    expectLoads(b);
  }
  for (Dims grid :
       {Dims{0, 1, 1}, Dims{1, 0, 1}, Dims{1, 1, 0}, Dims{0x80000000u, 1, 1},
        Dims{1, 65536, 1}, Dims{1, 1, 65536}}) {
    ProgramBuilder b;
    b.kernels[1].launch = Launch{std::nullopt, fb::GridRule::Fixed, grid};
    expectError(b, "kernel 1 has a fixed grid out of range");
  }
  {
    ProgramBuilder b;
    b.kernels[1].launch = Launch{std::nullopt, fb::GridRule::Fixed};
    expectError(b, "kernel 1 has a fixed grid out of range");
    b.kernels[1].launch =
        Launch{std::nullopt, fb::GridRule::PerIndex, Dims{1, 1, 1}};
    expectError(b, "kernel 1 has a grid but derives it from its work");
    b.kernels[1].launch = Launch{std::nullopt, static_cast<fb::GridRule>(2)};
    expectError(b, "kernel 1 has an unknown grid rule");
    b.kernels[1].launch = Launch{std::nullopt, fb::GridRule::PerIndex,
                                 std::nullopt, 227 * 1024 + 1};
    expectError(b, "kernel 1 asks for more dynamic shared memory than a "
                   "block has");
  }
  // Clusters: 1 to 8 blocks, and a grid of whole clusters.
  {
    ProgramBuilder b;
    b.kernels[2].extent = 256;
    b.kernels[2].launch = Launch{Dims{32, 1, 1}};
    b.kernels[2].launch->cluster = 8;
    std::vector<uint8_t> clustered = b.build();
    Expected<Program> p = loadBytes(clustered);
    ASSERT_TRUE(p.ok()) << p.error();
    EXPECT_EQ(launchShapeOf(*p.value().fb().kernels()->Get(2)).cluster, 8u);
    b.kernels[2].launch->cluster = 0;
    expectError(b, "kernel 2 has a cluster of 0 blocks (1 to 8)");
    b.kernels[2].launch->cluster = 16;
    expectError(b, "kernel 2 has a cluster of 16 blocks (1 to 8)");
    b.kernels[2].launch->cluster = 3; // 8 blocks of 32 threads
    expectError(b, "kernel 2 has a grid that is not whole clusters");
    b.kernels[0].launch = Launch{};
    b.kernels[0].launch->cluster = 2; // over tokens: not known to divide
    b.kernels[2].launch->cluster = 4;
    expectError(b, "kernel 0 has a grid that is not whole clusters");
    b.kernels[0].launch =
        Launch{std::nullopt, fb::GridRule::Fixed, Dims{6, 1, 1}};
    b.kernels[0].launch->cluster = 4;
    expectError(b, "kernel 0 has a grid that is not whole clusters");
    b.kernels[0].launch->grid = Dims{8, 1, 1};
    expectLoads(b);
  }
  EXPECT_EQ(launchShapeOf(*kernels.Get(1)).cluster, 1u); // absent: none
}

TEST(ProgramTest, HostTwinsMatchTheKernels) {
  ProgramBuilder builder;
  builder.hostTwins = builder.kernels;
  expectLoads(builder);
  builder.hostTwins.pop_back();
  EXPECT_EQ(loadError(builder),
            corrupted("host twins do not match the kernels"));
  builder.hostTwins = builder.kernels;
  builder.hostTwins[2].extent = 0;
  EXPECT_EQ(loadError(builder),
            corrupted("host twin 2 has an extent out of range"));
}

TEST(ProgramTest, KernelVariantsAreChecked) {
  // lm_head (kernel 2) with a one-row variant (kernel 4, a copy of it).
  ProgramBuilder builder;
  builder.kernels.push_back(builder.kernels[2]);
  builder.kernels[4].name = "lm_head_one_row";
  builder.kernels[4].extent = 64;
  builder.kernels[2].variants = {{1, 4}};
  {
    std::vector<uint8_t> bytes = builder.build();
    Expected<Program> program = loadBytes(bytes);
    ASSERT_TRUE(program.ok()) << program.error();
    EXPECT_EQ(program.value().kernelFor(2, 1), 4u);
    EXPECT_EQ(program.value().kernelFor(2, 2), 2u);
    EXPECT_EQ(program.value().kernelFor(0, 1), 0u);
    // The first variant a launch's rows fit.
    builder.kernels.push_back(builder.kernels[4]);
    builder.kernels[2].variants = {{1, 4}, {3, 5}};
    bytes = builder.build();
    program = loadBytes(bytes);
    ASSERT_TRUE(program.ok()) << program.error();
    EXPECT_EQ(program.value().kernelFor(2, 1), 4u);
    EXPECT_EQ(program.value().kernelFor(2, 2), 5u);
    EXPECT_EQ(program.value().kernelFor(2, 3), 5u);
    EXPECT_EQ(program.value().kernelFor(2, 4), 2u);
    builder.kernels.pop_back();
  }
  auto broken = [&](std::vector<fb::KernelVariant> variants) {
    ProgramBuilder b = builder;
    b.kernels[2].variants = std::move(variants);
    return b;
  };
  const std::string order =
      corrupted("kernel 2: variant rows must be positive and increasing");
  EXPECT_EQ(loadError(broken({{0, 4}})), order);
  EXPECT_EQ(loadError(broken({{2, 4}, {2, 4}})), order);
  EXPECT_EQ(loadError(broken({{1, 5}})),
            corrupted("kernel 2: variant kernel 5 out of range or itself"));
  EXPECT_EQ(loadError(broken({{1, 2}})),
            corrupted("kernel 2: variant kernel 2 out of range or itself"));
  const std::string other =
      corrupted("kernel 2: variant kernel 4 has variants, or other rows, "
                "outputs or cache writes");
  ProgramBuilder b = broken({{1, 4}});
  b.kernels[4].variants = {{1, 2}};
  EXPECT_EQ(loadError(b), other);
  b = broken({{1, 4}});
  b.kernels[4].rows = fb::RowCount::Tokens;
  EXPECT_EQ(loadError(b), other);
  b = broken({{1, 4}});
  b.kernels[4].outputs = {{4, fb::DType::F32, 32}};
  EXPECT_EQ(loadError(b), other);
  b = broken({{1, 4}});
  b.kernels[4].writesCache = true;
  EXPECT_EQ(loadError(b), other);
  // Twins mirror kernels one for one: a twin has no variants.
  b = broken({{1, 4}});
  b.hostTwins = b.kernels;
  b.hostTwins[2].variants.clear();
  expectLoads(b);
  b.hostTwins[2].variants = {{1, 4}};
  EXPECT_EQ(loadError(b), corrupted("host twin 2 has variants"));
}

TEST(ProgramTest, KernelCostsAreChecked) {
  using Cost = test::KernelSpec::Cost;
  ProgramBuilder builder;
  Cost linear;
  linear.bytesFixed = 2048;
  linear.bytesPerRow = 128;
  linear.flopsPerRow = 2048;
  builder.kernels[1].cost = linear;
  Cost experts;
  experts.bytesPerExpert = 65552;
  experts.experts = 16;
  experts.expertsPerRow = 4;
  experts.fp8 = true;
  builder.kernels[2].cost = experts;
  builder.hostTwins = builder.kernels;
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = loadBytes(bytes);
  ASSERT_TRUE(program.ok()) << program.error();
  const fb::KernelCost *cost = program.value().fb().kernels()->Get(2)->cost();
  ASSERT_NE(cost, nullptr);
  EXPECT_EQ(cost->bytes_per_expert(), 65552);
  EXPECT_EQ(cost->experts_per_row(), 4);
  EXPECT_TRUE(cost->fp8());
  EXPECT_EQ(program.value().fb().kernels()->Get(0)->cost(), nullptr);

  // Programs are external input: the profile divides by these.
  std::string coefficient = corrupted(
      "kernel 1 has a cost coefficient that is negative or not finite");
  for (double bad : {-1.0, std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    for (double Cost::*field :
         {&Cost::bytesFixed, &Cost::bytesPerRow, &Cost::bytesPerContext,
          &Cost::bytesPerExpert, &Cost::flopsPerRow, &Cost::flopsPerContext}) {
      ProgramBuilder bad1 = builder;
      bad1.hostTwins.clear();
      (*bad1.kernels[1].cost).*field = bad;
      EXPECT_EQ(loadError(bad1), coefficient) << bad;
    }
  }
  std::string experts1 =
      corrupted("kernel 2 has a cost with experts_per_row outside [0, "
                "experts]");
  builder.hostTwins.clear();
  builder.kernels[2].cost->expertsPerRow = 17;
  EXPECT_EQ(loadError(builder), experts1);
  builder.kernels[2].cost->expertsPerRow = -1;
  EXPECT_EQ(loadError(builder), experts1);
  builder.kernels[2].cost->expertsPerRow = 4;
  builder.kernels[2].cost->experts = -4;
  EXPECT_EQ(loadError(builder), experts1);
  // Host twins are checked alike.
  builder = ProgramBuilder();
  builder.hostTwins = builder.kernels;
  builder.hostTwins[0].cost = Cost{};
  builder.hostTwins[0].cost->flopsPerRow = -2;
  EXPECT_EQ(loadError(builder),
            corrupted("host twin 0 has a cost coefficient that is negative or "
                      "not finite"));
}

TEST(ProgramTest, DeviceCeilingsAreChecked) {
  ProgramBuilder builder;
  builder.device = test::DeviceSpec{};
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = loadBytes(bytes);
  ASSERT_TRUE(program.ok()) << program.error();
  const fb::DeviceCeilings *device = program.value().fb().device();
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(device->name()->str(), "h200");
  EXPECT_EQ(device->memory_bytes_per_second(), 4.26e12);
  // A device without fp8 tensor cores has a ceiling of 0.
  builder.device->fp8FlopsPerSecond = 0;
  expectLoads(builder);
  for (double bad : {-1.0, std::nan(""), HUGE_VAL}) {
    builder.device->bf16FlopsPerSecond = bad;
    EXPECT_EQ(loadError(builder),
              corrupted("device ceilings: a ceiling is negative or not "
                        "finite"))
        << bad;
  }
  builder.device = test::DeviceSpec{};
  builder.device->l2Bytes = -1;
  EXPECT_EQ(loadError(builder), corrupted("device ceilings: negative L2 size"));
  builder.device = test::DeviceSpec{};
  builder.device->name = "";
  EXPECT_EQ(loadError(builder), corrupted("device ceilings without a name"));
}

//===--- the weight manifest ----------------------------------------------===//

TEST(ProgramTest, Fp8WeightWithoutScales) {
  std::string message = corrupted(
      "weight 1 ('lm_head'): fp8 weights need scales, others have none");
  ProgramBuilder noScaleTensor;
  noScaleTensor.weights[1].scaleTensor = "";
  EXPECT_EQ(loadError(noScaleTensor), message);
  ProgramBuilder noScaleShape;
  noScaleShape.weights[1].scaleShape = {};
  EXPECT_EQ(loadError(noScaleShape), message);
  ProgramBuilder zeroScaleShape;
  zeroScaleShape.weights[1].scaleShape = {2, 0};
  EXPECT_EQ(loadError(zeroScaleShape), message);
  ProgramBuilder bf16WithScales;
  bf16WithScales.weights[1].dtype = fb::DType::BF16;
  EXPECT_EQ(loadError(bf16WithScales), message);
}

/// A weight split over ranks names a dimension of its shape and at least
/// two ranks; interleaving splits an expert stack's experts; an fp8 part
/// covers whole scale blocks along the split dimension.
TEST(ProgramTest, ShardsAreChecked) {
  auto split = [](int32_t dim, int32_t ranks, bool interleaved = false) {
    ProgramBuilder builder;
    builder.weights[0].shardDim = dim;
    builder.weights[0].shardRanks = ranks;
    builder.weights[0].shardInterleaved = interleaved;
    return builder;
  };
  expectLoads(split(0, 2));
  expectLoads(split(1, 8));
  const std::string embed = "weight 0 ('embed'): ";
  EXPECT_EQ(loadError(split(2, 2)),
            corrupted(embed + "shard of dimension 2 over 2 ranks (needs a "
                              "dimension of its shape and at least 2 ranks)"));
  EXPECT_EQ(loadError(split(-2, 2)),
            corrupted(embed + "shard of dimension -2 over 2 ranks (needs a "
                              "dimension of its shape and at least 2 ranks)"));
  EXPECT_EQ(loadError(split(0, 1)),
            corrupted(embed + "shard of dimension 0 over 1 ranks (needs a "
                              "dimension of its shape and at least 2 ranks)"));
  EXPECT_EQ(loadError(split(-1, 0, true)),
            corrupted(embed + "shard of dimension -1 over 0 ranks (needs a "
                              "dimension of its shape and at least 2 ranks)"));
  EXPECT_EQ(loadError(split(0, 2, true)),
            corrupted(embed + "an interleaved shard splits an expert stack's "
                              "dimension 0"));
  // lm_head: fp8 [32, 16] in blocks of 16 x 16.
  ProgramBuilder fp8;
  fp8.weights[1].scaleBlockRows = fp8.weights[1].scaleBlockCols = 16;
  fp8.weights[1].shardDim = 0;
  fp8.weights[1].shardRanks = 2;
  expectLoads(fp8);
  fp8.weights[1].scaleBlockRows = 30;
  fp8.weights[1].scaleBlockCols = 20;
  EXPECT_EQ(loadError(fp8),
            corrupted("weight 1 ('lm_head'): an fp8 part must cover whole "
                      "scale blocks along its split dimension"));
}

TEST(ProgramTest, ScaleBlocksCoverTheScaleShape) {
  // lm_head [32, 16] with scales [2, 1]: blocks of 16 x 16 (or 30 x 20).
  ProgramBuilder builder;
  builder.weights[1].scaleBlockRows = 16;
  builder.weights[1].scaleBlockCols = 16;
  expectLoads(builder);
  builder.weights[1].scaleBlockRows = 30;
  builder.weights[1].scaleBlockCols = 20;
  expectLoads(builder);
  builder.weights[1].scaleBlockRows = 8;
  EXPECT_EQ(loadError(builder),
            corrupted("weight 1 ('lm_head'): scale shape does not cover its "
                      "shape in blocks of 8 x 20"));
  builder.weights[1].scaleBlockRows = 16;
  builder.weights[1].scaleBlockCols = 0;
  EXPECT_EQ(loadError(builder),
            corrupted("weight 1 ('lm_head'): scale blocks 16 x 0 must be "
                      "positive"));
  ProgramBuilder bf16;
  bf16.weights[0].scaleBlockRows = 128;
  bf16.weights[0].scaleBlockCols = 128;
  EXPECT_EQ(loadError(bf16),
            corrupted("weight 0 ('embed'): scale blocks 128 x 128 on a weight "
                      "that is not fp8"));
}

TEST(ProgramTest, QuantizedAtLoadWeights) {
  // lm_head quantized at load from bf16: no scale tensor, blocks recorded.
  auto quantized = [] {
    ProgramBuilder builder;
    builder.weights[1].scaleTensor = "";
    builder.weights[1].scaleBlockRows = 16;
    builder.weights[1].scaleBlockCols = 16;
    builder.weights[1].quantizedAtLoad = true;
    return builder;
  };
  expectLoads(quantized());
  {
    // A stack of experts [3, 130, 70] in 128 x 128 blocks: scales [3, 2, 1].
    ProgramBuilder builder = quantized();
    test::WeightSpec experts("experts", "model.experts.{e}.w",
                             fb::DType::F8_E4M3, {3, 130, 70}, "", {3, 2, 1},
                             3);
    experts.scaleBlockRows = experts.scaleBlockCols = 128;
    experts.quantizedAtLoad = true;
    builder.weights.push_back(experts);
    expectLoads(builder);
    builder.weights.back().scaleShape = {3, 1, 1};
    EXPECT_EQ(loadError(builder),
              corrupted("weight 2 ('experts'): scale shape does not cover its "
                        "shape in blocks of 128 x 128"));
    builder.weights.back().scaleShape = {2, 1};
    EXPECT_EQ(loadError(builder),
              corrupted("weight 2 ('experts'): experts do not match its "
                        "scale shape"));
  }
  ProgramBuilder withScaleTensor = quantized();
  withScaleTensor.weights[1].scaleTensor = "lm_head.weight_scale_inv";
  EXPECT_EQ(loadError(withScaleTensor),
            corrupted("weight 1 ('lm_head'): a weight quantized at load has "
                      "no scale tensor"));
  ProgramBuilder noBlocks = quantized();
  noBlocks.weights[1].scaleBlockRows = noBlocks.weights[1].scaleBlockCols = 0;
  EXPECT_EQ(loadError(noBlocks),
            corrupted("weight 1 ('lm_head'): scale blocks 0 x 0 must be "
                      "positive (quantized at load)"));
  ProgramBuilder noScaleShape = quantized();
  noScaleShape.weights[1].scaleShape = {};
  EXPECT_EQ(loadError(noScaleShape),
            corrupted("weight 1 ('lm_head'): fp8 weights need scales, others "
                      "have none"));
  ProgramBuilder bf16 = quantized();
  bf16.weights[1].dtype = fb::DType::BF16;
  EXPECT_EQ(loadError(bf16),
            corrupted("weight 1 ('lm_head'): only fp8 weights are quantized "
                      "at load"));
  // Its scales are a launch argument like a checkpoint fp8 weight's.
  ProgramBuilder scalesArg = quantized();
  scalesArg.entries[0].launches[0].args.push_back(
      fb::Arg(fb::ArgKind::WeightScales, 1));
  expectLoads(scalesArg);
}

TEST(ProgramTest, NonPositiveShape) {
  std::string message =
      corrupted("weight 0: missing name or non-positive shape");
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{32, 0}, {-1, 16}, {}, {16, -16}}) {
    ProgramBuilder builder;
    builder.weights[0].shape = shape;
    EXPECT_EQ(loadError(builder), message) << shape.size();
  }
  ProgramBuilder noSymbol;
  noSymbol.weights[0].symbol = "";
  EXPECT_EQ(loadError(noSymbol), message);
  ProgramBuilder noTensor;
  noTensor.weights[0].tensor = "";
  EXPECT_EQ(loadError(noTensor), message);
}

TEST(ProgramTest, WeightBytesMustNotWrapAround) {
  // 2^62 f32 elements are 2^64 bytes: too many to allocate or map.
  std::string message =
      corrupted("weight 0: missing name or non-positive shape");
  ProgramBuilder builder;
  builder.weights[0].dtype = fb::DType::F32;
  builder.weights[0].shape = {int64_t(1) << 31, int64_t(1) << 31};
  EXPECT_EQ(loadError(builder), message);
  builder.weights[0].shape = {(int64_t(1) << 62) - 1};
  EXPECT_EQ(loadError(builder), message);
  // 2^60 elements still load (and would fail to allocate, not overflow).
  builder.weights[0].shape = {int64_t(1) << 30, int64_t(1) << 30};
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = loadBytes(bytes);
  ASSERT_TRUE(program.ok()) << program.error();
  EXPECT_EQ(program.value().weightElements(0), uint64_t(1) << 60);
}

TEST(ProgramTest, UnknownWeightDType) {
  ProgramBuilder builder;
  builder.weights[0].dtype = static_cast<fb::DType>(9);
  EXPECT_EQ(loadError(builder),
            corrupted("weight 0 ('embed'): unknown dtype 9"));
}

TEST(ProgramTest, ExpertsMismatchingShape) {
  auto withExperts = [](int64_t experts, std::vector<int64_t> shape) {
    ProgramBuilder builder;
    builder.weights.push_back({"experts",
                               "model.experts.{e}.w",
                               fb::DType::BF16,
                               shape,
                               "",
                               {},
                               experts});
    return builder;
  };
  std::string message =
      corrupted("weight 2 ('experts'): experts do not match its shape");
  EXPECT_EQ(loadError(withExperts(3, {2, 4, 4})), message);
  EXPECT_EQ(loadError(withExperts(3, {4, 3, 4})), message);
  EXPECT_EQ(loadError(withExperts(3, {3})), message);
  EXPECT_EQ(loadError(withExperts(-1, {3, 4, 4})), message);
  expectLoads(withExperts(3, {3, 4, 4}));
  expectLoads(withExperts(0, {3, 4, 4})); // no stack: one tensor
}

TEST(ProgramTest, ExpertScalesMismatchingExperts) {
  // Stacked scales carry the expert dimension first, like the weights;
  // otherwise the scale buffer would be too small for every expert's scales.
  ProgramBuilder builder;
  builder.weights.push_back({"experts",
                             "model.experts.{e}.w",
                             fb::DType::F8_E4M3,
                             {3, 4, 8},
                             "model.experts.{e}.w_scale_inv",
                             {1, 1, 1},
                             3});
  EXPECT_EQ(loadError(builder),
            corrupted("weight 2 ('experts'): experts do not match its scale "
                      "shape"));
  builder.weights.back().scaleShape = {3, 1, 1};
  expectLoads(builder);
}

} // namespace
} // namespace dsrt
