// RUN: dsc-opt %s -split-input-file --ds-split-attention | FileCheck %s --enable-var-scope
// RUN: dsc-opt %s -split-input-file --ds-split-attention="splits=4" | FileCheck %s --check-prefix=FORCED --enable-var-scope
// RUN: dsc-opt %s -split-input-file --ds-split-attention --ds-plan-buffers="max-batch=2" | FileCheck %s --check-prefix=PLAN
// RUN: not dsc-opt %s -split-input-file --ds-split-attention="splits=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// ds-split-attention: a latent attention configured position_split becomes
// its partial op (same configuration, f32 workspace [T, splits, H, R] and
// [T, splits, H]) and the combine (warp: 8 lanes per 4 latent columns) that
// produces its result.

// CHECK-LABEL: func.func @decode
// CHECK: %[[P:[a-z]+]], %[[LSE:[a-z]+]] = ds.mla_latent_attention_partial %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} layer 0 {ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 132>, num_heads = 16 : i64, softmax_scale = 1.000000e-01 : f64} : tensor<?x16x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x132x16x512xf32>, tensor<?x132x16xf32>
// CHECK-NEXT: %[[O:.*]] = ds.mla_attention_combine %[[P]], %[[LSE]] {ds.config = #ds.kernel_config<strategy = warp>} : tensor<?x132x16x512xf32>, tensor<?x132x16xf32> -> tensor<?x16x512xbf16>
// CHECK-NEXT: return %[[O]]
// splits > 0 overrides the configuration's.
// FORCED-LABEL: func.func @decode
// FORCED: ds.mla_latent_attention_partial {{.*}}splits = 4>{{.*}} -> tensor<?x4x16x512xf32>, tensor<?x4x16xf32>
// The workspace is planned like any activation: [2, 132, 16, 512] f32 and
// [2, 132, 16] f32 at max-batch 2.
// PLAN-LABEL: func.func @decode
// PLAN: ds.mla_latent_attention_partial {{.*}}ds.arena_offsets = [{{[0-9]+}}, {{[0-9]+}}]
// PLAN: ds.mla_attention_combine
// NEGATIVE: error: ds-split-attention: splits must be >= 0
func.func @decode(%q: tensor<?x16x576xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                  %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>) -> tensor<?x16x512xbf16>
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0
      {num_heads = 16 : i64, softmax_scale = 0.1 : f64,
       ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 132>}
      : tensor<?x16x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x16x512xbf16>
  return %o : tensor<?x16x512xbf16>
}

// -----

// Other strategies stay one op; with splits > 0 the decode entry's generic
// attention (the host's) is split too, prefill's never.
// CHECK-LABEL: func.func @host_decode
// CHECK-NOT: ds.mla_latent_attention_partial
// CHECK: ds.mla_latent_attention %
// FORCED-LABEL: func.func @host_decode
// FORCED: ds.mla_latent_attention_partial {{.*}}{ds.config = #ds.kernel_config<strategy = generic>{{.*}} -> tensor<?x4x4x16xf32>, tensor<?x4x4xf32>
// FORCED: ds.mla_attention_combine {{.*}}strategy = generic
func.func @host_decode(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                       %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>) -> tensor<?x4x16xbf16>
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0
      {num_heads = 4 : i64, softmax_scale = 0.1 : f64, ds.config = #ds.kernel_config<strategy = generic>}
      : tensor<?x4x24xbf16>, tensor<?xi32>, <layers = 1, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  return %o : tensor<?x4x16xbf16>
}
// FORCED-LABEL: func.func @host_prefill
// FORCED-NOT: ds.mla_latent_attention_partial
func.func @host_prefill(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                        %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>) -> tensor<?x4x16xbf16>
    attributes {ds.entry = "prefill"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0
      {num_heads = 4 : i64, softmax_scale = 0.1 : f64, ds.config = #ds.kernel_config<strategy = generic>}
      : tensor<?x4x24xbf16>, tensor<?xi32>, <layers = 1, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  return %o : tensor<?x4x16xbf16>
}
