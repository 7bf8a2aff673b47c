//===- Options.cpp - the command line of a dsc executable -----------------===//
//
// parseOptions() and --help. Numbers are parsed whole (no trailing bytes) and
// range-checked against the compiled program: token ids against the
// vocabulary, the batch against the cache's slots, each prompt against its
// positions.
//
//===----------------------------------------------------------------------===//

#include "cli/Options.h"

#include "cli/Fail.h"
#include "cli/PromptIdsFile.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace dsrt::cli {

namespace {

void printHelp(const char *argv0, const dsrt::Program &program) {
  const dsrt::fb::Program &p = program.fb();
  std::printf(
      "usage: %s -p \"TEXT\" | -f FILE | --chat | --prompt-ids \"ID ...\" "
      "[options]\n\n"
      "Runs %s (%s target, compiled by dsc %s).\n\n"
      "Text (needs the tokenizer compiled in from tokenizer.json):\n"
      "  -p, --prompt TEXT      a user message, in the model's chat format;\n"
      "                         the reply streams to stdout\n"
      "  -f, --file FILE        the message read from FILE\n"
      "  --chat                 interactive, multi-turn, from stdin\n"
      "  --system TEXT          system prompt\n"
      "  --raw                  send the text as is (BOS + text), no chat "
      "format\n"
      "  --stop STR             stop when the output ends with STR "
      "(repeatable)\n"
      "  --hide-reasoning       R1: do not show the <think> part (shown on "
      "stderr)\n"
      "  --tokenize             print the prompt's token ids as JSON and exit\n"
      "  --show-prompt          print the formatted prompt to stderr\n\n"
      "Token ids:\n"
      "  --prompt-ids \"0 5 9\"  prompt token ids; repeat for a batch (at most "
      "%lld)\n"
      "  --prompt-ids-file F    one prompt's token ids read from file F (- "
      "for\n"
      "                         stdin), the same ids as --prompt-ids "
      "separated\n"
      "                         by any whitespace, newlines included: the\n"
      "                         whole file is one prompt; repeatable, mixes\n"
      "                         with --prompt-ids (for prompts longer than "
      "one\n"
      "                         command-line argument can hold)\n"
      "  -n, --max-tokens N     tokens to generate per prompt (default 16)\n"
      "  --temp T               sampling temperature; 0 = greedy (default 0)\n"
      "  --top-k K              keep the K most likely tokens (0 = off)\n"
      "  --top-p P              nucleus sampling mass in (0, 1] (1 = off)\n"
      "  --min-p P              drop tokens below P x the top probability\n"
      "  --seed S               random seed (same seed, same tokens)\n"
      "  --ignore-eos           keep generating after the end-of-sequence "
      "token\n"
      "  --dump-logits F.npy    f32 logits [batch, positions, vocab] of every\n"
      "                         prompt position and generated step "
      "(NaN-padded)\n"
      "  --json                 token ids and timings as JSON\n"
      "  --logprobs N           with --json, each generated token's\n"
      "                         log-probability (log_softmax(logits / T)\n"
      "                         over the whole vocabulary, before top-k/p\n"
      "                         and min-p; T = 1 when greedy) and the N most\n"
      "                         likely tokens' (executables from dsc compile\n"
      "                         --logprobs=K, N <= K)\n"
      "  --bench                print prefill and decode tokens/s and the\n"
      "                         start-up phases on stderr\n"
      "  --weights DIR          checkpoint folder (default: %s)\n"
      "  --dummy-weights        random weights of the compiled shapes\n"
      "  --threads N            worker threads (default: all hardware "
      "threads)\n"
      "  --cache-pages N        pages in the KV cache pool (default: every\n"
      "                         sequence's --max-seq-len at --max-batch)\n"
      "  --prompt-mode M        prefill (default) or decode: run the prompt\n"
      "                         through single-token decode steps (a check\n"
      "                         that both entry points agree)\n"
      "  --check-kernels        compare every GPU launch with the kernel's\n"
      "                         host lowering on the same inputs and print a\n"
      "                         table; exit 1 on a mismatch (executables from\n"
      "                         dsc compile --check-kernels)\n"
      "  --profile              cuda: time every kernel inside the CUDA graph\n"
      "                         of the first chunk of each shape, with its\n"
      "                         bytes and FLOPs against the device's ceilings\n"
      "                         (table on stderr; in the JSON with --json)\n"
      "\nBenchmarks (no prompt needed; random ids, one process):\n"
      "  --bench-sweep LIST     comma-separated workloads, each run once to\n"
      "                         warm up and once timed:\n"
      "                           decode:B[@C]  B prompts of C ids (default "
      "8),\n"
      "                                         then 32 decode steps\n"
      "                           prefill:N     one prompt of N ids\n"
      "                         options after a colon: n=STEPS, temp=T,\n"
      "                         top-p=P, top-k=K, min-p=P (e.g.\n"
      "                         decode:1@4096:temp=0.6:top-p=0.95); with\n"
      "                         --profile, each warm-up run is profiled\n"
      "  --help, --version\n\n"
      "Context: %lld positions per sequence. Generated ids go to stdout, one\n"
      "line per prompt.\n",
      argv0, p.model()->family()->c_str(), p.target()->c_str(),
      p.dsc_version() ? p.dsc_version()->c_str() : "?",
      static_cast<long long>(p.cache()->slots()),
      p.checkpoint_dir() ? p.checkpoint_dir()->c_str() : "none",
      static_cast<long long>(p.cache()->max_seq()));
}

int64_t parseInteger(const std::string &flag, const std::string &text,
                     int64_t low, int64_t high) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v < low || v > high)
    fail(flag + " expects an integer in [" + std::to_string(low) + ", " +
         std::to_string(high) + "], got '" + text + "'");
  return v;
}

float parseFloat(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  float v = std::strtof(text.c_str(), &end);
  if (text.empty() || *end || !std::isfinite(v))
    fail(flag + " expects a number, got '" + text + "'");
  return v;
}

std::vector<int32_t> parseIds(const std::string &text, int64_t vocab) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word)
    ids.push_back(
        static_cast<int32_t>(parseInteger("--prompt-ids", word, 0, vocab - 1)));
  if (ids.empty())
    fail("--prompt-ids is empty");
  return ids;
}

/// One --bench-sweep workload (see --help).
SweepItem parseSweepItem(const std::string &text) {
  const std::string flag = "--bench-sweep";
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');)
    parts.push_back(part);
  if (parts.size() < 2 || (parts[0] != "decode" && parts[0] != "prefill"))
    fail(flag + ": '" + text +
         "' is not decode:B[@C][:KEY=VALUE...] or prefill:N[:KEY=VALUE...]");
  SweepItem item;
  item.label = text;
  item.prefill = parts[0] == "prefill";
  const int64_t kMax = int64_t(1) << 24;
  if (item.prefill) {
    item.promptTokens = parseInteger(flag + " prefill", parts[1], 1, kMax);
    item.decodeTokens = 0;
  } else {
    size_t at = parts[1].find('@');
    item.batch =
        parseInteger(flag + " decode batch", parts[1].substr(0, at), 1, kMax);
    if (at != std::string::npos)
      item.promptTokens = parseInteger(flag + " decode context",
                                       parts[1].substr(at + 1), 1, kMax);
  }
  for (size_t i = 2; i < parts.size(); ++i) {
    size_t eq = parts[i].find('=');
    std::string key = parts[i].substr(0, eq);
    std::string value = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    std::string what = flag + " " + key;
    if (key == "n" && !item.prefill)
      item.decodeTokens = parseInteger(what, value, 1, kMax);
    else if (key == "temp")
      item.sampling.temperature = parseFloat(what, value);
    else if (key == "top-p")
      item.sampling.topP = parseFloat(what, value);
    else if (key == "top-k")
      item.sampling.topK = static_cast<int>(parseInteger(what, value, 0, kMax));
    else if (key == "min-p")
      item.sampling.minP = parseFloat(what, value);
    else
      fail(flag + ": unknown option '" + parts[i] + "' in '" + text +
           "' (n=, temp=, top-p=, top-k=, min-p=)");
  }
  return item;
}

} // namespace

Options parseOptions(int argc, char **argv, const dsrt::Program &program) {
  Options o;
  int64_t vocab = program.fb().model()->vocab_size();
  bool readStdin = false; // by --prompt-ids-file -
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        fail(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      printHelp(argv[0], program);
      std::exit(0);
    } else if (flag == "--version") {
      const dsrt::fb::Program &p = program.fb();
      std::printf("dsc %s, target %s, model %s\n",
                  p.dsc_version() ? p.dsc_version()->c_str() : "?",
                  p.target()->c_str(), p.model()->family()->c_str());
      std::exit(0);
    } else if (flag == "-p" || flag == "--prompt") {
      o.text = value();
      o.haveText = true;
    } else if (flag == "-f" || flag == "--file") {
      std::string path = value();
      std::ifstream in(path, std::ios::binary);
      if (!in)
        fail("cannot read " + path + ": " + std::strerror(errno));
      o.text.assign(std::istreambuf_iterator<char>(in), {});
      o.haveText = true;
    } else if (flag == "--chat") {
      o.chat = true;
    } else if (flag == "--system") {
      o.system = value();
    } else if (flag == "--raw") {
      o.raw = true;
    } else if (flag == "--stop") {
      o.stops.push_back(value());
      if (o.stops.back().empty())
        fail("--stop needs a non-empty string");
    } else if (flag == "--hide-reasoning") {
      o.hideReasoning = true;
    } else if (flag == "--tokenize") {
      o.tokenizeOnly = true;
    } else if (flag == "--show-prompt") {
      o.showPrompt = true;
    } else if (flag == "--prompt-ids") {
      o.prompts.push_back(parseIds(value(), vocab));
    } else if (flag == "--prompt-ids-file") {
      std::string path = value();
      if (path == "-") {
        if (readStdin)
          fail("--prompt-ids-file - : stdin can be read only once");
        readStdin = true;
      }
      o.prompts.push_back(
          readPromptIdsFile(path, vocab, program.fb().cache()->max_seq()));
    } else if (flag == "-n" || flag == "--max-tokens") {
      o.maxTokens = parseInteger(flag, value(), 0, 1 << 24);
    } else if (flag == "--temp" || flag == "--temperature") {
      o.sampling.temperature = parseFloat(flag, value());
    } else if (flag == "--top-k") {
      o.sampling.topK = static_cast<int>(parseInteger(flag, value(), 0, vocab));
    } else if (flag == "--top-p") {
      o.sampling.topP = parseFloat(flag, value());
    } else if (flag == "--min-p") {
      o.sampling.minP = parseFloat(flag, value());
    } else if (flag == "--seed") {
      o.sampling.seed = static_cast<uint64_t>(
          parseInteger(flag, value(), 0, std::numeric_limits<int64_t>::max()));
    } else if (flag == "--logprobs") {
      int32_t compiled = program.entry("decode").top_logprobs();
      if (compiled < 0)
        fail("--logprobs: this executable reports no log-probabilities "
             "(compile it with dsc compile --logprobs=N)");
      o.logProbs = static_cast<int>(parseInteger(flag, value(), 0, compiled));
    } else if (flag == "--dump-logits") {
      o.dumpLogits = value();
    } else if (flag == "--weights") {
      o.weightsDir = value();
    } else if (flag == "--cache-pages") {
      o.cachePages = parseInteger(flag, value(), 1, int64_t(1) << 31);
    } else if (flag == "--threads") {
      o.threads = static_cast<unsigned>(parseInteger(flag, value(), 1, 1024));
    } else if (flag == "--prompt-mode") {
      std::string mode = value();
      if (mode != "prefill" && mode != "decode")
        fail("--prompt-mode expects prefill or decode, got '" + mode + "'");
      o.promptByDecode = mode == "decode";
    } else if (flag == "--json") {
      o.json = true;
    } else if (flag == "--bench") {
      o.bench = true;
    } else if (flag == "--dummy-weights") {
      o.dummyWeights = true;
    } else if (flag == "--check-kernels") {
      o.checkKernels = true;
    } else if (flag == "--profile") {
      o.profile = true;
    } else if (flag == "--bench-sweep") {
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');)
        if (!item.empty())
          o.sweep.push_back(parseSweepItem(item));
      if (o.sweep.empty())
        fail("--bench-sweep needs at least one workload (see --help)");
    } else if (flag == "--ignore-eos") {
      o.ignoreEos = true;
    } else {
      fail("unknown option '" + flag + "' (see --help)");
    }
  }
  dsrt::Status valid = dsrt::validate(o.sampling);
  if (!valid)
    fail(valid.error());
  bool textMode = o.haveText || o.chat;
  if (textMode && !o.prompts.empty())
    fail("give either text (-p, -f, --chat) or --prompt-ids, not both");
  if (o.haveText && o.chat)
    fail("--chat reads its messages from stdin; drop -p/-f");
  if (textMode && o.checkKernels)
    fail("--check-kernels runs token ids: give --prompt-ids");
  if (o.haveText && o.text.find_first_not_of(" \t\r\n") == std::string::npos)
    fail("the prompt is empty");
  if (o.profile && o.checkKernels)
    fail("--profile times the kernels as they run; --check-kernels runs a "
         "host twin beside each: use one at a time");
  if (o.logProbs >= 0 && (textMode || !o.json || !o.sweep.empty()))
    fail("--logprobs prints in the JSON of token ids: give --prompt-ids and "
         "--json");
  if (textMode && o.profile)
    fail("--profile runs token ids: give --prompt-ids or --bench-sweep");
  if (textMode)
    return o;
  int64_t slots = program.fb().cache()->slots();
  int64_t maxSeq = program.fb().cache()->max_seq();
  if (!o.sweep.empty()) {
    if (!o.prompts.empty() || o.checkKernels || !o.dumpLogits.empty())
      fail("--bench-sweep makes its own prompts: drop --prompt-ids, "
           "--check-kernels and --dump-logits");
    for (SweepItem &item : o.sweep) {
      item.sampling.seed = o.sampling.seed;
      if (dsrt::Status s = dsrt::validate(item.sampling); !s)
        fail("--bench-sweep " + item.label + ": " + s.error());
      if (item.batch > slots)
        fail("--bench-sweep " + item.label + ": a batch of " +
             std::to_string(item.batch) +
             ", but this executable was compiled for at most " +
             std::to_string(slots) + " (dsc compile --max-batch)");
      if (item.promptTokens + std::max<int64_t>(item.decodeTokens, 1) > maxSeq)
        fail("--bench-sweep " + item.label + ": " +
             std::to_string(item.promptTokens) + " prompt ids and " +
             std::to_string(item.decodeTokens) + " steps exceed the " +
             std::to_string(maxSeq) +
             " positions this executable was compiled for (dsc compile "
             "--max-seq-len)");
    }
    return o;
  }
  if (o.prompts.empty())
    fail("no prompt: give -p \"TEXT\", --chat or --prompt-ids \"ID ID ...\" "
         "(see --help)");
  if (static_cast<int64_t>(o.prompts.size()) > slots)
    fail(std::to_string(o.prompts.size()) +
         " prompts, but this executable was compiled for a batch of at most " +
         std::to_string(slots) + " (dsc compile --max-batch)");
  for (const auto &prompt : o.prompts)
    if (static_cast<int64_t>(prompt.size()) > maxSeq)
      fail("a prompt of " + std::to_string(prompt.size()) +
           " tokens is longer than the " + std::to_string(maxSeq) +
           " positions this executable was compiled for (dsc compile "
           "--max-seq-len)");
  return o;
}

} // namespace dsrt::cli
