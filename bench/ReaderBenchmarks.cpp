//===- ReaderBenchmarks.cpp - speed of the checkpoint readers ------------===//
//
// How fast dsc reads what a checkpoint folder holds: a safetensors header of
// the size of a V3 shard (thousands of tensors), DeepSeek-V3's config.json,
// and the full V3 tensor list with its parameter counts (what `dsc info`
// and the checkpoint check do).
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelConfig.h"
#include "dsc/Frontend/ModelWeights.h"
#include "dsrt/Safetensors.h"

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// A safetensors file of `count` 128x128 bf16 tensors (header + data).
std::vector<uint8_t> makeShard(int count) {
  std::string header = "{";
  uint64_t offset = 0, bytes = 128 * 128 * 2;
  for (int i = 0; i < count; ++i) {
    header +=
        (i ? "," : "") + std::string("\"model.layers.") +
        std::to_string(i / 500) + ".mlp.experts." + std::to_string(i % 500) +
        ".up_proj.weight\":{\"dtype\":\"BF16\","
        "\"shape\":[128,128],\"data_offsets\":[" +
        std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  std::vector<uint8_t> file(8 + header.size() + offset, 1);
  for (int i = 0; i < 8; ++i)
    file[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), file.begin() + 8);
  return file;
}

void BM_SafetensorsHeader(benchmark::State &state) {
  std::vector<uint8_t> file = makeShard(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto header = dsrt::parseSafetensorsHeader(file.data(), file.size(),
                                               "bench.safetensors");
    benchmark::DoNotOptimize(header);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SafetensorsHeader)->Arg(600)->Arg(6000);

std::string readExample(const char *name) {
  std::ifstream in(std::string(DSC_EXAMPLES_DIR) + "/" + name + "/config.json");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void BM_ParseV3Config(benchmark::State &state) {
  std::string text = readExample("deepseek-v3");
  for (auto _ : state) {
    auto config = dsc::parseModelConfig(text, "config.json");
    benchmark::DoNotOptimize(config);
  }
}
BENCHMARK(BM_ParseV3Config);

void BM_V3TensorListAndSummary(benchmark::State &state) {
  dsc::ModelConfig config =
      dsc::parseModelConfig(readExample("deepseek-v3"), "config.json").take();
  for (auto _ : state) {
    dsc::ModelSummary summary = dsc::summarize(config);
    benchmark::DoNotOptimize(summary);
  }
}
BENCHMARK(BM_V3TensorListAndSummary)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
