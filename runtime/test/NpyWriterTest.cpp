//===- NpyWriterTest.cpp - tests of the .npy writer -------------*- C++ -*-===//
//
// Unit tests of dsrt/NpyWriter.h. Each file written is read back by parsing
// it here: the magic, the version, the header text, the 64-byte alignment of
// the data and the exact float bits; and each error names the file.
//
//===----------------------------------------------------------------------===//

#include "dsrt/NpyWriter.h"

#include "TempDir.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

namespace dsrt {
namespace {

using test::TempDir;

/// An .npy file taken apart.
struct NpyFile {
  bool valid = false;
  uint8_t major = 0, minor = 0;
  size_t dataOffset = 0;
  std::string header; // the header text, padding and '\n' included
  std::vector<float> values;
};

std::vector<uint8_t> readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>());
}

NpyFile readNpy(const std::string &path) {
  NpyFile file;
  std::vector<uint8_t> bytes = readBytes(path);
  if (bytes.size() < 10) {
    ADD_FAILURE() << path << ": only " << bytes.size() << " bytes";
    return file;
  }
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 6), "\x93NUMPY");
  file.major = bytes[6];
  file.minor = bytes[7];
  size_t headerSize = bytes[8] | size_t(bytes[9]) << 8;
  file.dataOffset = 10 + headerSize;
  if (bytes.size() < file.dataOffset) {
    ADD_FAILURE() << path << ": header runs past the end";
    return file;
  }
  file.header.assign(bytes.begin() + 10, bytes.begin() + file.dataOffset);
  size_t dataSize = bytes.size() - file.dataOffset;
  EXPECT_EQ(dataSize % 4, 0u);
  file.values.resize(dataSize / 4);
  if (dataSize > 0)
    std::memcpy(file.values.data(), bytes.data() + file.dataOffset,
                file.values.size() * 4); // the tests run little-endian
  file.valid = true;
  return file;
}

/// Checks the parts of a header that do not depend on the shape.
void expectWellFormedHeader(const NpyFile &file) {
  EXPECT_EQ(file.major, 1);
  EXPECT_EQ(file.minor, 0);
  EXPECT_EQ(file.dataOffset % 64, 0u);
  ASSERT_FALSE(file.header.empty());
  EXPECT_EQ(file.header.back(), '\n');
  EXPECT_EQ(file.header.find('\n'), file.header.size() - 1);
  EXPECT_EQ(file.header.front(), '{');
  size_t close = file.header.find('}');
  ASSERT_NE(close, std::string::npos);
  for (size_t i = close + 1; i + 1 < file.header.size(); ++i)
    EXPECT_EQ(file.header[i], ' ') << "padding byte " << i;
  EXPECT_NE(file.header.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(file.header.find("'fortran_order': False"), std::string::npos);
}

std::vector<float> randomNonZero(size_t count, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> magnitude(0.001f, 1000.0f);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i)
    values[i] = (engine() & 1 ? 1.0f : -1.0f) * magnitude(engine);
  return values;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

//===--- whole arrays -----------------------------------------------------===//

TEST(NpyWriterTest, WritesA3DArray) {
  TempDir dir;
  std::string path = dir.file("a.npy");
  std::vector<float> values = randomNonZero(24, 1);
  Status status = writeNpyFloat32(path, {2, 3, 4}, values.data());
  ASSERT_TRUE(status.ok()) << status.error();

  NpyFile file = readNpy(path);
  ASSERT_TRUE(file.valid);
  expectWellFormedHeader(file);
  EXPECT_NE(file.header.find("'shape': (2, 3, 4)"), std::string::npos)
      << file.header;
  EXPECT_EQ(file.header.rfind("{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (2, 3, 4), }",
                              0),
            0u)
      << file.header;
  EXPECT_TRUE(sameBits(file.values, values));
}

TEST(NpyWriterTest, ShapeSpelling) {
  TempDir dir;
  struct Case {
    std::vector<int64_t> shape;
    const char *text;
  } cases[] = {
      {{5}, "'shape': (5,)"},
      {{}, "'shape': ()"},
      {{1, 129280}, "'shape': (1, 129280)"},
      {{0, 3}, "'shape': (0, 3)"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.text);
    size_t count = 1;
    for (int64_t dim : c.shape)
      count *= static_cast<size_t>(dim);
    std::vector<float> values = randomNonZero(count, 2);
    std::string path = dir.file("s.npy");
    Status status = writeNpyFloat32(path, c.shape, values.data());
    ASSERT_TRUE(status.ok()) << status.error();
    NpyFile file = readNpy(path);
    ASSERT_TRUE(file.valid);
    expectWellFormedHeader(file);
    EXPECT_NE(file.header.find(c.text), std::string::npos) << file.header;
    EXPECT_TRUE(sameBits(file.values, values));
  }
}

TEST(NpyWriterTest, EmptyArrayMayHaveNoData) {
  TempDir dir;
  Status status = writeNpyFloat32(dir.file("e.npy"), {4, 0}, nullptr);
  ASSERT_TRUE(status.ok()) << status.error();
  NpyFile file = readNpy(dir.file("e.npy"));
  ASSERT_TRUE(file.valid);
  EXPECT_TRUE(file.values.empty());
}

TEST(NpyWriterTest, SpecialValuesKeepTheirBits) {
  TempDir dir;
  std::vector<float> values = {0.0f,
                               -0.0f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::denorm_min()};
  ASSERT_TRUE(writeNpyFloat32(dir.file("x.npy"), {6}, values.data()).ok());
  EXPECT_TRUE(sameBits(readNpy(dir.file("x.npy")).values, values));
}

TEST(NpyWriterTest, OverwritesAnExistingFile) {
  TempDir dir;
  std::string path = dir.writeFile("o.npy", std::string(5000, 'x'));
  std::vector<float> values = randomNonZero(3, 3);
  ASSERT_TRUE(writeNpyFloat32(path, {3}, values.data()).ok());
  EXPECT_TRUE(sameBits(readNpy(path).values, values));
}

//===--- errors -----------------------------------------------------------===//

TEST(NpyWriterTest, UnwritablePathIsReported) {
  TempDir dir;
  std::vector<float> values = randomNonZero(5, 4);
  std::string missing = dir.file("no-such-folder/a.npy");
  Status status = writeNpyFloat32(missing, {5}, values.data());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find(missing), std::string::npos) << status.error();
  EXPECT_NE(status.error().find("cannot open for writing"), std::string::npos)
      << status.error();

  // A folder cannot be opened for writing either.
  status = writeNpyFloat32(dir.path(), {5}, values.data());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().rfind(dir.path() + ": ", 0), 0u) << status.error();

  Expected<NpyFloat32Writer> writer = NpyFloat32Writer::create(missing, {5});
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.error().find(missing), std::string::npos);
}

TEST(NpyWriterTest, FullDeviceIsReported) {
  // /dev/full accepts the open and fails every write with ENOSPC.
  if (!std::ifstream("/dev/full").good())
    GTEST_SKIP() << "no /dev/full";
  std::vector<float> values = randomNonZero(5, 5);
  Status status = writeNpyFloat32("/dev/full", {5}, values.data());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().rfind("/dev/full: cannot write: ", 0), 0u)
      << status.error();
}

TEST(NpyWriterTest, BadShapesAreRejected) {
  TempDir dir;
  std::string path = dir.file("b.npy");
  Status status = writeNpyFloat32(path, {2, -1}, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), path + ": negative dimension -1 in shape (2, -1)");

  status = writeNpyFloat32(path, {int64_t(1) << 40, int64_t(1) << 40}, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("too many values"), std::string::npos)
      << status.error();

  // Version 1.0 headers hold at most 65535 bytes.
  status = writeNpyFloat32(path, std::vector<int64_t>(30000, 1), nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("does not fit a version 1.0 header"),
            std::string::npos)
      << status.error();
}

TEST(NpyWriterTest, NullDataIsRejected) {
  TempDir dir;
  Status status = writeNpyFloat32(dir.file("n.npy"), {3}, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("null"), std::string::npos) << status.error();
}

//===--- streaming --------------------------------------------------------===//

TEST(NpyWriterTest, StreamingWriterMatchesTheWholeArray) {
  TempDir dir;
  std::vector<float> values = randomNonZero(2 * 3 * 4, 6);
  Expected<NpyFloat32Writer> created =
      NpyFloat32Writer::create(dir.file("s.npy"), {2, 3, 4});
  ASSERT_TRUE(created.ok()) << created.error();
  NpyFloat32Writer writer = created.take();
  EXPECT_EQ(writer.numElements(), 24u);
  ASSERT_TRUE(writer.append(values.data(), 5).ok());
  ASSERT_TRUE(writer.append(nullptr, 0).ok());
  ASSERT_TRUE(writer.append(values.data() + 5, 19).ok());
  EXPECT_EQ(writer.numAppended(), 24u);
  Status finished = writer.finish();
  ASSERT_TRUE(finished.ok()) << finished.error();

  ASSERT_TRUE(
      writeNpyFloat32(dir.file("w.npy"), {2, 3, 4}, values.data()).ok());
  EXPECT_EQ(readBytes(dir.file("s.npy")), readBytes(dir.file("w.npy")));

  // Nothing is accepted after finish().
  EXPECT_FALSE(writer.append(values.data(), 1).ok());
  EXPECT_FALSE(writer.finish().ok());
}

TEST(NpyWriterTest, StreamingWriterWithTooFewValuesFailsAtFinish) {
  TempDir dir;
  std::string path = dir.file("few.npy");
  Expected<NpyFloat32Writer> created = NpyFloat32Writer::create(path, {2, 3});
  ASSERT_TRUE(created.ok()) << created.error();
  NpyFloat32Writer writer = created.take();
  std::vector<float> values = randomNonZero(5, 7);
  ASSERT_TRUE(writer.append(values.data(), 5).ok());
  Status status = writer.finish();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(),
            path + ": shape (2, 3) holds 6 values but 5 were written");
  // The error sticks.
  EXPECT_EQ(writer.finish().error(), status.error());
}

TEST(NpyWriterTest, StreamingWriterRejectsTooManyValues) {
  TempDir dir;
  std::string path = dir.file("many.npy");
  Expected<NpyFloat32Writer> created = NpyFloat32Writer::create(path, {4});
  ASSERT_TRUE(created.ok()) << created.error();
  NpyFloat32Writer writer = created.take();
  std::vector<float> values = randomNonZero(5, 8);
  ASSERT_TRUE(writer.append(values.data(), 3).ok());
  Status status = writer.append(values.data() + 3, 2);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), path + ": appending 2 values to the 3 written "
                                   "would exceed the 4 values of shape (4,)");
  EXPECT_EQ(writer.numAppended(), 3u);
  EXPECT_FALSE(writer.finish().ok());
}

TEST(NpyWriterTest, MovedWriterKeepsTheFile) {
  TempDir dir;
  std::vector<float> values = randomNonZero(4, 9);
  Expected<NpyFloat32Writer> created =
      NpyFloat32Writer::create(dir.file("m.npy"), {4});
  ASSERT_TRUE(created.ok()) << created.error();
  NpyFloat32Writer first = created.take();
  ASSERT_TRUE(first.append(values.data(), 2).ok());
  NpyFloat32Writer second = std::move(first);
  ASSERT_TRUE(second.append(values.data() + 2, 2).ok());
  ASSERT_TRUE(second.finish().ok());
  EXPECT_TRUE(sameBits(readNpy(dir.file("m.npy")).values, values));
}

} // namespace
} // namespace dsrt
