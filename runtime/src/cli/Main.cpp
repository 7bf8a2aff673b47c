//===- Main.cpp - the command line of a dsc executable --------------------===//
//
// main() of every executable dsc builds. The compiler links it with an
// object that defines the program (dsc_program_data/size) and the host
// kernel table (dsc_kernel_table/count). It loads and verifies the program,
// parses the command line (Options.cpp), and hands over to token-id mode
// (BatchGeneration.cpp: prefill and batched decode, the generated token ids
// one line per prompt, or JSON, logits (.npy) and throughput as asked) or to
// text mode (TextGeneration.cpp: the chat format, streamed).
//
// Every failure is one "error: ..." line on stderr and exit status 1;
// nothing is printed to stdout before the whole generation succeeded.
//
//===----------------------------------------------------------------------===//

#include "cli/Fail.h"
#include "cli/Generation.h"
#include "cli/Options.h"
#include "cli/Startup.h"
#include "server/Server.h"

#include "dsrt/CpuDevice.h"
#include "dsrt/Program.h"
#include "dsrt/Session.h"

#include <cstdint>
#include <string>

extern "C" {
extern const uint8_t dsc_program_data[];
extern const uint64_t dsc_program_size;
extern const dsrt::HostKernel dsc_kernel_table[];
extern const uint64_t dsc_kernel_count;
}

int main(int argc, char **argv) {
  using namespace dsrt::cli;
  double started = secondsSinceLaunch();
  recordStartup("process", started);
  auto program = dsrt::Program::load(dsc_program_data, dsc_program_size,
                                     std::string(argv[0]));
  if (!program)
    fail(program.error());
  recordStartup("program", secondsSinceLaunch() - started, dsc_program_size);
  const dsrt::Program &p = program.value();
  dsrt::SessionOptions sessionOptions;
  sessionOptions.hostKernels = dsc_kernel_table;
  sessionOptions.numHostKernels = dsc_kernel_count;
  if (argc >= 2 && std::string(argv[1]) == "serve")
    return dsrt::server::runServer(argc, argv, p, sessionOptions);
  Options o = parseOptions(argc, argv, p);
  sessionOptions.threads = o.threads;
  sessionOptions.cachePages = o.cachePages;
  sessionOptions.hostKernels = dsc_kernel_table;
  sessionOptions.numHostKernels = dsc_kernel_count;
  if (o.haveText || o.chat)
    return runText(o, p, sessionOptions, argv[0]);
  if (!o.sweep.empty())
    return runBenchSweep(o, p, sessionOptions, argv[0]);
  return runTokenIds(o, p, sessionOptions, argv[0]);
}
