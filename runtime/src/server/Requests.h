//===- Requests.h - the server's requests, checked ---------------*- C++
//-*-===//
//
// What a completions or chat completions request asks for, read from its
// JSON body and checked against the served model. Every rule a request can
// break is a BadRequest with OpenAI's error type and the HTTP status it
// gets; nothing else escapes parseRequest() (a libFuzzer target holds it to
// that: runtime/fuzz/RequestFuzzer.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_SERVER_REQUESTS_H
#define DSRT_SRC_SERVER_REQUESTS_H

#include "dsrt/Sampling.h"
#include "dsrt/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::server {

/// A request the client got wrong: its message, HTTP status and OpenAI's
/// error type.
struct BadRequest {
  std::string message;
  unsigned status = 400;
  const char *type = "invalid_request_error";
};

/// What checking a request needs to know of the served model.
struct RequestContext {
  std::string modelName;
  const Tokenizer *tokenizer = nullptr; // null: token-id prompts only
  int64_t bosTokenId = -1, eosTokenId = -1;
  std::string chatTemplate = "deepseek-v3"; // or deepseek-v2, deepseek-r1
  int64_t maxSeq = 0;                       // positions per sequence
};

struct ParsedRequest {
  bool chat = false;
  bool reasoning = false; // R1's format: the reply opens with reasoning
  /// One per choice, before `n` copies.
  std::vector<std::vector<int32_t>> prompts;
  int64_t n = 1, maxTokens = 16;
  SamplingParams sampling; // seed: the request's, else random
  int logProbs = -1;       // alternatives per token; -1: none
  std::vector<std::string> stops;
  bool stream = false, includeUsage = false, ignoreEos = false;
};

/// The most choices (prompts x n) one request may ask for.
constexpr int64_t kMaxChoices = 128;

/// Reads `body` (a JSON object) as a chat completions request (`chat`) or
/// a completions request. Throws BadRequest.
ParsedRequest parseRequest(const nlohmann::json &body, bool chat,
                           const RequestContext &context);

} // namespace dsrt::server

#endif // DSRT_SRC_SERVER_REQUESTS_H
