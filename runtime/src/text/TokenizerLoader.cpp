//===- TokenizerLoader.cpp - tokenizer.json into tables ---------*- C++ -*-===//
//
// Builds a TokenizerImpl from the text of a tokenizer.json. The two big
// members, model.vocab and model.merges (99% of the bytes of DeepSeek-V3's
// file), are read by a single-pass scanner straight into flat hash tables;
// every other member goes to the strict parser of Json.h, which would take
// three times longer on the whole file. Errors name the field and, for
// malformed JSON, the line and column in the file.
//
//===----------------------------------------------------------------------===//

#include "text/TokenizerImpl.h"

#include "dsrt/Json.h"

#include "io/QuoteForMessage.h"
#include "text/Utf8.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace dsrt::detail {

namespace {

/// Token ids above this are refused: id-indexed tables stay small whatever
/// a hostile file says.
constexpr int64_t kMaxTokenId = (int64_t(1) << 22) - 1;
constexpr size_t kMaxDocumentSize = size_t(256) << 20;
constexpr size_t kMaxNesting = 256;

/// GPT-2's split pattern, which ByteLevel applies when use_regex is true.
constexpr const char *kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
/// The characters of \w in Rust's regex crate, which HF uses to decide
/// whether a single_word added token touches a word.
constexpr const char *kWordCharPattern =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])";

//===----------------------------------------------------------------------===//
// Scanning the big members of tokenizer.json
//===----------------------------------------------------------------------===//

/// A forward-only reader over the document for the parts read without
/// building a json::Value. Strings are checked like Json.h checks them (no
/// control characters, valid UTF-8; escapes decoded by json::parse itself);
/// skipValue() only finds where a value ends, and the value is then parsed
/// and validated by json::parse.
class JsonScanner {
public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  size_t pos() const { return pos_; }
  const std::string &error() const { return error_; }
  size_t errorPos() const { return errorPos_; }

  bool failAt(size_t pos, std::string message) {
    if (error_.empty()) {
      error_ = std::move(message);
      errorPos_ = pos;
    }
    return false;
  }
  bool fail(std::string message) { return failAt(pos_, std::move(message)); }

  void skipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool atEnd() {
    skipWhitespace();
    return pos_ >= text_.size();
  }
  /// Skips white space; true if the next byte is `c` (not consumed).
  bool peekIs(char c) {
    skipWhitespace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool consume(char c) {
    if (!peekIs(c))
      return false;
    ++pos_;
    return true;
  }
  bool expect(char c) {
    if (consume(c))
      return true;
    return fail(std::string("expected '") + c + "', found " + describeNext());
  }

  /// Reads a string. `out` views the document when the string has no
  /// escapes, otherwise `storage`.
  bool readString(std::string_view &out, std::string &storage) {
    if (!peekIs('"'))
      return fail("expected a string, found " + describeNext());
    size_t open = pos_++;
    bool escaped = false;
    for (;;) {
      if (pos_ >= text_.size())
        return failAt(open, "unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"')
        break;
      if (c == '\\') {
        escaped = true;
        pos_ += 2;
        continue;
      }
      if (c < 0x20)
        return fail("control character in string");
      ++pos_;
    }
    size_t close = pos_++;
    if (!escaped) {
      std::string_view body = text_.substr(open + 1, close - open - 1);
      size_t valid = detail::validUtf8Prefix(body);
      if (valid != body.size())
        return failAt(open + 1 + valid, "invalid UTF-8 in string");
      out = body;
      return true;
    }
    auto value = json::parse(text_.substr(open, close + 1 - open));
    if (!value.ok())
      return failAt(open, "invalid string (" + value.error() + ")");
    storage = value.value().asString();
    out = storage;
    return true;
  }

  /// Reads a plain non-negative integer literal no larger than `max`.
  bool readIndex(int64_t max, int64_t &out) {
    skipWhitespace();
    size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      value = value * 10 + (text_[pos_] - '0');
      if (value > max)
        return failAt(start, "id is above the limit of " + std::to_string(max));
      ++pos_;
    }
    if (pos_ == start || (pos_ - start > 1 && text_[start] == '0') ||
        (pos_ < text_.size() &&
         (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')))
      return failAt(start, "expected a non-negative integer id, found " +
                               describeLiteralAt(start));
    out = value;
    return true;
  }

  /// Moves past one value of any kind; `span` is its text.
  bool skipValue(std::string_view &span) {
    skipWhitespace();
    size_t begin = pos_;
    std::vector<char> closers;
    do {
      skipWhitespace();
      if (pos_ >= text_.size())
        return fail("unexpected end of input inside a value");
      char c = text_[pos_];
      if (c == '"') {
        size_t open = pos_++;
        while (pos_ < text_.size() && text_[pos_] != '"')
          pos_ += text_[pos_] == '\\' ? 2 : 1;
        if (pos_ >= text_.size())
          return failAt(open, "unterminated string");
        ++pos_;
      } else if (c == '{' || c == '[') {
        if (closers.size() >= kMaxNesting)
          return fail("nesting deeper than " + std::to_string(kMaxNesting));
        closers.push_back(c == '{' ? '}' : ']');
        ++pos_;
      } else if (c == '}' || c == ']') {
        if (closers.empty() || closers.back() != c)
          return fail(std::string("unexpected '") + c + "'");
        closers.pop_back();
        ++pos_;
      } else if ((c == ',' || c == ':') && !closers.empty()) {
        ++pos_;
      } else {
        size_t start = pos_;
        while (pos_ < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                text_[pos_] == '-' || text_[pos_] == '+' || text_[pos_] == '.'))
          ++pos_;
        if (pos_ == start)
          return fail("unexpected " + describeNext() + ", expected a value");
      }
    } while (!closers.empty());
    span = text_.substr(begin, pos_ - begin);
    return true;
  }

  std::string describeNext() const { return describeAt(pos_); }
  /// The scalar literal (or first byte) at `pos`, quoted.
  std::string describeLiteralAt(size_t pos) const {
    size_t end = pos;
    while (end < text_.size() && end - pos < 24 &&
           std::string_view(",]} \t\r\n").find(text_[end]) ==
               std::string_view::npos)
      ++end;
    if (end == pos)
      return describeAt(pos);
    return quoteForMessage(text_.substr(pos, end - pos));
  }
  std::string describeAt(size_t pos) const {
    if (pos >= text_.size())
      return "end of input";
    return quoteForMessage(text_.substr(pos, 1));
  }

private:
  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
  size_t errorPos_ = 0;
};

/// Reads an object member by member: onMember(key) is called with the
/// scanner at the member's value and must consume it.
template <class OnMember>
bool forEachMember(JsonScanner &scanner, OnMember &&onMember) {
  if (!scanner.expect('{'))
    return false;
  if (scanner.consume('}'))
    return true;
  std::string storage;
  for (;;) {
    std::string_view key;
    if (!scanner.readString(key, storage) || !scanner.expect(':') ||
        !onMember(key))
      return false;
    if (scanner.consume(','))
      continue;
    if (scanner.consume('}'))
      return true;
    return scanner.fail("expected ',' or '}' after object member, found " +
                        scanner.describeNext());
  }
}

/// Reads an array element by element: onElement(index) must consume it.
template <class OnElement>
bool forEachElement(JsonScanner &scanner, OnElement &&onElement) {
  if (!scanner.expect('['))
    return false;
  if (scanner.consume(']'))
    return true;
  for (size_t index = 0;; ++index) {
    if (!onElement(index))
      return false;
    if (scanner.consume(','))
      continue;
    if (scanner.consume(']'))
      return true;
    return scanner.fail("expected ',' or ']' after array element, found " +
                        scanner.describeNext());
  }
}

/// "line L, column C" of byte `pos` (1-based; columns in bytes, as Json.h).
std::string describePosition(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  size_t line = 1, lineStart = 0;
  for (size_t i = 0; i < pos; ++i)
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  return "line " + std::to_string(line) + ", column " +
         std::to_string(pos - lineStart + 1);
}

std::string pathIndex(const std::string &path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

/// Builds a TokenizerImpl from the document; every error is "<field>: <what>"
/// and fromJson() prefixes the file name.
class Loader {
public:
  explicit Loader(std::string_view text)
      : text_(text), scanner_(text), impl_(std::make_unique<TokenizerImpl>()) {}

  Expected<std::unique_ptr<TokenizerImpl>> load();

private:
  using ImplResult = Expected<std::unique_ptr<TokenizerImpl>>;

  /// Reports the error of `scanner`, which reads the document from byte
  /// `base` on, in the field being read.
  bool scanError(const JsonScanner &scanner, size_t base = 0) {
    if (!error_.empty())
      return false; // a field error came first
    error_ = (field_.empty() ? "" : field_ + ": ") +
             describePosition(text_, base + scanner.errorPos()) + ": " +
             scanner.error();
    return false;
  }
  bool fieldError(const std::string &field, const std::string &message) {
    error_ = field + ": " + message;
    return false;
  }

  bool scanDocument();
  bool scanModel();
  bool scanVocab();
  bool scanMerges(JsonScanner &scanner, size_t base);
  bool parseSpan(const std::string &field, std::string_view span,
                 json::Value &out);

  bool readModelOptions();
  bool readAddedTokens(const json::Value &value);
  bool readNormalizer(const json::Value &value, const std::string &path);
  bool readPreTokenizer(const json::Value &value, const std::string &path);
  bool readDecoder(const json::Value *value);
  bool readPattern(const json::Value &object, const std::string &path,
                   std::optional<Regex> &out);
  bool finish();

  // Typed member access; each reports the field on a type mismatch.
  bool getString(const json::Value &object, const std::string &path,
                 const char *key, const std::string *&out, bool required);
  bool getBool(const json::Value &object, const std::string &path,
               const char *key, bool &out);
  bool getType(const json::Value &object, const std::string &path,
               std::string &type);

  std::string_view text_;
  JsonScanner scanner_;
  std::unique_ptr<TokenizerImpl> impl_;
  std::string error_;
  std::string field_; // the member being scanned, for scanner errors

  // Members other than vocab and merges, kept for json::parse.
  std::vector<std::pair<std::string, std::string_view>> topMembers_;
  std::vector<std::pair<std::string, std::string_view>> modelMembers_;
  bool sawModel_ = false, sawVocab_ = false, sawMerges_ = false;
  std::string_view deferredMerges_; // merges that came before the vocab
  int64_t maxId_ = -1;
};

Expected<std::unique_ptr<TokenizerImpl>> Loader::load() {
  if (text_.size() > kMaxDocumentSize)
    return ImplResult::error("the file is " + std::to_string(text_.size()) +
                             " bytes, more than the limit of " +
                             std::to_string(kMaxDocumentSize));
  if (!scanDocument() || !readModelOptions())
    return ImplResult::error(error_);

  json::Value added, normalizer, preTokenizer, decoder;
  bool sawDecoder = false;
  for (auto &[key, span] : topMembers_) {
    json::Value value;
    if (!parseSpan(key, span, value))
      return ImplResult::error(error_);
    if (key == "added_tokens")
      added = std::move(value);
    else if (key == "normalizer")
      normalizer = std::move(value);
    else if (key == "pre_tokenizer")
      preTokenizer = std::move(value);
    else if (key == "decoder") {
      decoder = std::move(value);
      sawDecoder = true;
    }
    // version, truncation, padding, post_processor: validated, not applied.
  }
  if (!readNormalizer(normalizer, "normalizer") || !readAddedTokens(added) ||
      !readPreTokenizer(preTokenizer, "pre_tokenizer") ||
      !readDecoder(sawDecoder ? &decoder : nullptr) || !finish())
    return ImplResult::error(error_);
  return std::move(impl_);
}

bool Loader::scanDocument() {
  std::vector<std::string> seen;
  bool ok = forEachMember(scanner_, [&](std::string_view key) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return scanner_.fail("duplicate key " + quoteForMessage(key));
    seen.emplace_back(key);
    field_ = std::string(key);
    if (key == "model") {
      sawModel_ = true;
      return scanModel();
    }
    std::string_view span;
    if (!scanner_.skipValue(span))
      return false;
    topMembers_.emplace_back(std::string(key), span);
    return true;
  });
  field_.clear();
  if (ok && !scanner_.atEnd())
    ok = scanner_.fail("unexpected text after the JSON value");
  if (!ok)
    return scanError(scanner_);
  if (!sawModel_)
    return fieldError("model", "missing");
  return true;
}

bool Loader::scanModel() {
  if (!scanner_.peekIs('{'))
    return fieldError("model",
                      "expected an object, found " + scanner_.describeNext());
  std::vector<std::string> seen;
  return forEachMember(scanner_, [&](std::string_view key) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return scanner_.fail("duplicate key " + quoteForMessage(key));
    seen.emplace_back(key);
    field_ = "model." + std::string(key);
    if (key == "vocab") {
      sawVocab_ = true;
      if (!scanVocab())
        return false;
      if (!deferredMerges_.empty()) {
        field_ = "model.merges";
        JsonScanner merges(deferredMerges_);
        if (!scanMerges(merges, deferredMerges_.data() - text_.data()))
          return false;
      }
      return true;
    }
    if (key == "merges") {
      sawMerges_ = true;
      if (sawVocab_)
        return scanMerges(scanner_, 0);
      return scanner_.skipValue(deferredMerges_);
    }
    std::string_view span;
    if (!scanner_.skipValue(span))
      return false;
    modelMembers_.emplace_back(std::string(key), span);
    return true;
  });
}

bool Loader::scanVocab() {
  TokenizerImpl &impl = *impl_;
  std::string storage;
  if (!scanner_.peekIs('{'))
    return fieldError("model.vocab",
                      "expected an object, found " + scanner_.describeNext());
  bool ok = forEachMember(scanner_, [&](std::string_view key) {
    int64_t id = 0;
    if (!scanner_.readIndex(kMaxTokenId, id))
      return false;
    if (impl.vocab.bytes.size() + key.size() > UINT32_MAX)
      return scanner_.fail("the vocabulary is larger than 4 GiB");
    auto entry = static_cast<int32_t>(impl.vocab.size());
    impl.vocab.push_back(key);
    if (impl.vocabIndex.insert(entry, impl.vocab) >= 0)
      return scanner_.fail("duplicate key " + quoteForMessage(key));
    impl.vocabIds.push_back(static_cast<int32_t>(id));
    maxId_ = std::max(maxId_, id);
    return true;
  });
  if (!ok)
    return scanError(scanner_);
  // Two entries with one id would make decoding ambiguous.
  impl.ids.assign(static_cast<size_t>(maxId_ + 1), TokenizerImpl::IdInfo());
  for (size_t entry = 0; entry < impl.vocabIds.size(); ++entry) {
    auto &info = impl.ids[impl.vocabIds[entry]];
    if (info.vocabEntry >= 0)
      return fieldError("model.vocab",
                        "id " + std::to_string(impl.vocabIds[entry]) +
                            " is given to both " +
                            quoteForMessage(impl.vocab[info.vocabEntry]) +
                            " and " + quoteForMessage(impl.vocab[entry]));
    info.vocabEntry = static_cast<int32_t>(entry);
  }
  return true;
}

bool Loader::scanMerges(JsonScanner &scanner, size_t base) {
  TokenizerImpl &impl = *impl_;
  if (!scanner.peekIs('['))
    return fieldError("model.merges",
                      "expected an array, found " + scanner.describeNext());
  impl.merges.reserve(impl.vocab.size());
  std::string leftStorage, rightStorage, joined;
  bool ok = forEachElement(scanner, [&](size_t index) {
    std::string_view left, right;
    if (scanner.peekIs('"')) {
      std::string_view merge;
      if (!scanner.readString(merge, leftStorage))
        return false;
      size_t space = merge.find(' ');
      if (space == std::string_view::npos)
        return fieldError(pathIndex("model.merges", index),
                          quoteForMessage(merge) +
                              " is not two symbols separated by a space");
      left = merge.substr(0, space);
      right = merge.substr(space + 1);
    } else if (scanner.consume('[')) {
      if (!scanner.readString(left, leftStorage) || !scanner.expect(',') ||
          !scanner.readString(right, rightStorage))
        return false;
      if (!scanner.consume(']'))
        return fieldError(pathIndex("model.merges", index),
                          "expected a pair of two strings");
    } else {
      return fieldError(pathIndex("model.merges", index),
                        "expected a string \"a b\" or a pair [\"a\", \"b\"]");
    }
    int32_t leftId = impl.vocabLookup(left);
    int32_t rightId = impl.vocabLookup(right);
    joined.assign(left);
    joined.append(right);
    int32_t mergedId = impl.vocabLookup(joined);
    for (auto [symbol, id] : {std::pair{std::string_view(left), leftId},
                              std::pair{std::string_view(right), rightId}})
      if (id < 0)
        return fieldError(pathIndex("model.merges", index),
                          quoteForMessage(symbol) + " is not in model.vocab");
    if (mergedId < 0)
      return fieldError(pathIndex("model.merges", index),
                        "the merge result " + quoteForMessage(joined) +
                            " is not in model.vocab");
    if (index > UINT32_MAX)
      return fieldError("model.merges", "too many merges");
    impl.merges.set(leftId, rightId, {static_cast<uint32_t>(index), mergedId});
    return true;
  });
  if (!ok)
    return scanError(scanner, base);
  return true;
}

bool Loader::parseSpan(const std::string &field, std::string_view span,
                       json::Value &out) {
  auto parsed = json::parse(span);
  if (!parsed.ok()) {
    // json::parse says "line L, column C: what" counting from the start of
    // the span; report the place in the whole file instead.
    const std::string &error = parsed.error();
    size_t line = 0, column = 0;
    int consumed = 0;
    if (std::sscanf(error.c_str(), "line %zu, column %zu: %n", &line, &column,
                    &consumed) == 2 &&
        consumed > 0 && line > 0 && column > 0) {
      size_t pos = 0;
      for (size_t l = 1; l < line && pos < span.size(); ++pos)
        if (span[pos] == '\n')
          ++l;
      pos += column - 1;
      return fieldError(
          field, describePosition(text_, (span.data() - text_.data()) + pos) +
                     ": " + error.substr(consumed));
    }
    return fieldError(field, error);
  }
  out = parsed.take();
  return true;
}

bool Loader::getString(const json::Value &object, const std::string &path,
                       const char *key, const std::string *&out,
                       bool required) {
  const json::Value *member = object.find(key);
  out = nullptr;
  if (!member || member->isNull()) {
    if (required)
      return fieldError(path + "." + key, "missing");
    return true;
  }
  if (!member->isString())
    return fieldError(path + "." + key, "expected a string, found " +
                                            json::kindName(member->kind()));
  out = &member->asString();
  return true;
}

bool Loader::getBool(const json::Value &object, const std::string &path,
                     const char *key, bool &out) {
  const json::Value *member = object.find(key);
  if (!member || member->isNull())
    return true; // keep the default
  if (!member->isBool())
    return fieldError(path + "." + key, "expected true or false, found " +
                                            json::kindName(member->kind()));
  out = member->asBool();
  return true;
}

bool Loader::getType(const json::Value &object, const std::string &path,
                     std::string &type) {
  if (!object.isObject())
    return fieldError(path, "expected an object, found " +
                                json::kindName(object.kind()));
  const std::string *text = nullptr;
  if (!getString(object, path, "type", text, /*required=*/true))
    return false;
  type = *text;
  return true;
}

bool Loader::readModelOptions() {
  TokenizerImpl &impl = *impl_;
  if (!sawVocab_)
    return fieldError("model.vocab", "missing");
  if (!sawMerges_)
    return fieldError("model.merges", "missing");
  for (auto &[key, span] : modelMembers_) {
    std::string path = "model." + key;
    json::Value value;
    if (!parseSpan(path, span, value))
      return false;
    if (key == "type") {
      if (!value.isString() || value.asString() != "BPE")
        return fieldError(path,
                          (value.isString() ? quoteForMessage(value.asString())
                                            : json::kindName(value.kind())) +
                              " is not supported (supported: BPE)");
    } else if (key == "dropout") {
      if (!value.isNull() && value.asNumber() != 0.0)
        return fieldError(path, "BPE dropout is not supported (it makes "
                                "encoding random); expected null");
    } else if (key == "unk_token") {
      if (value.isNull())
        continue;
      if (!value.isString())
        return fieldError(path, "expected a string or null");
      impl.unkId = impl.vocabLookup(value.asString());
      if (impl.unkId < 0)
        return fieldError(path, quoteForMessage(value.asString()) +
                                    " is not in model.vocab");
    } else if (key == "continuing_subword_prefix" ||
               key == "end_of_word_suffix") {
      if (!value.isNull() && !(value.isString() && value.asString().empty()))
        return fieldError(path, "is not supported; expected null");
    } else if (key == "fuse_unk" || key == "byte_fallback" ||
               key == "ignore_merges") {
      if (!value.isBool())
        return fieldError(path, "expected true or false, found " +
                                    json::kindName(value.kind()));
      bool flag = value.asBool();
      (key == "fuse_unk"        ? impl.fuseUnk
       : key == "byte_fallback" ? impl.byteFallback
                                : impl.ignoreMerges) = flag;
    }
    // Other members (e.g. a future field) are validated JSON, not used.
  }
  return true;
}

bool Loader::readAddedTokens(const json::Value &value) {
  TokenizerImpl &impl = *impl_;
  if (value.isNull())
    return true;
  if (!value.isArray())
    return fieldError("added_tokens", "expected an array, found " +
                                          json::kindName(value.kind()));
  std::unordered_map<int32_t, size_t> byId;
  const auto &elements = value.elements();
  for (size_t i = 0; i < elements.size(); ++i) {
    std::string path = pathIndex("added_tokens", i);
    const json::Value &entry = elements[i];
    if (!entry.isObject())
      return fieldError(path, "expected an object, found " +
                                  json::kindName(entry.kind()));
    AddedToken token;
    const json::Value *id = entry.find("id");
    int64_t idValue = -1;
    if (!id)
      return fieldError(path + ".id", "missing");
    if (!id->getInt64(idValue) || idValue < 0 || idValue > kMaxTokenId)
      return fieldError(path + ".id", "expected an integer in [0, " +
                                          std::to_string(kMaxTokenId) + "]");
    token.id = static_cast<int32_t>(idValue);
    const std::string *content = nullptr;
    if (!getString(entry, path, "content", content, /*required=*/true))
      return false;
    if (content->empty())
      return fieldError(path + ".content", "is empty");
    token.content = *content;
    if (!getBool(entry, path, "special", token.special) ||
        !getBool(entry, path, "lstrip", token.lstrip) ||
        !getBool(entry, path, "rstrip", token.rstrip) ||
        !getBool(entry, path, "single_word", token.singleWord) ||
        !getBool(entry, path, "normalized", token.normalized))
      return false;

    if (byId.count(token.id))
      return fieldError(path + ".id",
                        "id " + std::to_string(token.id) +
                            " is also the id of " +
                            pathIndex("added_tokens", byId[token.id]));
    if (impl.addedByContent.count(token.content))
      return fieldError(path + ".content", quoteForMessage(token.content) +
                                               " is added more than once");
    int32_t vocabId = impl.vocabLookup(token.content);
    if (vocabId >= 0 && vocabId != token.id)
      return fieldError(path + ".id", quoteForMessage(token.content) +
                                          " has id " +
                                          std::to_string(token.id) +
                                          " but model.vocab gives it " +
                                          std::to_string(vocabId));
    if (static_cast<size_t>(token.id) < impl.ids.size()) {
      int32_t entryAtId = impl.ids[token.id].vocabEntry;
      if (entryAtId >= 0 && impl.vocab[entryAtId] != token.content)
        return fieldError(path + ".id",
                          "id " + std::to_string(token.id) + " of " +
                              quoteForMessage(token.content) + " belongs to " +
                              quoteForMessage(impl.vocab[entryAtId]) +
                              " in model.vocab");
    }
    byId[token.id] = i;
    impl.addedByContent.emplace(token.content, token.id);
    maxId_ = std::max<int64_t>(maxId_, token.id);
    impl.addedTokens.push_back(std::move(token));
  }
  return true;
}

bool Loader::readPattern(const json::Value &object, const std::string &path,
                         std::optional<Regex> &out) {
  const json::Value *pattern = object.find("pattern");
  std::string field = path + ".pattern";
  if (!pattern)
    return fieldError(field, "missing");
  if (!pattern->isObject() || pattern->members().size() != 1)
    return fieldError(field, "expected {\"Regex\": ...} or {\"String\": ...}");
  const auto &[kind, text] = pattern->members()[0];
  if ((kind != "Regex" && kind != "String") || !text.isString())
    return fieldError(field, "expected {\"Regex\": \"...\"} or "
                             "{\"String\": \"...\"}");
  auto regex = Regex::compile(text.asString(), kind == "String");
  if (!regex.ok())
    return fieldError(field + "." + kind, "invalid regular expression " +
                                              quoteForMessage(text.asString()) +
                                              " " + regex.error());
  out.emplace(regex.take());
  return true;
}

bool Loader::readNormalizer(const json::Value &value, const std::string &path) {
  if (value.isNull())
    return true;
  std::string type;
  if (!getType(value, path, type))
    return false;
  if (type == "Sequence") {
    const json::Value *steps = value.find("normalizers");
    if (!steps || !steps->isArray())
      return fieldError(path + ".normalizers", "expected an array");
    for (size_t i = 0; i < steps->elements().size(); ++i)
      if (!readNormalizer(steps->elements()[i],
                          pathIndex(path + ".normalizers", i)))
        return false;
    return true;
  }
  if (type == "Replace") {
    std::optional<Regex> regex;
    const std::string *content = nullptr;
    if (!readPattern(value, path, regex) ||
        !getString(value, path, "content", content, /*required=*/true))
      return false;
    impl_->normalizer.push_back({std::move(*regex), *content});
    return true;
  }
  return fieldError(path + ".type", quoteForMessage(type) +
                                        " is not supported (supported: "
                                        "Sequence, Replace)");
}

bool Loader::readPreTokenizer(const json::Value &value,
                              const std::string &path) {
  TokenizerImpl &impl = *impl_;
  if (value.isNull())
    return true;
  std::string type;
  if (!getType(value, path, type))
    return false;
  if (impl.byteLevel)
    return fieldError(path, "ByteLevel must be the last pre-tokenizer (it "
                            "rewrites the text into byte symbols)");
  if (type == "Sequence") {
    const json::Value *steps = value.find("pretokenizers");
    if (!steps || !steps->isArray())
      return fieldError(path + ".pretokenizers", "expected an array");
    for (size_t i = 0; i < steps->elements().size(); ++i)
      if (!readPreTokenizer(steps->elements()[i],
                            pathIndex(path + ".pretokenizers", i)))
        return false;
    return true;
  }
  if (type == "Split") {
    std::optional<Regex> regex;
    const std::string *behavior = nullptr;
    bool invert = false;
    if (!readPattern(value, path, regex) ||
        !getString(value, path, "behavior", behavior, /*required=*/true) ||
        !getBool(value, path, "invert", invert))
      return false;
    detail::SplitStep step{std::move(*regex), SplitBehavior::Isolated, invert};
    static const std::pair<const char *, SplitBehavior> kBehaviors[] = {
        {"Removed", SplitBehavior::Removed},
        {"Isolated", SplitBehavior::Isolated},
        {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
        {"MergedWithNext", SplitBehavior::MergedWithNext},
        {"Contiguous", SplitBehavior::Contiguous}};
    bool known = false;
    for (auto &[name, behaviorValue] : kBehaviors)
      if (*behavior == name) {
        step.behavior = behaviorValue;
        known = true;
      }
    if (!known)
      return fieldError(path + ".behavior",
                        quoteForMessage(*behavior) +
                            " is not one of Removed, Isolated, "
                            "MergedWithPrevious, MergedWithNext, Contiguous");
    impl.splits.push_back(std::move(step));
    return true;
  }
  if (type == "Digits") {
    bool individual = false;
    if (!getBool(value, path, "individual_digits", individual))
      return false;
    // HF splits on char::is_numeric (category N): one piece per digit, or
    // per run of digits.
    auto regex = Regex::compile(individual ? "\\p{N}" : "\\p{N}+", false);
    if (!regex.ok())
      return fieldError(path, regex.error());
    impl.splits.push_back({regex.take(), SplitBehavior::Isolated, false});
    return true;
  }
  if (type == "ByteLevel") {
    bool addPrefixSpace = true, useRegex = true; // HF's defaults
    if (!getBool(value, path, "add_prefix_space", addPrefixSpace) ||
        !getBool(value, path, "use_regex", useRegex))
      return false;
    impl.byteLevel = true;
    impl.addPrefixSpace = addPrefixSpace;
    if (useRegex) {
      auto regex = Regex::compile(kByteLevelPattern, false);
      if (!regex.ok())
        return fieldError(path, regex.error());
      impl.byteLevelRegex.emplace(regex.take());
    }
    return true;
  }
  return fieldError(path + ".type",
                    quoteForMessage(type) +
                        " is not supported (supported: Sequence, Split, "
                        "Digits, ByteLevel)");
}

bool Loader::readDecoder(const json::Value *value) {
  if (!value || value->isNull())
    return fieldError("decoder", "missing; only the ByteLevel decoder is "
                                 "supported");
  std::string type;
  if (!getType(*value, "decoder", type))
    return false;
  if (type != "ByteLevel")
    return fieldError("decoder.type", quoteForMessage(type) +
                                          " is not supported (supported: "
                                          "ByteLevel)");
  return true;
}

bool Loader::finish() {
  TokenizerImpl &impl = *impl_;
  const ByteAlphabet &alphabet = byteAlphabet();

  // Added tokens: ids, matching tries (normalized keys for normalized ones).
  impl.ids.resize(static_cast<size_t>(maxId_ + 1));
  RegexScratch scratch;
  bool anySingleWord = false;
  for (size_t i = 0; i < impl.addedTokens.size(); ++i) {
    const AddedToken &token = impl.addedTokens[i];
    impl.ids[token.id].addedToken = static_cast<int32_t>(i);
    anySingleWord |= token.singleWord;
    if (!token.normalized) {
      impl.rawTrie.add(token.content, static_cast<int32_t>(i));
    } else {
      std::string key = applyNormalizer(impl, token.content, scratch);
      if (!key.empty())
        impl.normalizedTrie.add(key, static_cast<int32_t>(i));
    }
  }
  if (anySingleWord) {
    auto regex = Regex::compile(kWordCharPattern, false);
    if (!regex.ok())
      return fieldError("added_tokens", regex.error());
    impl.wordChar.emplace(regex.take());
  }

  // The symbols of single bytes, for byte-level BPE and byte fallback.
  std::string symbol;
  for (int b = 0; b < 256; ++b) {
    symbol.clear();
    detail::appendUtf8(alphabet.byteToChar[b], symbol);
    impl.byteSymbolId[b] = impl.vocabLookup(symbol);
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    impl.byteFallbackId[b] = impl.vocabLookup(name);
  }

  // What each id decodes to: added tokens their content, vocabulary tokens
  // the bytes of their symbols, or their own text when one of its characters
  // is not a byte symbol (as HF's ByteLevel decoder does).
  impl.decodedOffsets.assign(impl.ids.size() + 1, 0);
  impl.decodedBytes.reserve(impl.vocab.bytes.size());
  for (size_t id = 0; id < impl.ids.size(); ++id) {
    impl.decodedOffsets[id] = static_cast<uint32_t>(impl.decodedBytes.size());
    const auto &info = impl.ids[id];
    if (info.addedToken >= 0) {
      impl.decodedBytes += impl.addedTokens[info.addedToken].content;
    } else if (info.vocabEntry >= 0) {
      std::string_view text = impl.vocab[info.vocabEntry];
      size_t start = impl.decodedBytes.size();
      bool allBytes = true;
      for (size_t pos = 0; pos < text.size();) {
        size_t length = 1;
        uint32_t c = static_cast<unsigned char>(text[pos]);
        if (c >= 0x80) { // the arena holds valid UTF-8
          detail::examineUtf8(text.substr(pos), length);
          c = detail::decodeUtf8(text.substr(pos), length);
        }
        if (c >= alphabet.charToByte.size() || alphabet.charToByte[c] < 0) {
          allBytes = false;
          break;
        }
        impl.decodedBytes += static_cast<char>(alphabet.charToByte[c]);
        pos += length;
      }
      if (!allBytes) {
        impl.decodedBytes.resize(start);
        impl.decodedBytes += text;
      }
    }
    if (impl.decodedBytes.size() > UINT32_MAX)
      return fieldError("model.vocab", "the tokens decode to more than 4 GiB");
  }
  impl.decodedOffsets[impl.ids.size()] =
      static_cast<uint32_t>(impl.decodedBytes.size());

  impl.vocabTexts.reserve(impl.vocab.size());
  for (size_t entry = 0; entry < impl.vocab.size(); ++entry)
    impl.vocabTexts.emplace_back(impl.vocab[entry]);
  return true;
}

} // namespace

Expected<std::unique_ptr<TokenizerImpl>>
loadTokenizer(std::string_view tokenizerJson) {
  Loader loader(tokenizerJson);
  return loader.load();
}

} // namespace dsrt::detail
