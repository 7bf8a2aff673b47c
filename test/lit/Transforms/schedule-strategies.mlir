// RUN: not dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" 2>&1 | FileCheck %s --check-prefix=HOST
// RUN: sed -e 's/ds.target = "cpu"/ds.target = "cuda:sm_90a\/h200"/' %s | not dsc-opt --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" 2>&1 | FileCheck %s --check-prefix=CUDA

// ds-schedule generates what ds.config says, and refuses what no kernel
// file implements: a CUDA strategy for host kernels, or a strategy an op's
// family does not have (ds.embed has no block-cooperative one).

// HOST: error: 'ds.embed' op is configured for a CUDA strategy ('block') but the kernels are for the host (run ds-configure-kernels with a cuda target)
// CUDA: error: 'ds.embed' op has no 'block' kernel strategy

module attributes {ds.target = "cpu", ds.model = {family = "deepseek_v3", vocab_size = 64 : i64, hidden_size = 32 : i64, num_layers = 1 : i64, max_position_embeddings = 8 : i64, bos_token_id = 0 : i64, eos_token_id = 1 : i64}} {
  ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
  ds.weight @head = "lm_head.weight" : tensor<64x32xbf16>
  func.func @prefill(%t: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                     %rows: tensor<?xi32>, %params: tensor<?x8xi32>,
                     %c: !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
      -> (tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>)
      attributes {ds.entry = "prefill"} {
    %table = ds.get_weight @table : tensor<64x32xbf16>
    %head = ds.get_weight @head : tensor<64x32xbf16>
    %h = ds.embed %t, %table {ds.config = #ds.kernel_config<strategy = block, block = 256>} : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
    %logits = ds.lm_head %h, %head rows(%rows : tensor<?xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
    %next, %next_w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
    return %logits, %next, %c : tensor<?x64xf32>, tensor<?xi32>, !ds.latent_cache<layers = 1, latent = 16, rope = 8, bf16>
  }
}
