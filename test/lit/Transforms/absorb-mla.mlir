// RUN: dsc-opt %s --ds-absorb-mla | FileCheck %s
// RUN: dsc-opt %s --ds-absorb-mla="entries=prefill,decode" | FileCheck %s --check-prefix=BOTH

// ds-absorb-mla marks the attention of the decode entry point for the
// latent-space form; prefill keeps the naive form unless asked.

// CHECK-LABEL: func.func @prefill
// CHECK: ds.mla
// CHECK-NOT: absorbed
// CHECK-SAME: -> tensor<?x32xbf16>
// BOTH-LABEL: func.func @prefill
// BOTH: ds.mla {{.*}}absorbed
func.func @prefill(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
    %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>)
    -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) attributes {ds.entry = "prefill"} {
  %out, %c1 = ds.mla %x, %pos, %slots, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64,
       qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

// CHECK-LABEL: func.func @decode
// CHECK: ds.mla {{.*}}absorbed
// BOTH-LABEL: func.func @decode
// BOTH: ds.mla {{.*}}absorbed
func.func @decode(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
    %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>)
    -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) attributes {ds.entry = "decode"} {
  %out, %c1 = ds.mla %x, %pos, %slots, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64,
       qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

// A function that is not an entry point is left alone.
// CHECK-LABEL: func.func @helper
// CHECK-NOT: absorbed
func.func @helper(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
    %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>)
    -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>)  {
  %out, %c1 = ds.mla %x, %pos, %slots, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64,
       qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}
