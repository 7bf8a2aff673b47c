// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_90a row-group=4" --ds-generate-kernels="max-seq-len=8 max-batch=2" | FileCheck %s
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_90a row-group=4" --ds-generate-kernels="max-seq-len=8 max-batch=2 host-twins=true" | FileCheck %s --check-prefix=TWINS
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_90a row-group=1" --ds-generate-kernels="max-seq-len=8 max-batch=2" | FileCheck %s --check-prefix=ONE
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_90a row-group=4" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" --ds-serialize="output=%t.dscp" -o /dev/null
// RUN: dsc inspect-program %t.dscp | FileCheck %s --check-prefix=PROGRAM
// RUN: dsc inspect-program %t.dscp --json | FileCheck %s --check-prefix=JSON

// ds.variants: the lm_head's rows grouped by 4, with a one-row variant.
// ds-generate-kernels generates the op again with the variant's config (the
// kernel a warp-per-row configuration would have, declared first), and names
// it on the op's kernel; the ops launch the grouped kernel, and a launch of
// one row runs the variant (the runtime's choice, from the program).
// CHECK: ds.kernel @dsc_embed_warp_64x32
// CHECK: ds.kernel @dsc_lm_head_warp_64x32 {{.*}}config = <strategy = warp> outputs
// CHECK: ds.kernel @dsc_lm_head_warp_g4_64x32 {{.*}}config = <strategy = warp, row_group = 4> variants([1], [@dsc_lm_head_warp_64x32]) outputs
// CHECK-NOT: ds.kernel @dsc_lm_head
// CHECK: ds.lm_head {{.*}}ds.kernel_ref = @dsc_lm_head_warp_g4_64x32
// CHECK: ds.lm_head {{.*}}ds.kernel_ref = @dsc_lm_head_warp_g4_64x32

// The host twins keep the kernels' indices: the variant has its own.
// TWINS: ds.host_twins = [array<i64: 0, 0>, array<i64: 1, 64>, array<i64: 1, 64>, array<i64: 0, 0>]
// TWINS: ds.kernel @dsc_embed_warp_64x32
// TWINS-NEXT: ds.kernel @dsc_lm_head_warp_64x32
// TWINS-NEXT: ds.kernel @dsc_lm_head_warp_g4_64x32 {{.*}}variants([1], [@dsc_lm_head_warp_64x32])

// A warp per row needs no variant.
// ONE-NOT: variants
// ONE: ds.kernel @dsc_lm_head_warp_64x32
// ONE-NOT: variants

// PROGRAM: kernels (4)
// PROGRAM: # name {{.*}} outputs variants host twin
// PROGRAM: 1 dsc_lm_head_warp_64x32 {{.*}} arg3:f32[64] - -
// PROGRAM: 2 dsc_lm_head_warp_g4_64x32 {{.*}} arg3:f32[64] <=1: #1 -
// JSON: "name": "dsc_lm_head_warp_g4_64x32",
// JSON: "variants": [
// JSON-NEXT: {
// JSON-NEXT: "kernel": 1,
// JSON-NEXT: "rows": 1

module attributes {ds.model = {family = "deepseek_v3", vocab_size = 64 : i64, hidden_size = 32 : i64, num_layers = 1 : i64, max_position_embeddings = 8 : i64, bos_token_id = 0 : i64, eos_token_id = 1 : i64}} {
  ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
  ds.weight @head = "lm_head.weight" : tensor<64x32xbf16>
  func.func @prefill(%t: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                     %rows: tensor<?xi32>, %params: tensor<?x8xi32>,
                     %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
      -> (tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
      attributes {ds.entry = "prefill"} {
    %table = ds.get_weight @table : tensor<64x32xbf16>
    %head = ds.get_weight @head : tensor<64x32xbf16>
    %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
    %logits = ds.lm_head %h, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
    %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
    return %logits, %next, %c : tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>
  }
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
}
