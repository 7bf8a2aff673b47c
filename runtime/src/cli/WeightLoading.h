//===- WeightLoading.h - the weights an executable runs with ----*- C++ -*-===//
//
// Where a dsc executable's weights come from, in order: random weights of
// the compiled shapes (--dummy-weights), --weights DIR, weights appended to
// the executable (dsc compile --embed-weights), the checkpoint folder it was
// compiled from. Loading shows its progress on a terminal.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_WEIGHTLOADING_H
#define DSRT_SRC_CLI_WEIGHTLOADING_H

#include "cli/Options.h"

#include "dsrt/Program.h"
#include "dsrt/Weights.h"

namespace dsrt::cli {

/// The weights of `program` as `options` ask; fails (exit 1) when there are
/// none or they do not match the program.
WeightStore loadWeights(const Options &options, const Program &program,
                        const char *argv0);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_WEIGHTLOADING_H
