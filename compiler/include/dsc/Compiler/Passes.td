//===- Passes.td - dsc passes ------------------------------*- tablegen -*-===//
//
// Every pass of dsc, named ds-<verb>. The pipelines that chain them are C++
// functions in Pipelines.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_COMPILER_PASSES_TD
#define DSC_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def DSAbsorbMLA : Pass<"ds-absorb-mla", "::mlir::ModuleOp"> {
  let summary = "Run decode attention in the weight-absorbed latent form";
  let description = [{
    Marks every `ds.mla` of the entry points whose `ds.entry` is `decode`
    with `absorbed`: their attention runs in the latent space of
    `docs/model.md` §2.7. `W_UK[h]` and `W_UV[h]` are the two row blocks
    of head `h` in `kv_b_proj` (rows `h*(dn+dv) .. +dn` and `.. +dv`), so the
    compiled kernels read them in place, in the checkpoint's layout: nothing
    is reshaped or copied at run time. Prefill keeps the naive form, where
    expanding keys and values once per chunk is cheaper than a latent-space
    product per query. `entries` overrides which entry points are absorbed.
  }];
  let options = [
    ListOption<"entries", "entries", "std::string",
               "entry points to absorb (default: decode)">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSPartition : Pass<"ds-partition", "::mlir::ModuleOp"> {
  let summary = "Split the model over several ranks (tensor and expert parallel)";
  let description = [{
    Rewrites a model (the frontend's model-level ops) into the program that
    each of `tensor-parallel` ranks runs on its own part of the weights
    (`docs/design/multi-gpu.md`, "TP attention"):

    - `ds.mla`: the heads split contiguously (the rows of `q` or `q_b` and of
      `kv_b`, the columns of `o`); `q_a`, `kv_a`, the norms and the latent
      cache stay whole on every rank, `num_heads` becomes the rank's count.
    - `ds.mlp` (dense layers and shared experts): the intermediate features
      split (rows of gate and up, columns of down).
    - `ds.moe_experts`: the routed experts interleaved, expert `e` on rank
      `e mod N` (the choices of one routing group land on different ranks);
      the router stays whole and its choices pass through
      `ds.moe_local_choices` with the rank (`ds.rank`).
    - A `ds.all_reduce` after each of these blocks, whose outputs are now
      partial sums; where the routed and shared experts' outputs are added,
      one all-reduce sums both.
    - `ds.lm_head`: the vocabulary split (rows of its weight) where N
      divides it, its logits gathered with `ds.all_gather` so every rank
      samples from all of them; else whole on every rank.
    - The embedding and the final norm stay whole.

    Split weights get their part's type and a `#ds.shard`, and the module
    `ds.ranks = N`. A head, feature or expert count that N does not divide,
    or an fp8 part that does not cover whole scale blocks, is an error.
    `tensor-parallel=1` (the default) leaves the module as it is.
  }];
  let options = [
    Option<"tensorParallel", "tensor-parallel", "int64_t", "1",
           "ranks to split the model over">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSDecompose : Pass<"ds-decompose", "::mlir::ModuleOp"> {
  let summary = "Split model-level ops into kernel-level ops";
  let description = [{
    Rewrites the ops that hold several kernels into the kernel-level ops of
    the ds dialect, each of which has one parallel dimension and becomes one
    kernel launch:

    | model level | kernel level |
    |---|---|
    | `ds.mlp` | `ds.linear` (gate), `ds.linear` (up), `ds.swiglu`, `ds.linear` (down) |
    | `ds.mla` | q path `ds.linear`/`ds.rms_norm`, `ds.linear` (kv_a), `ds.mla_cache_write`, `ds.mla_attention`, `ds.linear` (o) |
    | `ds.moe_gate` | `ds.router_logits`, `ds.moe_select` |
    | `ds.moe_experts` | `ds.moe_expert_up`, `ds.moe_expert_down` |

    Rounding points are those of `docs/model.md` §9b: every
    intermediate the split exposes is a bf16 tensor, as in the references.
  }];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSFuseEpilogues : Pass<"ds-fuse-epilogues", "::mlir::ModuleOp"> {
  let summary = "Fold SwiGLU and residual adds into the matrix products";
  let description = [{
    Three fusions that save a launch and a pass over memory each:

    - `ds.swiglu` of two `ds.linear`s of one input and one weight type,
      used only there (a SwiGLU MLP's gate and up), becomes one
      `ds.gated_linear`: both weights read in one pass, the intermediates
      never stored, the same roundings.

    - A `ds.add` one of whose operands is a `ds.linear` used only by that
      add becomes the linear's addend: the product kernel adds it while
      storing (`ds.linear ... plus(...)`). Chains fold in order (the shared
      expert's down projection, plus the routed experts' sum, plus the
      residual: one kernel), with the same bf16 rounding after each
      addition as the adds had.

    - Then a `ds.linear` whose first addend is a `ds.moe_expert_down` used
      only there (the shared experts' down projection, plus the routed
      experts' sum, plus the residual) becomes that `ds.moe_expert_down`
      with `shared(...)` and the linear's other addends: one kernel reads
      the routed and the shared down weights, with the linear's roundings.

    Each fused op takes the place of the op it replaces in the block.

    ```mlir
    %o = ds.linear %a, %wo : ...
    %h2 = ds.add %o, %h : tensor<?x2048xbf16>
    // becomes
    %h2 = ds.linear %a, %wo plus(%h : tensor<?x2048xbf16>) : ...
    ```
  }];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSFuseNorms : Pass<"ds-fuse-norms", "::mlir::ModuleOp"> {
  let summary = "Fold RMSNorms into the prologues of the products that read them";
  let description = [{
    A `ds.rms_norm` all of whose uses are the input (operand 0) of
    products that take a `norm(...)` clause (`ds.linear`,
    `ds.gated_linear`, `ds.router_logits`, `ds.moe_expert_up`,
    `ds.lm_head`), none of which has one yet, is erased: each of those
    products reads the norm's input instead, through the norm's weight and
    eps, so the normalised row is never stored and the norm costs no
    launch: a decoder layer's attention norm joins its query and latent
    products, its MoE norm the router, the routed experts' gate/up and the
    shared experts' products, the final norm the lm_head. On CUDA targets
    each block of such a product normalises its row once into shared
    memory, its loads issued beside its first weight loads, bit for bit the
    norm kernel's output (`KernelBody::normalizedRowStage`); the host
    kernels normalise each feature as they read it, once per output.

    A norm with any other use (or none) is left alone, and so is one read
    by a `ds.lm_head` with `lm-head=false`, and the
    entry points not in `entries` (default: decode): prefill's CUDA-core
    products are bound by arithmetic, which the per-output normalisation
    multiplies.

    `dsc compile` runs it by default on CUDA targets for models with bf16
    linear weights, with `lm-head=false`, and not for the CPU or fp8
    weights (`--fuse-norms=true|false` chooses). Measured on an H200
    (V2-Lite decode, `docs/performance.md`, seventh session): bf16 batch 1
    +5%; fp8 batch 1 -2% and batch 4 -9% (the fp8 query product loses
    more than the launch saves); the lm_head, whose 25,600 blocks each
    stage the row, 0.123 ms against 0.095 + one norm launch.

    ```mlir
    %n = ds.rms_norm %h, %g {eps = 1.0e-06 : f64} : tensor<?x2048xbf16>, tensor<2048xbf16>
    %q = ds.linear %n, %wq : tensor<?x2048xbf16>, tensor<3072x2048xbf16> -> tensor<?x3072xbf16>
    // becomes
    %q = ds.linear %h, %wq norm(%g : tensor<2048xbf16>) {norm_eps = 1.0e-06 : f64} : tensor<?x2048xbf16>, tensor<3072x2048xbf16> -> tensor<?x3072xbf16>
    ```
  }];
  let options = [
    ListOption<"entries", "entries", "std::string",
               "entry points whose norms fold (default: decode)">,
    Option<"lmHead", "lm-head", "bool", /*default=*/"true",
           "fold the final norm into the lm_head too">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSFuseRouter : Pass<"ds-fuse-router", "::mlir::ModuleOp"> {
  let summary = "Join the router's logits and expert selection into one kernel";
  let description = [{
    A `ds.moe_select` whose logits come from a `ds.router_logits` used only
    there becomes one `ds.moe_gate` again (`ds-decompose` split it): the
    logits, the scores, the group-limited choice and the top-k of a token in
    one kernel, so a MoE layer's decode step waits for one launch less. The
    product's `norm(...)` clause (ds-fuse-norms) moves to the gate. The
    results are those of the two ops: the logits are summed in the same
    order and the choice is the same code.

    On CUDA targets with thread-block clusters (sm_90+) the gate's kernel
    (`cluster_block`) spreads a token's experts over a cluster of 8 blocks,
    a warp per expert as the router product does; each warp stores its
    logit in the first block's shared memory (distributed shared memory),
    and after one cluster barrier a warp of that block chooses. Elsewhere
    (`block`) one block serves a token. The host kernel computes a token's
    logits into scratch memory and chooses from them.

    `dsc compile --fuse-router` runs it, after ds-fuse-norms; it is off by
    default. Measured on an H200 (V2-Lite decode, `docs/performance.md`,
    ninth session), the gate kernel takes 4.7 us where the two took 3.3 +
    2.8, and the logits are bit for bit those of the two kernels; but with
    programmatic dependent launch (sm_90) the selection's launch already
    overlaps the product, so decode is level at batch 1 (+0.6% to +1.6%),
    4% slower at 4K context with the launches on streams, and V3's router
    (3.7 MB, read by the cluster's 8 SMs: 44 us) is 4% slower. Without
    programmatic launch (`DSRT_NO_PDL=1`) it is 3-4% faster.

    ```mlir
    %l = ds.router_logits %x, %g : tensor<?x2048xbf16>, tensor<64x2048xbf16> -> tensor<?x64xf32>
    %w, %i = ds.moe_select %l {...} : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
    // becomes
    %w, %i = ds.moe_gate %x, %g {...} : tensor<?x2048xbf16>, tensor<64x2048xbf16> -> tensor<?x6xf32>, tensor<?x6xi32>
    ```
  }];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSLogProbs : Pass<"ds-logprobs", "::mlir::ModuleOp"> {
  let summary = "Report log-probabilities of the sampled and the likeliest tokens";
  let description = [{
    Adds a `ds.logprobs` after the `ds.sample` of every entry point: the
    log-probability (`log_softmax(logits / T)` over the whole vocabulary,
    before truncation) of each output row's sampled token and of its `top`
    most likely tokens, with their ids. The entry returns them after the
    sampled tokens (logits, tokens, log-probabilities, ids, cache), and
    ds-schedule records where they are (`ds.logprobs`, `ds.logprob_ids`),
    so the runtime can copy them back when a request asks.

    `dsc compile --logprobs=K` runs it (K from 0 to 64; 0, the default,
    leaves the entries as they are). With K = 0 only the chosen token's
    log-probability is reported. An entry that already reports them, or
    has no `ds.sample`, is an error.

    ```mlir
    %next, %w = ds.sample %logits, %params : ...
    return %logits, %next, %cache
    // becomes (top = 2)
    %lp, %ids = ds.logprobs %logits, %next, %params : tensor<?x102400xf32>,
        tensor<?xi32>, tensor<?x8xi32> -> tensor<?x3xf32>, tensor<?x3xi32>
    return %logits, %next, %lp, %ids, %cache
    ```
  }];
  let options = [
    Option<"top", "top", "int64_t", "-1",
           "most likely tokens reported per row besides the sampled one "
           "(0 to 64; -1: the pass does nothing)">,
  ];
  let dependentDialects = ["::dsc::ds::DSDialect",
                           "::mlir::func::FuncDialect"];
}

def DSFuseAttentionCombine
    : Pass<"ds-fuse-attention-combine", "::mlir::ModuleOp"> {
  let summary = "Merge a split attention's shares in the value product";
  let description = [{
    A `ds.mla_attention_combine` (made by ds-split-attention) whose result
    only a `ds.mla_absorb_value` reads folds into it as its `combine(lse)`
    clause: the value product merges the shares' partial states itself, so
    a decode step waits for one kernel less per layer. The result is the
    two ops' bit for bit (the merged row is rounded to bf16 as the combine
    stores it, and the merge's arithmetic is the combine's). The new op has
    no `ds.config`: ds-configure-kernels (`keep-existing`) runs after it.
    On CUDA targets with clusters its kernel is a cluster of 8 blocks per
    (token, head), each merging an eighth of the row and sharing it through
    distributed shared memory, its warps then four value features each.

    Measured on an H200 (V2-Lite decode, `docs/performance.md`, tenth
    session) the logits are bit for bit those of the two kernels, but the
    cluster's barrier costs about what the kernel boundary did: bf16 batch
    1 level, 4K context +1.5 to +2.3%, batch 4 -2 to -2.5%, fp8 -1 to -2%,
    the V3 config cut to 6 layers -0.2 to -1.3%. So it is off by default.

    `dsc compile --fuse-attention-combine` runs it after
    ds-split-attention (see `dsc compile --help` for the default).

    ```mlir
    %ol = ds.mla_attention_combine %o, %lse : tensor<?x132x16x512xf32>, tensor<?x132x16xf32> -> tensor<?x16x512xbf16>
    %a = ds.mla_absorb_value %ol, %kvb {...} : tensor<?x16x512xbf16>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
    // becomes
    %a = ds.mla_absorb_value %o combine(%lse : tensor<?x132x16xf32>), %kvb {...}
        : tensor<?x132x16x512xf32>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
    ```
  }];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSPlanBuffers : Pass<"ds-plan-buffers", "::mlir::ModuleOp"> {
  let summary = "Place every activation of the entry points in one arena";
  let description = [{
    Gives each tensor result of a kernel-level op a byte offset in one
    activation arena (`ds.arena_offsets`, one per result), sized for the
    entry point's largest chunk: `prefill-chunk` tokens for prefill,
    `max-batch` for decode (stored as `ds.max_tokens`). Placement is
    liveness-based first fit over the straight-line order of the ops: a
    buffer is free again after its last use, and an op's results never
    share bytes with its operands. The entry points run one at a time, so
    they share the arena, whose size (`ds.arena_bytes` on the module) is the
    larger of their peaks; `dsc compile --stats` reports it. Buffers are
    64-byte aligned.

    With `concurrent`, a buffer is free for an op only once every user of
    it is among the op's data-flow ancestors, so that reusing bytes never
    orders two ops that the data leaves independent, and `ds-schedule` can
    run them side by side (at the cost of a somewhat larger arena).
  }];
  let options = [
    Option<"prefillChunk", "prefill-chunk", "int64_t", "256",
           "tokens per prefill call">,
    Option<"concurrent", "concurrent", "bool", "false",
           "reuse a buffer only behind every user of it (for streams)">,
    Option<"maxBatch", "max-batch", "int64_t", "8",
           "sequences per decode step">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSConfigureKernels : Pass<"ds-configure-kernels", "::mlir::ModuleOp"> {
  let summary = "Choose the kernel strategy of every kernel-level op";
  let description = [{
    Sets `ds.config` (a `#ds.kernel_config`) on every kernel-level op of the
    entry points, from the instruction-set target (`target`: which
    instructions exist), the device profile (`gpu`: SMs, registers, shared
    memory, bandwidth; the target's default when empty), the op's static
    shapes and its entry point; records `ds.target` on the module. Kernel
    generators read the choice and decide nothing themselves. No rule looks
    at a chip's name: each reads a capability or a capacity.

    | op | host | CUDA (warp shuffles) |
    |---|---|---|
    | `ds.embed`, `ds.swiglu`, `ds.add`, `ds.rope`, `ds.mla_attention` | `generic` | `generic` (a thread per index) |
    | `ds.moe_select` | `generic` | `warp` (a warp per token, 8 experts per lane) up to 256 experts, else `generic` |
    | `ds.moe_gate` (ds-fuse-router) | `generic` | up to 256 experts: `cluster_block` where the target has clusters (sm_90+): a cluster of 8 blocks (`splits`, fewer for fewer experts) of up to 8 warps per token, a warp per expert where that suffices, the choice by one warp of the first block; else `block`: a block of up to 8 warps per token. `generic` beyond 256 |
    | products, `ds.rms_norm`, `ds.mla_cache_write`, `ds.mla_absorb_query`, `ds.mla_absorb_value`, experts | `generic` | `warp`, 128 threads |
    | `ds.linear`, `ds.gated_linear`, `ds.lm_head` (`warp`) | `generic` | `row_group` = `row-group` (`fp8-row-group` for fp8 weights; both default 1), halved while the group's rows staged as bf16 (with a fused norm's sums of squares) take more than 32 KB of a block's shared memory, where the output features are a multiple of the block's 4 warps and the rows read in 16-byte groups (fp8 scale blocks of a multiple of 8 columns), of whole 256-column spans where a norm is folded in; else 1 |
    | `ds.linear`, `ds.gated_linear`, `ds.lm_head` in decode, with `tile-mma` | `generic` | `tile_mma` where the target has mma.sync (and, for fp8 weights, the e4m3x2 conversion: sm_89+), tensor cores are allowed, a device profile is given, the output features are a multiple of 8, the weight rows a multiple of 128 bytes (fp8 scale blocks of a multiple of 128 columns) and a folded norm's row of 256 columns: a block per 8 features and 16 rows, with enough warps that each holds at most 4 iterations over its weights (at least 4; doubled, up to 16, while fewer than 8 warps an SM would run), at most 16; as many staged rows as leave two blocks an SM's shared memory. Else `warp` |
    | `ds.moe_expert_down` | `generic` | `warp_async` where the target has cp.async (sm_80+), a device profile is given and the output features are fewer than 32 per SM (V2-Lite's 2,048; not V3's 7,168): blocks of 4 warps of one token, its activations staged once in the front of the block's dynamic shared memory and each warp's weight rows in its share of the rest, as many iterations ahead as fit when 3 blocks share an SM. Else `warp` |
    | `ds.sample` | `generic` | `cluster_block` where the target has thread-block clusters (sm_90+): a cluster of 8 blocks (`splits`) per row; else `block`: a block per row. Blocks of as many threads as the SM's registers allow at 128 per thread and static shared memory holds the threshold search's 17 bin sums per thread for (512 on every profile) |
    | `ds.logprobs` | `generic` | `block`: a block of 1,024 threads (at most the target's block) per row; the radix selection's 256 bins and the top tokens in static shared memory |
    | `ds.mla_latent_attention` in prefill | `generic` | `warp_query_group`: as many of a slot's tokens per warp as the register file holds accumulators for (4 at a 512-wide latent) |
    | `ds.mla_latent_attention` in decode | `generic` | `position_split_mma` where the target has mma.sync (sm_80+, unless `tensor-cores=false`), the latent is a multiple of 32, the row width of 16 and its dynamic shared memory (16 queries and two 32-row tiles, rows padded by 16 bytes, and the scores) fits the target: a block of 4 warps per (token, share of the positions, group of 16 heads), `splits` = SMs / head groups. Else `position_split` (with a device profile, 16-byte-divisible rows, a 32-row tile within 40 KB): a block per (token, share of the positions, group of up to 8 heads), `splits` = SMs / head groups shares at most; `ds-split-attention` then splits the op. Else `block_split`: a block of as many warps per (token, head) as the SM's registers allow at 128 per thread |
    | `ds.mla_latent_attention_partial` | `generic` | `position_split_mma` or `position_split` as above |
    | `ds.mla_attention_combine` | `generic` | `warp` (8 lanes per (token, head, 4 latent columns), 128 threads) where the latent is a multiple of 4, else `generic` |
    | `ds.mla_absorb_value combine(...)` (ds-fuse-attention-combine) | `generic` | `cluster_block` where the target has clusters: a cluster of 8 blocks (`splits`) per (token, head), each block merging an eighth of the latent columns (8 lanes per 4 columns: the latent a multiple of 32, its merging lanes whole warps of the block) and computing an eighth of the value features, 4 a warp (more warps where the merge needs them; V2-Lite and V3: 4 warps). Else `generic` |

    An op whose kernel should not serve every row count also gets
    `ds.variants`, the strategies for launches of few rows
    (`#ds.kernel_variant`, `docs/design/cuda-target.md`): a product with
    `row_group` > 1 gets `[<rows = 1, config = <strategy = warp>>]`, so a
    launch of one row runs a kernel without the grouped path's registers.

    With `keep-existing`, ops that already have a `ds.config` keep it: the
    pipeline runs the pass again after ds-fuse-attention-combine, for the
    ops that fusion made, without undoing ds-split-attention's choices.
  }];
  let options = [
    Option<"keepExisting", "keep-existing", "bool", "false",
           "configure only the ops without a ds.config">,
    Option<"target", "target", "std::string", "\"cpu\"",
           "instruction-set target: cpu, cuda:sm_80, cuda:sm_89, cuda:sm_90a">,
    Option<"gpu", "gpu", "std::string", "\"\"",
           "device profile (h200, h100, a100, l40s); default: the target's">,
    Option<"tensorCores", "tensor-cores", "bool", "true",
           "choose the tensor-core strategies where the target has the "
           "instructions (false: CUDA cores only, to compare)">,
    Option<"tileMma", "tile-mma", "bool", "false",
           "decode's products on tensor cores (`tile_mma`) where they "
           "apply, from 9 rows (fewer run `warp` variants); off for the "
           "pass, on by default in `dsc compile` for cuda targets">,
    Option<"tileMmaPrefill", "tile-mma-prefill", "bool", "false",
           "prefill's products on tensor cores too (with tile-mma)">,
    Option<"rowGroup", "row-group", "int64_t", "1",
           "input rows a warp of a `warp` product of bf16 weights serves "
           "with each weight row it reads (row_group; halved until the rows "
           "fit the block's staging; 1, the default: a warp per row)">,
    Option<"fp8RowGroup", "fp8-row-group", "int64_t", "1",
           "the same for products of fp8 weights">,
    Option<"expertRowGroup", "expert-row-group", "int64_t", "1",
           "choices of one expert a warp of the routed experts' up "
           "projection serves with each weight row it reads (the "
           "expert-grouped kernel; 1, the default: a warp per choice)">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSSplitAttention : Pass<"ds-split-attention", "::mlir::ModuleOp"> {
  let summary = "Split position-split latent attention into partial and combine";
  let description = [{
    Rewrites every `ds.mla_latent_attention` whose `ds.config` strategy is
    `position_split` (chosen by ds-configure-kernels for decode on GPUs)
    into `ds.mla_latent_attention_partial`, which keeps that configuration
    and whose `[T, splits, H, R]` and `[T, splits, H]` f32 results hold
    each share's normalised output and log-sum-exp, and
    `ds.mla_attention_combine` (`warp`, as ds-configure-kernels would
    choose), which merges the shares into the
    bf16 `[T, H, R]` the original op produced. The workspace is an ordinary
    pair of activations, so ds-plan-buffers places it (it must run before);
    nothing is allocated at run time, and both kernels are deterministic.
    Other ops are left alone, so host targets keep the single op.

    `splits` > 0 overrides the most shares per token, and also splits the
    decode entry's latent attention configured `generic` (the host's), both
    ops then `generic`: the split's semantics run, and are tested, on the
    cpu target (`dsc compile --attention-splits`).

    ```mlir
    %ol = ds.mla_latent_attention %ql, %pos, %slots, %cache layer 0
        {num_heads = 16 : i64, softmax_scale = 0.135 : f64,
         ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 132>}
    // becomes
    %o, %lse = ds.mla_latent_attention_partial %ql, %pos, %slots, %cache layer 0 {...}
        : ... -> tensor<?x132x16x512xf32>, tensor<?x132x16xf32>
    %ol = ds.mla_attention_combine %o, %lse {ds.config = #ds.kernel_config<strategy = warp>}
        : tensor<?x132x16x512xf32>, tensor<?x132x16xf32> -> tensor<?x16x512xbf16>
    ```
  }];
  let options = [
    Option<"splits", "splits", "int64_t", "0",
           "most shares per token (0: the configuration's); > 0 also "
           "splits the decode entry's generic latent attention">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect"];
}

def DSSchedule : Pass<"ds-schedule", "::mlir::ModuleOp"> {
  let summary = "Turn the planned entry points into ordered kernel launches";
  let description = [{
    Rewrites every entry point into `ds.launch` ops of the kernels
    `ds-generate-kernels` declared (each kernel-level op names its kernel in
    `ds.kernel_ref`), whose `#ds.arg` arguments say where each pointer goes:
    arena offsets from ds-plan-buffers, weights by manifest index, the cache
    at each op's layer, the chunk's tokens, positions and slots, and, for
    every op that reads or writes the cache, the page table last. The cache
    is paged: pages of `page-size` positions hold every layer,
    [layer][page-size][latent + rope] bf16, so a cache argument is its
    layer's offset inside a page and a kernel finds the page of (slot,
    position) in the page table. The cache geometry (`max-batch` slots of
    `max-seq-len` positions, the page size) becomes `ds.cache` on the module.
    It generates no code: the result is what `ds-serialize` writes as the
    program.

    With `streams` above 1 it also places the launches on up to that many
    streams, so that independent work overlaps (a GPU runs the shared
    experts while the router picks the routed ones, the latent projection
    and its cache write beside the query's). A launch depends on an earlier
    one when it reads what that one wrote, or writes what that one read or
    wrote: arena byte ranges as planned (so a buffer the plan reused orders
    its users) and the cache's layers. Each launch goes on the stream of
    one of its direct dependencies when that stream's last launch is one,
    on a stream whose last launch it already follows, on a new stream while
    fewer than `streams` are used, or else behind the stream whose last
    launch is the oldest; `waits` then lists the dependencies that its
    stream's order and its other waits do not already imply.
  }];
  let options = [
    Option<"maxSeqLen", "max-seq-len", "int64_t", "4096",
           "positions per sequence in the KV cache">,
    Option<"streams", "streams", "int64_t", "1",
           "streams the launches may run on (1: one ordered list)">,
    Option<"maxBatch", "max-batch", "int64_t", "8",
           "sequences held in the KV cache at once">,
    Option<"pageSize", "page-size", "int64_t", "0",
           "positions per KV cache page (divides max-seq-len); 0: 64 or "
           "the largest divisor of max-seq-len below it">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect", "::mlir::func::FuncDialect"];
}

#endif // DSC_COMPILER_PASSES_TD
