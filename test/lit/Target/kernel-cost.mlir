// RUN: dsc-opt %s --ds-generate-kernels="max-seq-len=8 max-batch=2" | FileCheck %s
// RUN: dsc-opt %s --ds-generate-kernels="max-seq-len=8 max-batch=2" | FileCheck %s --check-prefix=ALL

// ds-generate-kernels gives every kernel its op family's cost model
// (#ds.kernel_cost): with R rows, C attended positions and
// X = min(experts, R * experts_per_row),
//   bytes = bytes_fixed + bytes_per_row R + bytes_per_context C
//           + bytes_per_expert X
//   flops = flops_per_row R + flops_per_context C.
// The figures below are derived by hand from the shapes: hidden 64, 2 heads
// of qk_nope 16, rope 8 and v 16, a latent of 32, 4 experts of width 32 with
// 2 per token.

// RMSNorm: its 64 bf16 weights once; a row read and written (2 x 128
// bytes); 4 FLOPs per element.
// CHECK: ds.kernel @dsc_rms_norm_generic_64 {{.*}} cost = <bytes_fixed = 128, bytes_per_row = 256, flops_per_row = 256> "ds.rms_norm

// bf16 linear [96, 64]: the weight once (96 x 64 x 2); a row of 64 in and 96
// out (128 + 192 bytes); 2 x 96 x 64 FLOPs per row.
// CHECK: ds.kernel @dsc_linear_generic_96x64 {{.*}} cost = <bytes_fixed = 12288, bytes_per_row = 320, flops_per_row = 12288> "ds.linear

// fp8 linear [48, 64]: a byte per weight and one f32 scale (3072 + 4); 128
// bytes in, 96 out; the fp8 ceiling applies.
// CHECK: ds.kernel @dsc_linear_generic_48x64_fp8 {{.*}} cost = <bytes_fixed = 3076, bytes_per_row = 224, flops_per_row = 6144, fp8 = true> "ds.linear

// Cache write: the 32 norm weights; the kv row (40 bf16), position and slot
// in, the cache row (40 bf16) out; norm 4 x 32 and rope 3 x 8 FLOPs.
// CHECK: ds.kernel @dsc_mla_cache_write_generic_40 {{.*}} writes_cache cost = <bytes_fixed = 64, bytes_per_row = 168, flops_per_row = 152> "ds.mla_cache_write

// Naive attention (the host prefill): kv_b [64, 32] bf16 once (4096); q (48
// bf16), position, slot in, 32 bf16 out; each attended position reads its
// cache row (40 bf16) and per head expands keys and values from it
// (2 (16 + 16) 32), scores (2 (16 + 8)) and sums (2 x 16): 2 x 2128 FLOPs;
// the queries' rope 3 x 2 x 8 per row.
// CHECK: ds.kernel @dsc_mla_attention_generic_64x32 {{.*}} cost = <bytes_fixed = 4096, bytes_per_row = 168, bytes_per_context = 80, flops_per_row = 48, flops_per_context = 4256> "ds.mla_attention

// Absorbed attention: the query kernel reads the W_UK half of kv_b (2048),
// q (96 bytes), the position, and writes [2, 40] bf16 (160): 2 x 2 x 16 x 32
// FLOPs plus the rope's 3 x 2 x 8.
// CHECK: ds.kernel @dsc_mla_absorb_query_generic_64x32 {{.*}} cost = <bytes_fixed = 2048, bytes_per_row = 260, flops_per_row = 2096> "ds.mla_absorb_query
// The attention reads each attended position's cache row once (80 bytes):
// scores 2 x 2 x (32 + 8), values 2 x 2 x 32 FLOPs per position; per row
// the [2, 40] query, position and slot in, [2, 32] out.
// CHECK: ds.kernel @dsc_mla_latent_attention_generic_2x40 {{.*}} cost = <bytes_per_row = 296, bytes_per_context = 80, flops_per_context = 288> "ds.mla_latent_attention
// The value kernel: the W_UV half of kv_b; [2, 32] in, 32 out; 2 x 2 x 16 x 32.
// CHECK: ds.kernel @dsc_mla_absorb_value_generic_64x32 {{.*}} cost = <bytes_fixed = 2048, bytes_per_row = 192, flops_per_row = 2048> "ds.mla_absorb_value

// Routed experts, up: per expert its fp8 gate and up matrices with their
// scales (2 x (32 x 64 + 4)); per row the input (128), 2 i32 choices and
// [2, 32] bf16 out; 2 k (2 x 32 x 64) FLOPs.
// CHECK: ds.kernel @dsc_moe_expert_up_generic_4x32x64_fp8 {{.*}} cost = <bytes_per_row = 264, bytes_per_expert = 4104, experts = 4, experts_per_row = 2, flops_per_row = 16384, fp8 = true> "ds.moe_expert_up
// Down (bf16): per expert 64 x 32 x 2 bytes; per row [2, 32] in, 2 f32
// weights, 2 i32 choices, 64 out; 2 k (64 x 32) FLOPs.
// CHECK: ds.kernel @dsc_moe_expert_down_generic_4x64x32 {{.*}} cost = <bytes_per_row = 272, bytes_per_expert = 4096, experts = 4, experts_per_row = 2, flops_per_row = 8192> "ds.moe_expert_down

// Every kernel has one (a kernel without one prints its outputs or
// writes_cache right before its summary).
// ALL-NOT: outputs = [{{[-0-9, ]*}}] {{(writes_cache )?}}"ds.
// ALL: module @kernels attributes

#rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>
!cache = !ds.latent_cache<layers = 1, latent = 32, rope = 8, bf16>
!up = !ds.fp8_block<4x32x64, block = 128x128, scales = f32>

ds.weight @norm = "norm.weight" : tensor<64xbf16>
ds.weight @wq = "q.weight" : tensor<96x64xbf16>
ds.weight @wq8 = "q8.weight" scale "q8.weight_scale_inv" : !ds.fp8_block<48x64, block = 128x128, scales = f32>
ds.weight @wkv = "kv.weight" : tensor<40x64xbf16>
ds.weight @kvnorm = "kv_norm.weight" : tensor<32xbf16>
ds.weight @kvb = "kv_b.weight" : tensor<64x32xbf16>
ds.weight @gate = "gate.weight" scale "gate.weight_scale_inv" : !up
ds.weight @up = "up.weight" scale "up.weight_scale_inv" : !up
ds.weight @down = "down.weight" : tensor<4x64x32xbf16>

func.func @decode(%x: tensor<?x64xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                  %idx: tensor<?x2xi32>, %wts: tensor<?x2xf32>, %c: !cache)
    -> (tensor<?x96xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>, tensor<?x64xbf16>, !cache)
    attributes {ds.entry = "decode"} {
  %norm = ds.get_weight @norm : tensor<64xbf16>
  %wq = ds.get_weight @wq : tensor<96x64xbf16>
  %wq8 = ds.get_weight @wq8 : !ds.fp8_block<48x64, block = 128x128, scales = f32>
  %wkv = ds.get_weight @wkv : tensor<40x64xbf16>
  %kvnorm = ds.get_weight @kvnorm : tensor<32xbf16>
  %kvb = ds.get_weight @kvb : tensor<64x32xbf16>
  %gate = ds.get_weight @gate : !up
  %up = ds.get_weight @up : !up
  %down = ds.get_weight @down : tensor<4x64x32xbf16>
  %n = ds.rms_norm %x, %norm {eps = 1.0e-6 : f64} : tensor<?x64xbf16>, tensor<64xbf16>
  %y = ds.linear %n, %wq : tensor<?x64xbf16>, tensor<96x64xbf16> -> tensor<?x96xbf16>
  %q = ds.linear %n, %wq8 : tensor<?x64xbf16>, !ds.fp8_block<48x64, block = 128x128, scales = f32> -> tensor<?x48xbf16>
  %kv = ds.linear %n, %wkv : tensor<?x64xbf16>, tensor<40x64xbf16> -> tensor<?x40xbf16>
  %c1 = ds.mla_cache_write %kv, %kvnorm, %pos, %slots, %c layer 0
      {eps = 1.0e-6 : f64, rope = #rope}
      : tensor<?x40xbf16>, tensor<32xbf16>, tensor<?xi32>, !cache
  %a = ds.mla_attention %q, %pos, %slots, %c1, %kvb layer 0
      {num_heads = 2 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, softmax_scale = 0.2 : f64, rope = #rope}
      : tensor<?x48xbf16>, tensor<?xi32>, !cache, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 2 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, rope = #rope}
      : tensor<?x48xbf16>, tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x2x40xbf16>
  %ol = ds.mla_latent_attention %ql, %pos, %slots, %c1 layer 0
      {num_heads = 2 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x2x40xbf16>, tensor<?xi32>, !cache -> tensor<?x2x32xbf16>
  %b = ds.mla_absorb_value %ol, %kvb {num_heads = 2 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x2x32xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %h = ds.moe_expert_up %x, %idx, %gate, %up : tensor<?x64xbf16>, tensor<?x2xi32>, !up, !up -> tensor<?x2x32xbf16>
  %m = ds.moe_expert_down %h, %wts, %idx, %down : tensor<?x2x32xbf16>, tensor<?x2xf32>,
      tensor<?x2xi32>, tensor<4x64x32xbf16> -> tensor<?x64xbf16>
  return %y, %a, %b, %m, %c1 : tensor<?x96xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>, tensor<?x64xbf16>, !cache
}
