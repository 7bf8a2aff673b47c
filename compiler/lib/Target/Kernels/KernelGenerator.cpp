//===- KernelGenerator.cpp - one kernel per kernel-level op signature ----===//
//
// HostKernelGenerator builds one kernel function per distinct kernel-level
// op signature (op name, attributes but the layer, operand and result types)
// and records how its launches split the work. The bodies come from the op
// families' files beside this one (MatrixProducts.cpp, NormsAndRope.cpp,
// Attention.cpp, MoE.cpp, Sampling.cpp), built with the Emitter of
// Emitter.h as scf/arith/math IR over raw pointers (loads and stores through
// llvm.getelementptr). Loops are written out by hand rather than through
// linalg because most of the work is data-dependent indexing (token ids,
// expert choices, cache slots and positions) that a structured op does not
// express; the dot products carry `reassoc` so LLVM vectorises them.
//
// Numerics follow docs/model.md §9b: bf16 in memory, fp32 arithmetic, bf16
// rounding exactly where the references round. fp8 e4m3 weights are
// dequantised element by element (table lookup times block scale, rounded to
// bf16, as DeepSeek's reference dequantises before its bf16 GEMM).
//
//===----------------------------------------------------------------------===//

#include "dsc/Target/HostKernels.h"

#include "KernelFamilies.h"

#include "dsc/Dialect/DS/DSDialect.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cfloat>
#include <cmath>
#include <functional>

using namespace mlir;
using namespace dsc::ds;

namespace dsc {

namespace {

/// The op's configuration (`generic` where none was chosen).
KernelConfigAttr configOf(Operation *op) {
  if (auto config = op->getAttrOfType<KernelConfigAttr>("ds.config"))
    return config;
  return KernelConfigAttr::getGeneric(op->getContext());
}

std::string signatureOf(Operation *op) {
  std::string key;
  llvm::raw_string_ostream os(key);
  os << op->getName() << "(";
  for (Type t : op->getOperandTypes())
    os << t << ",";
  os << ")->(";
  for (Type t : op->getResultTypes())
    os << t << ",";
  os << ")" << configOf(op);
  if (Attribute variants = op->getAttr("ds.variants"))
    os << variants;
  for (NamedAttribute attr : op->getAttrs())
    // The layer only moves the cache pointer; the other discardable "ds.*"
    // attributes (buffer placement) do not change the code.
    if (attr.getName() != "layer" &&
        !attr.getName().getValue().starts_with("ds."))
      os << attr.getName().getValue() << "=" << attr.getValue() << ";";
  return key;
}

/// The static dimensions of `type` joined by 'x' ("" for none), with an
/// "_fp8" suffix for fp8 block weights.
std::string shapeName(Type type) {
  std::string name;
  auto append = [&](ArrayRef<int64_t> shape) {
    for (int64_t d : shape)
      if (!ShapedType::isDynamic(d))
        name += (name.empty() ? "" : "x") + std::to_string(d);
  };
  if (auto fp8 = dyn_cast<FP8BlockWeightType>(type)) {
    append(fp8.getShape());
    name += "_fp8";
  } else if (auto ranked = dyn_cast<RankedTensorType>(type)) {
    append(ranked.getShape());
  }
  return name;
}

/// dsc_<op>[_norm]_<strategy>[_g<query group>]_<shape> (_norm: a product
/// with a fused RMSNorm): the shape of the op's
/// first weight (an operand of static shape), else the static dimensions of
/// its first operand.
std::string kernelName(Operation *op, KernelConfigAttr config) {
  std::string name = "dsc_" + op->getName().stripDialect().str() +
                     (getInputNorm(op) ? "_norm_" : "_") +
                     stringifyKernelStrategy(config.getStrategy()).str();
  if (config.getRowGroup() != 1)
    name += "_g" + std::to_string(config.getRowGroup());
  std::string shape;
  for (Type t : op->getOperandTypes()) {
    auto shaped = dyn_cast<ShapedType>(t);
    if (isa<FP8BlockWeightType>(t) ||
        (shaped && shaped.hasStaticShape() && shaped.getRank() >= 2)) {
      shape = shapeName(t);
      break;
    }
  }
  if (shape.empty() && op->getNumOperands() > 0)
    shape = shapeName(op->getOperand(0).getType());
  if (!shape.empty())
    name += "_" + shape;
  return name;
}

} // namespace

FailureOr<unsigned> HostKernelGenerator::getOrCreate(Operation *op) {
  if (!isKernelOp(op))
    return op->emitOpError("has no host kernel (run ds-decompose first)");
  std::string signature = signatureOf(op);
  auto found = bySignature.find(signature);
  if (found != bySignature.end())
    return found->second;

  MLIRContext *ctx = kernels.getContext();
  ctx->loadDialect<arith::ArithDialect, func::FuncDialect, scf::SCFDialect,
                   math::MathDialect, LLVM::LLVMDialect>();
  OpBuilder b(ctx);
  Location loc = op->getLoc();
  b.setInsertionPointToEnd(kernels.getBody());

  // Shared constant tables.
  auto f32Array = [&](StringRef name, ArrayRef<float> values) {
    if (auto existing = kernels.lookupSymbol<LLVM::GlobalOp>(name))
      return existing;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      b.getF32Type());
    return LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getF32Type(), values.size()),
        /*isConstant=*/true, LLVM::Linkage::Internal, name,
        DenseElementsAttr::get(type, values));
  };
  std::vector<float> e4m3(256);
  for (int i = 0; i < 256; ++i)
    e4m3[i] = kernels::decodeE4M3Value(static_cast<uint8_t>(i));
  LLVM::GlobalOp fp8Table = f32Array("dsc_e4m3fn_table", e4m3);
  unsigned index = kernelInfos.size();
  KernelConfigAttr config =
      genericOnly ? KernelConfigAttr::getGeneric(ctx) : configOf(op);
  const kernels::KernelStrategyRow *row = kernels::findKernelStrategy(
      op->getName().getStringRef(), config.getStrategy());
  if (!row)
    return op->emitOpError("has no '")
           << stringifyKernelStrategy(config.getStrategy())
           << "' kernel strategy";
  // A `warp` kernel serves several rows per warp only where it is a matrix
  // product (MatrixProducts.cpp reads the group) or the routed experts' up
  // projection (MoE.cpp: the choices of an expert).
  if (config.getStrategy() == KernelStrategy::Warp &&
      config.getRowGroup() != 1 &&
      !isa<LinearOp, GatedLinearOp, LMHeadOp, MoEExpertUpOp>(op))
    return op->emitOpError("row_group ")
           << config.getRowGroup()
           << " with the 'warp' strategy applies to ds.linear, "
              "ds.gated_linear, ds.lm_head and ds.moe_expert_up only";
  // Every kernel gets a cost model: the profile reports each against it.
  if (!row->cost)
    return op->emitOpError("internal error: the '")
           << stringifyKernelStrategy(config.getStrategy())
           << "' kernel strategy has no cost function (KernelStrategies.cpp)";
  if (config.isWarpCooperative())
    ctx->loadDialect<NVVM::NVVMDialect>();
  // Named after what it computes; a second kernel of the same name (same
  // op, strategy and shape, other attributes) gets its signature's hash.
  std::string name = kernelName(op, config);
  if (!names.insert(name).second) {
    name += "_" + llvm::utohexstr(llvm::xxh3_64bits(signature) & 0xffffffff,
                                  /*LowerCase=*/true);
    if (!names.insert(name).second)
      return op->emitOpError("internal error: two kernels named ") << name;
  }
  auto invFreqTable = [&](RopeAttr rope) {
    return f32Array(name + "_inv_freq", kernels::ropeInverseFrequencies(rope));
  };
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i64 = b.getI64Type();
  auto func = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType({ptr, i64, i64, i64}, {}));
  auto sharedArray = [&](StringRef what, int64_t count) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    auto type = LLVM::LLVMArrayType::get(b.getF32Type(), count);
    return LLVM::GlobalOp::create(
        b, loc, type, /*isConstant=*/false, LLVM::Linkage::Internal,
        name + "_" + what.str(), Attribute(), /*alignment=*/16,
        /*addrSpace=*/3);
  };
  // The block's dynamic shared memory (its size is the configuration's
  // dynamic_shared_bytes, given at launch): `.extern .shared` in PTX.
  auto dynamicSharedArray = [&] {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(kernels.getBody());
    return LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
        /*isConstant=*/false, LLVM::Linkage::External, name + "_dynamic",
        Attribute(), /*alignment=*/16, /*addrSpace=*/3);
  };
  kernels::Emitter emitter(b, loc, func, op, fp8Table);
  if (config.isWarpCooperative()) {
    emitter.fp8Decode = fp8Decode;
    emitter.weightsBeforeWait = weightsBeforeWait;
  }
  kernels::KernelBodyContext context{
      emitter, cache, config, invFreqTable, sharedArray, dynamicSharedArray};
  kernels::KernelShape shape = row->emit(context, op);
  if (!shape.error.empty())
    return op->emitOpError("cannot be generated as '")
           << stringifyKernelStrategy(config.getStrategy())
           << "': " << shape.error;
  func::ReturnOp::create(b, loc);
  // Its entry then only lets the next kernel launch (CudaKernels.cpp).
  if (emitter.waitsInBody)
    func->setAttr(kWaitsInBodyAttr, UnitAttr::get(ctx));
  if (emitter.minBlocksPerSM)
    func->setAttr(
        kLaunchBoundsAttr,
        b.getDenseI64ArrayAttr({config.getBlock(), emitter.minBlocksPerSM}));

  KernelInfo info;
  info.name = name;
  info.parallel = shape.parallel;
  info.extent = shape.extent;
  info.perOutput = isa<LMHeadOp, SampleOp, LogProbsOp>(op);
  info.config = config;
  kernels::KernelCost cost = row->cost(op);
  info.cost = KernelCostAttr::getChecked(
      [&] { return op->emitOpError("internal error: its kernel's cost: "); },
      ctx, cost.bytesFixed, cost.bytesPerRow, cost.bytesPerContext,
      cost.bytesPerExpert, cost.experts, cost.expertsPerRow, cost.flopsPerRow,
      cost.flopsPerContext, cost.fp8);
  if (!info.cost)
    return failure();
  std::vector<KernelArgument> layout = kernelArguments(op);
  for (unsigned i = 0; i < layout.size(); ++i) {
    if (layout[i].kind != KernelArgument::Result)
      continue;
    auto type =
        cast<RankedTensorType>(op->getResult(layout[i].index).getType());
    KernelOutput out;
    out.arg = i;
    Type element = type.getElementType();
    out.dtype = element.isBF16()  ? KernelOutput::BF16
                : element.isF32() ? KernelOutput::F32
                                  : KernelOutput::I32;
    out.rowElements = 1;
    for (int64_t d : type.getShape().drop_front())
      out.rowElements *= d;
    info.outputs.push_back(out);
  }
  info.writesCache = llvm::any_of(
      op->getResultTypes(), [](Type t) { return isa<LatentCacheType>(t); });
  llvm::raw_string_ostream summary(info.summary);
  summary << op->getName();
  for (Type t : op->getOperandTypes())
    if (!isa<LatentCacheType>(t))
      summary << " " << t;
  kernelInfos.push_back(info);
  bySignature[signature] = index;
  return index;
}

LogicalResult lowerHostKernelsToLLVM(ModuleOp kernels) {
  PassManager pm(kernels.getContext());
  // bf16 extf/truncf become integer bit manipulation (round to nearest
  // even), which every x86-64 CPU runs and LLVM vectorises.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  return pm.run(kernels);
}

} // namespace dsc
