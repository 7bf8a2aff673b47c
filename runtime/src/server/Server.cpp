//===- Server.cpp - ./model serve -----------------------------------------===//
//
// See Server.h. The HTTP layer is Boost.Beast (header-only, so the
// executable still needs nothing but the C library and the GPU driver);
// requests and responses are nlohmann::json values.
//
//===----------------------------------------------------------------------===//

#include "server/Server.h"

#include "cli/ChatFormat.h"
#include "cli/Fail.h"
#include "cli/Options.h"
#include "cli/WeightLoading.h"
#include "engine/Engine.h"
#include "server/Requests.h"

#include "dsrt/Tokenizer.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <sstream>

#include <cerrno>
#include <poll.h>
#include <sys/socket.h>

namespace dsrt::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using engine::Engine;
using engine::EngineMetrics;
using engine::EngineOptions;
using engine::GenerationRequest;
using engine::TokenEvent;

/// Thrown by a streaming reply's writer when the client has gone.
struct ClientGone {};

std::string dump(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json errorBody(const std::string &message, const char *type) {
  return {{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}};
}

/// OpenAI reports a token that cannot occur as -9999.
double reportedLogProb(float v) {
  return std::isfinite(v) ? static_cast<double>(v) : -9999.0;
}

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8000;
  cli::Options load; // weights, threads, cache pages
  int64_t maxWaiting = 1024;
  bool prefixSharing = true;
  int64_t maxConnections = 0; // 0: 4 x the slots, at least 256
  int64_t idleTimeout = 60;   // seconds a connection may wait for a request
  int64_t prefillTokens = 0;  // per engine step; 0: the compiled chunk
};

ServeOptions parseServeOptions(int argc, char **argv) {
  ServeOptions o;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        cli::fail(flag + " needs a value");
      return argv[++i];
    };
    auto integer = [&](int64_t lo, int64_t hi) {
      std::string v = value();
      char *end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < lo || n > hi)
        cli::fail(flag + " expects an integer in [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "], got '" + v + "'");
      return static_cast<int64_t>(n);
    };
    if (flag == "--host")
      o.host = value();
    else if (flag == "--port")
      o.port = static_cast<int>(integer(0, 65535));
    else if (flag == "--weights")
      o.load.weightsDir = value();
    else if (flag == "--dummy-weights")
      o.load.dummyWeights = true;
    else if (flag == "--threads")
      o.load.threads = static_cast<unsigned>(integer(1, 1024));
    else if (flag == "--max-waiting")
      o.maxWaiting = integer(0, int64_t(1) << 20);
    else if (flag == "--cache-pages")
      o.load.cachePages = integer(1, int64_t(1) << 31);
    else if (flag == "--no-prefix-sharing")
      o.prefixSharing = false;
    else if (flag == "--max-connections")
      o.maxConnections = integer(1, int64_t(1) << 20);
    else if (flag == "--idle-timeout")
      o.idleTimeout = integer(1, 86400);
    else if (flag == "--prefill-tokens")
      o.prefillTokens = integer(1, int64_t(1) << 31);
    else if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: %s serve [--host H] [--port P] [--weights DIR | "
          "--dummy-weights]\n"
          "                [--threads N] [--cache-pages N] [--max-waiting "
          "N]\n"
          "                [--no-prefix-sharing] [--max-connections N] "
          "[--idle-timeout S]\n"
          "                [--prefill-tokens N]\n\n"
          "An OpenAI-compatible HTTP server (default 127.0.0.1:8000; port 0 "
          "picks a free one,\nprinted on stderr): GET /health, /v1/models, "
          "/metrics; POST /v1/completions, /v1/chat/completions.\n"
          "--max-waiting: requests queued for a slot beyond the running "
          "batch (default\n1024); more get status 503.\n"
          "--cache-pages: pages in the KV cache pool (default: every slot's "
          "whole context);\nwhen they run short, the newest sequences wait "
          "and are computed again later.\n"
          "--no-prefix-sharing: every sequence computes its whole prompt "
          "(by default equal\nprompts and prompt prefixes share the cache's "
          "pages).\n"
          "--max-connections: open connections served at once (default 4 x "
          "the sequences,\nat least 256); more are answered 503 and closed.\n"
          "--idle-timeout: seconds a kept-alive connection may wait for its "
          "next request\n(default 60); then it is closed. A streaming client "
          "that takes no data for as\nlong is dropped, and its sequence "
          "with it.\n"
          "--prefill-tokens: prompt tokens prefilled between two decode "
          "steps (default: the\ncompiled --prefill-chunk); fewer shorten "
          "the running streams' pauses while\nlong prompts arrive, and "
          "lengthen those prompts' time to first token.\n",
          argv[0]);
      std::exit(0);
    } else
      cli::fail("serve: unknown option '" + flag + "' (see serve --help)");
  }
  return o;
}

/// What every request handler shares.
struct Service {
  Engine &engine;
  RequestContext context; // the model's name, tokenizer, chat format, ...
  int64_t created;
  std::atomic<uint64_t> nextId{0};
  std::atomic<uint64_t> httpErrors{0};
  std::atomic<int64_t> connections{0}; // open, each on its own thread
  int idleTimeoutMs = 60000;           // serve --idle-timeout
};

/// One choice's progress while its tokens arrive.
struct Choice {
  std::shared_ptr<GenerationRequest> request;
  std::optional<IncrementalDecoder> decoder;
  std::string text; // all generated text (stops applied)
  size_t sent = 0;  // bytes of `text` already streamed
  std::vector<int32_t> ids;
  json tokens = json::array(), tokenLogProbs = json::array(),
       topLogProbs = json::array(), offsets = json::array();
  std::vector<TokenEvent> events;      // with logprobs: each token's
  size_t thinkEnd = std::string::npos; // R1: where "</think>" starts
  std::string finish;
  bool done = false, roleSent = false;
};

/// Events from the engine thread to the connection's thread.
struct Channel {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::pair<size_t, TokenEvent>> events;
};

class Completion {
public:
  /// `chat`: /v1/chat/completions (messages in, an assistant message out;
  /// R1's reasoning apart); else /v1/completions.
  Completion(Service &s, const json &body, bool chat) : s_(s), chat_(chat) {
    ParsedRequest p = parseRequest(body, chat, s.context);
    reasoning_ = p.reasoning;
    maxTokens_ = p.maxTokens;
    logProbs_ = p.logProbs;
    stops_ = p.stops;
    stream_ = p.stream;
    includeUsage_ = p.includeUsage;
    int64_t n = p.n;
    const std::vector<std::vector<int32_t>> &prompts = p.prompts;
    const SamplingParams &sp = p.sampling;
    bool ignoreEos = p.ignoreEos;
    int64_t eos = s.context.eosTokenId;
    id_ = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.nextId++);
    // A prompt's n choices are consecutive (OpenAI's order); the prompt
    // counts once in the usage, as its n samples share its cache pages.
    for (const auto &prompt : prompts) {
      promptTokens_ += static_cast<int64_t>(prompt.size());
      for (int64_t copy = 0; copy < n; ++copy) {
        Choice &c = choices_.emplace_back();
        auto r = std::make_shared<GenerationRequest>();
        r->prompt = prompt;
        r->maxTokens = maxTokens_;
        r->sampling = sp;
        r->stream = static_cast<uint32_t>(choices_.size() - 1); // the choice
        r->logProbs = logProbs_;
        if (!ignoreEos && eos >= 0)
          r->stopIds.push_back(static_cast<int32_t>(eos));
        c.request = r;
        if (s.context.tokenizer)
          c.decoder.emplace(*s.context.tokenizer);
      }
    }
    channel_ = std::make_shared<Channel>();
  }

  bool streaming() const { return stream_; }

  /// Queues every choice in the engine; throws BadRequest (nothing left
  /// queued) when one cannot run. Before anything is sent, so a streamed
  /// request gets its error status too.
  void submit() {
    std::shared_ptr<Channel> ch = channel_;
    std::vector<std::shared_ptr<GenerationRequest>> requests;
    for (size_t i = 0; i < choices_.size(); ++i) {
      Choice &c = choices_[i];
      if (maxTokens_ == 0) {
        c.done = true;
        c.finish = "length";
        continue;
      }
      c.request->onToken = [ch, i](const TokenEvent &e) {
        {
          std::lock_guard<std::mutex> lock(ch->mutex);
          ch->events.emplace_back(i, e);
        }
        ch->ready.notify_one();
        return true; // cancelled through GenerationRequest::cancelled
      };
      requests.push_back(c.request);
    }
    if (requests.empty())
      return;
    bool busy = false;
    std::string error = s_.engine.submit(requests, &busy);
    if (!error.empty())
      throw busy ? BadRequest{error, 503, "server_busy"} : BadRequest{error};
    pending_ = requests.size();
  }

  /// After submit(): calls `chunk` with each streamed event's JSON
  /// (streaming) and returns the whole response (not streaming).
  json run(const std::function<void(const json &)> &chunk,
           const std::function<bool()> &clientGone) {
    std::shared_ptr<Channel> ch = channel_;
    // However this ends (done, an error, the client gone), what still runs
    // or waits is cancelled: the engine frees its slots at the next step.
    struct CancelRest {
      std::vector<Choice> &choices;
      ~CancelRest() {
        for (Choice &c : choices)
          c.request->cancelled = true;
      }
    } cancelRest{choices_};
    size_t pending = pending_;
    // The client may go while its request waits (for a slot, for its
    // prompt) or runs: look every 250 ms, whether events come or not.
    const auto every = std::chrono::milliseconds(250);
    auto looked = std::chrono::steady_clock::now();
    auto look = [&] {
      looked = std::chrono::steady_clock::now();
      if (clientGone && clientGone())
        throw ClientGone{};
    };
    while (pending > 0) {
      std::pair<size_t, TokenEvent> ev;
      {
        std::unique_lock<std::mutex> lock(ch->mutex);
        while (!ch->ready.wait_for(lock, every,
                                   [&] { return !ch->events.empty(); }))
          look();
        if (std::chrono::steady_clock::now() - looked > every)
          look();
        ev = std::move(ch->events.front());
        ch->events.pop_front();
      }
      Choice &c = choices_[ev.first];
      if (c.done) // cut by a stop string: the engine drops it at its next token
        continue;
      if (ev.second.finishReason == "error")
        throw std::runtime_error(ev.second.error);
      std::string piece = take(c, ev.second);
      if (c.done) {
        --pending;
        if (!ev.second.last)
          c.request->cancelled = true;
      }
      if (stream_)
        chunk(streamChunk(ev.first, c, piece, ev.second));
    }
    if (stream_ && includeUsage_) {
      json u = base(chunkObject());
      u["choices"] = json::array();
      u["usage"] = usage();
      chunk(u);
    }
    return response();
  }

private:
  const char *chunkObject() const {
    return chat_ ? "chat.completion.chunk" : "text_completion";
  }
  json base(const char *object) const {
    return {{"id", id_},
            {"object", object},
            {"created", s_.created},
            {"model", s_.context.modelName}};
  }
  json usage() const {
    int64_t completion = 0;
    for (const Choice &c : choices_)
      completion += static_cast<int64_t>(c.ids.size());
    return {{"prompt_tokens", promptTokens_},
            {"completion_tokens", completion},
            {"total_tokens", promptTokens_ + completion}};
  }

  /// Adds event `e` to choice `c`; returns the text that may be streamed
  /// now (held back while it could still become a stop string).
  std::string take(Choice &c, const TokenEvent &e) {
    c.ids.push_back(e.token);
    std::string piece;
    if (c.decoder) {
      // An end token ends the reply; its text is not part of it.
      if (!(e.last && e.finishReason == "stop"))
        piece = c.decoder->push(e.token);
      if (e.last)
        piece += c.decoder->flush();
    }
    size_t before = c.text.size();
    c.text += piece;
    if (logProbs_ >= 0)
      c.events.push_back(e);
    if (logProbs_ >= 0 && !chat_) {
      std::string tokenText =
          s_.context.tokenizer
              ? std::string(s_.context.tokenizer->tokenBytes(e.token))
              : "";
      c.tokens.push_back(tokenText);
      c.tokenLogProbs.push_back(reportedLogProb(e.logProb));
      json top = json::object();
      for (auto [id, lp] : e.top)
        top[s_.context.tokenizer
                ? std::string(s_.context.tokenizer->tokenBytes(id))
                : std::to_string(id)] = reportedLogProb(lp);
      c.topLogProbs.push_back(top);
      c.offsets.push_back(before);
    }
    if (e.last) {
      c.done = true;
      c.finish = e.finishReason;
    }
    // Stop strings, matched across token boundaries in the text so far.
    size_t cut = std::string::npos;
    for (const std::string &stop : stops_) {
      size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
      size_t at = c.text.find(stop, from);
      if (at != std::string::npos && at < cut)
        cut = at;
    }
    if (cut != std::string::npos) {
      c.text.resize(cut);
      c.done = true;
      c.finish = "stop";
    }
    // Hold back a tail that could begin a stop string.
    size_t safe = c.text.size();
    std::vector<std::string> held = stops_;
    if (reasoning_ && c.thinkEnd == std::string::npos) {
      c.thinkEnd = c.text.find("</think>");
      held.push_back("</think>");
    }
    if (!c.done)
      for (const std::string &stop : held)
        for (size_t k = std::min(stop.size() - 1, c.text.size()); k > 0; --k)
          if (c.text.compare(c.text.size() - k, k, stop, 0, k) == 0) {
            safe = std::min(safe, c.text.size() - k);
            break;
          }
    std::string out =
        safe > c.sent ? c.text.substr(c.sent, safe - c.sent) : std::string();
    c.sent = std::max(c.sent, safe);
    return out;
  }

  static json bytesOf(const std::string &text) {
    json out = json::array();
    for (unsigned char ch : text)
      out.push_back(ch);
    return out;
  }
  std::string tokenText(int32_t id) const {
    return s_.context.tokenizer
               ? std::string(s_.context.tokenizer->tokenBytes(id))
               : std::to_string(id);
  }
  json logProbsOf(const Choice &c, size_t from) const {
    if (logProbs_ < 0)
      return nullptr;
    if (chat_) {
      json content = json::array();
      for (size_t i = from; i < c.events.size(); ++i) {
        const TokenEvent &e = c.events[i];
        json top = json::array();
        for (auto [id, lp] : e.top)
          top.push_back({{"token", tokenText(id)},
                         {"logprob", reportedLogProb(lp)},
                         {"bytes", bytesOf(tokenText(id))}});
        content.push_back({{"token", tokenText(e.token)},
                           {"logprob", reportedLogProb(e.logProb)},
                           {"bytes", bytesOf(tokenText(e.token))},
                           {"top_logprobs", top}});
      }
      return {{"content", content}};
    }
    auto slice = [&](const json &a) {
      json out = json::array();
      for (size_t i = from; i < a.size(); ++i)
        out.push_back(a[i]);
      return out;
    };
    return {{"tokens", slice(c.tokens)},
            {"token_logprobs", slice(c.tokenLogProbs)},
            {"top_logprobs", slice(c.topLogProbs)},
            {"text_offset", slice(c.offsets)}};
  }

  json streamChunk(size_t index, Choice &c, const std::string &piece,
                   const TokenEvent &) {
    if (chat_) {
      json j = base("chat.completion.chunk");
      json delta = json::object();
      if (!c.roleSent) {
        delta["role"] = "assistant";
        c.roleSent = true;
      }
      // R1: the part before </think> is reasoning; the marker is neither.
      size_t begin = c.sent - piece.size(), end = c.sent;
      std::string reasoning, content;
      for (size_t at = begin; at < end;) {
        size_t think = c.thinkEnd;
        if (reasoning_ && (think == std::string::npos || at < think)) {
          size_t stop = std::min(end, think);
          reasoning += c.text.substr(at, stop - at);
          at = stop;
        } else if (reasoning_ && at < think + 8) {
          at = std::min(end, think + 8);
        } else {
          content += c.text.substr(at, end - at);
          at = end;
        }
      }
      if (!reasoning.empty())
        delta["reasoning_content"] = reasoning;
      if (!content.empty() || !reasoning_)
        delta["content"] = content;
      return chunkOf(j, index, c, "delta", delta);
    }
    return chunkOf(base("text_completion"), index, c, "text", piece);
  }

  /// `j` with one choice: its `field` (the text, or chat's delta), the
  /// token, its log-probabilities and, at the end, the finish reason.
  json chunkOf(json j, size_t index, const Choice &c, const char *field,
               const json &value) const {
    json choice = {{"index", index},
                   {field, value},
                   {"token_ids", json::array({c.ids.back()})},
                   {"logprobs", logProbsOf(c, c.ids.size() - 1)},
                   {"finish_reason", c.done ? json(c.finish) : json()}};
    j["choices"] = json::array({choice});
    return j;
  }

  json response() const {
    json j = base(chat_ ? "chat.completion" : "text_completion");
    json list = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice &c = choices_[i];
      if (chat_) {
        json message = {{"role", "assistant"}};
        if (reasoning_) {
          size_t think = c.text.find("</think>");
          message["reasoning_content"] = c.text.substr(0, think);
          message["content"] =
              think == std::string::npos ? "" : c.text.substr(think + 8);
        } else {
          message["content"] = c.text;
        }
        list.push_back({{"index", i},
                        {"message", message},
                        {"token_ids", c.ids},
                        {"logprobs", logProbsOf(c, 0)},
                        {"finish_reason", c.finish}});
        continue;
      }
      list.push_back({{"index", i},
                      {"text", c.text},
                      {"token_ids", c.ids},
                      {"logprobs", logProbsOf(c, 0)},
                      {"finish_reason", c.finish}});
    }
    j["choices"] = list;
    j["usage"] = usage();
    return j;
  }

  Service &s_;
  std::string id_;
  std::vector<Choice> choices_;
  std::vector<std::string> stops_;
  int64_t maxTokens_ = 16, promptTokens_ = 0;
  size_t pending_ = 0; // choices queued by submit()
  int logProbs_ = -1;
  bool stream_ = false, includeUsage_ = false;
  bool chat_ = false, reasoning_ = false;
  std::shared_ptr<Channel> channel_;
};

std::string metricsText(const Service &s) {
  const EngineMetrics &m = s.engine.metrics();
  std::string out;
  auto metric = [&](const char *name, const char *type, const char *help,
                    int64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
           " " + type + "\n" + name + " " + std::to_string(value) + "\n";
  };
  metric("dsc_requests_total", "counter", "Generation requests accepted.",
         static_cast<int64_t>(m.requests.load()));
  metric("dsc_prompt_tokens_total", "counter", "Prompt tokens prefilled.",
         static_cast<int64_t>(m.promptTokens.load()));
  metric("dsc_generation_tokens_total", "counter", "Tokens generated.",
         static_cast<int64_t>(m.generatedTokens.load()));
  metric("dsc_prefill_steps_total", "counter",
         "Prefill chunks run (at most --prefill-tokens prompt tokens each).",
         static_cast<int64_t>(m.prefillSteps.load()));
  metric("dsc_decode_steps_total", "counter", "Batched decode steps run.",
         static_cast<int64_t>(m.decodeSteps.load()));
  metric("dsc_running_sequences", "gauge", "Sequences in the decode batch.",
         static_cast<int64_t>(m.running.load()));
  metric("dsc_waiting_sequences", "gauge", "Requests waiting for a cache slot.",
         static_cast<int64_t>(m.waiting.load()));
  metric("dsc_cache_pages", "gauge", "Pages of the KV cache.",
         m.cachePages.load());
  metric("dsc_cache_pages_in_use", "gauge",
         "KV cache pages held by sequences (after the last step).",
         m.cachePagesInUse.load());
  metric("dsc_cache_pages_cached", "gauge",
         "KV cache pages only the prefix index holds (reclaimable).",
         m.cachePagesCached.load());
  metric("dsc_prefix_cache_hit_tokens_total", "counter",
         "Prompt positions read from shared cache pages instead of computed.",
         static_cast<int64_t>(m.prefixHitTokens.load()));
  metric("dsc_preemptions_total", "counter",
         "Sequences sent back to wait for want of cache pages.",
         static_cast<int64_t>(m.preemptions.load()));
  metric("dsc_batch_slots", "gauge", "Sequences the executable runs at once.",
         static_cast<int64_t>(s.engine.slots()));
  out += m.timeToFirstToken.text(
      "dsc_time_to_first_token_seconds",
      "From a request's arrival to its first generated token.");
  out += m.interTokenLatency.text(
      "dsc_inter_token_latency_seconds",
      "Between consecutive generated tokens of a request.");
  metric("dsc_http_connections", "gauge", "Open HTTP connections.",
         s.connections.load());
  metric("dsc_http_errors_total", "counter",
         "Requests answered with an error status.",
         static_cast<int64_t>(s.httpErrors.load()));
  return out;
}

/// Reads one request into `parser`. Where the socket has nothing to read
/// between requests it waits at most `timeoutMs` for the client; false on
/// that timeout, a closed connection or bad HTTP.
bool readRequest(tcp::socket &socket, beast::flat_buffer &buffer,
                 http::request_parser<http::string_body> &parser,
                 int timeoutMs) {
  beast::error_code ec;
  while (!parser.is_done()) {
    if (buffer.size() == 0 && socket.available(ec) == 0) {
      pollfd ready{socket.native_handle(), POLLIN, 0};
      if (::poll(&ready, 1, timeoutMs) <= 0)
        return false; // idle too long
    }
    http::read_some(socket, buffer, parser, ec);
    if (ec)
      return false;
  }
  return true;
}

/// Whether the peer has closed the connection (or it failed): what it sent
/// ends there. Bytes waiting to be read (a pipelined request) are not a
/// close. A client that only shuts its sending side after its request
/// (`shutdown(SHUT_WR)`) cannot be told from one that left, and is taken
/// as gone, as nginx takes it.
bool peerClosed(tcp::socket &socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 ||
         (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/// Waits at most `timeoutMs` until the socket can take more bytes; false
/// when it cannot: a client that reads nothing for that long is dropped
/// instead of blocking its connection's thread (and, streaming, a slot).
bool writable(tcp::socket &socket, int timeoutMs) {
  pollfd ready{socket.native_handle(), POLLOUT, 0};
  int n;
  do
    n = ::poll(&ready, 1, timeoutMs);
  while (n < 0 && errno == EINTR);
  return n > 0 && (ready.revents & POLLOUT);
}

/// Writes all of `buffers`: non-blocking sends, waiting at most `timeoutMs`
/// (writable()) each time the socket's buffer is full. False when the
/// client takes nothing for that long or the connection failed; the socket
/// is blocking again either way (the reads are).
template <class Buffers>
bool writeAll(tcp::socket &socket, const Buffers &buffers, int timeoutMs) {
  beast::error_code ec;
  socket.non_blocking(true, ec);
  bool ok = !ec;
  beast::buffers_suffix<Buffers> rest(buffers);
  while (ok && beast::buffer_bytes(rest) > 0) {
    size_t sent = socket.write_some(rest, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again)
      ok = writable(socket, timeoutMs);
    else if (ec)
      ok = false;
    else
      rest.consume(sent);
  }
  socket.non_blocking(false, ec);
  return ok;
}

/// A message's bytes on the wire.
template <class Message> std::string wire(const Message &message) {
  std::ostringstream out;
  out << message;
  return out.str();
}

/// Answers a connection over the --max-connections limit: 503, then close.
void refuseConnection(tcp::socket socket, const std::string &message) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  readRequest(socket, buffer, parser, 2000);
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = dump(errorBody(message, "server_busy"));
  res.prepare_payload();
  http::write(socket, res, ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

/// Serves one connection's requests (keep-alive) until it closes.
void serveConnection(tcp::socket socket, Service &s) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (!readRequest(socket, buffer, parser, s.idleTimeoutMs))
      break; // closed, idle too long, or not HTTP: nothing to answer
    http::request<http::string_body> req = parser.release();
    auto reply = [&](http::status status, const std::string &body,
                     const char *type) {
      http::response<http::string_body> res{status, req.version()};
      res.set(http::field::content_type, type);
      res.keep_alive(req.keep_alive());
      res.body() = body;
      res.prepare_payload();
      if (status != http::status::ok)
        ++s.httpErrors;
      if (!writeAll(socket, asio::buffer(wire(res)), s.idleTimeoutMs))
        ec = asio::error::timed_out;
    };
    auto replyJson = [&](http::status status, const json &j) {
      reply(status, dump(j), "application/json");
    };
    std::string target(req.target());
    if (size_t q = target.find('?'); q != std::string::npos)
      target.resize(q);
    bool get = req.method() == http::verb::get;
    bool post = req.method() == http::verb::post;
    if (target == "/health" && get) {
      replyJson(http::status::ok, {{"status", "ok"}});
    } else if (target == "/v1/models" && get) {
      replyJson(http::status::ok,
                {{"object", "list"},
                 {"data", json::array({{{"id", s.context.modelName},
                                        {"object", "model"},
                                        {"created", s.created},
                                        {"owned_by", "dsc"}}})}});
    } else if (target == "/metrics" && get) {
      reply(http::status::ok, metricsText(s),
            "text/plain; version=0.0.4; charset=utf-8");
    } else if ((target == "/v1/completions" ||
                target == "/v1/chat/completions") &&
               post) {
      json body = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
      try {
        if (body.is_discarded() || !body.is_object())
          throw BadRequest{"the request body is not a JSON object"};
        Completion completion(s, body, target == "/v1/chat/completions");
        completion.submit();
        auto gone = [&] { return peerClosed(socket); };
        if (!completion.streaming()) {
          replyJson(http::status::ok, completion.run(nullptr, gone));
        } else {
          http::response<http::empty_body> res{http::status::ok, req.version()};
          res.set(http::field::content_type, "text/event-stream");
          res.set(http::field::cache_control, "no-cache");
          res.chunked(true);
          res.keep_alive(req.keep_alive());
          if (!writeAll(socket, asio::buffer(wire(res.base())),
                        s.idleTimeoutMs))
            throw ClientGone{};
          auto event = [&](const std::string &data) {
            std::string text = "data: " + data + "\n\n";
            // A client gone or taking nothing: its sequences are cancelled.
            if (!writeAll(socket, http::make_chunk(asio::buffer(text)),
                          s.idleTimeoutMs))
              throw ClientGone{};
          };
          try {
            completion.run([&](const json &j) { event(dump(j)); }, gone);
          } catch (const ClientGone &) {
            break;
          } catch (const BadRequest &e) {
            event(dump(errorBody(e.message, e.type)));
          } catch (const std::exception &e) {
            event(dump(errorBody(e.what(), "server_error")));
          }
          event("[DONE]");
          if (!writeAll(socket, http::make_chunk_last(), s.idleTimeoutMs))
            break;
        }
      } catch (const ClientGone &) {
        break; // it stopped reading, or closed: its sequences are cancelled
      } catch (const BadRequest &e) {
        replyJson(static_cast<http::status>(e.status),
                  errorBody(e.message, e.type));
      } catch (const std::exception &e) {
        replyJson(http::status::internal_server_error,
                  errorBody(e.what(), "server_error"));
      }
    } else if (target == "/health" || target == "/v1/models" ||
               target == "/metrics" || target == "/v1/completions" ||
               target == "/v1/chat/completions") {
      replyJson(http::status::method_not_allowed,
                errorBody("method not allowed on " + target,
                          "invalid_request_error"));
    } else {
      replyJson(http::status::not_found,
                errorBody("no route " + target, "invalid_request_error"));
    }
    if (ec || !req.keep_alive())
      break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

} // namespace

int runServer(int argc, char **argv, const Program &program,
              const SessionOptions &sessionOptions) {
  ServeOptions o = parseServeOptions(argc, argv);
  asio::io_context io;
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(o.host, ec),
                         static_cast<unsigned short>(o.port));
  if (ec)
    cli::fail("serve: --host '" + o.host + "' is not an IP address");
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    cli::fail("serve: cannot listen on " + o.host + ":" +
              std::to_string(o.port) + ": " + ec.message());

  SessionOptions options = sessionOptions;
  options.threads = o.load.threads;
  options.cachePages = o.load.cachePages;
  cli::StartedSession started =
      cli::startSession(o.load, program, options, argv[0]);
  std::optional<Tokenizer> tokenizer;
  if (const auto *bytes = program.fb().tokenizer();
      bytes && bytes->size() > 0) {
    auto t = Tokenizer::fromJson(
        std::string_view(reinterpret_cast<const char *>(bytes->data()),
                         bytes->size()),
        std::string(argv[0]) + ": embedded tokenizer.json");
    if (!t)
      cli::fail(t.error());
    tokenizer.emplace(t.take());
  }
  EngineOptions engineOptions;
  engineOptions.maxWaiting = static_cast<size_t>(o.maxWaiting);
  engineOptions.prefixSharing = o.prefixSharing;
  engineOptions.prefillTokens = o.prefillTokens;
  Engine engine(*started.session, program, engineOptions);
  std::string name = program.fb().model()->family()->str();
  if (const auto *dir = program.fb().checkpoint_dir(); dir && dir->size()) {
    std::string path = dir->str();
    while (path.size() > 1 && path.back() == '/')
      path.pop_back();
    size_t slash = path.rfind('/');
    name = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  RequestContext context;
  context.modelName = name;
  context.tokenizer = tokenizer ? &*tokenizer : nullptr;
  context.bosTokenId = program.fb().model()->bos_token_id();
  context.eosTokenId = program.fb().model()->eos_token_id();
  if (program.fb().chat_template())
    context.chatTemplate = program.fb().chat_template()->str();
  context.maxSeq = program.fb().cache()->max_seq();
  Service service{engine, context,
                  std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()};
  service.idleTimeoutMs = static_cast<int>(o.idleTimeout * 1000);
  std::fprintf(stderr,
               "dsc: serving %s on http://%s:%d (%lld sequences at once, "
               "%s)\n",
               name.c_str(), o.host.c_str(),
               static_cast<int>(acceptor.local_endpoint().port()),
               static_cast<long long>(engine.slots()),
               started.session->deviceName().c_str());
  std::fflush(stderr);
  const int64_t maxConnections =
      o.maxConnections > 0 ? o.maxConnections
                           : std::max<int64_t>(256, 4 * engine.slots());
  for (;;) {
    tcp::socket socket(io);
    acceptor.accept(socket, ec);
    if (ec)
      continue;
    if (service.connections.load() >= maxConnections) {
      // Refused on a short-lived thread: it reads the request (so the close
      // does not reset the connection before the client reads the answer),
      // waiting at most 2 s, and answers 503.
      ++service.httpErrors;
      std::thread(refuseConnection, std::move(socket),
                  std::to_string(maxConnections) +
                      " connections are open (serve --max-connections); try "
                      "again later")
          .detach();
      continue;
    }
    ++service.connections;
    std::thread(
        [&service](tcp::socket s) {
          serveConnection(std::move(s), service);
          --service.connections;
        },
        std::move(socket))
        .detach();
  }
}

} // namespace dsrt::server
