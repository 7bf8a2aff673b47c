//===- Regex.cpp - PCRE2 regular expressions for the tokenizer --*- C++ -*-===//
//
// Implements Regex.h on the 8-bit PCRE2 library (Debian's libpcre2-dev).
//
//===----------------------------------------------------------------------===//

#include "text/Regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

namespace dsrt::detail {

namespace {
/// The JIT stack grows to this size; the split patterns of real tokenizers
/// need a few kilobytes, and the limit only guards against runaway patterns.
constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 1024 * 1024;
} // namespace

RegexScratch::RegexScratch() {
  // Only the whole match is read, so one ovector pair is enough.
  matchData_ = pcre2_match_data_create(1, nullptr);
  context_ = pcre2_match_context_create(nullptr);
  jitStack_ = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
  if (context_ && jitStack_)
    pcre2_jit_stack_assign(context_, nullptr, jitStack_);
}

RegexScratch::~RegexScratch() {
  pcre2_jit_stack_free(jitStack_);
  pcre2_match_context_free(context_);
  pcre2_match_data_free(matchData_);
}

Expected<Regex> Regex::compile(std::string_view pattern, bool literal) {
  pcre2_compile_context *context = pcre2_compile_context_create(nullptr);
  if (!context)
    return Expected<Regex>::error("out of memory");
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  // PCRE2_LITERAL admits few other options; UTF keeps matches on
  // character boundaries.
  uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL
                             : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE |
                                   PCRE2_NEVER_BACKSLASH_C;
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code *code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), options, &errorCode, &errorOffset, context);
  pcre2_compile_context_free(context);
  if (!code) {
    PCRE2_UCHAR message[256];
    if (pcre2_get_error_message(errorCode, message, sizeof(message)) < 0)
      message[0] = 0;
    return Expected<Regex>::error(
        "at offset " + std::to_string(errorOffset) + ": " +
        std::string(reinterpret_cast<const char *>(message)));
  }
  // Without JIT (an unsupported CPU, or a hardened kernel refusing executable
  // memory) pcre2_match() interprets the pattern: slower, same results.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.code_ = code;
  return regex;
}

Regex::Regex(Regex &&other) noexcept : code_(other.code_) {
  other.code_ = nullptr;
}

Regex &Regex::operator=(Regex &&other) noexcept {
  if (this != &other) {
    pcre2_code_free(code_);
    code_ = other.code_;
    other.code_ = nullptr;
  }
  return *this;
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::find(std::string_view subject, size_t start, size_t &begin,
                 size_t &end, RegexScratch &scratch, bool &gaveUp) const {
  gaveUp = false;
  if (!scratch.matchData_ || start > subject.size()) {
    gaveUp = !scratch.matchData_;
    return false;
  }
  // The tokenizer validated the text, so PCRE2 need not check it again.
  int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                       subject.size(), start, PCRE2_NO_UTF_CHECK,
                       scratch.matchData_, scratch.context_);
  if (rc < 0) {
    gaveUp = rc != PCRE2_ERROR_NOMATCH;
    return false;
  }
  const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(scratch.matchData_);
  // \K inside a look-ahead can report a match that ends before it starts;
  // such a match splits nothing sensible, so it counts as none.
  if (ovector[0] > ovector[1] || ovector[1] > subject.size())
    return false;
  begin = ovector[0];
  end = ovector[1];
  return true;
}

bool Regex::matchesAtStart(std::string_view subject,
                           RegexScratch &scratch) const {
  if (!scratch.matchData_)
    return false;
  int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                       subject.size(), 0, PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED,
                       scratch.matchData_, scratch.context_);
  return rc >= 0;
}

} // namespace dsrt::detail
