// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2 concurrent=true" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2 streams=2" | FileCheck %s
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" | FileCheck %s --check-prefix=ONE
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2 streams=2" | FileCheck %s --check-prefix=LINEAR
// RUN: not dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2 streams=9" 2>&1 | FileCheck %s --check-prefix=RANGE

// ds-schedule with streams: the latent projection and its cache write
// depend only on the norm, so they run on stream 1 beside the query's
// products on stream 0. A wait names a launch by its index in the list,
// counting from 0.

ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
ds.weight @norm = "model.layers.0.input_layernorm.weight" : tensor<32xbf16>
ds.weight @wq = "model.layers.0.self_attn.q_proj.weight" : tensor<32x32xbf16>
ds.weight @wkv = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight" : tensor<24x32xbf16>
ds.weight @kvnorm = "model.layers.0.self_attn.kv_a_layernorm.weight" : tensor<16xbf16>
ds.weight @wo = "model.layers.0.self_attn.o_proj.weight" : tensor<32x32xbf16>
ds.weight @head = "lm_head.weight" : tensor<64x32xbf16>

// CHECK-LABEL: func.func @prefill()
// CHECK-NEXT: ds.launch @dsc_embed_{{[a-z_0-9]+}} [{{.*}}]{{$}}
// CHECK-NEXT: ds.launch @dsc_rms_norm_{{[a-z_0-9]+}} [{{.*}}]{{$}}
// CHECK-NEXT: ds.launch @dsc_linear_generic_32x32 [{{.*}}]{{$}}
// The latent projection follows the norm (launch 1), on a stream of its own.
// CHECK-NEXT: ds.launch @dsc_linear_generic_24x32 [{{.*}}] stream 1 waits [1]{{$}}
// Its cache write follows it on stream 1 and needs no wait.
// CHECK-NEXT: ds.launch @dsc_mla_cache_write_{{[a-z_0-9]+}} [{{.*}}] stream 1{{$}}
// The output projection follows the query's (launch 2) on stream 0: its
// buffer may not reuse the latent's, which the cache write may still read.
// CHECK-NEXT: ds.launch @dsc_linear_generic_32x32 [#ds.arg<arena, [[Q:[0-9]+]]>, #ds.arg<weight, 5>, #ds.arg<arena, [[O:[0-9]+]]>]{{$}}
// CHECK-NEXT: ds.launch @dsc_lm_head_{{[a-z_0-9]+}} [#ds.arg<arena, [[O]]>, {{.*}}]{{$}}
// CHECK-NEXT: ds.launch @dsc_sample_{{[a-z_0-9]+}} [{{.*}}]{{$}}
// CHECK-NEXT: return

// One stream (the default, and the cpu target's): no stream, no waits.
// ONE-LABEL: func.func @prefill()
// ONE-NOT: stream
// ONE-NOT: waits
// ONE: return

// A plan made for one ordered list reuses bytes across the two branches;
// the schedule still holds: the output projection writes where the norm's
// result was, so it waits for the latent projection (launch 3) that reads
// it, and the head writes where the latent was, so it waits for the cache
// write (launch 4).
// LINEAR-LABEL: func.func @prefill()
// LINEAR: ds.launch @dsc_linear_generic_24x32 [{{.*}}] stream 1 waits [1]{{$}}
// LINEAR-NEXT: ds.launch @dsc_mla_cache_write_{{[a-z_0-9]+}} [{{.*}}] stream 1{{$}}
// LINEAR-NEXT: ds.launch @dsc_linear_generic_32x32 [{{.*}}] waits [3]{{$}}
// LINEAR-NEXT: ds.launch @dsc_lm_head_{{[a-z_0-9]+}} [{{.*}}] waits [4]{{$}}

// RANGE: error: ds-schedule: max-seq-len and max-batch must be positive and streams between 1 and 8

func.func @prefill(%t: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                   %rows: tensor<?xi32>, %params: tensor<?x8xi32>,
                   %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
    -> (tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
    attributes {ds.entry = "prefill"} {
  %table = ds.get_weight @table : tensor<64x32xbf16>
  %n = ds.get_weight @norm : tensor<32xbf16>
  %wq = ds.get_weight @wq : tensor<32x32xbf16>
  %wkv = ds.get_weight @wkv : tensor<24x32xbf16>
  %kvn = ds.get_weight @kvnorm : tensor<16xbf16>
  %wo = ds.get_weight @wo : tensor<32x32xbf16>
  %head = ds.get_weight @head : tensor<64x32xbf16>
  %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %x = ds.rms_norm %h, %n {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  %q = ds.linear %x, %wq : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  %kv = ds.linear %x, %wkv : tensor<?x32xbf16>, tensor<24x32xbf16> -> tensor<?x24xbf16>
  %c1 = ds.mla_cache_write %kv, %kvn, %pos, %slots, %c layer 0
      {eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x24xbf16>, tensor<16xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>
  %o = ds.linear %q, %wo : tensor<?x32xbf16>, tensor<32x32xbf16> -> tensor<?x32xbf16>
  %logits = ds.lm_head %o, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %logits, %next, %c1 : tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>
}

// The decode entry (here a copy of prefill's kernels) is scheduled alike.
func.func @decode(%t: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                  %rows: tensor<?xi32>, %params: tensor<?x8xi32>,
                  %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
    -> (tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
    attributes {ds.entry = "decode"} {
  %table = ds.get_weight @table : tensor<64x32xbf16>
  %head = ds.get_weight @head : tensor<64x32xbf16>
  %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %logits = ds.lm_head %h, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %logits, %next, %c : tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>
}
