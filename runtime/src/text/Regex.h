//===- Regex.h - PCRE2 regular expressions for the tokenizer ----*- C++ -*-===//
//
// The split patterns of a tokenizer.json (\p{L}, \p{N}, look-ahead, ...) were
// written for Oniguruma, the engine behind HuggingFace tokenizers. PCRE2 reads
// the same syntax; this wrapper compiles a pattern once in the mode closest to
// Oniguruma's defaults (UTF, Unicode properties for \s \w \d, ^ and $ at line
// boundaries, LF as the newline) and JIT-compiles it when the platform allows.
// Internal to the library; not installed.
//
// Ownership: a Regex owns its compiled code; RegexScratch owns the per-search
// buffers (match data, JIT stack).
// Threading: a compiled Regex is read-only and may be searched from several
// threads at once, each with its own RegexScratch.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_TEXT_REGEX_H
#define DSRT_SRC_TEXT_REGEX_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <string_view>

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;
struct pcre2_real_match_context_8;
struct pcre2_real_jit_stack_8;

namespace dsrt::detail {

/// The buffers one thread needs to search any Regex.
class RegexScratch {
public:
  RegexScratch();
  ~RegexScratch();
  RegexScratch(const RegexScratch &) = delete;
  RegexScratch &operator=(const RegexScratch &) = delete;

private:
  friend class Regex;
  pcre2_real_match_data_8 *matchData_ = nullptr;
  pcre2_real_match_context_8 *context_ = nullptr;
  pcre2_real_jit_stack_8 *jitStack_ = nullptr;
};

class Regex {
public:
  /// Compiles `pattern`; with `literal`, the pattern is a plain string to
  /// find. The error names the offset in the pattern and PCRE2's reason.
  static Expected<Regex> compile(std::string_view pattern, bool literal);

  Regex(Regex &&other) noexcept;
  Regex &operator=(Regex &&other) noexcept;
  Regex(const Regex &) = delete;
  Regex &operator=(const Regex &) = delete;
  ~Regex();

  /// Finds the leftmost match in `subject` at or after byte `start` (a
  /// character boundary) and sets [begin, end). `subject` must be valid
  /// UTF-8. Returns false when there is no match, and also when PCRE2 gives
  /// up (its match or heap limit); then `gaveUp` is set.
  bool find(std::string_view subject, size_t start, size_t &begin, size_t &end,
            RegexScratch &scratch, bool &gaveUp) const;

  /// Whether the whole of `subject` (valid UTF-8) starts with a match.
  bool matchesAtStart(std::string_view subject, RegexScratch &scratch) const;

private:
  Regex() = default;
  pcre2_real_code_8 *code_ = nullptr;
};

} // namespace dsrt::detail

#endif // DSRT_SRC_TEXT_REGEX_H
