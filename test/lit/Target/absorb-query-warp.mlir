// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a" --ds-plan-buffers --ds-generate-kernels | FileCheck %s

// ds.mla_absorb_query on CUDA cores: a warp per (token, head, 32 latent
// columns), plus one per (token, head) for the rotary half. Lane l = 4 r + c
// takes the 8 columns 8 c.. of the rows d = r, r + 8, ... of W_UK[h] (here
// 32 rows: 4 a lane), so each load instruction of the warp reads 8 rows'
// 64 contiguous bytes; all 4 are requested before the wait for the query's
// producer. Three butterfly rounds over the row lanes (4, 8, 16) for each
// of the 8 column sums, and lanes 0-3 store the 32 columns. 2 heads x
// (64 / 32 + 1) warps = 192 threads a token.

// CHECK: ds.kernel @dsc_mla_absorb_query_warp_128x64 parallel = <tokens_x_static> extent = 192
// CHECK-LABEL: func.func @dsc_mla_absorb_query_warp_128x64(
// CHECK-COUNT-4: llvm.load {{.*}}{alignment = 16 : i64} : !llvm.ptr -> vector<8xbf16>
// CHECK-NOT: -> vector<8xbf16>
// CHECK: nvvm.griddepcontrol wait
// CHECK-COUNT-8: nvvm.shfl.sync bfly {{.*}}, %c4_i32{{.*}} : f32 -> f32
// CHECK-COUNT-8: nvvm.shfl.sync bfly {{.*}}, %c8_i32{{.*}} : f32 -> f32
// CHECK-COUNT-8: nvvm.shfl.sync bfly {{.*}}, %c16_i32{{.*}} : f32 -> f32
// CHECK-NOT: nvvm.shfl.sync
// CHECK: scf.if
// CHECK-COUNT-8: llvm.store {{.*}} : bf16, !llvm.ptr
// The rotary warp waits on its own path.
// CHECK: nvvm.griddepcontrol wait
func.func @decode(%q: tensor<?x96xbf16>, %pos: tensor<?xi32>, %kvb: tensor<128x64xbf16>) -> tensor<?x2x80xbf16>
    attributes {ds.entry = "decode"} {
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 2 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64,
       rope = #ds.rope<dim = 16, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x64xbf16> -> tensor<?x2x80xbf16>
  return %ql : tensor<?x2x80xbf16>
}
