//===- make_program_seeds.cpp - write the program fuzz seeds ----*- C++ -*-===//
//
// Writes the seed files of fuzz/corpus/program: small valid programs (each
// under 4 KB) built with test/ProgramBuilder.h, covering every argument
// kind, static and token kernels, expert stacks in bf16 and fp8 with scales,
// every dtype, kernel outputs, host twins, kernel costs and device ceilings,
// and a tokenizer blob. The files are committed, so this only needs
// re-running when the seeds or the schema change:
//
//   dsrt-make-program-seeds runtime/fuzz/corpus/program
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace dsrt;
using namespace dsrt::test;

namespace {

bool writeSeed(const std::string &dir, const std::string &name,
               const ProgramBuilder &builder) {
  std::vector<uint8_t> bytes = builder.build();
  Expected<Program> program = Program::load(bytes.data(), bytes.size(), name);
  if (!program) {
    std::fprintf(stderr, "%s\n", program.error().c_str());
    return false;
  }
  std::string path = dir + "/" + name;
  std::FILE *f = std::fopen(path.c_str(), "wb");
  bool ok = f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = f && std::fclose(f) == 0 && ok;
  if (!ok)
    std::fprintf(stderr, "%s: cannot write\n", path.c_str());
  return ok;
}

/// Every dtype and expert stacks (one quantized at load), launched from
/// both entry points.
ProgramBuilder moeProgram() {
  ProgramBuilder b;
  b.weights.push_back({"norm", "model.norm.weight", fb::DType::F32, {16}});
  b.weights.push_back({"gate",
                       "model.layers.1.mlp.experts.{e}.gate_proj.weight",
                       fb::DType::BF16,
                       {4, 8, 16},
                       "",
                       {},
                       4});
  b.weights.push_back(
      {"down",
       "model.layers.1.mlp.experts.{e}.down_proj.weight",
       fb::DType::F8_E4M3,
       {4, 16, 8},
       "model.layers.1.mlp.experts.{e}.down_proj.weight_scale_inv",
       {4, 1, 1},
       4});
  b.weights.back().scaleBlockRows = 16; // blocks recorded (schema 3)
  b.weights.back().scaleBlockCols = 8;
  b.weights.push_back({"ids", "model.layers.1.mlp.ids", fb::DType::I32, {4}});
  // --quantize=fp8: bf16 in the checkpoint, fp8 after the load.
  b.weights.push_back({"up",
                       "model.layers.1.mlp.experts.{e}.up_proj.weight",
                       fb::DType::F8_E4M3,
                       {4, 8, 16},
                       "",
                       {4, 1, 2},
                       4});
  b.weights.back().scaleBlockRows = 8;
  b.weights.back().scaleBlockCols = 8;
  b.weights.back().quantizedAtLoad = true;
  b.kernels.push_back({"moe", fb::ParallelDim::Static, 4});
  b.kernels.push_back({"heads", fb::ParallelDim::TokensTimesStatic, 4});
  LaunchSpec moe{4,
                 {arenaArg(64), weightArg(2), weightArg(3), weightArg(4),
                  scalesArg(4), weightArg(5), arenaArg(128), weightArg(6),
                  scalesArg(6)}};
  LaunchSpec heads{
      5,
      {arenaArg(64), cacheArg(12), positionsArg(), slotsArg(), arenaArg(256)}};
  for (const char *entry : {"prefill", "decode"}) {
    b.entry(entry).launches.push_back(moe);
    b.entry(entry).launches.push_back(heads);
  }
  // What kernels write, and a --check-kernels build's host twins.
  b.kernels[0].outputs = {{2, fb::DType::BF16, 16}};
  b.kernels[4].outputs = {{6, fb::DType::F32, 4}, {6, fb::DType::I32, 2}};
  b.hostTwins = b.kernels;
  b.hostTwins[5].parallel = fb::ParallelDim::Tokens;
  return b;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  bool ok = writeSeed(dir, "minimal.dscp", ProgramBuilder());

  ok = writeSeed(dir, "moe.dscp", moeProgram()) && ok;

  ProgramBuilder tokenizer;
  tokenizer.model.family = "deepseek_v2";
  tokenizer.tokenizer = {'t', 'o', 'k', 0, 1, 2, 3, 255};
  tokenizer.cache = {1, 4, 2, 1, 8};
  tokenizer.entry("prefill").launches[1].args = {arenaArg(0), cacheArg(0),
                                                 cacheArg(95)};
  tokenizer.entry("decode").launches[1].args = {arenaArg(0), cacheArg(0),
                                                cacheArg(95)};
  ok = writeSeed(dir, "tokenizer-small-cache.dscp", tokenizer) && ok;

  // Boundaries: logits end exactly at the arena's end, the last arena and
  // cache bytes are arguments, and decode launches nothing.
  ProgramBuilder edges;
  edges.entry("decode").launches.clear();
  edges.entry("decode").logitsOffset = 1024 - 2 * 32 * 4;
  edges.entry("prefill").launches[2].args.push_back(arenaArg(1023));
  edges.entry("prefill").launches[1].args.push_back(cacheArg(767));
  // The last launch on the last stream, waiting for the two before it.
  edges.entry("prefill").launches[2].stream = kMaxLaunchStreams - 1;
  edges.entry("prefill").launches[2].waits = {0, 1};
  ok = writeSeed(dir, "edges.dscp", edges) && ok;

  // Launch shapes: a 3-D block over a static extent, a fixed grid of
  // clusters with more than the default dynamic shared memory, and a kernel
  // without one.
  ProgramBuilder launches;
  launches.kernels[2].launch = KernelSpec::Launch{{{8, 2, 2}}};
  launches.kernels[1].launch = KernelSpec::Launch{
      {{64, 2, 1}}, fb::GridRule::Fixed, {{4, 2, 1}}, 100 * 1024};
  launches.kernels[1].launch->cluster = 2; // clusters of 2 blocks along x
  launches.kernels[0].launch = KernelSpec::Launch{};
  ok = writeSeed(dir, "launch-shapes.dscp", launches) && ok;

  // Costs and ceilings: the MoE program with a cost on a linear, an expert
  // kernel and an attention kernel, and an H200's ceilings.
  ProgramBuilder costs = moeProgram();
  KernelSpec::Cost linear;
  linear.bytesFixed = 2048;
  linear.bytesPerRow = 128;
  linear.flopsPerRow = 2048;
  costs.kernels[1].cost = linear;
  KernelSpec::Cost experts;
  experts.bytesPerRow = 264;
  experts.bytesPerExpert = 4104;
  experts.experts = 4;
  experts.expertsPerRow = 2;
  experts.flopsPerRow = 16384;
  experts.fp8 = true;
  costs.kernels[4].cost = experts;
  KernelSpec::Cost attention;
  attention.bytesPerRow = 296;
  attention.bytesPerContext = 80;
  attention.flopsPerContext = 288;
  costs.kernels[5].cost = attention;
  costs.hostTwins.clear();
  costs.device = DeviceSpec{};
  ok = writeSeed(dir, "costs.dscp", costs) && ok;
  return ok ? 0 : 1;
}
