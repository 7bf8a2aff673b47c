//===- Requests.cpp - the server's requests, checked ----------------------===//
//
// See Requests.h.
//
//===----------------------------------------------------------------------===//

#include "server/Requests.h"

#include "cli/ChatFormat.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>

namespace dsrt::server {
namespace {

using json = nlohmann::json;

std::string fieldName(const std::string &name) { return "'" + name + "'"; }

/// body[name] when present and not null.
const json *member(const json &body, const char *name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

/// An integer field in [lo, hi] (JSON integers only).
int64_t integer(const json &body, const char *name, int64_t fallback,
                int64_t lo, int64_t hi) {
  const json *v = member(body, name);
  if (!v)
    return fallback;
  if (!v->is_number_integer())
    throw BadRequest{fieldName(name) + " must be an integer"};
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(hi))
    throw BadRequest{fieldName(name) + " must be from " + std::to_string(lo) +
                     " to " + std::to_string(hi)};
  int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    throw BadRequest{fieldName(name) + " must be from " + std::to_string(lo) +
                     " to " + std::to_string(hi)};
  return x;
}

/// A finite number field (integers too), as a float.
float number(const json &body, const char *name, float fallback) {
  const json *v = member(body, name);
  if (!v)
    return fallback;
  if (!v->is_number())
    throw BadRequest{fieldName(name) + " must be a number"};
  double x = v->get<double>();
  if (!std::isfinite(x) || std::fabs(x) > 1e30)
    throw BadRequest{fieldName(name) + " is out of range"};
  return static_cast<float>(x);
}

bool boolean(const json &body, const char *name, bool fallback) {
  const json *v = member(body, name);
  if (!v)
    return fallback;
  if (!v->is_boolean())
    throw BadRequest{fieldName(name) + " must be true or false"};
  return v->get<bool>();
}

/// Refuses, naming it, any field this server does not implement (a field
/// at its no-op value is accepted: a zero penalty, an empty logit_bias).
void checkFields(const json &body, bool chat) {
  static const char *const common[] = {
      "model",          "n",        "max_tokens", "temperature", "top_p",
      "top_k",          "min_p",    "seed",       "stop",        "stream",
      "stream_options", "logprobs", "ignore_eos", "user"};
  static const char *const chatOnly[] = {"messages", "max_completion_tokens",
                                         "top_logprobs"};
  static const char *const completionsOnly[] = {"prompt"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string &key = it.key();
    const json &value = it.value();
    auto in = [&](const auto &list) {
      return std::any_of(std::begin(list), std::end(list),
                         [&](const char *k) { return key == k; });
    };
    if (in(common) || (chat ? in(chatOnly) : in(completionsOnly)))
      continue;
    bool noOp = value.is_null() ||
                ((key == "presence_penalty" || key == "frequency_penalty") &&
                 value.is_number() && value.get<double>() == 0) ||
                (key == "repetition_penalty" && value.is_number() &&
                 value.get<double>() == 1) ||
                (key == "logit_bias" && value.is_object() && value.empty()) ||
                (key == "echo" && value.is_boolean() && !value.get<bool>()) ||
                (key == "best_of" && value.is_number_integer() &&
                 value.get<int64_t>() == 1) ||
                (key == "parallel_tool_calls" && value.is_boolean());
    if (!noOp)
      throw BadRequest{"unsupported field " + fieldName(key) +
                       " (see the README for the fields served)"};
  }
}

std::vector<int32_t> encodeText(const std::string &text,
                                const RequestContext &c) {
  if (!c.tokenizer)
    throw BadRequest{"this model has no tokenizer (its checkpoint had no "
                     "tokenizer.json): give the prompt as token ids"};
  std::vector<int32_t> ids;
  if (c.bosTokenId >= 0)
    ids.push_back(static_cast<int32_t>(c.bosTokenId));
  std::vector<int32_t> body = c.tokenizer->encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::vector<int32_t> idsOf(const json &a) {
  std::vector<int32_t> ids;
  for (const json &t : a) {
    if (!t.is_number_integer())
      throw BadRequest{"'prompt': token ids must be integers"};
    if (t.is_number_unsigned()
            ? t.get<uint64_t>() > INT32_MAX
            : (t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX))
      throw BadRequest{"'prompt': a token id is out of range"};
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

/// The prompts of a completions request: one per choice (before `n`).
std::vector<std::vector<int32_t>> promptsOf(const json *prompt,
                                            const RequestContext &c) {
  if (!prompt)
    throw BadRequest{"'prompt' is required"};
  if (prompt->is_string())
    return {encodeText(prompt->get<std::string>(), c)};
  if (!prompt->is_array() || prompt->empty())
    throw BadRequest{"'prompt' must be a string, token ids, or a non-empty "
                     "list of either"};
  if ((*prompt)[0].is_number())
    return {idsOf(*prompt)};
  if (static_cast<int64_t>(prompt->size()) > kMaxChoices)
    throw BadRequest{"'prompt': at most " + std::to_string(kMaxChoices) +
                     " prompts"};
  std::vector<std::vector<int32_t>> out;
  for (const json &p : *prompt) {
    if (p.is_string())
      out.push_back(encodeText(p.get<std::string>(), c));
    else if (p.is_array())
      out.push_back(idsOf(p));
    else
      throw BadRequest{"'prompt': each entry must be a string or token ids"};
  }
  return out;
}

/// The prompt of a chat request: its messages in the compiled chat format.
std::vector<int32_t> chatPrompt(const json *messages, const RequestContext &c) {
  if (!messages || !messages->is_array() || messages->empty())
    throw BadRequest{"'messages' must be a non-empty list"};
  std::string system;
  std::vector<cli::Turn> history;
  std::optional<std::string> user;
  for (const json &m : *messages) {
    if (!m.is_object())
      throw BadRequest{"each message must be an object"};
    const json *role = member(m, "role");
    if (!role || !role->is_string())
      throw BadRequest{"each message needs a 'role'"};
    std::string content;
    const json *body = member(m, "content");
    if (body && body->is_string()) {
      content = body->get<std::string>();
    } else if (body && body->is_array()) { // [{"type": "text", "text": ...}]
      for (const json &part : *body) {
        const json *type = part.is_object() ? member(part, "type") : nullptr;
        const json *text = part.is_object() ? member(part, "text") : nullptr;
        if (!type || !type->is_string() || *type != "text" || !text ||
            !text->is_string())
          throw BadRequest{"message content parts must be of type 'text'"};
        content += text->get<std::string>();
      }
    } else if (body) {
      throw BadRequest{"message 'content' must be a string or text parts"};
    }
    std::string r = role->get<std::string>();
    if (r == "system" || r == "developer") {
      if (!history.empty() || user)
        throw BadRequest{"system messages must come first"};
      system += content;
    } else if (r == "user") {
      if (user)
        throw BadRequest{"two user messages in a row"};
      user = content;
    } else if (r == "assistant") {
      if (!user)
        throw BadRequest{"an assistant message must follow a user message"};
      history.push_back({*user, content});
      user.reset();
    } else {
      throw BadRequest{"unknown message role " + fieldName(r)};
    }
  }
  if (!user)
    throw BadRequest{"the last message must be the user's"};
  if (!c.tokenizer)
    throw BadRequest{"this model has no tokenizer (its checkpoint had no "
                     "tokenizer.json): use /v1/completions with token ids"};
  auto text = [&](int64_t id) {
    const std::string *t =
        id >= 0 ? c.tokenizer->tokenText(static_cast<int32_t>(id)) : nullptr;
    return t ? *t : std::string();
  };
  return c.tokenizer->encode(cli::formatChat(c.chatTemplate, text(c.bosTokenId),
                                             text(c.eosTokenId), system,
                                             history, *user));
}

} // namespace

ParsedRequest parseRequest(const json &body, bool chat,
                           const RequestContext &c) {
  if (!body.is_object())
    throw BadRequest{"the request body is not a JSON object"};
  checkFields(body, chat);
  ParsedRequest r;
  r.chat = chat;
  if (const json *model = member(body, "model"))
    if (!model->is_string() || model->get<std::string>() != c.modelName)
      throw BadRequest{
          "model " +
              model->dump(-1, ' ', false, json::error_handler_t::replace) +
              " does not exist (this server serves '" + c.modelName + "')",
          404, "model_not_found"};
  r.prompts = chat ? std::vector<std::vector<int32_t>>{chatPrompt(
                         member(body, "messages"), c)}
                   : promptsOf(member(body, "prompt"), c);
  r.reasoning = chat && c.chatTemplate == "deepseek-r1";
  r.n = integer(body, "n", 1, 1, kMaxChoices);
  if (r.n * static_cast<int64_t>(r.prompts.size()) > kMaxChoices)
    throw BadRequest{"at most " + std::to_string(kMaxChoices) +
                     " choices (prompts x n) per request"};
  int64_t longest = std::max<int64_t>(c.maxSeq, 1);
  r.maxTokens = integer(
      body, "max_tokens",
      chat ? integer(body, "max_completion_tokens", longest, 0, INT32_MAX) : 16,
      0, INT32_MAX);
  SamplingParams &sp = r.sampling;
  sp.temperature = number(body, "temperature", 1.0f);
  sp.topP = number(body, "top_p", 1.0f);
  sp.topK = static_cast<int>(integer(body, "top_k", 0, -1, INT32_MAX));
  sp.topK = std::max(sp.topK, 0); // -1 (vLLM's "off") is 0
  sp.minP = number(body, "min_p", 0.0f);
  if (member(body, "seed"))
    sp.seed = static_cast<uint64_t>(
        integer(body, "seed", 0, std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max()));
  else
    sp.seed = std::random_device{}();
  if (Status v = validate(sp); !v)
    throw BadRequest{v.error()};
  if (chat) {
    int64_t top = integer(body, "top_logprobs", -1, 0, 20);
    if (boolean(body, "logprobs", false))
      r.logProbs = static_cast<int>(std::max<int64_t>(top, 0));
    else if (member(body, "top_logprobs"))
      throw BadRequest{"'top_logprobs' needs 'logprobs': true"};
  } else if (member(body, "logprobs")) {
    r.logProbs = static_cast<int>(integer(body, "logprobs", 0, 0, 5));
  }
  if (const json *stop = member(body, "stop")) {
    if (stop->is_string())
      r.stops.push_back(stop->get<std::string>());
    else if (stop->is_array() && stop->size() <= 4)
      for (const json &x : *stop) {
        if (!x.is_string())
          throw BadRequest{"'stop' must be a string or up to 4 strings"};
        r.stops.push_back(x.get<std::string>());
      }
    else
      throw BadRequest{"'stop' must be a string or up to 4 strings"};
    for (const std::string &x : r.stops)
      if (x.empty())
        throw BadRequest{"'stop' strings must not be empty"};
  }
  r.stream = boolean(body, "stream", false);
  if (const json *options = member(body, "stream_options")) {
    if (!options->is_object())
      throw BadRequest{"'stream_options' must be an object"};
    r.includeUsage = boolean(*options, "include_usage", false);
  }
  r.ignoreEos = boolean(body, "ignore_eos", false);
  return r;
}

} // namespace dsrt::server
