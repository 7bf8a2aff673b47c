//===- DSBase.td - base classes of the ds dialect ----------*- tablegen -*-===//
//
// The `ds` dialect and the base classes every op, type and attribute of it
// derives from. Kept in one file so that a reader finds the dialect's
// conventions in one place.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_DSBASE_TD
#define DSC_DIALECT_DS_DSBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def DS_Dialect : Dialect {
  let name = "ds";
  let cppNamespace = "::dsc::ds";
  let summary = "DeepSeek model-level operations";
  let description = [{
    The `ds` dialect expresses a DeepSeek-V2, V2-Lite, V3, R1 or V3.1 model
    exactly as the checkpoint means it: one op per model concept (embedding,
    RMSNorm, linear layers with bf16 or block-scaled fp8 weights, YaRN RoPE,
    multi-head latent attention with its latent KV cache, the MoE router,
    routed and shared experts, the dense SwiGLU MLP, residual adds and the
    language-model head).

    Values are tensors whose only dynamic dimension is the token axis. Weights
    are module-level `ds.weight` symbols that name a checkpoint tensor (its
    name, dtype, shape and block-scale tensor) without holding data, so a
    module for a 671B-parameter model stays small and readable; functions
    read them with `ds.get_weight`.

    The numerics of every op follow the precision plan of
    `docs/model.md` §9b: bf16 activations between ops, fp32 accumulation
    inside them, fp32 routing.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  // Every discardable `ds.*` attribute the passes set, with its type; the
  // dialect's operation-attribute verifier rejects any other `ds.*` name and
  // any of these with another type.
  let discardableAttrs = (ins
    // func.func: "prefill" | "decode" (the frontend; ds-serialize).
    "::mlir::StringAttr":$entry,
    // module: the model metadata the frontend records for the program.
    "::mlir::DictionaryAttr":$model,
    // module: the ranks a partitioned program runs on (ds-partition).
    "::mlir::IntegerAttr":$ranks,
    // module: the instruction-set target and device profile the kernels
    // are configured for, "cuda:sm_90a/h200" or "cpu" (ds-configure-kernels).
    "::mlir::StringAttr":$target,
    // kernel-level op: the strategy ds-configure-kernels chose.
    "::dsc::ds::KernelConfigAttr":$config,
    // kernel-level op: the strategies for launches of few rows, a list of
    // #ds.kernel_variant in increasing rows (ds-configure-kernels).
    "::mlir::ArrayAttr":$variants,
    // kernel-level op: the kernel that runs it (ds-generate-kernels).
    "::mlir::FlatSymbolRefAttr":$kernel_ref,
    // kernel-level op: the arena byte offset of each result (ds-plan-buffers).
    "::mlir::ArrayAttr":$arena_offsets,
    // func.func: tokens per call (ds-plan-buffers).
    "::mlir::IntegerAttr":$max_tokens,
    // module: the activation arena's size in bytes (ds-plan-buffers).
    "::mlir::IntegerAttr":$arena_bytes,
    // module: the latent cache geometry (ds-schedule).
    "::mlir::DictionaryAttr":$cache,
    // nested module of generated kernels: "cpu" | "cuda" (ds-schedule).
    "::mlir::StringAttr":$kernels,
    // nested module of the generic twins of CUDA kernels (ds-schedule).
    "::mlir::StringAttr":$twin_kernels,
    // module: (parallel, extent) of each kernel's host twin (ds-schedule).
    "::mlir::ArrayAttr":$host_twins,
    // func.func of a CUDA kernel's body: the body waits for the previous
    // kernel itself (griddepcontrol.wait after its first weight loads), so
    // its entry does not (ds-generate-kernels).
    "::mlir::UnitAttr":$waits_in_body,
    // func.func of a CUDA kernel's body: [threads per block, blocks per
    // SM] its registers must allow; its entry gets them as launch bounds
    // (ds-generate-kernels).
    "::mlir::DenseI64ArrayAttr":$launch_bounds,
    // scheduled func.func: where its logits and sampled tokens are.
    "::dsc::ds::ArgAttr":$logits,
    "::dsc::ds::ArgAttr":$sampled,
    // scheduled func.func with ds-logprobs: where its log-probabilities
    // and their ids are, and how many top tokens a row reports.
    "::dsc::ds::ArgAttr":$logprobs,
    "::dsc::ds::ArgAttr":$logprob_ids,
    "::mlir::IntegerAttr":$top_logprobs
  );
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
    void registerTypes();
  }];
}

class DS_Op<string mnemonic, list<Trait> traits = []>
    : Op<DS_Dialect, mnemonic, traits>;

class DS_PureOp<string mnemonic, list<Trait> traits = []>
    : DS_Op<mnemonic, !listconcat(traits, [Pure])>;

class DS_TypeDef<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<DS_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

class DS_AttrDef<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<DS_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // DSC_DIALECT_DS_DSBASE_TD
