//===- CudaQuantizeTest.cpp - the device fp8 quantiser vs the host one ----===//
//
// GPU test (ctest label `gpu`; skipped, saying why, without an NVIDIA GPU
// and driver): the PTX quantiser the cuda session runs on --quantize=fp8
// weights (device/cuda/CudaQuantize.h) gives the bytes quantizeFP8Blocks
// (dsrt/Quantize.h) gives, values and scales bit for bit, with the same
// non-finite count: on random matrices of partial and whole 128 x 128
// blocks whose magnitudes span e4m3's range (subnormal codes, ties, values
// that saturate), blocks of zeros, negative zeros and a block holding inf,
// quantised whole and in bands of rows as the upload's spans do.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaQuantize.h"

#include "dsrt/CudaDriver.h"
#include "dsrt/Quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace dsrt {
namespace {

uint16_t toBF16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

/// A rows x cols bf16 matrix: each block of `block` x `block` scaled by its
/// own power of two, with the special values of the comment above.
std::vector<uint16_t> testMatrix(int64_t rows, int64_t cols, int64_t block,
                                 uint32_t seed, bool withInf) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-40, 20);
  int64_t blockCols = (cols + block - 1) / block;
  std::vector<int> blockExponent((rows + block - 1) / block * blockCols);
  for (int &e : blockExponent)
    e = exponent(random);
  std::vector<uint16_t> m(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      int64_t b = r / block * blockCols + c / block;
      float v = std::ldexp(normal(random), blockExponent[b]);
      switch (random() % 16) {
      case 0: // ties and near-ties of the e4m3 grid after scaling
        v = std::ldexp(1.0f + (random() % 16) / 16.0f,
                       blockExponent[b] - int(random() % 12));
        break;
      case 1:
        v = -0.0f;
        break;
      case 2:
        v = 0.0f;
        break;
      default:
        break;
      }
      m[r * cols + c] = toBF16(v);
    }
  // The first block all zeros; the last block's first value inf.
  for (int64_t r = 0; r < std::min(rows, block); ++r)
    for (int64_t c = 0; c < std::min(cols, block); ++c)
      m[r * cols + c] = (r + c) % 2 ? 0x0000 : 0x8000;
  if (withInf)
    m[(rows - 1) / block * block * cols + (cols - 1) / block * block] = 0x7F80;
  return m;
}

class CudaQuantizeTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto driver = CudaDriver::load();
    if (!driver)
      GTEST_SKIP() << "no NVIDIA GPU here (" << driver.error() << ")";
    d = driver.value();
    int devices = 0;
    if (d->cuInit(0) != 0 || d->cuDeviceGetCount(&devices) != 0 || devices == 0)
      GTEST_SKIP() << "no NVIDIA GPU here (the driver sees no device)";
    CUdevice device = 0;
    CUcontext context = nullptr;
    ASSERT_EQ(d->cuDeviceGet(&device, 0), 0);
    ASSERT_EQ(d->cuDevicePrimaryCtxRetain(&context, device), 0);
    ASSERT_EQ(d->cuCtxSetCurrent(context), 0);
    ASSERT_EQ(d->cuStreamCreate(&stream, 0), 0);
    Status loaded = quantizer.load(*d);
    ASSERT_TRUE(loaded.ok()) << loaded.error();
  }

  CUdeviceptr upload(const void *host, size_t bytes) {
    CUdeviceptr p = 0;
    EXPECT_EQ(d->cuMemAlloc(&p, std::max<size_t>(bytes, 8)), 0);
    EXPECT_EQ(d->cuMemcpyHtoD(p, host, bytes), 0);
    allocations.push_back(p);
    return p;
  }
  void TearDown() override {
    for (CUdeviceptr p : allocations)
      d->cuMemFree(p);
  }

  /// Quantises `m` on both sides (on the GPU in bands of `bandRows` rows)
  /// and expects the same bytes.
  void expectSame(const std::vector<uint16_t> &m, int64_t rows, int64_t cols,
                  int64_t blockRows, int64_t blockCols, int64_t bandRows) {
    int64_t scaleCount = ((rows + blockRows - 1) / blockRows) *
                         ((cols + blockCols - 1) / blockCols);
    std::vector<uint8_t> values(rows * cols);
    std::vector<float> scales(scaleCount);
    uint64_t hostNonFinite = quantizeFP8Blocks(
        {{m.data(), values.data(), scales.data(), rows, cols}}, blockRows,
        blockCols, 1);

    std::vector<uint8_t> gpuValues(rows * cols, 0xCC);
    std::vector<float> gpuScales(scaleCount, -1.0f);
    uint64_t zero = 0;
    CUdeviceptr source = upload(m.data(), m.size() * 2);
    CUdeviceptr dValues = upload(gpuValues.data(), gpuValues.size());
    CUdeviceptr dScales = upload(gpuScales.data(), gpuScales.size() * 4);
    CUdeviceptr counter = upload(&zero, 8);
    int64_t blocksPerRow = (cols + blockCols - 1) / blockCols;
    for (int64_t r = 0; r < rows; r += bandRows) {
      Status s = quantizer.launch(
          stream, source + uint64_t(r * cols) * 2, dValues + uint64_t(r * cols),
          dScales + uint64_t(r / blockRows * blocksPerRow) * 4, counter,
          std::min(bandRows, rows - r), cols, blockRows, blockCols);
      ASSERT_TRUE(s.ok()) << s.error();
    }
    ASSERT_EQ(d->cuStreamSynchronize(stream), 0);
    uint64_t gpuNonFinite = 0;
    ASSERT_EQ(d->cuMemcpyDtoH(gpuValues.data(), dValues, gpuValues.size()), 0);
    ASSERT_EQ(d->cuMemcpyDtoH(gpuScales.data(), dScales, scaleCount * 4), 0);
    ASSERT_EQ(d->cuMemcpyDtoH(&gpuNonFinite, counter, 8), 0);
    EXPECT_EQ(gpuNonFinite, hostNonFinite);
    size_t valueMismatches = 0;
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i] != gpuValues[i] && valueMismatches++ < 8)
        ADD_FAILURE() << "value " << i << " (row " << i / cols << ", col "
                      << i % cols << "): host 0x" << std::hex << int(values[i])
                      << ", GPU 0x" << int(gpuValues[i]) << std::dec
                      << ", bf16 0x" << std::hex << m[i];
    EXPECT_EQ(valueMismatches, 0u);
    EXPECT_EQ(std::memcmp(scales.data(), gpuScales.data(), scaleCount * 4), 0);
  }

  const CudaDriver *d = nullptr;
  CUstream stream = nullptr;
  CudaFp8Quantizer quantizer;
  std::vector<CUdeviceptr> allocations;
};

TEST_F(CudaQuantizeTest, PartialBlocksInOneLaunch) {
  expectSame(testMatrix(300, 260, 128, 1, false), 300, 260, 128, 128, 300);
}

TEST_F(CudaQuantizeTest, BandsOfRowsAsTheUploadSpans) {
  expectSame(testMatrix(512, 384, 128, 2, false), 512, 384, 128, 128, 128);
  expectSame(testMatrix(300, 260, 128, 3, false), 300, 260, 128, 128, 256);
}

TEST_F(CudaQuantizeTest, NonFiniteBlocksAreCountedAndZeroed) {
  expectSame(testMatrix(256, 200, 128, 4, true), 256, 200, 128, 128, 128);
}

TEST_F(CudaQuantizeTest, SmallBlocks) {
  expectSame(testMatrix(5, 7, 4, 5, false), 5, 7, 4, 4, 4);
  expectSame(testMatrix(20, 9, 8, 6, true), 20, 9, 8, 8, 8);
}

/// Every bf16 bit pattern in one matrix, one block per 128 x 128 values.
TEST_F(CudaQuantizeTest, EveryBF16Value) {
  std::vector<uint16_t> m(65536);
  for (size_t i = 0; i < m.size(); ++i)
    m[i] = static_cast<uint16_t>(i);
  expectSame(m, 256, 256, 128, 128, 256);
  // Without the non-finite values, so that every block is encoded.
  for (uint16_t &x : m)
    if ((x & 0x7F80) == 0x7F80)
      x = static_cast<uint16_t>(x & 0x807F);
  expectSame(m, 256, 256, 128, 128, 128);
  expectSame(m, 512, 128, 16, 16, 512);
}

} // namespace
} // namespace dsrt
