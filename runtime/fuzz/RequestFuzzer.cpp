//===- RequestFuzzer.cpp - fuzz the server's request checks ------*- C++
//-*-===//
//
// libFuzzer entry point for dsrt::server::parseRequest, which reads the
// JSON body of a completions or chat completions request. The first byte
// picks the endpoint (odd: chat); the rest is the body. Whatever the body,
// parseRequest returns or throws BadRequest, under the sanitizers; an
// accepted request keeps the promises the engine relies on (traps
// otherwise): at least one prompt and at most kMaxChoices choices, every
// token id within int32, valid sampling parameters, logprobs within their
// endpoint's range, at most 4 non-empty stop strings.
//
//===----------------------------------------------------------------------===//

#include "server/Requests.h"

#include <cstddef>
#include <cstdint>

namespace {

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace dsrt::server;
  if (size == 0)
    return 0;
  bool chat = data[0] & 1;
  nlohmann::json body = nlohmann::json::parse(
      data + 1, data + size, /*callback=*/nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return 0;
  RequestContext context;
  context.modelName = "model";
  context.bosTokenId = 0;
  context.eosTokenId = 1;
  context.maxSeq = 64;
  try {
    ParsedRequest r = parseRequest(body, chat, context);
    check(!r.prompts.empty());
    check(r.n >= 1 &&
          r.n * static_cast<int64_t>(r.prompts.size()) <= kMaxChoices);
    check(r.maxTokens >= 0);
    check(dsrt::validate(r.sampling).ok());
    check(r.logProbs >= -1 && r.logProbs <= (chat ? 20 : 5));
    check(r.stops.size() <= 4);
    for (const std::string &stop : r.stops)
      check(!stop.empty());
  } catch (const BadRequest &e) {
    check(!e.message.empty() && (e.status == 400 || e.status == 404));
  }
  return 0;
}
