//===- Json.h - strict JSON parser ------------------------------*- C++ -*-===//
//
// A small strict JSON (RFC 8259) parser for the files a checkpoint ships:
// safetensors headers, model.safetensors.index.json and config.json. It takes
// untrusted bytes, so it never reads past its input, validates the UTF-8 of
// every string, bounds the nesting depth and the document size, and parses
// without recursion, so a document like "[[[[..." cannot exhaust the stack.
//
// Strictness: exactly one JSON value surrounded by optional whitespace; no
// comments, trailing commas, byte-order mark, NaN/Infinity, single quotes or
// leading zeros. Duplicate keys in one object are rejected with an error (the
// JSON RFC leaves their meaning open, and two readers that pick different
// duplicates would disagree about a checkpoint).
//
// Numbers keep their literal text, so getInt64() is exact for integers of any
// spelling (9007199254740993, 3.0, 1e3), while asNumber() gives the nearest
// double.
//
// Errors read "line L, column C: <what>", with 1-based lines and 1-based
// columns counted in bytes.
//
// Ownership: a Value owns its whole subtree; elements() and members() return
// references into it, valid while the Value lives and is not modified.
// Threading: parse() has no shared state and may run on several threads at
// once; a Value may be read from several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_JSON_H
#define DSRT_JSON_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsrt::json {

enum class Kind { Null, Bool, Number, String, Array, Object };

/// "null", "bool", "number", "string", "array" or "object".
std::string kindName(Kind kind);

class Parser;

/// One parsed JSON value. The asX() accessors expect a Value of kind X; on any
/// other kind they return false, 0.0 or an empty string/sequence.
class Value {
public:
  using Member = std::pair<std::string, Value>;

  /// A null value.
  Value() = default;
  Value(const Value &) = default; // recurses once per nesting level
  Value(Value &&) noexcept = default;
  Value &operator=(const Value &) = default;
  Value &operator=(Value &&) noexcept = default;
  ~Value(); // iterative: deep trees do not recurse

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  bool asBool() const { return isBool() && bool_; }
  /// The nearest double; +-infinity when the literal is beyond the double
  /// range, +-0.0 when it is below it.
  double asNumber() const { return isNumber() ? number_ : 0.0; }
  /// Sets `out` and returns true if this is a number whose exact value is an
  /// integer in the int64 range (-5, 3.0, 1e3, 9007199254740993); otherwise
  /// returns false and leaves `out` alone.
  bool getInt64(int64_t &out) const;
  /// The literal text of a number as written in the document, e.g. "1e3".
  std::string_view numberLiteral() const;
  const std::string &asString() const;
  const std::vector<Value> &elements() const;
  /// Object members in document order.
  const std::vector<Member> &members() const;
  /// The member named `key` of an object, or nullptr (also when this is not an
  /// object). Linear in the number of members.
  const Value *find(std::string_view key) const;

private:
  friend class Parser;

  /// Moves the children of an array or object to `pending` (used by the
  /// destructor to free deep trees without recursion).
  void moveChildrenTo(std::vector<Value> &pending);

  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string text_; // the string of a String, the literal of a Number
  std::vector<Value> elements_;
  std::vector<Member> members_;
};

struct ParseOptions {
  /// Arrays and objects may nest at most this deep.
  size_t maxDepth = 256;
  /// Longer documents are rejected before any parsing.
  size_t maxSize = size_t(256) << 20;
  /// At most this many values (scalars, arrays, objects; ~100 bytes each in
  /// memory): a document of small values costs ~50x its size in nodes, so
  /// this bounds memory independently of maxSize. DeepSeek's tokenizer.json
  /// has ~600k values.
  size_t maxValues = size_t(8) << 20;
};

/// Parses one JSON document.
Expected<Value> parse(std::string_view text, const ParseOptions &options = {});

/// `text` as a JSON string literal: quoted, with '"' and '\\' escaped,
/// newline, return and tab as \n \r \t and other control bytes as \u00XX;
/// other bytes are copied as they are.
std::string quote(std::string_view text);

} // namespace dsrt::json

#endif // DSRT_JSON_H
