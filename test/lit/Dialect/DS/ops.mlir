// RUN: dsc-opt %s | FileCheck %s
// RUN: dsc-opt %s | dsc-opt | FileCheck %s
// RUN: dsc-opt %s --mlir-print-op-generic | dsc-opt | FileCheck %s

// Round trip of every ds op, type and attribute through the custom syntax.

// CHECK: ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
// CHECK: ds.weight @part = "model.layers.0.self_attn.o_proj.weight" shard <dim = 1, ranks = 2> : tensor<32x16xbf16>
ds.weight @part = "model.layers.0.self_attn.o_proj.weight" shard <dim = 1, ranks = 2> : tensor<32x16xbf16>
// CHECK: ds.weight @stack = "e.{e}.w" experts 4 shard <dim = 0, ranks = 2, interleaved = true> : tensor<4x8x32xbf16>
ds.weight @stack = "e.{e}.w" experts 4 shard <dim = 0, ranks = 2, interleaved = true> : tensor<4x8x32xbf16>
// CHECK: ds.weight @bias = "model.layers.1.mlp.gate.e_score_correction_bias" : tensor<8xf32>
ds.weight @bias = "model.layers.1.mlp.gate.e_score_correction_bias" : tensor<8xf32>
// CHECK: ds.weight @sq = "sq.weight" : tensor<32x32xbf16>
ds.weight @sq = "sq.weight" : tensor<32x32xbf16>
// CHECK: ds.weight @q = "q.weight" scale "q.weight_scale_inv" : !ds.fp8_block<144x32, block = 128x128, scales = f32>
ds.weight @q = "q.weight" scale "q.weight_scale_inv" : !ds.fp8_block<144x32, block = 128x128, scales = f32>
// CHECK: ds.weight @experts = "e.{e}.w" scale "e.{e}.s" experts 8 : !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>
ds.weight @experts = "e.{e}.w" scale "e.{e}.s" experts 8 : !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>
// CHECK: ds.weight @o = "o.weight" quantized : !ds.fp8_block<32x144, block = 128x128, scales = f32>
ds.weight @o = "o.weight" quantized : !ds.fp8_block<32x144, block = 128x128, scales = f32>
// CHECK: ds.weight @down = "d.{e}.w" quantized experts 8 : !ds.fp8_block<8x32x16, block = 128x128, scales = f32>
ds.weight @down = "d.{e}.w" quantized experts 8 : !ds.fp8_block<8x32x16, block = 128x128, scales = f32>

// CHECK-LABEL: func.func @dense
func.func @dense(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %norm: tensor<32xbf16>,
                 %w: tensor<16x32xbf16>, %g: tensor<48x32xbf16>, %d: tensor<32x48xbf16>,
                 %head: tensor<64x32xbf16>, %rows: tensor<?xi32>,
                 %params: tensor<?x8xi32>) -> (tensor<?x64xf32>, tensor<?xi32>) {
  // CHECK: %[[T:.*]] = ds.get_weight @table : tensor<64x32xbf16>
  %t = ds.get_weight @table : tensor<64x32xbf16>
  // CHECK: %[[H:.*]] = ds.embed %{{.*}}, %[[T]] : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %h = ds.embed %tokens, %t : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  // CHECK: %[[N:.*]] = ds.rms_norm %[[H]], %{{.*}} {eps = 9.9999999999999995E-7 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  %n = ds.rms_norm %h, %norm {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  // CHECK: ds.linear %[[N]], %{{.*}} : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %l = ds.linear %n, %w : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  // CHECK: %[[Q:.*]] = ds.get_weight @q : !ds.fp8_block<144x32, block = 128x128, scales = f32>
  %q = ds.get_weight @q : !ds.fp8_block<144x32, block = 128x128, scales = f32>
  // CHECK: ds.linear %[[N]], %[[Q]] : tensor<?x32xbf16>, !ds.fp8_block<144x32, block = 128x128, scales = f32> -> tensor<?x144xbf16>
  %l8 = ds.linear %n, %q : tensor<?x32xbf16>, !ds.fp8_block<144x32, block = 128x128, scales = f32> -> tensor<?x144xbf16>
  // A product reading its input through a fused RMSNorm, after its addends.
  // CHECK: ds.linear %[[H]], %{{.*}} plus(%[[H]] : tensor<?x32xbf16>) norm(%{{.*}} : tensor<32xbf16>) {norm_eps = 9.9999999999999995E-7 : f64} : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  %sq = ds.get_weight @sq : tensor<32x32xbf16>
  %ln = ds.linear %h, %sq plus(%h : tensor<?x32xbf16>) norm(%norm : tensor<32xbf16>) {norm_eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  // CHECK: ds.rope %{{.*}}, %{{.*}} rope(<dim = 16, theta = 1.000000e+04, scaling = yarn, factor = 4.000000e+01, original_max_position = 4096, beta_fast = 3.200000e+01, beta_slow = 1.000000e+00, mscale = 7.070000e-01, mscale_all_dim = 7.070000e-01>) : tensor<?x16xbf16>, tensor<?xi32>
  %r = ds.rope %l, %pos rope(#ds.rope<dim = 16, theta = 10000.0, scaling = yarn, factor = 40.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 0.707, mscale_all_dim = 0.707>) : tensor<?x16xbf16>, tensor<?xi32>
  // CHECK: %[[M:.*]] = ds.mlp %[[N]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<48x32xbf16>, tensor<48x32xbf16>, tensor<32x48xbf16>
  %m = ds.mlp %n, %g, %g, %d : tensor<?x32xbf16>, tensor<48x32xbf16>, tensor<48x32xbf16>, tensor<32x48xbf16>
  // CHECK: %[[A:.*]] = ds.add %[[H]], %[[M]] : tensor<?x32xbf16>
  %a = ds.add %h, %m : tensor<?x32xbf16>
  // CHECK: %[[L:.*]] = ds.lm_head %[[A]], %{{.*}} rows(%{{.*}} : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %logits = ds.lm_head %a, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  // CHECK: ds.sample %[[L]], %{{.*}} : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  // CHECK: ds.logprobs %[[L]], %{{.*}}, %{{.*}} : tensor<?x64xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %lp, %lp_ids = ds.logprobs %logits, %next, %params : tensor<?x64xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x6xf32>, tensor<?x6xi32>
  return %logits, %next : tensor<?x64xf32>, tensor<?xi32>
}

// CHECK-LABEL: func.func @rope_heads
func.func @rope_heads(%x: tensor<?x4x16xbf16>, %pos: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // CHECK: ds.rope %{{.*}}, %{{.*}} rope(<dim = 16, theta = 1.000000e+04, scaling = none, {{.*}}>) : tensor<?x4x16xbf16>, tensor<?xi32>
  %r = ds.rope %x, %pos rope(#ds.rope<dim = 16, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>) : tensor<?x4x16xbf16>, tensor<?xi32>
  return %r : tensor<?x4x16xbf16>
}

// CHECK-LABEL: func.func @mla_lora
func.func @mla_lora(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                    %cache: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
                    %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
                    %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>,
                    %o: tensor<32x64xbf16>) -> (tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // CHECK: %[[OUT:.*]], %[[CACHE:.*]] = ds.mla %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} layer 1
  // CHECK-SAME: q_a(%{{.*}} : tensor<24x32xbf16>) q_a_norm(%{{.*}} : tensor<24xbf16>) q_b(%{{.*}} : tensor<96x24xbf16>)
  // CHECK-SAME: kv_a(%{{.*}} : tensor<24x32xbf16>) kv_a_norm(%{{.*}} : tensor<16xbf16>) kv_b(%{{.*}} : tensor<128x16xbf16>) o(%{{.*}} : tensor<32x64xbf16>)
  // CHECK-SAME: num_heads = 4 : i64
  // CHECK-SAME: q_lora_rank = 24 : i64
  // CHECK-SAME: : tensor<?x32xbf16>, tensor<?xi32>, <layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  %out, %c1 = ds.mla %x, %pos, %slots, %cache layer 1
      q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>)
      o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, kv_lora_rank = 16 : i64,
       qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64,
       rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  // CHECK: return %[[OUT]], %[[CACHE]]
  return %out, %c1 : tensor<?x32xbf16>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

// CHECK-LABEL: func.func @mla_no_lora
func.func @mla_no_lora(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                       %cache: !ds.latent_cache<layers = 1, latent = 16, rope = 8, f32>,
                       %q: tensor<96x32xbf16>, %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>,
                       %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) -> tensor<?x32xbf16> {
  // CHECK: ds.mla %{{.*}} layer 0 q(%{{.*}} : tensor<96x32xbf16>) kv_a(
  %out, %c1 = ds.mla %x, %pos, %slots, %cache layer 0 q(%q : tensor<96x32xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>)
      o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 16 : i64,
       qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       softmax_scale = 0.2 : f64, eps = 1.0e-6 : f64,
       rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, f32> -> tensor<?x32xbf16>
  return %out : tensor<?x32xbf16>
}

// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<?x32xbf16>, %router: tensor<8x32xbf16>, %down: !ds.fp8_block<8x32x16, block = 128x128, scales = ue8m0>) -> tensor<?x32xbf16> {
  %b = ds.get_weight @bias : tensor<8xf32>
  // CHECK: %[[W:.*]], %[[I:.*]] = ds.moe_gate %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<8xf32>)
  // CHECK-SAME: scoring = #ds.scoring<sigmoid>
  // CHECK-SAME: topk_method = #ds.topk_method<noaux_tc>
  // CHECK-SAME: : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w, %i = ds.moe_gate %x, %router bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  // CHECK: ds.moe_gate %{{.*}}, %{{.*}} {{{.*}}topk_method = #ds.topk_method<group_limited_greedy>{{.*}}} : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x3xf32>, tensor<?x3xi32>
  %w2, %i2 = ds.moe_gate %x, %router
      {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<group_limited_greedy>, top_k = 3 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = false, routed_scaling_factor = 16.0 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x3xf32>, tensor<?x3xi32>
  %e = ds.get_weight @experts : !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>
  // CHECK: ds.moe_experts %{{.*}}, %[[W]], %[[I]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>, !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>, !ds.fp8_block<8x32x16, block = 128x128, scales = ue8m0> -> tensor<?x32xbf16>
  %y = ds.moe_experts %x, %w, %i, %e, %e, %down : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x2xi32>,
      !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>, !ds.fp8_block<8x16x32, block = 128x128, scales = ue8m0>,
      !ds.fp8_block<8x32x16, block = 128x128, scales = ue8m0> -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// CHECK-LABEL: func.func @router
func.func @router(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  // CHECK: %[[L:.*]] = ds.router_logits %{{.*}}, %{{.*}} : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x8xf32>
  %l = ds.router_logits %x, %r : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x8xf32>
  // CHECK: ds.moe_select %[[L]] {{{.*}}topk_method = #ds.topk_method<greedy>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w, %i = ds.moe_select %l {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 2 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// The position-split latent attention: per-share states, then their merge.
// CHECK-LABEL: func.func @split_attention
func.func @split_attention(%ql: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                           %cache: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) -> tensor<?x4x16xbf16> {
  // CHECK: %[[O:[a-z]+]], %[[LSE:[a-z]+]] = ds.mla_latent_attention_partial %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} layer 1 {ds.config = #ds.kernel_config<strategy = position_split, splits = 3>, num_heads = 4 : i64, softmax_scale = 2.000000e-01 : f64} : tensor<?x4x24xbf16>, tensor<?xi32>, <layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x3x4x16xf32>, tensor<?x3x4xf32>
  %o, %lse = ds.mla_latent_attention_partial %ql, %pos, %slots, %cache layer 1
      {num_heads = 4 : i64, softmax_scale = 0.2 : f64, ds.config = #ds.kernel_config<strategy = position_split, splits = 3>}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
      -> tensor<?x3x4x16xf32>, tensor<?x3x4xf32>
  // CHECK: ds.mla_attention_combine %[[O]], %[[LSE]] : tensor<?x3x4x16xf32>, tensor<?x3x4xf32> -> tensor<?x4x16xbf16>
  %ol = ds.mla_attention_combine %o, %lse : tensor<?x3x4x16xf32>, tensor<?x3x4xf32> -> tensor<?x4x16xbf16>
  return %ol : tensor<?x4x16xbf16>
}

// The absorbed attention's three kernel-level parts.
// CHECK-LABEL: func.func @absorbed_attention
func.func @absorbed_attention(%q: tensor<?x96xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                              %cache: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
                              %kvb: tensor<128x16xbf16>) -> tensor<?x64xbf16> {
  // CHECK: %[[QL:.*]] = ds.mla_absorb_query %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, rope = {{.*}}, v_head_dim = 16 : i64} : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x16xbf16> -> tensor<?x4x24xbf16>
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x16xbf16> -> tensor<?x4x24xbf16>
  // CHECK: %[[OL:.*]] = ds.mla_latent_attention %[[QL]], %{{.*}}, %{{.*}}, %{{.*}} layer 1 {num_heads = 4 : i64, softmax_scale = 2.000000e-01 : f64} : tensor<?x4x24xbf16>, tensor<?xi32>, <layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  %ol = ds.mla_latent_attention %ql, %pos, %slots, %cache layer 1 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  // CHECK: ds.mla_absorb_value %[[OL]], %{{.*}} {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64} : tensor<?x4x16xbf16>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  %a = ds.mla_absorb_value %ol, %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x4x16xbf16>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  return %a : tensor<?x64xbf16>
}

// A kernel's cost: omitted coefficients are 0 and not printed; integral
// ones print as integers, others as floats; any order parses.
// CHECK-LABEL: func.func @kernel_cost
// CHECK-SAME: cost = #ds.kernel_cost<bytes_fixed = 2048, bytes_per_row = 1.500000e+00, bytes_per_expert = 4096, experts = 8, experts_per_row = 2, flops_per_context = 3000000000, fp8 = true>
func.func @kernel_cost() attributes {cost = #ds.kernel_cost<fp8 = true, bytes_fixed = 2048.0, bytes_per_row = 1.5, bytes_per_expert = 4096, experts = 8, experts_per_row = 2, flops_per_row = 0, flops_per_context = 3000000000>} {
  return
}
// CHECK-LABEL: func.func @kernel_cost_none
// CHECK-SAME: cost = #ds.kernel_cost<>
func.func @kernel_cost_none() attributes {cost = #ds.kernel_cost<>} {
  return
}

// The ops of a partitioned program (ds-partition).
// CHECK-LABEL: func.func @partitioned
func.func @partitioned(%x: tensor<?x32xbf16>, %i: tensor<?x2xi32>) -> (tensor<?x32xbf16>, tensor<?x2xi32>) {
  // CHECK: %[[R:.*]] = ds.rank : tensor<1xi32>
  %r = ds.rank : tensor<1xi32>
  // CHECK: ds.moe_local_choices %{{.*}}, %[[R]] {ranks = 2 : i64} : tensor<?x2xi32>, tensor<1xi32>
  %l = ds.moe_local_choices %i, %r {ranks = 2 : i64} : tensor<?x2xi32>, tensor<1xi32>
  // CHECK: ds.all_reduce %{{.*}} {ranks = 2 : i64} : tensor<?x32xbf16>
  %y = ds.all_reduce %x {ranks = 2 : i64} : tensor<?x32xbf16>
  // CHECK: ds.all_gather %{{.*}} {ranks = 2 : i64} : tensor<?x32xbf16> -> tensor<?x64xbf16>
  %z = ds.all_gather %x {ranks = 2 : i64} : tensor<?x32xbf16> -> tensor<?x64xbf16>
  return %y, %l : tensor<?x32xbf16>, tensor<?x2xi32>
}
