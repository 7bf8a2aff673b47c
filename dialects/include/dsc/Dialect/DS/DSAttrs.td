//===- DSAttrs.td - ds enums and attributes ----------------*- tablegen -*-===//
//
// Enumerations (router scoring and selection, RoPE scaling, fp8 scale format)
// and the RoPE attribute that carries every YaRN parameter of the config.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_DSATTRS_TD
#define DSC_DIALECT_DS_DSATTRS_TD

include "dsc/Dialect/DS/DSBase.td"

def DS_ScoringFunc : I32EnumAttr<"ScoringFunc",
    "how router logits become expert scores", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Sigmoid", 1, "sigmoid">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}
def DS_ScoringFuncAttr : EnumAttr<DS_Dialect, DS_ScoringFunc, "scoring"> {
  let assemblyFormat = "`<` $value `>`";
}

def DS_TopkMethod : I32EnumAttr<"TopkMethod",
    "how the router chooses experts from their scores", [
      I32EnumAttrCase<"Greedy", 0, "greedy">,
      I32EnumAttrCase<"GroupLimitedGreedy", 1, "group_limited_greedy">,
      I32EnumAttrCase<"NoauxTc", 2, "noaux_tc">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}
def DS_TopkMethodAttr : EnumAttr<DS_Dialect, DS_TopkMethod, "topk_method"> {
  let assemblyFormat = "`<` $value `>`";
}

def DS_RopeScaling : I32EnumAttr<"RopeScaling",
    "frequency scaling of the rotary embedding", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"Yarn", 1, "yarn">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}

def DS_ScaleFormat : I32EnumAttr<"ScaleFormat",
    "number format of fp8 block scales", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"UE8M0", 1, "ue8m0">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}

/// A double stored as APFloat (so it can be hashed and uniqued), written as a
/// plain float literal.
def DS_F64Parameter : APFloatParameter<"a double-precision value"> {
  let parser = [{ ::dsc::ds::detail::parseF64($_parser) }];
  let printer = [{ $_printer.printFloat($_self) }];
}

def DS_ArgKind : I32EnumAttr<"ArgKind",
    "where a kernel launch argument points", [
      I32EnumAttrCase<"Arena", 0, "arena">,
      I32EnumAttrCase<"Weight", 1, "weight">,
      I32EnumAttrCase<"WeightScales", 2, "weight_scales">,
      I32EnumAttrCase<"Cache", 3, "cache">,
      I32EnumAttrCase<"Tokens", 4, "tokens">,
      I32EnumAttrCase<"Positions", 5, "positions">,
      I32EnumAttrCase<"Slots", 6, "slots">,
      I32EnumAttrCase<"Rows", 7, "rows">,
      I32EnumAttrCase<"Sampling", 8, "sampling">,
      I32EnumAttrCase<"PageTable", 9, "page_table">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}

def DS_ArgAttr : DS_AttrDef<"Arg", "arg"> {
  let summary = "one pointer argument of a scheduled kernel launch";
  let description = [{
    Where a launch argument points at run time: `arena` (byte offset in the
    activation arena), `weight` / `weight_scales` (index of a `ds.weight` in
    module order), `cache` (byte offset of a layer inside a page of the
    latent KV cache), `page_table` (the cache's page table, value 0),
    or the chunk's `tokens`, `positions` and `slots`, its output `rows` and
    their `sampling` parameters (value 0).

    ```mlir
    #ds.arg<arena, 4096>
    ```
  }];
  let parameters = (ins EnumParameter<DS_ArgKind>:$kind, "uint64_t":$value);
  let assemblyFormat = "`<` $kind `,` $value `>`";
}

def DS_ParallelDim : I32EnumAttr<"ParallelDim",
    "what a kernel's parallel index ranges over", [
      I32EnumAttrCase<"Tokens", 0, "tokens">,
      I32EnumAttrCase<"Static", 1, "static">,
      I32EnumAttrCase<"TokensTimesStatic", 2, "tokens_x_static">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}
def DS_ParallelDimAttr : EnumAttr<DS_Dialect, DS_ParallelDim, "parallel"> {
  let assemblyFormat = "`<` $value `>`";
}

def DS_RowCount : I32EnumAttr<"RowCount",
    "what a kernel's row count counts", [
      I32EnumAttrCase<"Tokens", 0, "tokens">,
      I32EnumAttrCase<"Outputs", 1, "outputs">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}
def DS_RowCountAttr : EnumAttr<DS_Dialect, DS_RowCount, "rows"> {
  let assemblyFormat = "`<` $value `>`";
}

def DS_KernelStrategy : I32EnumAttr<"KernelStrategy",
    "how a kernel-level op becomes a kernel", [
      I32EnumAttrCase<"Generic", 0, "generic">,
      I32EnumAttrCase<"Warp", 1, "warp">,
      I32EnumAttrCase<"WarpQueryGroup", 2, "warp_query_group">,
      I32EnumAttrCase<"BlockSplit", 3, "block_split">,
      I32EnumAttrCase<"Block", 4, "block">,
      I32EnumAttrCase<"PositionSplit", 5, "position_split">,
      I32EnumAttrCase<"PositionSplitMma", 6, "position_split_mma">,
      I32EnumAttrCase<"ClusterBlock", 7, "cluster_block">,
      I32EnumAttrCase<"WarpAsync", 8, "warp_async">,
      I32EnumAttrCase<"TileMma", 9, "tile_mma">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::dsc::ds";
}

def DS_KernelConfigAttr : DS_AttrDef<"KernelConfig", "kernel_config"> {
  let summary = "the kernel strategy chosen for a kernel-level op";
  let description = [{
    Set on every kernel-level op by `ds-configure-kernels` from the
    instruction set of the target and the device profile; the kernel
    generators read it and decide nothing themselves.

    | strategy | what the kernel does | ops |
    |---|---|---|
    | `generic` | the generic lowering: each thread computes a share of the parallel dimension with serial loops (every op on the host; element-wise ops on GPUs) | all |
    | `warp` | CUDA cores, warp-cooperative: 32 lanes per output row or element, reduced with shuffles, 16-byte loads; with `row_group` R > 1 (products), a warp serves one output feature of R input rows, so each weight row is read once per R rows (a group of one row runs the one-row code); for `ds.moe_expert_up`, a block serves features of one expert for the chunk's choices of it, R at a time (the expert-grouped kernel) | products, norms, embedding, cache write, absorbed attention, experts, router, the split attention's combine |
    | `warp_async` | `warp` with each warp's weight rows copied to its share of the block's dynamic shared memory by `cp.async` (sm_80+), several iterations' groups requested before the first is used, without holding registers; each lane reads back only what it copied, so no barrier is needed for them; the block's token's activations are staged once in front of the warps' shares (one barrier) | `ds.moe_expert_down` |
    | `tile_mma` | products on tensor cores (mma.sync m16n8k16, f32 accumulated): a block per 8 output features and 16 input rows, its warps splitting the reduction, their sums added through shared memory; the rows' activations staged once per block in dynamic shared memory (normalised there where the product has a fused norm; for fp8 weights as f16 with a power-of-two scale per row and 128-column block, the weights decoded by `cvt.rn.f16x2.e4m3x2` and each block's sum scaled once); rows past 16 by the blocks of later rows | `ds.linear`, `ds.gated_linear`, `ds.lm_head` (decode, with `tile-mma`) |
    | `warp_query_group` | latent attention with `row_group` tokens of one slot per warp, each cache row read once for the group | `ds.mla_latent_attention` (prefill) |
    | `block` | a block of `block` threads per row: every pass over the row split over the block with 16-byte loads, reduced with shuffles and through shared memory (`ds.sample`, `ds.logprobs`: its radix selection's bins counted with shared-memory atomics); a block per token, a warp per expert's logit, the choice by its first warp (`ds.moe_gate`); a row wider than one warp's loads in flight, each warp loading its 256-column groups at once, their sums of squares added through shared memory in the `warp` kernel's order (`ds.rms_norm`) | `ds.sample`, `ds.logprobs`, `ds.moe_gate`, `ds.rms_norm` |
    | `cluster_block` | `block` on a thread-block cluster (sm_90+) of `splits` blocks per row: every pass split over the cluster's threads; each block reduces through its shared memory, then one warp per block combines the cluster's block results, in rank order, through distributed shared memory between two cluster barriers (`ds.sample`); a token's experts spread over the cluster's warps, each logit stored into the first block's shared memory, the choice by that block's first warp after a cluster barrier (`ds.moe_gate`); a (token, head) per cluster, each block merging a slice of the split attention's latent row into every block's copy, then its share of the value features (`ds.mla_absorb_value combine(...)`) | `ds.sample`, `ds.moe_gate`, `ds.mla_absorb_value` |
    | `block_split` | latent attention with a block of `block / 32` warps per (token, head), each warp a share of the cached positions, combined in shared memory | `ds.mla_latent_attention` (decode, where `position_split` does not apply) |
    | `position_split` | latent attention with a block per (token, share of the positions, group of up to 8 heads): the block stages 32 cache rows at a time in shared memory and every head of the group reads them there; at most `splits` shares per token, merged by `ds.mla_attention_combine` | `ds.mla_latent_attention` (decode; `ds-split-attention` turns it into `ds.mla_latent_attention_partial` + `ds.mla_attention_combine`) |
    | `position_split_mma` | `position_split` on tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulated): a block of 4 warps per (token, share of the positions, group of 16 heads, the heads being the products' M), 32 cache rows per tile double-buffered in dynamic shared memory by `cp.async`; each warp scores 8 of a tile's rows for all 16 heads and accumulates a quarter of the latent columns; probabilities enter the value product rounded to bf16 | as `position_split` |

    `block` is the GPU threads per block (a multiple of 32, at most 1024;
    ignored on the host). `row_group` is the rows one warp serves
    together: the query tokens of `warp_query_group`, the input rows of a
    `warp` product (`ds.linear`, `ds.gated_linear`, `ds.lm_head`), the
    choices of one expert (`ds.moe_expert_up`); 1 for
    every other strategy. `dynamic_shared_bytes` is
    the dynamic shared memory a block asks for at launch (at most 227 KB,
    sm_90's opt-in maximum; `position_split_mma`, and `warp_async` and
    `tile_mma`, which need it, use it; the others' shared arrays are static); the program's
    launch record carries it. `splits` is the
    most blocks one token's positions are spread over, for
    `position_split` and `position_split_mma`; the blocks of a cluster (2
    to 8, the portable cluster size; the launch record carries it) for
    `cluster_block`; 1 otherwise.

    ```mlir
    #ds.kernel_config<strategy = warp, block = 128>
    #ds.kernel_config<strategy = block_split, block = 512>
    #ds.kernel_config<strategy = block, block = 512>
    #ds.kernel_config<strategy = warp_query_group, block = 128, row_group = 4>
    #ds.kernel_config<strategy = position_split, block = 256, splits = 132>
    #ds.kernel_config<strategy = cluster_block, block = 1024, splits = 8>
    #ds.kernel_config<strategy = warp_async, block = 64, dynamic_shared_bytes = 49152>
    ```
  }];
  let parameters = (ins
    EnumParameter<DS_KernelStrategy>:$strategy,
    DefaultValuedParameter<"int64_t", "128">:$block,
    DefaultValuedParameter<"int64_t", "1">:$row_group,
    DefaultValuedParameter<"int64_t", "0">:$dynamic_shared_bytes,
    DefaultValuedParameter<"int64_t", "1">:$splits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The generic lowering (what every host kernel and host twin uses).
    static KernelConfigAttr getGeneric(::mlir::MLIRContext *context);
    /// Whether the kernel runs lanes of CUDA warps (every strategy but
    /// `generic`): 32 per row or a block's.
    bool isWarpCooperative() const {
      return getStrategy() != KernelStrategy::Generic;
    }
  }];
}

def DS_ShardAttr : DS_AttrDef<"Shard", "shard"> {
  let summary = "the part of a checkpoint tensor one rank holds";
  let description = [{
    On a `ds.weight` of a program partitioned over `ranks` GPUs (or CPU
    ranks), by `ds-partition`: the declared type is one rank's part, and
    the checkpoint tensor is `ranks` times larger along dimension `dim`.

    - Contiguous (the default): rank `r` holds indices
      `[r * n, (r + 1) * n)` of `dim`, where `n` is the declared size. Heads
      of attention (rows of q / q_b and kv_b, columns of o) and the
      intermediate features of an MLP (rows of gate and up, columns of down)
      are split this way.
    - `interleaved` (only on an expert stack, `dim = 0`): rank `r` holds the
      experts `e` with `e mod ranks == r`, local expert `i` being `e = i *
      ranks + r`, so that the choices of one routing group spread over the
      ranks (`docs/design/multi-gpu.md`).

    An fp8 weight's part covers whole scale blocks along `dim`, so each rank
    reads its scales as a contiguous part of `weight_scale_inv` too.

    ```mlir
    ds.weight @layers.0.self_attn.o_proj = "model.layers.0.self_attn.o_proj.weight"
        shard <dim = 1, ranks = 2> : tensor<2048x1024xbf16>
    ds.weight @layers.1.mlp.experts.up_proj = "model.layers.1.mlp.experts.{e}.up_proj.weight"
        experts 32 shard <dim = 0, ranks = 2, interleaved = true> : tensor<32x1408x2048xbf16>
    ```
  }];
  let parameters = (ins "int64_t":$dim, "int64_t":$ranks,
                        DefaultValuedParameter<"bool", "false">:$interleaved);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def DS_KernelVariantAttr : DS_AttrDef<"KernelVariant", "kernel_variant"> {
  let summary = "another strategy for the launches of few rows";
  let description = [{
    One entry of a kernel-level op's `ds.variants` (set by
    `ds-configure-kernels`): a launch of the op with at most `rows` rows
    (the chunk's tokens, or its output rows) runs a kernel generated with
    `config` instead of the op's `ds.config`. The variants of an op are in
    increasing `rows`, and a launch runs the first one its rows fit, else
    the op's own kernel. Every variant computes the same op with the same
    arguments, so the runtime picks one when it launches (a decode graph
    is captured per batch size) and the kernel checks compare any of them
    with the op's host twin.

    The use: a `warp` product with `row_group = 4` holds the grouped path's
    registers even when a launch has one row, so batch-1 decode runs its
    `row_group = 1` variant, which has only the one-row path.

    ```mlir
    ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp, block = 128>>]
    ```
  }];
  let parameters = (ins "int64_t":$rows, "KernelConfigAttr":$config);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

/// A cost coefficient: a double stored as APFloat, 0 when omitted, written
/// as an integer when it is one (byte and FLOP counts almost always are).
/// `inf` and `nan` parse, so that the verifier rather than the parser
/// rejects them.
def DS_CostParameter : APFloatParameter<"a cost coefficient"> {
  let parser = [{ ::dsc::ds::detail::parseCost($_parser) }];
  let printer = [{ ::dsc::ds::detail::printCost($_printer, $_self) }];
  let defaultValue = "::llvm::APFloat(0.0)";
}

def DS_KernelCostAttr : DS_AttrDef<"KernelCost", "kernel_cost"> {
  let summary = "what one launch of a kernel must move and compute";
  let description = [{
    The cost model of a generated kernel, for the per-kernel profile
    (`--profile`): with `R` the launch's row count (the chunk's tokens, or
    its output rows for kernels whose `rows` is `outputs`), `C` the
    positions its rows attend to (the sum over rows of position + 1) and
    `X = min(experts, R * experts_per_row)` the experts it can touch,

        bytes = bytes_fixed + bytes_per_row * R + bytes_per_context * C
                + bytes_per_expert * X
        flops = flops_per_row * R + flops_per_context * C

    Bytes are the compulsory HBM traffic: every weight (and fp8 scale) byte
    read once, cache rows read and written, activation rows read and
    written; not what a particular strategy re-reads. `fp8` marks kernels
    whose products take fp8 weights (their FLOPs count against the fp8
    ceiling). Each op family's cost function, next to its kernel generator,
    computes it (`docs/design/cuda-target.md` lists what each counts); ds-generate-kernels
    sets it on every `ds.kernel`, and the program carries it
    (`KernelCost` of `program.fbs`).

    Omitted coefficients are 0. All must be finite and non-negative;
    `experts_per_row` may not exceed `experts`, and expert bytes need both.

    ```mlir
    #ds.kernel_cost<bytes_fixed = 2048, bytes_per_row = 1024, flops_per_row = 2048>
    #ds.kernel_cost<bytes_per_row = 1056, bytes_per_expert = 131072, experts = 16, experts_per_row = 4, flops_per_row = 524288, fp8 = true>
    ```
  }];
  let parameters = (ins
    DS_CostParameter:$bytes_fixed,
    DS_CostParameter:$bytes_per_row,
    DS_CostParameter:$bytes_per_context,
    DS_CostParameter:$bytes_per_expert,
    DefaultValuedParameter<"int64_t", "0">:$experts,
    DefaultValuedParameter<"int64_t", "0">:$experts_per_row,
    DS_CostParameter:$flops_per_row,
    DS_CostParameter:$flops_per_context,
    DefaultValuedParameter<"bool", "false">:$fp8);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [AttrBuilder<(ins "double":$bytes_fixed,
      "double":$bytes_per_row, "double":$bytes_per_context,
      "double":$bytes_per_expert, "int64_t":$experts,
      "int64_t":$experts_per_row, "double":$flops_per_row,
      "double":$flops_per_context, "bool":$fp8), [{
    auto f = [](double v) { return ::llvm::APFloat(v); };
    return $_get($_ctxt, f(bytes_fixed), f(bytes_per_row),
                 f(bytes_per_context), f(bytes_per_expert), experts,
                 experts_per_row, f(flops_per_row), f(flops_per_context), fp8);
  }]>];
  let extraClassDeclaration = [{
    /// The launch's bytes for `rows` rows attending to `context` positions.
    double bytesFor(double rows, double context) const;
    /// The launch's FLOPs for `rows` rows attending to `context` positions.
    double flopsFor(double rows, double context) const;
  }];
}

def DS_RopeAttr : DS_AttrDef<"Rope", "rope"> {
  let summary = "rotary position embedding parameters (YaRN)";
  let description = [{
    Every parameter of the config's `rope_theta` and `rope_scaling` that the
    rotary embedding needs (`docs/model.md` §4). `dim` is the rotated
    width (`qk_rope_head_dim`). With `scaling = yarn` the inverse frequencies
    blend extrapolation and interpolation by `factor` between the correction
    dimensions of `beta_fast` and `beta_slow`, and cos/sin are multiplied by
    `mscale(factor, mscale) / mscale(factor, mscale_all_dim)`. With
    `scaling = none` the other fields are ignored and must keep their defaults.

    Channels are rotated as interleaved pairs `(x[2i], x[2i+1])`, the
    checkpoint's layout.

    ```mlir
    #ds.rope<dim = 64, theta = 10000.0, scaling = yarn, factor = 40.0,
             original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0,
             mscale = 1.0, mscale_all_dim = 1.0>
    ```
  }];
  let parameters = (ins
    "int64_t":$dim,
    DS_F64Parameter:$theta,
    EnumParameter<DS_RopeScaling>:$scaling,
    DS_F64Parameter:$factor,
    "int64_t":$original_max_position,
    DS_F64Parameter:$beta_fast,
    DS_F64Parameter:$beta_slow,
    DS_F64Parameter:$mscale,
    DS_F64Parameter:$mscale_all_dim);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [AttrBuilder<(ins "int64_t":$dim, "double":$theta,
      "RopeScaling":$scaling, "double":$factor, "int64_t":$original_max_position,
      "double":$beta_fast, "double":$beta_slow, "double":$mscale,
      "double":$mscale_all_dim), [{
    auto f = [](double v) { return ::llvm::APFloat(v); };
    return $_get($_ctxt, dim, f(theta), scaling, f(factor),
                 original_max_position, f(beta_fast), f(beta_slow), f(mscale),
                 f(mscale_all_dim));
  }]>];
  let extraClassDeclaration = [{
    /// The factor YaRN applies to cos and sin (1.0 without scaling).
    double getCosSinScale() const;
  }];
}

#endif // DSC_DIALECT_DS_DSATTRS_TD
