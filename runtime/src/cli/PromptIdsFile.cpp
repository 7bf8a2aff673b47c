//===- PromptIdsFile.cpp - prompt token ids read from a file --------------===//
//
// readPromptIdsFile(): a small state machine over 64 KiB blocks of the file
// that cuts it into whitespace-separated tokens and parses each as a token
// id; see PromptIdsFile.h.
//
//===----------------------------------------------------------------------===//

#include "cli/PromptIdsFile.h"

#include "cli/Fail.h"
#include "io/QuoteForMessage.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dsrt::cli {

namespace {

/// Longer tokens are refused as soon as their first kMaxTokenBytes + 1 bytes
/// are read (quoteForMessage() shows them cut with "..."): an id has at most
/// 10 digits, so only one padded with over 100 zeros is lost, and an endless
/// token (/dev/zero) ends the reading.
constexpr size_t kMaxTokenBytes = 120;

/// `token` as an id in [0, vocab), or -1. Like --prompt-ids: strtoll's
/// syntax, the whole token.
int64_t parseTokenId(const std::string &token, int64_t vocab) {
  if (token.empty() || token.size() > kMaxTokenBytes)
    return -1;
  char *end = nullptr;
  errno = 0;
  long long id = std::strtoll(token.c_str(), &end, 10);
  if (end != token.c_str() + token.size() || errno || id < 0 || id >= vocab)
    return -1;
  return id;
}

} // namespace

std::vector<int32_t> readPromptIdsFile(const std::string &path, int64_t vocab,
                                       int64_t maxTokens) {
  const bool fromStdin = path == "-";
  const std::string name = fromStdin ? "<stdin>" : path;
  std::FILE *file = fromStdin ? stdin : std::fopen(path.c_str(), "rb");
  if (!file)
    fail("cannot read " + name + ": " + std::strerror(errno));

  std::vector<int32_t> ids;
  std::string token; // the token being read
  int64_t line = 1, tokenLine = 1;
  auto finishToken = [&]() {
    if (token.empty())
      return;
    int64_t id = parseTokenId(token, vocab);
    if (id < 0)
      fail(name + ":" + std::to_string(tokenLine) + ": token " +
           std::to_string(ids.size() + 1) + " of the prompt is " +
           detail::quoteForMessage(token) + ", not a token id in [0, " +
           std::to_string(vocab - 1) + "]");
    if (static_cast<int64_t>(ids.size()) >= maxTokens)
      fail(name + ": a prompt of more than " + std::to_string(maxTokens) +
           " tokens is longer than the " + std::to_string(maxTokens) +
           " positions this executable was compiled for (dsc compile "
           "--max-seq-len)");
    ids.push_back(static_cast<int32_t>(id));
    token.clear();
  };

  char block[1 << 16];
  for (;;) {
    size_t n = std::fread(block, 1, sizeof(block), file);
    for (size_t i = 0; i < n; ++i) {
      unsigned char c = static_cast<unsigned char>(block[i]);
      if (std::isspace(c)) {
        finishToken();
        line += c == '\n';
        continue;
      }
      if (token.empty())
        tokenLine = line;
      token += static_cast<char>(c);
      if (token.size() > kMaxTokenBytes)
        finishToken(); // fails: no need to read the rest of it
    }
    if (n < sizeof(block))
      break;
  }
  if (std::ferror(file))
    fail("cannot read " + name + ": " + std::strerror(errno));
  finishToken();
  if (!fromStdin)
    std::fclose(file);
  if (ids.empty())
    fail(name + ": no token ids (the file is empty or all whitespace)");
  return ids;
}

} // namespace dsrt::cli
