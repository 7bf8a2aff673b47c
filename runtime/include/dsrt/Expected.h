//===- Expected.h - result types of the dsrt API ----------------*- C++ -*-===//
//
// Expected<T> holds either a value or an error message, and Status holds either
// success or an error message. Every fallible function of libdsrt returns one
// of them: the library never throws across its API, so callers built with or
// without exceptions see the same behaviour.
//
// Ownership: an Expected owns its value; take() moves it out.
// Threading: these are plain values with no shared state; distinct objects may
// be used from distinct threads freely.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_EXPECTED_H
#define DSRT_EXPECTED_H

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace dsrt {

namespace detail {
/// Reports a value() / take() on an error result. Reading a value that is not
/// there is a bug in the caller, so this stops the program instead of returning
/// garbage.
[[noreturn]] inline void abortOnMissingValue(const std::string &error) {
  std::fprintf(stderr, "dsrt: value of a failed result was read; error: %s\n",
               error.c_str());
  std::abort();
}
} // namespace detail

/// A value of type T or an error message. Construct a success implicitly from
/// a T, a failure with Expected<T>::error("message").
template <class T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}

  static Expected error(std::string message) {
    return Expected(ErrorTag{}, std::move(message));
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  /// The value; the result must be ok().
  T &value() {
    if (!ok())
      detail::abortOnMissingValue(error_);
    return *value_;
  }
  const T &value() const {
    if (!ok())
      detail::abortOnMissingValue(error_);
    return *value_;
  }

  /// Moves the value out; the result must be ok().
  T &&take() { return std::move(value()); }

  /// The error message; empty when ok().
  const std::string &error() const { return error_; }

private:
  struct ErrorTag {};
  Expected(ErrorTag, std::string message) : error_(std::move(message)) {
    if (error_.empty())
      error_ = "unknown error";
  }

  std::optional<T> value_;
  std::string error_;
};

/// Success, or an error message: the Expected of a function with no value.
class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  static Status error(std::string message) {
    Status status;
    status.error_ = message.empty() ? "unknown error" : std::move(message);
    return status;
  }

  bool ok() const { return error_.empty(); }
  explicit operator bool() const { return ok(); }

  /// The error message; empty when ok().
  const std::string &error() const { return error_; }

private:
  Status() = default;
  std::string error_;
};

} // namespace dsrt

#endif // DSRT_EXPECTED_H
