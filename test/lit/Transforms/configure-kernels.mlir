// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a tile-mma=true" | FileCheck %s --check-prefix=SM90
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_80 tile-mma=true" | FileCheck %s --check-prefix=SM80
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a tile-mma=true row-group=4" | FileCheck %s --check-prefix=TILEGROUP
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a tile-mma=true tile-mma-prefill=true" | FileCheck %s --check-prefix=TILEPREFILL
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a expert-row-group=8" | FileCheck %s --check-prefix=EXPERT
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a row-group=4 fp8-row-group=4" | FileCheck %s --check-prefix=NOTILE
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a tensor-cores=false" | FileCheck %s --check-prefix=CORES
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a row-group=1" | FileCheck %s --check-prefix=GROUP1
// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a row-group=8 fp8-row-group=8" | FileCheck %s --check-prefix=GROUP8
// RUN: dsc-opt %s --ds-configure-kernels | FileCheck %s --check-prefix=CPU
// RUN: not dsc-opt %s --ds-configure-kernels="target=cuda:sm_75" 2>&1 | FileCheck %s --check-prefix=BADTARGET
// RUN: not dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a gpu=b200" 2>&1 | FileCheck %s --check-prefix=BADGPU
// RUN: not dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a gpu=a100" 2>&1 | FileCheck %s --check-prefix=MISMATCH
// RUN: not dsc-opt %s --ds-configure-kernels="gpu=h200" 2>&1 | FileCheck %s --check-prefix=HOSTGPU

// ds-configure-kernels: the strategy of every kernel-level op of the entry
// points, from the instruction set (warp shuffles on CUDA targets) and the
// device profile (the decode attention's block from its register file).

// SM90: module attributes {ds.target = "cuda:sm_90a/h200"}
// SM80: module attributes {ds.target = "cuda:sm_80/a100"}
// CPU: module attributes {ds.target = "cpu"}

// SM90-LABEL: func.func @prefill
// Element-wise work keeps a thread per index; reductions get a warp.
// SM90: ds.embed {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90: ds.add {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// Expert selection: a warp per token up to 256 experts (8 per lane), a
// thread per token beyond.
// SM90: ds.moe_select {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90: ds.moe_select {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// Prefill: four of a slot's tokens per warp at a 512-wide latent.
// SM90: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = warp_query_group, row_group = 4>
// With tile-mma-prefill, prefill's products too (512 features: 64 tiles).
// TILEPREFILL-LABEL: func.func @prefill
// TILEPREFILL: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma
// SM90-LABEL: func.func @decode
// Decode on tensor cores: a block of 4 warps per (token, share of the
// positions, group of 16 heads: the products' M, so 4 heads pad to 16), as
// many shares per token as the H200 has SMs (132); dynamic shared memory
// for 16 queries and two tiles of 32 rows of 584 bf16 (576 + 8 of padding)
// and the 16 x 40 f32 scores: 18688 + 2 x 37376 + 2560 = 96000 bytes.
// SM90: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 96000, splits = 132>
// The sampler: blocks of 512 threads (128 registers each; 17 f32 bin sums
// each in static shared memory), on sm_90 a cluster of 8 of them per row.
// SM90: ds.sample {{.*}}ds.config = #ds.kernel_config<strategy = cluster_block, block = 512, splits = 8>
// SM90-LABEL: func.func @decode_16_heads
// SM90: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 96000, splits = 132>
// 128 heads: 8 groups of 16, so 132 / 8 = 16 shares fill the SMs once.
// SM90-LABEL: func.func @decode_128_heads
// SM90: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 96000, splits = 16>
// 1088-wide rows: 16 x 1096 x 2 + 2 x 32 x 1096 x 2 + 2560 = 177920 bytes,
// within the H200's 227 KB.
// SM90-LABEL: func.func @decode_wide_latent
// SM90: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 177920, splits = 132>
// The split ops (ds-split-attention's output) get the same strategies.
// SM90-LABEL: func.func @decode_split
// SM90: ds.mla_latent_attention_partial {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 96000, splits = 132>
// SM90: ds.mla_attention_combine {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// The routed experts' down projection: with V2-Lite's 2,048 output features
// (under 32 per SM), its warps' rows staged in shared memory by cp.async:
// blocks of 4 warps of one token sized so that 3 share an SM (228 KB / 3 -
// 1 KB = 76800 bytes): first the token's activations (6 routed rows and the
// shared expert's input, 8 x 1,408 bf16 = 22528 bytes), then 54272 bytes
// for the warps, 13568 a warp. bf16: 6 routed rows and the shared expert's
// 2,816 columns as 2 segments of 1,408: 8 terms of 16 bytes a lane, one
// group each per iteration (4096 bytes), 3 of the 6 iterations in flight =
// 12288 bytes a warp, 22528 + 4 x 12288 = 71680.
// SM90-LABEL: func.func @experts_down
// SM90: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp_async, dynamic_shared_bytes = 71680>
// fp8 rows only, and 512 blocks: more than 3 an SM (396) but not 4
// (528), so sized for 4 blocks, one wave (233472 / 4 - 1024 = 57344
// bytes, 8704 a warp); 16 columns a lane (one 16-byte copy), a term's
// 512 weight bytes and its 4 block scales (16 bytes) = 528 a term, 4224
// an iteration of 512 columns: 2 of the 3 in flight,
// 22528 + 4 x 8448 = 56320.
// SM90: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp_async, dynamic_shared_bytes = 56320>
// V3's 7,168 features (54 a SM, under 64): warp_async too; its token's
// 8 rows of 2,048 (32 KB) in front of the warps' stages; 1,792 blocks are
// several waves either way, so sized for 3 blocks: 11008 bytes a warp,
// 2 of the 4 iterations of 8 x 528 bytes in flight, 32768 + 4 x 8448.
// SM90: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp_async, dynamic_shared_bytes = 66560>
// Decode products on tensor cores (with tile-mma): a block per 8 output features and 16
// rows, its warps taking the weight rows' 128-byte iterations in turn, at
// most 4 of them a warp (2 a term for the gated product's two weights),
// doubled while fewer than 8 warps an SM (132 x 8 = 1056) would run; 16
// staged rows of 2048 f16 or bf16 (+16 bytes) = 65792 bytes, then the
// warps' sums (512 bytes a warp and term).
// SM90-LABEL: func.func @decode_products
// q (bf16, folded norm): 32 iterations, 8 warps; 65792 + 8 x 512. Up to 8
// rows run the warp kernels (ds.variants): without a row group the one-row
// kernel; with one (TILEGROUP) one row the one-row kernel, 2 to 8 the
// grouped one.
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 256, dynamic_shared_bytes = 69888>, ds.variants = [#ds.kernel_variant<rows = 8, config = <strategy = warp>>]
// TILEGROUP-LABEL: func.func @decode_products
// TILEGROUP: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 256, dynamic_shared_bytes = 69888>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>, #ds.kernel_variant<rows = 8, config = <strategy = warp, row_group = 4>>]
// fp8: 16 iterations, 4 warps; the staged rows' scales, 16 x 16 x 4 bytes.
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, dynamic_shared_bytes = 68864>
// 576 features: 72 tiles, so 16 warps a block.
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 512, dynamic_shared_bytes = 73984>
// SM90: ds.gated_linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 512, dynamic_shared_bytes = 82176>
// SM90: ds.lm_head {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 256, dynamic_shared_bytes = 69888>
// 10,944 columns (171 iterations) need more than 16 warps; 500 features
// are not whole tiles of 8: warp.
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM90-LABEL: func.func @decode_norms
// SM90: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = warp>{{.*}}tensor<?x2048xbf16>
// SM90: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 448>{{.*}}tensor<?x7168xbf16>
// SM90: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 1024>{{.*}}tensor<?x32768xbf16>
// SM90: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = warp>{{.*}}tensor<?x7000xbf16>
// SM90: func.func @not_an_entry
// SM90-NOT: ds.config

// The A100 profile has 108 SMs (and 163 KB of shared memory per block).
// SM80-LABEL: func.func @decode
// SM80: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split_mma, dynamic_shared_bytes = 96000, splits = 108>
// sm_80 has no clusters: a block per row.
// SM80: ds.sample {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 512>
// cp.async from sm_80: 164 KB / 3 - 1 KB a block, less the 22528 bytes of
// activations: one iteration of 4096 bytes a warp.
// SM80-LABEL: func.func @experts_down
// SM80: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp_async, dynamic_shared_bytes = 38912>
// fp8: 8106 bytes a warp hold one iteration of 16 columns a lane (4224)
// but two of 8 (3072 each), so 8-column groups: 22528 + 4 x 6144.
// SM80: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp_async, dynamic_shared_bytes = 47104>
// sm_80's 108 SMs: V3's 7,168 features are 66 an SM, so `warp`.
// SM80: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// sm_80 has mma.sync but no e4m3 conversion: fp8 products stay `warp`;
// 108 SMs (864 warps at 8 an SM).
// SM80-LABEL: func.func @decode_products
// SM80: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 256, dynamic_shared_bytes = 69888>
// SM80: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = warp>
// SM80: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = tile_mma, block = 512, dynamic_shared_bytes = 73984>

// CUDA cores only (tensor-cores=false): a block per (token, share, group of
// up to 8 heads), a warp per head.
// CORES-LABEL: func.func @decode
// CORES: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split, splits = 132>
// 16 heads: two groups of 8, a warp per head, 132 / 2 = 66 shares.
// CORES-LABEL: func.func @decode_16_heads
// CORES: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 66>
// 128 heads: 16 groups of 8, so 132 / 16 = 8 shares fill the SMs once.
// CORES-LABEL: func.func @decode_128_heads
// CORES: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 8>
// A 32-row tile of 1088-wide rows exceeds 40 KB of shared memory: a block of
// 16 warps per (token, head) instead (65536 registers per SM at 128 per
// thread).
// CORES-LABEL: func.func @decode_wide_latent
// CORES: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = block_split, block = 512>
// CORES-LABEL: func.func @decode_split
// CORES: ds.mla_latent_attention_partial {{.*}}ds.config = #ds.kernel_config<strategy = position_split, block = 256, splits = 66>
// CORES-NOT: position_split_mma
// Without tile-mma decode's products keep `warp`.
// NOTILE-LABEL: func.func @decode_products
// NOTILE-NOT: tile_mma
// With row-group=4, `warp` products serve 4 input rows a warp where a block of
// 4 warps can stage them within 32 KB, halving the group until they fit:
// 2,048 columns with a folded norm (4 x (4,096 + 1,024) bytes), fp8 too;
// V3's 7,168 take 2 (4 x 14,336 bytes > 32 KB); its o_proj's 16,384 one.
// Rows that are not whole 256-column spans (10,944) and features that are
// not whole blocks of 4 warps (502) keep a warp per row.
// Each grouped product has a one-row variant (a launch of one row runs the
// kernel without the grouped path); a warp per row needs none.
// NOTILE-LABEL: func.func @row_groups
// NOTILE: ds.linear {{.*}}row_group = 4>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>]{{.*}}tensor<3072x2048xbf16>
// NOTILE: ds.linear {{.*}}row_group = 4>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>]{{.*}}!ds.fp8_block<3072x2048
// NOTILE: ds.linear {{.*}}row_group = 2>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>]{{.*}}tensor<1536x7168xbf16>
// NOTILE: ds.linear {{.*}}#ds.kernel_config<strategy = warp>}{{.*}}tensor<7168x16384xbf16>
// NOTILE: ds.linear {{.*}}#ds.kernel_config<strategy = warp>}{{.*}}tensor<2048x10944xbf16>
// NOTILE: ds.linear {{.*}}#ds.kernel_config<strategy = warp>}{{.*}}tensor<502x2048xbf16>
// NOTILE: ds.gated_linear {{.*}}row_group = 4>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>]
// NOTILE: ds.lm_head {{.*}}row_group = 4>, ds.variants = [#ds.kernel_variant<rows = 1, config = <strategy = warp>>]
// row-group=1: a warp per row everywhere; row-group=8: 8 rows of 2,048
// columns fit 32 KB, not with a norm's sums of squares as well.
// GROUP1-LABEL: func.func @row_groups
// GROUP1-NOT: row_group
// GROUP1-NOT: ds.variants
// GROUP8-LABEL: func.func @row_groups
// GROUP8: ds.linear {{.*}}row_group = 4>{{.*}}tensor<3072x2048xbf16>
// GROUP8: ds.linear {{.*}}row_group = 8>{{.*}}!ds.fp8_block<3072x2048
// GROUP8: ds.linear {{.*}}row_group = 2>{{.*}}tensor<1536x7168xbf16>
// CORES-LABEL: func.func @decode_products
// CORES-NOT: tile_mma

// The host runs the generic lowering of every op.
// CPU-LABEL: func.func @prefill
// CPU: ds.embed {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU: ds.rms_norm {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU: ds.linear {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU: ds.mla_latent_attention {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU-LABEL: func.func @decode
// CPU: ds.sample {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU-LABEL: func.func @decode_split
// CPU: ds.mla_latent_attention_partial {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU: ds.mla_attention_combine {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU-LABEL: func.func @experts_down
// CPU: ds.moe_expert_down {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CPU-NOT: strategy = warp
// CPU-NOT: strategy = position_split
// CPU-NOT: strategy = block
// CPU-LABEL: func.func @decode_norms
// CPU-COUNT-4: ds.rms_norm {{.*}}strategy = generic

// BADTARGET: error: ds-configure-kernels: unknown target 'cuda:sm_75' (known: cpu, cuda:sm_80, cuda:sm_89, cuda:sm_90a)
// BADGPU: error: ds-configure-kernels: unknown gpu 'b200' (known: h200, h100, a100, l40s)
// MISMATCH: error: ds-configure-kernels: gpu 'a100' runs sm_80 code, not cuda:sm_90a
// HOSTGPU: error: ds-configure-kernels: gpu 'h200' needs a cuda target

func.func @prefill(%t: tensor<?xi32>, %table: tensor<64x512xbf16>,
                   %norm: tensor<512xbf16>, %w: tensor<512x512xbf16>,
                   %q: tensor<?x4x576xbf16>, %pos: tensor<?xi32>,
                   %slots: tensor<?xi32>,
                   %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>,
                   %r256: tensor<?x256xf32>, %b256: tensor<256xf32>,
                   %r384: tensor<?x384xf32>)
    attributes {ds.entry = "prefill"} {
  %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x512xbf16> -> tensor<?x512xbf16>
  %n = ds.rms_norm %h, %norm {eps = 1.0e-06 : f64} : tensor<?x512xbf16>, tensor<512xbf16>
  %l = ds.linear %n, %w : tensor<?x512xbf16>, tensor<512x512xbf16> -> tensor<?x512xbf16>
  %s = ds.add %l, %h : tensor<?x512xbf16>
  %w1, %i1 = ds.moe_select %r256 bias(%b256 : tensor<256xf32>) {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 8 : i64,
      n_group = 8 : i64, topk_group = 4 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w2, %i2 = ds.moe_select %r384 {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 8 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x384xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x4x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x4x512xbf16>
  return
}

func.func @decode(%q: tensor<?x4x576xbf16>, %pos: tensor<?xi32>,
                  %slots: tensor<?xi32>,
                  %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>,
                  %logits: tensor<?x102400xf32>, %params: tensor<?x8xi32>)
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x4x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x4x512xbf16>
  %next, %w = ds.sample %logits, %params : tensor<?x102400xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x102400xf32>
  return
}

func.func @decode_16_heads(%q: tensor<?x16x576xbf16>, %pos: tensor<?xi32>,
                           %slots: tensor<?xi32>,
                           %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>)
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 16 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x16x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x16x512xbf16>
  return
}

func.func @decode_128_heads(%q: tensor<?x128x576xbf16>, %pos: tensor<?xi32>,
                            %slots: tensor<?xi32>,
                            %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>)
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 128 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x128x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x128x512xbf16>
  return
}

func.func @decode_wide_latent(%q: tensor<?x4x1088xbf16>, %pos: tensor<?xi32>,
                              %slots: tensor<?xi32>,
                              %c: !ds.latent_cache<layers = 1, latent = 1024, rope = 64, bf16>)
    attributes {ds.entry = "decode"} {
  %o = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x4x1088xbf16>, tensor<?xi32>, <layers = 1, latent = 1024, rope = 64, bf16> -> tensor<?x4x1024xbf16>
  return
}

func.func @decode_split(%q: tensor<?x16x576xbf16>, %pos: tensor<?xi32>,
                        %slots: tensor<?xi32>,
                        %c: !ds.latent_cache<layers = 1, latent = 512, rope = 64, bf16>)
    attributes {ds.entry = "decode"} {
  %p, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 0 {num_heads = 16 : i64, softmax_scale = 0.1 : f64}
      : tensor<?x16x576xbf16>, tensor<?xi32>, <layers = 1, latent = 512, rope = 64, bf16> -> tensor<?x132x16x512xf32>, tensor<?x132x16xf32>
  %o = ds.mla_attention_combine %p, %lse : tensor<?x132x16x512xf32>, tensor<?x132x16xf32> -> tensor<?x16x512xbf16>
  return
}

func.func @experts_down(%h: tensor<?x6x1408xbf16>, %w: tensor<?x6xf32>,
                        %i: tensor<?x6xi32>, %down: tensor<64x2048x1408xbf16>,
                        %hs: tensor<?x2816xbf16>, %sd: tensor<2048x2816xbf16>,
                        %x: tensor<?x2048xbf16>,
                        %down8: !ds.fp8_block<64x2048x1408, block = 128x128, scales = f32>,
                        %sd8: !ds.fp8_block<2048x2816, block = 128x128, scales = f32>,
                        %h3: tensor<?x8x2048xbf16>, %w3: tensor<?x8xf32>,
                        %i3: tensor<?x8xi32>,
                        %down3: !ds.fp8_block<256x7168x2048, block = 128x128, scales = f32>)
    attributes {ds.entry = "decode"} {
  %y = ds.moe_expert_down %h, %w, %i, %down shared(%hs, %sd : tensor<?x2816xbf16>, tensor<2048x2816xbf16>) plus(%x : tensor<?x2048xbf16>)
      : tensor<?x6x1408xbf16>, tensor<?x6xf32>, tensor<?x6xi32>, tensor<64x2048x1408xbf16> -> tensor<?x2048xbf16>
  %y8 = ds.moe_expert_down %h, %w, %i, %down8 shared(%hs, %sd8 : tensor<?x2816xbf16>, !ds.fp8_block<2048x2816, block = 128x128, scales = f32>) plus(%x : tensor<?x2048xbf16>)
      : tensor<?x6x1408xbf16>, tensor<?x6xf32>, tensor<?x6xi32>, !ds.fp8_block<64x2048x1408, block = 128x128, scales = f32> -> tensor<?x2048xbf16>
  %y3 = ds.moe_expert_down %h3, %w3, %i3, %down3
      : tensor<?x8x2048xbf16>, tensor<?x8xf32>, tensor<?x8xi32>, !ds.fp8_block<256x7168x2048, block = 128x128, scales = f32> -> tensor<?x7168xbf16>
  return
}

// Decode products on tensor cores (tile_mma).
func.func @decode_products(%x: tensor<?x2048xbf16>, %g: tensor<2048xbf16>,
                           %q: tensor<3072x2048xbf16>,
                           %q8: !ds.fp8_block<3072x2048, block = 128x128, scales = f32>,
                           %kv: tensor<576x2048xbf16>,
                           %gate: tensor<2816x2048xbf16>, %up: tensor<2816x2048xbf16>,
                           %head: tensor<102400x2048xbf16>, %rows: tensor<?xi32>,
                           %wide: tensor<?x10944xbf16>, %down: tensor<2048x10944xbf16>,
                           %odd: tensor<500x2048xbf16>)
    attributes {ds.entry = "decode"} {
  %a = ds.linear %x, %q norm(%g : tensor<2048xbf16>) {norm_eps = 1.0e-06 : f64}
      : tensor<?x2048xbf16>, tensor<3072x2048xbf16> -> tensor<?x3072xbf16>
  %b = ds.linear %x, %q8 : tensor<?x2048xbf16>, !ds.fp8_block<3072x2048, block = 128x128, scales = f32> -> tensor<?x3072xbf16>
  %c = ds.linear %x, %kv : tensor<?x2048xbf16>, tensor<576x2048xbf16> -> tensor<?x576xbf16>
  %d = ds.gated_linear %x, %gate, %up : tensor<?x2048xbf16>, tensor<2816x2048xbf16>, tensor<2816x2048xbf16> -> tensor<?x2816xbf16>
  %e = ds.lm_head %x, %head rows(%rows : tensor<?xi32>) : tensor<?x2048xbf16>, tensor<102400x2048xbf16> -> tensor<?x102400xf32>
  %f = ds.linear %wide, %down : tensor<?x10944xbf16>, tensor<2048x10944xbf16> -> tensor<?x2048xbf16>
  %h = ds.linear %x, %odd : tensor<?x2048xbf16>, tensor<500x2048xbf16> -> tensor<?x500xbf16>
  return
}

func.func @row_groups(%x: tensor<?x2048xbf16>, %g: tensor<2048xbf16>,
                      %q: tensor<3072x2048xbf16>,
                      %q8: !ds.fp8_block<3072x2048, block = 128x128, scales = f32>,
                      %x3: tensor<?x7168xbf16>, %qa: tensor<1536x7168xbf16>,
                      %o3in: tensor<?x16384xbf16>, %o3: tensor<7168x16384xbf16>,
                      %wide: tensor<?x10944xbf16>, %down: tensor<2048x10944xbf16>,
                      %odd: tensor<502x2048xbf16>,
                      %gate: tensor<2816x2048xbf16>, %up: tensor<2816x2048xbf16>,
                      %head: tensor<102400x2048xbf16>, %rows: tensor<?xi32>)
    attributes {ds.entry = "decode"} {
  %a = ds.linear %x, %q norm(%g : tensor<2048xbf16>) {norm_eps = 1.0e-06 : f64}
      : tensor<?x2048xbf16>, tensor<3072x2048xbf16> -> tensor<?x3072xbf16>
  %b = ds.linear %x, %q8 : tensor<?x2048xbf16>, !ds.fp8_block<3072x2048, block = 128x128, scales = f32> -> tensor<?x3072xbf16>
  %c = ds.linear %x3, %qa : tensor<?x7168xbf16>, tensor<1536x7168xbf16> -> tensor<?x1536xbf16>
  %d = ds.linear %o3in, %o3 : tensor<?x16384xbf16>, tensor<7168x16384xbf16> -> tensor<?x7168xbf16>
  %e = ds.linear %wide, %down : tensor<?x10944xbf16>, tensor<2048x10944xbf16> -> tensor<?x2048xbf16>
  %f = ds.linear %x, %odd : tensor<?x2048xbf16>, tensor<502x2048xbf16> -> tensor<?x502xbf16>
  %h = ds.gated_linear %x, %gate, %up : tensor<?x2048xbf16>, tensor<2816x2048xbf16>, tensor<2816x2048xbf16> -> tensor<?x2816xbf16>
  %i = ds.lm_head %x, %head rows(%rows : tensor<?xi32>) : tensor<?x2048xbf16>, tensor<102400x2048xbf16> -> tensor<?x102400xf32>
  return
}

// RMSNorm: a warp per row while the row's 256-column groups fit its
// registers together (8: 2,048 columns), else a block per row, 2 groups a
// warp (V3's 7,168: 14 warps), at most 1,024 threads; rows that do not read
// in such groups keep a warp.
func.func @decode_norms(%a: tensor<?x2048xbf16>, %ga: tensor<2048xbf16>,
                        %b: tensor<?x7168xbf16>, %gb: tensor<7168xbf16>,
                        %c: tensor<?x32768xbf16>, %gc: tensor<32768xbf16>,
                        %d: tensor<?x7000xbf16>, %gd: tensor<7000xbf16>) attributes {ds.entry = "decode"} {
  %0 = ds.rms_norm %a, %ga {eps = 1.0e-06 : f64} : tensor<?x2048xbf16>, tensor<2048xbf16>
  %1 = ds.rms_norm %b, %gb {eps = 1.0e-06 : f64} : tensor<?x7168xbf16>, tensor<7168xbf16>
  %2 = ds.rms_norm %c, %gc {eps = 1.0e-06 : f64} : tensor<?x32768xbf16>, tensor<32768xbf16>
  %3 = ds.rms_norm %d, %gd {eps = 1.0e-06 : f64} : tensor<?x7000xbf16>, tensor<7000xbf16>
  return
}

// Functions that are not entry points are left alone.
func.func @not_an_entry(%h: tensor<?x512xbf16>, %norm: tensor<512xbf16>) {
  %n = ds.rms_norm %h, %norm {eps = 1.0e-06 : f64} : tensor<?x512xbf16>, tensor<512xbf16>
  return
}

// The routed experts' up projection with expert-row-group: an expert's
// choices in groups (8 rows of 2,048 columns with a norm's sums of squares
// exceed 32 KB: 4), a warp per choice for launches of one token; 1,400
// features are not whole blocks of 4 warps, 200 columns not whole 256-column
// spans under a norm: a warp per choice. Without the option (SM90's run),
// a warp per choice everywhere.
// EXPERT-LABEL: func.func @expert_up
// EXPERT: ds.moe_expert_up {{.*}}ds.config = #ds.kernel_config<strategy = warp, row_group = 4>, ds.variants = [#ds.kernel_variant<rows = 16, config = <strategy = warp>>]{{.*}}tensor<64x1408x2048xbf16>
// EXPERT: ds.moe_expert_up {{.*}}ds.config = #ds.kernel_config<strategy = warp, row_group = 8>, ds.variants{{.*}}tensor<64x1408x1024xbf16>
// EXPERT: ds.moe_expert_up {{.*}}{ds.config = #ds.kernel_config<strategy = warp>}{{.*}}tensor<64x1402x2048xbf16>
// EXPERT: ds.moe_expert_up {{.*}}ds.config = #ds.kernel_config<strategy = warp>,{{.*}}tensor<64x1408x200xbf16>
// SM90-LABEL: func.func @expert_up
// SM90-NOT: row_group
func.func @expert_up(%x: tensor<?x2048xbf16>, %g: tensor<2048xbf16>, %idx: tensor<?x6xi32>,
                     %gate: tensor<64x1408x2048xbf16>, %up: tensor<64x1408x2048xbf16>,
                     %x1: tensor<?x1024xbf16>, %gate1: tensor<64x1408x1024xbf16>, %up1: tensor<64x1408x1024xbf16>,
                     %odd: tensor<64x1402x2048xbf16>,
                     %x2: tensor<?x200xbf16>, %g2: tensor<200xbf16>, %gate2: tensor<64x1408x200xbf16>, %up2: tensor<64x1408x200xbf16>)
    attributes {ds.entry = "decode"} {
  %a = ds.moe_expert_up %x, %idx, %gate, %up norm(%g : tensor<2048xbf16>) {norm_eps = 1.0e-06 : f64}
      : tensor<?x2048xbf16>, tensor<?x6xi32>, tensor<64x1408x2048xbf16>, tensor<64x1408x2048xbf16> -> tensor<?x6x1408xbf16>
  %b = ds.moe_expert_up %x1, %idx, %gate1, %up1
      : tensor<?x1024xbf16>, tensor<?x6xi32>, tensor<64x1408x1024xbf16>, tensor<64x1408x1024xbf16> -> tensor<?x6x1408xbf16>
  %c = ds.moe_expert_up %x, %idx, %odd, %odd
      : tensor<?x2048xbf16>, tensor<?x6xi32>, tensor<64x1402x2048xbf16>, tensor<64x1402x2048xbf16> -> tensor<?x6x1402xbf16>
  %d = ds.moe_expert_up %x2, %idx, %gate2, %up2 norm(%g2 : tensor<200xbf16>) {norm_eps = 1.0e-06 : f64}
      : tensor<?x200xbf16>, tensor<?x6xi32>, tensor<64x1408x200xbf16>, tensor<64x1408x200xbf16> -> tensor<?x6x1408xbf16>
  return
}
