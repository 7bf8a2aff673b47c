//===- Executable.cpp - serialize, emit object code, link ----------------===//
//
// ds-serialize reads only the scheduled IR (weights, kernels, launches,
// module attributes), so what --emit=schedule prints is exactly what the
// executable runs.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/Executable.h"

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Target/HostKernels.h"
#include "dsc/Target/LLVMOptimizer.h"
#include "dsc/Target/TargetDescription.h"
#include "dsrt/Program.h"
#include "dsrt/program_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace dsc::ds;
namespace fb = dsrt::fb;

namespace dsc {

//===----------------------------------------------------------------------===//
// ds-serialize
//===----------------------------------------------------------------------===//

static int64_t intAttr(DictionaryAttr dict, StringRef name, int64_t fallback) {
  if (auto v = dict ? dict.getAs<IntegerAttr>(name) : IntegerAttr())
    return v.getInt();
  return fallback;
}

FailureOr<std::vector<uint8_t>>
serializeProgram(ModuleOp module, const ProgramMetadata &metadata) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  auto modelDict = module->getAttrOfType<DictionaryAttr>("ds.model");
  auto cacheDict = module->getAttrOfType<DictionaryAttr>("ds.cache");
  auto arena = module->getAttrOfType<IntegerAttr>("ds.arena_bytes");
  if (!modelDict || !cacheDict || !arena)
    return module.emitError("ds-serialize: the module is not scheduled (no "
                            "ds.model, ds.cache or ds.arena_bytes)");
  auto family = modelDict.getAs<StringAttr>("family");
  auto model = fb::CreateModelInfo(
      fbb, fbb.CreateString(family ? family.getValue().str() : ""),
      intAttr(modelDict, "vocab_size", 0), intAttr(modelDict, "hidden_size", 0),
      intAttr(modelDict, "num_layers", 0),
      intAttr(modelDict, "bos_token_id", -1),
      intAttr(modelDict, "eos_token_id", -1),
      intAttr(modelDict, "max_position_embeddings", 0));

  std::vector<flatbuffers::Offset<fb::Weight>> weights;
  for (WeightOp w : module.getOps<WeightOp>()) {
    Type type = w.getType();
    fb::DType dtype;
    std::vector<int64_t> shape, scaleShape;
    int64_t blockRows = 0, blockCols = 0;
    if (auto fp8 = dyn_cast<FP8BlockWeightType>(type)) {
      dtype = fb::DType::F8_E4M3;
      shape.assign(fp8.getShape().begin(), fp8.getShape().end());
      auto s = fp8.getScaleShape();
      scaleShape.assign(s.begin(), s.end());
      blockRows = fp8.getBlockRows();
      blockCols = fp8.getBlockCols();
    } else {
      auto tensor = cast<RankedTensorType>(type);
      dtype =
          tensor.getElementType().isF32() ? fb::DType::F32 : fb::DType::BF16;
      shape.assign(tensor.getShape().begin(), tensor.getShape().end());
    }
    auto scaleName = w.getScaleTensor()
                         ? fbb.CreateString(w.getScaleTensor()->str())
                         : flatbuffers::Offset<flatbuffers::String>();
    weights.push_back(fb::CreateWeight(
        fbb, fbb.CreateString(w.getSymName().str()),
        fbb.CreateString(w.getTensor().str()), dtype, fbb.CreateVector(shape),
        scaleName, scaleShape.empty() ? 0 : fbb.CreateVector(scaleShape),
        w.getExperts() ? static_cast<int64_t>(*w.getExperts()) : 0, blockRows,
        blockCols, w.getQuantized(),
        w.getShard() ? static_cast<int32_t>(w.getShard()->getDim()) : -1,
        w.getShard() ? static_cast<int32_t>(w.getShard()->getRanks()) : 0,
        w.getShard() && w.getShard()->getInterleaved()));
  }

  // The program's enums number their values as the dialect's do.
  auto parallelOf = [](ParallelDim parallel) {
    return static_cast<fb::ParallelDim>(static_cast<int8_t>(parallel));
  };
  auto rowsOf = [](KernelOp k) {
    return k.getRows() == RowCount::Outputs ? fb::RowCount::Outputs
                                            : fb::RowCount::Tokens;
  };
  // Kernels of targets with grid dependency control start with
  // griddepcontrol (CudaKernels.cpp) and launch programmatically.
  bool programmatic = false;
  if (auto target = module->getAttrOfType<StringAttr>("ds.target")) {
    std::string known;
    if (std::optional<TargetDescription> isa =
            lookupTarget(target.getValue().split('/').first, known))
      programmatic = isa->hasGridDependencyControl;
  }
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
  llvm::StringMap<uint32_t> kernelIndex;
  llvm::StringMap<KernelOp> kernelOps;
  for (auto [i, k] : llvm::enumerate(module.getOps<KernelOp>())) {
    kernelIndex[k.getSymName()] = static_cast<uint32_t>(i);
    kernelOps[k.getSymName()] = k;
  }
  for (KernelOp k : module.getOps<KernelOp>()) {
    // The kernels a launch of few rows runs instead (ds.variants): each
    // declared, without variants of its own, writing what this one writes.
    std::vector<fb::KernelVariant> variants;
    if (std::optional<ArrayRef<int64_t>> rows = k.getVariantRows()) {
      for (auto [r, ref] : llvm::zip_equal(
               *rows, k.getVariantKernels()->getAsRange<FlatSymbolRefAttr>())) {
        auto found = kernelOps.find(ref.getValue());
        if (found == kernelOps.end())
          return k.emitOpError("variant ") << ref << " is not a ds.kernel";
        KernelOp v = found->second;
        if (v == k || v.getVariantRows() || v.getRows() != k.getRows() ||
            v.getOutputs() != k.getOutputs() ||
            v.getWritesCache() != k.getWritesCache())
          return k.emitOpError("variant ")
                 << ref
                 << " must be another kernel without variants, with the "
                    "same rows, outputs and cache writes";
        variants.emplace_back(r, kernelIndex[ref.getValue()]);
      }
    }
    // (argument, dtype, elements per row) triples; the verifier checked them.
    std::vector<fb::KernelOutput> outputs;
    ArrayRef<int64_t> v = k.getOutputs();
    for (size_t i = 0; i + 2 < v.size(); i += 3)
      outputs.emplace_back(static_cast<uint32_t>(v[i]),
                           static_cast<fb::DType>(v[i + 1]), v[i + 2]);
    // The launch: a 1-D block from the configuration, one thread per
    // parallel index, the configuration's dynamic shared memory, and the
    // blocks of a cluster for cluster_block.
    auto block = static_cast<uint32_t>(k.getConfig().getBlock());
    auto shared = static_cast<uint32_t>(k.getConfig().getDynamicSharedBytes());
    uint32_t cluster =
        k.getConfig().getStrategy() == KernelStrategy::ClusterBlock
            ? static_cast<uint32_t>(k.getConfig().getSplits())
            : 1;
    fb::Dim3 blockShape(block, 1, 1);
    // What a launch moves and computes (absent: not modelled).
    flatbuffers::Offset<fb::KernelCost> cost = 0;
    if (KernelCostAttr c = k.getCostAttr())
      cost = fb::CreateKernelCost(
          fbb, c.getBytesFixed().convertToDouble(),
          c.getBytesPerRow().convertToDouble(),
          c.getBytesPerContext().convertToDouble(),
          c.getBytesPerExpert().convertToDouble(), c.getExperts(),
          c.getExpertsPerRow(), c.getFlopsPerRow().convertToDouble(),
          c.getFlopsPerContext().convertToDouble(), c.getFp8());
    kernels.push_back(fb::CreateKernel(
        fbb, fbb.CreateString(k.getSymName().str()),
        fbb.CreateString(k.getSummary().str()), parallelOf(k.getParallel()),
        static_cast<int64_t>(k.getExtent()), rowsOf(k),
        fbb.CreateVectorOfStructs(outputs), k.getWritesCache(), block,
        fb::CreateLaunchShape(fbb, &blockShape, fb::GridRule::PerIndex,
                              /*grid=*/nullptr, shared, programmatic, cluster),
        cost, variants.empty() ? 0 : fbb.CreateVectorOfStructs(variants)));
  }
  // --check-kernels: the host twins, named like the kernels they mirror.
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Kernel>>>
      twins = 0;
  if (auto shapes = module->getAttrOfType<ArrayAttr>("ds.host_twins")) {
    std::vector<flatbuffers::Offset<fb::Kernel>> list;
    auto declared = llvm::to_vector(module.getOps<KernelOp>());
    if (shapes.size() != declared.size())
      return module.emitError("ds.host_twins does not match the kernels");
    for (auto [shape, k] : llvm::zip(shapes, declared)) {
      ArrayRef<int64_t> v = cast<DenseI64ArrayAttr>(shape).asArrayRef();
      list.push_back(fb::CreateKernel(
          fbb, fbb.CreateString(k.getSymName().str()),
          fbb.CreateString(k.getSummary().str()),
          static_cast<fb::ParallelDim>(v[0]), v[1], rowsOf(k)));
    }
    twins = fbb.CreateVector(list);
  }

  std::vector<flatbuffers::Offset<fb::Entry>> entries;
  for (auto f : module.getOps<func::FuncOp>()) {
    auto entry = f->getAttrOfType<StringAttr>("ds.entry");
    if (!entry)
      continue;
    auto logits = f->getAttrOfType<ArgAttr>("ds.logits");
    auto sampled = f->getAttrOfType<ArgAttr>("ds.sampled");
    auto maxTokens = f->getAttrOfType<IntegerAttr>("ds.max_tokens");
    if (!logits || !sampled || !maxTokens)
      return f.emitOpError("is not scheduled (run ds-schedule)");
    std::vector<flatbuffers::Offset<fb::Launch>> launches;
    for (LaunchOp l : f.getOps<LaunchOp>()) {
      std::vector<fb::Arg> args;
      for (Attribute a : l.getArgs()) {
        auto arg = cast<ArgAttr>(a);
        args.emplace_back(static_cast<fb::ArgKind>(arg.getKind()),
                          arg.getValue());
      }
      auto it = kernelIndex.find(l.getKernel());
      if (it == kernelIndex.end())
        return l.emitOpError("launches an undeclared kernel");
      int32_t stream = l.getStream();
      if (stream < 0 || stream >= static_cast<int32_t>(dsrt::kMaxLaunchStreams))
        return l.emitOpError("runs on stream ")
               << stream << ", outside [0, " << dsrt::kMaxLaunchStreams << ")";
      std::vector<uint32_t> waits;
      for (int64_t w : l.getWaits().value_or(ArrayRef<int64_t>{})) {
        if (w < 0 || w >= static_cast<int64_t>(launches.size()) ||
            (!waits.empty() && w <= waits.back()))
          return l.emitOpError("waits for launch ")
                 << w << ": waits must name earlier launches in order";
        waits.push_back(static_cast<uint32_t>(w));
      }
      launches.push_back(
          fb::CreateLaunch(fbb, it->second, fbb.CreateVectorOfStructs(args),
                           static_cast<uint8_t>(stream),
                           waits.empty() ? 0 : fbb.CreateVector(waits)));
    }
    // ds-logprobs: where the log-probabilities and their ids are, and how
    // many top tokens a row reports (the ids' columns less the sampled one).
    auto logProbs = f->getAttrOfType<ArgAttr>("ds.logprobs");
    auto logProbIds = f->getAttrOfType<ArgAttr>("ds.logprob_ids");
    auto topAttr = f->getAttrOfType<IntegerAttr>("ds.top_logprobs");
    if (static_cast<bool>(logProbs) != static_cast<bool>(logProbIds) ||
        static_cast<bool>(logProbs) != static_cast<bool>(topAttr))
      return f.emitOpError("has part of ds-logprobs' schedule attributes");
    int32_t top = topAttr ? static_cast<int32_t>(topAttr.getInt()) : -1;
    entries.push_back(fb::CreateEntry(
        fbb, fbb.CreateString(entry.getValue().str()), maxTokens.getInt(),
        fbb.CreateVector(launches), logits.getValue(), sampled.getValue(), top,
        logProbs ? logProbs.getValue() : 0,
        logProbIds ? logProbIds.getValue() : 0));
  }

  auto cache = fb::CreateCacheInfo(
      fbb, intAttr(cacheDict, "layers", 0), intAttr(cacheDict, "latent", 0),
      intAttr(cacheDict, "rope", 0), intAttr(cacheDict, "slots", 0),
      intAttr(cacheDict, "max_seq", 0), intAttr(cacheDict, "page_size", 0));
  // CUDA targets: the ceilings of the device profile ds-configure-kernels
  // configured the kernels for ("cuda:sm_90a/h200"; the chip's default
  // profile when `dsc compile` had no --gpu).
  flatbuffers::Offset<fb::DeviceCeilings> device = 0;
  if (auto target = module->getAttrOfType<StringAttr>("ds.target")) {
    auto [isa, profileName] = target.getValue().split('/');
    if (isa.starts_with("cuda:") && !profileName.empty()) {
      std::string known;
      std::optional<DeviceProfile> profile =
          lookupDeviceProfile(profileName, known);
      if (!profile)
        return module.emitError("ds-serialize: unknown device profile '")
               << profileName << "' in ds.target (known: " << known << ")";
      device = fb::CreateDeviceCeilings(
          fbb, fbb.CreateString(profile->name), profile->memoryBandwidth,
          profile->bf16MatrixFlops, profile->fp8MatrixFlops, profile->l2Bytes);
    }
  }
  bool gpu = !metadata.gpuImage.empty();
  auto program = fb::CreateProgram(
      fbb, dsrt::kSchemaVersion, fbb.CreateString(metadata.target),
      fbb.CreateString(metadata.dscVersion), model, fbb.CreateVector(weights),
      fbb.CreateVector(kernels), fbb.CreateVector(entries), cache,
      static_cast<uint64_t>(arena.getInt()),
      fbb.CreateString(metadata.checkpointDir),
      metadata.tokenizerJson.empty()
          ? 0
          : fbb.CreateVector(reinterpret_cast<const uint8_t *>(
                                 metadata.tokenizerJson.data()),
                             metadata.tokenizerJson.size()),
      gpu ? fbb.CreateVector(metadata.gpuImage) : 0,
      gpu ? fbb.CreateString(metadata.gpuImageFormat) : 0,
      gpu ? fbb.CreateString(metadata.gpuChip) : 0,
      metadata.chatTemplate.empty() ? 0
                                    : fbb.CreateString(metadata.chatTemplate),
      twins, device);
  fb::FinishProgramBuffer(fbb, program);
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

//===----------------------------------------------------------------------===//
// Object emission
//===----------------------------------------------------------------------===//

LogicalResult emitHostObject(ModuleOp module,
                             const std::vector<uint8_t> &program,
                             const std::string &cpu, ModuleOp kernels,
                             const std::string &objectPath) {
  SmallVector<std::string> names;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule;
  if (kernels) {
    for (KernelOp k : module.getOps<KernelOp>())
      names.push_back(k.getSymName().str());
    if (failed(lowerHostKernelsToLLVM(kernels)))
      return kernels.emitError("lowering the host kernels to LLVM failed");
    registerBuiltinDialectTranslation(*module.getContext());
    registerLLVMDialectTranslation(*module.getContext());
    llvmModule = translateModuleToLLVMIR(kernels, llvmContext, "dsc_program");
    if (!llvmModule)
      return kernels.emitError("translation to LLVM IR failed");
  } else {
    llvmModule = std::make_unique<llvm::Module>("dsc_program", llvmContext);
  }

  // The tables main() reads.
  llvm::Type *ptr = llvm::PointerType::get(llvmContext, 0);
  llvm::Type *i64 = llvm::Type::getInt64Ty(llvmContext);
  std::vector<llvm::Constant *> functions;
  for (const std::string &name : names) {
    llvm::Function *f = llvmModule->getFunction(name);
    if (!f)
      return module.emitError("kernel ") << name << " was not generated";
    functions.push_back(f);
  }
  auto *tableType = llvm::ArrayType::get(ptr, functions.size());
  new llvm::GlobalVariable(*llvmModule, tableType, /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage,
                           llvm::ConstantArray::get(tableType, functions),
                           "dsc_kernel_table");
  new llvm::GlobalVariable(
      *llvmModule, i64, true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantInt::get(i64, functions.size()), "dsc_kernel_count");
  auto *bytes = llvm::ConstantDataArray::get(
      llvmContext, llvm::ArrayRef<uint8_t>(program.data(), program.size()));
  auto *data = new llvm::GlobalVariable(*llvmModule, bytes->getType(), true,
                                        llvm::GlobalValue::ExternalLinkage,
                                        bytes, "dsc_program_data");
  data->setAlignment(llvm::Align(16));
  new llvm::GlobalVariable(
      *llvmModule, i64, true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantInt::get(i64, program.size()), "dsc_program_size");

  // Host code generation.
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return module.emitError("no LLVM target for ")
           << triple.str() << ": " << error;
  std::string cpuName =
      cpu == "native" ? llvm::sys::getHostCPUName().str() : cpu;
  std::string features;
  if (cpu == "native") {
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    for (auto &f : host)
      features += (f.second ? "+" : "-") + f.first().str() + ",";
  }
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpuName, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return module.emitError("cannot create an LLVM target machine for ")
           << cpuName;
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);

  // -O3 (vectorises the reductions the kernels mark reassociable).
  optimizeModule(*llvmModule, *machine);

  std::error_code ec;
  llvm::ToolOutputFile out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError("cannot write ")
           << objectPath << ": " << ec.message();
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, out.os(), nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return module.emitError("LLVM cannot emit object files for this target");
  codegen.run(*llvmModule);
  out.keep();
  return success();
}

//===----------------------------------------------------------------------===//
// Linking
//===----------------------------------------------------------------------===//

LogicalResult linkExecutable(const std::string &objectPath,
                             const std::string &runtimeDir,
                             const std::string &outputPath,
                             std::string &error) {
  std::string mainLib = runtimeDir + "/libdsrt-main.a";
  std::string runtimeLib = runtimeDir + "/libdsrt.a";
  std::string formatsLib = runtimeDir + "/libdsrt-formats.a";
  // The tokenizer's regular expressions: PCRE2, linked statically so that
  // the executable needs only libc.
  std::string pcre2;
  for (const char *candidate :
       {"/usr/lib/x86_64-linux-gnu/libpcre2-8.a", "/usr/lib/libpcre2-8.a",
        "/usr/local/lib/libpcre2-8.a"})
    if (llvm::sys::fs::exists(candidate)) {
      pcre2 = candidate;
      break;
    }
  if (pcre2.empty()) {
    error = "libpcre2-8.a not found (install Debian's libpcre2-dev)";
    return failure();
  }
  for (const std::string &lib : {mainLib, runtimeLib, formatsLib})
    if (!llvm::sys::fs::exists(lib)) {
      error = "runtime library " + lib +
              " not found (set --runtime-dir or DSC_RUNTIME_DIR)";
      return failure();
    }
  std::string driver;
  for (const char *candidate : {"c++", "g++", "clang++", "clang++-22"})
    if (auto found = llvm::sys::findProgramByName(candidate)) {
      driver = *found;
      break;
    }
  if (driver.empty()) {
    error = "no C++ linker driver (c++, g++, clang++) on PATH";
    return failure();
  }
  SmallVector<StringRef> args = {
      driver,     objectPath, mainLib,    runtimeLib,          formatsLib,
      pcre2,      "-o",       outputPath, "-static-libstdc++", "-static-libgcc",
      "-pthread", "-ldl",     "-lm"};
  std::string message;
  int rc =
      llvm::sys::ExecuteAndWait(driver, args, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    error = "linking " + outputPath + " with " + driver + " failed" +
            (message.empty() ? "" : ": " + message);
    return failure();
  }
  return success();
}

} // namespace dsc
