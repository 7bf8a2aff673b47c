//===- QuoteForMessage.h - quote untrusted text in messages -----*- C++ -*-===//
//
// Error messages of libdsrt repeat names taken from untrusted files: tensor
// names, shard names, JSON keys. quoteForMessage() wraps such a name in single
// quotes, escapes control characters, quotes and backslashes, and shortens very
// long names, so a hostile file cannot forge or flood a diagnostic. Internal to
// the library; not installed.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_IO_QUOTEFORMESSAGE_H
#define DSRT_SRC_IO_QUOTEFORMESSAGE_H

#include <cstdio>
#include <string>
#include <string_view>

namespace dsrt::detail {

/// Returns `text` in single quotes, with bytes below 0x20, 0x7f, '\'' and '\\'
/// escaped, cut after about 120 bytes (at a UTF-8 boundary) with "...".
inline std::string quoteForMessage(std::string_view text) {
  constexpr size_t kMaxBytes = 120;
  bool shortened = false;
  if (text.size() > kMaxBytes) {
    size_t cut = kMaxBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      --cut; // do not split a UTF-8 sequence
    text = text.substr(0, cut);
    shortened = true;
  }
  std::string quoted = "'";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\'' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\x%02x", byte);
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  quoted += shortened ? "...'" : "'";
  return quoted;
}

} // namespace dsrt::detail

#endif // DSRT_SRC_IO_QUOTEFORMESSAGE_H
