// RUN: dsc-opt %s --ds-decompose --split-input-file | FileCheck %s

// ds-decompose: one kernel-level op per launch.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xbf16>, %[[G:.*]]: tensor<48x32xbf16>, %[[U:.*]]: tensor<48x32xbf16>, %[[D:.*]]: tensor<32x48xbf16>)
// CHECK: %[[GATE:.*]] = ds.linear %[[X]], %[[G]] : tensor<?x32xbf16>, tensor<48x32xbf16> -> tensor<?x48xbf16>
// CHECK: %[[UP:.*]] = ds.linear %[[X]], %[[U]] : tensor<?x32xbf16>, tensor<48x32xbf16> -> tensor<?x48xbf16>
// CHECK: %[[H:.*]] = ds.swiglu %[[GATE]], %[[UP]] : tensor<?x48xbf16>
// CHECK: %[[Y:.*]] = ds.linear %[[H]], %[[D]] : tensor<?x48xbf16>, tensor<32x48xbf16> -> tensor<?x32xbf16>
// CHECK: return %[[Y]]
func.func @mlp(%x: tensor<?x32xbf16>, %g: tensor<48x32xbf16>, %u: tensor<48x32xbf16>, %d: tensor<32x48xbf16>) -> tensor<?x32xbf16> {
  %y = ds.mlp %x, %g, %u, %d : tensor<?x32xbf16>, tensor<48x32xbf16>, tensor<48x32xbf16>, tensor<32x48xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x32xbf16>, %[[POS:[^:]*]]: tensor<?xi32>, %[[SLOTS:[^:]*]]: tensor<?xi32>, %[[C:[^:]*]]: !ds.latent_cache
// CHECK: %[[QA:.*]] = ds.linear %[[X]], %{{.*}} -> tensor<?x24xbf16>
// CHECK: %[[QN:.*]] = ds.rms_norm %[[QA]], %{{.*}} {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[Q:.*]] = ds.linear %[[QN]], %{{.*}} -> tensor<?x96xbf16>
// CHECK: %[[KV:.*]] = ds.linear %[[X]], %{{.*}} -> tensor<?x24xbf16>
// CHECK: %[[C1:.*]] = ds.mla_cache_write %[[KV]], %{{.*}}, %[[POS]], %[[SLOTS]], %[[C]] layer 1
// The absorbed attention: queries into the latent space, attention there,
// values out of it.
// CHECK: %[[QL:.*]] = ds.mla_absorb_query %[[Q]], %[[POS]], %{{.*}} {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, rope = {{.*}}, v_head_dim = 16 : i64} : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x16xbf16> -> tensor<?x4x24xbf16>
// CHECK: %[[OL:.*]] = ds.mla_latent_attention %[[QL]], %[[POS]], %[[SLOTS]], %[[C1]] layer 1 {num_heads = 4 : i64, softmax_scale = 2.000000e-01 : f64} : tensor<?x4x24xbf16>, tensor<?xi32>, {{.*}} -> tensor<?x4x16xbf16>
// CHECK: %[[A:.*]] = ds.mla_absorb_value %[[OL]], %{{.*}} {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64} : tensor<?x4x16xbf16>, tensor<128x16xbf16> -> tensor<?x64xbf16>
// CHECK: %[[O:.*]] = ds.linear %[[A]], %{{.*}} -> tensor<?x32xbf16>
// CHECK: return %[[O]], %[[C1]]
func.func @decode(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
    %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>)
    -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) attributes {ds.entry = "decode"} {
  %out, %c1 = ds.mla %x, %pos, %slots, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {absorbed, num_heads = 4 : i64, q_lora_rank = 24 : i64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64,
       qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

// -----

// CHECK-LABEL: func.func @no_lora
// CHECK: %[[Q:.*]] = ds.linear %{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<96x32xbf16> -> tensor<?x96xbf16>
// CHECK-NOT: ds.rms_norm
// CHECK: ds.mla_cache_write
// CHECK: ds.mla_attention %[[Q]]
// CHECK-NOT: absorbed
func.func @no_lora(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
    %q: tensor<96x32xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>)
    -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) attributes {ds.entry = "prefill"} {
  %out, %c1 = ds.mla %x, %pos, %slots, %c layer 1 q(%q : tensor<96x32xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64,
       qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

// -----

// CHECK-LABEL: func.func @experts
// CHECK: %[[H:.*]] = ds.moe_expert_up %[[X:[^,]*]], %[[I:[^,]*]], %{{.*}}, %{{.*}} : {{.*}} -> tensor<?x2x16xbf16>
// CHECK: ds.moe_expert_down %[[H]], %{{.*}}, %[[I]], %{{.*}} : tensor<?x2x16xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, !ds.fp8_block<8x32x16, block = 128x128, scales = f32> -> tensor<?x32xbf16>
func.func @experts(%x: tensor<?x32xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: !ds.fp8_block<8x16x32, block = 128x128, scales = f32>, %d: !ds.fp8_block<8x32x16, block = 128x128, scales = f32>) -> tensor<?x32xbf16> {
  %y = ds.moe_experts %x, %w, %i, %g, %g, %d : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, !ds.fp8_block<8x16x32, block = 128x128, scales = f32>, !ds.fp8_block<8x16x32, block = 128x128, scales = f32>, !ds.fp8_block<8x32x16, block = 128x128, scales = f32> -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

// CHECK-LABEL: func.func @gate
// CHECK: %[[L:.*]] = ds.router_logits %{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x8xf32>
// CHECK: %[[W:.*]], %[[I:.*]] = ds.moe_select %[[L]] bias(%{{.*}} : tensor<8xf32>) {n_group = 4 : i64, norm_topk_prob = true, routed_scaling_factor = 2.500000e+00 : f64, scoring = #ds.scoring<sigmoid>, top_k = 2 : i64, topk_group = 2 : i64, topk_method = #ds.topk_method<noaux_tc>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK: return %[[W]], %[[I]]
func.func @gate(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi32>
}
