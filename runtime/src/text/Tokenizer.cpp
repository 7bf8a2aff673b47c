//===- Tokenizer.cpp - byte-level BPE from a tokenizer.json -----*- C++ -*-===//
//
// Implements dsrt/Tokenizer.h on the tables of TokenizerImpl.h. Encoding
// follows the order of HF tokenizers (added tokens on the raw text,
// normalizer, added tokens on the normalized text, pre-tokenizer, BPE) on
// string views of the input, with the BPE result of each distinct piece
// cached for the rest of the call; decoding concatenates the bytes each id
// stands for, precomputed when loading.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Tokenizer.h"

#include "text/TokenizerImpl.h"
#include "text/Utf8.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace dsrt {

namespace detail {

//===----------------------------------------------------------------------===//
// Encoding
//===----------------------------------------------------------------------===//

namespace {

/// Pieces longer than this are not cached (they rarely repeat).
constexpr size_t kMaxCachedPieceSize = 256;
/// A call stops adding to its cache beyond this many pieces.
constexpr size_t kMaxCachedPieces = size_t(1) << 16;

/// Scratch space of one encode() call.
struct EncodeState {
  RegexScratch regex;
  std::vector<std::string_view> pieces, nextPieces;
  std::deque<std::string> arena; // texts made during the call
  struct Segment {
    size_t begin, end;
    bool isMatch;
  };
  std::vector<Segment> segments, merged;

  // BPE.
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t left, right, result;
  };
  std::vector<int32_t> symbols, prev, next;
  std::vector<Candidate> heap;
  std::string mapped;
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
  std::vector<int32_t> cacheIds;
};

/// Length of the character at `pos` of valid UTF-8 `text` (1 past the end).
size_t charLengthAt(std::string_view text, size_t pos) {
  if (pos >= text.size())
    return 1;
  size_t length = 1;
  detail::examineUtf8(text.substr(pos), length);
  return length;
}

/// Calls onMatch(begin, end) for each match of `regex` in `text`, iterating
/// like Oniguruma's find_iter in HF: an empty match right where the previous
/// match ended is skipped. When PCRE2 gives up, the iteration stops there.
template <class OnMatch>
void forEachMatch(const Regex &regex, std::string_view text,
                  RegexScratch &scratch, OnMatch &&onMatch) {
  size_t lastEnd = 0;
  size_t lastMatchEnd = std::string_view::npos;
  while (lastEnd <= text.size()) {
    size_t begin = 0, end = 0;
    bool gaveUp = false;
    if (!regex.find(text, lastEnd, begin, end, scratch, gaveUp))
      return;
    if (begin == end && end == lastMatchEnd) {
      lastEnd += charLengthAt(text, lastEnd);
      continue;
    }
    lastEnd = end;
    lastMatchEnd = end;
    onMatch(begin, end);
  }
}

} // namespace

std::string applyNormalizer(const TokenizerImpl &impl, std::string_view text,
                            RegexScratch &scratch) {
  std::string current(text);
  for (const detail::ReplaceStep &step : impl.normalizer) {
    std::string replaced;
    size_t copied = 0;
    forEachMatch(step.regex, current, scratch, [&](size_t begin, size_t end) {
      replaced.append(current, copied, begin - copied);
      replaced += step.content;
      copied = end;
    });
    replaced.append(current, copied, std::string::npos);
    current = std::move(replaced);
  }
  return current;
}

namespace {

/// Splits `piece` into the matches of `regex` and the text between them
/// (the Isolated behavior), appending the non-empty pieces to `out`.
void splitIsolated(const Regex &regex, std::string_view piece,
                   RegexScratch &scratch, std::vector<std::string_view> &out) {
  size_t previous = 0;
  forEachMatch(regex, piece, scratch, [&](size_t begin, size_t end) {
    if (begin > previous)
      out.push_back(piece.substr(previous, begin - previous));
    if (end > begin)
      out.push_back(piece.substr(begin, end - begin));
    previous = end;
  });
  if (previous < piece.size())
    out.push_back(piece.substr(previous));
}

/// Splits `piece` by one Split step, appending the non-empty pieces to `out`.
void splitPiece(const detail::SplitStep &step, std::string_view piece,
                EncodeState &state, std::vector<std::string_view> &out) {
  if (step.behavior == SplitBehavior::Isolated && !step.invert) {
    splitIsolated(step.regex, piece, state.regex, out);
    return;
  }

  // HF's Pattern::find_matches: the matches and the gaps between them.
  auto &segments = state.segments;
  segments.clear();
  size_t previous = 0;
  forEachMatch(step.regex, piece, state.regex, [&](size_t begin, size_t end) {
    if (begin != previous)
      segments.push_back({previous, begin, false});
    segments.push_back({begin, end, true});
    previous = end;
  });
  if (previous != piece.size())
    segments.push_back({previous, piece.size(), false});
  if (step.invert)
    for (auto &segment : segments)
      segment.isMatch = !segment.isMatch;

  // HF's NormalizedString::split by behavior.
  auto &merged = state.merged;
  merged.clear();
  bool previousMatch = false;
  switch (step.behavior) {
  case SplitBehavior::Isolated:
    merged = segments;
    break;
  case SplitBehavior::Removed:
    for (auto &segment : segments)
      if (!segment.isMatch)
        merged.push_back(segment);
    break;
  case SplitBehavior::MergedWithPrevious:
    for (auto &segment : segments) {
      if (segment.isMatch && !previousMatch && !merged.empty())
        merged.back().end = segment.end;
      else
        merged.push_back(segment);
      previousMatch = segment.isMatch;
    }
    break;
  case SplitBehavior::MergedWithNext:
    for (size_t i = segments.size(); i-- > 0;) {
      auto &segment = segments[i];
      if (segment.isMatch && !previousMatch && !merged.empty())
        merged.back().begin = segment.begin;
      else
        merged.push_back(segment);
      previousMatch = segment.isMatch;
    }
    std::reverse(merged.begin(), merged.end());
    break;
  case SplitBehavior::Contiguous:
    for (auto &segment : segments) {
      if (segment.isMatch == previousMatch && !merged.empty())
        merged.back().end = segment.end;
      else
        merged.push_back(segment);
      previousMatch = segment.isMatch;
    }
    break;
  }
  for (auto &segment : merged)
    if (segment.end > segment.begin)
      out.push_back(piece.substr(segment.begin, segment.end - segment.begin));
}

/// The encoder of one call: the tokenizer's tables plus the call's scratch.
class Encoder {
public:
  Encoder(const TokenizerImpl &impl, std::vector<int32_t> &out)
      : impl_(impl), out_(out) {}

  void encode(std::string_view text) {
    splitOnAddedTokens(text, impl_.rawTrie,
                       [&](std::string_view part) { encodeRaw(part); });
  }

private:
  /// Calls onText for the text between matches of `trie` in `text` and
  /// appends the ids of the matches, with HF's single_word, lstrip and
  /// rstrip rules.
  template <class OnText>
  void splitOnAddedTokens(std::string_view text,
                          const detail::AddedTokenTrie &trie, OnText &&onText) {
    if (trie.empty()) {
      if (!text.empty())
        onText(text);
      return;
    }
    size_t startOffset = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      if (!trie.firstByte[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      int32_t tokenIndex = -1;
      size_t length = trie.longestMatch(text.substr(pos), tokenIndex);
      if (length == 0) {
        ++pos;
        continue;
      }
      const AddedToken &token = impl_.addedTokens[tokenIndex];
      size_t start = pos, stop = pos + length;
      pos = stop; // matches do not overlap, kept or not
      if (token.singleWord &&
          ((start > 0 && endsWithWordChar(text.substr(0, start))) ||
           (stop < text.size() && startsWithWordChar(text.substr(stop)))))
        continue;
      if (token.lstrip)
        start = std::max(startOffset,
                         start - trailingWhiteSpace(text.substr(0, start)));
      if (token.rstrip) {
        stop += leadingWhiteSpace(text.substr(stop));
        pos = stop;
      }
      if (start > startOffset)
        onText(text.substr(startOffset, start - startOffset));
      out_.push_back(token.id);
      startOffset = stop;
    }
    if (startOffset < text.size())
      onText(text.substr(startOffset));
  }

  static size_t leadingWhiteSpace(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t length = 0;
      if (detail::examineUtf8(text.substr(pos), length) !=
              detail::Utf8Status::Valid ||
          !detail::isUnicodeWhiteSpace(
              detail::decodeUtf8(text.substr(pos), length)))
        break;
      pos += length;
    }
    return pos;
  }

  /// The start of the well-formed character that ends `text`, or npos.
  static size_t lastCharStart(std::string_view text) {
    for (size_t length = 1; length <= 4 && length <= text.size(); ++length) {
      size_t found = 0;
      size_t start = text.size() - length;
      if (detail::examineUtf8(text.substr(start), found) ==
              detail::Utf8Status::Valid &&
          found == length)
        return start;
    }
    return std::string_view::npos;
  }

  static size_t trailingWhiteSpace(std::string_view text) {
    size_t end = text.size();
    while (end > 0) {
      size_t start = lastCharStart(text.substr(0, end));
      if (start == std::string_view::npos ||
          !detail::isUnicodeWhiteSpace(
              detail::decodeUtf8(text.substr(start), end - start)))
        break;
      end = start;
    }
    return text.size() - end;
  }

  bool startsWithWordChar(std::string_view text) {
    size_t length = 0;
    if (detail::examineUtf8(text, length) != detail::Utf8Status::Valid)
      return false;
    return impl_.wordChar->matchesAtStart(text.substr(0, length), state_.regex);
  }

  bool endsWithWordChar(std::string_view text) {
    size_t start = lastCharStart(text);
    return start != std::string_view::npos &&
           impl_.wordChar->matchesAtStart(text.substr(start), state_.regex);
  }

  /// Text between raw-matched added tokens: valid runs go on through the
  /// pipeline, each byte outside them is encoded alone.
  void encodeRaw(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t valid = detail::validUtf8Prefix(text.substr(pos));
      if (valid > 0)
        encodeValid(text.substr(pos, valid));
      pos += valid;
      if (pos < text.size())
        encodeLoneByte(static_cast<unsigned char>(text[pos++]));
    }
  }

  void encodeLoneByte(unsigned char byte) {
    bool lastWasUnk = false;
    state_.symbols.clear();
    if (impl_.byteLevel && impl_.byteSymbolId[byte] >= 0) {
      out_.push_back(impl_.byteSymbolId[byte]);
      return;
    }
    std::string symbol;
    if (impl_.byteLevel)
      detail::appendUtf8(byteAlphabet().byteToChar[byte], symbol);
    else
      symbol.assign(1, static_cast<char>(byte));
    addUnknown(symbol, state_.symbols, lastWasUnk);
    out_.insert(out_.end(), state_.symbols.begin(), state_.symbols.end());
  }

  void encodeValid(std::string_view text) {
    if (!impl_.normalizer.empty()) {
      state_.arena.push_back(applyNormalizer(impl_, text, state_.regex));
      text = state_.arena.back();
    }
    splitOnAddedTokens(text, impl_.normalizedTrie,
                       [&](std::string_view part) { encodeNormalized(part); });
  }

  void encodeNormalized(std::string_view text) {
    auto &pieces = state_.pieces;
    auto &next = state_.nextPieces;
    pieces.assign(1, text);
    for (const detail::SplitStep &step : impl_.splits) {
      next.clear();
      for (std::string_view piece : pieces)
        splitPiece(step, piece, state_, next);
      pieces.swap(next);
    }
    if (impl_.byteLevel && (impl_.addPrefixSpace || impl_.byteLevelRegex)) {
      next.clear();
      for (std::string_view piece : pieces) {
        if (impl_.addPrefixSpace && piece[0] != ' ') {
          state_.arena.push_back(" " + std::string(piece));
          piece = state_.arena.back();
        }
        if (impl_.byteLevelRegex)
          splitIsolated(*impl_.byteLevelRegex, piece, state_.regex, next);
        else
          next.push_back(piece);
      }
      pieces.swap(next);
    }
    for (std::string_view piece : pieces)
      encodePiece(piece);
  }

  /// Appends the symbols standing for `symbol`, which is not in the
  /// vocabulary: its bytes as <0xXX> tokens (byte_fallback), else the unk
  /// token (fused with a preceding one with fuse_unk), else nothing.
  void addUnknown(std::string_view symbol, std::vector<int32_t> &symbols,
                  bool &lastWasUnk) {
    if (impl_.byteFallback) {
      bool all = true;
      for (char c : symbol)
        all &= impl_.byteFallbackId[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : symbol)
          symbols.push_back(
              impl_.byteFallbackId[static_cast<unsigned char>(c)]);
        lastWasUnk = false;
        return;
      }
    }
    if (impl_.unkId >= 0) {
      if (!(lastWasUnk && impl_.fuseUnk))
        symbols.push_back(impl_.unkId);
      lastWasUnk = true;
    }
  }

  void encodePiece(std::string_view piece) {
    if (impl_.byteLevel && piece.size() == 1 &&
        impl_.byteSymbolId[static_cast<unsigned char>(piece[0])] >= 0) {
      out_.push_back(impl_.byteSymbolId[static_cast<unsigned char>(piece[0])]);
      return;
    }
    bool cacheable = piece.size() <= kMaxCachedPieceSize;
    if (cacheable) {
      auto found = state_.cache.find(piece);
      if (found != state_.cache.end()) {
        auto [offset, count] = found->second;
        out_.insert(out_.end(), state_.cacheIds.begin() + offset,
                    state_.cacheIds.begin() + offset + count);
        return;
      }
    }
    size_t first = out_.size();
    bpe(piece);
    if (cacheable && state_.cache.size() < kMaxCachedPieces) {
      auto offset = static_cast<uint32_t>(state_.cacheIds.size());
      state_.cacheIds.insert(state_.cacheIds.end(), out_.begin() + first,
                             out_.end());
      state_.cache.emplace(
          piece, std::pair{offset, static_cast<uint32_t>(out_.size() - first)});
    }
  }

  /// Byte-pair encoding of one piece, appended to out_.
  void bpe(std::string_view piece) {
    const ByteAlphabet &alphabet = byteAlphabet();
    auto &symbols = state_.symbols;
    symbols.clear();

    if (impl_.ignoreMerges) {
      std::string_view whole = piece;
      if (impl_.byteLevel) {
        state_.mapped.clear();
        for (char c : piece)
          detail::appendUtf8(alphabet.byteToChar[static_cast<unsigned char>(c)],
                             state_.mapped);
        whole = state_.mapped;
      }
      int32_t id = impl_.vocabLookup(whole);
      if (id >= 0) {
        out_.push_back(id);
        return;
      }
    }

    bool lastWasUnk = false;
    std::string symbolText;
    if (impl_.byteLevel) {
      for (char c : piece) {
        auto byte = static_cast<unsigned char>(c);
        if (impl_.byteSymbolId[byte] >= 0) {
          symbols.push_back(impl_.byteSymbolId[byte]);
          lastWasUnk = false;
        } else {
          symbolText.clear();
          detail::appendUtf8(alphabet.byteToChar[byte], symbolText);
          addUnknown(symbolText, symbols, lastWasUnk);
        }
      }
    } else {
      for (size_t pos = 0; pos < piece.size();) {
        size_t length = charLengthAt(piece, pos);
        std::string_view character = piece.substr(pos, length);
        int32_t id = impl_.vocabLookup(character);
        if (id >= 0) {
          symbols.push_back(id);
          lastWasUnk = false;
        } else {
          addUnknown(character, symbols, lastWasUnk);
        }
        pos += length;
      }
    }
    mergeSymbols();
    out_.insert(out_.end(), symbols.begin(), symbols.end());
  }

  /// Applies the merges to state_.symbols in place: repeatedly the pair of
  /// lowest rank, the leftmost among equals, with a heap of candidate pairs
  /// over a linked list of symbols.
  void mergeSymbols() {
    auto &symbols = state_.symbols;
    size_t count = symbols.size();
    if (count < 2)
      return;
    auto &prev = state_.prev;
    auto &next = state_.next;
    auto &heap = state_.heap;
    prev.resize(count);
    next.resize(count);
    heap.clear();
    auto later = [](const EncodeState::Candidate &a,
                    const EncodeState::Candidate &b) {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    auto consider = [&](int32_t pos) {
      int32_t right = next[pos];
      const MergeTable::Merge *merge =
          impl_.merges.find(symbols[pos], symbols[right]);
      if (!merge)
        return;
      heap.push_back({merge->rank, static_cast<uint32_t>(pos), symbols[pos],
                      symbols[right], merge->merged});
      std::push_heap(heap.begin(), heap.end(), later);
    };
    for (size_t i = 0; i < count; ++i) {
      prev[i] = static_cast<int32_t>(i) - 1;
      next[i] = i + 1 < count ? static_cast<int32_t>(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < count; ++i)
      consider(static_cast<int32_t>(i));

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      EncodeState::Candidate candidate = heap.back();
      heap.pop_back();
      auto pos = static_cast<int32_t>(candidate.pos);
      int32_t right = next[pos];
      // Skip candidates that earlier merges made stale.
      if (symbols[pos] != candidate.left || right < 0 ||
          symbols[right] != candidate.right)
        continue;
      symbols[pos] = candidate.result;
      symbols[right] = -1; // dead
      next[pos] = next[right];
      if (next[pos] >= 0)
        prev[next[pos]] = pos;
      if (prev[pos] >= 0)
        consider(prev[pos]);
      if (next[pos] >= 0)
        consider(pos);
    }
    size_t kept = 0;
    for (int32_t pos = 0; pos >= 0; pos = next[pos])
      symbols[kept++] = symbols[pos];
    symbols.resize(kept);
  }

  const TokenizerImpl &impl_;
  std::vector<int32_t> &out_;
  EncodeState state_;
};

} // namespace

} // namespace detail

using detail::TokenizerImpl;

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl)
    : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer &&) noexcept = default;
Tokenizer &Tokenizer::operator=(Tokenizer &&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::string byteLevelSymbol(uint8_t byte) {
  std::string out;
  detail::appendUtf8(detail::byteAlphabet().byteToChar[byte], out);
  return out;
}

Expected<Tokenizer> Tokenizer::fromJson(std::string_view tokenizerJson,
                                        std::string_view fileName) {
  auto impl = detail::loadTokenizer(tokenizerJson);
  if (!impl.ok())
    return Expected<Tokenizer>::error(std::string(fileName) + ": " +
                                      impl.error());
  return Tokenizer(impl.take());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 1);
  detail::Encoder(*impl_, ids).encode(text);
  return ids;
}

std::string_view Tokenizer::tokenBytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->ids.size())
    return {};
  uint32_t begin = impl_->decodedOffsets[id];
  uint32_t end = impl_->decodedOffsets[id + 1];
  return std::string_view(impl_->decodedBytes).substr(begin, end - begin);
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string text;
  for (int32_t id : ids)
    text += tokenBytes(id);
  return text;
}

std::optional<int32_t> Tokenizer::tokenId(std::string_view tokenText) const {
  auto added = impl_->addedByContent.find(std::string(tokenText));
  if (added != impl_->addedByContent.end())
    return added->second;
  int32_t id = impl_->vocabLookup(tokenText);
  if (id >= 0)
    return id;
  return std::nullopt;
}

const std::string *Tokenizer::tokenText(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->ids.size())
    return nullptr;
  const auto &info = impl_->ids[id];
  if (info.addedToken >= 0)
    return &impl_->addedTokens[info.addedToken].content;
  if (info.vocabEntry >= 0)
    return &impl_->vocabTexts[info.vocabEntry];
  return nullptr;
}

bool Tokenizer::isSpecial(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->ids.size())
    return false;
  int32_t added = impl_->ids[id].addedToken;
  return added >= 0 && impl_->addedTokens[added].special;
}

size_t Tokenizer::vocabSize() const { return impl_->ids.size(); }

//===----------------------------------------------------------------------===//
// IncrementalDecoder
//===----------------------------------------------------------------------===//

IncrementalDecoder::IncrementalDecoder(const Tokenizer &tokenizer)
    : tokenizer_(&tokenizer) {}

std::string IncrementalDecoder::push(int32_t id) {
  pending_ += tokenizer_->tokenBytes(id);
  std::string text;
  std::string_view rest = pending_;
  while (!rest.empty()) {
    size_t valid = detail::validUtf8Prefix(rest);
    text.append(rest.data(), valid);
    rest.remove_prefix(valid);
    if (rest.empty())
      break;
    size_t length = 0;
    if (detail::examineUtf8(rest, length) == detail::Utf8Status::Incomplete)
      break; // wait for the bytes that complete it
    text += "\xEF\xBF\xBD";
    rest.remove_prefix(length);
  }
  pending_ = std::string(rest);
  return text;
}

std::string IncrementalDecoder::flush() {
  std::string text;
  if (!pending_.empty())
    text = "\xEF\xBF\xBD"; // an unfinished sequence is one maximal subpart
  pending_.clear();
  return text;
}

} // namespace dsrt
