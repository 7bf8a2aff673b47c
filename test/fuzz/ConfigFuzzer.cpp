//===- ConfigFuzzer.cpp - libFuzzer target for config.json ---------------===//
//
// Feeds arbitrary bytes to the config reader as `config.json`. Whatever the
// input, parsing must end in a config or an error message, never a crash,
// hang or sanitizer report. An accepted config is also summarised and its
// tensor list built, since `dsc info` does that with any accepted config.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ModelConfig.h"
#include "dsc/Frontend/ModelWeights.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  dsrt::Expected<dsc::ModelConfig> config =
      dsc::parseModelConfig(text, "config.json");
  if (!config) {
    if (config.error().empty())
      __builtin_trap(); // every rejection must say why
    return 0;
  }
  // Bound the work per input: the tensor list of a 1024-layer model with
  // thousands of experts is millions of entries.
  const dsc::ModelConfig &c = config.value();
  if (c.numLayers * (3 * c.numRoutedExperts + 16) <= 200000) {
    dsc::ModelSummary summary = dsc::summarize(c);
    if (summary.totalParameters <= 0 || summary.activeParameters <= 0 ||
        summary.activeParameters > summary.totalParameters + c.hiddenSize)
      __builtin_trap();
  }
  return 0;
}
