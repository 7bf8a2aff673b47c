//===- TextGeneration.cpp - generating text in the chat format ------------===//
//
// Text mode: the prompt (-p, -f) or each line of stdin (--chat) is put in
// the model's chat format, tokenized with the tokenizer compiled into the
// program, and run in cache slot 0, which keeps the conversation so far: a
// new turn prefills only what differs from it. The reply is decoded as it is
// generated and streamed (R1's reasoning to stderr), holding back the bytes
// that could still become a stop string, "</think>" or a whole character.
//
//===----------------------------------------------------------------------===//

#include "cli/Generation.h"

#include "cli/ChatFormat.h"
#include "cli/Fail.h"
#include "cli/Output.h"
#include "cli/Startup.h"
#include "cli/WeightLoading.h"

#include "dsrt/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace dsrt::cli {

namespace {

/// Largest n <= limit such that text[0, n) ends on a UTF-8 character
/// boundary.
size_t utf8Boundary(const std::string &text, size_t limit) {
  while (limit > 0 && limit < text.size() &&
         (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80)
    --limit;
  return limit;
}

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
        recordFirstToken();
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

} // namespace

int runText(const Options &o, const dsrt::Program &p,
            const dsrt::SessionOptions &sessionOptions, const char *argv0) {
  dsrt::Tokenizer tok = loadTokenizer(p, argv0);
  bool r1 = !o.raw && p.fb().chat_template() &&
            p.fb().chat_template()->str() == "deepseek-r1";
  if (o.tokenizeOnly) {
    if (o.chat)
      fail("--tokenize needs -p or -f");
    std::printf("%s\n", idsJson(promptIds(o, p, tok, {}, o.text)).c_str());
    return 0;
  }
  StartedSession started = startSession(o, p, sessionOptions, argv0);
  TextGenerator generator(*started.session, tok, p, o);
  if (!o.chat) {
    std::vector<int32_t> ids = promptIds(o, p, tok, {}, o.text);
    Reply r = generator.generate(ids, r1, /*quiet=*/o.json);
    if (o.json)
      printReplyJson(ids.size(), r);
    else
      std::printf("\n");
    if (o.bench || !o.json)
      printReplySummary(r);
    if (o.bench)
      printStartup();
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
    printReplySummary(r);
    history.push_back({line, r1 ? "<think>\n" + r.raw : r.raw});
  }
  return 0;
}

} // namespace dsrt::cli
