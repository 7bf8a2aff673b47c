//===- BatchGeneration.cpp - generating from prompt token ids -------------===//
//
// Token-id mode: each prompt is prefilled in its own cache slot, in chunks
// of the prefill entry's capacity (or, with --prompt-mode decode, as batched
// single-token decode steps), then every unfinished sequence advances one
// token per batched decode step until it stops.
//
//===----------------------------------------------------------------------===//

#include "cli/Generation.h"

#include "cli/Fail.h"
#include "cli/Output.h"
#include "cli/Startup.h"
#include "cli/WeightLoading.h"

#include <algorithm>

namespace dsrt::cli {

BatchResult generateBatch(const Options &o, dsrt::Session &session,
                          const dsrt::Program &p) {
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
  // Sequence b's next token: output j of chunk result r (and its logits
  // row and log-probabilities, when kept).
  auto take = [&](Sequence &s, const dsrt::ChunkResult &r, size_t j) {
    recordFirstToken();
    int32_t next = r.next[j];
    if (keepLogits)
      s.logits.emplace_back(r.logits + j * vocab, r.logits + (j + 1) * vocab);
    if (o.logProbs >= 0) {
      if (!r.logProbs)
        fail("the decode step returned no log-probabilities");
      size_t columns = static_cast<size_t>(r.topLogProbs) + 1;
      const float *lp = r.logProbs + j * columns;
      const int32_t *ids = r.logProbIds + j * columns;
      TokenLogProbs &t = s.logProbs.emplace_back();
      t.logProb = lp[0];
      for (int k = 1; k <= o.logProbs; ++k)
        t.top.emplace_back(ids[k], lp[k]);
    }
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
          take(s, r, j);
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
      c.wantLogProbs = o.logProbs >= 0;
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
        c.wantLogProbs = o.logProbs >= 0;
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
    c.wantLogProbs = o.logProbs >= 0;
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
      take(seqs[who[i]], r, i);
    decodeTokens += static_cast<int64_t>(c.tokens.size());
    ++decodeSteps;
  }
  double decodeSeconds = secondsSince(decodeStart);

  BatchResult result;
  result.sequences = std::move(seqs);
  result.prefillTokens = prefillTokens;
  result.prefillSeconds = prefillSeconds;
  result.decodeTokens = decodeTokens;
  result.decodeSteps = decodeSteps;
  result.decodeSeconds = decodeSeconds;
  return result;
}

int runTokenIds(const Options &o, const dsrt::Program &p,
                const dsrt::SessionOptions &baseSessionOptions,
                const char *argv0) {
  if (o.checkKernels && !p.fb().host_twins())
    fail(std::string(argv0) +
         " was not compiled with --check-kernels "
         "(dsc compile --target=cuda:... --check-kernels)");
  dsrt::SessionOptions sessionOptions = baseSessionOptions;
  sessionOptions.checkKernels = o.checkKernels;
  sessionOptions.profile = o.profile;
  StartedSession started = startSession(o, p, sessionOptions, argv0);
  dsrt::Session &session = *started.session;

  BatchResult result = generateBatch(o, session, p);
  if (!o.dumpLogits.empty())
    writeLogits(o.dumpLogits, result.sequences, p.fb().model()->vocab_size());
  std::vector<ChunkProfile> profiles = session.profiles();
  std::string extra = startupJson();
  if (o.profile && o.json)
    extra += ", \"profile\": " + profilesJson(profiles);
  printBatch(result, o.json, session.deviceName(), extra);
  if (o.profile && !o.json)
    printProfiles(stderr, profiles);
  if (o.checkKernels && !printKernelCheck(session))
    return 1;
  if (o.bench) {
    printStartup();
    printBatchThroughput(result, session.deviceName());
  }
  return 0;
}

} // namespace dsrt::cli
