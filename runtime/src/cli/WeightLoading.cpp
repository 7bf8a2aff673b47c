//===- WeightLoading.cpp - the weights and the session of a run -----------===//
//
// startSession(): dummy, embedded or checkpoint weights, then the session;
// see WeightLoading.h. The progress line is redrawn at most ten times a
// second.
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

/// "reading weights 12.3 of 31.4 GB (8.2 GB/s)" on one redrawn line of
/// stderr.
class ProgressLine {
public:
  explicit ProgressLine(const char *what) : what_(what) {}
  ~ProgressLine() {
    if (drawn_)
      std::fprintf(stderr, "\n");
  }

  void operator()(uint64_t done, uint64_t total) {
    auto now = Clock::now();
    if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    drawn_ = true;
    double seconds = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r%s %.2f of %.2f GB (%.2f GB/s)   ", what_,
                 done / 1e9, total / 1e9,
                 seconds > 0 ? done / seconds / 1e9 : 0.0);
    std::fflush(stderr);
  }

private:
  using Clock = std::chrono::steady_clock;
  const char *what_;
  Clock::time_point start_ = Clock::now(), last_;
  bool drawn_ = false;
};

/// A progress callback drawing `line`, or none when stderr is not a
/// terminal or the output is --json.
LoadProgress progressOn(const Options &o, std::unique_ptr<ProgressLine> &line,
                        const char *what) {
  if (o.json || !isatty(fileno(stderr)))
    return {};
  line = std::make_unique<ProgressLine>(what);
  ProgressLine *draw = line.get();
  return [draw](uint64_t done, uint64_t total) { (*draw)(done, total); };
}

/// Opens the checkpoint folder of the run (--weights, else the one the
/// program was compiled from).
std::unique_ptr<Checkpoint> openCheckpoint(const Options &o,
                                           const Program &program) {
  std::string dir = o.weightsDir;
  if (dir.empty() && program.fb().checkpoint_dir())
    dir = program.fb().checkpoint_dir()->str();
  if (dir.empty())
    fail("no weights: give --weights DIR or --dummy-weights");
  if (!isDirectory(dir))
    fail("weights folder '" + dir +
         "' does not exist (give --weights DIR or --dummy-weights)");
  double opening = secondsSinceLaunch();
  auto checkpoint = Checkpoint::open(dir);
  if (!checkpoint)
    fail(checkpoint.error());
  recordStartup("checkpoint headers", secondsSinceLaunch() - opening);
  if (!checkpoint.value().hasWeights())
    fail(dir + ": no safetensors weights in this folder (give --weights DIR "
               "or --dummy-weights)");
  return std::make_unique<Checkpoint>(checkpoint.take());
}

} // namespace

StartedSession startSession(const Options &o, const Program &program,
                            SessionOptions sessionOptions, const char *argv0) {
  StartedSession run;
  double reading = secondsSinceLaunch();
  if (o.dummyWeights) {
    auto store = WeightStore::dummy(program, o.sampling.seed);
    if (!store)
      fail(store.error());
    recordStartup("dummy weights", secondsSinceLaunch() - reading,
                  store.value().totalBytes());
    run.store = std::make_unique<WeightStore>(store.take());
  } else if (o.weightsDir.empty()) {
    // Weights appended by `dsc compile --embed-weights` come first.
    auto embedded = WeightStore::fromExecutable(program, "/proc/self/exe");
    if (!embedded)
      fail(std::string(argv0) + ": " + embedded.error());
    if (embedded.value().numWeights() > 0) {
      recordStartup("embedded weights", secondsSinceLaunch() - reading,
                    embedded.value().totalBytes());
      run.store = std::make_unique<WeightStore>(embedded.take());
    }
  }
  bool quantizing = false;
  for (const fb::Weight *w : *program.fb().weights())
    quantizing = quantizing || w->quantized_at_load();
  std::unique_ptr<ProgressLine> line;
  if (!run.store) {
    run.checkpoint = openCheckpoint(o, program);
    double checking = secondsSinceLaunch();
    auto source = WeightSource::fromCheckpoint(program, *run.checkpoint);
    if (!source)
      fail(source.error());
    recordStartup("manifest check", secondsSinceLaunch() - checking);
    run.source = std::make_unique<WeightSource>(source.take());
    // The cpu kernels and the host twins of --check-kernels read host
    // weights; GPU sessions take the checkpoint as it is.
    bool host =
        program.fb().target()->str() == "cpu" || sessionOptions.checkKernels;
    if (host) {
      WeightStore::LoadTimes times;
      WeightStore::LoadOptions load;
      load.progress = progressOn(o, line,
                                 quantizing ? "reading and quantizing weights"
                                            : "reading weights");
      auto store = WeightStore::load(*run.source, load, &times);
      line.reset();
      if (!store)
        fail(store.error());
      recordStartup(quantizing ? "weights read+quantize" : "weights read",
                    times.readSeconds, times.readBytes);
      run.store = std::make_unique<WeightStore>(store.take());
    }
  }
  if (run.store)
    run.source = std::make_unique<WeightSource>(
        WeightSource::fromStore(program, *run.store));
  // GPU sessions read (from a checkpoint) and upload as they go.
  sessionOptions.loadProgress =
      progressOn(o, line,
                 run.store    ? "uploading weights"
                 : quantizing ? "reading, quantizing and uploading weights"
                              : "reading and uploading weights");
  double creating = secondsSinceLaunch();
  auto created = Session::create(program, *run.source, sessionOptions);
  line.reset();
  if (!created)
    fail(std::string(argv0) + ": " + created.error());
  run.session = created.take();
  recordSession(*run.session, secondsSinceLaunch() - creating);
  return run;
}

} // namespace dsrt::cli
