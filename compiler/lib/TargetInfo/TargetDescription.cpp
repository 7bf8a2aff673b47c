//===- TargetDescription.cpp - the instruction-set and device tables ------===//
//
// The two tables of TargetDescription.h: one row per instruction set dsc
// emits code for, one row per GPU model it sizes kernels for.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/TargetDescription.h"

namespace dsc {

namespace {

TargetDescription cuda(std::string chip, std::string ptx, bool mmaSync,
                       bool wgmma, bool tma, bool fp8Mma,
                       int64_t sharedPerBlock, std::string device) {
  TargetDescription t;
  t.kind = TargetDescription::Kind::CUDA;
  t.name = "cuda:" + chip;
  t.chip = std::move(chip);
  t.ptxFeature = std::move(ptx);
  t.hasWarpShuffle = true;
  t.hasMmaSync = mmaSync;
  t.hasWgmma = wgmma;
  t.hasTma = tma;
  t.hasFp8Mma = fp8Mma;
  t.hasFp8Convert = fp8Mma;         // both arrive with sm_89
  t.hasGridDependencyControl = tma; // all three arrive with sm_90
  t.hasClusters = tma;
  t.hasAsyncCopy = mmaSync; // both arrive with sm_80
  t.maxThreadsPerBlock = 1024;
  t.maxRegistersPerThread = 255;
  t.maxSharedMemoryPerBlock = sharedPerBlock;
  t.defaultDevice = std::move(device);
  return t;
}

const TargetDescription kTargets[] = {
    {TargetDescription::Kind::Host, "cpu", "", "", false, false, false, false,
     false, false, false, false, false, 0, 0, 0, ""},
    // A100 / A30: mma.sync (bf16), cp.async; 163 KB shared memory per block.
    cuda("sm_80", "+ptx70", true, false, false, false, 163 * 1024, "a100"),
    // L4 / L40 / RTX 4090: adds fp8 mma.sync and conversions (LLVM emits
    // cvt.rn.f16x2.e4m3x2 from PTX 8.1); 99 KB per block.
    cuda("sm_89", "+ptx81", true, false, false, true, 99 * 1024, "l40s"),
    // H100 / H200: wgmma, TMA, fp8; 227 KB per block.
    cuda("sm_90a", "+ptx80", true, true, true, true, 227 * 1024, "h200"),
};

constexpr int64_t kKiB = 1024, kMiB = 1024 * kKiB, kGB = 1000000000;

// Measured figures: ../shared/docs/performance.md (H200, this project's
// machine); the others are datasheet figures until measured.
const DeviceProfile kDevices[] = {
    // Measured: device-to-device copy 4.25-4.27 TB/s; cuBLAS GEMM 8192^3 at
    // best 809 TFLOP/s in bf16 and 1485 in fp8 (datasheet: 989 / 1979).
    {"h200",
     "NVIDIA H200 SXM, 141 GB HBM3e (copy bandwidth and cuBLAS GEMM "
     "rates measured)",
     "sm_90a", 132, 65536, 228 * kKiB, 60 * kMiB, 141 * kGB, 4.26e12, 809e12,
     1485e12},
    {"h100", "NVIDIA H100 SXM, 80 GB HBM3 (datasheet)", "sm_90a", 132, 65536,
     228 * kKiB, 50 * kMiB, 80 * kGB, 3.35e12, 989e12, 1979e12},
    {"a100", "NVIDIA A100 SXM, 80 GB HBM2e (datasheet)", "sm_80", 108, 65536,
     164 * kKiB, 40 * kMiB, 80 * kGB, 2.04e12, 312e12, 0},
    {"l40s", "NVIDIA L40S, 48 GB GDDR6 (datasheet)", "sm_89", 142, 65536,
     100 * kKiB, 96 * kMiB, 48 * kGB, 0.864e12, 362e12, 733e12},
};

template <typename Row, size_t N>
const Row *lookup(const Row (&table)[N], llvm::StringRef name,
                  std::string &known) {
  known.clear();
  for (const Row &row : table) {
    if (row.name == name)
      return &row;
    known += (known.empty() ? "" : ", ") + row.name;
  }
  return nullptr;
}

} // namespace

std::optional<TargetDescription> lookupTarget(llvm::StringRef name,
                                              std::string &known) {
  if (const TargetDescription *t = lookup(kTargets, name, known))
    return *t;
  return std::nullopt;
}

std::optional<DeviceProfile> lookupDeviceProfile(llvm::StringRef name,
                                                 std::string &known) {
  if (const DeviceProfile *d = lookup(kDevices, name, known))
    return *d;
  return std::nullopt;
}

} // namespace dsc
