//===- TokenizerBenchmark.cpp - speed of the tokenizer -------------------===//
//
// How fast libdsrt's tokenizer loads a tokenizer.json and encodes English
// (about 1 MB of varied prose per call, so that the per-call piece cache
// works as it would on a long prompt). With DSC_TOKENIZER_JSON pointing at a
// real tokenizer.json (e.g. DeepSeek-V3's, which test/tokenizer/run-compat.sh
// installs under BUILD_DIR/tokenizer-npm) the figures are for that file;
// without it, encoding runs on a small synthetic tokenizer with V3's split
// patterns and the load benchmark is skipped.
//
//   DSC_TOKENIZER_JSON=.../tokenizer.json build/bin/dsc-bench-tokenizer
//
//===----------------------------------------------------------------------===//

#include "dsrt/Tokenizer.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char *const kParagraphs[] = {
    "The history of computing is a story of abstraction. Early machines were "
    "programmed by rewiring panels; later, stored programs let the same "
    "hardware compute anything a person could describe precisely.",
    "In the spring of 1953, the committee met again to discuss the budget. "
    "Nobody expected the proposal to pass, yet by noon three of the seven "
    "members had changed their minds, and the vote was 4 to 3.",
    "She walked along the river until the lights of the town disappeared "
    "behind her. The water was cold and loud, and for a long while she "
    "thought about nothing at all.",
    "Compilers translate programs written in one language into another. A "
    "good compiler checks what it can, explains what it rejects, and leaves "
    "the programmer's intent recognisable in the output.",
    "Prices rose by 2.7% in March, the statistics office said on Tuesday, "
    "while wages grew by only 1.9%. Economists had expected a smaller gap.",
    "\"Are you sure?\" he asked. \"Quite sure,\" she replied, closing the "
    "notebook. \"We'll know by Friday, one way or the other.\"",
    "Large language models predict the next token of a text. Given enough "
    "data and parameters, they learn grammar, facts and a surprising amount "
    "of reasoning, although they still make confident mistakes.",
    "The recipe calls for two cups of flour, a teaspoon of salt, three eggs "
    "and half a litre of milk. Whisk everything together and let it rest "
    "for at least thirty minutes before cooking.",
    "Mountains shape the weather of the valleys below them: clouds rise, "
    "cool and release their rain on the western slopes, leaving the eastern "
    "side dry for most of the year.",
    "Please find attached the report for Q3. Section 4 covers the new "
    "deployment schedule; comments are welcome until the end of next week.",
};

/// About `bytes` of English: the paragraphs in a fixed pseudo-random order,
/// with numbered headings so that not every piece repeats.
std::string makeEnglish(size_t bytes) {
  std::string text;
  uint64_t state = 12345;
  size_t section = 0;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    if (text.size() / 4000 >= section)
      text += "\n\nSection " + std::to_string(++section) + ".\n";
    text += kParagraphs[(state >> 33) % std::size(kParagraphs)];
    text += (state >> 20) % 3 == 0 ? "\n" : " ";
  }
  return text;
}

std::string readFile(const char *path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

/// A tokenizer.json with V3's pre-tokenizer, the 256 byte symbols, and merges
/// that build every word of the paragraphs (with and without its leading
/// space) left to right.
std::string makeSyntheticTokenizer() {
  std::vector<std::string> vocab;
  std::set<std::string> known;
  std::vector<std::pair<std::string, std::string>> merges;
  auto add = [&](const std::string &token) {
    if (known.insert(token).second)
      vocab.push_back(token);
  };
  for (int b = 0; b < 256; ++b)
    add(dsrt::byteLevelSymbol(static_cast<uint8_t>(b)));
  for (const char *paragraph : kParagraphs) {
    std::string text = paragraph;
    for (size_t start = 0; start < text.size();) {
      size_t end = start + 1;
      while (end < text.size() &&
             std::isalpha(static_cast<unsigned char>(text[end])))
        ++end;
      std::string word = text.substr(start, end - start);
      start = end;
      std::string prefix = dsrt::byteLevelSymbol(static_cast<uint8_t>(word[0]));
      for (size_t i = 1; i < word.size(); ++i) {
        std::string next = dsrt::byteLevelSymbol(static_cast<uint8_t>(word[i]));
        if (!known.count(prefix + next)) {
          merges.push_back({prefix, next});
          add(prefix + next);
        }
        prefix += next;
      }
    }
  }
  std::string json =
      R"({"added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Sequence","pretokenizers":[)"
      R"({"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior":"Isolated","invert":false},)"
      R"({"type":"Split","pattern":{"Regex":"[一-龥぀-ゟ゠-ヿ]+"},"behavior":"Isolated","invert":false},)"
      R"({"type":"Split","pattern":{"Regex":"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},)"
      R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},)"
      R"("decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{)";
  for (size_t i = 0; i < vocab.size(); ++i)
    json += (i ? "," : "") + jsonString(vocab[i]) + ":" + std::to_string(i);
  json += "},\"merges\":[";
  for (size_t i = 0; i < merges.size(); ++i)
    json +=
        (i ? "," : "") + jsonString(merges[i].first + " " + merges[i].second);
  return json + "]}}";
}

/// The tokenizer.json to measure: DSC_TOKENIZER_JSON, or the synthetic one.
const std::string &tokenizerJson(bool &real) {
  static const char *path = std::getenv("DSC_TOKENIZER_JSON");
  static const std::string json =
      path && *path ? readFile(path) : makeSyntheticTokenizer();
  real = path && *path;
  return json;
}

void BM_EncodeEnglish(benchmark::State &state) {
  bool real = false;
  auto tokenizer = dsrt::Tokenizer::fromJson(tokenizerJson(real), "bench");
  if (!tokenizer.ok()) {
    state.SkipWithError(tokenizer.error().c_str());
    return;
  }
  state.SetLabel(real ? "DSC_TOKENIZER_JSON" : "synthetic tokenizer");
  std::string text = makeEnglish(size_t(1) << 20);
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = tokenizer.value().encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond);

void BM_DecodeEnglish(benchmark::State &state) {
  bool real = false;
  auto tokenizer = dsrt::Tokenizer::fromJson(tokenizerJson(real), "bench");
  if (!tokenizer.ok()) {
    state.SkipWithError(tokenizer.error().c_str());
    return;
  }
  std::string text = makeEnglish(size_t(1) << 20);
  std::vector<int32_t> ids = tokenizer.value().encode(text);
  for (auto _ : state) {
    dsrt::IncrementalDecoder decoder(tokenizer.value());
    size_t bytes = 0;
    for (int32_t id : ids)
      bytes += decoder.push(id).size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_DecodeEnglish)->Unit(benchmark::kMillisecond);

void BM_LoadTokenizer(benchmark::State &state) {
  bool real = false;
  const std::string &json = tokenizerJson(real);
  if (!real) {
    state.SkipWithError("skipped: set DSC_TOKENIZER_JSON to a tokenizer.json");
    return;
  }
  for (auto _ : state) {
    auto tokenizer = dsrt::Tokenizer::fromJson(json, "tokenizer.json");
    if (!tokenizer.ok()) {
      state.SkipWithError(tokenizer.error().c_str());
      return;
    }
    benchmark::DoNotOptimize(tokenizer.value().vocabSize());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(json.size()));
}
BENCHMARK(BM_LoadTokenizer)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
