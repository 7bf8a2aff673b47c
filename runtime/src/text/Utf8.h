//===- Utf8.h - UTF-8 validation and lossy repair ---------------*- C++ -*-===//
//
// The tokenizer meets UTF-8 from three untrusted places: the text it encodes,
// the strings of tokenizer.json, and the bytes that token ids decode to (a
// byte-level token may hold half a character). These helpers take a sequence
// apart without ever reading past the end of the view, following the Unicode
// rules for well-formed UTF-8 (no overlong forms, no surrogates, nothing above
// U+10FFFF) and its recommended "maximal subpart" practice for replacing
// ill-formed bytes with U+FFFD, which is also what WHATWG TextDecoder and
// Python's errors="replace" do. Internal to the library; not installed.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_TEXT_UTF8_H
#define DSRT_SRC_TEXT_UTF8_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dsrt::detail {

enum class Utf8Status {
  /// A complete, well-formed sequence.
  Valid,
  /// The view ends inside a sequence that is well-formed so far.
  Incomplete,
  /// The bytes cannot start a well-formed sequence.
  Invalid,
};

/// Examines the sequence at the start of `text` (which must not be empty).
/// `length` receives: for Valid, the length of the sequence; for Incomplete,
/// the bytes present (the whole view); for Invalid, the length of the maximal
/// subpart, the bytes one U+FFFD replaces (at least 1).
inline Utf8Status examineUtf8(std::string_view text, size_t &length) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) {
    length = 1;
    return Utf8Status::Valid;
  }
  size_t needed;
  unsigned char low = 0x80, high = 0xBF; // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 3;
    if (lead == 0xE0)
      low = 0xA0; // overlong
    else if (lead == 0xED)
      high = 0x9F; // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 4;
    if (lead == 0xF0)
      low = 0x90; // overlong
    else if (lead == 0xF4)
      high = 0x8F; // above U+10FFFF
  } else {
    length = 1; // a continuation byte, C0, C1 or F5..FF
    return Utf8Status::Invalid;
  }
  for (size_t i = 1; i < needed; ++i) {
    if (i >= text.size()) {
      length = text.size();
      return Utf8Status::Incomplete;
    }
    unsigned char c = byte(i);
    bool ok = i == 1 ? (c >= low && c <= high) : (c >= 0x80 && c <= 0xBF);
    if (!ok) {
      length = i;
      return Utf8Status::Invalid;
    }
  }
  length = needed;
  return Utf8Status::Valid;
}

/// The length of the longest prefix of `text` that is well-formed UTF-8.
inline size_t validUtf8Prefix(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII runs are the common case; take them eight bytes at a time.
    while (pos + 8 <= text.size()) {
      uint64_t word;
      std::memcpy(&word, text.data() + pos, sizeof(word));
      if (word & 0x8080808080808080ULL)
        break;
      pos += 8;
    }
    if (pos >= text.size())
      break;
    size_t length = 0;
    if (examineUtf8(text.substr(pos), length) != Utf8Status::Valid)
      return pos;
    pos += length;
  }
  return text.size();
}

inline bool isValidUtf8(std::string_view text) {
  return validUtf8Prefix(text) == text.size();
}

/// Appends `text` to `out`, each ill-formed maximal subpart (including a
/// truncated sequence at the end) replaced by U+FFFD.
inline void appendUtf8Lossy(std::string_view text, std::string &out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t valid = validUtf8Prefix(text.substr(pos));
    out.append(text.data() + pos, valid);
    pos += valid;
    if (pos >= text.size())
      break;
    size_t length = 0;
    examineUtf8(text.substr(pos), length); // Invalid or Incomplete
    out += "\xEF\xBF\xBD";
    pos += length;
  }
}

/// Appends the UTF-8 encoding of `codePoint` (which must be a scalar value).
inline void appendUtf8(uint32_t codePoint, std::string &out) {
  if (codePoint < 0x80) {
    out += static_cast<char>(codePoint);
  } else if (codePoint < 0x800) {
    out += static_cast<char>(0xC0 | (codePoint >> 6));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else if (codePoint < 0x10000) {
    out += static_cast<char>(0xE0 | (codePoint >> 12));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (codePoint >> 18));
    out += static_cast<char>(0x80 | ((codePoint >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  }
}

/// Decodes the well-formed sequence of `length` bytes at the start of `text`.
inline uint32_t decodeUtf8(std::string_view text, size_t length) {
  auto byte = [&](size_t i) {
    return uint32_t(static_cast<unsigned char>(text[i]));
  };
  switch (length) {
  case 1:
    return byte(0);
  case 2:
    return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
  case 3:
    return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) |
           (byte(2) & 0x3F);
  default:
    return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) |
           ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
}

/// Whether `codePoint` has the Unicode White_Space property (the meaning of
/// \s in Rust's regex crate and of char::is_whitespace).
inline bool isUnicodeWhiteSpace(uint32_t codePoint) {
  return (codePoint >= 0x09 && codePoint <= 0x0D) || codePoint == 0x20 ||
         codePoint == 0x85 || codePoint == 0xA0 || codePoint == 0x1680 ||
         (codePoint >= 0x2000 && codePoint <= 0x200A) || codePoint == 0x2028 ||
         codePoint == 0x2029 || codePoint == 0x202F || codePoint == 0x205F ||
         codePoint == 0x3000;
}

} // namespace dsrt::detail

#endif // DSRT_SRC_TEXT_UTF8_H
