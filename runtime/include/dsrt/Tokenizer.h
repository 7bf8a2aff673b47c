//===- Tokenizer.h - byte-level BPE from a tokenizer.json -------*- C++ -*-===//
//
// Turns text into token ids and ids back into bytes the way HuggingFace
// `tokenizers` does for the checkpoint's own tokenizer.json. Nothing about
// DeepSeek is hard-coded: the pipeline is built from what the file says.
//
//   1. Added tokens (`added_tokens`, special or not) are found first, leftmost
//      then longest, and become their ids as they are. Tokens with
//      `normalized: false` are matched on the raw text, the others on the
//      normalized text; `lstrip`/`rstrip` swallow the white space beside a
//      match, `single_word` rejects a match inside a word.
//   2. The `normalizer`: null, `Sequence`, or `Replace` (String or Regex
//      pattern). Other types are refused when loading.
//   3. The `pre_tokenizer`: `Sequence`, `Split` (Regex or String pattern, any
//      `behavior`, `invert`), `Digits`, and `ByteLevel` (`add_prefix_space`,
//      `use_regex` with the GPT-2 pattern), which must come last and maps
//      every byte to the symbol the BPE vocabulary spells it with.
//   4. The `model`: `BPE` with `vocab` and `merges` ("a b" strings or
//      ["a", "b"] pairs), `ignore_merges`, `unk_token`, `fuse_unk` and
//      `byte_fallback`. Merges apply lowest rank first, leftmost first among
//      equal ranks. A symbol missing from the vocabulary becomes <0xXX> byte
//      tokens (byte_fallback), else the unk token, else nothing, as in HF.
//   5. The `decoder` must be `ByteLevel`: a token decodes to the bytes its
//      symbols stand for; an added token decodes to its content verbatim.
//
// The `post_processor`, `truncation` and `padding` are not applied: encode()
// adds no BOS and cuts nothing; the caller adds what its template needs.
//
// Regular expressions run on PCRE2 in the mode closest to Oniguruma, the
// engine of HF tokenizers (UTF, Unicode \s \w \d, ^ $ at line boundaries).
// On DeepSeek-V3's tokenizer.json this gives the same ids as HF tokenizers
// 0.23 and as the JavaScript reference @lenml/tokenizers on every text tried
// (test/tokenizer/run-compat.sh), except for these characters:
//   - letters, marks, digits and symbols assigned in Unicode 15 and 16 (about
//     10,000 code points: CJK extensions H and I, Kawi, Garay, ...): PCRE2
//     10.42 knows Unicode 14 and sees them as unassigned, which can change
//     how the text around them splits;
//   - U+180E MONGOLIAN VOWEL SEPARATOR, which PCRE2's \s matches and HF's
//     does not.
// Where HF and the JavaScript reference disagree (U+0085 NEL is white space
// to HF only, U+FEFF to the reference only; $ in multi-line text), this class
// follows HF.
//
// Invalid UTF-8: HF takes only valid strings. Here every byte that is not part
// of a well-formed sequence ends the text run before it and is encoded alone,
// as the token of its byte-level symbol (or as byte fallback / unk / nothing
// when the vocabulary lacks it); the valid runs between such bytes are encoded
// as if each were a text of its own. So decode(encode(x)) == x for any bytes
// x, valid or not, whenever the vocabulary has all 256 byte symbols. (The
// JavaScript reference takes strings, so it can only be given such text with
// U+FFFD in place of those bytes, and then encodes that character instead.)
//
// Limits: token ids must be below 2^22; a tokenizer.json above 256 MiB is
// refused. When PCRE2 gives up on a piece (its match limit), the rest of that
// piece is kept whole instead of split; encode() never fails.
//
// Cost (one core of the development machine, g++ -O2): loading DeepSeek-V3's
// file (7.8 MB, 128,000 vocabulary entries, 127,741 merges, 818 added tokens)
// takes about 35 ms; encoding English runs at about 80 MB/s and decoding at
// about 300 MB/s (bench/TokenizerBenchmark.cpp).
//
// Ownership: a Tokenizer owns all its tables and keeps nothing of the JSON
// text it was built from; a moved-from Tokenizer may only be destroyed or
// assigned to. An IncrementalDecoder refers to its Tokenizer, which must
// outlive it.
// Threading: a Tokenizer is immutable after fromJson(); encode(), decode() and
// the lookups may run on several threads at once (encode() keeps its caches
// per call). An IncrementalDecoder is one stream's state: one thread at a
// time.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_TOKENIZER_H
#define DSRT_TOKENIZER_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsrt {

namespace detail {
struct TokenizerImpl;
} // namespace detail

/// The ByteLevel symbol of `byte` (GPT-2's bytes_to_unicode), as UTF-8:
/// how a byte-level vocabulary spells it.
std::string byteLevelSymbol(uint8_t byte);

class Tokenizer {
public:
  /// Builds the tokenizer that `tokenizerJson` (the text of a HuggingFace
  /// tokenizer.json) describes. Every error names `fileName` and the field,
  /// e.g. "tokenizer.json: model.merges[12]: 'ab' is not in model.vocab".
  static Expected<Tokenizer> fromJson(std::string_view tokenizerJson,
                                      std::string_view fileName);

  Tokenizer(Tokenizer &&) noexcept;
  Tokenizer &operator=(Tokenizer &&) noexcept;
  ~Tokenizer();

  /// The ids of `text` (any bytes; see "Invalid UTF-8" above). Adds no BOS.
  std::vector<int32_t> encode(std::string_view text) const;

  /// The bytes `ids` stand for, special tokens included. Ids that name no
  /// token decode to nothing (as in HF). The result is not repaired: a
  /// sequence cut inside a character ends in a partial UTF-8 sequence.
  std::string decode(const std::vector<int32_t> &ids) const;

  /// The id of the token spelled `tokenText` as in the file: an added token's
  /// content (e.g. "<｜User｜>") or a vocabulary entry (e.g. "Ġthe").
  std::optional<int32_t> tokenId(std::string_view tokenText) const;

  /// The spelling of token `id` as in the file, or nullptr if no token has
  /// that id. The pointer stays valid while the Tokenizer lives.
  const std::string *tokenText(int32_t id) const;

  /// The bytes token `id` decodes to (empty if no token has that id).
  std::string_view tokenBytes(int32_t id) const;

  /// Whether `id` is an added token marked special (in DeepSeek-V3's file:
  /// BOS, EOS, padding and <|EOT|>, but not <｜User｜> or <｜Assistant｜>).
  bool isSpecial(int32_t id) const;

  /// One more than the highest id of the vocabulary and added tokens.
  size_t vocabSize() const;

private:
  explicit Tokenizer(std::unique_ptr<detail::TokenizerImpl> impl);
  std::unique_ptr<detail::TokenizerImpl> impl_;
};

/// Decodes a stream of ids into text as they arrive, never returning part of
/// a UTF-8 sequence: bytes of a character that is not complete yet are held
/// back until the token that completes it. Bytes that can never form a
/// character become U+FFFD (one per maximal ill-formed subpart, like
/// TextDecoder), so the concatenation of all push() results and flush() is
/// always valid UTF-8 and equals the lossy UTF-8 reading of
/// tokenizer.decode(all ids).
class IncrementalDecoder {
public:
  explicit IncrementalDecoder(const Tokenizer &tokenizer);

  /// Adds token `id`; returns the text that is now complete (maybe empty).
  std::string push(int32_t id);

  /// Ends the stream: returns the held-back bytes of an unfinished character
  /// as U+FFFD (or nothing), and starts afresh.
  std::string flush();

private:
  const Tokenizer *tokenizer_;
  std::string pending_; // at most 3 bytes: a well-formed, unfinished prefix
};

} // namespace dsrt

#endif // DSRT_TOKENIZER_H
