//===- DSTypes.td - ds types -------------------------------*- tablegen -*-===//
//
// Types the builtin ones cannot express: a block-scaled fp8 weight (data and
// its scale grid travel as one value) and the latent MLA KV cache.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_DIALECT_DS_DSTYPES_TD
#define DSC_DIALECT_DS_DSTYPES_TD

include "dsc/Dialect/DS/DSAttrs.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

def DS_FP8BlockWeightType : DS_TypeDef<"FP8BlockWeight", "fp8_block"> {
  let summary = "fp8 e4m3 weight with block scales";
  let description = [{
    A weight stored as `f8E4M3FN` values together with one f32 scale per
    `block_rows x block_cols` block (`weight_scale_inv` in the checkpoint).
    The value of element `[n, k]` is `fp8[n, k] * scale[n / block_rows,
    k / block_cols]`; the scale grid has shape
    `[ceil(N / block_rows), ceil(K / block_cols)]`, so a partial last block is
    allowed. A rank-3 shape `[E, N, K]` is a stack of `E` expert weights, each
    with its own scale grid.

    `scales` tells the format the scales were made in: `f32` (V3, R1), or
    `ue8m0` (V3.1: powers of two, and activations quantized with power-of-two
    scales too).

    ```mlir
    !ds.fp8_block<1536x7168, block = 128x128, scales = f32>
    !ds.fp8_block<256x2048x7168, block = 128x128, scales = ue8m0>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$shape,
    "int64_t":$block_rows,
    "int64_t":$block_cols,
    EnumParameter<DS_ScaleFormat>:$scales);
  let assemblyFormat = [{
    `<` custom<StaticShape>($shape) `,` `block` `=` custom<BlockShape>($block_rows, $block_cols) `,` `scales` `=` $scales `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Output features N (rows of one matrix).
    int64_t getRows() const { return getShape()[getShape().size() - 2]; }
    /// Input features K (columns of one matrix).
    int64_t getCols() const { return getShape().back(); }
    /// The shape of the f32 scale tensor: [E,] ceil(N/bn), ceil(K/bk).
    ::llvm::SmallVector<int64_t> getScaleShape() const;
  }];
}

def DS_LatentCacheType : DS_TypeDef<"LatentCache", "latent_cache"> {
  let summary = "latent MLA KV cache of all layers";
  let description = [{
    The weight-absorbed MLA cache of a whole model: for every layer, every
    sequence slot and every position, the normalised latent `c` (`latent`
    values, `kv_lora_rank`) and the rotated shared key `k_pe` (`rope` values,
    `qk_rope_head_dim`). Its capacity (sequence slots and positions) is chosen
    when the executable is built, so it is not part of the type.

    ```mlir
    !ds.latent_cache<layers = 61, latent = 512, rope = 64, bf16>
    ```
  }];
  let parameters = (ins "int64_t":$layers, "int64_t":$latent, "int64_t":$rope,
                        "::mlir::Type":$element_type);
  let assemblyFormat = [{
    `<` `layers` `=` $layers `,` `latent` `=` $latent `,` `rope` `=` $rope `,` $element_type `>`
  }];
  let genVerifyDecl = 1;
}

#endif // DSC_DIALECT_DS_DSTYPES_TD
