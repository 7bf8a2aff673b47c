// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" --ds-serialize="output=%t.dscp" | FileCheck %s
// RUN: dsc inspect-program %t.dscp | FileCheck %s --check-prefix=PROGRAM
// RUN: not dsc-opt %s --ds-serialize="output=%t.x" 2>&1 | FileCheck %s --check-prefix=UNSCHEDULED
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" --ds-emit-host-object="output=%t.o" -o /dev/null
// RUN: dsc inspect-program %t.o | FileCheck %s --check-prefix=OBJECT
// RUN: not dsc-opt %s --ds-emit-host-object="output=%t.y" 2>&1 | FileCheck %s --check-prefix=NOKERNELS
// Kernels configured for a CUDA target: the program carries the ceilings of
// the device profile they were configured for, --gpu's or the chip's default.
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_90a gpu=h100" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" --ds-serialize="output=%t.h100.dscp" -o /dev/null
// RUN: dsc inspect-program %t.h100.dscp | FileCheck %s --check-prefix=H100
// RUN: dsc inspect-program %t.h100.dscp --json | FileCheck %s --check-prefix=H100-JSON
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=4 max-batch=2" --ds-configure-kernels="target=cuda:sm_80" --ds-generate-kernels="max-seq-len=8 max-batch=2" --ds-schedule="max-seq-len=8 max-batch=2" --ds-serialize="output=%t.sm80.dscp" -o /dev/null
// RUN: dsc inspect-program %t.sm80.dscp | FileCheck %s --check-prefix=SM80

// ds-emit-host-object: the object `dsc compile` links, with the compiled
// host kernels and the program behind dsc_program_data.
// OBJECT: program {{.*}}.o (symbol dsc_program_data at file offset {{[0-9]+}}, {{[0-9]+}} bytes)
// OBJECT: target       cpu
// OBJECT: dsc_embed_generic_64x32
// NOKERNELS: error: ds-emit-host-object: no host kernels (a host-target module after ds-generate-kernels and ds-schedule)

// H100: device h100: 3.35e+12 bytes/s, bf16 9.89e+14 FLOP/s, fp8 1.979e+15 FLOP/s, L2 52428800 bytes
// H100: 1 dsc_lm_head_warp_64x32 4420 4096 -
// H100-JSON: "device": {
// H100-JSON-NEXT: "bf16_flops_per_second": 989000000000000,
// H100-JSON-NEXT: "fp8_flops_per_second": 1979000000000000,
// H100-JSON-NEXT: "l2_bytes": 52428800,
// H100-JSON-NEXT: "memory_bytes_per_second": 3350000000000,
// H100-JSON-NEXT: "name": "h100"
// H100-JSON-NEXT: },
// An A100 has no fp8 tensor cores: its fp8 ceiling is 0.
// SM80: device a100: 2.04e+12 bytes/s, bf16 3.12e+14 FLOP/s, fp8 0 FLOP/s, L2 41943040 bytes

// ds-serialize writes the FlatBuffer program and leaves the module as it was.
// CHECK: ds.kernel @dsc_embed_generic_64x32 parallel = <tokens> extent = 0 {{.*}} "ds.embed
// UNSCHEDULED: error: ds-serialize: the module is not scheduled (no ds.model, ds.cache or ds.arena_bytes)

// The program, read back and verified as the runtime does: the model and
// cache from the module's attributes, the weight manifest, one kernel per
// op signature with what it writes, and each entry point's launches with
// their arena offsets (prefill's 4 tokens, decode's 2 sequences). The module
// has both entry points: the runtime, and so inspect-program, rejects a
// program without either.
// PROGRAM: program {{.*}}.dscp (the whole file, {{[0-9]+}} bytes)
// PROGRAM-NEXT: target cpu
// PROGRAM-NEXT: schema 6
// PROGRAM-NEXT: dsc version -
// PROGRAM-NEXT: model deepseek_v3: 1 layers, hidden 32, vocab 64, max positions 8, bos 0, eos 1
// PROGRAM: cache 1 layers x 2 slots x 8 positions x (16 latent + 8 rope) bf16 in pages of 8 positions, 768 bytes
// PROGRAM-NEXT: arena {{[0-9]+}} bytes
// PROGRAM-NEXT: gpu image none
// PROGRAM-NEXT: device none
// PROGRAM-LABEL: weights (2)
// PROGRAM-NEXT: # symbol tensor dtype shape experts scales
// PROGRAM-NEXT: 0 table model.embed_tokens.weight bf16 64x32 - -
// PROGRAM-NEXT: 1 head lm_head.weight bf16 64x32 - -
// PROGRAM-LABEL: kernels (3)
// PROGRAM-NEXT: # name parallel extent rows block grid smem cache outputs variants host twin summary
// PROGRAM-NEXT: 0 dsc_embed_generic_64x32 tokens 0 tokens 128 per-index 0 - arg2:bf16[32] - - ds.embed tensor<?xi32> tensor<64x32xbf16>
// PROGRAM-NEXT: 1 dsc_lm_head_generic_64x32 static 64 outputs 128 per-index 0 - arg3:f32[64] - - ds.lm_head tensor<?x32xbf16> tensor<64x32xbf16> tensor<?xi32>
// PROGRAM-NEXT: 2 dsc_sample_generic_64 tokens 0 outputs 128 per-index 0 - arg2:i32[1], arg3:f32[64] - - ds.sample tensor<?x64xf32> tensor<?x8xi32>
// Each kernel's cost at one row: the embedding's id, table row and result
// row (4 + 64 + 64 bytes); lm_head's 64x32 bf16 weight, the row index, its
// input row and f32 logits (4096 + 4 + 64 + 256 bytes, 2 x 64 x 32 FLOPs);
// the sampler's f32 logits, 32 bytes of parameters and the token.
// PROGRAM-LABEL: kernel costs (one launch, R = 1 row, C = 1 position; program.fbs KernelCost)
// PROGRAM-NEXT: # name bytes flops fp8
// PROGRAM-NEXT: 0 dsc_embed_generic_64x32 132 0 -
// PROGRAM-NEXT: 1 dsc_lm_head_generic_64x32 4420 4096 -
// PROGRAM-NEXT: 2 dsc_sample_generic_64 292 64 -
// PROGRAM-LABEL: entry prefill:
// PROGRAM-SAME: max_tokens 4, logits arena+[[LOGITS:[0-9]+]], sampled arena+[[SAMPLED:[0-9]+]], 3 launches
// PROGRAM-NEXT: # launch
// PROGRAM-NEXT: 0 dsc_embed_generic_64x32(tokens, weight[0], arena+[[H:[0-9]+]])
// PROGRAM-NEXT: 1 dsc_lm_head_generic_64x32(arena+[[H]], weight[1], rows, arena+[[LOGITS]])
// PROGRAM-NEXT: 2 dsc_sample_generic_64(arena+[[LOGITS]], sampling, arena+[[SAMPLED]], arena+{{[0-9]+}})
// PROGRAM-DAG: arena+[[H]] bf16 32 256 dsc_embed_generic_64x32 [0]
// PROGRAM-DAG: arena+[[LOGITS]] (logits) f32 64 1024 dsc_lm_head_generic_64x32 [1]
// PROGRAM-DAG: arena+[[SAMPLED]] (sampled) i32 1 16 dsc_sample_generic_64 [2]
// PROGRAM-LABEL: entry decode:
// PROGRAM-SAME: max_tokens 2, logits arena+[[LOGITS:[0-9]+]], sampled arena+[[SAMPLED:[0-9]+]], 3 launches
// PROGRAM-NEXT: # launch
// PROGRAM-NEXT: 0 dsc_embed_generic_64x32(tokens, weight[0], arena+[[H:[0-9]+]])
// PROGRAM-NEXT: 1 dsc_lm_head_generic_64x32(arena+[[H]], weight[1], rows, arena+[[LOGITS]])
// PROGRAM-NEXT: 2 dsc_sample_generic_64(arena+[[LOGITS]], sampling, arena+[[SAMPLED]], arena+{{[0-9]+}})
// PROGRAM-DAG: arena+[[LOGITS]] (logits) f32 64 512 dsc_lm_head_generic_64x32 [1]

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
