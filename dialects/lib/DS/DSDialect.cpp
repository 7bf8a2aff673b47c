//===- DSDialect.cpp - ds dialect registration ---------------------------===//
//
// Registers the ds dialect's operations, types and attributes, and holds the
// generated enum and dialect definitions.
//
//===----------------------------------------------------------------------===//

#include "dsc/Dialect/DS/DSDialect.h"
#include "dsc/Dialect/DS/KernelArguments.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dsc::ds;

#include "dsc/Dialect/DS/DSEnums.cpp.inc"
#include "dsc/Dialect/DS/DSOpsDialect.cpp.inc"

void DSDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dsc/Dialect/DS/DSOps.cpp.inc"
      >();
  registerTypes();
  registerAttributes();
}

/// Every discardable `ds.*` attribute is one the dialect declares
/// (`discardableAttrs` in DSBase.td), with the declared type.
LogicalResult DSDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attribute) {
  StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  auto expect = [&](bool ok, StringRef what) -> LogicalResult {
    if (ok)
      return success();
    return op->emitError("attribute '")
           << name << "' must be " << what << ", got " << value;
  };
  if (name == getEntryAttrHelper().getNameStr()) {
    auto entry = dyn_cast<StringAttr>(value);
    return expect(entry && (entry.getValue() == "prefill" ||
                            entry.getValue() == "decode"),
                  "\"prefill\" or \"decode\"");
  }
  if (name == getModelAttrHelper().getNameStr() ||
      name == getCacheAttrHelper().getNameStr())
    return expect(isa<DictionaryAttr>(value), "a dictionary");
  if (name == getTargetAttrHelper().getNameStr())
    return expect(isa<StringAttr>(value), "a string");
  if (name == getKernelRefAttrHelper().getNameStr())
    return expect(isa<FlatSymbolRefAttr>(value), "a symbol reference");
  if (name == getConfigAttrHelper().getNameStr())
    return expect(isa<KernelConfigAttr>(value), "a #ds.kernel_config");
  if (name == getVariantsAttrHelper().getNameStr()) {
    auto variants = dyn_cast<ArrayAttr>(value);
    int64_t previous = 0;
    bool ok = variants && !variants.empty() &&
              llvm::all_of(variants, [&](Attribute a) {
                auto v = dyn_cast<KernelVariantAttr>(a);
                if (!v || v.getRows() <= previous)
                  return false;
                previous = v.getRows();
                return true;
              });
    return expect(ok, "a non-empty array of #ds.kernel_variant in "
                      "increasing rows");
  }
  if (name == getArenaOffsetsAttrHelper().getNameStr()) {
    auto offsets = dyn_cast<ArrayAttr>(value);
    return expect(offsets && llvm::all_of(offsets,
                                          [](Attribute a) {
                                            auto i = dyn_cast<IntegerAttr>(a);
                                            return i && i.getInt() >= 0;
                                          }),
                  "an array of non-negative integers");
  }
  if (name == getMaxTokensAttrHelper().getNameStr() ||
      name == getArenaBytesAttrHelper().getNameStr()) {
    auto count = dyn_cast<IntegerAttr>(value);
    return expect(count && count.getInt() >= 0, "a non-negative integer");
  }
  if (name == getRanksAttrHelper().getNameStr()) {
    auto ranks = dyn_cast<IntegerAttr>(value);
    return expect(ranks && ranks.getInt() >= 2, "an integer >= 2");
  }
  if (name == getKernelsAttrHelper().getNameStr() ||
      name == getTwinKernelsAttrHelper().getNameStr()) {
    auto kind = dyn_cast<StringAttr>(value);
    return expect(kind &&
                      (kind.getValue() == "cpu" || kind.getValue() == "cuda"),
                  "\"cpu\" or \"cuda\"");
  }
  if (name == getHostTwinsAttrHelper().getNameStr())
    return expect(isa<ArrayAttr>(value), "an array");
  if (name == getWaitsInBodyAttrHelper().getNameStr())
    return expect(isa<UnitAttr>(value), "a unit attribute");
  if (name == getLaunchBoundsAttrHelper().getNameStr()) {
    auto bounds = dyn_cast<DenseI64ArrayAttr>(value);
    return expect(bounds && bounds.size() == 2 && bounds[0] >= 32 &&
                      bounds[0] <= 1024 && bounds[1] >= 1,
                  "[threads in [32, 1024], blocks per SM >= 1]");
  }
  if (name == getLogitsAttrHelper().getNameStr() ||
      name == getSampledAttrHelper().getNameStr() ||
      name == getLogprobsAttrHelper().getNameStr() ||
      name == getLogprobIdsAttrHelper().getNameStr())
    return expect(isa<ArgAttr>(value), "a #ds.arg");
  if (name == getTopLogprobsAttrHelper().getNameStr()) {
    auto top = dyn_cast<IntegerAttr>(value);
    return expect(top && top.getInt() >= 0 && top.getInt() <= kMaxTopLogProbs,
                  "an integer in [0, 64]");
  }
  return op->emitError("unknown discardable attribute '")
         << name << "' (the ds dialect declares its attributes in DSBase.td)";
}
