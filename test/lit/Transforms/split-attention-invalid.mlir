// RUN: dsc-opt %s -split-input-file -verify-diagnostics --ds-split-attention

// ds-split-attention rejects a position_split block whose warps do not
// divide the head group (each warp serves group / warps heads).
func.func @bad_block(%q: tensor<?x16x576xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                     %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>) -> tensor<?x16x512xbf16>
    attributes {ds.entry = "decode"} {
  // expected-error @+1 {{position_split needs the block's 3 warps to divide its group of 8 heads}}
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0
      {num_heads = 16 : i64, softmax_scale = 0.1 : f64,
       ds.config = #ds.kernel_config<strategy = position_split, block = 96, splits = 8>}
      : tensor<?x16x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x16x512xbf16>
  return %o : tensor<?x16x512xbf16>
}
