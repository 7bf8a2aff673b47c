//===- CpuDeviceTest.cpp - tests of the host thread pool --------*- C++ -*-===//
//
// Unit tests of dsrt/CpuDevice.h. A test kernel with the HostKernel ABI
// counts, in an array of atomics reached through its args, how often each
// index of the launch was handed to it; every index of [0, extent) must be
// seen exactly once for any number of threads, `tokens` must arrive
// unchanged, and long runs of launches must neither lose a wakeup nor hang.
//
//===----------------------------------------------------------------------===//

#include "dsrt/CpuDevice.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>

namespace dsrt {
namespace {

/// What the test kernel records; args[0] points to one of these.
struct Record {
  explicit Record(int64_t extent)
      : seen(std::make_unique<std::atomic<int>[]>(extent > 0 ? extent : 1)) {}
  std::unique_ptr<std::atomic<int>[]> seen; // per index
  std::atomic<int64_t> calls{0};
  std::atomic<int64_t> emptyCalls{0}; // begin >= end
  std::atomic<int64_t> outOfRange{0}; // begin < 0 or end > extent
  std::atomic<int64_t> wrongTokens{0};
  int64_t extent = 0;
  int64_t tokens = 0;
};

void markIndices(void **args, int64_t tokens, int64_t begin, int64_t end) {
  Record &record = *static_cast<Record *>(args[0]);
  record.calls.fetch_add(1);
  if (tokens != record.tokens)
    record.wrongTokens.fetch_add(1);
  if (begin >= end)
    record.emptyCalls.fetch_add(1);
  if (begin < 0 || end > record.extent) {
    record.outOfRange.fetch_add(1);
    return;
  }
  for (int64_t i = begin; i < end; ++i)
    record.seen[i].fetch_add(1);
}

/// Runs `body` on another thread and aborts the test binary if it has not
/// finished within `limit` (a deadlock would otherwise hang ctest).
template <class Body> void withDeadline(std::chrono::seconds limit, Body body) {
  auto done = std::async(std::launch::async, body);
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "CpuDeviceTest: no progress for %lld s; deadlock\n",
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  done.get();
}

class CpuDeviceTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(CpuDeviceTest, EveryIndexExactlyOnce) {
  unsigned threads = GetParam();
  CpuDevice device(threads);
  EXPECT_EQ(device.threads(), threads);
  for (int64_t extent : {0, 1, 2, 7, 1000}) {
    Record record(extent);
    record.extent = extent;
    record.tokens = 17 + extent;
    void *args[] = {&record};
    withDeadline(std::chrono::seconds(60),
                 [&] { device.run(markIndices, args, record.tokens, extent); });
    for (int64_t i = 0; i < extent; ++i)
      ASSERT_EQ(record.seen[i].load(), 1)
          << "index " << i << " of " << extent << ", " << threads << " threads";
    EXPECT_EQ(record.wrongTokens.load(), 0) << extent;
    EXPECT_EQ(record.emptyCalls.load(), 0) << extent;
    EXPECT_EQ(record.outOfRange.load(), 0) << extent;
    // One share per thread at most, and none for an empty launch.
    EXPECT_LE(record.calls.load(), static_cast<int64_t>(threads)) << extent;
    if (extent == 0)
      EXPECT_EQ(record.calls.load(), 0);
    else
      EXPECT_GE(record.calls.load(), 1) << extent;
  }
}

TEST_P(CpuDeviceTest, NegativeTokensPassThrough) {
  CpuDevice device(GetParam());
  Record record(5);
  record.extent = 5;
  record.tokens = -3;
  void *args[] = {&record};
  device.run(markIndices, args, record.tokens, 5);
  EXPECT_EQ(record.wrongTokens.load(), 0);
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_EQ(record.seen[i].load(), 1) << i;
}

TEST_P(CpuDeviceTest, ManyLaunchesInARow) {
  unsigned threads = GetParam();
  constexpr int kLaunches = 10000;
  const int64_t extents[] = {7, 1, 0, 2, 1000, 3, 8};
  Record record(1000);
  record.extent = 1000;
  record.tokens = 5;
  void *args[] = {&record};
  withDeadline(std::chrono::seconds(300), [&] {
    CpuDevice device(threads);
    for (int launch = 0; launch < kLaunches; ++launch) {
      int64_t extent = extents[launch % 7];
      record.extent = extent;
      device.run(markIndices, args, record.tokens, extent);
    }
  });
  // Index i was in every launch whose extent exceeds it.
  for (int64_t i = 0; i < 1000; ++i) {
    int64_t expected = 0;
    for (int launch = 0; launch < kLaunches; ++launch)
      expected += i < extents[launch % 7];
    ASSERT_EQ(record.seen[i].load(), expected) << "index " << i;
  }
  EXPECT_EQ(record.wrongTokens.load(), 0);
  EXPECT_EQ(record.emptyCalls.load(), 0);
  EXPECT_EQ(record.outOfRange.load(), 0);
}

TEST_P(CpuDeviceTest, DestructionWhileIdle) {
  unsigned threads = GetParam();
  withDeadline(std::chrono::seconds(60), [&] {
    // Never launched.
    {
      CpuDevice device(threads);
    }
    // Idle after a few launches; the workers are asleep when it goes.
    for (int round = 0; round < 50; ++round) {
      CpuDevice device(threads);
      Record record(16);
      record.extent = 16;
      void *args[] = {&record};
      for (int launch = 0; launch <= round % 3; ++launch)
        device.run(markIndices, args, 0, 16);
      for (int64_t i = 0; i < 16; ++i)
        ASSERT_EQ(record.seen[i].load(), round % 3 + 1);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Threads, CpuDeviceTest,
                         ::testing::Values(1u, 2u, 3u, 8u),
                         [](const ::testing::TestParamInfo<unsigned> &info) {
                           return std::to_string(info.param) + "Threads";
                         });

TEST(CpuDeviceDefaultTest, OneThreadPerHardwareThread) {
  CpuDevice device;
  unsigned hardware = std::thread::hardware_concurrency();
  EXPECT_EQ(device.threads(), hardware ? hardware : 1u);
}

} // namespace
} // namespace dsrt
