//===- WeightsTest.cpp - tests of the weight store --------------*- C++ -*-===//
//
// Unit tests of dsrt/Weights.h against a hand-built manifest (a bf16 matrix,
// an fp8 matrix with scales, an f32 vector, and stacks of three experts in
// bf16 and in fp8 with scales) and a checkpoint folder of two shards that
// holds exactly those tensors with random payloads, the experts spread over
// both shards out of order. Covers check() and its messages, load() copying
// the exact bytes, dummy() weights, and the image appendImage() writes and
// fromExecutable() maps back. Weights quantized at load (--quantize=fp8)
// have their own manifest: check() expects their bf16 tensors, load() and
// dummy() quantise them exactly as dsrt/Quantize.h does. The readers
// (dsrt/WeightSource.h, dsrt/WeightStreaming.h) land the same bytes for
// every thread count, span size and staging ring, and stop at a shard cut
// short by naming it.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Weights.h"

#include "dsrt/Quantize.h"
#include "dsrt/WeightSource.h"
#include "dsrt/WeightStreaming.h"

#include "ProgramBuilder.h"
#include "SafetensorsBuilder.h"
#include "TempDir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

namespace dsrt {
namespace {

using test::ProgramBuilder;
using test::SafetensorsBuilder;
using test::TempDir;

const char *kGate = "model.layers.1.mlp.experts.{e}.gate_proj.weight";
const char *kUp = "model.layers.1.mlp.experts.{e}.up_proj.weight";
const char *kUpScale =
    "model.layers.1.mlp.experts.{e}.up_proj.weight_scale_inv";

std::string expert(const char *pattern, int e) {
  std::string name = pattern;
  return name.replace(name.find("{e}"), 3, std::to_string(e));
}

/// The manifest: ProgramBuilder's embed (bf16 [32, 16], weight 0) and
/// lm_head (fp8 [32, 16], scales [2, 1], weight 1), then the f32 norm [16]
/// (weight 2), three bf16 gate experts [3, 4, 6] (weight 3) and three fp8
/// up experts [3, 6, 4] with scales [3, 2, 1] (weight 4).
ProgramBuilder manifest() {
  ProgramBuilder builder;
  builder.weights.push_back(
      {"norm", "model.norm.weight", fb::DType::F32, {16}});
  builder.weights.push_back(
      {"gate", kGate, fb::DType::BF16, {3, 4, 6}, "", {}, 3});
  builder.weights.push_back(
      {"up", kUp, fb::DType::F8_E4M3, {3, 6, 4}, kUpScale, {3, 2, 1}, 3});
  return builder;
}

/// The checkpoint tensors behind each manifest entry, in manifest order:
/// {data parts, scale parts}.
std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>
partsByWeight() {
  return {
      {{"model.embed_tokens.weight"}, {}},
      {{"lm_head.weight"}, {"lm_head.weight_scale_inv"}},
      {{"model.norm.weight"}, {}},
      {{expert(kGate, 0), expert(kGate, 1), expert(kGate, 2)}, {}},
      {{expert(kUp, 0), expert(kUp, 1), expert(kUp, 2)},
       {expert(kUpScale, 0), expert(kUpScale, 1), expert(kUpScale, 2)}},
  };
}

struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  int shard; // 0: a.safetensors, 1: b.safetensors
};

/// Every tensor the manifest needs, experts out of order across the shards.
std::vector<TensorSpec> matchingTensors() {
  return {
      {expert(kGate, 2), DType::BF16, {4, 6}, 0},
      {"model.embed_tokens.weight", DType::BF16, {32, 16}, 0},
      {expert(kUp, 1), DType::F8_E4M3, {6, 4}, 0},
      {expert(kUpScale, 2), DType::F32, {2, 1}, 0},
      {expert(kGate, 0), DType::BF16, {4, 6}, 0},
      {"lm_head.weight_scale_inv", DType::F32, {2, 1}, 0},
      {"lm_head.weight", DType::F8_E4M3, {32, 16}, 1},
      {expert(kUpScale, 1), DType::F32, {2, 1}, 1},
      {expert(kUp, 2), DType::F8_E4M3, {6, 4}, 1},
      {"model.norm.weight", DType::F32, {16}, 1},
      {expert(kGate, 1), DType::BF16, {4, 6}, 1},
      {expert(kUp, 0), DType::F8_E4M3, {6, 4}, 1},
      {expert(kUpScale, 0), DType::F32, {2, 1}, 1},
      {"model.layers.0.unused.weight",
       DType::BF16,
       {2},
       1}, // not in the manifest
  };
}

/// A checkpoint folder of two loose shards holding `tensors`.
struct CheckpointFolder {
  TempDir dir;
  std::map<std::string, std::vector<uint8_t>> payloads;

  explicit CheckpointFolder(const std::vector<TensorSpec> &tensors) {
    SafetensorsBuilder shards[2] = {SafetensorsBuilder(11),
                                    SafetensorsBuilder(12)};
    for (const TensorSpec &t : tensors) {
      shards[t.shard].add(t.name, t.dtype, t.shape);
      payloads[t.name] = shards[t.shard].payload(t.name);
    }
    dir.writeFile("a.safetensors", shards[0].build());
    dir.writeFile("b.safetensors", shards[1].build());
  }

  Checkpoint open() const {
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir.path());
    EXPECT_TRUE(checkpoint.ok()) << checkpoint.error();
    return checkpoint.take();
  }

  /// The payloads of `names`, one after the other.
  std::vector<uint8_t> joined(const std::vector<std::string> &names) const {
    std::vector<uint8_t> bytes;
    for (const std::string &name : names) {
      const std::vector<uint8_t> &payload = payloads.at(name);
      bytes.insert(bytes.end(), payload.begin(), payload.end());
    }
    return bytes;
  }
};

/// A loaded program together with the bytes it views.
struct LoadedProgram {
  std::vector<uint8_t> bytes;
  std::optional<Program> program;

  explicit LoadedProgram(const ProgramBuilder &builder)
      : bytes(builder.build()) {
    Expected<Program> loaded =
        Program::load(bytes.data(), bytes.size(), "test");
    EXPECT_TRUE(loaded.ok()) << loaded.error();
    if (loaded)
      program.emplace(loaded.take());
  }
  const Program &operator*() const { return *program; }
};

uint64_t alignUp(uint64_t n) { return (n + 63) / 64 * 64; }

/// Bytes of weight i (or its scales) without padding.
uint64_t dataBytes(const Program &program, uint32_t i) {
  return program.weightElements(i) *
         dtypeBytes(program.fb().weights()->Get(i)->dtype());
}
uint64_t scaleBytes(const Program &program, uint32_t i) {
  return program.scaleElements(i) * 4;
}

bool isAligned(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0;
}

/// Expects `actual` to hold the bytes of `expected` for every weight.
void expectSameWeights(const Program &program, const WeightStore &expected,
                       const WeightStore &actual) {
  ASSERT_EQ(actual.numWeights(), expected.numWeights());
  for (uint32_t i = 0; i < expected.numWeights(); ++i) {
    EXPECT_TRUE(isAligned(actual.data(i))) << i;
    EXPECT_EQ(
        std::memcmp(actual.data(i), expected.data(i), dataBytes(program, i)), 0)
        << "weight " << i;
    ASSERT_EQ(actual.scales(i) == nullptr, expected.scales(i) == nullptr) << i;
    if (!expected.scales(i))
      continue;
    EXPECT_TRUE(isAligned(actual.scales(i))) << i;
    EXPECT_EQ(std::memcmp(actual.scales(i), expected.scales(i),
                          scaleBytes(program, i)),
              0)
        << "scales of weight " << i;
  }
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

std::vector<uint8_t> randomBytes(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  return test::randomPayload(size, random);
}

/// The message check() gives for `lines` problems in `dir`.
std::string problems(const std::string &dir,
                     const std::vector<std::string> &lines) {
  std::string message = dir +
                        ": the checkpoint does not hold the weights "
                        "this program was compiled for (" +
                        std::to_string(lines.size()) + " problems):";
  for (const std::string &line : lines)
    message += "\n  " + line;
  return message;
}

//===--- check() and load() -----------------------------------------------===//

TEST(WeightsTest, MatchingCheckpointPassesCheck) {
  LoadedProgram program(manifest());
  CheckpointFolder folder(matchingTensors());
  Checkpoint checkpoint = folder.open();
  Status status = WeightStore::check(*program, checkpoint);
  EXPECT_TRUE(status.ok()) << status.error();
}

TEST(WeightsTest, LoadCopiesTheCheckpointBytes) {
  LoadedProgram program(manifest());
  CheckpointFolder folder(matchingTensors());
  Checkpoint checkpoint = folder.open();
  std::vector<std::pair<uint64_t, uint64_t>> reports;
  WeightStore::LoadTimes times;
  Expected<WeightStore> loaded = WeightStore::load(
      *program, checkpoint,
      [&](uint64_t done, uint64_t total) { reports.push_back({done, total}); },
      &times);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const WeightStore &store = loaded.value();

  auto parts = partsByWeight();
  ASSERT_EQ(store.numWeights(), parts.size());
  uint64_t tensorBytes = 0, paddedBytes = 0;
  for (uint32_t i = 0; i < parts.size(); ++i) {
    // Expert stacks are contiguous in expert order, scales likewise.
    std::vector<uint8_t> data = folder.joined(parts[i].first);
    ASSERT_EQ(data.size(), dataBytes(*program, i)) << i;
    EXPECT_TRUE(isAligned(store.data(i))) << i;
    EXPECT_EQ(std::memcmp(store.data(i), data.data(), data.size()), 0)
        << "weight " << i;
    tensorBytes += data.size();
    paddedBytes += alignUp(data.size());
    if (parts[i].second.empty()) {
      EXPECT_EQ(store.scales(i), nullptr) << i;
      continue;
    }
    std::vector<uint8_t> scales = folder.joined(parts[i].second);
    ASSERT_EQ(scales.size(), scaleBytes(*program, i)) << i;
    ASSERT_NE(store.scales(i), nullptr) << i;
    EXPECT_TRUE(isAligned(store.scales(i))) << i;
    EXPECT_EQ(std::memcmp(store.scales(i), scales.data(), scales.size()), 0)
        << "scales of weight " << i;
    tensorBytes += scales.size();
    paddedBytes += alignUp(scales.size());
  }
  EXPECT_EQ(store.totalBytes(), paddedBytes);

  // Reports count up to every tensor byte, never going back.
  ASSERT_FALSE(reports.empty());
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].second, tensorBytes);
    EXPECT_LE(reports[i].first, reports[i].second);
    if (i > 0) {
      EXPECT_GE(reports[i].first, reports[i - 1].first);
    }
  }
  EXPECT_EQ(reports.back().first, tensorBytes);

  // The start-up report's split: every tensor byte read, none quantized.
  EXPECT_EQ(times.readBytes, tensorBytes);
  EXPECT_EQ(times.quantizedBytes, 0u);
  EXPECT_GE(times.checkSeconds, 0.0);
  EXPECT_GE(times.readSeconds, 0.0);
}

TEST(WeightsTest, CheckListsEveryProblemByName) {
  std::vector<TensorSpec> tensors = matchingTensors();
  auto find = [&](const std::string &name) {
    return std::find_if(tensors.begin(), tensors.end(),
                        [&](const TensorSpec &t) { return t.name == name; });
  };
  tensors.erase(find("model.norm.weight"));
  tensors.erase(find("lm_head.weight_scale_inv"));
  tensors.erase(find(expert(kUpScale, 2)));
  find("model.embed_tokens.weight")->dtype = DType::F32;
  find(expert(kGate, 1))->shape = {6, 4};
  find(expert(kUp, 0))->dtype = DType::BF16;
  find(expert(kUp, 0))->shape = {6};
  CheckpointFolder folder(tensors);
  Checkpoint checkpoint = folder.open();
  LoadedProgram program(manifest());

  // In manifest order: each weight's data, then its scales.
  std::string expected = problems(
      folder.dir.path(),
      {"tensor 'model.embed_tokens.weight' is F32 [32, 16], expected BF16 "
       "[32, 16]",
       "missing tensor 'lm_head.weight_scale_inv' (expected F32 [2, 1])",
       "missing tensor 'model.norm.weight' (expected F32 [16])",
       "tensor '" + expert(kGate, 1) + "' is BF16 [6, 4], expected BF16 [4, 6]",
       "tensor '" + expert(kUp, 0) + "' is BF16 [6], expected F8_E4M3 [6, 4]",
       "missing tensor '" + expert(kUpScale, 2) + "' (expected F32 [2, 1])"});
  Status status = WeightStore::check(*program, checkpoint);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), expected);

  Expected<WeightStore> loaded = WeightStore::load(*program, checkpoint);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error(), expected);
}

TEST(WeightsTest, ManyProblemsAreSummarised) {
  CheckpointFolder folder(matchingTensors());
  Checkpoint checkpoint = folder.open();
  const char *pattern = "model.layers.2.mlp.experts.{e}.w";
  for (int experts : {20, 21, 30}) {
    ProgramBuilder builder = manifest();
    builder.weights.push_back(
        {"absent", pattern, fb::DType::BF16, {experts, 2, 2}, "", {}, experts});
    LoadedProgram program(builder);
    std::vector<std::string> lines;
    for (int e = 0; e < std::min(experts, 20); ++e)
      lines.push_back("missing tensor '" + expert(pattern, e) +
                      "' (expected BF16 [2, 2])");
    std::string expected = problems(folder.dir.path(), lines);
    expected.replace(expected.find("(20 problems)"), 13,
                     "(" + std::to_string(experts) + " problems)");
    if (experts > 20)
      expected += "\n  ... and " + std::to_string(experts - 20) + " more";
    Status status = WeightStore::check(*program, checkpoint);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error(), expected) << experts;
  }
}

//===--- dummy() ----------------------------------------------------------===//

TEST(WeightsTest, DummyFillsEveryBuffer) {
  LoadedProgram program(manifest());
  Expected<WeightStore> made = WeightStore::dummy(*program, 7);
  ASSERT_TRUE(made.ok()) << made.error();
  const WeightStore &store = made.value();
  ASSERT_EQ(store.numWeights(), 5u);
  for (uint32_t i = 0; i < store.numWeights(); ++i) {
    const fb::Weight &w = *(*program).fb().weights()->Get(i);
    uint64_t n = (*program).weightElements(i);
    EXPECT_TRUE(isAligned(store.data(i))) << i;
    const uint8_t *data = static_cast<const uint8_t *>(store.data(i));
    std::vector<float> values;
    switch (w.dtype()) {
    case fb::DType::BF16:
      for (uint64_t j = 0; j < n; ++j) {
        uint16_t bits;
        std::memcpy(&bits, data + 2 * j, 2);
        values.push_back(bf16ToFloat(bits));
      }
      break;
    case fb::DType::F32:
      for (uint64_t j = 0; j < n; ++j) {
        float v;
        std::memcpy(&v, data + 4 * j, 4);
        values.push_back(v);
      }
      break;
    case fb::DType::F8_E4M3: {
      std::vector<uint8_t> bytes(data, data + n);
      for (uint8_t b : bytes)
        ASSERT_TRUE(b != 0x7F && b != 0xFF) << "NaN code in weight " << i;
      EXPECT_GT(std::count_if(bytes.begin(), bytes.end(),
                              [&](uint8_t b) { return b != bytes[0]; }),
                0)
          << i;
      break;
    }
    default:
      FAIL() << "unexpected dtype";
    }
    // Finite, small, and not all alike: filled by the generator.
    for (float v : values) {
      ASSERT_TRUE(std::isfinite(v)) << "weight " << i;
      ASSERT_LE(std::fabs(v), 2.0f) << "weight " << i;
    }
    if (!values.empty()) {
      EXPECT_GT(std::count_if(values.begin(), values.end(),
                              [&](float v) { return v != values[0]; }),
                0)
          << i;
    }
    if (w.scale_tensor()) {
      ASSERT_NE(store.scales(i), nullptr) << i;
      EXPECT_TRUE(isAligned(store.scales(i))) << i;
      const float *scales = static_cast<const float *>(store.scales(i));
      for (uint64_t j = 0; j < (*program).scaleElements(i); ++j) {
        EXPECT_TRUE(std::isfinite(scales[j]) && scales[j] > 0.0f &&
                    scales[j] < 1.0f)
            << "scale " << j << " of weight " << i << ": " << scales[j];
      }
    } else {
      EXPECT_EQ(store.scales(i), nullptr) << i;
    }
  }
}

TEST(WeightsTest, DummyIsDeterministicPerSeed) {
  LoadedProgram program(manifest());
  Expected<WeightStore> first = WeightStore::dummy(*program, 7);
  Expected<WeightStore> again = WeightStore::dummy(*program, 7);
  Expected<WeightStore> other = WeightStore::dummy(*program, 8);
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  expectSameWeights(*program, first.value(), again.value());
  for (uint32_t i = 0; i < first.value().numWeights(); ++i)
    EXPECT_NE(std::memcmp(first.value().data(i), other.value().data(i),
                          dataBytes(*program, i)),
              0)
        << "weight " << i << " does not depend on the seed";
}

//===--- weights quantized at load ----------------------------------------===//

const char *kDown = "model.layers.1.mlp.experts.{e}.down_proj.weight";

/// The manifest with two weights quantized at load: o_proj bf16 [20, 9] in
/// blocks of 8 x 8 (scales [3, 2]; weight 2) and a stack of two down_proj
/// experts [2, 5, 7] in blocks of 4 x 4 (scales [2, 2, 2]; weight 3).
ProgramBuilder quantizedManifest() {
  ProgramBuilder builder;
  test::WeightSpec o("o_proj", "model.layers.0.self_attn.o_proj.weight",
                     fb::DType::F8_E4M3, {20, 9}, "", {3, 2});
  o.scaleBlockRows = o.scaleBlockCols = 8;
  o.quantizedAtLoad = true;
  test::WeightSpec down("down", kDown, fb::DType::F8_E4M3, {2, 5, 7}, "",
                        {2, 2, 2}, 2);
  down.scaleBlockRows = down.scaleBlockCols = 4;
  down.quantizedAtLoad = true;
  builder.weights.push_back(o);
  builder.weights.push_back(down);
  return builder;
}

/// Random finite bf16 values (normal, sd 0.05) as little-endian bytes.
std::vector<uint8_t> randomBF16(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<uint8_t> bytes(2 * count);
  for (size_t i = 0; i < count; ++i) {
    float v = normal(random);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    uint16_t half =
        static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    std::memcpy(&bytes[2 * i], &half, 2);
  }
  return bytes;
}

/// A checkpoint for quantizedManifest(): the tensors of matchingTensors()
/// plus bf16 o_proj and down experts with random finite values (`o_proj`
/// and `down` replace their dtype or payload when given).
struct QuantizedCheckpoint {
  TempDir dir;
  std::map<std::string, std::vector<uint8_t>> payloads;

  explicit QuantizedCheckpoint(
      DType dtype = DType::BF16,
      std::optional<std::vector<uint8_t>> oPayload = {}) {
    SafetensorsBuilder shards[2] = {SafetensorsBuilder(11),
                                    SafetensorsBuilder(12)};
    for (const TensorSpec &t : matchingTensors()) {
      shards[t.shard].add(t.name, t.dtype, t.shape);
      payloads[t.name] = shards[t.shard].payload(t.name);
    }
    std::string o = "model.layers.0.self_attn.o_proj.weight";
    payloads[o] = oPayload ? *oPayload : randomBF16(20 * 9, 5);
    if (dtype == DType::BF16)
      shards[1].add(o, dtype, {20, 9}, payloads[o]);
    else
      shards[1].add(o, dtype, {20, 9});
    for (int e = 0; e < 2; ++e) {
      payloads[expert(kDown, e)] = randomBF16(5 * 7, 6 + e);
      shards[e].add(expert(kDown, e), DType::BF16, {5, 7},
                    payloads[expert(kDown, e)]);
    }
    dir.writeFile("a.safetensors", shards[0].build());
    dir.writeFile("b.safetensors", shards[1].build());
  }

  Checkpoint open() const {
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir.path());
    EXPECT_TRUE(checkpoint.ok()) << checkpoint.error();
    return checkpoint.take();
  }
};

/// Quantises `bytes` (rows x cols bf16) by Quantize.h on one thread.
std::pair<std::vector<uint8_t>, std::vector<float>>
quantized(const std::vector<uint8_t> &bytes, int64_t rows, int64_t cols,
          int64_t block) {
  std::vector<uint16_t> source(rows * cols);
  std::memcpy(source.data(), bytes.data(), bytes.size());
  std::vector<uint8_t> values(rows * cols);
  std::vector<float> scales(((rows + block - 1) / block) *
                            ((cols + block - 1) / block));
  EXPECT_EQ(quantizeFP8Blocks(
                {{source.data(), values.data(), scales.data(), rows, cols}},
                block, block, 1),
            0u);
  return {values, scales};
}

TEST(WeightsTest, QuantizedWeightsLoadFromBF16) {
  LoadedProgram program(quantizedManifest());
  QuantizedCheckpoint folder;
  Checkpoint checkpoint = folder.open();
  ASSERT_TRUE(WeightStore::check(*program, checkpoint).ok());
  std::vector<std::pair<uint64_t, uint64_t>> steps;
  Expected<WeightStore> loaded = WeightStore::load(
      *program, checkpoint,
      [&](uint64_t done, uint64_t total) { steps.push_back({done, total}); });
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const WeightStore &store = loaded.value();
  ASSERT_EQ(store.numWeights(), 4u);

  auto [o, oScales] = quantized(
      folder.payloads["model.layers.0.self_attn.o_proj.weight"], 20, 9, 8);
  EXPECT_EQ(std::memcmp(store.data(2), o.data(), o.size()), 0);
  EXPECT_EQ(std::memcmp(store.scales(2), oScales.data(), 4 * oScales.size()),
            0);
  for (int e = 0; e < 2; ++e) {
    auto [d, dScales] = quantized(folder.payloads[expert(kDown, e)], 5, 7, 4);
    EXPECT_EQ(std::memcmp(static_cast<const uint8_t *>(store.data(3)) + 35 * e,
                          d.data(), d.size()),
              0)
        << e;
    EXPECT_EQ(std::memcmp(static_cast<const float *>(store.scales(3)) + 4 * e,
                          dScales.data(), 4 * dScales.size()),
              0)
        << e;
  }
  // Dequantised, the weights are within e4m3's relative half-step.
  const uint8_t *q = static_cast<const uint8_t *>(store.data(2));
  const float *s = static_cast<const float *>(store.scales(2));
  const std::vector<uint8_t> &bf16 =
      folder.payloads["model.layers.0.self_attn.o_proj.weight"];
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c < 9; ++c) {
      uint16_t bits;
      std::memcpy(&bits, &bf16[2 * (r * 9 + c)], 2);
      float w = bf16ToFloat(bits), scale = s[r / 8 * 2 + c / 8];
      EXPECT_NEAR(decodeE4M3(q[r * 9 + c]) * scale, w,
                  std::max(std::fabs(w) / 16, scale / 512) * 1.001f)
          << r << ", " << c;
    }
  // The checkpoint's other weights are copied as before.
  EXPECT_EQ(std::memcmp(store.data(0),
                        folder.payloads["model.embed_tokens.weight"].data(),
                        32 * 16 * 2),
            0);
  ASSERT_FALSE(steps.empty());
  EXPECT_LE(steps.back().first, steps.back().second);
  EXPECT_GT(steps.back().first, steps.front().first);

  // The embedded image keeps the quantised bytes.
  TempDir dir;
  std::string path = dir.writeFile("executable", randomBytes(100, 3));
  ASSERT_TRUE(store.appendImage(*program, path).ok());
  Expected<WeightStore> mapped = WeightStore::fromExecutable(*program, path);
  ASSERT_TRUE(mapped.ok()) << mapped.error();
  expectSameWeights(*program, store, mapped.value());
}

TEST(WeightsTest, QuantizedWeightsNeedBF16Tensors) {
  LoadedProgram program(quantizedManifest());
  QuantizedCheckpoint folder(DType::F8_E4M3);
  Status status = WeightStore::check(*program, folder.open());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find(
                "tensor 'model.layers.0.self_attn.o_proj.weight' is F8_E4M3 "
                "[20, 9], expected BF16 [20, 9] (the program quantizes it to "
                "fp8 at load; compile an fp8 checkpoint without --quantize)"),
            std::string::npos)
      << status.error();
  // No scale tensor is asked for.
  EXPECT_EQ(status.error().find("o_proj.weight_scale_inv"), std::string::npos)
      << status.error();
  Expected<WeightStore> loaded = WeightStore::load(*program, folder.open());
  EXPECT_FALSE(loaded.ok());
}

TEST(WeightsTest, QuantizedWeightsRejectNonFiniteValues) {
  LoadedProgram program(quantizedManifest());
  std::vector<uint8_t> o = randomBF16(20 * 9, 5);
  uint16_t inf = 0x7F80;
  std::memcpy(&o[2 * 17], &inf, 2);
  QuantizedCheckpoint folder(DType::BF16, o);
  Checkpoint checkpoint = folder.open();
  Expected<WeightStore> loaded = WeightStore::load(*program, checkpoint);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error(),
            checkpoint.dir() +
                ": tensor 'model.layers.0.self_attn.o_proj.weight' holds 1 "
                "non-finite value(s) (inf or NaN); it cannot be quantized to "
                "fp8");
}

TEST(WeightsTest, QuantizedDummyWeightsAreTheBF16OnesQuantised) {
  // The same manifest with the two weights in bf16: what a bf16 program of
  // the model holds.
  ProgramBuilder bf16Builder = quantizedManifest();
  for (size_t i = 2; i < 4; ++i) {
    bf16Builder.weights[i].dtype = fb::DType::BF16;
    bf16Builder.weights[i].scaleShape = {};
    bf16Builder.weights[i].scaleBlockRows = 0;
    bf16Builder.weights[i].scaleBlockCols = 0;
    bf16Builder.weights[i].quantizedAtLoad = false;
  }
  LoadedProgram fp8(quantizedManifest()), bf16(bf16Builder);
  Expected<WeightStore> a = WeightStore::dummy(*fp8, 9);
  Expected<WeightStore> b = WeightStore::dummy(*bf16, 9);
  ASSERT_TRUE(a.ok() && b.ok());
  auto bytesOf = [&](uint32_t i, size_t offset, size_t size) {
    const uint8_t *p = static_cast<const uint8_t *>(b.value().data(i));
    return std::vector<uint8_t>(p + offset, p + offset + size);
  };
  auto [o, oScales] = quantized(bytesOf(2, 0, 20 * 9 * 2), 20, 9, 8);
  EXPECT_EQ(std::memcmp(a.value().data(2), o.data(), o.size()), 0);
  EXPECT_EQ(std::memcmp(a.value().scales(2), oScales.data(), 4 * 6), 0);
  for (int e = 0; e < 2; ++e) {
    auto [d, dScales] = quantized(bytesOf(3, e * 70, 70), 5, 7, 4);
    EXPECT_EQ(
        std::memcmp(static_cast<const uint8_t *>(a.value().data(3)) + 35 * e,
                    d.data(), d.size()),
        0)
        << e;
    EXPECT_EQ(
        std::memcmp(static_cast<const float *>(a.value().scales(3)) + 4 * e,
                    dScales.data(), 16),
        0)
        << e;
  }
  // Non-trivial: several distinct codes and positive scales.
  const uint8_t *q = static_cast<const uint8_t *>(a.value().data(2));
  EXPECT_GT(std::set<uint8_t>(q, q + 180).size(), 20u);
  EXPECT_GT(static_cast<const float *>(a.value().scales(2))[0], 0.0f);
}

//===--- the embedded image -----------------------------------------------===//

TEST(WeightsTest, ImageRoundTrip) {
  LoadedProgram program(manifest());
  CheckpointFolder folder(matchingTensors());
  Checkpoint checkpoint = folder.open();
  Expected<WeightStore> loaded = WeightStore::load(*program, checkpoint);
  ASSERT_TRUE(loaded.ok()) << loaded.error();

  TempDir dir;
  std::vector<uint8_t> executable = randomBytes(100, 3);
  std::string path = dir.writeFile("executable", executable);
  Status appended = loaded.value().appendImage(*program, path);
  ASSERT_TRUE(appended.ok()) << appended.error();

  // The executable's bytes stay; the image starts 64-byte aligned after
  // them and the 24-byte trailer ends the file.
  std::vector<uint8_t> file = readFile(path);
  ASSERT_EQ(file.size(), 128 + loaded.value().totalBytes() + 24);
  EXPECT_TRUE(std::equal(executable.begin(), executable.end(), file.begin()));
  EXPECT_EQ(std::memcmp(file.data() + file.size() - 24, "DSCWGT01", 8), 0);

  Expected<WeightStore> mapped = WeightStore::fromExecutable(*program, path);
  ASSERT_TRUE(mapped.ok()) << mapped.error();
  EXPECT_EQ(mapped.value().totalBytes(), loaded.value().totalBytes());
  expectSameWeights(*program, loaded.value(), mapped.value());
  // Mapped from the file: the first weight is where the image starts.
  EXPECT_EQ(std::memcmp(mapped.value().data(0), file.data() + 128,
                        dataBytes(*program, 0)),
            0);

  // The mapping outlives the store it was moved from.
  WeightStore moved = mapped.take();
  expectSameWeights(*program, loaded.value(), moved);
}

TEST(WeightsTest, ImageOfDummyWeightsRoundTrip) {
  LoadedProgram program(manifest());
  Expected<WeightStore> made = WeightStore::dummy(*program, 42);
  ASSERT_TRUE(made.ok()) << made.error();
  TempDir dir;
  std::string path = dir.writeFile("executable", randomBytes(4096, 4));
  ASSERT_TRUE(made.value().appendImage(*program, path).ok());
  Expected<WeightStore> mapped = WeightStore::fromExecutable(*program, path);
  ASSERT_TRUE(mapped.ok()) << mapped.error();
  expectSameWeights(*program, made.value(), mapped.value());
}

TEST(WeightsTest, ExecutableWithoutImage) {
  LoadedProgram program(manifest());
  TempDir dir;
  for (size_t size : {0, 5, 23, 24, 1000}) {
    std::string path = dir.writeFile("plain", randomBytes(size, 5));
    Expected<WeightStore> store = WeightStore::fromExecutable(*program, path);
    ASSERT_TRUE(store.ok()) << size << ": " << store.error();
    EXPECT_EQ(store.value().numWeights(), 0u) << size;
    EXPECT_EQ(store.value().totalBytes(), 0u) << size;
  }
  std::string absent = dir.file("absent");
  Expected<WeightStore> store = WeightStore::fromExecutable(*program, absent);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error(), absent + ": cannot open: No such file or directory");
}

/// Overwrites the trailer of the image at the end of `path`.
void writeTrailer(const std::string &path, uint64_t offset, uint64_t size) {
  std::vector<uint8_t> file = readFile(path);
  ASSERT_GE(file.size(), 24u);
  std::memcpy(file.data() + file.size() - 24, "DSCWGT01", 8);
  std::memcpy(file.data() + file.size() - 16, &offset, 8);
  std::memcpy(file.data() + file.size() - 8, &size, 8);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char *>(file.data()),
             static_cast<std::streamsize>(file.size()));
}

TEST(WeightsTest, DamagedImage) {
  LoadedProgram program(manifest());
  Expected<WeightStore> made = WeightStore::dummy(*program, 1);
  ASSERT_TRUE(made.ok()) << made.error();
  uint64_t size = made.value().totalBytes();
  TempDir dir;
  std::string path = dir.writeFile("executable", randomBytes(100, 6));
  ASSERT_TRUE(made.value().appendImage(*program, path).ok());
  auto damaged = [&](uint64_t imageSize, uint64_t offset, uint64_t needed) {
    return path + ": the embedded weights image is damaged (" +
           std::to_string(imageSize) + " bytes at " + std::to_string(offset) +
           ", the program needs " + std::to_string(needed) + ")";
  };

  // Another program: its weights do not add up to the image.
  LoadedProgram smaller{ProgramBuilder()};
  uint64_t needed = alignUp(32 * 16 * 2) + alignUp(32 * 16) + alignUp(2 * 4);
  Expected<WeightStore> store = WeightStore::fromExecutable(*smaller, path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error(), damaged(size, 128, needed));

  // A trailer that points elsewhere or past the file.
  for (auto [offset, imageSize] : {std::pair<uint64_t, uint64_t>{100, size},
                                   {192, size},
                                   {~uint64_t(0) - 63, size},
                                   {128, size + 64},
                                   {128, ~uint64_t(0)}}) {
    writeTrailer(path, offset, imageSize);
    store = WeightStore::fromExecutable(*program, path);
    ASSERT_FALSE(store.ok()) << offset << " " << imageSize;
    EXPECT_EQ(store.error(), damaged(imageSize, offset, size));
  }
  writeTrailer(path, 128, size);
  store = WeightStore::fromExecutable(*program, path);
  ASSERT_TRUE(store.ok()) << store.error();
  expectSameWeights(*program, made.value(), store.value());
}

TEST(WeightsTest, ImageSizeMustNotWrapAround) {
  // Eight bf16 weights of 2^60 elements need 2^64 bytes: with the sum
  // wrapped to 0, an empty image would seem to hold them all.
  ProgramBuilder builder;
  builder.weights.clear();
  for (int i = 0; i < 8; ++i)
    builder.weights.push_back({"huge" + std::to_string(i),
                               "huge",
                               fb::DType::BF16,
                               {int64_t(1) << 30, int64_t(1) << 30}});
  // bf16 weights have no scales to point at.
  for (test::EntrySpec &entry : builder.entries)
    for (test::LaunchSpec &launch : entry.launches)
      launch.args.erase(std::remove_if(launch.args.begin(), launch.args.end(),
                                       [](const fb::Arg &a) {
                                         return a.kind() ==
                                                fb::ArgKind::WeightScales;
                                       }),
                        launch.args.end());
  LoadedProgram program(builder);
  TempDir dir;
  std::string path = dir.writeFile("executable", std::vector<uint8_t>(88, 0));
  writeTrailer(path, 0, 0);
  Expected<WeightStore> store = WeightStore::fromExecutable(*program, path);
  ASSERT_FALSE(store.ok()) << "mapped " << store.value().numWeights()
                           << " weights from an empty image";
  EXPECT_NE(store.error().find("damaged"), std::string::npos) << store.error();
}

//===--- sources, spans and the readers -----------------------------------===//

/// The two manifests (plain, and quantized at load) with their checkpoints
/// and sources.
struct BothSources {
  LoadedProgram plain{manifest()}, quantizing{quantizedManifest()};
  CheckpointFolder folder{matchingTensors()};
  QuantizedCheckpoint quantizedFolder;
  Checkpoint checkpoints[2] = {folder.open(), quantizedFolder.open()};
  const Program *programs[2] = {&*plain, &*quantizing};
  std::vector<WeightSource> sources;

  BothSources() {
    for (int k = 0; k < 2; ++k) {
      Expected<WeightSource> source =
          WeightSource::fromCheckpoint(*programs[k], checkpoints[k]);
      EXPECT_TRUE(source.ok()) << source.error();
      if (source)
        sources.push_back(source.take());
    }
  }
};

/// Every thread count (capped, past the spans' count) and span size (down
/// to one byte, so expert tensors and quantized matrices are cut) loads the
/// same bytes as one reader with whole tensors.
TEST(WeightsTest, LoadIsTheSameForEveryThreadCountAndSpanSize) {
  BothSources both;
  ASSERT_EQ(both.sources.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const WeightSource &source = both.sources[k];
    WeightStore::LoadOptions one;
    one.threads = 1;
    one.spanBytes = uint64_t(1) << 30;
    Expected<WeightStore> reference = WeightStore::load(source, one);
    ASSERT_TRUE(reference.ok()) << reference.error();
    for (unsigned threads : {1u, 2u, 3u, 8u, 100u})
      for (uint64_t spanBytes : {1u, 7u, 64u, 150u, 1u << 20}) {
        SCOPED_TRACE("threads " + std::to_string(threads) + ", spans of " +
                     std::to_string(spanBytes) + " bytes, program " +
                     std::to_string(k));
        WeightStore::LoadOptions options;
        options.threads = threads;
        options.spanBytes = spanBytes;
        uint64_t last = 0;
        bool backwards = false;
        options.progress = [&](uint64_t done, uint64_t total) {
          backwards |= done < last || done > total;
          last = done;
        };
        Expected<WeightStore> loaded = WeightStore::load(source, options);
        ASSERT_TRUE(loaded.ok()) << loaded.error();
        expectSameWeights(*both.programs[k], reference.value(), loaded.value());
        EXPECT_FALSE(backwards);
        EXPECT_EQ(last, source.sourceBytes());
      }
  }
}

/// The spans of a source cover each piece once, in order within each file;
/// a quantized piece's spans are whole rows of blocks.
TEST(WeightsTest, SpansCoverEveryPieceOnce) {
  LoadedProgram program(quantizedManifest());
  QuantizedCheckpoint folder;
  Checkpoint checkpoint = folder.open();
  Expected<WeightSource> made =
      WeightSource::fromCheckpoint(*program, checkpoint);
  ASSERT_TRUE(made.ok()) << made.error();
  const WeightSource &source = made.value();
  EXPECT_TRUE(source.quantizes());
  uint64_t pieceBytes = 0;
  for (const WeightSource::Piece &piece : source.pieces())
    pieceBytes += piece.bytes;
  EXPECT_EQ(source.sourceBytes(), pieceBytes);
  for (uint64_t maxBytes : {1u, 100u, 150u, 4096u}) {
    std::vector<WeightSource::Span> spans = source.spans(maxBytes);
    std::vector<uint64_t> covered(source.pieces().size(), 0);
    std::map<const SafetensorsFile *, uint64_t> lastInFile;
    for (const WeightSource::Span &span : spans) {
      const WeightSource::Piece &piece = source.pieces()[span.piece];
      // In order: each span starts where the piece's last one ended.
      EXPECT_EQ(span.begin, covered[span.piece]) << maxBytes;
      covered[span.piece] += span.bytes;
      uint64_t at = piece.tensor->begin + span.begin;
      EXPECT_GE(at, lastInFile[piece.file]) << maxBytes;
      lastInFile[piece.file] = at;
      if (piece.quantize) {
        uint64_t band = uint64_t(piece.blockRows * piece.cols) * 2;
        EXPECT_EQ(span.begin % band, 0u) << maxBytes;
        EXPECT_TRUE(span.bytes % band == 0 ||
                    span.begin + span.bytes == piece.bytes)
            << maxBytes;
      } else {
        EXPECT_LE(span.bytes, maxBytes);
      }
    }
    for (size_t p = 0; p < covered.size(); ++p)
      EXPECT_EQ(covered[p], source.pieces()[p].bytes) << p;
  }
}

/// A ring of `count` staging buffers of `bytes` each, in host memory.
struct StagingRing {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<uint8_t *> buffers;
  StagingRing(size_t count, size_t bytes)
      : storage(count, std::vector<uint8_t>(bytes)) {
    for (std::vector<uint8_t> &b : storage)
      buffers.push_back(b.data());
  }
};

/// A device for streamSpans(): a submitted buffer is copied only when it is
/// taken back (reuse), like a DMA that runs until its event, so a buffer
/// refilled too early lands wrong bytes. Quantized spans are quantised
/// where they land, as the cuda session does. The readers call it at once
/// (a lock), each buffer always from the one reader thread that started.
struct FakeDevice {
  const Program &program;
  const WeightSource &source;
  const std::vector<uint8_t *> &buffers;
  std::vector<std::vector<uint8_t>> data, scales;
  std::map<size_t, WeightSource::Span> moving;
  std::map<size_t, std::thread::id> owner; // the thread that uses a buffer
  std::set<std::thread::id> started;
  size_t submits = 0, reuses = 0;
  uint64_t nonFinite = 0;
  std::mutex mutex;

  void expectOwner(size_t buffer) {
    auto [it, first] = owner.emplace(buffer, std::this_thread::get_id());
    EXPECT_EQ(it->second, std::this_thread::get_id())
        << "buffer " << buffer << " used by two threads";
    EXPECT_EQ(started.count(std::this_thread::get_id()), 1u)
        << "a reader submitted before start";
    (void)first;
  }

  FakeDevice(const Program &p, const WeightSource &s,
             const std::vector<uint8_t *> &b)
      : program(p), source(s), buffers(b) {
    for (uint32_t i = 0; i < p.fb().weights()->size(); ++i) {
      data.emplace_back(dataBytes(p, i));
      scales.emplace_back(scaleBytes(p, i));
    }
  }

  StreamCallbacks callbacks(size_t failAtSubmit = SIZE_MAX) {
    StreamCallbacks c;
    c.start = [this](unsigned) {
      std::lock_guard<std::mutex> lock(mutex);
      EXPECT_TRUE(started.insert(std::this_thread::get_id()).second);
      return Status::success();
    };
    c.submit = [this, failAtSubmit](size_t buffer,
                                    const WeightSource::Span &span) {
      std::lock_guard<std::mutex> lock(mutex);
      expectOwner(buffer);
      if (submits++ == failAtSubmit)
        return Status::error("the copy failed");
      EXPECT_EQ(moving.count(buffer), 0u) << "buffer submitted twice";
      moving[buffer] = span;
      return Status::success();
    };
    c.reuse = [this](size_t buffer) {
      std::lock_guard<std::mutex> lock(mutex);
      expectOwner(buffer);
      ++reuses;
      auto it = moving.find(buffer);
      EXPECT_NE(it, moving.end()) << "buffer reused without a submit";
      if (it == moving.end())
        return Status::success();
      land(buffers[buffer], it->second);
      moving.erase(it);
      return Status::success();
    };
    return c;
  }

  void land(const uint8_t *from, const WeightSource::Span &span) {
    const WeightSource::Piece &piece = source.pieces()[span.piece];
    if (!piece.quantize) {
      std::memcpy((piece.scales ? scales : data)[piece.weight].data() +
                      piece.offset + span.begin,
                  from, span.bytes);
      return;
    }
    std::vector<uint16_t> bf16(span.bytes / 2);
    std::memcpy(bf16.data(), from, span.bytes);
    WeightSource::Band band = source.bandOf(span);
    nonFinite += quantizeFP8Blocks(
        {{bf16.data(), data[piece.weight].data() + band.valuesOffset,
          reinterpret_cast<float *>(scales[piece.weight].data() +
                                    band.scalesOffset),
          band.rows, piece.cols}},
        piece.blockRows, piece.blockCols, 1);
  }

  void expectSameAs(const WeightStore &store) const {
    for (uint32_t i = 0; i < data.size(); ++i) {
      EXPECT_EQ(std::memcmp(store.data(i), data[i].data(), data[i].size()), 0)
          << "weight " << i;
      if (!scales[i].empty()) {
        EXPECT_EQ(
            std::memcmp(store.scales(i), scales[i].data(), scales[i].size()), 0)
            << "scales of weight " << i;
      }
    }
  }
};

/// Streamed through a ring of one to five staging buffers by one to eight
/// readers, every byte lands where WeightStore::load puts it, quantized
/// weights included; every submitted buffer is taken back.
TEST(WeightsTest, StreamingLandsEveryByte) {
  BothSources both;
  ASSERT_EQ(both.sources.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const WeightSource &source = both.sources[k];
    Expected<WeightStore> expected = WeightStore::load(source);
    ASSERT_TRUE(expected.ok()) << expected.error();
    for (size_t slots : {1u, 2u, 5u})
      for (unsigned threads : {1u, 3u, 8u})
        for (uint64_t spanBytes : {40u, 150u, 1u << 20}) {
          SCOPED_TRACE(std::to_string(slots) + " buffers, " +
                       std::to_string(threads) + " threads, spans of " +
                       std::to_string(spanBytes) + ", program " +
                       std::to_string(k));
          std::vector<WeightSource::Span> spans = source.spans(spanBytes);
          uint64_t largest = 0;
          for (const WeightSource::Span &span : spans)
            largest = std::max(largest, span.bytes);
          StagingRing ring(slots, largest);
          const std::vector<uint8_t *> &buffers = ring.buffers;
          FakeDevice device(*both.programs[k], source, buffers);
          StreamCallbacks callbacks = device.callbacks();
          uint64_t progress = 0;
          callbacks.progress = [&](uint64_t done) {
            EXPECT_GE(done, progress);
            progress = done;
          };
          Status s = streamSpans(source, spans, buffers, threads, callbacks);
          ASSERT_TRUE(s.ok()) << s.error();
          EXPECT_EQ(device.submits, spans.size());
          EXPECT_EQ(device.reuses, spans.size());
          EXPECT_TRUE(device.moving.empty());
          EXPECT_EQ(device.nonFinite, 0u);
          EXPECT_EQ(progress, source.sourceBytes());
          device.expectSameAs(expected.value());
        }
  }
}

/// A failed submit stops the stream with its error, after every buffer
/// still moving was taken back.
TEST(WeightsTest, StreamingStopsAtAFailedSubmit) {
  BothSources both;
  ASSERT_EQ(both.sources.size(), 2u);
  const WeightSource &source = both.sources[0];
  StagingRing ring(3, 16);
  FakeDevice device(*both.programs[0], source, ring.buffers);
  Status s = streamSpans(source, source.spans(16), ring.buffers, 4,
                         device.callbacks(/*failAtSubmit=*/5));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), "the copy failed");
  EXPECT_TRUE(device.moving.empty());
  // Every submit but the failed one was taken back (readers that were
  // already reading may have submitted after it).
  EXPECT_GE(device.submits, 6u);
  EXPECT_EQ(device.reuses, device.submits - 1);
}

/// A shard cut short after it was opened (and its header checked) is an
/// error naming the file and the tensor, for every reader; the mapping is
/// never read, so there is no SIGBUS.
TEST(WeightsTest, ShardCutShortWhileLoadingIsRejectedByName) {
  BothSources both;
  ASSERT_EQ(both.sources.size(), 2u);
  const WeightSource &source = both.sources[0];
  std::string shard = both.folder.dir.file("b.safetensors");
  ASSERT_EQ(::truncate(shard.c_str(), 200), 0);
  for (unsigned threads : {1u, 4u}) {
    WeightStore::LoadOptions options;
    options.threads = threads;
    Expected<WeightStore> loaded = WeightStore::load(source, options);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error().rfind(shard + ": tensor '", 0), 0u)
        << loaded.error();
    EXPECT_NE(loaded.error().find("is cut short"), std::string::npos)
        << loaded.error();
  }
  StagingRing ring(2, 1 << 20);
  FakeDevice device(*both.programs[0], source, ring.buffers);
  Status s = streamSpans(source, source.spans(1 << 20), ring.buffers, 2,
                         device.callbacks());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().rfind(shard + ": tensor '", 0), 0u) << s.error();
  EXPECT_TRUE(device.moving.empty());
}

/// The reader count: asked for, else DSRT_LOAD_THREADS, else the hardware
/// threads; between 1 and kMaxLoadThreads.
TEST(WeightsTest, LoadThreads) {
  EXPECT_EQ(loadThreads(5), 5u);
  EXPECT_EQ(loadThreads(1000), kMaxLoadThreads);
  ::setenv("DSRT_LOAD_THREADS", "3", 1);
  EXPECT_EQ(loadThreads(), 3u);
  EXPECT_EQ(loadThreads(7), 7u);
  ::setenv("DSRT_LOAD_THREADS", "100000", 1);
  EXPECT_EQ(loadThreads(), kMaxLoadThreads);
  for (const char *ignored : {"0", "many", ""}) {
    ::setenv("DSRT_LOAD_THREADS", ignored, 1);
    EXPECT_GE(loadThreads(), 1u) << ignored;
    EXPECT_LE(loadThreads(), kMaxLoadThreads) << ignored;
  }
  ::unsetenv("DSRT_LOAD_THREADS");
  EXPECT_GE(loadThreads(), 1u);
}

/// A store's source is one piece per weight and per scales, in memory.
TEST(WeightsTest, SourceOfAStore) {
  LoadedProgram program(manifest());
  Expected<WeightStore> made = WeightStore::dummy(*program, 3);
  ASSERT_TRUE(made.ok());
  WeightSource source = WeightSource::fromStore(*program, made.value());
  EXPECT_EQ(source.store(), &made.value());
  EXPECT_FALSE(source.quantizes());
  ASSERT_EQ(source.pieces().size(), 7u); // 5 weights, 2 with scales
  Expected<WeightStore> copied = WeightStore::load(source);
  ASSERT_TRUE(copied.ok()) << copied.error();
  expectSameWeights(*program, made.value(), copied.value());
}

//===--- a partitioned program's parts ------------------------------------===//

/// The part of `whole` (a tensor of `shape`, `element` bytes a value) that
/// rank `rank` of `ranks` holds when it is split along `dim`.
std::vector<uint8_t> partOf(const std::vector<uint8_t> &whole,
                            const std::vector<int64_t> &shape, size_t element,
                            size_t dim, int64_t ranks, int64_t rank) {
  size_t outer = 1, inner = element;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d < dim)
      outer *= shape[d];
    if (d > dim)
      inner *= shape[d];
  }
  size_t n = shape[dim] / ranks * inner, row = shape[dim] * inner;
  std::vector<uint8_t> part;
  for (size_t o = 0; o < outer; ++o)
    part.insert(part.end(), whole.begin() + o * row + rank * n,
                whole.begin() + o * row + (rank + 1) * n);
  return part;
}

const char *kStack = "model.layers.1.mlp.experts.{e}.down_proj.weight";
const char *kStackScale =
    "model.layers.1.mlp.experts.{e}.down_proj.weight_scale_inv";

/// The manifest of one rank of a program split over two: after ProgramBuilder's
/// embed and lm_head, a bf16 matrix by rows ([8, 6] -> [4, 6], weight 2), one
/// by columns ([6, 8] -> [6, 4], weight 3), a bf16 stack of four experts
/// [3, 5] interleaved (two a rank, weight 4), a bf16 stack of two experts
/// split by columns ([2, 4, 6] -> [2, 4, 3], weight 5), an fp8 matrix with
/// 128 x 128 scale blocks by columns ([256, 256] -> [256, 128], scales
/// [2, 2] -> [2, 1], weight 6) and an fp8 stack of four [128, 128] experts
/// with scales, interleaved (weight 7). `split` false: the same weights
/// whole, unpartitioned.
ProgramBuilder partitioned(bool split = true) {
  ProgramBuilder builder;
  auto add = [&](test::WeightSpec w, int32_t dim, bool interleaved = false) {
    if (split) {
      w.shardDim = dim;
      w.shardRanks = 2;
      w.shardInterleaved = interleaved;
      w.shape[dim] /= 2;
      if (w.experts && dim == 0)
        w.experts /= 2;
      if (!w.scaleShape.empty())
        w.scaleShape[dim] /= 2;
    }
    builder.weights.push_back(w);
  };
  add({"rows",
       "model.layers.0.self_attn.q_proj.weight",
       fb::DType::BF16,
       {8, 6}},
      0);
  add({"cols",
       "model.layers.0.self_attn.o_proj.weight",
       fb::DType::BF16,
       {6, 8}},
      1);
  add({"experts", kGate, fb::DType::BF16, {4, 3, 5}, "", {}, 4}, 0, true);
  add({"expert_cols", kUp, fb::DType::BF16, {2, 4, 6}, "", {}, 2}, 2);
  test::WeightSpec fp8{"fp8_cols",
                       "model.layers.0.mlp.down_proj.weight",
                       fb::DType::F8_E4M3,
                       {256, 256},
                       "model.layers.0.mlp.down_proj.weight_scale_inv",
                       {2, 2}};
  fp8.scaleBlockRows = fp8.scaleBlockCols = 128;
  add(fp8, 1);
  test::WeightSpec stack{
      "fp8_experts", kStack, fb::DType::F8_E4M3, {4, 128, 128}, kStackScale,
      {4, 1, 1},     4};
  stack.scaleBlockRows = stack.scaleBlockCols = 128;
  add(stack, 0, true);
  return builder;
}

/// The whole tensors behind partitioned(), and the embed and lm_head.
std::vector<TensorSpec> partitionedTensors() {
  std::vector<TensorSpec> tensors = {
      {"model.embed_tokens.weight", DType::BF16, {32, 16}, 0},
      {"lm_head.weight", DType::F8_E4M3, {32, 16}, 1},
      {"lm_head.weight_scale_inv", DType::F32, {2, 1}, 0},
      {"model.layers.0.self_attn.q_proj.weight", DType::BF16, {8, 6}, 0},
      {"model.layers.0.self_attn.o_proj.weight", DType::BF16, {6, 8}, 1},
      {"model.layers.0.mlp.down_proj.weight", DType::F8_E4M3, {256, 256}, 0},
      {"model.layers.0.mlp.down_proj.weight_scale_inv", DType::F32, {2, 2}, 1},
  };
  for (int e = 0; e < 4; ++e) {
    tensors.push_back({expert(kGate, e), DType::BF16, {3, 5}, e % 2});
    tensors.push_back({expert(kStack, e), DType::F8_E4M3, {128, 128}, 1});
    tensors.push_back({expert(kStackScale, e), DType::F32, {1, 1}, 0});
  }
  for (int e = 0; e < 2; ++e)
    tensors.push_back({expert(kUp, e), DType::BF16, {4, 6}, e});
  return tensors;
}

/// Each rank of a partitioned program reads its part of each tensor: rows,
/// columns (of each expert), its interleaved experts, and the same part of
/// an fp8 weight's scales, through every reader (one span, many small ones).
TEST(WeightsTest, RanksLoadTheirPartOfEachTensor) {
  LoadedProgram program(partitioned());
  CheckpointFolder folder(partitionedTensors());
  Checkpoint checkpoint = folder.open();
  auto bytes = [&](const std::string &name) {
    return folder.payloads.at(name);
  };
  for (int64_t rank = 0; rank < 2; ++rank) {
    Expected<WeightStore> loaded =
        WeightStore::load(*program, checkpoint, {}, nullptr, rank);
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    const WeightStore &store = loaded.value();
    std::vector<uint8_t> expected[6], scales[6];
    expected[0] = partOf(bytes("model.layers.0.self_attn.q_proj.weight"),
                         {8, 6}, 2, 0, 2, rank);
    expected[1] = partOf(bytes("model.layers.0.self_attn.o_proj.weight"),
                         {6, 8}, 2, 1, 2, rank);
    for (int i = 0; i < 2; ++i) { // experts rank, rank + 2
      std::vector<uint8_t> e = bytes(expert(kGate, i * 2 + rank));
      expected[2].insert(expected[2].end(), e.begin(), e.end());
      std::vector<uint8_t> s = bytes(expert(kStack, i * 2 + rank));
      expected[5].insert(expected[5].end(), s.begin(), s.end());
      std::vector<uint8_t> t = bytes(expert(kStackScale, i * 2 + rank));
      scales[5].insert(scales[5].end(), t.begin(), t.end());
      std::vector<uint8_t> c =
          partOf(bytes(expert(kUp, i)), {4, 6}, 2, 1, 2, rank);
      expected[3].insert(expected[3].end(), c.begin(), c.end());
    }
    expected[4] = partOf(bytes("model.layers.0.mlp.down_proj.weight"),
                         {256, 256}, 1, 1, 2, rank);
    scales[4] = partOf(bytes("model.layers.0.mlp.down_proj.weight_scale_inv"),
                       {2, 2}, 4, 1, 2, rank);
    for (uint32_t i = 0; i < 6; ++i) {
      ASSERT_EQ(dataBytes(*program, i + 2), expected[i].size()) << i;
      EXPECT_EQ(std::memcmp(store.data(i + 2), expected[i].data(),
                            expected[i].size()),
                0)
          << "weight " << i + 2 << " of rank " << rank;
      if (scales[i].empty())
        continue;
      ASSERT_EQ(scaleBytes(*program, i + 2), scales[i].size()) << i;
      EXPECT_EQ(
          std::memcmp(store.scales(i + 2), scales[i].data(), scales[i].size()),
          0)
          << "scales of weight " << i + 2 << " of rank " << rank;
    }
    // Spans of 7 bytes cut the runs anywhere; the bytes are the same.
    Expected<WeightSource> source =
        WeightSource::fromCheckpoint(*program, checkpoint, rank);
    ASSERT_TRUE(source.ok()) << source.error();
    std::map<std::pair<uint32_t, bool>, std::vector<uint8_t>> read;
    for (const WeightSource::Span &span : source.value().spans(7)) {
      const WeightSource::Piece &piece = source.value().pieces()[span.piece];
      std::vector<uint8_t> &out = read[{piece.weight, piece.scales}];
      out.resize(std::max<uint64_t>(out.size(),
                                    piece.offset + span.begin + span.bytes));
      ASSERT_TRUE(source.value()
                      .read(span, out.data() + piece.offset + span.begin)
                      .ok());
    }
    for (uint32_t i = 0; i < 6; ++i)
      EXPECT_EQ((read[{i + 2, false}]), expected[i])
          << "weight " << i + 2 << " of rank " << rank;
  }
}

/// The manifest check names the tensors a rank reads, with the whole
/// tensor's shape: rank 1 misses expert 3, rank 0 does not read it.
TEST(WeightsTest, CheckOfARankNamesItsTensors) {
  LoadedProgram program(partitioned());
  std::vector<TensorSpec> tensors = partitionedTensors();
  tensors.erase(std::find_if(tensors.begin(), tensors.end(), [](auto &t) {
    return t.name == expert(kGate, 3);
  }));
  for (TensorSpec &t : tensors)
    if (t.name == "model.layers.0.self_attn.o_proj.weight")
      t.shape = {6, 4}; // the part's shape, not the whole tensor's
  CheckpointFolder folder(tensors);
  Checkpoint checkpoint = folder.open();
  EXPECT_EQ(WeightStore::check(*program, checkpoint, 0).error(),
            problems(folder.dir.path(),
                     {"tensor 'model.layers.0.self_attn.o_proj.weight' is "
                      "BF16 [6, 4], expected BF16 [6, 8]"}));
  EXPECT_EQ(WeightStore::check(*program, checkpoint, 1).error(),
            problems(folder.dir.path(),
                     {"tensor 'model.layers.0.self_attn.o_proj.weight' is "
                      "BF16 [6, 4], expected BF16 [6, 8]",
                      "missing tensor '" + expert(kGate, 3) +
                          "' (expected BF16 [3, 5])"}));
}

/// Dummy weights are a function of the element's place in the whole
/// tensor: each rank's parts are the parts of the unpartitioned program's
/// weights, quantized-at-load ones included (their parts cover whole
/// blocks, so quantising a part is the part of the quantised whole).
TEST(WeightsTest, DummyPartsAreThePartsOfTheWholeWeights) {
  ProgramBuilder wholeBuilder = partitioned(false),
                 splitBuilder = partitioned();
  for (ProgramBuilder *b : {&wholeBuilder, &splitBuilder}) {
    test::WeightSpec q{"quantized",
                       "model.layers.0.mlp.gate_proj.weight",
                       fb::DType::F8_E4M3,
                       {256, 256},
                       "",
                       {2, 2}};
    q.scaleBlockRows = q.scaleBlockCols = 128;
    q.quantizedAtLoad = true;
    if (b == &splitBuilder) {
      q.shardDim = 0;
      q.shardRanks = 2;
      q.shape = {128, 256};
      q.scaleShape = {1, 2};
    }
    b->weights.push_back(q);
  }
  LoadedProgram whole(wholeBuilder), split(splitBuilder);
  Expected<WeightStore> wholeStore = WeightStore::dummy(*whole, 9);
  ASSERT_TRUE(wholeStore.ok());
  const auto &wholeWeights = *(*whole).fb().weights();
  const auto &splitWeights = *(*split).fb().weights();
  for (int64_t rank = 0; rank < 2; ++rank) {
    Expected<WeightStore> part = WeightStore::dummy(*split, 9, rank);
    ASSERT_TRUE(part.ok());
    for (uint32_t i = 0; i < splitWeights.size(); ++i) {
      const fb::Weight &w = *wholeWeights.Get(i);
      const fb::Weight &p = *splitWeights.Get(i);
      std::vector<int64_t> shape(w.shape()->begin(), w.shape()->end());
      std::vector<int64_t> scaleShape;
      if (w.scale_shape())
        scaleShape.assign(w.scale_shape()->begin(), w.scale_shape()->end());
      size_t element = dtypeBytes(w.dtype());
      auto bytesAt = [](const void *at, uint64_t n) {
        const uint8_t *p = static_cast<const uint8_t *>(at);
        return std::vector<uint8_t>(p, p + n);
      };
      std::vector<uint8_t> data =
          bytesAt(wholeStore.value().data(i), dataBytes(*whole, i));
      std::vector<uint8_t> scales;
      if (wholeStore.value().scales(i))
        scales = bytesAt(wholeStore.value().scales(i), scaleBytes(*whole, i));
      if (p.shard_ranks() >= 2 && p.shard_interleaved()) {
        // Experts rank and rank + 2: every other expert matrix.
        auto everyOther = [&](const std::vector<uint8_t> &all) {
          size_t matrix = all.size() / 4;
          std::vector<uint8_t> out;
          for (int e = int(rank); e < 4; e += 2)
            out.insert(out.end(), all.begin() + e * matrix,
                       all.begin() + (e + 1) * matrix);
          return out;
        };
        data = everyOther(data);
        if (!scales.empty())
          scales = everyOther(scales);
      } else if (p.shard_ranks() >= 2) {
        data = partOf(data, shape, element, p.shard_dim(), 2, rank);
        if (!scales.empty())
          scales = partOf(scales, scaleShape, 4, p.shard_dim(), 2, rank);
      }
      ASSERT_EQ(data.size(), dataBytes(*split, i)) << i;
      EXPECT_EQ(std::memcmp(part.value().data(i), data.data(), data.size()), 0)
          << "weight " << i << " of rank " << rank;
      if (scales.empty())
        continue;
      ASSERT_EQ(scales.size(), scaleBytes(*split, i)) << i;
      EXPECT_EQ(
          std::memcmp(part.value().scales(i), scales.data(), scales.size()), 0)
          << "scales of weight " << i << " of rank " << rank;
    }
  }
}

} // namespace
} // namespace dsrt
