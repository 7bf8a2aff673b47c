//===- Fail.h - how the command line reports an error -----------*- C++ -*-===//
//
// Every failure of a dsc executable's command line is one "error: ..." line
// on stderr and exit status 1; nothing is printed to stdout before the whole
// generation succeeded, so a failure never leaves a partial result.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_FAIL_H
#define DSRT_SRC_CLI_FAIL_H

#include <cstdio>
#include <cstdlib>
#include <string>

namespace dsrt::cli {

/// Prints "error: `message`" on stderr and exits with status 1.
[[noreturn]] inline void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_FAIL_H
