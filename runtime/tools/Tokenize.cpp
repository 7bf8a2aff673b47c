//===- Tokenize.cpp - dsrt-tokenize, the tokenizer from the shell -*- C++
//-*-===//
//
// A small driver of dsrt::Tokenizer for tests and for looking at how a text
// tokenizes. test/tokenizer/run-compat.sh uses it to compare libdsrt with the
// reference implementation on a corpus.
//
//   dsrt-tokenize TOKENIZER_JSON TEXT_FILE
//       prints the ids of the file's bytes as a JSON array
//   dsrt-tokenize --decode TOKENIZER_JSON IDS_FILE
//       reads a JSON array of ids, writes the bytes they decode to
//   --batch   encode: TEXT_FILE holds records "<byte count>\n<bytes>\n" and
//             each prints a JSON array on its own line;
//             decode: IDS_FILE holds one JSON array per line and each prints
//             the decoded bytes in hex on its own line
//   --stream  decode through IncrementalDecoder (valid UTF-8 out)
//   --time    report the load time on stderr
//
// A file name of "-" reads standard input. Exit status 1 on any error.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Json.h"
#include "dsrt/Tokenizer.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

bool readFile(const std::string &path, std::string &out) {
  if (path == "-") {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    out = buffer.str();
    return true;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return false;
  std::ostringstream buffer;
  buffer << file.rdbuf();
  out = buffer.str();
  return !file.bad();
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "dsrt-tokenize: %s\n", message.c_str());
  std::exit(1);
}

void printIds(const std::vector<int32_t> &ids) {
  std::string line = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i)
      line += ',';
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

std::vector<int32_t> parseIds(std::string_view text, const std::string &where) {
  auto value = dsrt::json::parse(text);
  if (!value.ok())
    die(where + ": " + value.error());
  if (!value.value().isArray())
    die(where + ": expected a JSON array of ids");
  std::vector<int32_t> ids;
  for (const auto &element : value.value().elements()) {
    int64_t id = 0;
    if (!element.getInt64(id) || id < INT32_MIN || id > INT32_MAX)
      die(where + ": ids must be 32-bit integers");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::string decodeIds(const dsrt::Tokenizer &tokenizer,
                      const std::vector<int32_t> &ids, bool stream) {
  if (!stream)
    return tokenizer.decode(ids);
  dsrt::IncrementalDecoder decoder(tokenizer);
  std::string text;
  for (int32_t id : ids)
    text += decoder.push(id);
  return text + decoder.flush();
}

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out += digits[byte >> 4];
    out += digits[byte & 15];
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  bool decode = false, batch = false, stream = false, time = false;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--decode")
      decode = true;
    else if (arg == "--batch")
      batch = true;
    else if (arg == "--stream")
      stream = true;
    else if (arg == "--time")
      time = true;
    else if (arg == "-h" || arg == "--help") {
      std::printf("usage: dsrt-tokenize [--decode] [--batch] [--stream] "
                  "[--time] TOKENIZER_JSON INPUT\n");
      return 0;
    } else if (arg.size() > 1 && arg[0] == '-' && arg != "-")
      die("unknown option " + arg);
    else
      paths.push_back(arg);
  }
  if (paths.size() != 2)
    die("expected TOKENIZER_JSON and INPUT (see --help)");

  std::string json, input;
  if (!readFile(paths[0], json))
    die("cannot read " + paths[0]);
  if (!readFile(paths[1], input))
    die("cannot read " + paths[1]);

  auto start = std::chrono::steady_clock::now();
  auto tokenizer = dsrt::Tokenizer::fromJson(json, paths[0]);
  auto loaded = std::chrono::steady_clock::now();
  if (!tokenizer.ok())
    die(tokenizer.error());
  if (time)
    std::fprintf(
        stderr, "loaded %zu tokens in %.1f ms\n", tokenizer.value().vocabSize(),
        std::chrono::duration<double, std::milli>(loaded - start).count());
  const dsrt::Tokenizer &tok = tokenizer.value();

  if (!decode && !batch) {
    printIds(tok.encode(input));
  } else if (!decode) {
    size_t pos = 0, record = 0;
    while (pos < input.size()) {
      size_t newline = input.find('\n', pos);
      if (newline == std::string::npos)
        die("record " + std::to_string(record) + ": missing length line");
      size_t length = 0;
      try {
        length = std::stoull(input.substr(pos, newline - pos));
      } catch (...) {
        die("record " + std::to_string(record) + ": bad length line");
      }
      pos = newline + 1;
      if (length > input.size() - pos || pos + length >= input.size() ||
          input[pos + length] != '\n')
        die("record " + std::to_string(record) + ": truncated");
      printIds(tok.encode(std::string_view(input).substr(pos, length)));
      pos += length + 1;
      ++record;
    }
  } else if (!batch) {
    std::string bytes = decodeIds(tok, parseIds(input, paths[1]), stream);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  } else {
    size_t pos = 0, line = 1;
    while (pos < input.size()) {
      size_t newline = input.find('\n', pos);
      if (newline == std::string::npos)
        newline = input.size();
      std::string_view text =
          std::string_view(input).substr(pos, newline - pos);
      if (!text.empty()) {
        std::string out =
            hex(decodeIds(tok,
                          parseIds(text, paths[1] + ":" + std::to_string(line)),
                          stream)) +
            "\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
      pos = newline + 1;
      ++line;
    }
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
