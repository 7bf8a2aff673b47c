//===- dsc.cpp - the dsc command-line driver -----------------------------===//
//
// `dsc info CKPT` summarises a model; `dsc compile CKPT --emit=STAGE -o OUT`
// runs the pipeline up to STAGE and writes it; `dsc inspect-program FILE`
// lists what a compiled program (raw, or inside an executable) holds. Every
// failure ends with one "dsc: error: ..." line on stderr and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "ProgramInspector.h"
#include "dsc/Compiler/Passes.h"
#include "dsc/Compiler/Pipelines.h"
#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"
#include "dsc/Frontend/CheckpointCheck.h"
#include "dsc/Frontend/ModelConfig.h"
#include "dsc/Frontend/ModelImporter.h"
#include "dsc/Frontend/ModelWeights.h"
#include "dsc/Frontend/ParallelPlan.h"
#include "dsc/Target/CudaKernels.h"
#include "dsc/Target/Executable.h"
#include "dsc/Target/TargetDescription.h"
#include "dsrt/Checkpoint.h"
#include "dsrt/Json.h"
#include "dsrt/Program.h"
#include "dsrt/Tokenizer.h"
#include "dsrt/Weights.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <optional>

using namespace llvm;

namespace {

cl::SubCommand infoCommand("info", "Summarise a model: shapes, routing, "
                                   "parameters, bytes per token");
cl::SubCommand compileCommand("compile", "Compile a checkpoint");
cl::SubCommand inspectCommand(
    "inspect-program",
    "List a compiled program: header, weights, kernels, launches, buffers");

cl::opt<std::string> infoPath(cl::Positional, cl::Required,
                              cl::desc("<checkpoint folder or config.json>"),
                              cl::sub(infoCommand));
cl::opt<bool> infoJson("json", cl::desc("Print the summary as JSON"),
                       cl::sub(infoCommand));
cl::opt<int64_t> infoGpus(
    "gpus",
    cl::desc("Also plan the model over N GPUs: weights and cache per GPU, "
             "the batch-1 floor on the busiest GPU and the collectives per "
             "token, with tensor- and data-parallel attention (experts "
             "spread over all N), and the layout to use"),
    cl::value_desc("N"), cl::init(0), cl::sub(infoCommand));
cl::opt<std::string> infoDevice(
    "device",
    cl::desc("With --gpus: the GPU model (h200, h100, a100, l40s; default "
             "h200)"),
    cl::value_desc("name"), cl::init("h200"), cl::sub(infoCommand));

cl::opt<std::string> quantizeName(
    "quantize",
    cl::desc("Weights of the compiled model: none (default: as the "
             "checkpoint stores them) or fp8 (linear weights as fp8 e4m3 with "
             "128x128 f32 block scales, quantized from bf16 when the weights "
             "load, docs/model.md 5.4; a no-op on fp8 checkpoints)"),
    cl::value_desc("none|fp8"), cl::init("none"), cl::sub(infoCommand),
    cl::sub(compileCommand));

cl::opt<std::string> compilePath(cl::Positional, cl::Required,
                                 cl::desc("<checkpoint folder or config.json>"),
                                 cl::sub(compileCommand));
cl::opt<std::string>
    inspectPath(cl::Positional, cl::Required,
                cl::desc("<program (--emit=program) or dsc executable>"),
                cl::sub(inspectCommand));
cl::opt<bool> inspectJson("json", cl::desc("Print the program as JSON"),
                          cl::sub(inspectCommand));

enum class EmitStage {
  DS,
  DSOpt,
  Schedule,
  Kernels,
  PTX,
  Program,
  ProgramJson,
  Exe
};
cl::opt<EmitStage> emitStage(
    "emit", cl::desc("The stage to stop at and write (default: exe)"),
    cl::values(
        clEnumValN(EmitStage::DS, "ds", "model-level ds dialect, as imported"),
        clEnumValN(EmitStage::DSOpt, "ds-opt",
                   "kernel-level ds (absorbed decode attention, decomposed)"),
        clEnumValN(EmitStage::Schedule, "schedule",
                   "planned buffers, generated kernels and ordered launches"),
        clEnumValN(EmitStage::Kernels, "kernels",
                   "the generated kernels (scf/arith/llvm IR)"),
        clEnumValN(EmitStage::PTX, "ptx", "the kernels as PTX (cuda targets)"),
        clEnumValN(EmitStage::Program, "program",
                   "the serialized FlatBuffer program (binary)"),
        clEnumValN(EmitStage::ProgramJson, "program-json",
                   "the program as JSON (what inspect-program --json "
                   "prints)"),
        clEnumValN(EmitStage::Exe, "exe", "a standalone executable")),
    cl::init(EmitStage::Exe), cl::sub(compileCommand));
cl::opt<std::string> outputPath("o",
                                cl::desc("Output file ('-' for stdout; "
                                         "required for exe)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::sub(compileCommand));
cl::opt<std::string> targetName(
    "target",
    cl::desc("Target: cpu (default), cuda:sm_90a (H100/H200), cuda:sm_89, "
             "cuda:sm_80"),
    cl::init("cpu"), cl::sub(compileCommand));
cl::opt<std::string> gpuName(
    "gpu",
    cl::desc("cuda targets: the GPU model kernels are sized for (h200, h100, "
             "a100, l40s; default: h200 for sm_90a, l40s for sm_89, a100 "
             "for sm_80)"),
    cl::value_desc("name"), cl::init(""), cl::sub(compileCommand));
cl::opt<std::string> cudaPath(
    "cuda-path",
    cl::desc("CUDA toolkit for ptxas and libdevice (default: $CUDA_HOME, "
             "ptxas on PATH, /usr/local/cuda)"),
    cl::value_desc("dir"), cl::sub(compileCommand));
cl::opt<bool> noPtxas("no-ptxas",
                      cl::desc("Embed PTX (compiled by the driver at load) "
                               "even when ptxas is found"),
                      cl::sub(compileCommand));
cl::opt<bool> checkKernels(
    "check-kernels",
    cl::desc("cuda targets: also compile every kernel's generic host "
             "lowering into the executable, whose --check-kernels flag then "
             "compares each GPU launch with it"),
    cl::sub(compileCommand));
cl::opt<std::string> hostCpu("cpu",
                             cl::desc("Host CPU the cpu target tunes for: "
                                      "native (default) or an LLVM CPU name "
                                      "such as x86-64-v3"),
                             cl::init("native"), cl::sub(compileCommand));
cl::opt<int64_t> maxSeqLen("max-seq-len",
                           cl::desc("Positions per sequence (default 4096)"),
                           cl::init(4096), cl::sub(compileCommand));
cl::opt<int64_t> pageSize(
    "page-size",
    cl::desc("Positions per KV cache page; divides --max-seq-len (default: "
             "64, or the largest divisor of --max-seq-len below 64)"),
    cl::init(0), cl::sub(compileCommand));
cl::opt<int64_t> maxBatch("max-batch",
                          cl::desc("Sequences at once (default 8)"),
                          cl::init(8), cl::sub(compileCommand));
cl::opt<int64_t> prefillChunk("prefill-chunk",
                              cl::desc("Tokens per prefill call (default 256)"),
                              cl::init(256), cl::sub(compileCommand));
cl::opt<int64_t> attentionSplits(
    "attention-splits",
    cl::desc("Most shares decode attention splits a sequence's positions "
             "over (default 0: the GPU's SM count over the head groups; "
             "on the cpu target, N > 0 splits it too, to test the split)"),
    cl::init(0), cl::sub(compileCommand));
cl::opt<int64_t> streams(
    "streams",
    cl::desc("Streams a chunk's launches may run on, so that independent "
             "kernels overlap (default 0: 4 on cuda targets; the cpu target "
             "runs one list)"),
    cl::init(0), cl::sub(compileCommand));
cl::opt<bool> noTensorCores(
    "no-tensor-cores",
    cl::desc("Leave the tensor-core kernel strategies out (CUDA cores only), "
             "to compare with them"),
    cl::init(false), cl::sub(compileCommand));
cl::opt<cl::boolOrDefault> tileMma(
    "tile-mma",
    cl::desc("Decode's products (linear, gated linear, lm_head) of 9 rows or "
             "more on tensor cores, 8 output features and 16 rows per block "
             "(tile_mma); fewer rows run the CUDA-core kernels (default: on "
             "for cuda targets with mma.sync: +16% at batch 16, +39% at 64 "
             "with the expert grouping, docs/performance.md)"),
    cl::sub(compileCommand));
cl::opt<cl::boolOrDefault> tileMmaPrefill(
    "tile-mma-prefill",
    cl::desc("With --tile-mma, prefill's products on tensor cores too "
             "(default: as --tile-mma)"),
    cl::sub(compileCommand));
cl::opt<int64_t> rowGroup(
    "row-group",
    cl::desc("cuda targets: input rows a warp of a matrix product (linear, "
             "gated linear, lm_head) serves with each weight row it reads, "
             "so a batch of B reads the weights B / N times instead of B; "
             "halved where the rows do not fit a block's shared memory; the "
             "logits are the same bit for bit (default 0: 4 for bf16 "
             "weights, 1 for fp8 weights, as measured on the H200, "
             "docs/performance.md; 1: a warp per row)"),
    cl::init(0), cl::sub(compileCommand));
cl::opt<int64_t> expertRowGroup(
    "expert-row-group",
    cl::desc("cuda targets: choices of one expert a warp of the routed "
             "experts' up projection serves with each weight row it reads "
             "(launches of up to 16 tokens keep a warp per choice); the "
             "logits are the same bit for bit (default 0: 4, as measured on "
             "the H200, docs/performance.md; 1: a warp per choice)"),
    cl::init(0), cl::sub(compileCommand));
cl::opt<cl::boolOrDefault> fuseNorms(
    "fuse-norms",
    cl::desc("Fold decode's RMSNorms into the products that read them "
             "(ds-fuse-norms; default: on for CUDA targets with bf16 linear "
             "weights, where a product normalises its row once per block "
             "and it measured faster; off for fp8 weights, where it measured "
             "slower, and for the CPU, where a product would normalise its "
             "row once per output)"),
    cl::sub(compileCommand));
cl::opt<bool> fuseRouter(
    "fuse-router",
    cl::desc("Compute each MoE layer's router logits and expert choice in "
             "one kernel (ds-fuse-router; default: off: on an H200 with "
             "programmatic dependent launch it measured level at batch 1 "
             "and slower at 4K context and for V3's router, "
             "docs/performance.md, ninth session)"),
    cl::init(false), cl::sub(compileCommand));
cl::opt<bool> fuseAttentionCombine(
    "fuse-attention-combine",
    cl::desc("Merge a decode step's attention shares in the value product "
             "instead of a kernel of their own (ds-fuse-attention-combine; "
             "default: off: on an H200 the same logits, level at batch 1, "
             "faster at 4K context, slower at batch 4 and in fp8, "
             "docs/performance.md, tenth session)"),
    cl::init(false), cl::sub(compileCommand));
cl::opt<int>
    logProbs("logprobs",
             cl::desc("Compute on the device, after each sampled token, its "
                      "log-probability and those of the N most likely tokens "
                      "(ds-logprobs, 0 to 64; the executable prints them with "
                      "--logprobs; default: off)"),
             cl::value_desc("N"), cl::init(-1), cl::sub(compileCommand));
cl::opt<std::string> weightsDir(
    "weights",
    cl::desc("Weights folder the executable reads by default (default: the "
             "checkpoint folder being compiled)"),
    cl::value_desc("dir"), cl::sub(compileCommand));
cl::opt<std::string>
    runtimeDir("runtime-dir",
               cl::desc("Folder of libdsrt.a, libdsrt-formats.a and "
                        "libdsrt-main.a (default: next to dsc, "
                        "or $DSC_RUNTIME_DIR)"),
               cl::value_desc("dir"), cl::sub(compileCommand));
cl::opt<bool> embedWeights(
    "embed-weights",
    cl::desc("Append the weights to the executable, so that it alone is "
             "enough to run"),
    cl::sub(compileCommand));
cl::opt<bool> printStats("stats",
                         cl::desc("Print kernel, launch and arena figures"),
                         cl::sub(compileCommand));

[[noreturn]] void fail(const Twine &message) {
  errs() << "dsc: error: " << message << "\n";
  std::exit(1);
}

/// The config, and the checkpoint check when the folder holds weights.
struct LoadedModel {
  dsc::ModelConfig config;
  std::string configFile;
  bool hasWeights = false;
  size_t numTensors = 0;
  size_t numShards = 0;
};

/// --quantize=fp8: a bf16 model's linear weights become fp8 with 128 x 128
/// f32 block scales, quantized when the weights load; the checkpoint keeps
/// (and is checked for) its bf16 tensors.
void applyQuantize(dsc::ModelConfig &config, const std::string &path) {
  if (quantizeName != "none" && quantizeName != "fp8")
    fail("unknown --quantize '" + quantizeName + "' (known: none, fp8)");
  if (quantizeName == "none")
    return;
  if (config.fp8) {
    errs() << "dsc: note: " << path
           << " is an fp8 checkpoint already (quantization_config); "
              "--quantize=fp8 changes nothing\n";
    return;
  }
  config.fp8 = dsc::FP8Config{};
  config.fp8->quantizedAtLoad = true;
}

LoadedModel loadModel(const std::string &path) {
  LoadedModel model;
  auto config = dsc::loadModelConfig(path);
  if (!config)
    fail(config.error());
  model.config = config.take();
  applyQuantize(model.config, path);
  model.configFile = path;
  if (!sys::fs::is_directory(path))
    return model;
  model.configFile = path + "/config.json";

  auto checkpoint = dsrt::Checkpoint::open(path);
  if (!checkpoint)
    fail(checkpoint.error());
  if (!checkpoint.value().hasWeights())
    return model;
  model.hasWeights = true;
  model.numTensors = checkpoint.value().numTensors();
  model.numShards = checkpoint.value().numShards();
  dsc::CheckpointReport report =
      dsc::checkCheckpoint(model.config, checkpoint.value());
  for (const std::string &note : report.notes)
    errs() << "dsc: note: " << note << "\n";
  for (const std::string &warning : report.warnings)
    errs() << "dsc: warning: " << warning << "\n";
  if (report.ok())
    return model;
  constexpr size_t kShown = 50;
  for (size_t i = 0; i < report.errors.size() && i < kShown; ++i)
    errs() << "dsc: error: " << path << ": " << report.errors[i] << "\n";
  if (report.errors.size() > kShown)
    errs() << "dsc: error: ... and " << report.errors.size() - kShown
           << " more tensor errors\n";
  fail(path + ": the checkpoint does not match its config.json (" +
       Twine(report.errors.size()) + " tensor errors)");
}

/// Shortest form of a double: 10000, 0.707, 2.5.
std::string num(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

/// 671.03B, 2.45B; 6.23M for tiny models.
std::string billions(int64_t n) {
  double v = static_cast<double>(n);
  return v >= 1e9 ? formatv("{0:F2}B", v / 1e9).str()
                  : formatv("{0:F2}M", v / 1e6).str();
}

/// Bytes in the largest decimal unit that keeps the value at least 1.
std::string byteSize(int64_t n) {
  static const char *units[] = {"B", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(n);
  int unit = 0;
  while (value >= 1000.0 && unit < 4) {
    value /= 1000.0;
    ++unit;
  }
  return formatv(unit ? "{0:F2} {1}" : "{0:F0} {1}", value, units[unit]).str();
}

/// `dsc info --gpus N`: both attention layouts over N GPUs of `device`,
/// whether each fits its memory, and the smallest GPU count where one that
/// does not would.
struct LayoutReport {
  dsc::ParallelPlan plan;
  std::string error; // the layout cannot be built at this count
  bool fits = false;
  int64_t freeBytes = 0; // memory beside the weights
  int64_t fitsFrom = 0;  // the fewest GPUs it fits (0: none up to 4096)
};

std::vector<LayoutReport> planLayouts(const dsc::ModelConfig &c,
                                      const dsc::DeviceProfile &device) {
  bool fp8 = c.fp8.has_value();
  std::vector<LayoutReport> out;
  for (dsc::AttentionLayout layout : {dsc::AttentionLayout::TensorParallel,
                                      dsc::AttentionLayout::DataParallel}) {
    LayoutReport r;
    r.error = dsc::planParallel(c, infoGpus, layout, fp8, r.plan);
    r.freeBytes = device.memoryBytes - r.plan.weightBytes();
    r.fits = r.error.empty() && r.freeBytes > 0;
    for (int64_t n = 1; n <= 4096 && !r.fitsFrom; ++n) {
      dsc::ParallelPlan p;
      if (dsc::planParallel(c, n, layout, fp8, p).empty() &&
          p.weightBytes() < device.memoryBytes)
        r.fitsFrom = n;
    }
    out.push_back(std::move(r));
  }
  return out;
}

/// What to use, in a sentence.
std::string recommendation(const std::vector<LayoutReport> &layouts,
                           const dsc::DeviceProfile &device) {
  const LayoutReport &tp = layouts[0], &dp = layouts[1];
  std::string gpus = std::to_string(infoGpus) + " " + device.name;
  if (tp.fits && dp.fits)
    return "tp attention for one user's latency (the busiest GPU reads "
           "less per token); dp attention for throughput with many "
           "sequences (its cache is not replicated)";
  if (tp.fits)
    return "tp attention (dp attention's replicated weights do not fit " +
           gpus + ")";
  if (dp.fits)
    return "dp attention (tensor-parallel attention cannot split this "
           "model's heads over " +
           std::to_string(infoGpus) + " GPUs)";
  int64_t from = tp.fitsFrom && dp.fitsFrom
                     ? std::min(tp.fitsFrom, dp.fitsFrom)
                     : std::max(tp.fitsFrom, dp.fitsFrom);
  std::string where = from ? "; a layout fits from " + std::to_string(from) +
                                 (from == 1 ? " GPU" : " GPUs")
                           : std::string("; none up to 4096 GPUs");
  if (!tp.error.empty() && !dp.error.empty())
    return "neither layout can be built on " + std::to_string(infoGpus) +
           " GPUs (" + dp.error + ")" + where;
  return "neither layout fits " + gpus + where;
}

int runInfo() {
  LoadedModel model = loadModel(infoPath);
  const dsc::ModelConfig &c = model.config;
  dsc::ModelSummary s = dsc::summarize(c);
  std::string weights =
      c.fp8
          ? "fp8 e4m3, " + std::to_string(c.fp8->blockRows) + "x" +
                std::to_string(c.fp8->blockCols) + " block scales" +
                (c.fp8->ue8m0Scales ? " (ue8m0)" : "") +
                (c.fp8->quantizedAtLoad ? ", quantized at load from bf16" : "")
          : "bf16";
  bool quantized = c.fp8 && c.fp8->quantizedAtLoad;

  // --gpus: the layouts over that many GPUs of --device.
  std::optional<dsc::DeviceProfile> device;
  std::vector<LayoutReport> layouts;
  if (infoGpus.getNumOccurrences()) {
    if (infoGpus < 1)
      fail("--gpus must be at least 1");
    std::string known;
    device = dsc::lookupDeviceProfile(infoDevice, known);
    if (!device)
      fail("unknown --device '" + infoDevice + "' (known: " + known + ")");
    layouts = planLayouts(c, *device);
  } else if (infoDevice.getNumOccurrences()) {
    fail("--device goes with --gpus N");
  }
  // Per-token seconds at the device's measured bandwidth.
  auto floorSeconds = [&](double bytes) {
    return bytes / device->memoryBandwidth;
  };

  if (infoJson) {
    json::Object attention{{"num_heads", c.numHeads},
                           {"q_lora_rank", c.qLoraRank},
                           {"kv_lora_rank", c.kvLoraRank},
                           {"qk_nope_head_dim", c.qkNopeHeadDim},
                           {"qk_rope_head_dim", c.qkRopeHeadDim},
                           {"v_head_dim", c.vHeadDim},
                           {"softmax_scale", c.softmaxScale()}};
    json::Object moe{{"routed_experts", c.numRoutedExperts},
                     {"shared_experts", c.numSharedExperts},
                     {"experts_per_token", c.numExpertsPerToken},
                     {"moe_intermediate_size", c.moeIntermediateSize},
                     {"scoring_func", dsc::scoringFuncName(c.scoringFunc)},
                     {"topk_method", dsc::topkMethodName(c.topkMethod)},
                     {"n_group", c.numGroups},
                     {"topk_group", c.topkGroup},
                     {"norm_topk_prob", c.normTopkProb},
                     {"routed_scaling_factor", c.routedScalingFactor}};
    json::Object out{
        {"family", dsc::familyName(c.family)},
        {"weights", weights},
        {"num_layers", c.numLayers},
        {"dense_layers", s.denseLayers},
        {"moe_layers", s.moeLayers},
        {"hidden_size", c.hiddenSize},
        {"intermediate_size", c.intermediateSize},
        {"vocab_size", c.vocabSize},
        {"attention", std::move(attention)},
        {"moe",
         c.hasMoE() ? json::Value(std::move(moe)) : json::Value(nullptr)},
        {"total_parameters", s.totalParameters},
        {"active_parameters_per_token", s.activeParameters},
        {"mtp_parameters", s.mtpParameters},
        {"bf16_bytes_per_token", s.bf16BytesPerToken},
        {"fp8_bytes_per_token", s.fp8BytesPerToken},
        {"quantized_at_load", quantized},
        {"weight_bytes_per_token",
         c.fp8 ? s.fp8BytesPerToken : s.bf16BytesPerToken},
        {"kv_cache_bytes_per_token", s.kvCacheBytesPerToken},
        {"checkpoint_tensors", static_cast<int64_t>(model.numTensors)}};
    if (device) {
      json::Array plans;
      for (const LayoutReport &r : layouts) {
        const dsc::ParallelPlan &p = r.plan;
        json::Object o{
            {"attention", dsc::attentionLayoutName(p.attention)},
            {"error",
             r.error.empty() ? json::Value(nullptr) : json::Value(r.error)},
            {"fits", r.fits},
            {"fits_from_gpus", r.fitsFrom},
            {"weight_bytes_per_gpu", p.weightBytes()},
            {"routed_expert_bytes", p.routedExpertBytes},
            {"attention_bytes", p.attentionBytes},
            {"mlp_bytes", p.mlpBytes},
            {"vocabulary_bytes", p.vocabularyBytes},
            {"other_bytes", p.otherBytes},
            {"experts_per_gpu", p.expertsPerGpu},
            {"busiest_experts", p.busiestExperts},
            {"busiest_bytes_per_token", p.bytesPerTokenBusiest},
            {"floor_seconds_per_token", floorSeconds(p.bytesPerTokenBusiest)},
            {"kv_bytes_per_position", p.kvBytesPerPosition},
            {"free_bytes_per_gpu", r.freeBytes},
            {"collectives_per_token", p.collectivesPerToken},
            {"collective_bytes_per_token", p.collectiveBytesPerToken}};
        plans.push_back(std::move(o));
      }
      out["parallel"] =
          json::Object{{"gpus", static_cast<int64_t>(infoGpus)},
                       {"device", device->name},
                       {"memory_bytes", device->memoryBytes},
                       {"memory_bandwidth", device->memoryBandwidth},
                       {"layouts", std::move(plans)},
                       {"recommendation", recommendation(layouts, *device)}};
    }
    outs() << formatv("{0:2}", json::Value(std::move(out))) << "\n";
    return 0;
  }

  raw_ostream &os = outs();
  auto row = [&](StringRef key) -> raw_ostream & {
    return os << left_justify(key, 13);
  };
  row("model") << dsc::familyName(c.family) << " (" << weights << ")\n";
  row("layers") << c.numLayers << " (" << s.denseLayers << " dense, "
                << s.moeLayers << " MoE)\n";
  row("hidden") << c.hiddenSize << ", vocab " << c.vocabSize << "\n";
  row("attention") << "MLA, " << c.numHeads << " heads, "
                   << (c.qLoraRank
                           ? "q LoRA rank " + std::to_string(c.qLoraRank)
                           : std::string("no q LoRA"))
                   << ", KV LoRA rank " << c.kvLoraRank << ", qk "
                   << c.qkNopeHeadDim << "+" << c.qkRopeHeadDim << ", v "
                   << c.vHeadDim << ", softmax scale "
                   << formatv("{0:F6}", c.softmaxScale()) << "\n";
  const dsc::RopeConfig &r = c.rope;
  if (r.yarn)
    row("rope") << "yarn, theta " << num(r.theta) << ", factor "
                << num(r.factor) << ", original " << r.originalMaxPosition
                << " positions, beta " << num(r.betaFast) << "/"
                << num(r.betaSlow) << ", mscale " << num(r.mscale) << "/"
                << num(r.mscaleAllDim) << "\n";
  else
    row("rope") << "theta " << num(r.theta) << ", no scaling\n";
  if (c.hasMoE())
    row("moe") << c.numRoutedExperts << " routed experts ("
               << c.numExpertsPerToken << " per token) + " << c.numSharedExperts
               << " shared, width " << c.moeIntermediateSize << "; "
               << dsc::scoringFuncName(c.scoringFunc) << ", "
               << dsc::topkMethodName(c.topkMethod)
               << (c.numGroups > 1
                       ? ", " + std::to_string(c.numGroups) + " groups, keep " +
                             std::to_string(c.topkGroup)
                       : std::string())
               << (c.normTopkProb ? ", normalised" : "") << ", scale "
               << num(c.routedScalingFactor) << "\n";
  if (s.denseLayers)
    row("dense mlp") << "width " << c.intermediateSize << "\n";
  row("parameters") << billions(s.totalParameters) << " total, "
                    << billions(s.activeParameters) << " read per token";
  if (s.mtpParameters)
    os << " (MTP layer: " << billions(s.mtpParameters) << ", not compiled)";
  os << "\n";
  row("bytes/token") << byteSize(s.bf16BytesPerToken) << " in bf16, "
                     << byteSize(s.fp8BytesPerToken) << " in fp8"
                     << (quantized ? " (compiled: fp8, quantized at load)" : "")
                     << "\n";
  row("kv cache") << s.kvCacheBytesPerToken << " bytes per token (bf16 latent, "
                  << c.numLayers << " layers x "
                  << c.kvLoraRank + c.qkRopeHeadDim << ")\n";
  if (model.hasWeights)
    row("checkpoint") << model.numTensors << " tensors in " << model.numShards
                      << " shard(s), all present with the expected dtypes "
                         "and shapes"
                      << (quantized ? " (bf16)" : "") << "\n";
  else
    row("checkpoint") << "config only (no weights)\n";
  if (!device)
    return 0;
  row("parallel") << infoGpus << " x " << device->name << " ("
                  << byteSize(device->memoryBytes) << ", "
                  << formatv("{0:F2}", device->memoryBandwidth / 1e12)
                  << " TB/s each)";
  if (layouts[1].error.empty() && c.hasMoE())
    os << "; experts round-robin over all, " << layouts[1].plan.expertsPerGpu
       << " a GPU per layer";
  os << "\n";
  for (const LayoutReport &r : layouts) {
    const dsc::ParallelPlan &p = r.plan;
    std::string name =
        std::string("  ") + dsc::attentionLayoutName(p.attention) + " attn";
    if (!r.error.empty()) {
      row(name) << "cannot be built: " << r.error << "\n";
      continue;
    }
    row(name) << "weights " << byteSize(p.weightBytes()) << " a GPU (experts "
              << byteSize(p.routedExpertBytes) << ", attention "
              << byteSize(p.attentionBytes) << ", mlp " << byteSize(p.mlpBytes)
              << ", vocabulary " << byteSize(p.vocabularyBytes) << ", norms "
              << byteSize(p.otherBytes) << ")";
    if (r.fits)
      os << "; " << byteSize(r.freeBytes)
         << " left: " << r.freeBytes / p.kvBytesPerPosition
         << " cached positions a GPU"
         << (p.attention == dsc::AttentionLayout::TensorParallel
                 ? " (replicated)"
                 : " (its own sequences)")
         << " before activations\n";
    else
      os << "; does not fit its " << byteSize(device->memoryBytes)
         << (r.fitsFrom ? " (fits from " + std::to_string(r.fitsFrom) + " GPUs)"
                        : std::string())
         << "\n";
    row("") << "batch 1: " << formatv("{0:F2}", p.busiestExperts)
            << " of a token's experts on the busiest GPU, "
            << byteSize(static_cast<int64_t>(p.bytesPerTokenBusiest))
            << " read there per token: floor "
            << formatv("{0:F3}", 1e3 * floorSeconds(p.bytesPerTokenBusiest))
            << " ms before collectives; "
            << formatv("{0:F0}", p.collectivesPerToken)
            << " collectives per token carrying "
            << byteSize(static_cast<int64_t>(p.collectiveBytesPerToken))
            << "\n";
  }
  row("  use") << recommendation(layouts, *device) << "\n";
  return 0;
}

int runInspectProgram() {
  auto file = dsc::ProgramFile::open(inspectPath);
  if (!file)
    fail(file.error());
  if (inspectJson)
    outs() << formatv("{0:2}", dsc::programToJson(file.value())) << "\n";
  else
    dsc::printProgramText(file.value(), outs());
  return 0;
}

std::string defaultRuntimeDir(const char *argv0) {
  if (const char *env = std::getenv("DSC_RUNTIME_DIR"))
    return env;
  std::string self =
      sys::fs::getMainExecutable(argv0, reinterpret_cast<void *>(&fail));
  SmallString<256> dir(sys::path::parent_path(sys::path::parent_path(self)));
  sys::path::append(dir, "lib");
  return std::string(dir);
}

std::string absolutePath(const std::string &path) {
  SmallString<256> absolute(path);
  sys::fs::make_absolute(absolute);
  sys::path::remove_dots(absolute, /*remove_dot_dot=*/true);
  return std::string(absolute);
}

void writeOutput(const std::function<void(raw_ostream &)> &write) {
  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    fail(error);
  write(output->os());
  output->keep();
}

/// The checkpoint's tokenizer.json (checked by loading it, as the executable
/// will) and the chat format: V2 for deepseek_v2, R1 when the chat
/// template opens a <think> block, V3 otherwise (docs/model.md §7).
void readTokenizer(const LoadedModel &model, dsc::ProgramMetadata &metadata) {
  bool v2 = model.config.family == dsc::ModelFamily::DeepSeekV2;
  metadata.chatTemplate = v2 ? "deepseek-v2" : "deepseek-v3";
  if (!sys::fs::is_directory(compilePath))
    return;
  SmallString<256> path(compilePath.getValue());
  sys::path::append(path, "tokenizer.json");
  auto text = MemoryBuffer::getFile(path);
  if (!text) {
    errs() << "dsc: note: no tokenizer.json in " << compilePath
           << ": the executable takes --prompt-ids only\n";
    return;
  }
  auto tokenizer =
      dsrt::Tokenizer::fromJson((*text)->getBuffer(), std::string(path));
  if (!tokenizer)
    fail(tokenizer.error());
  metadata.tokenizerJson = (*text)->getBuffer().str();
  SmallString<256> configPath(compilePath.getValue());
  sys::path::append(configPath, "tokenizer_config.json");
  if (auto config = MemoryBuffer::getFile(configPath)) {
    auto parsed = dsrt::json::parse((*config)->getBuffer());
    if (!parsed)
      fail(std::string(configPath) + ": invalid JSON: " + parsed.error());
    const dsrt::json::Value *chat = parsed.value().find("chat_template");
    if (!v2 && chat && chat->isString() &&
        chat->asString().find("<think>\\n") != std::string::npos)
      metadata.chatTemplate = "deepseek-r1";
    if (!v2 && chat && chat->isString() &&
        chat->asString().find("<think>\n") != std::string::npos)
      metadata.chatTemplate = "deepseek-r1";
  }
}

/// --embed-weights: checks and copies the checkpoint's weights into the
/// image the executable maps at start.
void appendWeights(const std::vector<uint8_t> &bytes, const std::string &dir) {
  if (dir.empty())
    fail("--embed-weights needs weights: compile a checkpoint folder or give "
         "--weights DIR");
  auto program = dsrt::Program::load(bytes.data(), bytes.size(), "program");
  if (!program)
    fail("internal error: " + program.error());
  auto checkpoint = dsrt::Checkpoint::open(dir);
  if (!checkpoint)
    fail(checkpoint.error());
  auto weights = dsrt::WeightStore::load(program.value(), checkpoint.value());
  if (!weights)
    fail(weights.error());
  dsrt::Status written =
      weights.value().appendImage(program.value(), outputPath);
  if (!written)
    fail(written.error());
}

int runCompile(const char *argv0) {
  std::string knownTargets;
  std::optional<dsc::TargetDescription> target =
      dsc::lookupTarget(targetName, knownTargets);
  if (!target)
    fail("unsupported --target '" + targetName + "' (known: " + knownTargets +
         ")");
  if (!target->isCUDA() && !gpuName.empty())
    fail("--gpu needs a cuda target");
  if (target->isCUDA()) {
    std::string profile = gpuName.empty() ? target->defaultDevice : gpuName;
    std::string knownDevices;
    std::optional<dsc::DeviceProfile> device =
        dsc::lookupDeviceProfile(profile, knownDevices);
    if (!device)
      fail("unknown --gpu '" + profile + "' (known: " + knownDevices + ")");
    if (device->chip != target->chip)
      fail("--gpu " + profile + " runs " + device->chip + " code, not " +
           target->name + " (pick --target=cuda:" + device->chip + ")");
  }
  if (emitStage == EmitStage::PTX && !target->isCUDA())
    fail("--emit=ptx needs a cuda target");
  if (checkKernels && !target->isCUDA())
    fail("--check-kernels needs a cuda target (the cpu target's kernels are "
         "the generic lowering already)");
  if (maxSeqLen <= 0 || maxBatch <= 0 || prefillChunk <= 0)
    fail("--max-seq-len, --max-batch and --prefill-chunk must be positive");
  if (attentionSplits < 0)
    fail("--attention-splits must be 0 or positive");
  if (streams < 0 || streams > 8)
    fail("--streams must be between 0 and 8");
  if (rowGroup < 0 || rowGroup > 16)
    fail("--row-group must be between 0 (the default) and 16");
  if (expertRowGroup < 0 || expertRowGroup > 16)
    fail("--expert-row-group must be between 0 (the default) and 16");
  if (pageSize < 0 || (pageSize > 0 && maxSeqLen % pageSize != 0))
    fail("--page-size must be positive and divide --max-seq-len");
  if (emitStage == EmitStage::Exe && outputPath == "-")
    fail("an executable needs an output file: -o FILE");

  LoadedModel model = loadModel(compilePath);
  if (maxSeqLen > model.config.maxPositionEmbeddings &&
      model.config.maxPositionEmbeddings > 0)
    fail("--max-seq-len " + Twine(maxSeqLen.getValue()) +
         " exceeds the model's max_position_embeddings (" +
         Twine(model.config.maxPositionEmbeddings) + ")");
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      dsc::importModel(context, model.config, model.configFile);
  if (failed(mlir::verify(*module)))
    fail("internal error: the imported module does not verify");
  auto print = [&](raw_ostream &os) {
    module->print(os);
    os << "\n";
  };
  if (emitStage == EmitStage::DS) {
    writeOutput(print);
    return 0;
  }

  dsc::PipelineOptions options;
  options.maxSeqLen = maxSeqLen;
  options.maxBatch = maxBatch;
  options.pageSize = pageSize;
  options.prefillChunk = prefillChunk;
  options.target = target->name;
  options.gpu = gpuName;
  options.hostTwins = checkKernels;
  options.attentionSplits = attentionSplits;
  options.streams = streams;
  options.tensorCores = !noTensorCores;
  options.tileMma =
      tileMma == cl::BOU_UNSET ? options.isCUDA() : tileMma == cl::BOU_TRUE;
  options.tileMmaPrefill = tileMmaPrefill == cl::BOU_UNSET
                               ? options.tileMma
                               : tileMmaPrefill == cl::BOU_TRUE;
  if (rowGroup > 0)
    options.rowGroup = options.fp8RowGroup = rowGroup;
  options.expertRowGroup = expertRowGroup > 0 ? expertRowGroup
                           : options.isCUDA() ? 4
                                              : 1;
  options.fuseNorms = fuseNorms == cl::BOU_UNSET
                          ? options.isCUDA() && !model.config.fp8
                          : fuseNorms == cl::BOU_TRUE;
  // Staged in each of its blocks, the final norm costs the lm_head more
  // than the norm's launch (docs/performance.md, seventh session).
  options.fuseLMHeadNorm = !options.isCUDA();
  options.fuseRouter = fuseRouter;
  options.fuseAttentionCombine = fuseAttentionCombine;
  if (logProbs < -1 || logProbs > dsc::ds::kMaxTopLogProbs)
    fail("--logprobs must be from 0 to " +
         std::to_string(dsc::ds::kMaxTopLogProbs) + ", got " +
         std::to_string(logProbs));
  options.logProbs = logProbs;
  mlir::PassManager pm(&context);
  dsc::buildModelPipeline(pm, options);
  if (emitStage != EmitStage::DSOpt)
    dsc::buildSchedulePipeline(pm, options);
  if (failed(pm.run(*module)))
    fail("compilation failed (see the diagnostics above)");
  if (printStats && emitStage != EmitStage::DSOpt) {
    int64_t kernels = 0, launches = 0;
    module->walk([&](dsc::ds::KernelOp) { ++kernels; });
    module->walk([&](dsc::ds::LaunchOp) { ++launches; });
    errs() << "dsc: " << kernels << " kernels, " << launches
           << " launches, arena "
           << (*module)
                  ->getAttrOfType<mlir::IntegerAttr>("ds.arena_bytes")
                  .getInt()
           << " bytes\n";
  }
  if (emitStage == EmitStage::DSOpt || emitStage == EmitStage::Schedule) {
    writeOutput(print);
    return 0;
  }
  mlir::ModuleOp kernels, twins;
  for (auto nested : module->getOps<mlir::ModuleOp>()) {
    if (nested->hasAttr("ds.kernels"))
      kernels = nested;
    if (nested->hasAttr("ds.twin_kernels"))
      twins = nested;
  }
  if (emitStage == EmitStage::Kernels) {
    writeOutput([&](raw_ostream &os) {
      kernels.print(os);
      os << "\n";
    });
    return 0;
  }

  dsc::ProgramMetadata metadata;
  metadata.target = targetName;
  metadata.dscVersion = DSC_VERSION;
  if (!weightsDir.empty())
    metadata.checkpointDir = absolutePath(weightsDir);
  else if (sys::fs::is_directory(compilePath))
    metadata.checkpointDir = absolutePath(compilePath);
  readTokenizer(model, metadata);
  if (target->isCUDA()) {
    std::vector<std::string> names;
    for (auto k : module->getOps<dsc::ds::KernelOp>())
      names.push_back(k.getSymName().str());
    std::string toolkit = dsc::findCudaToolkit(cudaPath);
    auto image =
        dsc::compileCudaKernels(kernels, names, *target, toolkit, !noPtxas);
    if (failed(image))
      fail("generating the CUDA kernels failed (see the diagnostics above)");
    if (emitStage == EmitStage::PTX) {
      writeOutput([&](raw_ostream &os) { os << image->ptx; });
      return 0;
    }
    metadata.gpuImage = std::move(image->bytes);
    metadata.gpuImageFormat = image->format;
    metadata.gpuChip = target->chip;
    if (printStats)
      errs() << "dsc: " << metadata.gpuImageFormat << " for " << target->chip
             << ", " << metadata.gpuImage.size() << " bytes\n";
  }
  auto program = dsc::serializeProgram(*module, metadata);
  if (failed(program))
    fail("serializing the program failed");
  if (printStats)
    errs() << "dsc: program " << program->size() << " bytes\n";
  if (emitStage == EmitStage::Program) {
    writeOutput([&](raw_ostream &os) {
      os.write(reinterpret_cast<const char *>(program->data()),
               program->size());
    });
    return 0;
  }
  if (emitStage == EmitStage::ProgramJson) {
    auto file = dsc::ProgramFile::fromBytes(*program, "program");
    if (!file)
      fail("internal error: " + file.error());
    writeOutput([&](raw_ostream &os) {
      os << formatv("{0:2}", dsc::programToJson(file.value())) << "\n";
    });
    return 0;
  }

  SmallString<128> object;
  if (auto ec = sys::fs::createTemporaryFile("dsc-program", "o", object))
    fail("cannot create a temporary object file: " + ec.message());
  FileRemover removeObject(object);
  if (failed(dsc::emitHostObject(*module, *program, hostCpu,
                                 target->isCUDA() ? twins : kernels,
                                 std::string(object))))
    fail("generating machine code failed");
  std::string error;
  std::string runtime =
      runtimeDir.empty() ? defaultRuntimeDir(argv0) : std::string(runtimeDir);
  if (failed(
          dsc::linkExecutable(std::string(object), runtime, outputPath, error)))
    fail(error);
  if (embedWeights)
    appendWeights(*program, metadata.checkpointDir);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << "dsc " << DSC_VERSION << " (LLVM/MLIR " << LLVM_VERSION_STRING
       << ")\n";
  });
  cl::ParseCommandLineOptions(
      argc, argv,
      "dsc: compile a DeepSeek checkpoint into a standalone executable\n\n"
      "  dsc info CKPT [--json]            summarise a model\n"
      "  dsc compile CKPT -o model         compile to a standalone executable\n"
      "  dsc compile CKPT --emit=STAGE -o F  stop at a stage (ds, ds-opt,\n"
      "                                    schedule, program) and write it\n"
      "  dsc compile CKPT --quantize=fp8 -o model\n"
      "                                    fp8 linear weights from a bf16\n"
      "                                    checkpoint, quantized at load\n"
      "  dsc inspect-program FILE [--json] list a program or executable's\n"
      "                                    kernels, launches and buffers\n\n"
      "CKPT is a checkpoint folder (config.json and, optionally, safetensors "
      "weights) or a lone config.json.\n");
  if (infoCommand)
    return runInfo();
  if (compileCommand)
    return runCompile(argv[0]);
  if (inspectCommand)
    return runInspectProgram();
  errs() << "dsc: error: expected a command: 'info', 'compile' or "
            "'inspect-program' (see dsc --help)\n";
  return 1;
}
