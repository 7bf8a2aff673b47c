//===- SafetensorsTest.cpp - tests of the safetensors reader ----*- C++ -*-===//
//
// Unit tests of dsrt/Safetensors.h: dtypes, reading a valid file back through
// its mapping, and one test per check of parseSafetensorsHeader(), each
// matching the message that names the file and tensor.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Safetensors.h"

#include "SafetensorsBuilder.h"
#include "TempDir.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

namespace dsrt {
namespace {

using test::assembleSafetensors;
using test::SafetensorsBuilder;
using test::TempDir;

/// The error of parsing a file with header `header` and `dataSize` data bytes.
std::string headerError(const std::string &header, size_t dataSize = 0) {
  std::vector<uint8_t> bytes =
      assembleSafetensors(header, std::vector<uint8_t>(dataSize, 7));
  Expected<SafetensorsHeader> result =
      parseSafetensorsHeader(bytes.data(), bytes.size(), "f.safetensors");
  EXPECT_FALSE(result.ok()) << "accepted: " << header;
  return result.error();
}

/// A header with the one tensor "t" whose entry is `fields`.
std::string tensorWithFields(const std::string &fields) {
  return "{\"t\":{" + fields + "}}";
}

/// A header with the one tensor "t"; the arguments are JSON text.
std::string oneTensor(const std::string &dtype, const std::string &shape,
                      const std::string &offsets) {
  return tensorWithFields("\"dtype\":" + dtype + ",\"shape\":" + shape +
                          ",\"data_offsets\":" + offsets);
}

//===--- dtypes -----------------------------------------------------------===//

TEST(SafetensorsTest, DTypeTable) {
  struct Case {
    const char *name;
    DType dtype;
    size_t size;
  } cases[] = {{"BOOL", DType::BOOL, 1},      {"U8", DType::U8, 1},
               {"I8", DType::I8, 1},          {"I16", DType::I16, 2},
               {"U16", DType::U16, 2},        {"I32", DType::I32, 4},
               {"U32", DType::U32, 4},        {"I64", DType::I64, 8},
               {"U64", DType::U64, 8},        {"F16", DType::F16, 2},
               {"BF16", DType::BF16, 2},      {"F32", DType::F32, 4},
               {"F64", DType::F64, 8},        {"F8_E4M3", DType::F8_E4M3, 1},
               {"F8_E5M2", DType::F8_E5M2, 1}};
  for (const Case &c : cases) {
    DType parsed = DType::U8;
    EXPECT_TRUE(parseDType(c.name, parsed)) << c.name;
    EXPECT_EQ(parsed, c.dtype) << c.name;
    EXPECT_STREQ(dtypeName(c.dtype), c.name);
    EXPECT_EQ(dtypeSize(c.dtype), c.size) << c.name;
  }
  DType unchanged = DType::F32;
  EXPECT_FALSE(parseDType("bf16", unchanged));
  EXPECT_FALSE(parseDType("F8_E4M3FN", unchanged));
  EXPECT_FALSE(parseDType("", unchanged));
  EXPECT_EQ(unchanged, DType::F32);
}

//===--- valid files ------------------------------------------------------===//

TEST(SafetensorsTest, ReadsBackAValidFile) {
  SafetensorsBuilder builder(42);
  builder.add("model.layers.0.w", DType::BF16, {2, 3})
      .add("a.bias", DType::F32, {5})
      .add("scalar", DType::F64, {})
      .add("empty", DType::F8_E4M3, {0, 7})
      .add("z.fp8", DType::F8_E4M3, {4, 4})
      .metadata("format", "pt");
  TempDir dir;
  std::string path = dir.writeFile("m.safetensors", builder.build());

  Expected<SafetensorsFile> opened = SafetensorsFile::open(path);
  ASSERT_TRUE(opened.ok()) << opened.error();
  SafetensorsFile file = opened.take();
  const SafetensorsHeader &header = file.header();
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(header.dataOffset, 8 + builder.header().size());
  EXPECT_EQ(file.fileSize(), header.dataOffset + header.dataSize);
  ASSERT_EQ(header.metadata.size(), 1u);
  EXPECT_EQ(header.metadata[0].first, "format");
  EXPECT_EQ(header.metadata[0].second, "pt");

  ASSERT_EQ(header.tensors.size(), 5u);
  const char *sorted[] = {"a.bias", "empty", "model.layers.0.w", "scalar",
                          "z.fp8"};
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(header.tensors[i].name, sorted[i]);

  const TensorInfo *weight = header.find("model.layers.0.w");
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->dtype, DType::BF16);
  EXPECT_EQ(weight->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(weight->numElements(), 6u);
  EXPECT_EQ(weight->begin, 0u);
  EXPECT_EQ(weight->end, 12u);
  EXPECT_EQ(header.find("scalar")->numElements(), 1u);
  EXPECT_EQ(header.find("empty")->numElements(), 0u);
  EXPECT_EQ(header.find("missing"), nullptr);

  for (const TensorInfo &tensor : header.tensors) {
    const std::vector<uint8_t> &expected = builder.payload(tensor.name);
    ASSERT_EQ(tensor.numBytes(), expected.size()) << tensor.name;
    const uint8_t *data = file.tensorData(tensor);
    ASSERT_NE(data, nullptr) << tensor.name;
    if (!expected.empty()) { // memcmp must not see the null data() of empty
      EXPECT_EQ(std::memcmp(data, expected.data(), expected.size()), 0)
          << tensor.name;
    }
  }

  // The mapping moves with the object.
  const uint8_t *before = file.tensorData(*weight);
  SafetensorsFile moved = std::move(file);
  EXPECT_EQ(moved.tensorData(*moved.header().find("model.layers.0.w")), before);
}

TEST(SafetensorsTest, TensorDataRejectsForeignRanges) {
  SafetensorsBuilder builder;
  builder.add("t", DType::U8, {4});
  TempDir dir;
  Expected<SafetensorsFile> file =
      SafetensorsFile::open(dir.writeFile("t.safetensors", builder.build()));
  ASSERT_TRUE(file.ok()) << file.error();
  TensorInfo outside;
  outside.begin = 0;
  outside.end = 5;
  EXPECT_EQ(file.value().tensorData(outside), nullptr);
  outside.begin = 3;
  outside.end = 2;
  EXPECT_EQ(file.value().tensorData(outside), nullptr);
}

TEST(SafetensorsTest, GapsPaddingAndEmptyTensorsAreAllowed) {
  std::string header =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[8,12]},)"
      R"("e":{"dtype":"F32","shape":[0],"data_offsets":[9,9]},)"
      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  header += "        "; // writers pad the header with spaces
  std::vector<uint8_t> bytes =
      assembleSafetensors(header, std::vector<uint8_t>(16, 1));
  Expected<SafetensorsHeader> result =
      parseSafetensorsHeader(bytes.data(), bytes.size(), "gaps");
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.value().tensors.size(), 3u);
  EXPECT_EQ(result.value().dataSize, 16u);

  std::vector<uint8_t> empty = assembleSafetensors("{}", {});
  EXPECT_TRUE(parseSafetensorsHeader(empty.data(), empty.size(), "e").ok());
}

//===--- file-level errors ------------------------------------------------===//

TEST(SafetensorsTest, TruncatedFile) {
  uint8_t bytes[7] = {2, 0, 0, 0, 0, 0, 0};
  Expected<SafetensorsHeader> result =
      parseSafetensorsHeader(bytes, sizeof(bytes), "short.safetensors");
  EXPECT_EQ(result.error(),
            "short.safetensors: truncated: the file is 7 bytes, "
            "too short for the 8-byte header length");
  EXPECT_EQ(parseSafetensorsHeader(nullptr, 0, "f").error(),
            "f: truncated: the file is 0 bytes, too short for the 8-byte "
            "header length");
}

TEST(SafetensorsTest, HeaderLongerThanFile) {
  std::vector<uint8_t> bytes = assembleSafetensors("{}", {});
  bytes[0] = 11; // claims 11 header bytes; the file has 2 after the length
  EXPECT_EQ(parseSafetensorsHeader(bytes.data(), bytes.size(), "f").error(),
            "f: header length 11 exceeds the file size 10");
  bytes[0] = 0xff;
  for (int i = 1; i < 8; ++i)
    bytes[i] = 0xff;
  EXPECT_EQ(parseSafetensorsHeader(bytes.data(), bytes.size(), "f").error(),
            "f: header length 18446744073709551615 exceeds the file size 10");
}

TEST(SafetensorsTest, HeaderOverTheCap) {
  std::vector<uint8_t> bytes(8 + kMaxSafetensorsHeaderSize + 1, ' ');
  uint64_t length = kMaxSafetensorsHeaderSize + 1;
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(length >> (8 * i));
  EXPECT_EQ(parseSafetensorsHeader(bytes.data(), bytes.size(), "f").error(),
            "f: header length 104857601 exceeds the cap of 104857600 bytes");
}

TEST(SafetensorsTest, HeaderNotJson) {
  EXPECT_EQ(headerError("{\"t\": }"),
            "f.safetensors: header is not valid JSON: line 1, column 7: "
            "unexpected '}', expected a value");
  EXPECT_EQ(headerError(""),
            "f.safetensors: header is not valid JSON: line 1, column 1: "
            "unexpected end of input, expected a value");
}

TEST(SafetensorsTest, HeaderOfTinyValuesStopsEarly) {
  // 2Mi + 1 zeros in 4 MiB: far under the size cap, over the value limit
  // (which bounds the parser's memory to ~0.4 GB for any header).
  std::string values = "[0";
  for (int i = 0; i < (2 << 20); ++i)
    values += ",0";
  values += "]";
  std::string error = headerError(values);
  EXPECT_EQ(error.substr(error.rfind(':') + 2), "more than 2097152 values");
  EXPECT_EQ(error.rfind("f.safetensors: header is not valid JSON: ", 0), 0u);
}

TEST(SafetensorsTest, HeaderNotAnObject) {
  EXPECT_EQ(headerError("[1,2]"),
            "f.safetensors: header is a JSON array, expected an object");
}

TEST(SafetensorsTest, MetadataMustBeAnObjectOfStrings) {
  EXPECT_EQ(headerError(R"({"__metadata__":[]})"),
            "f.safetensors: __metadata__ is a JSON array, expected an object "
            "of strings");
  EXPECT_EQ(headerError(R"({"__metadata__":{"a":"b","n":1}})"),
            "f.safetensors: __metadata__ entry 'n' is a JSON number, expected "
            "a string");
}

//===--- tensor entry errors ----------------------------------------------===//

TEST(SafetensorsTest, TensorEntryMustBeAnObject) {
  EXPECT_EQ(headerError(R"({"t":"x"})"),
            "f.safetensors: tensor 't': entry is a JSON string, expected an "
            "object");
}

TEST(SafetensorsTest, TensorFieldsMustBeExact) {
  EXPECT_EQ(
      headerError(tensorWithFields(R"("shape":[1],"data_offsets":[0,1])")),
      "f.safetensors: tensor 't': missing field 'dtype'");
  EXPECT_EQ(
      headerError(tensorWithFields(R"("dtype":"U8","data_offsets":[0,1])")),
      "f.safetensors: tensor 't': missing field 'shape'");
  EXPECT_EQ(headerError(tensorWithFields(R"("dtype":"U8","shape":[1])")),
            "f.safetensors: tensor 't': missing field 'data_offsets'");
  EXPECT_EQ(
      headerError(tensorWithFields(
                      R"("dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0)"),
                  1),
      "f.safetensors: tensor 't': unexpected field 'x'");
}

TEST(SafetensorsTest, DTypeMustBeKnown) {
  EXPECT_EQ(headerError(oneTensor(R"("F4")", "[1]", "[0,1]"), 1),
            "f.safetensors: tensor 't': unknown dtype 'F4'");
  EXPECT_EQ(headerError(oneTensor("2", "[1]", "[0,1]"), 1),
            "f.safetensors: tensor 't': dtype is a JSON number, expected a "
            "string");
}

TEST(SafetensorsTest, ShapeMustBeNonNegativeIntegers) {
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "3", "[0,3]"), 3),
            "f.safetensors: tensor 't': shape is a JSON number, expected an "
            "array");
  EXPECT_EQ(
      headerError(oneTensor(R"("U8")", "[1,-2]", "[0,0]")),
      "f.safetensors: tensor 't': shape[1] is not a non-negative integer");
  EXPECT_EQ(
      headerError(oneTensor(R"("U8")", "[1.5]", "[0,0]")),
      "f.safetensors: tensor 't': shape[0] is not a non-negative integer");
  EXPECT_EQ(
      headerError(oneTensor(R"("U8")", "[\"2\"]", "[0,2]"), 2),
      "f.safetensors: tensor 't': shape[0] is not a non-negative integer");
  EXPECT_EQ(
      headerError(oneTensor(R"("U8")", "[1e20]", "[0,0]")),
      "f.safetensors: tensor 't': shape[0] is not a non-negative integer");
}

TEST(SafetensorsTest, ShapeProductMustNotOverflow) {
  EXPECT_EQ(
      headerError(oneTensor(R"("U8")", "[4294967296,4294967296]", "[0,0]")),
      "f.safetensors: tensor 't': dtype U8 x shape "
      "[4294967296,4294967296] needs more than 2^64 bytes");
  EXPECT_EQ(
      headerError(oneTensor(R"("F64")", "[4611686018427387904]", "[0,0]")),
      "f.safetensors: tensor 't': dtype F64 x shape "
      "[4611686018427387904] needs more than 2^64 bytes");
  // A zero dimension makes any product zero, wherever it stands.
  for (const char *shape : {"[0,9223372036854775807,9223372036854775807]",
                            "[9223372036854775807,9223372036854775807,0]"}) {
    std::vector<uint8_t> bytes =
        assembleSafetensors(oneTensor(R"("F64")", shape, "[0,0]"), {});
    Expected<SafetensorsHeader> header =
        parseSafetensorsHeader(bytes.data(), bytes.size(), "f");
    ASSERT_TRUE(header.ok()) << header.error();
    EXPECT_EQ(header.value().tensors[0].numElements(), 0u);
  }
}

TEST(SafetensorsTest, DataOffsetsMustBeTwoOrderedIntegersInTheFile) {
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "[1]", "[0]"), 1),
            "f.safetensors: tensor 't': data_offsets must be an array of 2 "
            "integers");
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "[1]", "{}"), 1),
            "f.safetensors: tensor 't': data_offsets must be an array of 2 "
            "integers");
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "[1]", "[0,-1]"), 1),
            "f.safetensors: tensor 't': data_offsets[1] is not a non-negative "
            "integer");
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "[1]", "[2,1]"), 4),
            "f.safetensors: tensor 't': data_offsets [2,1] begin after end");
  EXPECT_EQ(headerError(oneTensor(R"("U8")", "[4]", "[0,4]"), 3),
            "f.safetensors: tensor 't': data_offsets [0,4) end past the data "
            "region of 3 bytes");
}

TEST(SafetensorsTest, ByteLengthMustMatchDTypeAndShape) {
  EXPECT_EQ(
      headerError(
          R"({"X":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,10]}})", 16),
      "f.safetensors: tensor 'X': data_offsets cover 10 bytes but dtype "
      "BF16 x shape [2,3] needs 12");
  EXPECT_EQ(headerError(oneTensor(R"("F32")", "[]", "[0,8]"), 8),
            "f.safetensors: tensor 't': data_offsets cover 8 bytes but dtype "
            "F32 x shape [] needs 4");
}

TEST(SafetensorsTest, TensorsMustNotOverlap) {
  EXPECT_EQ(
      headerError(R"({"B":{"dtype":"U8","shape":[12],"data_offsets":[8,20]},)"
                  R"("A":{"dtype":"U8","shape":[12],"data_offsets":[0,12]}})",
                  20),
      "f.safetensors: tensor 'A' [0,12) overlaps tensor 'B' [8,20)");
  EXPECT_EQ(
      headerError(R"({"A":{"dtype":"U8","shape":[20],"data_offsets":[0,20]},)"
                  R"("B":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                  20),
      "f.safetensors: tensor 'A' [0,20) overlaps tensor 'B' [4,6)");
  EXPECT_EQ(
      headerError(R"({"A":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                  R"("B":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                  20),
      "f.safetensors: tensor 'A' [4,6) overlaps tensor 'B' [4,6)");
}

TEST(SafetensorsTest, DuplicateTensorNamesAreRejected) {
  EXPECT_EQ(
      headerError(R"({"A":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                  R"("A":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                  2),
      "f.safetensors: header is not valid JSON: line 1, column 54: "
      "duplicate key 'A'");
}

TEST(SafetensorsTest, HostileNamesAreQuotedInMessages) {
  EXPECT_EQ(headerError(R"({"a\u001b[31m'b":"x"})"),
            "f.safetensors: tensor 'a\\x1b[31m\\'b': entry is a JSON string, "
            "expected an object");
}

//===--- opening files ----------------------------------------------------===//

TEST(SafetensorsTest, OpenReportsMissingFiles) {
  TempDir dir;
  std::string path = dir.file("absent.safetensors");
  Expected<SafetensorsFile> file = SafetensorsFile::open(path);
  EXPECT_EQ(file.error(), path + ": cannot open: No such file or directory");
}

TEST(SafetensorsTest, OpenRejectsFoldersAndEmptyFiles) {
  TempDir dir;
  EXPECT_EQ(SafetensorsFile::open(dir.path()).error(),
            dir.path() + ": not a regular file");
  std::string empty = dir.writeFile("empty.safetensors", "");
  EXPECT_EQ(SafetensorsFile::open(empty).error(),
            empty + ": truncated: the file is 0 bytes, too short for the "
                    "8-byte header length");
}

TEST(SafetensorsTest, OpenReportsHeaderErrorsWithThePath) {
  TempDir dir;
  std::string path = dir.writeFile(
      "bad.safetensors",
      assembleSafetensors(oneTensor(R"("U8")", "[4]", "[0,4]"), {1, 2}));
  EXPECT_EQ(SafetensorsFile::open(path).error(),
            path + ": tensor 't': data_offsets [0,4) end past the data region "
                   "of 2 bytes");
}

TEST(SafetensorsTest, FuzzSeedsAreValidFiles) {
  size_t seeds = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(DSRT_SAFETENSORS_SEED_DIR)) {
    Expected<SafetensorsFile> file = SafetensorsFile::open(entry.path());
    EXPECT_TRUE(file.ok()) << file.error();
    EXPECT_LE(entry.file_size(), 2048u) << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 3u);
}

} // namespace
} // namespace dsrt
