//===- dsc.cpp - the dsc command-line driver -----------------------------===//
//
// `dsc info CKPT` summarises a model; `dsc compile CKPT --emit=STAGE -o OUT`
// runs the pipeline up to STAGE and writes it. Every failure ends with one
// "dsc: error: ..." line on stderr and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Frontend/CheckpointCheck.h"
#include "dsc/Frontend/ModelConfig.h"
#include "dsc/Frontend/ModelImporter.h"
#include "dsc/Frontend/ModelWeights.h"
#include "dsrt/Checkpoint.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

using namespace llvm;

namespace {

cl::SubCommand infoCommand("info", "Summarise a model: shapes, routing, "
                                   "parameters, bytes per token");
cl::SubCommand compileCommand("compile", "Compile a checkpoint");

cl::opt<std::string> infoPath(cl::Positional, cl::Required,
                              cl::desc("<checkpoint folder or config.json>"),
                              cl::sub(infoCommand));
cl::opt<bool> infoJson("json", cl::desc("Print the summary as JSON"),
                       cl::sub(infoCommand));

cl::opt<std::string> compilePath(cl::Positional, cl::Required,
                                 cl::desc("<checkpoint folder or config.json>"),
                                 cl::sub(compileCommand));
enum class EmitStage { DS };
cl::opt<EmitStage> emitStage(
    "emit", cl::desc("The stage to stop at and write"),
    cl::values(clEnumValN(EmitStage::DS, "ds",
                          "model-level ds dialect, as imported")),
    cl::init(EmitStage::DS), cl::sub(compileCommand));
cl::opt<std::string> outputPath("o", cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"),
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

LoadedModel loadModel(const std::string &path) {
  LoadedModel model;
  auto config = dsc::loadModelConfig(path);
  if (!config)
    fail(config.error());
  model.config = config.take();
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

std::string billions(int64_t n) {
  return formatv("{0:F2}B", static_cast<double>(n) / 1e9).str();
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

int runInfo() {
  LoadedModel model = loadModel(infoPath);
  const dsc::ModelConfig &c = model.config;
  dsc::ModelSummary s = dsc::summarize(c);
  std::string weights = c.fp8 ? "fp8 e4m3, " + std::to_string(c.fp8->blockRows) +
                                    "x" + std::to_string(c.fp8->blockCols) +
                                    " block scales" +
                                    (c.fp8->ue8m0Scales ? " (ue8m0)" : "")
                              : "bf16";

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
        {"moe", c.hasMoE() ? json::Value(std::move(moe)) : json::Value(nullptr)},
        {"total_parameters", s.totalParameters},
        {"active_parameters_per_token", s.activeParameters},
        {"mtp_parameters", s.mtpParameters},
        {"bf16_bytes_per_token", s.bf16BytesPerToken},
        {"fp8_bytes_per_token", s.fp8BytesPerToken},
        {"kv_cache_bytes_per_token", s.kvCacheBytesPerToken},
        {"checkpoint_tensors", static_cast<int64_t>(model.numTensors)}};
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
                   << (c.qLoraRank ? "q LoRA rank " + std::to_string(c.qLoraRank)
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
    row("moe") << c.numRoutedExperts << " routed experts (" << c.numExpertsPerToken
               << " per token) + " << c.numSharedExperts << " shared, width "
               << c.moeIntermediateSize << "; "
               << dsc::scoringFuncName(c.scoringFunc) << ", "
               << dsc::topkMethodName(c.topkMethod)
               << (c.numGroups > 1 ? ", " + std::to_string(c.numGroups) +
                                         " groups, keep " +
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
                     << byteSize(s.fp8BytesPerToken) << " in fp8\n";
  row("kv cache") << s.kvCacheBytesPerToken << " bytes per token (bf16 latent, "
                  << c.numLayers << " layers x "
                  << c.kvLoraRank + c.qkRopeHeadDim << ")\n";
  if (model.hasWeights)
    row("checkpoint") << model.numTensors << " tensors in " << model.numShards
                      << " shard(s), all present with the expected dtypes "
                         "and shapes\n";
  else
    row("checkpoint") << "config only (no weights)\n";
  return 0;
}

int runCompile() {
  LoadedModel model = loadModel(compilePath);
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      dsc::importModel(context, model.config, model.configFile);
  if (failed(mlir::verify(*module)))
    fail("internal error: the imported module does not verify");

  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    fail(error);
  module->print(output->os());
  output->os() << "\n";
  output->keep();
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
      "  dsc compile CKPT --emit=ds -o F   compile to a stage and write it\n\n"
      "CKPT is a checkpoint folder (config.json and, optionally, safetensors "
      "weights) or a lone config.json.\n");
  if (infoCommand)
    return runInfo();
  if (compileCommand)
    return runCompile();
  errs() << "dsc: error: expected a command: 'info' or 'compile' (see dsc "
            "--help)\n";
  return 1;
}
