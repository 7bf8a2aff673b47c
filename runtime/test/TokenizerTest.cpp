//===- TokenizerTest.cpp - tests of the BPE tokenizer -----------*- C++ -*-===//
//
// Unit tests of dsrt/Tokenizer.h on small tokenizer.json documents written
// here: merge order, added tokens in text (with lstrip, rstrip, single_word
// and normalized), every Split behavior, DeepSeek-V3's split patterns,
// bytes outside the vocabulary (byte symbols, byte fallback, unk), invalid
// UTF-8, decoding and its round trip, the incremental decoder, concurrent
// encoding, and the messages of load errors. Agreement with the reference
// implementation on DeepSeek-V3's real file is test/tokenizer/run-compat.sh.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace dsrt {
namespace {

using Ids = std::vector<int32_t>;

/// GPT-2's symbol for `byte` (bytes_to_unicode), as UTF-8.
std::string byteSymbol(unsigned char byte) {
  uint32_t next = 0x100, code = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                     (b >= 0xAE && b <= 0xFF);
    uint32_t c = printable ? b : next++;
    if (b == byte)
      code = c;
  }
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return out;
}

/// The byte-level spelling of `text` ("a b" -> "aĠb").
std::string spell(std::string_view text) {
  std::string out;
  for (char c : text)
    out += byteSymbol(static_cast<unsigned char>(c));
  return out;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

const char *const kByteLevel =
    R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true})";
const char *const kByteLevelNoRegex =
    R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false})";

/// A small tokenizer.json. The vocabulary holds the 256 byte symbols at ids
/// 0..255 (id == byte) unless `allBytes` is false, then `extraTokens` and
/// the results of `merges` (byte-level spellings) from id 256 on.
struct Spec {
  std::string addedTokens = "[]";
  std::string normalizer = "null";
  std::string preTokenizer = kByteLevel;
  std::string decoder =
      R"({"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true})";
  std::vector<std::string> extraTokens;
  std::vector<std::pair<std::string, std::string>> merges;
  bool mergesAsPairs = false;
  bool allBytes = true;
  std::string modelOptions; // e.g. R"("ignore_merges":true,)"

  std::string json() const {
    std::vector<std::string> vocab;
    std::set<std::string> known;
    auto add = [&](const std::string &token) {
      if (known.insert(token).second)
        vocab.push_back(token);
    };
    if (allBytes)
      for (int b = 0; b < 256; ++b)
        add(byteSymbol(static_cast<unsigned char>(b)));
    for (const auto &token : extraTokens)
      add(token);
    for (const auto &[left, right] : merges)
      add(left + right);
    std::string text =
        "{\"version\":\"1.0\",\"truncation\":null,\"added_tokens\":" +
        addedTokens + ",\"normalizer\":" + normalizer +
        ",\"pre_tokenizer\":" + preTokenizer +
        ",\"post_processor\":null,\"decoder\":" + decoder +
        ",\"model\":{\"type\":\"BPE\"," + modelOptions + "\"vocab\":{";
    for (size_t i = 0; i < vocab.size(); ++i)
      text += (i ? "," : "") + quote(vocab[i]) + ":" + std::to_string(i);
    text += "},\"merges\":[";
    for (size_t i = 0; i < merges.size(); ++i) {
      text += i ? "," : "";
      if (mergesAsPairs)
        text +=
            "[" + quote(merges[i].first) + "," + quote(merges[i].second) + "]";
      else
        text += quote(merges[i].first + " " + merges[i].second);
    }
    return text + "]}}";
  }
};

Tokenizer load(const Spec &spec) {
  auto tokenizer = Tokenizer::fromJson(spec.json(), "test.json");
  if (!tokenizer.ok()) {
    ADD_FAILURE() << tokenizer.error();
    std::abort();
  }
  return tokenizer.take();
}

/// The id of a token spelled `text`, which must exist.
int32_t idOf(const Tokenizer &tokenizer, const std::string &text) {
  auto id = tokenizer.tokenId(text);
  EXPECT_TRUE(id.has_value()) << text;
  return id.value_or(-1);
}

/// The ids of `texts`, each a token (byte-level spelling).
Ids idsOf(const Tokenizer &tokenizer,
          std::initializer_list<std::string> texts) {
  Ids ids;
  for (const auto &text : texts)
    ids.push_back(idOf(tokenizer, text));
  return ids;
}

Ids bytesOf(std::string_view text) {
  Ids ids;
  for (char c : text)
    ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

std::string loadError(const Spec &spec) {
  auto tokenizer = Tokenizer::fromJson(spec.json(), "bad.json");
  EXPECT_FALSE(tokenizer.ok());
  return tokenizer.ok() ? "" : tokenizer.error();
}

std::string loadError(std::string_view json) {
  auto tokenizer = Tokenizer::fromJson(json, "bad.json");
  EXPECT_FALSE(tokenizer.ok());
  return tokenizer.ok() ? "" : tokenizer.error();
}

//===--- merges
//-------------------------------------------------------------===//

TEST(TokenizerTest, MergesApplyLowestRankFirst) {
  Spec spec;
  spec.merges = {{"b", "c"}, {"a", "b"}};
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("abc"), idsOf(tokenizer, {"a", "bc"}));

  spec.merges = {{"a", "b"}, {"b", "c"}};
  Tokenizer reversed = load(spec);
  EXPECT_EQ(reversed.encode("abc"), idsOf(reversed, {"ab", "c"}));
}

TEST(TokenizerTest, EqualRanksMergeLeftmostFirst) {
  Spec spec;
  spec.merges = {{"a", "a"}};
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("aaa"), idsOf(tokenizer, {"aa", "a"}));
  EXPECT_EQ(tokenizer.encode("aaaa"), idsOf(tokenizer, {"aa", "aa"}));
}

TEST(TokenizerTest, MergesBuildOnEarlierMerges) {
  Spec spec;
  spec.merges = {{"l", "l"},    {"h", "e"},    {"he", "ll"},
                 {"hell", "o"}, {"Ġ", "w"},    {"Ġw", "o"},
                 {"r", "l"},    {"Ġwo", "rl"}, {"Ġworl", "d"}};
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("hello world"),
            idsOf(tokenizer, {"hello", "Ġworld"}));
  // The GPT-2 pattern of ByteLevel splits before the space: no merge crosses.
  EXPECT_EQ(tokenizer.encode("helloworld"),
            idsOf(tokenizer, {"hello", "w", "o", "rl", "d"}));
}

TEST(TokenizerTest, MergePairsAndStringsAreTheSame) {
  Spec spec;
  spec.merges = {{"t", "h"}, {"th", "e"}, {"Ġ", "the"}};
  Tokenizer strings = load(spec);
  spec.mergesAsPairs = true;
  Tokenizer pairs = load(spec);
  for (std::string_view text : {"the theme", " the", "ththe"})
    EXPECT_EQ(strings.encode(text), pairs.encode(text)) << text;
  EXPECT_EQ(pairs.encode("the the"), idsOf(pairs, {"the", "Ġthe"}));
}

TEST(TokenizerTest, IgnoreMergesTakesWholeVocabularyWords) {
  Spec spec;
  spec.extraTokens = {"abc"};
  spec.merges = {{"a", "b"}};
  Tokenizer plain = load(spec);
  EXPECT_EQ(plain.encode("abc"), idsOf(plain, {"ab", "c"}));
  spec.modelOptions = R"("ignore_merges":true,)";
  Tokenizer ignoring = load(spec);
  EXPECT_EQ(ignoring.encode("abc"), idsOf(ignoring, {"abc"}));
  EXPECT_EQ(ignoring.encode("abd"), idsOf(ignoring, {"ab", "d"}));
}

//===--- added tokens
//-------------------------------------------------------===//

std::string addedToken(int id, std::string_view content, bool special = true,
                       std::string_view flags = "") {
  return "{\"id\":" + std::to_string(id) + ",\"content\":" + quote(content) +
         ",\"special\":" + (special ? "true" : "false") +
         (flags.empty() ? "" : ",") + std::string(flags) + "}";
}

TEST(TokenizerTest, AddedTokensInsideTextLongestMatchFirst) {
  Spec spec;
  spec.addedTokens = "[" + addedToken(300, "<|a|>") + "," +
                     addedToken(301, "<|a|>b", false, "\"normalized\":false") +
                     "," + addedToken(302, "<｜User｜>") + "]";
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("x<|a|>y"), (Ids{'x', 300, 'y'}));
  EXPECT_EQ(tokenizer.encode("x<|a|>by"), (Ids{'x', 301, 'y'}));
  EXPECT_EQ(tokenizer.encode("<|a|><|a|>"), (Ids{300, 300}));
  EXPECT_EQ(tokenizer.encode("<|a|"), bytesOf("<|a|"));
  Ids user = {302};
  Ids hi = tokenizer.encode("<｜User｜>hi");
  EXPECT_EQ(hi, (Ids{302, 'h', 'i'}));
  EXPECT_EQ(tokenizer.decode(hi), "<｜User｜>hi");
  EXPECT_TRUE(tokenizer.isSpecial(300));
  EXPECT_FALSE(tokenizer.isSpecial(301));
  EXPECT_FALSE(tokenizer.isSpecial('a'));
  EXPECT_EQ(*tokenizer.tokenText(302), "<｜User｜>");
  EXPECT_EQ(tokenizer.tokenId("<｜User｜>"), std::optional<int32_t>(302));
  EXPECT_EQ(tokenizer.vocabSize(), 303u);
  EXPECT_EQ(tokenizer.tokenText(299), nullptr); // a gap between ids
  EXPECT_EQ(tokenizer.tokenText(-1), nullptr);
  EXPECT_EQ(tokenizer.tokenText(303), nullptr);
}

TEST(TokenizerTest, AddedTokenStripAndSingleWordFollowHF) {
  // HF's own cases (added_vocabulary.rs, test_lstrip_unicode_space and
  // test_single_word_is_correct).
  Spec spec;
  spec.addedTokens =
      "[" +
      addedToken(300, "<mask>", false,
                 "\"lstrip\":true,\"rstrip\":true,\"single_word\":true,"
                 "\"normalized\":false") +
      "]";
  Tokenizer strip = load(spec);
  std::string text = "Hi <mask> there\t<mask>\t<mask>\u2000";
  Ids expected = bytesOf("Hi");
  expected.push_back(300);
  for (int32_t id : bytesOf("there"))
    expected.push_back(id);
  expected.push_back(300);
  expected.push_back(300);
  EXPECT_EQ(strip.encode(text), expected);

  spec.addedTokens =
      "[" + addedToken(300, "<mask>", false, "\"single_word\":true") + "]";
  Tokenizer single = load(spec);
  Ids ids = single.encode("<mask> a<mask> <mask>b <mask>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 300), 2);
  EXPECT_EQ(ids.front(), 300);
  EXPECT_EQ(ids.back(), 300);
  // Punctuation is not a word character; a combining mark is.
  EXPECT_EQ(single.encode(",<mask>").back(), 300);
  EXPECT_NE(single.encode("e\u0301<mask>").back(), 300);
}

TEST(TokenizerTest, NormalizedAddedTokensMatchTheNormalizedText) {
  Spec spec;
  spec.normalizer =
      R"({"type":"Sequence","normalizers":[{"type":"Replace","pattern":{"String":"A"},"content":"a"}]})";
  spec.addedTokens = "[" + addedToken(300, "Ab", false, "\"normalized\":true") +
                     "," +
                     addedToken(301, "CD", false, "\"normalized\":false") + "]";
  Tokenizer tokenizer = load(spec);
  // "Ab" is matched as its normalized form "ab", in normalized text.
  EXPECT_EQ(tokenizer.encode("xabAby"), (Ids{'x', 300, 300, 'y'}));
  EXPECT_EQ(tokenizer.encode("ACD"), (Ids{'a', 301}));
}

TEST(TokenizerTest, ReplaceNormalizerWithRegex) {
  Spec spec;
  spec.normalizer =
      R"({"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "})";
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("a \t\n b"), (Ids{'a', ' ', 'b'}));
}

//===--- pre-tokenizers
//------------------------------------------------------===//

/// A tokenizer whose vocabulary holds `pieces` as whole tokens and takes
/// whole pieces when it can (ignore_merges), so the ids show how a text was
/// split: each expected piece is one id, anything else falls apart in bytes.
Tokenizer splitter(const std::string &preTokenizer,
                   std::initializer_list<std::string> pieces) {
  Spec spec;
  spec.preTokenizer = preTokenizer;
  for (const auto &piece : pieces)
    spec.extraTokens.push_back(spell(piece));
  spec.modelOptions = R"("ignore_merges":true,)";
  return load(spec);
}

Ids pieceIds(const Tokenizer &tokenizer,
             std::initializer_list<std::string> pieces) {
  Ids ids;
  for (const auto &piece : pieces)
    ids.push_back(idOf(tokenizer, spell(piece)));
  return ids;
}

std::string splitOn(const std::string &regex, const std::string &behavior,
                    bool invert = false) {
  return R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":)" +
         quote(regex) + R"(},"behavior":")" + behavior + R"(","invert":)" +
         (invert ? "true" : "false") + "}," + kByteLevelNoRegex + "]}";
}

TEST(TokenizerTest, SplitBehaviorsFollowHF) {
  // HF's example in normalizer.rs: "The-final--countdown" split on '-'.
  std::string text = "The-final--countdown";
  struct Case {
    const char *behavior;
    std::initializer_list<std::string> pieces;
  };
  for (const Case &c :
       {Case{"Removed", {"The", "final", "countdown"}},
        Case{"Isolated", {"The", "-", "final", "-", "-", "countdown"}},
        Case{"MergedWithPrevious", {"The-", "final-", "-", "countdown"}},
        Case{"MergedWithNext", {"The", "-final", "-", "-countdown"}},
        Case{"Contiguous", {"The", "-", "final", "--", "countdown"}}}) {
    Tokenizer tokenizer = splitter(splitOn("-", c.behavior), c.pieces);
    EXPECT_EQ(tokenizer.encode(text), pieceIds(tokenizer, c.pieces))
        << c.behavior;
  }
  // invert: the pattern matches the pieces to keep.
  Tokenizer inverted = splitter(splitOn("[A-Za-z]+", "Removed", true),
                                {"The", "final", "countdown"});
  EXPECT_EQ(inverted.encode(text),
            pieceIds(inverted, {"The", "final", "countdown"}));
}

TEST(TokenizerTest, SplitWithStringPatternIsLiteral) {
  std::string pre =
      R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"String":"a.b"},"behavior":"Isolated","invert":false},)" +
      std::string(kByteLevelNoRegex) + "]}";
  Tokenizer tokenizer = splitter(pre, {"xx", "a.b", "axb"});
  EXPECT_EQ(tokenizer.encode("xxa.b"), pieceIds(tokenizer, {"xx", "a.b"}));
  EXPECT_EQ(tokenizer.encode("axb"), pieceIds(tokenizer, {"axb"}));
}

TEST(TokenizerTest, DigitsPreTokenizer) {
  std::string individual =
      R"({"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},)" +
      std::string(kByteLevelNoRegex) + "]}";
  Tokenizer tokenizer = splitter(individual, {"ab", "123", "1", "2", "3"});
  EXPECT_EQ(tokenizer.encode("ab123"),
            pieceIds(tokenizer, {"ab", "1", "2", "3"}));
  std::string runs =
      R"({"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":false},)" +
      std::string(kByteLevelNoRegex) + "]}";
  Tokenizer grouped = splitter(runs, {"ab", "123"});
  EXPECT_EQ(grouped.encode("ab123"), pieceIds(grouped, {"ab", "123"}));
}

/// DeepSeek-V3's pre_tokenizer, as its tokenizer.json spells it.
const char *const kV3PreTokenizer =
    R"({"type":"Sequence","pretokenizers":[)"
    R"({"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior":"Isolated","invert":false},)"
    R"({"type":"Split","pattern":{"Regex":"[一-龥぀-ゟ゠-ヿ]+"},"behavior":"Isolated","invert":false},)"
    R"({"type":"Split","pattern":{"Regex":"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},)"
    R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})";

TEST(TokenizerTest, DeepSeekV3SplitPatterns) {
  Tokenizer tokenizer =
      splitter(kV3PreTokenizer,
               {"123", "456", "7", "Hello", ",", " world", "!\n\n", "你好世界",
                "こんにちは", "  ", " x", ".Net", " (", "a", "\r\n"});
  EXPECT_EQ(tokenizer.encode("1234567"),
            pieceIds(tokenizer, {"123", "456", "7"}));
  EXPECT_EQ(tokenizer.encode("Hello, world!\n\n"),
            pieceIds(tokenizer, {"Hello", ",", " world", "!\n\n"}));
  EXPECT_EQ(tokenizer.encode("你好世界"), pieceIds(tokenizer, {"你好世界"}));
  EXPECT_EQ(tokenizer.encode("こんにちは"),
            pieceIds(tokenizer, {"こんにちは"}));
  // \s+(?!\S) leaves the last space to the word after it.
  EXPECT_EQ(tokenizer.encode("   x"), pieceIds(tokenizer, {"  ", " x"}));
  EXPECT_EQ(tokenizer.encode(".Net ("), pieceIds(tokenizer, {".Net", " ("}));
  EXPECT_EQ(tokenizer.encode("a\r\n"), pieceIds(tokenizer, {"a", "\r\n"}));
}

TEST(TokenizerTest, DollarMatchesAtLineEndsAsInOniguruma) {
  // V2's tokenizer splits on \s+$; HF's Oniguruma reads $ as "end of line".
  Tokenizer tokenizer =
      splitter(splitOn("\\s+$", "Isolated"), {"a", "  ", "\nb", "b  \nc"});
  EXPECT_EQ(tokenizer.encode("a  \nb  "),
            pieceIds(tokenizer, {"a", "  ", "\nb", "  "}));
}

TEST(TokenizerTest, ByteLevelPrefixSpace) {
  Spec spec;
  spec.preTokenizer =
      R"({"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true})";
  spec.extraTokens = {spell(" hi"), spell(" there")};
  spec.modelOptions = R"("ignore_merges":true,)";
  Tokenizer tokenizer = load(spec);
  EXPECT_EQ(tokenizer.encode("hi there"),
            idsOf(tokenizer, {spell(" hi"), spell(" there")}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("hi there")), " hi there");
}

//===--- bytes outside the vocabulary
//----------------------------------------===//

TEST(TokenizerTest, UnknownBytesBecomeByteSymbols) {
  Spec spec;
  spec.merges = {{"a", "b"}};
  Tokenizer tokenizer = load(spec);
  std::string emoji = "\xF0\x9F\x99\x82"; // U+1F642, no merge covers it
  EXPECT_EQ(tokenizer.encode("ab" + emoji),
            (Ids{idOf(tokenizer, "ab"), 0xF0, 0x9F, 0x99, 0x82}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("ab" + emoji)), "ab" + emoji);
}

TEST(TokenizerTest, ByteFallbackAndUnkWithoutByteSymbols) {
  // Without ByteLevel, symbols are characters: missing ones fall back.
  Spec spec;
  spec.allBytes = false;
  spec.preTokenizer = "null";
  spec.extraTokens = {"a", "b", "<unk>", "<0xC3>", "<0xA9>"};
  spec.modelOptions = R"("byte_fallback":true,"unk_token":"<unk>",)";
  Tokenizer fallback = load(spec);
  EXPECT_EQ(fallback.encode("aéb"),
            idsOf(fallback, {"a", "<0xC3>", "<0xA9>", "b"}));
  // ü's bytes are not all there: the unk token stands for it.
  EXPECT_EQ(fallback.encode("aüb"), idsOf(fallback, {"a", "<unk>", "b"}));

  spec.modelOptions = R"("unk_token":"<unk>","fuse_unk":true,)";
  Tokenizer fused = load(spec);
  EXPECT_EQ(fused.encode("aüüb"), idsOf(fused, {"a", "<unk>", "b"}));
  spec.modelOptions = R"("unk_token":"<unk>","fuse_unk":false,)";
  Tokenizer unfused = load(spec);
  EXPECT_EQ(unfused.encode("aüüb"),
            idsOf(unfused, {"a", "<unk>", "<unk>", "b"}));
  // With neither, HF drops the character.
  spec.modelOptions = "";
  Tokenizer dropping = load(spec);
  EXPECT_EQ(dropping.encode("aüb"), idsOf(dropping, {"a", "b"}));
}

TEST(TokenizerTest, InvalidUtf8BytesAreEncodedAlone) {
  Spec spec;
  spec.merges = {{"a", "b"}, {"Ã", "©"}};
  Tokenizer tokenizer = load(spec);
  // 0xC3 0xA9 is é; a lone 0xC3 before 'a' is invalid and stays one byte,
  // even though the merge of its symbol with 0xA9's exists.
  EXPECT_EQ(tokenizer.encode("\xC3\xA9"), idsOf(tokenizer, {"Ã©"}));
  EXPECT_EQ(
      tokenizer.encode("ab\xC3"
                       "ab\xFF\x80"),
      (Ids{idOf(tokenizer, "ab"), 0xC3, idOf(tokenizer, "ab"), 0xFF, 0x80}));
  for (std::string bytes :
       {std::string("\xED\xA0\x80"), std::string("\xC0\xAF"),
        std::string("x\xF4\x90\x80\x80y"), std::string("\xE4\xBD")})
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(bytes)), bytes);
}

TEST(TokenizerTest, DecodeRoundTripsAnyBytes) {
  Spec spec;
  spec.merges = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"ä", "½"}};
  spec.addedTokens = "[" + addedToken(400, "<s>") + "]";
  Tokenizer tokenizer = load(spec);
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    std::string text;
    for (int n = random() % 64; n > 0; --n)
      text += static_cast<char>(
          random() % 4 == 0 ? random() % 256 : " the<s>你好"[random() % 11]);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
  EXPECT_EQ(tokenizer.decode({}), "");
  EXPECT_EQ(tokenizer.decode({-5, 100000, 'x'}), "x"); // no such ids
}

//===--- streaming
//------------------------------------------------------------===//

TEST(TokenizerTest, IncrementalDecoderHoldsBackPartialCharacters) {
  Spec spec;
  spec.merges = {{"ð", "Ł"}}; // the first two bytes of most emoji
  Tokenizer tokenizer = load(spec);
  std::string emoji = "\xF0\x9F\x99\x82"; // U+1F642
  Ids ids = tokenizer.encode("a" + emoji + "b");
  ASSERT_EQ(ids, (Ids{'a', idOf(tokenizer, "ðŁ"), 0x99, 0x82, 'b'}));
  IncrementalDecoder decoder(tokenizer);
  EXPECT_EQ(decoder.push(ids[0]), "a");
  EXPECT_EQ(decoder.push(ids[1]), "");
  EXPECT_EQ(decoder.push(ids[2]), "");
  EXPECT_EQ(decoder.push(ids[3]), emoji);
  EXPECT_EQ(decoder.push(ids[4]), "b");
  EXPECT_EQ(decoder.flush(), "");

  // A ZWJ sequence arrives character by character.
  std::string family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9";
  std::string streamed;
  for (int32_t id : tokenizer.encode(family)) {
    std::string piece = decoder.push(id);
    EXPECT_TRUE(piece.empty() || piece == "\xF0\x9F\x91\xA8" ||
                piece == "\xE2\x80\x8D" || piece == "\xF0\x9F\x91\xA9")
        << piece;
    streamed += piece;
  }
  EXPECT_EQ(streamed + decoder.flush(), family);
}

TEST(TokenizerTest, IncrementalDecoderReplacesBytesThatCannotFinish) {
  Spec spec;
  Tokenizer tokenizer = load(spec);
  IncrementalDecoder decoder(tokenizer);
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(decoder.push(0xF0), "");
  EXPECT_EQ(decoder.push(0x9F), "");
  EXPECT_EQ(decoder.push('a'), replacement + "a"); // one U+FFFD for F0 9F
  EXPECT_EQ(decoder.push(0xFF), replacement);
  EXPECT_EQ(decoder.push(0xE4), "");
  EXPECT_EQ(decoder.flush(), replacement);
  EXPECT_EQ(decoder.push('z'), "z"); // flush started afresh
  EXPECT_EQ(decoder.flush(), "");
}

//===--- threads
//--------------------------------------------------------------===//

TEST(TokenizerTest, EncodesOnSeveralThreadsAtOnce) {
  Spec spec;
  spec.preTokenizer = kV3PreTokenizer;
  spec.merges = {{"t", "h"}, {"th", "e"}, {"Ġ", "the"}, {"i", "n"}};
  Tokenizer tokenizer = load(spec);
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "the thing in the 12345 ünïcödé 你好 text\n";
  Ids expected = tokenizer.encode(text);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i)
        same[t] += tokenizer.encode(text) == expected;
    });
  for (auto &thread : threads)
    thread.join();
  EXPECT_EQ(same, std::vector<int>(4, 20));
}

//===--- load errors
//------------------------------------------------------------===//

void expectMentions(const std::string &error,
                    std::initializer_list<const char *> parts) {
  EXPECT_NE(error.find("bad.json"), std::string::npos) << error;
  for (const char *part : parts)
    EXPECT_NE(error.find(part), std::string::npos)
        << "'" << part << "' not in: " << error;
}

TEST(TokenizerTest, ErrorMissingModel) {
  expectMentions(
      loadError(R"({"added_tokens":[],"decoder":{"type":"ByteLevel"}})"),
      {"model", "missing"});
  expectMentions(
      loadError(
          R"({"model":{"type":"BPE","merges":[]},"decoder":{"type":"ByteLevel"}})"),
      {"model.vocab", "missing"});
  expectMentions(
      loadError(
          R"({"model":{"type":"BPE","vocab":{}},"decoder":{"type":"ByteLevel"}})"),
      {"model.merges", "missing"});
}

TEST(TokenizerTest, ErrorUnknownTypes) {
  Spec spec;
  spec.preTokenizer =
      R"({"type":"Sequence","pretokenizers":[{"type":"Whitespace"}]})";
  expectMentions(loadError(spec), {"pre_tokenizer.pretokenizers[0].type",
                                   "'Whitespace'", "not supported"});
  spec = Spec();
  spec.normalizer = R"({"type":"NFKC"})";
  expectMentions(loadError(spec), {"normalizer.type", "'NFKC'"});
  spec = Spec();
  spec.decoder = R"({"type":"WordPiece"})";
  expectMentions(loadError(spec), {"decoder.type", "'WordPiece'"});
  spec = Spec();
  spec.decoder = "null";
  expectMentions(loadError(spec), {"decoder", "ByteLevel"});
  spec = Spec();
  spec.modelOptions = R"("dropout":0.1,)";
  expectMentions(loadError(spec), {"model.dropout"});
  spec = Spec();
  spec.preTokenizer = std::string(R"({"type":"Sequence","pretokenizers":[)") +
                      kByteLevel + "," + R"({"type":"Digits"}]})";
  expectMentions(loadError(spec), {"pre_tokenizer.pretokenizers[1]",
                                   "ByteLevel must be the last"});
  spec = Spec();
  spec.preTokenizer =
      R"({"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways","invert":false})";
  expectMentions(loadError(spec), {"pre_tokenizer.behavior", "'Sideways'"});
}

TEST(TokenizerTest, ErrorBadRegex) {
  Spec spec;
  spec.preTokenizer = splitOn("(\\p{L}+", "Isolated");
  expectMentions(loadError(spec),
                 {"pre_tokenizer.pretokenizers[0].pattern.Regex",
                  "invalid regular expression", "offset"});
  spec.preTokenizer = splitOn("\\p{NoSuchProperty}", "Isolated");
  expectMentions(loadError(spec), {"pattern.Regex"});
}

TEST(TokenizerTest, ErrorMergesAndVocabulary) {
  Spec spec;
  spec.allBytes = false;
  spec.extraTokens = {"a", "b"};
  std::string json = spec.json();
  auto insertMerges = [&](const std::string &merges) {
    std::string text = json;
    text.replace(text.find("\"merges\":[]"), 11, "\"merges\":" + merges);
    return text;
  };
  expectMentions(loadError(insertMerges(R"(["a c"])")),
                 {"model.merges[0]", "'c' is not in model.vocab"});
  expectMentions(loadError(insertMerges(R"(["a b"])")),
                 {"model.merges[0]", "merge result 'ab'"});
  expectMentions(loadError(insertMerges(R"(["a b", "ab"])")),
                 {"model.merges[0]"}); // the first error is reported
  expectMentions(loadError(insertMerges(R"(["ab"])")),
                 {"model.merges[0]", "two symbols"});
  expectMentions(loadError(insertMerges(R"([["a"]])")), {"model.merges"});

  std::string duplicateId = json;
  duplicateId.replace(duplicateId.find("\"b\":1"), 5, "\"b\":0");
  expectMentions(loadError(duplicateId),
                 {"model.vocab", "id 0 is given to both 'a' and 'b'"});
  std::string negative = json;
  negative.replace(negative.find("\"b\":1"), 5, "\"b\":-1");
  expectMentions(loadError(negative), {"model.vocab", "line 1, column"});
  std::string truncated = json.substr(0, json.find("\"b\":1") + 3);
  expectMentions(loadError(truncated), {"model.vocab"});
}

TEST(TokenizerTest, ErrorAddedTokens) {
  Spec spec;
  spec.addedTokens =
      "[" + addedToken(300, "<x>") + "," + addedToken(300, "<y>") + "]";
  expectMentions(loadError(spec), {"added_tokens[1].id", "also the id"});
  spec.addedTokens = "[" + addedToken(5, "<s>") + "]";
  expectMentions(loadError(spec), {"added_tokens[0].id", "belongs to"});
  spec.addedTokens = R"([{"id":300}])";
  expectMentions(loadError(spec), {"added_tokens[0].content", "missing"});
  spec.addedTokens = R"([{"id":300,"content":"<x>","lstrip":"yes"}])";
  expectMentions(loadError(spec), {"added_tokens[0].lstrip"});
}

TEST(TokenizerTest, ErrorMalformedJson) {
  expectMentions(loadError("{\"model\": {\"vocab\": {\"a\": 0,}}}"),
                 {"model.vocab", "line 1"});
  expectMentions(loadError("[1, 2]"), {"expected '{'"});
  expectMentions(
      loadError(
          R"({"model":{"vocab":{},"merges":[]},"decoder":{"type":"ByteLevel"},"x":[1 2]})"),
      {"x: line 1, column 73", "expected ',' or ']'"});
  expectMentions(loadError(R"({"model":{"vocab":{},"merges":[]},"model":{}})"),
                 {"duplicate key 'model'"});
}

} // namespace
} // namespace dsrt
