//===- RuntimeBenchmarks.cpp - the host-side parts of a step and a load ---===//
//
// What the executable does on the host around the GPU's work: giving a
// decode step's sequences cache pages (every step), making dummy weights
// (every --dummy-weights start), quantising weights to fp8 at load, and
// formatting a --profile report. The
// GPU's kernels are measured by --profile on the device
// (tools/device/perf_table.py); these are the parts a host change moves.
//
//===----------------------------------------------------------------------===//

#include "../runtime/src/session/PagePool.h"
#include "../runtime/test/ProgramBuilder.h"

#include "dsrt/Profile.h"
#include "dsrt/Quantize.h"
#include "dsrt/Weights.h"

#include <benchmark/benchmark.h>

#include <cstdlib>

namespace {

/// The builder's program with a cache of `slots` sequences of 4096
/// positions in pages of 64, and one more bf16 weight of rows x cols.
dsrt::Program program(std::vector<uint8_t> &bytes, int64_t slots,
                      int64_t rows = 0, int64_t cols = 0) {
  dsrt::test::ProgramBuilder b;
  b.cache.slots = slots;
  b.cache.maxSeq = 4096;
  b.cache.pageSize = 64;
  b.model.maxPositionEmbeddings = 4096;
  if (rows)
    b.weights.push_back(
        {"big", "model.big.weight", dsrt::fb::DType::BF16, {rows, cols}});
  bytes = b.build();
  auto p = dsrt::Program::load(bytes.data(), bytes.size(), "bench");
  if (!p) {
    std::fprintf(stderr, "bench program: %s\n", p.error().c_str());
    std::abort();
  }
  return p.take();
}

/// A decode step of `state.range(0)` sequences: one page lookup per
/// sequence, a new page every 64 positions, the pool released every 4096.
void BM_PagePoolDecodeStep(benchmark::State &state) {
  const int64_t batch = state.range(0);
  std::vector<uint8_t> bytes;
  dsrt::Program p = program(bytes, batch);
  dsrt::detail::PagePool pool(p);
  dsrt::Chunk chunk;
  for (int64_t b = 0; b < batch; ++b) {
    chunk.slots.push_back(static_cast<int32_t>(b));
    chunk.positions.push_back(0);
  }
  std::vector<int32_t> released;
  int32_t position = 0;
  for (auto _ : state) {
    for (int32_t &pos : chunk.positions)
      pos = position;
    dsrt::detail::PageChanges changes;
    dsrt::Status s = pool.assign(chunk, changes);
    benchmark::DoNotOptimize(pool.takeTableChanged());
    if (!s)
      state.SkipWithError(s.error().c_str());
    if (++position == 4096) {
      position = 0;
      for (int64_t b = 0; b < batch; ++b)
        pool.release(static_cast<int32_t>(b), released);
      released.clear();
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_PagePoolDecodeStep)->Arg(1)->Arg(16)->Arg(64);

/// --dummy-weights: 64 MB of bf16 made from the seeded generator (on every
/// hardware thread), per second.
void BM_DummyWeights(benchmark::State &state) {
  std::vector<uint8_t> bytes;
  dsrt::Program p = program(bytes, 1, 8192, 4096);
  for (auto _ : state) {
    auto store = dsrt::WeightStore::dummy(p, 1);
    benchmark::DoNotOptimize(store);
  }
  state.SetBytesProcessed(state.iterations() * int64_t(8192) * 4096 * 2);
}
BENCHMARK(BM_DummyWeights)->Unit(benchmark::kMillisecond)->UseRealTime();

/// --quantize=fp8 at load: a 2048 x 1408 expert matrix (bf16, random) to
/// e4m3 with 128 x 128 block scales, on state.range(0) threads (0: all),
/// in source bytes per second.
void BM_QuantizeFP8(benchmark::State &state) {
  const int64_t rows = 2048, cols = 1408;
  std::vector<uint16_t> source(rows * cols);
  uint32_t seed = 12345;
  for (uint16_t &v : source) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint16_t>(0x3C00 + (seed >> 24)) | ((seed >> 8) & 0x8000);
  }
  // Eight matrices, each with its own outputs.
  std::vector<std::vector<uint8_t>> values(8,
                                           std::vector<uint8_t>(rows * cols));
  std::vector<std::vector<float>> scales(8, std::vector<float>(16 * 11));
  std::vector<dsrt::QuantizeJob> jobs;
  for (int j = 0; j < 8; ++j)
    jobs.push_back(
        {source.data(), values[j].data(), scales[j].data(), rows, cols});
  for (auto _ : state) {
    uint64_t bad = dsrt::quantizeFP8Blocks(
        jobs, 128, 128, static_cast<unsigned>(state.range(0)));
    benchmark::DoNotOptimize(bad);
  }
  state.SetBytesProcessed(state.iterations() * 8 * rows * cols * 2);
}
BENCHMARK(BM_QuantizeFP8)
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// The --profile report of a V2-Lite-sized chunk (23 kernels), as the
/// table and as JSON.
void BM_ProfileReport(benchmark::State &state) {
  dsrt::ChunkProfile c;
  c.entry = "decode";
  c.stepSeconds = 4e-3;
  c.bandwidth = 4.26e12;
  c.bf16Flops = 809e12;
  for (int k = 0; k < 23; ++k) {
    dsrt::KernelProfile kernel;
    kernel.name = "dsc_linear_warp_" + std::to_string(k) + "x2048";
    kernel.launches = 27;
    kernel.seconds = 1e-4 * (k + 1);
    kernel.hasCost = true;
    kernel.bytes = 1e8;
    kernel.flops = 1e8;
    c.kernels.push_back(kernel);
  }
  for (auto _ : state) {
    std::string table = dsrt::profileTable({c});
    std::string json = dsrt::profileJson({c});
    benchmark::DoNotOptimize(table);
    benchmark::DoNotOptimize(json);
  }
}
BENCHMARK(BM_ProfileReport);

} // namespace

BENCHMARK_MAIN();
