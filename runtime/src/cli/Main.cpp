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
#include "dsrt/Sampling.h"
#include "dsrt/Session.h"
#include "dsrt/Tokenizer.h"
#include "dsrt/Weights.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
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
  bool checkKernels = false;
  bool promptByDecode = false; // --prompt-mode decode
  // Text in, text out.
  std::string text; // -p / -f
  bool haveText = false, chat = false, raw = false, tokenizeOnly = false,
       hideReasoning = false, showPrompt = false;
  std::string system;
  std::vector<std::string> stops;
  unsigned threads = 0;
};

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
      "  --bench                print prefill and decode tokens/s on stderr\n"
      "  --weights DIR          checkpoint folder (default: %s)\n"
      "  --dummy-weights        random weights of the compiled shapes\n"
      "  --threads N            worker threads (default: all hardware "
      "threads)\n"
      "  --prompt-mode M        prefill (default) or decode: run the prompt\n"
      "                         through single-token decode steps (a check\n"
      "                         that both entry points agree)\n"
      "  --check-kernels        compare every GPU launch with the kernel's\n"
      "                         host lowering on the same inputs and print a\n"
      "                         table; exit 1 on a mismatch (executables from\n"
      "                         dsc compile --check-kernels)\n"
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
    } else if (flag == "--check-kernels") {
      o.checkKernels = true;
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
  if (textMode)
    return o;
  if (o.prompts.empty())
    fail("no prompt: give -p \"TEXT\", --chat or --prompt-ids \"ID ID ...\" "
         "(see --help)");
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
    auto embedded =
        dsrt::WeightStore::fromExecutable(program, "/proc/self/exe");
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

//===----------------------------------------------------------------------===//
// Text mode: chat formats, streaming, stop strings, R1 reasoning
//===----------------------------------------------------------------------===//

struct Turn {
  std::string user, assistant;
};

/// The model's chat format (deepseek-model.md §7), with the generation
/// prompt for `user` appended.
std::string formatChat(const std::string &style, const std::string &bos,
                       const std::string &eos, const std::string &system,
                       const std::vector<Turn> &history,
                       const std::string &user) {
  std::string out = bos;
  if (style == "deepseek-v2") {
    if (!system.empty())
      out += system + "\n\n";
    for (const Turn &t : history)
      out += "User: " + t.user + "\n\nAssistant: " + t.assistant + eos;
    return out + "User: " + user + "\n\nAssistant:";
  }
  bool r1 = style == "deepseek-r1";
  out += system;
  for (const Turn &t : history) {
    std::string answer = t.assistant;
    size_t think = answer.find("</think>");
    if (r1 && think != std::string::npos) // history keeps the answer only
      answer = answer.substr(think + 8);
    out += "<｜User｜>" + t.user + "<｜Assistant｜>" + answer +
           "<｜end▁of▁sentence｜>";
  }
  out += "<｜User｜>" + user + "<｜Assistant｜>";
  return r1 ? out + "<think>\n" : out;
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out + "\"";
}

/// Largest n <= limit such that text[0, n) ends on a UTF-8 character
/// boundary.
size_t utf8Boundary(const std::string &text, size_t limit) {
  while (limit > 0 && limit < text.size() &&
         (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80)
    --limit;
  return limit;
}

struct Reply {
  std::vector<int32_t> ids;
  std::string text;      // answer (R1: after </think>)
  std::string reasoning; // R1: the <think> part
  std::string raw;       // everything generated
  double ttft = 0, decodeSeconds = 0;
  int64_t decodeTokens = 0;
  std::string stopReason; // "eos" | "stop" | "length" | "context"
};

class TextGenerator {
public:
  TextGenerator(dsrt::Session &session, const dsrt::Tokenizer &tokenizer,
                const dsrt::Program &program, const Options &options)
      : session_(session), tokenizer_(tokenizer), program_(program),
        options_(options) {}

  /// Runs `ids` (a whole conversation: the cache keeps the common prefix of
  /// the previous call) and generates the reply, streaming it unless
  /// `quiet`.
  Reply generate(const std::vector<int32_t> &ids, bool reasoningFirst,
                 bool quiet) {
    const int64_t maxSeq = program_.fb().cache()->max_seq();
    const int64_t eos = program_.fb().model()->eos_token_id();
    if (static_cast<int64_t>(ids.size()) >= maxSeq)
      fail("context overflow: the prompt has " + std::to_string(ids.size()) +
           " tokens, this executable holds " + std::to_string(maxSeq) +
           " positions (dsc compile --max-seq-len)");
    size_t common = 0;
    while (common < cached_.size() && common < ids.size() &&
           cached_[common] == ids[common])
      ++common;
    if (common == ids.size())
      --common; // at least one token must run to give logits
    Reply reply;
    auto started = std::chrono::steady_clock::now();
    const int64_t chunk = program_.entry("prefill").max_tokens();
    int32_t next = 0;
    for (size_t start = common; start < ids.size(); start += chunk) {
      size_t count = std::min<size_t>(chunk, ids.size() - start);
      dsrt::Chunk c;
      c.tokens.assign(ids.begin() + start, ids.begin() + start + count);
      c.positions.resize(count);
      c.slots.assign(count, 0);
      for (size_t i = 0; i < count; ++i)
        c.positions[i] = static_cast<int32_t>(start + i);
      if (start + count == ids.size()) { // the last chunk: sample
        c.rows = {static_cast<int32_t>(count - 1)};
        c.sampling = {dsrt::samplingRow(options_.sampling, 0, draws_++)};
      }
      auto r = session_.run("prefill", c);
      if (!r)
        fail(r.error());
      if (!c.rows.empty())
        next = r.value().next[0];
    }
    cached_ = ids;
    dsrt::IncrementalDecoder decoder(tokenizer_);
    reasoning_ = reasoningFirst;
    printed_ = 0;
    holdBack_ = 8;
    for (const std::string &stop : options_.stops)
      holdBack_ = std::max(holdBack_, stop.size());
    auto decodeStart = std::chrono::steady_clock::now();
    for (int64_t step = 0;; ++step) {
      if (step >= options_.maxTokens) {
        reply.stopReason = "length";
        break;
      }
      if (step == 0) {
        reply.ttft = secondsSince(started);
        decodeStart = std::chrono::steady_clock::now();
      }
      if (next == eos && !options_.ignoreEos) {
        reply.stopReason = "eos";
        break;
      }
      reply.ids.push_back(next);
      reply.raw += decoder.push(next);
      if (stoppedAtStop(reply)) {
        reply.stopReason = "stop";
        break;
      }
      emit(reply, quiet, /*final=*/false);
      int64_t position = static_cast<int64_t>(cached_.size());
      if (position >= maxSeq) {
        reply.stopReason = "context";
        break;
      }
      dsrt::Chunk c;
      c.tokens = {next};
      c.positions = {static_cast<int32_t>(position)};
      c.slots = {0};
      c.rows = {0};
      c.sampling = {dsrt::samplingRow(options_.sampling, 0, draws_++)};
      auto r = session_.run("decode", c);
      if (!r)
        fail(r.error());
      cached_.push_back(next);
      next = r.value().next[0];
      ++reply.decodeTokens;
    }
    if (reply.stopReason != "stop")
      reply.raw += decoder.flush();
    reply.decodeSeconds = secondsSince(decodeStart);
    emit(reply, quiet, /*final=*/true);
    size_t think = reply.raw.find("</think>");
    if (reasoningFirst) {
      reply.reasoning = reply.raw.substr(0, think);
      reply.text =
          think == std::string::npos ? "" : reply.raw.substr(think + 8);
    } else {
      reply.text = reply.raw;
    }
    return reply;
  }

private:
  /// Cuts `raw` at the first stop string; true when one was found.
  bool stoppedAtStop(Reply &reply) {
    size_t cut = std::string::npos;
    for (const std::string &stop : options_.stops)
      cut = std::min(cut, reply.raw.find(stop));
    if (cut == std::string::npos)
      return false;
    reply.raw.resize(cut);
    return true;
  }

  /// Prints what is certain of `raw`: held back are the last bytes that
  /// could start a stop string or "</think>", and any unfinished character.
  /// Reasoning goes to stderr (or nowhere), the answer to stdout.
  void emit(const Reply &reply, bool quiet, bool final) {
    size_t limit = reply.raw.size();
    if (!final)
      limit = utf8Boundary(reply.raw,
                           limit > holdBack_ ? limit - holdBack_ + 1 : 0);
    if (limit <= printed_)
      return;
    while (printed_ < limit) {
      if (reasoning_) {
        size_t end = reply.raw.find("</think>", printed_);
        size_t upto = end == std::string::npos ? limit : std::min(limit, end);
        if (!quiet && !options_.hideReasoning)
          std::fputs(reply.raw.substr(printed_, upto - printed_).c_str(),
                     stderr);
        printed_ = upto;
        if (end != std::string::npos && end < limit) {
          printed_ = end + 8;
          reasoning_ = false;
          if (!quiet && !options_.hideReasoning)
            std::fputs("\n", stderr);
        }
        continue;
      }
      if (!quiet)
        std::fputs(reply.raw.substr(printed_, limit - printed_).c_str(),
                   stdout);
      printed_ = limit;
    }
    if (!quiet) {
      std::fflush(stdout);
      std::fflush(stderr);
    }
  }

  dsrt::Session &session_;
  const dsrt::Tokenizer &tokenizer_;
  const dsrt::Program &program_;
  const Options &options_;
  uint32_t draws_ = 0;          // tokens sampled so far (the draw number)
  std::vector<int32_t> cached_; // token ids in cache slot 0
  bool reasoning_ = false;
  size_t printed_ = 0, holdBack_ = 8;
};

/// Loads the tokenizer compiled into the program.
dsrt::Tokenizer loadTokenizer(const dsrt::Program &p, const char *argv0) {
  const auto *bytes = p.fb().tokenizer();
  if (!bytes || bytes->size() == 0)
    fail(std::string(argv0) +
         " has no tokenizer (its checkpoint had no "
         "tokenizer.json when it was compiled): use --prompt-ids");
  auto tokenizer = dsrt::Tokenizer::fromJson(
      std::string_view(reinterpret_cast<const char *>(bytes->data()),
                       bytes->size()),
      std::string(argv0) + ": embedded tokenizer.json");
  if (!tokenizer)
    fail(tokenizer.error());
  return tokenizer.take();
}

std::vector<int32_t> promptIds(const Options &o, const dsrt::Program &p,
                               const dsrt::Tokenizer &tok,
                               const std::vector<Turn> &history,
                               const std::string &user) {
  int64_t bosId = p.fb().model()->bos_token_id();
  int64_t eosId = p.fb().model()->eos_token_id();
  const std::string *bos = bosId >= 0 ? tok.tokenText(bosId) : nullptr;
  const std::string *eos = eosId >= 0 ? tok.tokenText(eosId) : nullptr;
  if (o.raw) {
    std::vector<int32_t> ids;
    if (bosId >= 0)
      ids.push_back(static_cast<int32_t>(bosId));
    std::vector<int32_t> body = tok.encode(user);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  }
  std::string style =
      p.fb().chat_template() ? p.fb().chat_template()->str() : "deepseek-v3";
  std::string text = formatChat(style, bos ? *bos : "", eos ? *eos : "",
                                o.system, history, user);
  if (o.showPrompt)
    std::fprintf(stderr, "%s\n", text.c_str());
  return tok.encode(text);
}

int runText(const Options &o, const dsrt::Program &p, const char *argv0) {
  dsrt::Tokenizer tok = loadTokenizer(p, argv0);
  bool r1 = !o.raw && p.fb().chat_template() &&
            p.fb().chat_template()->str() == "deepseek-r1";
  if (o.tokenizeOnly) {
    if (o.chat)
      fail("--tokenize needs -p or -f");
    std::printf("%s\n", idsJson(promptIds(o, p, tok, {}, o.text)).c_str());
    return 0;
  }
  dsrt::WeightStore weights = loadWeights(o, p, argv0);
  dsrt::SessionOptions sessionOptions;
  sessionOptions.threads = o.threads;
  sessionOptions.hostKernels = dsc_kernel_table;
  sessionOptions.numHostKernels = dsc_kernel_count;
  auto created = dsrt::Session::create(p, weights, sessionOptions);
  if (!created)
    fail(std::string(argv0) + ": " + created.error());
  TextGenerator generator(*created.value(), tok, p, o);
  auto report = [&](const Reply &r) {
    std::fprintf(stderr,
                 "\n[%zu tokens; time to first token %.1f ms; decode %.1f "
                 "tokens/s; stopped: %s]\n",
                 r.ids.size(), r.ttft * 1e3,
                 r.decodeSeconds > 0 ? r.decodeTokens / r.decodeSeconds : 0.0,
                 r.stopReason.c_str());
  };
  if (!o.chat) {
    std::vector<int32_t> ids = promptIds(o, p, tok, {}, o.text);
    Reply r = generator.generate(ids, r1, /*quiet=*/o.json);
    if (o.json) {
      std::printf("{\"prompt_tokens\": %zu, \"text\": %s, \"reasoning\": %s, "
                  "\"ids\": %s, \"stopped\": %s, \"timings\": "
                  "{\"time_to_first_token_seconds\": %.6f, "
                  "\"decode_tokens\": %lld, \"decode_seconds\": %.6f}}\n",
                  ids.size(), jsonString(r.text).c_str(),
                  jsonString(r.reasoning).c_str(), idsJson(r.ids).c_str(),
                  jsonString(r.stopReason).c_str(), r.ttft,
                  static_cast<long long>(r.decodeTokens), r.decodeSeconds);
    } else {
      std::printf("\n");
    }
    if (o.bench || !o.json)
      report(r);
    return 0;
  }
  std::vector<Turn> history;
  bool tty = isatty(fileno(stdin));
  std::string line;
  for (;;) {
    if (tty)
      std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line))
      break;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    Reply r = generator.generate(promptIds(o, p, tok, history, line), r1,
                                 /*quiet=*/false);
    std::printf("\n");
    report(r);
    history.push_back({line, r1 ? "<think>\n" + r.raw : r.raw});
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  auto program = dsrt::Program::load(dsc_program_data, dsc_program_size,
                                     std::string(argv[0]));
  if (!program)
    fail(program.error());
  const dsrt::Program &p = program.value();
  Options o = parseOptions(argc, argv, p);
  if (o.haveText || o.chat)
    return runText(o, p, argv[0]);
  if (o.checkKernels && !p.fb().host_twins())
    fail(std::string(argv[0]) +
         " was not compiled with --check-kernels "
         "(dsc compile --target=cuda:... --check-kernels)");
  dsrt::WeightStore weights = loadWeights(o, p, argv[0]);
  dsrt::SessionOptions sessionOptions;
  sessionOptions.threads = o.threads;
  sessionOptions.hostKernels = dsc_kernel_table;
  sessionOptions.numHostKernels = dsc_kernel_count;
  sessionOptions.checkKernels = o.checkKernels;
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
    seqs.push_back({o.prompts[b], {}, {}});

  auto check = [](dsrt::Expected<dsrt::ChunkResult> r) {
    if (!r)
      fail(r.error());
    return r.value();
  };
  // Sequence b's next token (and its logits row, when kept).
  auto take = [&](Sequence &s, int32_t next, const float *row) {
    if (keepLogits)
      s.logits.emplace_back(row, row + vocab);
    s.generated.push_back(next);
    int64_t length = static_cast<int64_t>(s.prompt.size() + s.generated.size());
    if (static_cast<int64_t>(s.generated.size()) >= o.maxTokens ||
        (!o.ignoreEos && next == eos) || length >= maxSeq)
      s.done = true;
  };
  // Adds token `index` of a chunk to its outputs when its logits or its
  // sample are wanted: every token with --dump-logits, else the last token
  // of a prompt (which samples the first generated token).
  auto addOutput = [&](dsrt::Chunk &c, size_t b, int64_t index,
                       int64_t position) {
    const Sequence &s = seqs[b];
    bool last = position == static_cast<int64_t>(s.prompt.size()) - 1;
    if (!keepLogits && !(last && o.maxTokens > 0))
      return;
    c.rows.push_back(static_cast<int32_t>(index));
    c.sampling.push_back(
        dsrt::samplingRow(o.sampling, static_cast<uint32_t>(b),
                          static_cast<uint32_t>(s.generated.size())));
  };
  // The outputs of a prompt chunk: output j is token c.rows[j] of sequence
  // who[c.rows[j]] at position positions[c.rows[j]].
  auto promptOutputs = [&](const dsrt::Chunk &c, const dsrt::ChunkResult &r,
                           const std::vector<size_t> &who) {
    for (size_t j = 0; j < c.rows.size(); ++j) {
      Sequence &s = seqs[who[c.rows[j]]];
      const float *row = r.logits ? r.logits + j * vocab : nullptr;
      if (c.positions[c.rows[j]] == static_cast<int64_t>(s.prompt.size()) - 1) {
        if (o.maxTokens > 0)
          take(s, r.next[j], row);
        else
          s.done = true;
      } else if (keepLogits) {
        s.logits.emplace_back(row, row + vocab);
      }
    }
  };
  if (o.maxTokens <= 0)
    for (Sequence &s : seqs)
      s.done = true;

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
      dsrt::Chunk c;
      c.wantLogits = keepLogits;
      std::vector<size_t> who;
      for (size_t b = 0; b < seqs.size(); ++b)
        if (position < static_cast<int64_t>(seqs[b].prompt.size())) {
          addOutput(c, b, static_cast<int64_t>(c.tokens.size()), position);
          c.tokens.push_back(seqs[b].prompt[position]);
          c.positions.push_back(static_cast<int32_t>(position));
          c.slots.push_back(static_cast<int32_t>(b));
          who.push_back(b);
        }
      if (c.tokens.empty())
        break;
      promptOutputs(c, check(session.run("decode", c)), who);
    }
  } else {
    const int64_t chunk = p.entry("prefill").max_tokens();
    for (size_t b = 0; b < seqs.size(); ++b) {
      Sequence &s = seqs[b];
      int64_t n = static_cast<int64_t>(s.prompt.size());
      for (int64_t start = 0; start < n; start += chunk) {
        int64_t count = std::min(chunk, n - start);
        dsrt::Chunk c;
        c.wantLogits = keepLogits;
        c.tokens.assign(s.prompt.begin() + start,
                        s.prompt.begin() + start + count);
        c.positions.resize(count);
        c.slots.assign(count, int32_t(b));
        for (int64_t i = 0; i < count; ++i) {
          c.positions[i] = static_cast<int32_t>(start + i);
          addOutput(c, b, i, start + i);
        }
        promptOutputs(c, check(session.run("prefill", c)),
                      std::vector<size_t>(count, b));
      }
    }
  }
  double prefillSeconds = secondsSince(prefillStart);

  // Batched decode: every unfinished sequence advances one token per step.
  auto decodeStart = std::chrono::steady_clock::now();
  int64_t decodeTokens = 0, decodeSteps = 0;
  for (;;) {
    dsrt::Chunk c;
    c.wantLogits = keepLogits;
    std::vector<size_t> who;
    for (size_t b = 0; b < seqs.size(); ++b) {
      Sequence &s = seqs[b];
      if (s.done)
        continue;
      c.rows.push_back(static_cast<int32_t>(c.tokens.size()));
      c.sampling.push_back(
          dsrt::samplingRow(o.sampling, static_cast<uint32_t>(b),
                            static_cast<uint32_t>(s.generated.size())));
      c.tokens.push_back(s.generated.back());
      c.positions.push_back(
          static_cast<int32_t>(s.prompt.size() + s.generated.size() - 1));
      c.slots.push_back(static_cast<int32_t>(b));
      who.push_back(b);
    }
    if (c.tokens.empty())
      break;
    dsrt::ChunkResult r = check(session.run("decode", c));
    for (size_t i = 0; i < who.size(); ++i)
      take(seqs[who[i]], r.next[i], r.logits ? r.logits + i * vocab : nullptr);
    decodeTokens += static_cast<int64_t>(c.tokens.size());
    ++decodeSteps;
  }
  double decodeSeconds = secondsSince(decodeStart);

  if (keepLogits) {
    size_t rows = 0;
    for (const Sequence &s : seqs)
      rows = std::max(rows, s.logits.size());
    auto writer = dsrt::NpyFloat32Writer::create(
        o.dumpLogits,
        {static_cast<int64_t>(seqs.size()), static_cast<int64_t>(rows), vocab});
    if (!writer)
      fail(writer.error());
    std::vector<float> padding(vocab, std::numeric_limits<float>::quiet_NaN());
    for (const Sequence &s : seqs)
      for (size_t r = 0; r < rows; ++r) {
        const float *row =
            r < s.logits.size() ? s.logits[r].data() : padding.data();
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
    std::printf(
        "], \"timings\": {\"prefill_tokens\": %lld, "
        "\"prefill_seconds\": %.6f, \"prefill_tokens_per_second\": %.2f, "
        "\"decode_tokens\": %lld, \"decode_steps\": %lld, "
        "\"decode_seconds\": %.6f, \"decode_tokens_per_second\": %.2f, "
        "\"device\": \"%s\"}}\n",
        static_cast<long long>(prefillTokens), prefillSeconds, prefillRate,
        static_cast<long long>(decodeTokens),
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
  if (o.checkKernels) {
    bool passed = true;
    std::string table = session.kernelCheckReport(passed);
    std::fprintf(stderr, "%s%s\n", table.c_str(),
                 passed ? "every GPU kernel matches its host lowering"
                        : "some GPU kernels differ from their host lowering");
    if (!passed)
      return 1;
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
