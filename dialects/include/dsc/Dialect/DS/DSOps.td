//===- DSOps.td - ds operations ----------------------------*- tablegen -*-===//
//
// The model-level operations of the ds dialect. Each op is one concept of the
// DeepSeek forward pass (`docs/model.md` §2-§3); its description is its
// specification: meaning, type rules, and what the verifier rejects.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_DSOPS_TD
#define DSC_DIALECT_DS_DSOPS_TD

include "dsc/Dialect/DS/DSBase.td"
include "dsc/Dialect/DS/DSAttrs.td"
include "dsc/Dialect/DS/DSTypes.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def DS_TokenIndices : 1DTensorOf<[I32]>;
def DS_Activation : RankedTensorOf<[BF16]>;
def DS_LinearWeight : AnyTypeOf<[2DTensorOf<[BF16]>, DS_FP8BlockWeightType],
    "bf16 matrix or block-scaled fp8 matrix">;
def DS_ExpertWeight : AnyTypeOf<[3DTensorOf<[BF16]>, DS_FP8BlockWeightType],
    "stack of bf16 or block-scaled fp8 expert matrices">;
def DS_NormWeight : 1DTensorOf<[BF16]>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def DS_WeightOp : DS_Op<"weight", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a checkpoint tensor, named but not held";
  let description = [{
    Declares a weight of the model: the checkpoint tensor `tensor` with the
    type `type`. It holds no data; the runtime maps the tensor from the
    checkpoint when the program starts.

    | `type` | checkpoint dtype | `scale_tensor` | `quantized` |
    |---|---|---|---|
    | `tensor<...xbf16>` | `BF16` | absent | absent |
    | `tensor<...xf32>` | `F32` | absent | absent |
    | `!ds.fp8_block<NxK, ...>` | `F8_E4M3` | the f32 `weight_scale_inv`, shape `[ceil(N/bn), ceil(K/bk)]` | absent |
    | `!ds.fp8_block<NxK, ..., scales = f32>` | `BF16` | absent | present |

    `quantized` (`dsc compile --quantize=fp8`) marks a weight that the
    checkpoint holds in bf16 and the runtime quantises when the weights
    load, into e4m3 values with one f32 scale per block of the type
    (`docs/model.md` §5.4). Everything after the load sees it exactly as an
    fp8 checkpoint weight.

    With `experts = E` the weight is a stack of `E` expert tensors: `tensor`
    (and `scale_tensor`) are name templates in which `{e}` stands for the
    expert index, and the type's leading dimension is `E`.

    The verifier rejects: dynamic or non-positive dimensions, element types
    other than those above, an fp8 weight with neither or both of
    `scale_tensor` and `quantized`, `quantized` on a type other than
    `!ds.fp8_block` with f32 scales, a scale on a bf16/f32 weight,
    `experts` without `{e}` in the names (or the reverse), and a leading
    dimension that differs from `experts`.

    With `shard` (a program partitioned by `ds-partition`, `#ds.shard`) the
    type is the part one rank holds; with `experts` and an interleaved
    shard, `experts` counts the rank's experts and `{e}` stands for the
    global index. The verifier also rejects a shard's `dim` outside the
    type's rank, `interleaved` other than on an expert stack's dimension 0,
    and an fp8 part that does not cover whole scale blocks along `dim`.

    ```mlir
    ds.weight @layers.0.self_attn.kv_a_layernorm = "model.layers.0.self_attn.kv_a_layernorm.weight" : tensor<512xbf16>
    ds.weight @layers.3.mlp.experts.gate_proj = "model.layers.3.mlp.experts.{e}.gate_proj.weight"
        scale "model.layers.3.mlp.experts.{e}.gate_proj.weight_scale_inv" experts 256
        : !ds.fp8_block<256x2048x7168, block = 128x128, scales = f32>
    ds.weight @layers.0.self_attn.o_proj = "model.layers.0.self_attn.o_proj.weight" quantized
        : !ds.fp8_block<2048x2048, block = 128x128, scales = f32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$tensor,
                       TypeAttr:$type, OptionalAttr<StrAttr>:$scale_tensor,
                       UnitAttr:$quantized, OptionalAttr<I64Attr>:$experts,
                       OptionalAttr<DS_ShardAttr>:$shard);
  let assemblyFormat = [{
    $sym_name `=` $tensor (`scale` $scale_tensor^)? (`quantized` $quantized^)? (`experts` $experts^)? (`shard` $shard^)? attr-dict `:` $type
  }];
  let hasVerifier = 1;
}

def DS_GetWeightOp : DS_PureOp<"get_weight",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the value of a weight symbol";
  let description = [{
    Reads the weight declared by the `ds.weight` symbol `name`. The result
    type must equal the symbol's type.

    ```mlir
    %w = ds.get_weight @layers.0.self_attn.kv_b_proj : tensor<4096x512xbf16>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Dense building blocks
//===----------------------------------------------------------------------===//

def DS_EmbedOp : DS_PureOp<"embed"> {
  let summary = "token embedding (row gather)";
  let description = [{
    `result[t, :] = table[tokens[t], :]`. No scaling. Token ids outside
    `[0, vocab)` are rejected by the runtime before the program runs.

    Types: `tokens : tensor<?xi32>`, `table : tensor<VxDxbf16>`,
    `result : tensor<?xDxbf16>`.

    ```mlir
    %h = ds.embed %tokens, %table : tensor<?xi32>, tensor<129280x7168xbf16> -> tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins DS_TokenIndices:$tokens, 2DTensorOf<[BF16]>:$table);
  let results = (outs 2DTensorOf<[BF16]>:$result);
  let assemblyFormat = [{
    $tokens `,` $table attr-dict `:` type($tokens) `,` type($table) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_RMSNormOp : DS_PureOp<"rms_norm", [AllTypesMatch<["input", "result"]>]> {
  let summary = "RMSNorm over the last dimension";
  let description = [{
    `result = bf16(x * rsqrt(mean(x^2) + eps)) * weight`, with the mean and
    rsqrt in fp32 (`docs/model.md` §2.2). `weight` has the size of the
    input's last dimension; `eps` must be positive.

    ```mlir
    %n = ds.rms_norm %h, %w {eps = 1.0e-06 : f64} : tensor<?x7168xbf16>, tensor<7168xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, DS_NormWeight:$weight,
                       F64Attr:$eps);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def DS_LinearOp : DS_PureOp<"linear", [AttrSizedOperandSegments]> {
  let summary = "y = x W^T with a bf16 or block-scaled fp8 weight";
  let description = [{
    A bias-free linear layer: `result[..., n] = sum_k input[..., k] * W[n, k]`
    with fp32 accumulation, rounded to bf16. `W` is `tensor<NxKxbf16>` or
    `!ds.fp8_block<NxK, ...>` (dequantised by its block scales).

    | operand | type |
    |---|---|
    | `input` | `tensor<...xKxbf16>` |
    | `weight` | `tensor<NxKxbf16>` or `!ds.fp8_block<NxK, ...>` |
    | `result` | `tensor<...xNxbf16>` (leading dimensions of `input`) |

    ```mlir
    %q = ds.linear %x, %w : tensor<?x7168xbf16>, !ds.fp8_block<1536x7168, block = 128x128, scales = f32> -> tensor<?x1536xbf16>
    ```

    With `addends` (an epilogue that ds-fuse-epilogues makes from the
    `ds.add`s that consume the product), each is added in order after the
    product is rounded, rounding after every addition as the `ds.add`s did:
    `bf16(bf16(bf16(x W^T) + a_1) + a_2)`. Addends have the result's type.

    ```mlir
    %h2 = ds.linear %a, %wo plus(%h : tensor<?x2048xbf16>) : tensor<?x2048xbf16>, tensor<2048x2048xbf16> -> tensor<?x2048xbf16>
    ```

    With `norm(g)` (ds-fuse-norms folds a `ds.rms_norm` into the products
    that read it) the input is read through that RMSNorm: each feature
    `x_k` of a row becomes `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) *
    g_k)`, the roundings of `ds.rms_norm`, and the normalised row is never
    stored. `g` has the input's feature count; `norm_eps` is positive and
    present exactly when `norm` is.

    ```mlir
    %q = ds.linear %h, %wq norm(%g : tensor<2048xbf16>) {norm_eps = 1.0e-06 : f64} : tensor<?x2048xbf16>, tensor<3072x2048xbf16> -> tensor<?x3072xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, DS_LinearWeight:$weight,
                       Variadic<DS_Activation>:$addends,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs DS_Activation:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight), [{
      build($_builder, $_state, result, input, weight, ::mlir::ValueRange{});
    }]>,
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::ValueRange":$addends), [{
      build($_builder, $_state, result, input, weight, addends,
            /*norm_weight=*/::mlir::Value(), /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weight (`plus` `(` $addends^ `:` type($addends) `)`)? (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_GatedLinearOp : DS_PureOp<"gated_linear"> {
  let summary = "silu(x G^T) * (x U^T): a SwiGLU MLP's gate and up in one";
  let description = [{
    `result = bf16(silu(bf16(x G^T)) * bf16(x U^T))`: the two products of
    a SwiGLU MLP over the same input and the `ds.swiglu` that joins them,
    with the roundings of those three ops (ds-fuse-epilogues makes it from
    them, so the two weights are read in one pass and the intermediates
    never reach memory). `G` and `U` have one shape (`NxK`, bf16 or
    block-scaled fp8).

    ```mlir
    %h = ds.gated_linear %x, %wg, %wu : tensor<?x2048xbf16>, tensor<10944x2048xbf16>, tensor<10944x2048xbf16> -> tensor<?x10944xbf16>
    ```

    With `norm(g)` (ds-fuse-norms folds a `ds.rms_norm` into the products
    that read it) the input is read through that RMSNorm: each feature
    `x_k` of a row becomes `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) *
    g_k)`, the roundings of `ds.rms_norm`, and the normalised row is never
    stored. `g` has the input's feature count; `norm_eps` is positive and
    present exactly when `norm` is.
  }];
  let arguments = (ins DS_Activation:$input, DS_LinearWeight:$gate,
                       DS_LinearWeight:$up,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs DS_Activation:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$gate, "::mlir::Value":$up), [{
      build($_builder, $_state, result, input, gate, up,
            /*norm_weight=*/::mlir::Value(), /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $gate `,` $up (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict `:` type($input) `,` type($gate) `,` type($up) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_RopeOp : DS_PureOp<"rope", [AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding of interleaved channel pairs";
  let description = [{
    Rotates channel pairs `(x[2i], x[2i+1])` of the last dimension by angle
    `positions[t] * inv_freq[i]`, with `inv_freq` from the `rope` attribute
    (YaRN, `docs/model.md` §4), in fp32, rounded to bf16. The input is
    `tensor<?xdxbf16>` (the shared `k_pe`) or `tensor<?xHxdxbf16>` (`q_pe` of
    every head); `d` must equal `rope.dim` and be even.

    ```mlir
    %r = ds.rope %q_pe, %pos rope(#ds.rope<...>) : tensor<?x128x64xbf16>, tensor<?xi32>
    ```
  }];
  let arguments = (ins DS_Activation:$input, DS_TokenIndices:$positions,
                       DS_RopeAttr:$rope);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $input `,` $positions `rope` `(` $rope `)` attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def DS_MLPOp : DS_PureOp<"mlp", [AllTypesMatch<["input", "result"]>]> {
  let summary = "SwiGLU MLP (dense layers and shared experts)";
  let description = [{
    `result = down(silu(gate(x)) * up(x))`, each projection a `ds.linear`
    with fp32 accumulation; `silu(z) = z * sigmoid(z)` in fp32; the product
    is rounded to bf16 before `down`.

    | operand | type |
    |---|---|
    | `gate`, `up` | `[I, D]` linear weights |
    | `down` | `[D, I]` linear weight |
    | `input`, `result` | `tensor<?xDxbf16>` |

    Shared experts are one `ds.mlp` of width `n_shared_experts *
    moe_intermediate_size`.

    ```mlir
    %y = ds.mlp %x, %g, %u, %d : tensor<?x7168xbf16>, tensor<18432x7168xbf16>, tensor<18432x7168xbf16>, tensor<7168x18432xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, DS_LinearWeight:$gate,
                       DS_LinearWeight:$up, DS_LinearWeight:$down);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $input `,` $gate `,` $up `,` $down attr-dict `:` type($input) `,` type($gate) `,` type($up) `,` type($down)
  }];
  let hasVerifier = 1;
}

def DS_AddOp : DS_PureOp<"add", [SameOperandsAndResultType, Commutative]> {
  let summary = "residual add in bf16";
  let description = [{
    Element-wise `lhs + rhs`, rounded to bf16.

    ```mlir
    %h1 = ds.add %h0, %attn : tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$lhs, DS_Activation:$rhs);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def DS_LMHeadOp : DS_PureOp<"lm_head"> {
  let summary = "logits of the vocabulary for the chosen rows";
  let description = [{
    `result[o] = f32(bf16(x[rows[o]] W^T))`: the language-model head, an
    fp32-accumulated GEMM whose bf16 result is widened to f32 for sampling,
    computed only for the rows of `input` that `rows` names (the *outputs* of
    the chunk: usually the last token of each sequence, every token when all
    logits are wanted). `weight` is `tensor<VxDxbf16>`; `rows` is
    `tensor<?xi32>` with values in `[0, tokens)`; `result` is
    `tensor<?xVxf32>`, one row per entry of `rows`.

    ```mlir
    %logits = ds.lm_head %h, %w rows(%rows : tensor<?xi32>) : tensor<?x7168xbf16>, tensor<129280x7168xbf16> -> tensor<?x129280xf32>
    ```

    With `norm(g)` (ds-fuse-norms folds a `ds.rms_norm` into the products
    that read it) the input is read through that RMSNorm: each feature of a chosen row
    `x_k` of a row becomes `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) *
    g_k)`, the roundings of `ds.rms_norm`, and the normalised row is never
    stored. `g` has the input's feature count; `norm_eps` is positive and
    present exactly when `norm` is.
  }];
  let arguments = (ins 2DTensorOf<[BF16]>:$input, 2DTensorOf<[BF16]>:$weight,
                       1DTensorOf<[I32]>:$rows,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs 2DTensorOf<[F32]>:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$rows), [{
      build($_builder, $_state, result, input, weight, rows,
            /*norm_weight=*/::mlir::Value(), /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weight `rows` `(` $rows `:` type($rows) `)` (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict
    `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_SampleOp : DS_PureOp<"sample"> {
  let summary = "next tokens drawn from logits, on the device";
  let description = [{
    One token per row of `logits` (`tensor<?xVxf32>`), chosen with that row's
    parameters `params[o]` (`tensor<?x8xi32>`, 32 bytes per row, little
    endian: `f32 temperature, i32 top_k, f32 top_p, f32 min_p, u64 seed,
    u64 draw`). NaN logits count as `-inf`.

    - `temperature <= 0`: the argmax (the lowest index on ties; 0 when every
      logit is `-inf`).
    - Otherwise each token gets the weight `w = exp((l - max l) /
      temperature)` (so the most likely token weighs 1; when some logits are
      `+inf` those tokens weigh 1 and all others 0), written to `weights`.
      A token is kept when its weight is positive and reaches every
      threshold that applies: the `top_k`-th largest weight (`top_k > 0`);
      the largest `t` such that the tokens weighing `t` or more hold at
      least `top_p` of the weight of the tokens top-k keeps (`top_p < 1`);
      `min_p` (`min_p > 0`: a probability of at least `min_p` times the
      highest). Tokens tied with the token at a threshold are all kept.
      The draw picks a kept token with probability proportional to its
      weight (the Gumbel-max rule: the largest `ln w + g`, the lowest
      index on ties, with `g = -ln(-ln u)` Gumbel noise from uniform numbers
      `u` in (0, 1) that are a hash of `(seed, draw, token)`: the top 24
      bits of a splitmix64 hash, `(bits + 0.5) / 2^24`, at most the largest
      float below 1). The same parameters pick the same token on one target;
      two targets, or two kernel strategies (threads per row), agree except
      where rounding of `exp`, `log` or of a sum (added in another order)
      moves a token across a threshold or changes the winner.

    `result` (`tensor<?xi32>`) has one token per row; `weights`
    (`tensor<?xVxf32>`) is the sampled rows' weights (not written for greedy
    rows).

    ```mlir
    %next, %w = ds.sample %logits, %params : tensor<?x129280xf32>, tensor<?x8xi32>
        -> tensor<?xi32>, tensor<?x129280xf32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[F32]>:$logits, 2DTensorOf<[I32]>:$params);
  let results = (outs 1DTensorOf<[I32]>:$result, 2DTensorOf<[F32]>:$weights);
  let assemblyFormat = [{
    $logits `,` $params attr-dict `:` type($logits) `,` type($params) `->` type($result) `,` type($weights)
  }];
  let hasVerifier = 1;
}

def DS_LogProbsOp : DS_PureOp<"logprobs"> {
  let summary = "log-probabilities of the chosen and the most likely tokens";
  let description = [{
    For each row `o` of `logits` (`tensor<?xVxf32>`), with that row's
    temperature (word 0 of `params[o]`, the `ds.sample` parameters): the
    log-probabilities `log_softmax(logits[o] / T)` over the whole
    vocabulary, `T = 1` where the temperature is not positive (greedy rows),
    before any top-k, top-p or min-p truncation. Computed as
    `(l - max l) / T - ln(sum exp((l - max l) / T))`, so `exp` of a
    log-probability is `ds.sample`'s weight over the weights' sum. NaN logits
    count as `-inf`. When some logits are `+inf`, those tokens share the
    probability (`-ln n` for `n` of them) and all others get `-inf`; when
    every logit is `-inf`, every log-probability is `-inf`.

    Column 0 of `logprobs` and `ids` (both `tensor<?x(K+1)x...>`) is the
    token `chosen[o]` (the row's sampled token) and its log-probability;
    columns 1 to K are the K tokens with the largest logits, in decreasing
    order, the lowest index first among equal logits (so column 1 is the
    greedy choice). K is at most `kMaxTopLogProbs` (64) and at most V.

    The top K are found by a radix selection over the logits' bit patterns
    (ordered like the floats): 8 bits a pass, then, when tokens tie at the
    K-th value, over their indices. It depends on the logits alone, so the
    tokens and their order are the same on every target and strategy; the
    log-probabilities differ only by the rounding of the sum.

    ```mlir
    %lp, %ids = ds.logprobs %logits, %next, %params
        : tensor<?x129280xf32>, tensor<?xi32>, tensor<?x8xi32>
        -> tensor<?x21xf32>, tensor<?x21xi32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[F32]>:$logits, 1DTensorOf<[I32]>:$chosen,
                       2DTensorOf<[I32]>:$params);
  let results = (outs 2DTensorOf<[F32]>:$logprobs, 2DTensorOf<[I32]>:$ids);
  let assemblyFormat = [{
    $logits `,` $chosen `,` $params attr-dict `:` type($logits) `,`
    type($chosen) `,` type($params) `->` type($logprobs) `,` type($ids)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Multi-head latent attention
//===----------------------------------------------------------------------===//

def DS_MLAOp : DS_Op<"mla", [AttrSizedOperandSegments,
                             AllTypesMatch<["cache", "result_cache"]>,
                             AllTypesMatch<["positions", "slots"]>,
                             Pure]> {
  let summary = "multi-head latent attention with its latent KV cache";
  let description = [{
    One attention block of `docs/model.md` §2.3 on the normalised hidden
    state `input` (`[T, D]`), for a chunk of `T` tokens that may belong to
    several sequences: token `t` is at absolute position `positions[t]` of the
    sequence in cache slot `slots[t]`.

    1. Queries: with `q_lora_rank = 0` through `q` (`q_proj`, `[H*(dn+dr), D]`);
       otherwise `q_b(rms_norm(q_a(x), q_a_norm))`.
    2. `kv_a` (`[R+dr, D]`) gives the latent `c = rms_norm(ckv[:, :R],
       kv_a_norm)` and the shared key `k_pe = rope(ckv[:, R:])`; both are
       written to the cache at (`layer`, `slots[t]`, `positions[t]`).
    3. Each token attends, per head, to every cached position `<= positions[t]`
       of its slot: keys `[W_UK c, k_pe]`, values `W_UV c`, with `W_UK`,
       `W_UV` the two halves of each head's rows of `kv_b` (`[H*(dn+dv), R]`).
       Scores are scaled by `softmax_scale` and normalised with an fp32
       softmax.
    4. `result = o(attn)` with `o` (`[D, H*dv]`).

    With `absorbed` (set by `ds-absorb-mla`), step 3 runs in the latent space
    of `docs/model.md` §2.7: `q_abs = W_UK^T q_nope` per head, scores
    against the cached `c` directly, `o = W_UV (P c)`. Same function, other
    rounding points; it reads the cache once per head instead of expanding
    it to keys and values.

    The result cache is the operand cache with the chunk's entries written.

    The verifier checks the q path (`q` alone, or `q_a`, `q_a_norm` and `q_b`
    together, matching `q_lora_rank`), every weight's shape against the
    head counts and dims, the cache's latent/rope widths and layer count, and
    `rope.dim == qk_rope_head_dim`.

    ```mlir
    %o, %c1 = ds.mla %x, %pos, %slots, %c0 layer 0
        q_a(%qa : tensor<1536x7168xbf16>) q_a_norm(%qan : tensor<1536xbf16>)
        q_b(%qb : tensor<24576x1536xbf16>)
        kv_a(%kva : tensor<576x7168xbf16>) kv_a_norm(%kvan : tensor<512xbf16>)
        kv_b(%kvb : tensor<32768x512xbf16>) o(%o : tensor<7168x16384xbf16>)
        {num_heads = 128 : i64, ...} : tensor<?x7168xbf16>, !ds.latent_cache<...>
    ```
  }];
  let arguments = (ins
    DS_Activation:$input,
    DS_TokenIndices:$positions,
    DS_TokenIndices:$slots,
    DS_LatentCacheType:$cache,
    Optional<DS_LinearWeight>:$q_proj,
    Optional<DS_LinearWeight>:$q_a_proj,
    Optional<DS_NormWeight>:$q_a_norm,
    Optional<DS_LinearWeight>:$q_b_proj,
    DS_LinearWeight:$kv_a_proj,
    DS_NormWeight:$kv_a_norm,
    DS_LinearWeight:$kv_b_proj,
    DS_LinearWeight:$o_proj,
    I64Attr:$layer,
    I64Attr:$num_heads,
    I64Attr:$q_lora_rank,
    I64Attr:$kv_lora_rank,
    I64Attr:$qk_nope_head_dim,
    I64Attr:$qk_rope_head_dim,
    I64Attr:$v_head_dim,
    F64Attr:$softmax_scale,
    F64Attr:$eps,
    DS_RopeAttr:$rope,
    UnitAttr:$absorbed);
  let results = (outs DS_Activation:$result, DS_LatentCacheType:$result_cache);
  let assemblyFormat = [{
    $input `,` $positions `,` $slots `,` $cache `layer` $layer
    (`q` `(` $q_proj^ `:` type($q_proj) `)`)?
    (`q_a` `(` $q_a_proj^ `:` type($q_a_proj) `)`)?
    (`q_a_norm` `(` $q_a_norm^ `:` type($q_a_norm) `)`)?
    (`q_b` `(` $q_b_proj^ `:` type($q_b_proj) `)`)?
    `kv_a` `(` $kv_a_proj `:` type($kv_a_proj) `)`
    `kv_a_norm` `(` $kv_a_norm `:` type($kv_a_norm) `)`
    `kv_b` `(` $kv_b_proj `:` type($kv_b_proj) `)`
    `o` `(` $o_proj `:` type($o_proj) `)`
    attr-dict `:` type($input) `,` type($positions) `,` type($cache) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

def DS_MoEGateOp : DS_PureOp<"moe_gate", [AttrSizedOperandSegments]> {
  let summary = "MoE router: scores, expert choice and combine weights";
  let description = [{
    The router of `docs/model.md` §3.3, computed in fp32:

    1. `logits = f32(input) @ f32(weight)^T` (`weight : tensor<Exbf16>` rows).
    2. `scores = softmax(logits)` or `sigmoid(logits)` (`scoring`).
    3. Selection (`topk_method`), experts split into `n_group` contiguous
       groups of `E / n_group`:
       - `greedy`: the `top_k` highest scores;
       - `group_limited_greedy`: keep the `topk_group` groups with the highest
         maximum score, then the `top_k` highest scores among them;
       - `noaux_tc`: selection scores `scores + bias` (`bias : tensor<Exf32>`,
         the `e_score_correction_bias`); keep the `topk_group` groups with the
         highest sum of their two best selection scores, then the `top_k`
         highest selection scores among them. Ties go to the lower index.
    4. Combine weights are the unbiased `scores` of the chosen experts; when
       `norm_topk_prob` and `top_k > 1` they are divided by their sum
       (+1e-20); then multiplied by `routed_scaling_factor` (always for
       sigmoid scoring, and for softmax scoring unless they were normalised).

    Results: `weights : tensor<?xKxf32>`, `indices : tensor<?xKxi32>`.

    The verifier rejects: `E` not divisible by `n_group`, `topk_group` outside
    `[1, n_group]`, `top_k` outside `[1, E]` or larger than the experts the
    kept groups hold (`topk_group * E / n_group`), `noaux_tc` without a bias
    (or a bias with another method), a bias not of shape `[E]`,
    `noaux_tc` with fewer than 2 experts per group, and a non-positive
    `routed_scaling_factor`.

    ```mlir
    %w, %i = ds.moe_gate %x, %g bias(%b : tensor<256xf32>)
        {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>,
         top_k = 8 : i64, n_group = 8 : i64, topk_group = 4 : i64,
         norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
        : tensor<?x7168xbf16>, tensor<256x7168xbf16> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```

    `ds-decompose` splits it into `ds.router_logits` and `ds.moe_select`;
    `ds-fuse-router` joins them again where the target runs the whole router
    as one kernel, which makes `ds.moe_gate` a kernel-level op too. Its
    kernels compute the logits exactly as `ds.router_logits` does and choose
    as `ds.moe_select` does. With `norm(g)` (carried over from a
    `ds.router_logits` that ds-fuse-norms gave one) the input is read
    through that RMSNorm: each feature `x_k` of a row becomes
    `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) * g_k)`, the roundings of
    `ds.rms_norm`; `g` has the input's feature count and `norm_eps` is
    positive and present exactly when `norm` is.
  }];
  let arguments = (ins DS_Activation:$input, 2DTensorOf<[BF16]>:$weight,
                       Optional<1DTensorOf<[F32]>>:$bias,
                       DS_ScoringFuncAttr:$scoring,
                       DS_TopkMethodAttr:$topk_method,
                       I64Attr:$top_k, I64Attr:$n_group, I64Attr:$topk_group,
                       BoolAttr:$norm_topk_prob,
                       F64Attr:$routed_scaling_factor,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs 2DTensorOf<[F32]>:$weights, 2DTensorOf<[I32]>:$indices);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$weights, "::mlir::Type":$indices,
                   "::mlir::Value":$input, "::mlir::Value":$weight,
                   "::mlir::Value":$bias,
                   "::dsc::ds::ScoringFuncAttr":$scoring,
                   "::dsc::ds::TopkMethodAttr":$topk_method,
                   "::mlir::IntegerAttr":$top_k, "::mlir::IntegerAttr":$n_group,
                   "::mlir::IntegerAttr":$topk_group,
                   "::mlir::BoolAttr":$norm_topk_prob,
                   "::mlir::FloatAttr":$routed_scaling_factor), [{
      build($_builder, $_state, weights, indices, input, weight, bias, scoring,
            topk_method, top_k, n_group, topk_group, norm_topk_prob,
            routed_scaling_factor, /*norm_weight=*/::mlir::Value(),
            /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict
    `:` type($input) `,` type($weight) `->` type($weights) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def DS_MoEExpertsOp : DS_PureOp<"moe_experts"> {
  let summary = "routed SwiGLU experts applied to the router's choice";
  let description = [{
    `result[t] = bf16( sum_j weights[t, j] * expert_{indices[t, j]}(input[t]) )`
    where expert `e` is the SwiGLU MLP with `gate[e]`, `up[e]`, `down[e]`;
    each expert output is rounded to bf16 and the weighted sum is
    accumulated in fp32 (`docs/model.md` §3.5). Shared experts are not
    part of this op.

    A choice of index `-1` adds nothing: in a partitioned program
    (`ds.moe_local_choices`) the choices of experts that another rank holds.

    | operand | type |
    |---|---|
    | `input` | `tensor<?xDxbf16>` |
    | `weights`, `indices` | `tensor<?xKxf32>`, `tensor<?xKxi32>` from `ds.moe_gate` |
    | `gate`, `up` | `[E, I, D]` expert stacks |
    | `down` | `[E, D, I]` expert stack |

    ```mlir
    %y = ds.moe_experts %x, %w, %i, %g, %u, %d : tensor<?x7168xbf16>, tensor<?x8xf32>, tensor<?x8xi32>,
        !ds.fp8_block<256x2048x7168, block = 128x128, scales = f32>, ... -> tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, 2DTensorOf<[F32]>:$weights,
                       2DTensorOf<[I32]>:$indices, DS_ExpertWeight:$gate,
                       DS_ExpertWeight:$up, DS_ExpertWeight:$down);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weights `,` $indices `,` $gate `,` $up `,` $down attr-dict `:`
    type($input) `,` type($weights) `,` type($indices) `,` type($gate) `,`
    type($up) `,` type($down) `->` type($result)
  }];
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// Several ranks (produced by ds-partition)
//===----------------------------------------------------------------------===//

def DS_RankOp : DS_PureOp<"rank"> {
  let summary = "the index of the rank running the program";
  let description = [{
    In a program partitioned over several ranks (`ds-partition`), every rank
    runs the same program on its own part of the weights; this is its index,
    `0 <= rank < ranks`, which the runtime provides. Only the ops that
    depend on it read it.

    ```mlir
    %r = ds.rank : tensor<1xi32>
    ```
  }];
  let results = (outs TensorOf<[I32]>:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def DS_AllReduceOp : DS_PureOp<"all_reduce", [AllTypesMatch<["input", "result"]>]> {
  let summary = "the sum of every rank's tensor";
  let description = [{
    A collective of the `ranks` ranks of a partitioned program: every rank
    passes its `input` (`[T, D]` bf16, the same `T` on every rank) and gets
    `bf16(sum_r f32(input_r))`, added in increasing rank order, so every
    rank gets the same bits. `ds-partition` places one after each block
    whose output a rank computes only part of (its heads of attention, its
    features of an MLP, its experts).

    ```mlir
    %y = ds.all_reduce %partial {ranks = 2 : i64} : tensor<?x2048xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, I64Attr:$ranks);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def DS_AllGatherOp : DS_PureOp<"all_gather"> {
  let summary = "every rank's columns side by side";
  let description = [{
    A collective of the `ranks` ranks of a partitioned program: every rank
    passes its `input` (`[T, n]`, the same `T` and `n` on every rank) and
    gets `[T, ranks * n]`, rank `r`'s columns at `[r * n, (r + 1) * n)`.
    `ds-partition` places one after an lm_head split by vocabulary, so
    every rank samples from all the logits.

    ```mlir
    %all = ds.all_gather %part {ranks = 2 : i64} : tensor<?x51200xf32> -> tensor<?x102400xf32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[F32, BF16]>:$input, I64Attr:$ranks);
  let results = (outs 2DTensorOf<[F32, BF16]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def DS_MoELocalChoicesOp : DS_PureOp<"moe_local_choices",
    [AllTypesMatch<["indices", "result"]>]> {
  let summary = "the router's choices as indices into this rank's experts";
  let description = [{
    With the routed experts interleaved over `ranks` ranks
    (`#ds.shard<dim = 0, ranks = N, interleaved = true>`: expert `e` on rank
    `e mod N`, as its local expert `e / N`), maps each global expert index
    `e` of `indices` (from `ds.moe_gate`) to `e / ranks` on the rank
    `rank[0] == e mod ranks`, and to `-1` on the others. `ds.moe_experts`
    skips the choices of index `-1`, so each rank adds only the choices of
    its own experts, and a `ds.all_reduce` sums them.

    ```mlir
    %local = ds.moe_local_choices %indices, %rank {ranks = 2 : i64}
        : tensor<?x6xi32>, tensor<1xi32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[I32]>:$indices, TensorOf<[I32]>:$rank,
                       I64Attr:$ranks);
  let results = (outs 2DTensorOf<[I32]>:$result);
  let assemblyFormat = [{
    $indices `,` $rank attr-dict `:` type($indices) `,` type($rank)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernel-level operations (produced by ds-decompose)
//===----------------------------------------------------------------------===//

def DS_SwiGLUOp : DS_PureOp<"swiglu", [AllTypesMatch<["gate", "up", "result"]>]> {
  let summary = "silu(gate) * up";
  let description = [{
    Element-wise `bf16(silu(gate) * up)` computed in fp32 from bf16 inputs:
    the middle of a SwiGLU MLP once `ds-decompose` has split it.

    ```mlir
    %h = ds.swiglu %g, %u : tensor<?x18432xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$gate, DS_Activation:$up);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def DS_MLACacheWriteOp : DS_PureOp<"mla_cache_write",
    [AllTypesMatch<["cache", "result"]>, AllTypesMatch<["positions", "slots"]>]> {
  let summary = "normalise and rotate the new latent KV entries into the cache";
  let description = [{
    The key/value half of `ds.mla` for one layer: `kv` is the output of
    `kv_a_proj_with_mqa` (`[T, R + dr]`). For each token `t`,
    `c = rms_norm(kv[t, :R], norm)` and `k_pe = rope(kv[t, R:], positions[t])`
    are rounded to bf16 and written to the cache at (`layer`, `slots[t]`,
    `positions[t]`).

    ```mlir
    %c1 = ds.mla_cache_write %kv, %norm, %pos, %slots, %c0 layer 0
        {eps = 1.0e-06 : f64, rope = #ds.rope<...>}
        : tensor<?x576xbf16>, tensor<512xbf16>, tensor<?xi32>, !ds.latent_cache<...>
    ```
  }];
  let arguments = (ins DS_Activation:$kv, DS_NormWeight:$norm,
                       DS_TokenIndices:$positions, DS_TokenIndices:$slots,
                       DS_LatentCacheType:$cache, I64Attr:$layer, F64Attr:$eps,
                       DS_RopeAttr:$rope);
  let results = (outs DS_LatentCacheType:$result);
  let assemblyFormat = [{
    $kv `,` $norm `,` $positions `,` $slots `,` $cache `layer` $layer attr-dict
    `:` type($kv) `,` type($norm) `,` type($positions) `,` type($cache)
  }];
  let hasVerifier = 1;
}

def DS_MLAAttentionOp : DS_PureOp<"mla_attention", [AllTypesMatch<["positions", "slots"]>]> {
  let summary = "attention of the queries over the latent KV cache";
  let description = [{
    The attention core of `ds.mla` for one layer: `q` is `[T, H*(dn+dr)]`
    (the output of `q_b_proj` or `q_proj`); its rope part is rotated at
    `positions[t]` and rounded to bf16. Token `t` attends, per head, to every
    cached position `<= positions[t]` of slot `slots[t]` of layer `layer`,
    with keys and values expanded from the cache by `kv_b` (`[H*(dn+dv), R]`)
    or, with `absorbed`, in the latent space (§2.7). Scores are scaled by
    `softmax_scale`, normalised with an fp32 softmax whose probabilities are
    rounded to bf16. The result is the concatenation of the heads,
    `[T, H*dv]`, in bf16.

    ```mlir
    %a = ds.mla_attention %q, %pos, %slots, %cache, %kvb layer 0
        {num_heads = 128 : i64, qk_nope_head_dim = 128 : i64, qk_rope_head_dim = 64 : i64,
         v_head_dim = 128 : i64, softmax_scale = 0.135 : f64, rope = #ds.rope<...>, absorbed}
        : tensor<?x24576xbf16>, tensor<?xi32>, !ds.latent_cache<...>, tensor<32768x512xbf16> -> tensor<?x16384xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$q, DS_TokenIndices:$positions,
                       DS_TokenIndices:$slots, DS_LatentCacheType:$cache,
                       DS_LinearWeight:$kv_b, I64Attr:$layer, I64Attr:$num_heads,
                       I64Attr:$qk_nope_head_dim, I64Attr:$qk_rope_head_dim,
                       I64Attr:$v_head_dim, F64Attr:$softmax_scale,
                       DS_RopeAttr:$rope, UnitAttr:$absorbed);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $q `,` $positions `,` $slots `,` $cache `,` $kv_b `layer` $layer attr-dict
    `:` type($q) `,` type($positions) `,` type($cache) `,` type($kv_b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_MLAAbsorbQueryOp : DS_PureOp<"mla_absorb_query"> {
  let summary = "queries of the absorbed attention, in the latent space";
  let description = [{
    The first third of `ds.mla_attention {absorbed}` (§2.7), split out so
    that each part is one well-shaped kernel: for token `t` and head `h`,
    `result[t, h, :R] = bf16(q_nope[t, h] W_UK[h])` (`W_UK[h]` is rows
    `h*(dn+dv) .. h*(dn+dv)+dn` of `kv_b`, `[H*(dn+dv), R]`) and
    `result[t, h, R:] = bf16(rope(q_pe[t, h], positions[t]))`. `q` is
    `[T, H*(dn+dr)]`; the result `[T, H, R+dr]`.

    ```mlir
    %ql = ds.mla_absorb_query %q, %pos, %kvb
        {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, qk_rope_head_dim = 64 : i64,
         v_head_dim = 128 : i64, rope = #ds.rope<...>}
        : tensor<?x3072xbf16>, tensor<?xi32>, tensor<4096x512xbf16> -> tensor<?x16x576xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$q, DS_TokenIndices:$positions,
                       DS_LinearWeight:$kv_b, I64Attr:$num_heads,
                       I64Attr:$qk_nope_head_dim, I64Attr:$qk_rope_head_dim,
                       I64Attr:$v_head_dim, DS_RopeAttr:$rope);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $q `,` $positions `,` $kv_b attr-dict `:` type($q) `,` type($positions)
    `,` type($kv_b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_MLALatentAttentionOp : DS_PureOp<"mla_latent_attention",
    [AllTypesMatch<["positions", "slots"]>]> {
  let summary = "attention over the latent cache, in the latent space";
  let description = [{
    The middle of `ds.mla_attention {absorbed}`: token `t`, head `h` scores
    every cached position `s <= positions[t]` of slot `slots[t]` of layer
    `layer` as `softmax_scale * (q[t, h, :R] . c_s + q[t, h, R:] . k_pe_s)`;
    an fp32 softmax gives probabilities rounded to bf16, and
    `result[t, h] = bf16(sum_s p_s c_s)`. `q` is `[T, H, R+dr]` (from
    `ds.mla_absorb_query`), the result `[T, H, R]`.

    ```mlir
    %ol = ds.mla_latent_attention %ql, %pos, %slots, %cache layer 0
        {num_heads = 16 : i64, softmax_scale = 0.135 : f64}
        : tensor<?x16x576xbf16>, tensor<?xi32>, !ds.latent_cache<...> -> tensor<?x16x512xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$q, DS_TokenIndices:$positions,
                       DS_TokenIndices:$slots, DS_LatentCacheType:$cache,
                       I64Attr:$layer, I64Attr:$num_heads,
                       F64Attr:$softmax_scale);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $q `,` $positions `,` $slots `,` $cache `layer` $layer attr-dict
    `:` type($q) `,` type($positions) `,` type($cache) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_MLALatentAttentionPartialOp : DS_PureOp<"mla_latent_attention_partial",
    [AllTypesMatch<["positions", "slots"]>]> {
  let summary = "latent attention over one share of the cached positions";
  let description = [{
    The first half of a `ds.mla_latent_attention` whose cached positions
    are split across GPU blocks (`ds-split-attention` creates it; its
    strategy is `position_split`). `S`, the second dimension of both
    results, is the most splits a token may use. With `T` tokens in the
    chunk and `n_t = positions[t] + 1` positions to attend, token `t` uses

        splits_t = max(1, min(S / T, ceil(n_t / 32), ceil(sqrt(n_t))))

    splits (integer division `S / T`: the chunk's tokens share `S` blocks'
    worth of splits; at least 32 positions per split; past 1,024 positions
    about as many splits as positions per split), and split
    `s < splits_t` covers positions `[s * k, min((s + 1) * k, n_t))` with
    `k = ceil(n_t / splits_t)`. For each head `h`, with the scores
    `x_p = softmax_scale * (q[t, h, :R] . c_p + q[t, h, R:] . k_pe_p)` of
    that range, `m` their maximum and `l = sum_p exp(x_p - m)`:

    | result | shape | value for `s < splits_t` | for `s >= splits_t` |
    |---|---|---|---|
    | `partial` | `[T, S, H, R]` f32 | `sum_p exp(x_p - m) c_p / l` | unspecified |
    | `lse` | `[T, S, H]` f32 | `m + log(l)` (`-inf` for an empty range) | `-inf` |

    `ds.mla_attention_combine` merges the splits. The verifier checks that
    `q` is `[T, H, R + dr]` for the cache's latent `R` and rope `dr`.

    ```mlir
    %o, %lse = ds.mla_latent_attention_partial %ql, %pos, %slots, %cache layer 0
        {num_heads = 16 : i64, softmax_scale = 0.135 : f64}
        : tensor<?x16x576xbf16>, tensor<?xi32>, !ds.latent_cache<...>
        -> tensor<?x132x16x512xf32>, tensor<?x132x16xf32>
    ```
  }];
  let arguments = (ins DS_Activation:$q, DS_TokenIndices:$positions,
                       DS_TokenIndices:$slots, DS_LatentCacheType:$cache,
                       I64Attr:$layer, I64Attr:$num_heads,
                       F64Attr:$softmax_scale);
  let results = (outs RankedTensorOf<[F32]>:$partial,
                      RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $q `,` $positions `,` $slots `,` $cache `layer` $layer attr-dict
    `:` type($q) `,` type($positions) `,` type($cache) `->` type($partial)
    `,` type($lse)
  }];
  let extraClassDeclaration = [{
    /// S: the most splits one token's positions are spread over.
    int64_t getMaxSplits() {
      return ::llvm::cast<::mlir::RankedTensorType>(getLse().getType())
          .getDimSize(1);
    }
  }];
  let hasVerifier = 1;
}

def DS_MLAAttentionCombineOp : DS_PureOp<"mla_attention_combine"> {
  let summary = "merges the splits of a position-split latent attention";
  let description = [{
    The second half of a split `ds.mla_latent_attention`: over the splits
    `s` of token `t` whose `lse[t, s, h]` is finite, which must be the first
    ones (`s < k`; `ds.mla_latent_attention_partial` writes them so), with
    `M` their largest `lse` and `w_s = exp(lse[t, s, h] - M)`,
    `result[t, h] = bf16(sum_s w_s partial[t, s, h] / sum_s w_s)` (splits
    from `k` on are never read). `partial` is `[T, S, H, R]` f32,
    `lse` `[T, S, H]` f32 and the result `[T, H, R]` bf16; the verifier
    checks that the dimensions agree.

    ```mlir
    %ol = ds.mla_attention_combine %o, %lse
        : tensor<?x132x16x512xf32>, tensor<?x132x16xf32> -> tensor<?x16x512xbf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$partial,
                       RankedTensorOf<[F32]>:$lse);
  let results = (outs DS_Activation:$result);
  let assemblyFormat = [{
    $partial `,` $lse attr-dict `:` type($partial) `,` type($lse) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def DS_MLAAbsorbValueOp : DS_PureOp<"mla_absorb_value"> {
  let summary = "values of the absorbed attention, out of the latent space";
  let description = [{
    The last third of `ds.mla_attention {absorbed}`:
    `result[t, h*dv + j] = bf16(o[t, h] . W_UV[h][j])`, with `W_UV[h]` rows
    `h*(dn+dv)+dn .. (h+1)*(dn+dv)` of `kv_b`. `o` is `[T, H, R]` bf16, the
    result `[T, H*dv]`.

    ```mlir
    %a = ds.mla_absorb_value %ol, %kvb {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, v_head_dim = 128 : i64}
        : tensor<?x16x512xbf16>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
    ```

    With `combine(lse)` (`ds-fuse-attention-combine` folds the
    `ds.mla_attention_combine` that only this op reads) `o` is that op's
    `partial`, `[T, S, H, R]` f32, and `lse` its `[T, S, H]` f32: each
    `o[t, h]` is first merged from the splits exactly as
    `ds.mla_attention_combine` merges it (rounded to bf16) and is never
    stored. On sm_90 a cluster of blocks per (token, head) merges a slice
    of the latent columns each and shares them through distributed shared
    memory, so the merge is one dependent step less than two kernels.

    ```mlir
    %a = ds.mla_absorb_value %o combine(%lse : tensor<?x132x16xf32>), %kvb {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, v_head_dim = 128 : i64}
        : tensor<?x132x16x512xf32>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[BF16, F32]>:$o,
                       Optional<RankedTensorOf<[F32]>>:$lse,
                       DS_LinearWeight:$kv_b,
                       I64Attr:$num_heads, I64Attr:$qk_nope_head_dim,
                       I64Attr:$v_head_dim);
  let results = (outs DS_Activation:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$o,
                   "::mlir::Value":$kv_b, "::mlir::IntegerAttr":$num_heads,
                   "::mlir::IntegerAttr":$qk_nope_head_dim,
                   "::mlir::IntegerAttr":$v_head_dim), [{
      build($_builder, $_state, result, o, /*lse=*/::mlir::Value(), kv_b,
            num_heads, qk_nope_head_dim, v_head_dim);
    }]>
  ];
  let assemblyFormat = [{
    $o (`combine` `(` $lse^ `:` type($lse) `)`)? `,` $kv_b attr-dict `:` type($o) `,` type($kv_b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_RouterLogitsOp : DS_PureOp<"router_logits"> {
  let summary = "fp32 router logits";
  let description = [{
    `result[t, e] = sum_k f32(input[t, k]) * f32(weight[e, k])`, not rounded:
    the first half of `ds.moe_gate` (`docs/model.md` §3.3 upcasts both
    operands and computes in fp32). `weight` is `tensor<ExDxbf16>`, the
    result `tensor<?xExf32>`.

    ```mlir
    %l = ds.router_logits %x, %w : tensor<?x7168xbf16>, tensor<256x7168xbf16> -> tensor<?x256xf32>
    ```

    With `norm(g)` (ds-fuse-norms folds a `ds.rms_norm` into the products
    that read it) the input is read through that RMSNorm: each feature
    `x_k` of a row becomes `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) *
    g_k)`, the roundings of `ds.rms_norm`, and the normalised row is never
    stored. `g` has the input's feature count; `norm_eps` is positive and
    present exactly when `norm` is.
  }];
  let arguments = (ins DS_Activation:$input, 2DTensorOf<[BF16]>:$weight,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs 2DTensorOf<[F32]>:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight), [{
      build($_builder, $_state, result, input, weight,
            /*norm_weight=*/::mlir::Value(), /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weight (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_MoESelectOp : DS_PureOp<"moe_select"> {
  let summary = "expert choice and combine weights from router logits";
  let description = [{
    The second half of `ds.moe_gate`: steps 2-4 of its description (scores,
    group-limited selection, top-k, normalisation and scaling) on the fp32
    `logits` (`tensor<?xExf32>`) of `ds.router_logits`. Attributes and
    results are those of `ds.moe_gate`.

    ```mlir
    %w, %i = ds.moe_select %l bias(%b : tensor<256xf32>) {...}
        : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[F32]>:$logits,
                       Optional<1DTensorOf<[F32]>>:$bias,
                       DS_ScoringFuncAttr:$scoring,
                       DS_TopkMethodAttr:$topk_method,
                       I64Attr:$top_k, I64Attr:$n_group, I64Attr:$topk_group,
                       BoolAttr:$norm_topk_prob,
                       F64Attr:$routed_scaling_factor);
  let results = (outs 2DTensorOf<[F32]>:$weights, 2DTensorOf<[I32]>:$indices);
  let assemblyFormat = [{
    $logits (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict
    `:` type($logits) `->` type($weights) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def DS_MoEExpertUpOp : DS_PureOp<"moe_expert_up"> {
  let summary = "gate and up projections of the chosen experts, with SwiGLU";
  let description = [{
    `result[t, j] = bf16(silu(gate[e] x_t) * (up[e] x_t))` with
    `e = indices[t, j]`: the first half of `ds.moe_experts`, one row of
    `moe_intermediate_size` per (token, choice). Both projections accumulate in
    fp32 and are rounded to bf16 before the product.

    ```mlir
    %h = ds.moe_expert_up %x, %idx, %gate, %up : tensor<?x7168xbf16>, tensor<?x8xi32>,
        !ds.fp8_block<256x2048x7168, ...>, !ds.fp8_block<256x2048x7168, ...> -> tensor<?x8x2048xbf16>
    ```

    With `norm(g)` (ds-fuse-norms folds a `ds.rms_norm` into the products
    that read it) the input is read through that RMSNorm: each feature
    `x_k` of a row becomes `bf16(bf16(x_k * rsqrt(mean(x^2) + norm_eps)) *
    g_k)`, the roundings of `ds.rms_norm`, and the normalised row is never
    stored. `g` has the input's feature count; `norm_eps` is positive and
    present exactly when `norm` is.
  }];
  let arguments = (ins DS_Activation:$input, 2DTensorOf<[I32]>:$indices,
                       DS_ExpertWeight:$gate, DS_ExpertWeight:$up,
                       Optional<DS_NormWeight>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs DS_Activation:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$indices, "::mlir::Value":$gate,
                   "::mlir::Value":$up), [{
      build($_builder, $_state, result, input, indices, gate, up,
            /*norm_weight=*/::mlir::Value(), /*norm_eps=*/::mlir::FloatAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $indices `,` $gate `,` $up (`norm` `(` $norm_weight^ `:` type($norm_weight) `)`)? attr-dict `:` type($input) `,`
    type($indices) `,` type($gate) `,` type($up) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DS_MoEExpertDownOp : DS_PureOp<"moe_expert_down",
                                    [AttrSizedOperandSegments]> {
  let summary = "down projections of the chosen experts, combined";
  let description = [{
    `result[t] = bf16(sum_j weights[t, j] * bf16(down[indices[t, j]] h[t, j]))`:
    the second half of `ds.moe_experts`, accumulated in fp32.

    ```mlir
    %y = ds.moe_expert_down %h, %w, %idx, %down : tensor<?x8x2048xbf16>, tensor<?x8xf32>,
        tensor<?x8xi32>, !ds.fp8_block<256x7168x2048, ...> -> tensor<?x7168xbf16>
    ```

    With `shared(shared_input, shared_down)` (ds-fuse-epilogues makes it
    from the shared experts' down projection, a `ds.linear` whose first
    addend is this op's routed sum), the kernel also computes
    `s = bf16(shared_input shared_down^T)` and the result is the linear's:
    `bf16(bf16(s + routed) + a_1) ...`, the routed sum rounded as above and
    each of `addends` added in order, rounding after every addition. One
    kernel then reads the routed and the shared down weights. `shared_down`
    is `tensor<HxSxbf16>` or `!ds.fp8_block<HxS, ...>` (H the result's
    features, S the shared input's); addends have the result's type and
    need the shared product.

    ```mlir
    %y = ds.moe_expert_down %h, %w, %idx, %down shared(%hs, %sdown : tensor<?x2816xbf16>, tensor<2048x2816xbf16>)
        plus(%x : tensor<?x2048xbf16>) : tensor<?x6x1408xbf16>, tensor<?x6xf32>, tensor<?x6xi32>,
        tensor<64x2048x1408xbf16> -> tensor<?x2048xbf16>
    ```
  }];
  let arguments = (ins DS_Activation:$input, 2DTensorOf<[F32]>:$weights,
                       2DTensorOf<[I32]>:$indices, DS_ExpertWeight:$down,
                       Optional<DS_Activation>:$shared_input,
                       Optional<DS_LinearWeight>:$shared_down,
                       Variadic<DS_Activation>:$addends);
  let results = (outs DS_Activation:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weights, "::mlir::Value":$indices,
                   "::mlir::Value":$down), [{
      build($_builder, $_state, result, input, weights, indices, down,
            ::mlir::Value(), ::mlir::Value(), ::mlir::ValueRange{});
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weights `,` $indices `,` $down
    (`shared` `(` $shared_input^ `,` $shared_down `:` type($shared_input) `,`
      type($shared_down) `)`)?
    (`plus` `(` $addends^ `:` type($addends) `)`)?
    attr-dict `:` type($input) `,`
    type($weights) `,` type($indices) `,` type($down) `->` type($result)
  }];
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// Schedule-level operations (produced by ds-schedule)
//===----------------------------------------------------------------------===//

def DS_KernelOp : DS_Op<"kernel", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a compiled kernel the schedule launches";
  let description = [{
    Declares kernel `sym_name` (a function of the nested `@kernels` module)
    and how a launch splits its work: over the chunk's `tokens`, over a
    `static` range `[0, extent)` (output features), or over
    `tokens_x_static` (`[0, tokens * extent)`: token-head pairs). `rows`
    says what "tokens" counts for this kernel: the chunk's tokens or its
    `outputs`, the rows whose logits are computed (`ds.lm_head`,
    `ds.sample`). `config` is the strategy it was generated with (its
    `block` is the GPU block size); `outputs` lists what it writes as
    (argument, dtype, elements per row) triples, dtype in the program's
    numbering (0 bf16, 1 f32, 3 i32); `writes_cache` marks kernels that
    write the latent cache. `cost` (a `#ds.kernel_cost`) is what one launch
    must move and compute, for the per-kernel profile; ds-generate-kernels
    gives every kernel one. `summary` names the op and shapes it implements.

    `variants(rows, kernels)` lists the kernels generated from the op's
    `ds.variants`: a launch of at most `rows[i]` rows runs `kernels[i]`
    (the first that fits; rows increasing), else this kernel. A variant is
    itself a `ds.kernel` with the same `rows`, `outputs` and `writes_cache`
    and no variants of its own.

    Kernels are named `dsc_<op>_<strategy>_<shape>` after what they compute,
    so a new kernel renames none of the others.

    ```mlir
    ds.kernel @dsc_linear_warp_1536x7168 parallel = <tokens_x_static> extent = 49152
        rows = <tokens> config = <strategy = warp, block = 128>
        outputs = [2, 0, 1536]
        cost = <bytes_fixed = 22020096, bytes_per_row = 17408, flops_per_row = 22020096>
        "ds.linear tensor<?x7168xbf16> tensor<1536x7168xbf16>"
    ds.kernel @dsc_linear_warp_g2_1536x7168 parallel = <tokens_x_static> extent = 49152
        rows = <tokens> config = <strategy = warp, block = 128, row_group = 2>
        variants([1], [@dsc_linear_warp_1536x7168])
        outputs = [2, 0, 1536] "ds.linear tensor<?x7168xbf16> tensor<1536x7168xbf16>"
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       DS_ParallelDimAttr:$parallel,
                       I64Attr:$extent,
                       DS_RowCountAttr:$rows,
                       DS_KernelConfigAttr:$config,
                       OptionalAttr<DenseI64ArrayAttr>:$variant_rows,
                       OptionalAttr<FlatSymbolRefArrayAttr>:$variant_kernels,
                       DenseI64ArrayAttr:$outputs,
                       UnitAttr:$writes_cache,
                       OptionalAttr<DS_KernelCostAttr>:$cost,
                       StrAttr:$summary);
  let assemblyFormat = [{
    $sym_name `parallel` `=` $parallel `extent` `=` $extent `rows` `=` $rows
    `config` `=` $config
    (`variants` `(` $variant_rows^ `,` $variant_kernels `)`)?
    `outputs` `=` $outputs (`writes_cache` $writes_cache^)?
    (`cost` `=` $cost^)? $summary attr-dict
  }];
  let hasVerifier = 1;
}

def DS_LaunchOp : DS_Op<"launch"> {
  let summary = "one kernel launch of a scheduled entry point";
  let description = [{
    Calls kernel `kernel` (a `ds.kernel`) with the pointer arguments `args`
    (`#ds.arg` attributes) for the current chunk.

    Launches are listed in an order that runs them correctly one after
    another. Where the scheduler found independent work, a launch also
    names the stream it may run on (`stream`, 0 when absent) and the
    earlier launches of other streams it must wait for (`waits`, their
    indices in the entry's launch list): a launch follows the previous
    launch of its own stream and each launch it waits for, and those
    edges hold every dependency through the arena, the cache and the
    chunk's values. A runtime may ignore both and run the list in order.

    ```mlir
    ds.launch @dsc_embed_generic_129280x7168 [#ds.arg<tokens, 0>, #ds.arg<weight, 0>, #ds.arg<arena, 0>]
    ds.launch @dsc_linear_warp_576x2048 [...] stream 1 waits [0]
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel,
                       TypedArrayAttrBase<DS_ArgAttr, "launch arguments">:$args,
                       DefaultValuedAttr<I32Attr, "0">:$stream,
                       OptionalAttr<DenseI64ArrayAttr>:$waits);
  let assemblyFormat = [{
    $kernel $args (`stream` $stream^)? (`waits` $waits^)? attr-dict
  }];
}

#endif // DSC_DIALECT_DS_DSOPS_TD
