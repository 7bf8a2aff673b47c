// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" | FileCheck %s
// RUN: not dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" 2>&1 | FileCheck %s --check-prefix=UNGENERATED

// ds-schedule: one kernel per distinct signature, launches with their
// pointer arguments, the cache addressed per layer.

ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
ds.weight @w0 = "model.layers.0.w.weight" : tensor<32x32xbf16>
ds.weight @w1 = "model.layers.1.w.weight" scale "model.layers.1.w.weight_scale_inv" : !ds.fp8_block<32x32, block = 128x128, scales = f32>
ds.weight @w2 = "model.layers.2.w.weight" : tensor<32x32xbf16>
ds.weight @wkv = "model.layers.1.kv.weight" : tensor<24x32xbf16>
ds.weight @norm = "model.layers.1.kv_a_layernorm.weight" : tensor<16xbf16>
ds.weight @head = "lm_head.weight" : tensor<64x32xbf16>

// ds-schedule generates nothing: it launches what ds-generate-kernels named.
// UNGENERATED: error: 'ds.embed' op names no kernel (run ds-generate-kernels)

// Two bf16 linears of one shape share a kernel; the fp8 one has its own.
// Kernels are named after their op, strategy and weight (or input) shape.
// CHECK: ds.kernel @[[$EMBED:dsc_embed_generic_64x32]] parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [2, 0, 32] cost = <bytes_per_row = 132> "ds.embed
// CHECK-NEXT: ds.kernel @[[$LINEAR:dsc_linear_generic_32x32]] parallel = <static> extent = 32 rows = <tokens> config = <strategy = generic> outputs = [2, 0, 32] cost = <bytes_fixed = 2048, bytes_per_row = 128, flops_per_row = 2048> "ds.linear tensor<?x32xbf16> tensor<32x32xbf16>"
// CHECK-NEXT: ds.kernel @[[$FP8:dsc_linear_generic_32x32_fp8]] parallel = <static> extent = 32 {{.*}} "ds.linear tensor<?x32xbf16> !ds.fp8_block<32x32, block = 128x128, scales = f32>"
// CHECK-NEXT: ds.kernel @[[$KV:dsc_linear_generic_24x32]] parallel = <static> extent = 24 {{.*}} "ds.linear
// CHECK-NEXT: ds.kernel @[[$CACHE:dsc_mla_cache_write_generic_24]] parallel = <tokens> extent = 0 {{.*}} outputs = [] writes_cache cost = {{.*}} "ds.mla_cache_write
// The head and the sampler count the chunk's output rows, not its tokens.
// CHECK-NEXT: ds.kernel @[[$HEAD:dsc_lm_head_generic_64x32]] parallel = <static> extent = 64 rows = <outputs> {{.*}} outputs = [3, 1, 64] cost = <bytes_fixed = 4096, bytes_per_row = 324, flops_per_row = 4096> "ds.lm_head
// CHECK-NEXT: ds.kernel @[[$SAMPLE:dsc_sample_generic_64]] parallel = <tokens> extent = 0 rows = <outputs> {{.*}} "ds.sample tensor<?x64xf32> tensor<?x8xi32>"
// CHECK-NOT: ds.kernel @

// CHECK-LABEL: func.func @prefill()
// CHECK-SAME: ds.logits = #ds.arg<arena, [[LOGITS:[0-9]+]]>
// CHECK-SAME: ds.sampled = #ds.arg<arena, [[NEXT:[0-9]+]]>
// CHECK-NEXT: ds.launch @[[$EMBED]] [#ds.arg<tokens, 0>, #ds.arg<weight, 0>, #ds.arg<arena, [[H:[0-9]+]]>]
// CHECK-NEXT: ds.launch @[[$LINEAR]] [#ds.arg<arena, [[H]]>, #ds.arg<weight, 1>, #ds.arg<arena, [[A:[0-9]+]]>]
// CHECK-NEXT: ds.launch @[[$FP8]] [#ds.arg<arena, [[A]]>, #ds.arg<weight, 2>, #ds.arg<weight_scales, 2>, #ds.arg<arena, [[B:[0-9]+]]>]
// CHECK-NEXT: ds.launch @[[$LINEAR]] [#ds.arg<arena, [[B]]>, #ds.arg<weight, 3>, #ds.arg<arena, [[D:[0-9]+]]>]
// CHECK-NEXT: ds.launch @[[$KV]] [#ds.arg<arena, [[D]]>, #ds.arg<weight, 4>, #ds.arg<arena, [[K:[0-9]+]]>]
// Pages hold 8 positions (max-seq-len 8) of both layers, [layer][8][16 + 8]
// bf16: layer 1 starts 384 bytes into a page; the page table comes last.
// CHECK-NEXT: ds.launch @[[$CACHE]] [#ds.arg<arena, [[K]]>, #ds.arg<weight, 5>, #ds.arg<positions, 0>, #ds.arg<slots, 0>, #ds.arg<cache, 384>, #ds.arg<page_table, 0>]
// CHECK-NEXT: ds.launch @[[$HEAD]] [#ds.arg<arena, [[D]]>, #ds.arg<weight, 6>, #ds.arg<rows, 0>, #ds.arg<arena, [[LOGITS]]>]
// CHECK-NEXT: ds.launch @[[$SAMPLE]] [#ds.arg<arena, [[LOGITS]]>, #ds.arg<sampling, 0>, #ds.arg<arena, [[NEXT]]>, #ds.arg<arena, {{[0-9]+}}>]
// CHECK-NEXT: return

// CHECK: module @kernels attributes {ds.kernels = "cpu"}
// CHECK: func.func @dsc_embed_generic_64x32(%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)

func.func @prefill(%t: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                   %rows: tensor<?xi32>, %params: tensor<?x8xi32>,
                   %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>)
    -> (tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>)
    attributes {ds.entry = "prefill"} {
  %table = ds.get_weight @table : tensor<64x32xbf16>
  %w0 = ds.get_weight @w0 : tensor<32x32xbf16>
  %w1 = ds.get_weight @w1 : !ds.fp8_block<32x32, block = 128x128, scales = f32>
  %w2 = ds.get_weight @w2 : tensor<32x32xbf16>
  %wkv = ds.get_weight @wkv : tensor<24x32xbf16>
  %n = ds.get_weight @norm : tensor<16xbf16>
  %head = ds.get_weight @head : tensor<64x32xbf16>
  %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %a = ds.linear %h, %w0 : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  %b = ds.linear %a, %w1 : tensor<?x32xbf16>, !ds.fp8_block<32x32, block = 128x128, scales = f32> -> tensor<?x32xbf16>
  %d = ds.linear %b, %w2 : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  %kv = ds.linear %d, %wkv : tensor<?x32xbf16>, tensor<24x32xbf16> -> tensor<?x24xbf16>
  %c1 = ds.mla_cache_write %kv, %n, %pos, %slots, %c layer 1
      {eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x24xbf16>, tensor<16xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
  %logits = ds.lm_head %d, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %logits, %next, %c1 : tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>
}

