//===- Main.cpp - the command line of a dsc executable --------------------===//
//
// main() of every executable dsc builds. The compiler links it with an
// object that defines the program (dsc_program_data/size) and the host
// kernel table (dsc_kernel_table/count). It parses the command line, loads
// and verifies the program, checks and loads the weights, runs prefill and
// batched decode, and prints the generated token ids (one line per prompt),
// or JSON, logits (.npy) and throughput as asked.
//
// Every failure is one "error: ..." line on stderr and exit status 1;
// nothing is printed to stdout before the whole generation succeeded.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Checkpoint.h"
#include "dsrt/CpuDevice.h"
#include "dsrt/NpyWriter.h"
#include "dsrt/Program.h"
#include "dsrt/Sampler.h"
#include "dsrt/Session.h"
#include "dsrt/Weights.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

extern "C" {
extern const uint8_t dsc_program_data[];
extern const uint64_t dsc_program_size;
extern const dsrt::HostKernel dsc_kernel_table[];
extern const uint64_t dsc_kernel_count;
}

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::vector<std::vector<int32_t>> prompts;
  int64_t maxTokens = 16;
  dsrt::SamplingParams sampling;
  std::string dumpLogits;
  std::string weightsDir;
  bool json = false, bench = false, dummyWeights = false, ignoreEos = false;
  bool promptByDecode = false; // --prompt-mode decode
  unsigned threads = 0;
};

void printHelp(const char *argv0, const dsrt::Program &program) {
  const dsrt::fb::Program &p = program.fb();
  std::printf(
      "usage: %s --prompt-ids \"ID ID ...\" [options]\n\n"
      "Runs %s (%s target, compiled by dsc %s).\n\n"
      "  --prompt-ids \"0 5 9\"  prompt token ids; repeat for a batch (at most %lld)\n"
      "  -n, --max-tokens N     tokens to generate per prompt (default 16)\n"
      "  --temp T               sampling temperature; 0 = greedy (default 0)\n"
      "  --top-k K              keep the K most likely tokens (0 = off)\n"
      "  --top-p P              nucleus sampling mass in (0, 1] (1 = off)\n"
      "  --min-p P              drop tokens below P x the top probability\n"
      "  --seed S               random seed (same seed, same tokens)\n"
      "  --ignore-eos           keep generating after the end-of-sequence token\n"
      "  --dump-logits F.npy    f32 logits [batch, positions, vocab] of every\n"
      "                         prompt position and generated step (NaN-padded)\n"
      "  --json                 token ids and timings as JSON\n"
      "  --bench                print prefill and decode tokens/s on stderr\n"
      "  --weights DIR          checkpoint folder (default: %s)\n"
      "  --dummy-weights        random weights of the compiled shapes\n"
      "  --threads N            worker threads (default: all hardware threads)\n"
      "  --prompt-mode M        prefill (default) or decode: run the prompt\n"
      "                         through single-token decode steps (a check\n"
      "                         that both entry points agree)\n"
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
    ids.push_back(static_cast<int32_t>(
        parseInteger("--prompt-ids", word, 0, vocab - 1)));
  if (ids.empty())
    fail("--prompt-ids is empty");
  return ids;
}

Options parseOptions(int argc, char **argv, const dsrt::Program &program) {
  Options o;
  int64_t vocab = program.fb().model()->vocab_size();
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
    } else if (flag == "--prompt-ids") {
      o.prompts.push_back(parseIds(value(), vocab));
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
    } else if (flag == "--dump-logits") {
      o.dumpLogits = value();
    } else if (flag == "--weights") {
      o.weightsDir = value();
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
    } else if (flag == "--ignore-eos") {
      o.ignoreEos = true;
    } else {
      fail("unknown option '" + flag + "' (see --help)");
    }
  }
  dsrt::Status valid = dsrt::validate(o.sampling);
  if (!valid)
    fail(valid.error());
  if (o.prompts.empty())
    fail("no prompt: give --prompt-ids \"ID ID ...\" (see --help)");
  int64_t slots = program.fb().cache()->slots();
  if (static_cast<int64_t>(o.prompts.size()) > slots)
    fail(std::to_string(o.prompts.size()) +
         " prompts, but this executable was compiled for a batch of at most " +
         std::to_string(slots) + " (dsc compile --max-batch)");
  int64_t maxSeq = program.fb().cache()->max_seq();
  for (const auto &prompt : o.prompts)
    if (static_cast<int64_t>(prompt.size()) > maxSeq)
      fail("a prompt of " + std::to_string(prompt.size()) +
           " tokens is longer than the " + std::to_string(maxSeq) +
           " positions this executable was compiled for (dsc compile "
           "--max-seq-len)");
  return o;
}

bool isDirectory(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

dsrt::WeightStore loadWeights(const Options &o, const dsrt::Program &program,
                              const char *argv0) {
  if (o.dummyWeights) {
    auto store = dsrt::WeightStore::dummy(program, o.sampling.seed);
    if (!store)
      fail(store.error());
    return store.take();
  }
  if (o.weightsDir.empty()) {
    // Weights appended by `dsc compile --embed-weights` come first.
    auto embedded = dsrt::WeightStore::fromExecutable(program, "/proc/self/exe");
    if (!embedded)
      fail(std::string(argv0) + ": " + embedded.error());
    if (embedded.value().numWeights() > 0)
      return embedded.take();
  }
  std::string dir = o.weightsDir;
  if (dir.empty() && program.fb().checkpoint_dir())
    dir = program.fb().checkpoint_dir()->str();
  if (dir.empty())
    fail("no weights: give --weights DIR or --dummy-weights");
  if (!isDirectory(dir))
    fail("weights folder '" + dir +
         "' does not exist (give --weights DIR or --dummy-weights)");
  auto checkpoint = dsrt::Checkpoint::open(dir);
  if (!checkpoint)
    fail(checkpoint.error());
  if (!checkpoint.value().hasWeights())
    fail(dir + ": no safetensors weights in this folder (give --weights DIR "
             "or --dummy-weights)");
  bool tty = isatty(fileno(stderr));
  auto started = std::chrono::steady_clock::now();
  auto store = dsrt::WeightStore::load(
      program, checkpoint.value(), [&](uint64_t done, uint64_t total) {
        if (!tty)
          return;
        double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - started)
                             .count();
        std::fprintf(stderr, "\rloading weights %5.1f%% (%.0f MB/s)",
                     100.0 * done / std::max<uint64_t>(total, 1),
                     seconds > 0 ? done / seconds / 1e6 : 0.0);
      });
  if (tty)
    std::fprintf(stderr, "\n");
  if (!store)
    fail(store.error());
  return store.take();
}

struct Sequence {
  std::vector<int32_t> prompt, generated;
  std::vector<std::vector<float>> logits; // one row per position run
  dsrt::Sampler sampler;
  bool done = false;
};

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

std::string idsJson(const std::vector<int32_t> &ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

} // namespace

int main(int argc, char **argv) {
  auto program = dsrt::Program::load(dsc_program_data, dsc_program_size,
                                     std::string(argv[0]));
  if (!program)
    fail(program.error());
  const dsrt::Program &p = program.value();
  Options o = parseOptions(argc, argv, p);
  dsrt::WeightStore weights = loadWeights(o, p, argv[0]);
  dsrt::SessionOptions sessionOptions;
  sessionOptions.threads = o.threads;
  sessionOptions.hostKernels = dsc_kernel_table;
  sessionOptions.numHostKernels = dsc_kernel_count;
  auto created = dsrt::Session::create(p, weights, sessionOptions);
  if (!created)
    fail(std::string(argv[0]) + ": " + created.error());
  dsrt::Session &session = *created.value();

  const int64_t vocab = p.fb().model()->vocab_size();
  const int64_t maxSeq = p.fb().cache()->max_seq();
  const int64_t eos = p.fb().model()->eos_token_id();
  const bool keepLogits = !o.dumpLogits.empty();
  std::vector<Sequence> seqs;
  for (size_t b = 0; b < o.prompts.size(); ++b)
    seqs.push_back({o.prompts[b], {}, {}, dsrt::Sampler(o.sampling, b)});

  auto check = [](dsrt::Expected<const float *> r) {
    if (!r)
      fail(r.error());
    return r.value();
  };
  auto take = [&](Sequence &s, const float *row) {
    if (keepLogits)
      s.logits.emplace_back(row, row + vocab);
    int32_t next = s.sampler.sample(row, static_cast<size_t>(vocab));
    s.generated.push_back(next);
    int64_t length = static_cast<int64_t>(s.prompt.size() + s.generated.size());
    if (static_cast<int64_t>(s.generated.size()) >= o.maxTokens ||
        (!o.ignoreEos && next == eos) || length >= maxSeq)
      s.done = true;
  };

  // The prompt's logits row i, for the last position: sample.
  auto promptRow = [&](Sequence &s, int64_t position, const float *row) {
    if (position == static_cast<int64_t>(s.prompt.size()) - 1) {
      if (o.maxTokens > 0)
        take(s, row);
      else
        s.done = true;
    } else if (keepLogits) {
      s.logits.emplace_back(row, row + vocab);
    }
  };

  // Prefill, one sequence at a time, in chunks of the entry's capacity (or,
  // with --prompt-mode decode, every prompt token as a batched decode step).
  auto prefillStart = std::chrono::steady_clock::now();
  int64_t prefillTokens = 0;
  for (size_t b = 0; b < seqs.size(); ++b) {
    if (dsrt::Status reset = session.resetSlot(static_cast<int32_t>(b)); !reset)
      fail(reset.error());
    prefillTokens += static_cast<int64_t>(seqs[b].prompt.size());
  }
  if (o.promptByDecode) {
    for (int64_t position = 0;; ++position) {
      std::vector<int32_t> tokens, positions, slots;
      std::vector<size_t> who;
      for (size_t b = 0; b < seqs.size(); ++b)
        if (position < static_cast<int64_t>(seqs[b].prompt.size())) {
          tokens.push_back(seqs[b].prompt[position]);
          positions.push_back(static_cast<int32_t>(position));
          slots.push_back(static_cast<int32_t>(b));
          who.push_back(b);
        }
      if (tokens.empty())
        break;
      const float *logits =
          check(session.run("decode", tokens, positions, slots));
      for (size_t i = 0; i < who.size(); ++i)
        promptRow(seqs[who[i]], position, logits + i * vocab);
    }
  } else {
    const int64_t chunk = p.entry("prefill").max_tokens();
    for (size_t b = 0; b < seqs.size(); ++b) {
      Sequence &s = seqs[b];
      int64_t n = static_cast<int64_t>(s.prompt.size());
      for (int64_t start = 0; start < n; start += chunk) {
        int64_t count = std::min(chunk, n - start);
        std::vector<int32_t> tokens(s.prompt.begin() + start,
                                    s.prompt.begin() + start + count);
        std::vector<int32_t> positions(count), slots(count, int32_t(b));
        for (int64_t i = 0; i < count; ++i)
          positions[i] = static_cast<int32_t>(start + i);
        const float *logits =
            check(session.run("prefill", tokens, positions, slots));
        for (int64_t i = 0; i < count; ++i)
          promptRow(s, start + i, logits + i * vocab);
      }
    }
  }
  double prefillSeconds = secondsSince(prefillStart);

  // Batched decode: every unfinished sequence advances one token per step.
  auto decodeStart = std::chrono::steady_clock::now();
  int64_t decodeTokens = 0, decodeSteps = 0;
  for (;;) {
    std::vector<int32_t> tokens, positions, slots;
    std::vector<size_t> who;
    for (size_t b = 0; b < seqs.size(); ++b) {
      Sequence &s = seqs[b];
      if (s.done)
        continue;
      tokens.push_back(s.generated.back());
      positions.push_back(
          static_cast<int32_t>(s.prompt.size() + s.generated.size() - 1));
      slots.push_back(static_cast<int32_t>(b));
      who.push_back(b);
    }
    if (tokens.empty())
      break;
    const float *logits = check(session.run("decode", tokens, positions, slots));
    for (size_t i = 0; i < who.size(); ++i)
      take(seqs[who[i]], logits + i * vocab);
    decodeTokens += static_cast<int64_t>(tokens.size());
    ++decodeSteps;
  }
  double decodeSeconds = secondsSince(decodeStart);

  if (keepLogits) {
    size_t rows = 0;
    for (const Sequence &s : seqs)
      rows = std::max(rows, s.logits.size());
    auto writer = dsrt::NpyFloat32Writer::create(
        o.dumpLogits, {static_cast<int64_t>(seqs.size()),
                       static_cast<int64_t>(rows), vocab});
    if (!writer)
      fail(writer.error());
    std::vector<float> padding(vocab, std::numeric_limits<float>::quiet_NaN());
    for (const Sequence &s : seqs)
      for (size_t r = 0; r < rows; ++r) {
        const float *row = r < s.logits.size() ? s.logits[r].data()
                                               : padding.data();
        dsrt::Status st = writer.value().append(row, vocab);
        if (!st)
          fail(st.error());
      }
    dsrt::Status st = writer.value().finish();
    if (!st)
      fail(st.error());
  }

  double prefillRate = prefillSeconds > 0 ? prefillTokens / prefillSeconds : 0;
  double decodeRate = decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0;
  if (o.json) {
    std::printf("{\"sequences\": [");
    for (size_t b = 0; b < seqs.size(); ++b)
      std::printf("%s{\"prompt\": %s, \"tokens\": %s}", b ? ", " : "",
                  idsJson(seqs[b].prompt).c_str(),
                  idsJson(seqs[b].generated).c_str());
    std::printf("], \"timings\": {\"prefill_tokens\": %lld, "
                "\"prefill_seconds\": %.6f, \"prefill_tokens_per_second\": %.2f, "
                "\"decode_tokens\": %lld, \"decode_steps\": %lld, "
                "\"decode_seconds\": %.6f, \"decode_tokens_per_second\": %.2f, "
                "\"device\": \"%s\"}}\n",
                static_cast<long long>(prefillTokens), prefillSeconds,
                prefillRate, static_cast<long long>(decodeTokens),
                static_cast<long long>(decodeSteps), decodeSeconds, decodeRate,
                session.deviceName().c_str());
  } else {
    for (const Sequence &s : seqs) {
      std::string line;
      for (size_t i = 0; i < s.generated.size(); ++i)
        line += (i ? " " : "") + std::to_string(s.generated[i]);
      std::printf("%s\n", line.c_str());
    }
  }
  if (o.bench)
    std::fprintf(stderr,
                 "prefill: %lld tokens, %.1f tokens/s; decode: %lld tokens "
                 "in %lld steps, %.1f tokens/s (%s)\n",
                 static_cast<long long>(prefillTokens), prefillRate,
                 static_cast<long long>(decodeTokens),
                 static_cast<long long>(decodeSteps), decodeRate,
                 session.deviceName().c_str());
  return 0;
}
