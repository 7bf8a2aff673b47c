//===- WeightLoading.cpp - the weights an executable runs with ------------===//
//
// loadWeights(): dummy, embedded or checkpoint weights; see WeightLoading.h.
//
//===----------------------------------------------------------------------===//

#include "cli/WeightLoading.h"

#include "cli/Fail.h"
#include "cli/Startup.h"

#include "dsrt/Checkpoint.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace dsrt::cli {

namespace {

bool isDirectory(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

} // namespace

dsrt::WeightStore loadWeights(const Options &o, const dsrt::Program &program,
                              const char *argv0) {
  double reading = secondsSinceLaunch();
  if (o.dummyWeights) {
    auto store = dsrt::WeightStore::dummy(program, o.sampling.seed);
    if (!store)
      fail(store.error());
    recordStartup("dummy weights", secondsSinceLaunch() - reading,
                  store.value().totalBytes());
    return store.take();
  }
  if (o.weightsDir.empty()) {
    // Weights appended by `dsc compile --embed-weights` come first.
    auto embedded =
        dsrt::WeightStore::fromExecutable(program, "/proc/self/exe");
    if (!embedded)
      fail(std::string(argv0) + ": " + embedded.error());
    if (embedded.value().numWeights() > 0) {
      recordStartup("embedded weights", secondsSinceLaunch() - reading,
                    embedded.value().totalBytes());
      return embedded.take();
    }
  }
  std::string dir = o.weightsDir;
  if (dir.empty() && program.fb().checkpoint_dir())
    dir = program.fb().checkpoint_dir()->str();
  if (dir.empty())
    fail("no weights: give --weights DIR or --dummy-weights");
  if (!isDirectory(dir))
    fail("weights folder '" + dir +
         "' does not exist (give --weights DIR or --dummy-weights)");
  double opening = secondsSinceLaunch();
  auto checkpoint = dsrt::Checkpoint::open(dir);
  if (!checkpoint)
    fail(checkpoint.error());
  recordStartup("checkpoint headers", secondsSinceLaunch() - opening);
  if (!checkpoint.value().hasWeights())
    fail(dir + ": no safetensors weights in this folder (give --weights DIR "
               "or --dummy-weights)");
  bool tty = isatty(fileno(stderr));
  // Weights compiled with --quantize=fp8 are quantised as they load.
  bool quantizing = false;
  for (const dsrt::fb::Weight *w : *program.fb().weights())
    quantizing = quantizing || w->quantized_at_load();
  const char *what =
      quantizing ? "loading and quantizing weights" : "loading weights";
  auto started = std::chrono::steady_clock::now();
  dsrt::WeightStore::LoadTimes times;
  auto store = dsrt::WeightStore::load(
      program, checkpoint.value(),
      [&](uint64_t done, uint64_t total) {
        if (!tty)
          return;
        double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - started)
                             .count();
        std::fprintf(stderr, "\r%s %5.1f%% (%.0f MB/s)", what,
                     100.0 * done / std::max<uint64_t>(total, 1),
                     seconds > 0 ? done / seconds / 1e6 : 0.0);
      },
      &times);
  if (tty)
    std::fprintf(stderr, "\n");
  if (!store)
    fail(store.error());
  recordStartup("manifest check", times.checkSeconds);
  recordStartup("weights read", times.copySeconds, times.copiedBytes);
  if (times.quantizedBytes > 0)
    recordStartup("weights quantized", times.quantizeSeconds,
                  times.quantizedBytes);
  return store.take();
}

} // namespace dsrt::cli
