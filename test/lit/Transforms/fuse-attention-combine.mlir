// RUN: dsc-opt %s -split-input-file --ds-fuse-attention-combine | FileCheck %s
// RUN: dsc-opt %s -split-input-file --ds-fuse-attention-combine --ds-configure-kernels="target=cuda:sm_90a keep-existing=true" | FileCheck %s --check-prefix=SM90
// RUN: dsc-opt %s -split-input-file --ds-fuse-attention-combine --ds-configure-kernels="target=cuda:sm_80 keep-existing=true" | FileCheck %s --check-prefix=SM80
// RUN: dsc-opt %s -split-input-file --ds-fuse-attention-combine --ds-configure-kernels="keep-existing=true" | FileCheck %s --check-prefix=CPU

// ds-fuse-attention-combine: a ds.mla_attention_combine that only a
// ds.mla_absorb_value reads becomes that op's combine(lse) clause (its
// partial states are the value product's o); the combine is gone, the
// new op has no configuration, and ds-configure-kernels with
// keep-existing configures it alone: on sm_90 a cluster of 8 blocks of 4
// warps (the default 128 threads) per (token, head), 4 value features a
// warp (an eighth of the 128 a block), 4 warps merging an eighth of the
// 512 latent columns; the generic kernel without clusters and on the
// host. The partial op keeps its (forced, 4-share) configuration.

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[P:[^:]*]]: tensor<?x4x16x512xf32>, %[[LSE:[^:]*]]: tensor<?x4x16xf32>, %[[KVB:[^:]*]]: tensor<4096x512xbf16>)
// CHECK-NEXT: %[[A:.*]] = ds.mla_absorb_value %[[P]] combine(%[[LSE]] : tensor<?x4x16xf32>), %[[KVB]] {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, v_head_dim = 128 : i64} : tensor<?x4x16x512xf32>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
// CHECK-NEXT: return %[[A]]
// SM90-LABEL: func.func @decode
// SM90: ds.mla_absorb_value {{.*}}ds.config = #ds.kernel_config<strategy = cluster_block, splits = 8>
// SM80-LABEL: func.func @decode
// SM80: ds.mla_absorb_value {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU-LABEL: func.func @decode
// CPU: ds.mla_absorb_value {{.*}}ds.config = #ds.kernel_config<strategy = generic>
func.func @decode(%p: tensor<?x4x16x512xf32>, %lse: tensor<?x4x16xf32>, %kvb: tensor<4096x512xbf16>) -> tensor<?x2048xbf16>
    attributes {ds.entry = "decode"} {
  %o = ds.mla_attention_combine %p, %lse {ds.config = #ds.kernel_config<strategy = warp>}
      : tensor<?x4x16x512xf32>, tensor<?x4x16xf32> -> tensor<?x16x512xbf16>
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, v_head_dim = 128 : i64,
       ds.config = #ds.kernel_config<strategy = warp>}
      : tensor<?x16x512xbf16>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
  return %a : tensor<?x2048xbf16>
}

// -----

// A combine read by anything else stays, and so does the value product;
// configured ops keep their configuration under keep-existing.
// CHECK-LABEL: func.func @shared_row
// CHECK: ds.mla_attention_combine
// CHECK: ds.mla_absorb_value %{{[^ ]*}}, %
// SM90-LABEL: func.func @shared_row
// SM90: ds.mla_attention_combine {{.*}}strategy = warp
// SM90: ds.mla_absorb_value {{.*}}strategy = warp
func.func @shared_row(%p: tensor<?x4x16x512xf32>, %lse: tensor<?x4x16xf32>, %kvb: tensor<4096x512xbf16>) -> (tensor<?x2048xbf16>, tensor<?x16x512xbf16>)
    attributes {ds.entry = "decode"} {
  %o = ds.mla_attention_combine %p, %lse {ds.config = #ds.kernel_config<strategy = warp>}
      : tensor<?x4x16x512xf32>, tensor<?x4x16xf32> -> tensor<?x16x512xbf16>
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 16 : i64, qk_nope_head_dim = 128 : i64, v_head_dim = 128 : i64,
       ds.config = #ds.kernel_config<strategy = warp>}
      : tensor<?x16x512xbf16>, tensor<4096x512xbf16> -> tensor<?x2048xbf16>
  return %a, %o : tensor<?x2048xbf16>, tensor<?x16x512xbf16>
}

// -----

// A latent whose eighths are not whole warps of merging lanes (64 columns:
// 2 quads a block, 16 lanes) gets the generic kernel even on sm_90.
// SM90-LABEL: func.func @narrow
// SM90: ds.mla_absorb_value {{.*}}ds.config = #ds.kernel_config<strategy = generic>
func.func @narrow(%p: tensor<?x2x4x64xf32>, %lse: tensor<?x2x4xf32>, %kvb: tensor<128x64xbf16>) -> tensor<?x64xbf16>
    attributes {ds.entry = "decode"} {
  %o = ds.mla_attention_combine %p, %lse : tensor<?x2x4x64xf32>, tensor<?x2x4xf32> -> tensor<?x4x64xbf16>
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x4x64xbf16>, tensor<128x64xbf16> -> tensor<?x64xbf16>
  return %a : tensor<?x64xbf16>
}
