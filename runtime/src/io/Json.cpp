//===- Json.cpp - strict JSON parser ----------------------------*- C++ -*-===//
//
// The parser behind dsrt/Json.h. It walks the text once with an explicit stack
// of open arrays and objects instead of recursion, so the nesting depth costs
// heap memory bounded by ParseOptions::maxDepth, never stack. Strings are
// validated as UTF-8 and their escapes decoded on the way; numbers keep their
// literal so that integer reads are exact.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Json.h"

#include "io/QuoteForMessage.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_set>

namespace dsrt::json {

std::string kindName(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "bool";
  case Kind::Number:
    return "number";
  case Kind::String:
    return "string";
  case Kind::Array:
    return "array";
  case Kind::Object:
    return "object";
  }
  return "unknown";
}

//===----------------------------------------------------------------------===//
// Number literals
//===----------------------------------------------------------------------===//

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

/// A validated JSON number literal taken apart: its value is
/// (negative ? -1 : 1) * digits * 10^exponent, where `digits` has no leading
/// zeros (and is empty for zero).
struct DecimalParts {
  bool negative = false;
  std::string digits;
  int64_t exponent = 0;
};

DecimalParts decompose(std::string_view literal) {
  DecimalParts parts;
  size_t i = 0;
  if (i < literal.size() && literal[i] == '-') {
    parts.negative = true;
    ++i;
  }
  for (; i < literal.size() && isDigit(literal[i]); ++i)
    parts.digits += literal[i];
  if (i < literal.size() && literal[i] == '.') {
    for (++i; i < literal.size() && isDigit(literal[i]); ++i) {
      parts.digits += literal[i];
      --parts.exponent;
    }
  }
  if (i < literal.size() && (literal[i] == 'e' || literal[i] == 'E')) {
    ++i;
    bool negativeExponent = false;
    if (i < literal.size() && (literal[i] == '+' || literal[i] == '-'))
      negativeExponent = literal[i++] == '-';
    // Saturate: any exponent beyond a billion already decides the outcome.
    constexpr int64_t kSaturation = 1000000000;
    int64_t written = 0;
    for (; i < literal.size() && isDigit(literal[i]); ++i)
      written = std::min(kSaturation, written * 10 + (literal[i] - '0'));
    parts.exponent += negativeExponent ? -written : written;
  }
  size_t firstNonZero = parts.digits.find_first_not_of('0');
  parts.digits.erase(0, std::min(firstNonZero, parts.digits.size()));
  return parts;
}

/// The exact integer value of `parts`, if it is an integer in int64 range.
bool exactInt64(DecimalParts parts, int64_t &out) {
  if (parts.digits.empty()) {
    out = 0;
    return true;
  }
  while (parts.exponent < 0 && parts.digits.back() == '0') {
    parts.digits.pop_back();
    ++parts.exponent;
  }
  if (parts.exponent < 0)
    return false; // a fraction remains
  // int64 has at most 19 decimal digits; 19 digits always fit in uint64.
  if (static_cast<int64_t>(parts.digits.size()) + parts.exponent > 19)
    return false;
  parts.digits.append(static_cast<size_t>(parts.exponent), '0');
  uint64_t magnitude = 0;
  for (char c : parts.digits)
    magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
  constexpr uint64_t kMaxPositive = std::numeric_limits<int64_t>::max();
  if (magnitude > kMaxPositive + (parts.negative ? 1 : 0))
    return false;
  if (!parts.negative)
    out = static_cast<int64_t>(magnitude);
  else if (magnitude == kMaxPositive + 1)
    out = std::numeric_limits<int64_t>::min();
  else
    out = -static_cast<int64_t>(magnitude);
  return true;
}

/// The double nearest to a validated literal, with overflow to infinity and
/// underflow to zero.
double toDouble(std::string_view literal) {
  double value = 0.0;
  auto [end, errc] =
      std::from_chars(literal.data(), literal.data() + literal.size(), value);
  (void)end;
  if (errc != std::errc::result_out_of_range)
    return value;
  DecimalParts parts = decompose(literal);
  // The leading digit has weight 10^(digits + exponent - 1): a positive
  // magnitude exponent means the literal overflowed, otherwise it underflowed.
  bool overflow =
      static_cast<int64_t>(parts.digits.size()) + parts.exponent > 0;
  double magnitude = overflow ? HUGE_VAL : 0.0;
  return parts.negative ? -magnitude : magnitude;
}

} // namespace

//===----------------------------------------------------------------------===//
// Value
//===----------------------------------------------------------------------===//

Value::~Value() {
  if (elements_.empty() && members_.empty())
    return;
  std::vector<Value> pending;
  moveChildrenTo(pending);
  while (!pending.empty()) {
    Value next = std::move(pending.back());
    pending.pop_back();
    next.moveChildrenTo(pending); // `next` is then destroyed childless
  }
}

void Value::moveChildrenTo(std::vector<Value> &pending) {
  for (Value &element : elements_)
    pending.push_back(std::move(element));
  for (Member &member : members_)
    pending.push_back(std::move(member.second));
  elements_.clear();
  members_.clear();
}

bool Value::getInt64(int64_t &out) const {
  return isNumber() && exactInt64(decompose(text_), out);
}

std::string_view Value::numberLiteral() const {
  return isNumber() ? std::string_view(text_) : std::string_view();
}

const std::string &Value::asString() const {
  static const std::string empty;
  return isString() ? text_ : empty;
}

const std::vector<Value> &Value::elements() const {
  static const std::vector<Value> empty;
  return isArray() ? elements_ : empty;
}

const std::vector<Value::Member> &Value::members() const {
  static const std::vector<Member> empty;
  return isObject() ? members_ : empty;
}

const Value *Value::find(std::string_view key) const {
  for (const Member &member : members())
    if (member.first == key)
      return &member.second;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

/// One pass over the text. Containers that are still open live on `open_`;
/// a completed value is appended to the innermost one, and the document is
/// done when a value completes with no container open.
class Parser {
public:
  Parser(std::string_view text, const ParseOptions &options)
      : text_(text), options_(options) {}

  Expected<Value> parseDocument();

private:
  struct OpenContainer {
    Value value;
    std::string pendingKey;               // objects: key of the next member
    std::unordered_set<std::string> keys; // objects: keys seen so far
  };

  bool parseValue(Value &result);
  bool openContainer();
  Value closeContainer();
  bool appendToInnermost(Value value, bool &expectMore);
  bool parseMemberKey();
  bool parseScalar(Value &out);
  bool parseLiteral(std::string_view word);
  bool parseNumber(Value &out);
  bool parseString(std::string &out);
  bool parseEscape(std::string &out);
  bool parseUnicodeEscape(size_t escapeStart, std::string &out);
  bool readHex4(uint32_t &unit);
  bool copyUtf8Sequence(std::string &out);

  bool atEnd() const { return pos_ >= text_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text_[pos_]); }
  bool consume(char c);
  void skipWhitespace();
  std::string describeNextByte() const;

  bool fail(std::string message) { return failAt(pos_, std::move(message)); }
  bool failAt(size_t pos, std::string message);
  std::string formatError() const;

  std::string_view text_;
  ParseOptions options_;
  size_t pos_ = 0;
  size_t values_ = 0; // values started so far
  std::vector<OpenContainer> open_;
  size_t errorPos_ = 0;
  std::string error_;
};

Expected<Value> Parser::parseDocument() {
  if (text_.size() > options_.maxSize) {
    failAt(0, "document is " + std::to_string(text_.size()) +
                  " bytes, more than the limit of " +
                  std::to_string(options_.maxSize));
    return Expected<Value>::error(formatError());
  }
  Value result;
  if (!parseValue(result))
    return Expected<Value>::error(formatError());
  skipWhitespace();
  if (!atEnd()) {
    fail("unexpected text after the JSON value");
    return Expected<Value>::error(formatError());
  }
  return result;
}

bool Parser::parseValue(Value &result) {
  Value completed;
  for (;;) {
    // Start a value: either a scalar, which completes at once, or a container,
    // which completes at once only when it is empty.
    skipWhitespace();
    if (atEnd())
      return fail("unexpected end of input, expected a value");
    if (++values_ > options_.maxValues)
      return fail("more than " + std::to_string(options_.maxValues) +
                  " values");
    if (peek() == '[' || peek() == '{') {
      bool isObject = peek() == '{';
      if (!openContainer())
        return false;
      skipWhitespace();
      if (!consume(isObject ? '}' : ']')) {
        if (isObject && !parseMemberKey())
          return false;
        continue; // read the first element or member value
      }
      completed = closeContainer();
    } else if (!parseScalar(completed)) {
      return false;
    }

    // Hand the completed value to its container; every container this closes
    // is itself a completed value for the next one out.
    for (;;) {
      if (open_.empty()) {
        result = std::move(completed);
        return true;
      }
      bool expectMore = false;
      if (!appendToInnermost(std::move(completed), expectMore))
        return false;
      if (expectMore)
        break;
      completed = closeContainer();
    }
  }
}

bool Parser::openContainer() {
  if (open_.size() >= options_.maxDepth)
    return fail("nesting deeper than " + std::to_string(options_.maxDepth));
  OpenContainer container;
  container.value.kind_ = peek() == '{' ? Kind::Object : Kind::Array;
  open_.push_back(std::move(container));
  ++pos_;
  return true;
}

Value Parser::closeContainer() {
  Value value = std::move(open_.back().value);
  open_.pop_back();
  return value;
}

/// Appends `value` to the innermost open container, then reads what follows:
/// ',' (sets `expectMore`, and for objects reads the next key) or the closing
/// bracket (clears `expectMore`; the caller closes the container).
bool Parser::appendToInnermost(Value value, bool &expectMore) {
  OpenContainer &container = open_.back();
  bool isObject = container.value.kind_ == Kind::Object;
  if (isObject)
    container.value.members_.emplace_back(std::move(container.pendingKey),
                                          std::move(value));
  else
    container.value.elements_.push_back(std::move(value));

  skipWhitespace();
  if (consume(',')) {
    expectMore = true;
    return !isObject || parseMemberKey();
  }
  if (consume(isObject ? '}' : ']')) {
    expectMore = false;
    return true;
  }
  return fail(isObject ? "expected ',' or '}' after object member"
                       : "expected ',' or ']' after array element");
}

/// Reads `"key" :` into the innermost open object, rejecting duplicates.
bool Parser::parseMemberKey() {
  skipWhitespace();
  if (atEnd() || peek() != '"')
    return fail("expected '\"' to begin an object key, found " +
                describeNextByte());
  size_t keyPos = pos_;
  std::string key;
  if (!parseString(key))
    return false;
  OpenContainer &container = open_.back();
  if (!container.keys.insert(key).second)
    return failAt(keyPos, "duplicate key " + detail::quoteForMessage(key));
  skipWhitespace();
  if (!consume(':'))
    return fail("expected ':' after object key");
  container.pendingKey = std::move(key);
  return true;
}

bool Parser::parseScalar(Value &out) {
  out = Value();
  switch (peek()) {
  case '"':
    out.kind_ = Kind::String;
    return parseString(out.text_);
  case 't':
    out.kind_ = Kind::Bool;
    out.bool_ = true;
    return parseLiteral("true");
  case 'f':
    out.kind_ = Kind::Bool;
    return parseLiteral("false");
  case 'n':
    return parseLiteral("null");
  default:
    if (peek() == '-' || isDigit(peek()))
      return parseNumber(out);
    return fail("unexpected " + describeNextByte() + ", expected a value");
  }
}

bool Parser::parseLiteral(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word)
    return fail("invalid literal, expected '" + std::string(word) + "'");
  pos_ += word.size();
  return true;
}

bool Parser::parseNumber(Value &out) {
  size_t start = pos_;
  consume('-');
  if (atEnd() || !isDigit(peek()))
    return fail("expected a digit after '-'");
  if (consume('0')) {
    if (!atEnd() && isDigit(peek()))
      return fail("leading zeros are not allowed");
  } else {
    while (!atEnd() && isDigit(peek()))
      ++pos_;
  }
  if (consume('.')) {
    if (atEnd() || !isDigit(peek()))
      return fail("expected a digit after the decimal point");
    while (!atEnd() && isDigit(peek()))
      ++pos_;
  }
  if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
    ++pos_;
    if (!consume('+'))
      consume('-');
    if (atEnd() || !isDigit(peek()))
      return fail("expected a digit in the exponent");
    while (!atEnd() && isDigit(peek()))
      ++pos_;
  }
  out.kind_ = Kind::Number;
  out.text_ = std::string(text_.substr(start, pos_ - start));
  out.number_ = toDouble(out.text_);
  return true;
}

/// Reads a string starting at its opening quote into `out`, decoded.
bool Parser::parseString(std::string &out) {
  size_t openQuote = pos_++;
  out.clear();
  for (;;) {
    // Copy the longest run of bytes that need no attention in one go.
    size_t runStart = pos_;
    while (!atEnd() && peek() >= 0x20 && peek() < 0x80 && peek() != '"' &&
           peek() != '\\')
      ++pos_;
    out.append(text_.data() + runStart, pos_ - runStart);

    if (atEnd())
      return failAt(openQuote, "unterminated string");
    unsigned char c = peek();
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (c == '\\') {
      if (!parseEscape(out))
        return false;
    } else if (c < 0x20) {
      return fail("control character in string");
    } else if (!copyUtf8Sequence(out)) {
      return false;
    }
  }
}

bool Parser::parseEscape(std::string &out) {
  size_t escapeStart = pos_++;
  if (atEnd())
    return failAt(escapeStart, "unterminated escape sequence");
  char kind = static_cast<char>(peek());
  ++pos_;
  switch (kind) {
  case '"':
  case '\\':
  case '/':
    out += kind;
    return true;
  case 'b':
    out += '\b';
    return true;
  case 'f':
    out += '\f';
    return true;
  case 'n':
    out += '\n';
    return true;
  case 'r':
    out += '\r';
    return true;
  case 't':
    out += '\t';
    return true;
  case 'u':
    return parseUnicodeEscape(escapeStart, out);
  default:
    --pos_;
    return failAt(escapeStart, "invalid escape: backslash followed by " +
                                   describeNextByte());
  }
}

namespace {
void appendUtf8(uint32_t codePoint, std::string &out) {
  auto put = [&](uint32_t byte) { out += static_cast<char>(byte); };
  if (codePoint < 0x80) {
    put(codePoint);
  } else if (codePoint < 0x800) {
    put(0xC0 | (codePoint >> 6));
    put(0x80 | (codePoint & 0x3F));
  } else if (codePoint < 0x10000) {
    put(0xE0 | (codePoint >> 12));
    put(0x80 | ((codePoint >> 6) & 0x3F));
    put(0x80 | (codePoint & 0x3F));
  } else {
    put(0xF0 | (codePoint >> 18));
    put(0x80 | ((codePoint >> 12) & 0x3F));
    put(0x80 | ((codePoint >> 6) & 0x3F));
    put(0x80 | (codePoint & 0x3F));
  }
}
} // namespace

/// Decodes the XXXX of "\uXXXX" (the "\u" is already read), joining a UTF-16
/// surrogate pair written as two escapes into one code point.
bool Parser::parseUnicodeEscape(size_t escapeStart, std::string &out) {
  uint32_t unit = 0;
  if (!readHex4(unit))
    return failAt(escapeStart, "invalid \\u escape");
  bool isHigh = unit >= 0xD800 && unit <= 0xDBFF;
  bool isLow = unit >= 0xDC00 && unit <= 0xDFFF;
  if (isLow)
    return failAt(escapeStart, "unpaired UTF-16 surrogate");
  if (!isHigh) {
    appendUtf8(unit, out);
    return true;
  }
  size_t secondStart = pos_;
  if (text_.substr(pos_, 2) != "\\u")
    return failAt(escapeStart, "unpaired UTF-16 surrogate");
  pos_ += 2;
  uint32_t low = 0;
  if (!readHex4(low))
    return failAt(secondStart, "invalid \\u escape");
  if (low < 0xDC00 || low > 0xDFFF)
    return failAt(escapeStart, "unpaired UTF-16 surrogate");
  appendUtf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), out);
  return true;
}

bool Parser::readHex4(uint32_t &unit) {
  if (text_.size() - pos_ < 4)
    return false;
  unit = 0;
  for (int i = 0; i < 4; ++i) {
    char c = text_[pos_ + i];
    uint32_t digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else
      return false;
    unit = unit * 16 + digit;
  }
  pos_ += 4;
  return true;
}

/// Copies one well-formed UTF-8 sequence of 2 to 4 bytes (no overlong forms,
/// no UTF-16 surrogates, nothing above U+10FFFF), per RFC 3629's table.
bool Parser::copyUtf8Sequence(std::string &out) {
  unsigned char lead = peek();
  size_t length = 0;
  unsigned char secondMin = 0x80, secondMax = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0)
      secondMin = 0xA0; // overlong below U+0800
    if (lead == 0xED)
      secondMax = 0x9F; // U+D800..U+DFFF are surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0)
      secondMin = 0x90; // overlong below U+10000
    if (lead == 0xF4)
      secondMax = 0x8F; // above U+10FFFF
  } else {
    return fail("invalid UTF-8 in string");
  }
  if (text_.size() - pos_ < length)
    return fail("invalid UTF-8 in string");
  for (size_t i = 1; i < length; ++i) {
    auto byte = static_cast<unsigned char>(text_[pos_ + i]);
    unsigned char min = i == 1 ? secondMin : 0x80;
    unsigned char max = i == 1 ? secondMax : 0xBF;
    if (byte < min || byte > max)
      return fail("invalid UTF-8 in string");
  }
  out.append(text_.data() + pos_, length);
  pos_ += length;
  return true;
}

bool Parser::consume(char c) {
  if (atEnd() || text_[pos_] != c)
    return false;
  ++pos_;
  return true;
}

void Parser::skipWhitespace() {
  while (!atEnd() &&
         (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
    ++pos_;
}

/// "end of input", "'x'" or "byte 0xNN", for messages.
std::string Parser::describeNextByte() const {
  if (atEnd())
    return "end of input";
  unsigned char c = peek();
  if (c > 0x20 && c < 0x7f)
    return detail::quoteForMessage(std::string_view(text_.data() + pos_, 1));
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "byte 0x%02x", c);
  return buffer;
}

bool Parser::failAt(size_t pos, std::string message) {
  errorPos_ = pos;
  error_ = std::move(message);
  return false;
}

std::string Parser::formatError() const {
  size_t line = 1, lineStart = 0;
  for (size_t i = 0; i < errorPos_ && i < text_.size(); ++i) {
    if (text_[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  }
  size_t column = errorPos_ - lineStart + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column) +
         ": " + error_;
}

Expected<Value> parse(std::string_view text, const ParseOptions &options) {
  return Parser(text, options).parseDocument();
}

std::string quote(std::string_view text) {
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

} // namespace dsrt::json
