//===- JsonTest.cpp - tests of the strict JSON parser -----------*- C++ -*-===//
//
// Unit tests of dsrt/Json.h: valid documents and accessors, every class of
// syntax error with its position, nesting limits, exact integers, \u escapes
// and surrogate pairs, and UTF-8 validation.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>

namespace dsrt::json {
namespace {

Value parseOk(std::string_view text) {
  Expected<Value> result = parse(text);
  EXPECT_TRUE(result.ok()) << "for " << text << ": " << result.error();
  return result ? result.take() : Value();
}

std::string parseError(std::string_view text,
                       const ParseOptions &options = {}) {
  Expected<Value> result = parse(text, options);
  EXPECT_FALSE(result.ok()) << "parsed: " << text;
  return result.error();
}

//===--- valid documents --------------------------------------------------===//

TEST(JsonTest, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk("true").asBool());
  EXPECT_FALSE(parseOk("false").asBool());
  EXPECT_TRUE(parseOk("false").isBool());
  EXPECT_EQ(parseOk(" \t\r\n42 \n").asNumber(), 42.0);
  EXPECT_EQ(parseOk("-0.5e1").asNumber(), -5.0);
  EXPECT_EQ(parseOk("1E+2").asNumber(), 100.0);
  EXPECT_EQ(parseOk("\"hi\"").asString(), "hi");
  EXPECT_EQ(parseOk("\"\"").asString(), "");
}

TEST(JsonTest, ArraysAndObjects) {
  Value doc = parseOk(R"( {"b": [1, "x", null, [], {}], "a": {"c": true}} )");
  ASSERT_TRUE(doc.isObject());
  ASSERT_EQ(doc.members().size(), 2u);
  EXPECT_EQ(doc.members()[0].first, "b"); // file order, not sorted
  EXPECT_EQ(doc.members()[1].first, "a");

  const Value *b = doc.find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->isArray());
  ASSERT_EQ(b->elements().size(), 5u);
  EXPECT_EQ(b->elements()[0].asNumber(), 1.0);
  EXPECT_EQ(b->elements()[1].asString(), "x");
  EXPECT_TRUE(b->elements()[2].isNull());
  EXPECT_TRUE(b->elements()[3].isArray());
  EXPECT_TRUE(b->elements()[3].elements().empty());
  EXPECT_TRUE(b->elements()[4].isObject());
  EXPECT_TRUE(b->elements()[4].members().empty());

  const Value *c = doc.find("a") ? doc.find("a")->find("c") : nullptr;
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->asBool());
  EXPECT_EQ(doc.find("missing"), nullptr);
}

TEST(JsonTest, AccessorsOfOtherKindsReturnNeutralValues) {
  Value number = parseOk("7");
  EXPECT_FALSE(number.asBool());
  EXPECT_EQ(number.asString(), "");
  EXPECT_TRUE(number.elements().empty());
  EXPECT_TRUE(number.members().empty());
  EXPECT_EQ(number.find("x"), nullptr);
  EXPECT_EQ(parseOk("\"7\"").asNumber(), 0.0);
  int64_t out = 99;
  EXPECT_FALSE(parseOk("\"7\"").getInt64(out));
  EXPECT_EQ(out, 99);
  EXPECT_EQ(parseOk("[1]").numberLiteral(), "");
}

TEST(JsonTest, KindNames) {
  EXPECT_EQ(kindName(Kind::Null), "null");
  EXPECT_EQ(kindName(Kind::Bool), "bool");
  EXPECT_EQ(kindName(Kind::Number), "number");
  EXPECT_EQ(kindName(Kind::String), "string");
  EXPECT_EQ(kindName(Kind::Array), "array");
  EXPECT_EQ(kindName(Kind::Object), "object");
  EXPECT_EQ(parseOk("{}").kind(), Kind::Object);
}

TEST(JsonTest, ValuesCopyAndMove) {
  Value original = parseOk(R"({"a": [1, {"b": "c"}]})");
  Value copy = original;
  Value moved = std::move(original);
  EXPECT_EQ(copy.find("a")->elements()[1].find("b")->asString(), "c");
  EXPECT_EQ(moved.find("a")->elements()[1].find("b")->asString(), "c");
  copy = moved;
  EXPECT_EQ(copy.find("a")->elements().size(), 2u);
}

TEST(JsonTest, SimpleEscapes) {
  EXPECT_EQ(parseOk(R"("\"\\\/\b\f\n\r\t")").asString(), "\"\\/\b\f\n\r\t");
}

//===--- errors -----------------------------------------------------------===//

TEST(JsonTest, ErrorsReportLineAndColumn) {
  EXPECT_EQ(parseError("{\"a\": 1\n  \"b\": 2}"),
            "line 2, column 3: expected ',' or '}' after object member");
  EXPECT_EQ(parseError("[1 2]"),
            "line 1, column 4: expected ',' or ']' after array element");
}

TEST(JsonTest, StructuralErrors) {
  EXPECT_EQ(parseError(""),
            "line 1, column 1: unexpected end of input, expected a value");
  EXPECT_EQ(parseError("  "),
            "line 1, column 3: unexpected end of input, expected a value");
  EXPECT_EQ(parseError("[1,]"),
            "line 1, column 4: unexpected ']', expected a value");
  EXPECT_EQ(
      parseError("{\"a\":1,}"),
      "line 1, column 8: expected '\"' to begin an object key, found '}'");
  EXPECT_EQ(
      parseError("{a:1}"),
      "line 1, column 2: expected '\"' to begin an object key, found 'a'");
  EXPECT_EQ(parseError("{\"a\" 1}"),
            "line 1, column 6: expected ':' after object key");
  EXPECT_EQ(parseError("[1"),
            "line 1, column 3: expected ',' or ']' after array element");
  EXPECT_EQ(parseError("{\"a\":1"),
            "line 1, column 7: expected ',' or '}' after object member");
  EXPECT_EQ(parseError("1 2"),
            "line 1, column 3: unexpected text after the JSON value");
  EXPECT_EQ(parseError("[]]"),
            "line 1, column 3: unexpected text after the JSON value");
  EXPECT_EQ(parseError("// comment\n1"),
            "line 1, column 1: unexpected '/', expected a value");
  EXPECT_EQ(parseError("\xEF\xBB\xBF{}"),
            "line 1, column 1: unexpected byte 0xef, expected a value");
  EXPECT_EQ(parseError("'a'"),
            "line 1, column 1: unexpected '\\'', expected a value");
}

TEST(JsonTest, LiteralErrors) {
  EXPECT_EQ(parseError("tru"),
            "line 1, column 1: invalid literal, expected 'true'");
  EXPECT_EQ(parseError("nul"),
            "line 1, column 1: invalid literal, expected 'null'");
  EXPECT_EQ(parseError("[falsy]"),
            "line 1, column 2: invalid literal, expected 'false'");
  EXPECT_EQ(parseError("NaN"),
            "line 1, column 1: unexpected 'N', expected a value");
  EXPECT_EQ(parseError("truex"),
            "line 1, column 5: unexpected text after the JSON value");
}

TEST(JsonTest, NumberErrors) {
  EXPECT_EQ(parseError("-"), "line 1, column 2: expected a digit after '-'");
  EXPECT_EQ(parseError("-a"), "line 1, column 2: expected a digit after '-'");
  EXPECT_EQ(parseError("01"),
            "line 1, column 2: leading zeros are not allowed");
  EXPECT_EQ(parseError("-00"),
            "line 1, column 3: leading zeros are not allowed");
  EXPECT_EQ(parseError("1."),
            "line 1, column 3: expected a digit after the decimal point");
  EXPECT_EQ(parseError(".5"),
            "line 1, column 1: unexpected '.', expected a value");
  EXPECT_EQ(parseError("1e"),
            "line 1, column 3: expected a digit in the exponent");
  EXPECT_EQ(parseError("1e+"),
            "line 1, column 4: expected a digit in the exponent");
  EXPECT_EQ(parseError("+1"),
            "line 1, column 1: unexpected '+', expected a value");
  EXPECT_EQ(parseError("0x10"),
            "line 1, column 2: unexpected text after the JSON value");
}

TEST(JsonTest, StringErrors) {
  EXPECT_EQ(parseError("\"abc"), "line 1, column 1: unterminated string");
  EXPECT_EQ(parseError("[\"a\nb\"]"),
            "line 1, column 4: control character in string");
  EXPECT_EQ(parseError(std::string("\"a\0b\"", 5)),
            "line 1, column 3: control character in string");
  EXPECT_EQ(parseError("\"\\x\""),
            "line 1, column 2: invalid escape: backslash followed by 'x'");
  EXPECT_EQ(parseError("\"\\"),
            "line 1, column 2: unterminated escape sequence");
}

TEST(JsonTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(parseError("{\"a\":1,\n \"a\":2}"),
            "line 2, column 2: duplicate key 'a'");
  // Keys compare after unescaping.
  EXPECT_EQ(parseError(R"({"a":1,"\u0061":2})"),
            "line 1, column 8: duplicate key 'a'");
  // The same key in different objects is fine.
  EXPECT_TRUE(parse(R"({"a":{"a":1},"b":{"a":2}})").ok());
}

TEST(JsonTest, MaxSize) {
  ParseOptions options;
  options.maxSize = 4;
  EXPECT_TRUE(parse("[12]", options).ok());
  EXPECT_EQ(parseError("[123]", options),
            "line 1, column 1: document is 5 bytes, more than the limit of 4");
}

//===--- nesting ----------------------------------------------------------===//

TEST(JsonTest, NestingLimit) {
  std::string ok256 = std::string(256, '[') + std::string(256, ']');
  EXPECT_TRUE(parse(ok256).ok());
  std::string deep257 = std::string(257, '[') + std::string(257, ']');
  EXPECT_EQ(parseError(deep257), "line 1, column 257: nesting deeper than 256");

  ParseOptions shallow;
  shallow.maxDepth = 2;
  EXPECT_TRUE(parse(R"({"a":[1]})", shallow).ok());
  EXPECT_EQ(parseError(R"({"a":[{}]})", shallow),
            "line 1, column 7: nesting deeper than 2");
}

TEST(JsonTest, ValueLimit) {
  ParseOptions few;
  few.maxValues = 5; // the array and four numbers
  EXPECT_TRUE(parse("[0,1,2,3]", few).ok());
  EXPECT_EQ(parseError("[0,1,2,3,4]", few),
            "line 1, column 10: more than 5 values");
  // Keys are not values: the object, {}, [], [ and 1 are five.
  EXPECT_TRUE(parse(R"({"a":{},"b":[],"c":[1]})", few).ok());
  EXPECT_EQ(parseError(R"({"a":{},"b":[],"c":[1,2]})", few),
            "line 1, column 23: more than 5 values");
  // By default a document made only of tiny values stops at 8Mi values,
  // long before the 256 MiB size limit (~1 GB of nodes at most).
  EXPECT_EQ(ParseOptions().maxValues, size_t(8) << 20);
}

TEST(JsonTest, HundredThousandOpenBracketsFailWithoutRecursion) {
  EXPECT_EQ(parseError(std::string(100000, '[')),
            "line 1, column 257: nesting deeper than 256");
  std::string objects;
  for (int i = 0; i < 100000; ++i)
    objects += "{\"a\":";
  EXPECT_EQ(parseError(objects),
            "line 1, column 1281: nesting deeper than 256");
}

TEST(JsonTest, HundredThousandLevelsParseAndFreeWithoutRecursion) {
  constexpr size_t kDepth = 100000;
  ParseOptions options;
  options.maxDepth = kDepth;
  std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  Expected<Value> deep = parse(arrays, options);
  ASSERT_TRUE(deep.ok()) << deep.error();
  const Value *level = &deep.value();
  size_t depth = 0;
  while (level->isArray() && !level->elements().empty()) {
    level = &level->elements()[0];
    ++depth;
  }
  EXPECT_EQ(depth, kDepth - 1);

  std::string objects;
  for (size_t i = 0; i < kDepth; ++i)
    objects += "{\"k\":";
  objects += "1" + std::string(kDepth, '}');
  EXPECT_TRUE(parse(objects, options).ok());
  // Both trees are destroyed here; the destructor must not recurse.
}

//===--- numbers ----------------------------------------------------------===//

std::optional<int64_t> int64Of(std::string_view text) {
  int64_t value = 0;
  if (!parseOk(text).getInt64(value))
    return std::nullopt;
  return value;
}

TEST(JsonTest, IntegersAreExact) {
  EXPECT_EQ(int64Of("0"), 0);
  EXPECT_EQ(int64Of("-0"), 0);
  EXPECT_EQ(int64Of("12345"), 12345);
  EXPECT_EQ(int64Of("-7"), -7);
  // 2^53 + 1 is not a double; it must still be exact.
  EXPECT_EQ(int64Of("9007199254740993"), int64_t(9007199254740993));
  EXPECT_EQ(parseOk("9007199254740993").asNumber(), 9007199254740992.0);
  EXPECT_EQ(int64Of("9223372036854775807"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(int64Of("-9223372036854775808"),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(int64Of("9223372036854775808"), std::nullopt);
  EXPECT_EQ(int64Of("-9223372036854775809"), std::nullopt);
  EXPECT_EQ(int64Of("18446744073709551616"), std::nullopt);
  EXPECT_EQ(int64Of("123456789012345678901234567890"), std::nullopt);
}

TEST(JsonTest, IntegersWithFractionOrExponent) {
  EXPECT_EQ(int64Of("1e3"), 1000);
  EXPECT_EQ(int64Of("3.0"), 3);
  EXPECT_EQ(int64Of("-2.500e1"), -25);
  EXPECT_EQ(int64Of("100e-2"), 1);
  EXPECT_EQ(int64Of("0.0e-5"), 0);
  EXPECT_EQ(int64Of("0e999999999999999999999"), 0);
  EXPECT_EQ(int64Of("9007199254740993.000"), int64_t(9007199254740993));
  EXPECT_EQ(int64Of("9.223372036854775807e18"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(int64Of("9.223372036854775808e18"), std::nullopt);
  EXPECT_EQ(int64Of("1.5"), std::nullopt);
  EXPECT_EQ(int64Of("1e-2"), std::nullopt);
  EXPECT_EQ(int64Of("1e19"), std::nullopt);
  EXPECT_EQ(int64Of("1e999999999999999999999"), std::nullopt);
  EXPECT_EQ(int64Of("1e-999999999999999999999"), std::nullopt);
}

TEST(JsonTest, NumbersKeepTheirLiteral) {
  EXPECT_EQ(parseOk("1E3").numberLiteral(), "1E3");
  EXPECT_EQ(parseOk("[-0.50]").elements()[0].numberLiteral(), "-0.50");
}

TEST(JsonTest, DoublesOutOfRange) {
  EXPECT_EQ(parseOk("1e400").asNumber(), HUGE_VAL);
  EXPECT_EQ(parseOk("-1e400").asNumber(), -HUGE_VAL);
  EXPECT_EQ(parseOk("1e-400").asNumber(), 0.0);
  EXPECT_TRUE(std::signbit(parseOk("-1e-400").asNumber()));
  EXPECT_EQ(parseOk("0.1").asNumber(), 0.1);
  EXPECT_EQ(parseOk("1.7976931348623157e308").asNumber(),
            std::numeric_limits<double>::max());
}

//===--- Unicode ----------------------------------------------------------===//

TEST(JsonTest, UnicodeEscapes) {
  EXPECT_EQ(parseOk(R"("\u0041\u00e9\u20AC")").asString(),
            "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(parseOk(R"("\u0000")").asString(), std::string(1, '\0'));
  EXPECT_EQ(parseOk(R"("\uD83D\uDE00")").asString(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parseOk(R"("\udbff\udfff")").asString(), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(parseOk(R"("\uFFFF")").asString(), "\xEF\xBF\xBF");
}

TEST(JsonTest, InvalidUnicodeEscapes) {
  EXPECT_EQ(parseError(R"("\u12G4")"), "line 1, column 2: invalid \\u escape");
  EXPECT_EQ(parseError(R"("\u12")"), "line 1, column 2: invalid \\u escape");
  EXPECT_EQ(parseError(R"("\uD83D")"),
            "line 1, column 2: unpaired UTF-16 surrogate");
  EXPECT_EQ(parseError(R"("\uDE00")"),
            "line 1, column 2: unpaired UTF-16 surrogate");
  EXPECT_EQ(parseError(R"("ab\uD83Dx")"),
            "line 1, column 4: unpaired UTF-16 surrogate");
  EXPECT_EQ(parseError(R"("\uD83D\u0041")"),
            "line 1, column 2: unpaired UTF-16 surrogate");
  EXPECT_EQ(parseError(R"("\uD83D\uD83D")"),
            "line 1, column 2: unpaired UTF-16 surrogate");
  EXPECT_EQ(parseError(R"("\uD83D\uZZZZ")"),
            "line 1, column 8: invalid \\u escape");
}

TEST(JsonTest, ValidUtf8PassesThrough) {
  std::string text = "\"\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 \xEF\xBF\xBF\"";
  EXPECT_EQ(parseOk(text).asString(), text.substr(1, text.size() - 2));
}

TEST(JsonTest, InvalidUtf8IsRejected) {
  const char *kInvalid[] = {
      "\"\x80\"",             // stray continuation byte
      "\"\xC0\x80\"",         // overlong NUL
      "\"\xC1\xBF\"",         // overlong
      "\"\xE0\x9F\xBF\"",     // overlong 3-byte
      "\"\xED\xA0\x80\"",     // UTF-16 surrogate encoded in UTF-8
      "\"\xF0\x8F\xBF\xBF\"", // overlong 4-byte
      "\"\xF4\x90\x80\x80\"", // above U+10FFFF
      "\"\xF5\x80\x80\x80\"", // invalid lead byte
      "\"\xFF\"",             // invalid byte
      "\"\xC3\"",             // truncated by the quote
      "\"\xE2\x82\"",         // truncated by the quote
  };
  for (const char *text : kInvalid)
    EXPECT_EQ(parseError(text), "line 1, column 2: invalid UTF-8 in string")
        << "for bytes of " << text;
  EXPECT_EQ(parseError("\"\xF0\x9F\x98"),
            "line 1, column 2: invalid UTF-8 in string"); // truncated by EOF
}

} // namespace
} // namespace dsrt::json
