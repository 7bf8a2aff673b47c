//===- Startup.h - where the time to the first token goes ------*- C++ -*-===//
//
// The start-up report of a run: each phase from launch to the first token
// (the process before main, the program's load and verification, the
// checkpoint's shard headers, the manifest check, the weights: read (and
// quantised) into host memory for the cpu, or on GPUs read and uploaded
// (and quantised on the device) at once as the session's `weights
// read+upload` step between driver and context, the GPU image and the
// buffers; then the first prefill, graph capture included) with its time
// and the bytes it moved (README's start-up table).
// --json carries it as "startup", --bench prints it on stderr.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_STARTUP_H
#define DSRT_SRC_CLI_STARTUP_H

#include "dsrt/Session.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::cli {

/// Seconds since the process started (its first static initialisation).
double secondsSinceLaunch();

/// Records a phase of `seconds` that moved `bytes`.
void recordStartup(const std::string &name, double seconds, uint64_t bytes = 0);

/// Records a session's phases, or the whole of its creation (`seconds`)
/// when it reports none; marks the end of start-up before generation.
void recordSession(const Session &session, double seconds);

/// Records the first generated token (only the first call counts).
void recordFirstToken();

/// `"startup": {...}` (a JSON object member): the phases, the first
/// prefill, the time from launch to the first token.
std::string startupJson();

/// --bench: the phases on one line of stderr.
void printStartup();

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_STARTUP_H
