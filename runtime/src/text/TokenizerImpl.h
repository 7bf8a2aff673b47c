//===- TokenizerImpl.h - the tables of a Tokenizer --------------*- C++ -*-===//
//
// What a dsrt::Tokenizer holds once built: the vocabulary and merges in flat
// hash tables, the added tokens as byte tries, and the pipeline steps read
// from tokenizer.json. TokenizerLoader.cpp builds these tables;
// Tokenizer.cpp encodes and decodes with them. Internal to the library; not
// installed.
//
// Ownership: a TokenizerImpl owns everything it refers to.
// Threading: immutable once loadTokenizer() returns it; read from any number
// of threads.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_TEXT_TOKENIZERIMPL_H
#define DSRT_SRC_TEXT_TOKENIZERIMPL_H

#include "dsrt/Expected.h"

#include "text/Regex.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsrt::detail {

//===----------------------------------------------------------------------===//
// The byte-level alphabet
//===----------------------------------------------------------------------===//

/// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
/// the other 68 bytes for U+0100.. in byte order, so that every byte has a
/// visible, non-space symbol.
struct ByteAlphabet {
  std::array<uint32_t, 256> byteToChar{};
  std::array<int16_t, 0x144> charToByte{}; // -1: not a byte symbol

  ByteAlphabet() {
    charToByte.fill(-1);
    uint32_t next = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                       (b >= 0xAE && b <= 0xFF);
      byteToChar[b] = printable ? b : next++;
      charToByte[byteToChar[b]] = static_cast<int16_t>(b);
    }
  }
};

inline const ByteAlphabet &byteAlphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

//===----------------------------------------------------------------------===//
// Hash tables
//===----------------------------------------------------------------------===//

/// A hash of `text` that takes eight bytes per step (tokens are short, and
/// loading hashes half a million of them).
inline uint64_t hashText(std::string_view text) {
  auto mix = [](uint64_t hash, uint64_t word) {
    hash = (hash ^ word) * 0xbf58476d1ce4e5b9ULL;
    return hash ^ (hash >> 31);
  };
  uint64_t hash = 0x9e3779b97f4a7c15ULL ^ text.size();
  size_t pos = 0;
  for (; pos + 8 <= text.size(); pos += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + pos, sizeof(word));
    hash = mix(hash, word);
  }
  if (pos < text.size()) {
    uint64_t word = 0;
    for (size_t i = pos; i < text.size(); ++i)
      word = (word << 8) | static_cast<unsigned char>(text[i]);
    hash = mix(hash, word);
  }
  hash *= 0x94d049bb133111ebULL;
  return hash ^ (hash >> 32);
}

/// Many short strings stored back to back (the vocabulary's texts): about a
/// quarter of the memory of one std::string each, which keeps the lookups of
/// loading and encoding in cache.
struct TextArena {
  std::string bytes;
  std::vector<uint32_t> offsets{0}; // text i is [offsets[i], offsets[i + 1])

  size_t size() const { return offsets.size() - 1; }
  std::string_view operator[](size_t i) const {
    return std::string_view(bytes).substr(offsets[i],
                                          offsets[i + 1] - offsets[i]);
  }
  void push_back(std::string_view text) {
    bytes += text;
    offsets.push_back(static_cast<uint32_t>(bytes.size()));
  }
};

/// Indices into a TextArena, found by the text: the vocabulary's text ->
/// entry map, with 8-byte slots and no node or key copy per entry.
class TextIndex {
public:
  /// The index of `text` in `texts`, or -1.
  int32_t find(std::string_view text, const TextArena &texts) const {
    if (slots_.empty())
      return -1;
    auto hash = static_cast<uint32_t>(hashText(text));
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot &slot = slots_[i];
      if (slot.index < 0)
        return -1;
      if (slot.hash == hash && texts[slot.index] == text)
        return slot.index;
    }
  }

  /// Adds texts[index] unless an equal text is there already; returns the
  /// index of that text, or -1 when `index` was added.
  int32_t insert(int32_t index, const TextArena &texts) {
    if ((used_ + 1) * 2 > slots_.size())
      grow();
    std::string_view text = texts[index];
    auto hash = static_cast<uint32_t>(hashText(text));
    size_t i = hash & mask_;
    for (; slots_[i].index >= 0; i = (i + 1) & mask_)
      if (slots_[i].hash == hash && texts[slots_[i].index] == text)
        return slots_[i].index;
    slots_[i] = {hash, index};
    ++used_;
    return -1;
  }

private:
  struct Slot {
    uint32_t hash = 0; // the low half of the text's hash, also its place
    int32_t index = -1;
  };

  void place(uint32_t hash, int32_t index) {
    size_t i = hash & mask_;
    while (slots_[i].index >= 0)
      i = (i + 1) & mask_;
    slots_[i] = {hash, index};
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot());
    mask_ = slots_.size() - 1;
    for (const Slot &slot : old)
      if (slot.index >= 0)
        place(slot.hash, slot.index);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t used_ = 0;
};

/// The merges: (left id, right id) -> (rank, merged id), open addressing.
class MergeTable {
public:
  struct Merge {
    uint32_t rank;
    int32_t merged;
  };

  void reserve(size_t count) {
    size_t capacity = 64;
    while (capacity < count * 2)
      capacity <<= 1;
    slots_.assign(capacity, Slot());
    mask_ = capacity - 1;
    used_ = 0;
  }

  /// Adds or replaces the merge of (left, right): a pair listed twice keeps
  /// its last rank, as in HF and the JavaScript reference.
  void set(int32_t left, int32_t right, Merge merge) {
    if ((used_ + 1) * 2 > slots_.size())
      rehash();
    uint64_t key = keyOf(left, right);
    size_t i = indexOf(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key)
      i = (i + 1) & mask_;
    if (slots_[i].key == kEmpty)
      ++used_;
    slots_[i] = {key, merge};
  }

  const Merge *find(int32_t left, int32_t right) const {
    if (slots_.empty())
      return nullptr;
    uint64_t key = keyOf(left, right);
    for (size_t i = indexOf(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key)
        return &slots_[i].merge;
      if (slots_[i].key == kEmpty)
        return nullptr;
    }
  }

private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{0, 0};
  };

  static uint64_t keyOf(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  size_t indexOf(uint64_t key) const {
    return size_t((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask_;
  }
  void rehash() {
    std::vector<Slot> old = std::move(slots_);
    reserve(std::max<size_t>(32, old.size()));
    for (const Slot &slot : old)
      if (slot.key != kEmpty)
        set(int32_t(slot.key >> 32), int32_t(slot.key & 0xffffffffu),
            slot.merge);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t used_ = 0;
};

//===----------------------------------------------------------------------===//
// The tokenizer's tables
//===----------------------------------------------------------------------===//

enum class SplitBehavior {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};

/// One step of the pre-tokenizer: a Split, or a Digits expressed as one.
struct SplitStep {
  Regex regex;
  SplitBehavior behavior;
  bool invert;
};

/// A Replace normalizer.
struct ReplaceStep {
  Regex regex;
  std::string content;
};

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool singleWord = false;
  bool normalized = true; // HF's default
};

/// The added tokens of one matching pass, as a byte trie.
struct AddedTokenTrie {
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1; // index into TokenizerImpl::addedTokens
  };
  std::vector<Node> nodes{Node()};
  std::array<bool, 256> firstByte{};

  bool empty() const { return nodes.size() == 1; }

  void add(std::string_view key, int32_t token) {
    int32_t node = 0;
    for (char c : key) {
      auto byte = static_cast<unsigned char>(c);
      int32_t child = -1;
      for (auto &edge : nodes[node].children)
        if (edge.first == byte)
          child = edge.second;
      if (child < 0) {
        child = static_cast<int32_t>(nodes.size());
        nodes[node].children.push_back({byte, child});
        nodes.push_back(Node());
      }
      node = child;
    }
    if (nodes[node].token < 0) // the first of equal keys wins
      nodes[node].token = token;
    firstByte[static_cast<unsigned char>(key[0])] = true;
  }

  /// The longest key at the start of `text`: its length (0: none).
  size_t longestMatch(std::string_view text, int32_t &token) const {
    size_t best = 0;
    int32_t node = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      auto byte = static_cast<unsigned char>(text[i]);
      int32_t child = -1;
      for (auto &edge : nodes[node].children)
        if (edge.first == byte) {
          child = edge.second;
          break;
        }
      if (child < 0)
        break;
      node = child;
      if (nodes[node].token >= 0) {
        best = i + 1;
        token = nodes[node].token;
      }
    }
    return best;
  }
};

/// Everything a Tokenizer holds. Immutable once built.
struct TokenizerImpl {
  // Vocabulary: entry i is vocab[i] with id vocabIds[i]; vocabTexts holds
  // the same texts as strings for Tokenizer::tokenText().
  TextArena vocab;
  std::vector<int32_t> vocabIds;
  TextIndex vocabIndex;
  std::vector<std::string> vocabTexts;

  std::vector<AddedToken> addedTokens;
  std::unordered_map<std::string, int32_t> addedByContent; // -> id
  AddedTokenTrie rawTrie;        // normalized == false
  AddedTokenTrie normalizedTrie; // normalized == true, normalized keys

  // Per id (size vocabSize): where its text lives, and its decoded bytes.
  struct IdInfo {
    int32_t vocabEntry = -1;
    int32_t addedToken = -1;
  };
  std::vector<IdInfo> ids;
  std::string decodedBytes;
  std::vector<uint32_t> decodedOffsets; // size vocabSize + 1

  // Pipeline.
  std::vector<ReplaceStep> normalizer;
  std::vector<SplitStep> splits;
  bool byteLevel = false;
  bool addPrefixSpace = false;
  std::optional<Regex> byteLevelRegex; // set when use_regex
  std::optional<Regex> wordChar;       // set when a token is single_word

  // BPE model.
  MergeTable merges;
  std::array<int32_t, 256> byteSymbolId{}; // -1: not in the vocabulary
  bool ignoreMerges = false;
  bool byteFallback = false;
  bool fuseUnk = false;
  int32_t unkId = -1;
  std::array<int32_t, 256> byteFallbackId{}; // ids of "<0xXX>", or -1

  int32_t vocabLookup(std::string_view text) const {
    int32_t entry = vocabIndex.find(text, vocab);
    return entry < 0 ? -1 : vocabIds[entry];
  }
};

/// Builds the tables `tokenizerJson` describes. Errors read
/// "<field>: <what>"; the caller adds the file name.
Expected<std::unique_ptr<TokenizerImpl>>
loadTokenizer(std::string_view tokenizerJson);

/// Normalizes `text` (valid UTF-8) with the normalizer steps of `impl`.
std::string applyNormalizer(const TokenizerImpl &impl, std::string_view text,
                            RegexScratch &scratch);

} // namespace dsrt::detail

#endif // DSRT_SRC_TEXT_TOKENIZERIMPL_H
