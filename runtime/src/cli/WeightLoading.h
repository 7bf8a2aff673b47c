//===- WeightLoading.h - the weights and the session of a run ---*- C++ -*-===//
//
// Where a dsc executable's weights come from, in order: random weights of
// the compiled shapes (--dummy-weights), --weights DIR, weights appended to
// the executable (dsc compile --embed-weights), the checkpoint folder it was
// compiled from; and the session that runs on them. A GPU session streams
// checkpoint weights to the device itself (no host copy); the cpu session
// and --check-kernels read them into host memory first. A terminal shows
// the load's progress (bytes and GB/s) on stderr, unless --json.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_WEIGHTLOADING_H
#define DSRT_SRC_CLI_WEIGHTLOADING_H

#include "cli/Options.h"

#include "dsrt/Program.h"
#include "dsrt/Session.h"
#include "dsrt/WeightSource.h"
#include "dsrt/Weights.h"

#include <memory>

namespace dsrt::cli {

/// A run's weights and its session (declared last: destroyed first, before
/// the weights it may read).
struct StartedSession {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<WeightStore> store;   // dummy, embedded or host-loaded
  std::unique_ptr<WeightSource> source; // of checkpoint or store
  std::unique_ptr<Session> session;
};

/// Loads the weights of `program` as `options` ask and creates the session
/// with `sessionOptions`, recording the start-up phases; fails (exit 1)
/// when there are no weights, they do not match the program, or the
/// session cannot start.
StartedSession startSession(const Options &options, const Program &program,
                            SessionOptions sessionOptions, const char *argv0);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_WEIGHTLOADING_H
