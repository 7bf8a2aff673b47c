//===- CudaKernels.cpp - generic kernels through NVPTX -------------------===//
//
// Turns the host-kernel bodies into device functions with one entry kernel
// each, lowers them to the LLVM dialect (NVVM), links libdevice for the
// transcendental functions, and runs LLVM's NVPTX backend; ptxas makes the
// cubin when the toolkit has one.
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/CudaKernels.h"

#include "dsc/Target/HostKernels.h"
#include "dsc/Target/LLVMOptimizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IRReader/IRReader.h"
#include "llvm/Linker/Linker.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"

#include <cstdlib>

using namespace mlir;

namespace dsc {

std::string findCudaToolkit(const std::string &cudaPath) {
  auto hasPtxas = [](const std::string &dir) {
    return !dir.empty() && llvm::sys::fs::can_execute(dir + "/bin/ptxas");
  };
  if (!cudaPath.empty())
    return cudaPath;
  if (const char *home = std::getenv("CUDA_HOME"); home && hasPtxas(home))
    return home;
  if (auto ptxas = llvm::sys::findProgramByName("ptxas"))
    return llvm::sys::path::parent_path(llvm::sys::path::parent_path(*ptxas))
        .str();
  if (hasPtxas("/usr/local/cuda"))
    return "/usr/local/cuda";
  return "";
}

namespace {

/// math.exp/log/sin/cos become calls of libdevice's functions (accurate to
/// within an ulp or two; the NVPTX backend has no instruction for them).
void useLibdevice(ModuleOp kernels) {
  OpBuilder b(kernels.getContext());
  Type f32 = b.getF32Type();
  auto declare = [&](StringRef name) {
    if (auto f = kernels.lookupSymbol<func::FuncOp>(name))
      return f;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    auto f = func::FuncOp::create(b, kernels.getLoc(), name,
                                  b.getFunctionType({f32}, {f32}));
    f.setPrivate();
    return f;
  };
  SmallVector<Operation *> ops;
  kernels.walk([&](Operation *op) {
    if (isa<math::ExpOp, math::LogOp, math::SinOp, math::CosOp>(op))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    StringRef name = isa<math::ExpOp>(op)   ? "__nv_expf"
                     : isa<math::LogOp>(op) ? "__nv_logf"
                     : isa<math::SinOp>(op) ? "__nv_sinf"
                                            : "__nv_cosf";
    func::FuncOp callee = declare(name);
    b.setInsertionPoint(op);
    auto call = func::CallOp::create(b, op->getLoc(), callee,
                                     ValueRange{op->getOperand(0)});
    op->replaceAllUsesWith(call.getResults());
    op->erase();
  }
}

/// `<name>_entry(args, tokens, extent)`: thread i of the grid computes
/// parallel index i of kernel `name`. With grid dependency control the
/// entry first lets the next kernel of the stream launch (its blocks are
/// scheduled as soon as every block of this one has started) and then
/// waits until the previous kernel has finished and its writes are
/// visible: launched with programmatic stream serialization, consecutive
/// kernels overlap their launch and ramp with the predecessor's tail.
void addEntryKernel(ModuleOp kernels, StringRef name,
                    bool gridDependencyControl) {
  // A body that waits itself (kWaitsInBodyAttr) issues its weight loads
  // first; the entry then only lets the next kernel launch.
  auto body = kernels.lookupSymbol<func::FuncOp>(name);
  bool bodyWaits = body && body->hasAttr(kWaitsInBodyAttr);
  OpBuilder b(kernels.getContext());
  Location loc = kernels.getLoc();
  b.setInsertionPointToEnd(kernels.getBody());
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  auto i64 = b.getI64Type(), i32 = b.getI32Type();
  auto entry = func::FuncOp::create(b, loc, (name + "_entry").str(),
                                    b.getFunctionType({ptr, i64, i64}, {}));
  Block *block = entry.addEntryBlock();
  b.setInsertionPointToStart(block);
  if (gridDependencyControl) {
    NVVM::GriddepcontrolOp::create(b, loc,
                                   NVVM::GridDepActionKind::launch_dependents);
    if (!bodyWaits) {
      NVVM::GriddepcontrolOp::create(b, loc, NVVM::GridDepActionKind::wait);
      // The wait's intrinsic is marked as not touching memory: an empty asm
      // that clobbers memory keeps every load of the body below it.
      LLVM::InlineAsmOp::create(b, loc, Type(), ValueRange{}, "", "~{memory}",
                                /*has_side_effects=*/true,
                                /*is_align_stack=*/false,
                                LLVM::tailcallkind::TailCallKind::None,
                                LLVM::AsmDialectAttr(), ArrayAttr());
    }
  }
  Value block32 = NVVM::BlockIdXOp::create(b, loc, i32);
  Value dim32 = NVVM::BlockDimXOp::create(b, loc, i32);
  Value thread32 = NVVM::ThreadIdXOp::create(b, loc, i32);
  auto wide = [&](Value v) { return arith::ExtUIOp::create(b, loc, i64, v); };
  Value index = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, wide(block32), wide(dim32)),
      wide(thread32));
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                        index, block->getArgument(2));
  auto ifOp = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  Value next = arith::AddIOp::create(
      b, loc, index, arith::ConstantIntOp::create(b, loc, 1, 64));
  func::CallOp::create(
      b, loc, name, TypeRange{},
      ValueRange{block->getArgument(0), block->getArgument(1), index, next});
  b.setInsertionPointToEnd(block);
  func::ReturnOp::create(b, loc);
}

LogicalResult fail(ModuleOp m, const llvm::Twine &message) {
  return m.emitError(message);
}

} // namespace

FailureOr<CudaImage> compileCudaKernels(ModuleOp kernels,
                                        const std::vector<std::string> &names,
                                        const TargetDescription &target,
                                        const std::string &toolkit,
                                        bool usePtxas) {
  MLIRContext *ctx = kernels.getContext();
  ctx->loadDialect<NVVM::NVVMDialect>();
  useLibdevice(kernels);
  llvm::StringMap<ArrayRef<int64_t>> launchBounds;
  for (const std::string &name : names) {
    if (auto body = kernels.lookupSymbol<func::FuncOp>(name))
      if (auto bounds =
              body->getAttrOfType<DenseI64ArrayAttr>(kLaunchBoundsAttr))
        launchBounds[name] = bounds.asArrayRef();
    addEntryKernel(kernels, name, target.hasGridDependencyControl);
  }
  if (failed(lowerHostKernelsToLLVM(kernels)))
    return fail(kernels, "lowering the kernels to LLVM failed");
  for (const std::string &name : names) {
    if (auto f = kernels.lookupSymbol<LLVM::LLVMFuncOp>(name + "_entry")) {
      f->setAttr(NVVM::NVVMDialect::getKernelFuncAttrName(),
                 UnitAttr::get(ctx));
      auto bounds = launchBounds.find(name);
      if (bounds != launchBounds.end()) {
        // [threads, blocks per SM] (ds.launch_bounds, verified by the
        // dialect): .maxntid and .minnctapersm.
        auto threads = static_cast<int32_t>(bounds->second[0]);
        f->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                   DenseI32ArrayAttr::get(ctx, {threads, 1, 1}));
        f->setAttr(
            NVVM::NVVMDialect::getMinctasmAttrName(),
            IntegerAttr::get(IntegerType::get(ctx, 32), bounds->second[1]));
      }
    }
    // The body is called once, from its entry: inlined there (an NVPTX
    // call passes its arguments through the parameter space and keeps the
    // callee's registers apart from the caller's), and not emitted alone.
    if (auto body = kernels.lookupSymbol<LLVM::LLVMFuncOp>(name)) {
      body.setLinkage(LLVM::Linkage::Internal);
      body.setAlwaysInline(true);
    }
  }

  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  registerNVVMDialectTranslation(*ctx);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> module =
      translateModuleToLLVMIR(kernels, llvmContext, "dsc_kernels");
  if (!module)
    return fail(kernels, "translation to LLVM IR failed");

  llvm::InitializeAllTargetInfos();
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();
  llvm::Triple triple("nvptx64-nvidia-cuda");
  std::string error;
  const llvm::Target *nvptx = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!nvptx)
    return fail(kernels, "LLVM has no NVPTX backend: " + error);
  std::unique_ptr<llvm::TargetMachine> machine(nvptx->createTargetMachine(
      triple, target.chip, target.ptxFeature, llvm::TargetOptions(),
      std::nullopt, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return fail(kernels,
                "cannot create an NVPTX target machine for " + target.chip);
  module->setTargetTriple(triple);
  module->setDataLayout(machine->createDataLayout());

  // libdevice: exp, log, sin, cos. NVVMReflect (in the NVPTX pipeline) resolves
  // its __nvvm_reflect queries; no flush-to-zero.
  bool needsLibdevice = false;
  for (llvm::Function &f : *module)
    needsLibdevice |= f.isDeclaration() && f.getName().starts_with("__nv_");
  if (needsLibdevice) {
    std::string path = toolkit + "/nvvm/libdevice/libdevice.10.bc";
    llvm::SMDiagnostic diagnostic;
    std::unique_ptr<llvm::Module> libdevice =
        toolkit.empty() ? nullptr
                        : llvm::parseIRFile(path, diagnostic, llvmContext);
    if (!libdevice)
      return fail(kernels, "the CUDA kernels need libdevice.10.bc from a CUDA "
                           "toolkit (give --cuda-path or set CUDA_HOME); "
                           "looked for '" +
                               path + "'");
    libdevice->setTargetTriple(triple);
    libdevice->setDataLayout(module->getDataLayout());
    if (llvm::Linker::linkModules(*module, std::move(libdevice),
                                  llvm::Linker::LinkOnlyNeeded))
      return fail(kernels, "linking libdevice failed");
  }
  module->addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz",
                        static_cast<uint32_t>(0));

  optimizeModule(*module, *machine);

  CudaImage image;
  {
    llvm::raw_string_ostream ptxStream(image.ptx);
    llvm::buffer_ostream out(ptxStream);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, out, nullptr,
                                     llvm::CodeGenFileType::AssemblyFile))
      return fail(kernels, "the NVPTX backend cannot emit PTX");
    codegen.run(*module);
  }

  std::string ptxas = toolkit.empty() ? "" : toolkit + "/bin/ptxas";
  if (usePtxas && !ptxas.empty() && llvm::sys::fs::can_execute(ptxas)) {
    llvm::SmallString<128> ptxPath, cubinPath;
    llvm::sys::fs::createTemporaryFile("dsc-kernels", "ptx", ptxPath);
    llvm::sys::fs::createTemporaryFile("dsc-kernels", "cubin", cubinPath);
    {
      std::error_code ec;
      llvm::raw_fd_ostream out(ptxPath, ec);
      out << image.ptx;
    }
    std::string message;
    llvm::SmallVector<llvm::StringRef> args = {
        ptxas, "-arch", target.chip, "-O3", ptxPath, "-o", cubinPath};
    int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, {}, 0, 0,
                                       &message);
    auto cubin = llvm::MemoryBuffer::getFile(cubinPath);
    llvm::sys::fs::remove(ptxPath);
    if (rc != 0 || !cubin) {
      llvm::sys::fs::remove(cubinPath);
      return fail(kernels, "ptxas failed on the generated PTX" +
                               (message.empty() ? "" : ": " + message));
    }
    image.bytes.assign((*cubin)->getBufferStart(), (*cubin)->getBufferEnd());
    image.format = "cubin";
    llvm::sys::fs::remove(cubinPath);
    return image;
  }
  image.bytes.assign(image.ptx.begin(), image.ptx.end());
  image.bytes.push_back('\0');
  image.format = "ptx";
  return image;
}

} // namespace dsc
