// RUN: dsc-opt %s -split-input-file -verify-diagnostics
// One case per verifier rule of the ds dialect (ops, types, attributes).

// expected-error @+1 {{tensor name must not be empty}}
ds.weight @w = "" : tensor<4xbf16>

// -----

// expected-error @+1 {{with experts, the tensor name must contain '{e}'}}
ds.weight @w = "experts.0.w" experts 2 : tensor<2x4x4xbf16>

// -----

// expected-error @+1 {{tensor name contains '{e}' but experts is not set}}
ds.weight @w = "experts.{e}.w" : tensor<2x4x4xbf16>

// -----

// expected-error @+1 {{fp8 weight requires a scale tensor or 'quantized'}}
ds.weight @w = "w" : !ds.fp8_block<4x4, block = 128x128, scales = f32>

// -----

// expected-error @+1 {{a quantized weight has no scale tensor (the runtime computes its scales at load)}}
ds.weight @w = "w" scale "w_scale_inv" quantized : !ds.fp8_block<4x4, block = 128x128, scales = f32>

// -----

// expected-error @+1 {{a quantized weight must be !ds.fp8_block with f32 scales, got 'tensor<4x4xbf16>'}}
ds.weight @w = "w" quantized : tensor<4x4xbf16>

// -----

// expected-error @+1 {{a quantized weight must be !ds.fp8_block with f32 scales, got '!ds.fp8_block<4x4, block = 128x128, scales = ue8m0>'}}
ds.weight @w = "w" quantized : !ds.fp8_block<4x4, block = 128x128, scales = ue8m0>

// -----

// expected-error @+1 {{scale tensor name must contain '{e}' exactly when experts is set}}
ds.weight @w = "e.{e}.w" scale "e.0.s" experts 2 : !ds.fp8_block<2x4x4, block = 128x128, scales = f32>

// -----

// expected-error @+1 {{shard dim 2 is outside the weight's 2 dimensions}}
ds.weight @w = "w" shard <dim = 2, ranks = 2> : tensor<4x4xbf16>

// -----

// expected-error @+1 {{an interleaved shard needs an expert stack}}
ds.weight @w = "w" shard <dim = 0, ranks = 2, interleaved = true> : tensor<4x4xbf16>

// -----

// expected-error @+1 {{an interleaved shard splits dimension 0 (the experts), got 1}}
ds.weight @w = "e.{e}.w" experts 2 shard <dim = 1, ranks = 2, interleaved = true> : tensor<2x4x4xbf16>

// -----

// expected-error @+1 {{a shard needs at least 2 ranks, got 1}}
ds.weight @w = "w" shard <dim = 0, ranks = 1> : tensor<4x4xbf16>

// -----

// expected-error @+1 {{a shard's dim must not be negative, got -1}}
ds.weight @w = "w" shard <dim = -1, ranks = 2> : tensor<4x4xbf16>

// -----

// expected-error @+1 {{an fp8 shard along dim 0 must cover whole scale blocks of 128, got 192}}
ds.weight @w = "w" scale "w_scale_inv" shard <dim = 0, ranks = 2> : !ds.fp8_block<192x256, block = 128x128, scales = f32>

// -----

// expected-error @+1 {{an fp8 shard along dim 2 must cover whole scale blocks of 128, got 64}}
ds.weight @w = "e.{e}.w" scale "e.{e}.s" experts 2 shard <dim = 2, ranks = 2> : !ds.fp8_block<2x256x64, block = 128x128, scales = f32>

// -----

func.func @rank_shape() {
  // expected-error @+1 {{result must be tensor<1xi32>, got 'tensor<2xi32>'}}
  %r = ds.rank : tensor<2xi32>
  return
}

// -----

func.func @all_reduce_one(%x: tensor<?x8xbf16>) {
  // expected-error @+1 {{needs at least 2 ranks, got 1}}
  %y = ds.all_reduce %x {ranks = 1 : i64} : tensor<?x8xbf16>
  return
}

// -----

func.func @all_gather_columns(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{result must have 2 times the input's 8 columns, got 12}}
  %y = ds.all_gather %x {ranks = 2 : i64} : tensor<?x8xf32> -> tensor<?x12xf32>
  return
}

// -----

func.func @all_gather_type(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{result must have the input's rows and element type}}
  %y = ds.all_gather %x {ranks = 2 : i64} : tensor<?x8xf32> -> tensor<?x16xbf16>
  return
}

// -----

func.func @all_gather_ranks(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{needs at least 2 ranks, got 1}}
  %y = ds.all_gather %x {ranks = 1 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @local_choices_ranks(%i: tensor<?x6xi32>, %r: tensor<1xi32>) {
  // expected-error @+1 {{needs at least 2 ranks, got 0}}
  %l = ds.moe_local_choices %i, %r {ranks = 0 : i64} : tensor<?x6xi32>, tensor<1xi32>
  return
}

// -----

func.func @local_choices_rank(%i: tensor<?x6xi32>, %r: tensor<3xi32>) {
  // expected-error @+1 {{rank must be tensor<1xi32>, got 'tensor<3xi32>'}}
  %l = ds.moe_local_choices %i, %r {ranks = 2 : i64} : tensor<?x6xi32>, tensor<3xi32>
  return
}

// -----

// expected-error @+1 {{weight element type must be bf16 or f32 (fp8 weights use !ds.fp8_block), got 'f16'}}
ds.weight @w = "w" : tensor<4xf16>

// -----

// expected-error @+1 {{only fp8 weights have a scale tensor}}
ds.weight @w = "w" scale "s" : tensor<4x4xbf16>

// -----

// expected-error @+1 {{weight shape must be static}}
ds.weight @w = "w" : tensor<?x4xbf16>

// -----

// expected-error @+1 {{weight type must be a ranked tensor or !ds.fp8_block, got 'i32'}}
ds.weight @w = "w" : i32

// -----

// expected-error @+1 {{weight dimensions must be positive}}
ds.weight @w = "w" : tensor<0x4xbf16>

// -----

// expected-error @+1 {{leading dimension must equal experts (3)}}
ds.weight @w = "e.{e}.w" experts 3 : tensor<2x4x4xbf16>

// -----

func.func @f() {
  // expected-error @+1 {{'missing' does not name a ds.weight}}
  %w = ds.get_weight @missing : tensor<4xbf16>
  return
}

// -----

ds.weight @w = "w" : tensor<4xbf16>
func.func @f() {
  // expected-error @+1 {{result type 'tensor<8xbf16>' differs from the weight's type 'tensor<4xbf16>'}}
  %w = ds.get_weight @w : tensor<8xbf16>
  return
}

// -----

// expected-error @+1 {{fp8_block weight must have rank 2 ([N, K]) or 3 ([E, N, K]), got rank 1}}
func.func @f(%w: !ds.fp8_block<4, block = 128x128, scales = f32>)

// -----

// expected-error @+1 {{fp8_block block shape must be positive, got 0x128}}
func.func @f(%w: !ds.fp8_block<4x4, block = 0x128, scales = f32>)

// -----

// expected-error @+1 {{latent_cache element type must be bf16 or f32, got 'i32'}}
func.func @f(%c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, i32>)

// -----

// expected-error @+1 {{latent_cache layers, latent and rope must be positive}}
func.func @f(%c: !ds.latent_cache<layers = 0, latent = 16, rope = 8, bf16>)

// -----

// expected-error @+1 {{rope dim must be positive and even, got 7}}
func.func @f() attributes {r = #ds.rope<dim = 7, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}

// -----

// expected-error @+1 {{rope theta must be positive, got 0}}
func.func @f() attributes {r = #ds.rope<dim = 8, theta = 0.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}

// -----

// expected-error @+1 {{yarn factor must be positive, got -2}}
func.func @f() attributes {r = #ds.rope<dim = 8, theta = 10000.0, scaling = yarn, factor = -2.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 1.0>}

// -----

// expected-error @+1 {{yarn original_max_position must be positive, got 0}}
func.func @f() attributes {r = #ds.rope<dim = 8, theta = 10000.0, scaling = yarn, factor = 40.0, original_max_position = 0, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 1.0>}

// -----

// expected-error @+1 {{yarn needs 0 < beta_slow <= beta_fast, got beta_fast = 1.000000e+00, beta_slow = 3.200000e+01}}
func.func @f() attributes {r = #ds.rope<dim = 8, theta = 10000.0, scaling = yarn, factor = 40.0, original_max_position = 4096, beta_fast = 1.0, beta_slow = 32.0, mscale = 1.0, mscale_all_dim = 1.0>}

// -----

func.func @f(%t: tensor<?xi32>, %table: tensor<64x32xbf16>) {
  // expected-error @+1 {{result must have 32 features, got 16}}
  %h = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%t: tensor<4xi32>, %table: tensor<64x32xbf16>) {
  // expected-error @+1 {{result must have one row per token}}
  %h = ds.embed %t, %table : tensor<4xi32>, tensor<64x32xbf16> -> tensor<5x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<32xbf16>) {
  // expected-error @+1 {{eps must be positive}}
  %n = ds.rms_norm %x, %w {eps = 0.0 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16xbf16>) {
  // expected-error @+1 {{weight must have 32 elements, got 16}}
  %n = ds.rms_norm %x, %w {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: !ds.fp8_block<2x16x32, block = 128x128, scales = f32>) {
  // expected-error @+1 {{weight must be a matrix, got rank 3}}
  %y = ds.linear %x, %w : tensor<?x32xbf16>, !ds.fp8_block<2x16x32, block = 128x128, scales = f32> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x24xbf16>) {
  // expected-error @+1 {{input has 32 features but the weight expects 24}}
  %y = ds.linear %x, %w : tensor<?x32xbf16>, tensor<16x24xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>) {
  // expected-error @+1 {{result must keep the input's leading dimensions}}
  %y = ds.linear %x, %w : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x2x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>, %a: tensor<?x32xbf16>) {
  // expected-error @+1 {{addend 0 has type 'tensor<?x32xbf16>' but the result is 'tensor<?x16xbf16>'}}
  %y = ds.linear %x, %w plus(%a : tensor<?x32xbf16>) : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>) {
  // expected-error @+1 {{result has 8 features but the weight gives 16}}
  %y = ds.linear %x, %w : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x8xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x1x2x8xbf16>, %p: tensor<?xi32>) {
  // expected-error @+1 {{input must be [tokens, dim] or [tokens, heads, dim]}}
  %r = ds.rope %x, %p rope(#ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>) : tensor<?x1x2x8xbf16>, tensor<?xi32>
  return
}

// -----

func.func @f(%x: tensor<?x16xbf16>, %p: tensor<?xi32>) {
  // expected-error @+1 {{input's last dimension 16 differs from rope dim 8}}
  %r = ds.rope %x, %p rope(#ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>) : tensor<?x16xbf16>, tensor<?xi32>
  return
}

// -----

func.func @f(%x: tensor<3x8xbf16>, %p: tensor<4xi32>) {
  // expected-error @+1 {{positions must have one entry per token}}
  %r = ds.rope %x, %p rope(#ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>) : tensor<3x8xbf16>, tensor<4xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %g: tensor<48x32xbf16>, %d: tensor<32x40xbf16>) {
  // expected-error @+1 {{down must have shape [32, 48], got [32, 40]}}
  %y = ds.mlp %x, %g, %g, %d : tensor<?x32xbf16>, tensor<48x32xbf16>, tensor<48x32xbf16>, tensor<32x40xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x16xbf16>, %w: tensor<64x32xbf16>, %rows: tensor<?xi32>) {
  // expected-error @+1 {{input must have 32 features, got 16}}
  %l = ds.lm_head %x, %w rows(%rows : tensor<?xi32>) : tensor<?x16xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<64x32xbf16>, %rows: tensor<2xi32>) {
  // expected-error @+1 {{result must have one row per entry of rows}}
  %l = ds.lm_head %x, %w rows(%rows : tensor<2xi32>) : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<3x64xf32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %p: tensor<?x4xi32>) {
  // expected-error @+1 {{params must have 8 i32 words per row, got 4}}
  %n, %n_w = ds.sample %l, %p : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return
}

// -----

func.func @f(%l: tensor<2x64xf32>, %p: tensor<3x8xi32>) {
  // expected-error @+1 {{logits, params and results must have the same rows}}
  %n, %n_w = ds.sample %l, %p : tensor<2x64xf32>, tensor<3x8xi32> -> tensor<?xi32>, tensor<2x64xf32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{weights must have one column per logit}}
  %n, %n_w = ds.sample %l, %p : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x32xf32>
  return
}

// -----

func.func @f(%l: tensor<?x?xf32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{the vocabulary size must be static}}
  %n, %n_w = ds.sample %l, %p : tensor<?x?xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x?xf32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %p: tensor<?x8xf32>) {
  // expected-error @+1 {{operand #1 must be 2D tensor of 32-bit signless integer values}}
  %n, %n_w = ds.sample %l, %p : tensor<?x64xf32>, tensor<?x8xf32> -> tensor<?xi32>, tensor<?x64xf32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %c: tensor<?xi32>, %p: tensor<?x6xi32>) {
  // expected-error @+1 {{params must have 8 i32 words per row, got 6}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x64xf32>, tensor<?xi32>, tensor<?x6xi32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%l: tensor<2x64xf32>, %c: tensor<3xi32>, %p: tensor<2x8xi32>) {
  // expected-error @+1 {{logits, chosen, params and results must have the same rows}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<2x64xf32>, tensor<3xi32>, tensor<2x8xi32> -> tensor<2x3xf32>, tensor<2x3xi32>
  return
}

// -----

func.func @f(%l: tensor<?x?xf32>, %c: tensor<?xi32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{the vocabulary size must be static}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x?xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %c: tensor<?xi32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{logprobs and ids must have the same static column count (1 + the top tokens reported)}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x64xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x3xf32>, tensor<?x4xi32>
  return
}

// -----

func.func @f(%l: tensor<?x64xf32>, %c: tensor<?xi32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{reports 65 top tokens; at most 64 and at most the vocabulary}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x64xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x66xf32>, tensor<?x66xi32>
  return
}

// -----

func.func @f(%l: tensor<?x16xf32>, %c: tensor<?xi32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{reports 20 top tokens; at most 64 and at most the vocabulary}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x16xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x21xf32>, tensor<?x21xi32>
  return
}

// -----

func.func @f(%l: tensor<?x16777217xf32>, %c: tensor<?xi32>, %p: tensor<?x8xi32>) {
  // expected-error @+1 {{vocabulary of 16777217 tokens; at most 16777216}}
  %lp, %ids = ds.logprobs %l, %c, %p : tensor<?x16777217xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{head count and dims must be positive (q_lora_rank may be 0)}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = -1 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{with q_lora_rank = 0 the queries come from q alone (no q_a, q_a_norm, q_b)}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q(%q : tensor<96x32xbf16>) q_a(%qa : tensor<24x32xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 0 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{with q_lora_rank > 0 the queries need q_a, q_a_norm and q_b (and no q)}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{q_a must have shape [20, 32], got [24, 32]}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 20 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<96x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{kv_b must have shape [128, 16], got [96, 16]}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<96x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 32, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{cache stores 32 latent + 8 rope values per token, but the layer needs 16 + 8}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 32, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{layer 2 is outside the cache's 2 layers}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 2 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{rope dim 16 differs from qk_rope_head_dim 8}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.2 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 16, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %pos: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>,
            %q: tensor<96x32xbf16>, %qa: tensor<24x32xbf16>, %qan: tensor<24xbf16>, %qb: tensor<96x24xbf16>,
            %kva: tensor<24x32xbf16>, %kvan: tensor<16xbf16>, %kvb: tensor<128x16xbf16>, %o: tensor<32x64xbf16>) {
  // expected-error @+1 {{softmax_scale must be positive}}
  %out, %c1 = ds.mla %x, %pos, %pos, %c layer 1 q_a(%qa : tensor<24x32xbf16>) q_a_norm(%qan : tensor<24xbf16>) q_b(%qb : tensor<96x24xbf16>)
      kv_a(%kva : tensor<24x32xbf16>) kv_a_norm(%kvan : tensor<16xbf16>) kv_b(%kvb : tensor<128x16xbf16>) o(%o : tensor<32x64xbf16>)
      {num_heads = 4 : i64, q_lora_rank = 24 : i64, softmax_scale = 0.0 : f64, kv_lora_rank = 16 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64,
       v_head_dim = 16 : i64, eps = 1.0e-6 : f64, rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x32xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{n_group (3) must divide the 8 experts}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 3 : i64, topk_group = 1 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{topk_group (5) must be in [1, n_group = 4]}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 5 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{top_k (5) must be in [1, 4], the experts held by the 2 kept groups}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 5 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{noaux_tc requires a correction bias}}
  %w, %i = ds.moe_gate %x, %r
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{a correction bias is only used by noaux_tc}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<greedy>, top_k = 2 : i64,
       n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<4xf32>) {
  // expected-error @+1 {{bias must have 8 elements, got 4}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<4xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{noaux_tc scores a group by its two best experts, so groups need at least 2 experts}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 8 : i64, topk_group = 4 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{routed_scaling_factor must be positive}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 0.0 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{weights and indices must be [tokens, 2]}}
  %w, %i = ds.moe_gate %x, %r bias(%b : tensor<8xf32>)
      {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
       n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: !ds.fp8_block<16x32, block = 128x128, scales = f32>, %d: tensor<8x32x16xbf16>) {
  // expected-error @+1 {{gate, up and down must be [experts, rows, cols] stacks}}
  %y = ds.moe_experts %x, %w, %i, %g, %g, %d : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, !ds.fp8_block<16x32, block = 128x128, scales = f32>, !ds.fp8_block<16x32, block = 128x128, scales = f32>, tensor<8x32x16xbf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: tensor<8x16x32xbf16>, %d: tensor<4x32x16xbf16>) {
  // expected-error @+1 {{down must have shape [8, 32, 16], got [4, 32, 16]}}
  %y = ds.moe_experts %x, %w, %i, %g, %g, %d : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x16x32xbf16>, tensor<8x16x32xbf16>, tensor<4x32x16xbf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x3xi32>, %g: tensor<8x16x32xbf16>, %d: tensor<8x32x16xbf16>) {
  // expected-error @+1 {{weights and indices must have the same shape}}
  %y = ds.moe_experts %x, %w, %i, %g, %g, %d : tensor<?x32xbf16>, tensor<?x2xf32>, tensor<?x3xi32>, tensor<8x16x32xbf16>, tensor<8x16x32xbf16>, tensor<8x32x16xbf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<?x9xf32>, %i: tensor<?x9xi32>, %g: tensor<8x16x32xbf16>, %d: tensor<8x32x16xbf16>) {
  // expected-error @+1 {{cannot choose 9 of 8 experts}}
  %y = ds.moe_experts %x, %w, %i, %g, %g, %d : tensor<?x32xbf16>, tensor<?x9xf32>, tensor<?x9xi32>, tensor<8x16x32xbf16>, tensor<8x16x32xbf16>, tensor<8x32x16xbf16> -> tensor<?x32xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>) {
  // expected-error @+1 {{result must have 8 features, got 4}}
  %l = ds.router_logits %x, %r : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x4xf32>
  return
}

// -----

func.func @f(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{n_group (3) must divide the 8 experts}}
  %w, %i = ds.moe_select %l {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<group_limited_greedy>, top_k = 2 : i64,
      n_group = 3 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// expected-error @+2 {{expected ::dsc::ds::ParallelDim to be one of: tokens, static, tokens_x_static}}
// expected-error @+1 {{failed to parse DS_ParallelDimAttr parameter 'value' which is to be a `::dsc::ds::ParallelDim`}}
ds.kernel @k parallel = <heads> extent = 4 rows = <tokens> config = <strategy = warp> outputs = [] "ds.linear"

// -----

// expected-error @+1 {{a static kernel needs a positive extent}}
ds.kernel @k parallel = <static> extent = 0 rows = <tokens> config = <strategy = warp> outputs = [] "ds.linear"

// -----

// expected-error @+2 {{expected ::dsc::ds::RowCount to be one of: tokens, outputs}}
// expected-error @+1 {{failed to parse DS_RowCountAttr parameter 'value' which is to be a `::dsc::ds::RowCount`}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <experts> config = <strategy = generic> outputs = [] "ds.sample"

// -----

// expected-error @+1 {{output 0 needs an argument >= 0, a dtype of 0 (bf16), 1 (f32) or 3 (i32) and a positive row width}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [2, 2, 16] "ds.embed"

// -----

// expected-error @+1 {{outputs must be (argument, dtype, elements per row) triples, got 2 values}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [2, 0] "ds.embed"

// -----

// expected-error @+1 {{block must be a multiple of 32 in [32, 1024], got 100}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp, block = 100> outputs = [] "ds.embed"

// -----

// expected-error @+1 {{row_group applies to warp and warp_query_group only}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = block, row_group = 2> outputs = [] "ds.embed"

// -----

// expected-error @+1 {{block_split needs at least two warps per block}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = block_split, block = 32> outputs = [] "ds.embed"

// -----

// expected-error @+1 {{splits applies to position_split, position_split_mma and cluster_block only}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp, splits = 4> outputs = [] "ds.embed"

// -----

// expected-error @+1 {{warp_async needs dynamic_shared_bytes (its warps' weight stages)}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp_async> outputs = [] "ds.moe_expert_down"

// -----

// expected-error @+1 {{tile_mma needs dynamic_shared_bytes (its rows' staged activations)}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = tile_mma> outputs = [] "ds.linear"

// -----

// expected-error @+1 {{cluster_block needs splits (blocks per cluster) in [2, 8], got 1}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = cluster_block, block = 1024> outputs = [] "ds.sample"

// -----

// expected-error @+1 {{cluster_block needs splits (blocks per cluster) in [2, 8], got 16}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = cluster_block, block = 1024, splits = 16> outputs = [] "ds.sample"

// -----

// expected-error @+1 {{splits must be positive, got 0}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = position_split, splits = 0> outputs = [] "ds.embed"

// -----

// expected-error @+1 {{dynamic_shared_bytes must be in [0, 232448], got 232449}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp, dynamic_shared_bytes = 232449> outputs = [] "ds.embed"

// -----

// Kernel costs: finite, non-negative coefficients; at most `experts`
// experts per row; expert bytes only with experts.
// expected-error @+1 {{bytes_per_row must be finite and non-negative, got -1}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <bytes_per_row = -1> "ds.embed"

// -----

// expected-error @+1 {{flops_per_context must be finite and non-negative, got nan}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <flops_per_context = nan> "ds.embed"

// -----

// expected-error @+1 {{bytes_fixed must be finite and non-negative, got inf}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <bytes_fixed = inf> "ds.embed"

// -----

// expected-error @+1 {{experts_per_row (9) exceeds experts (8)}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <bytes_per_expert = 64, experts = 8, experts_per_row = 9> "ds.moe_expert_up"

// -----

// expected-error @+1 {{experts and experts_per_row must be non-negative, got -8 and 0}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <experts = -8> "ds.moe_expert_up"

// -----

// expected-error @+1 {{bytes_per_expert needs experts and experts_per_row}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = generic> outputs = [] cost = <bytes_per_expert = 64, experts = 8> "ds.moe_expert_up"

// -----

// Discardable ds.* attributes are declared, with their types.
// expected-error @+1 {{unknown discardable attribute 'ds.query_group'}}
func.func @f() attributes {ds.query_group = 4 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'ds.entry' must be "prefill" or "decode", got "train"}}
func.func @f() attributes {ds.entry = "train"} {
  return
}

// -----

// expected-error @+1 {{attribute 'ds.config' must be a #ds.kernel_config, got 4 : i64}}
func.func @f() attributes {ds.config = 4 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'ds.launch_bounds' must be [threads in [32, 1024], blocks per SM >= 1], got array<i64: 2048, 1>}}
func.func @f() attributes {ds.launch_bounds = array<i64: 2048, 1>} {
  return
}

// -----

func.func @f(%q: tensor<?x96xbf16>, %pos: tensor<?xi32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{result must be [tokens, 4, 24], got 'tensor<?x4x16xbf16>'}}
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x16xbf16> -> tensor<?x4x16xbf16>
  return
}

// -----

func.func @f(%q: tensor<?x96xbf16>, %pos: tensor<?xi32>, %kvb: tensor<96x16xbf16>) {
  // expected-error @+1 {{kv_b must have shape [128, 16], got [96, 16]}}
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       rope = #ds.rope<dim = 8, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x96xbf16>, tensor<?xi32>, tensor<96x16xbf16> -> tensor<?x4x24xbf16>
  return
}

// -----

func.func @f(%q: tensor<?x96xbf16>, %pos: tensor<?xi32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{the rope attribute's dim (16) must equal qk_rope_head_dim 8}}
  %ql = ds.mla_absorb_query %q, %pos, %kvb
      {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, qk_rope_head_dim = 8 : i64, v_head_dim = 16 : i64,
       rope = #ds.rope<dim = 16, theta = 10000.0, scaling = none, factor = 1.0, original_max_position = 4096, beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0>}
      : tensor<?x96xbf16>, tensor<?xi32>, tensor<128x16xbf16> -> tensor<?x4x24xbf16>
  return
}

// -----

func.func @f(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{layer 2 is outside the cache's 2 layers}}
  %ol = ds.mla_latent_attention %q, %pos, %slots, %c layer 2 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  return
}

// -----

func.func @f(%q: tensor<?x4x20xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{q must be [tokens, 4, 24], got 'tensor<?x4x20xbf16>'}}
  %ol = ds.mla_latent_attention %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x20xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x4x16xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x4x16xbf16>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{result must have 64 features, got 48}}
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x4x16xbf16>, tensor<128x16xbf16> -> tensor<?x48xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x2x16xbf16>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{o must be [tokens, 4, 16], got 'tensor<?x2x16xbf16>'}}
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x2x16xbf16>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x4x16xf32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{o must be bf16 without combine(lse), got 'tensor<?x4x16xf32>'}}
  %a = ds.mla_absorb_value %o, %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x4x16xf32>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x4x16xbf16>, %lse: tensor<?x2x4xf32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{with combine(lse), o must be f32 [tokens, splits, 4, 16], got 'tensor<?x4x16xbf16>'}}
  %a = ds.mla_absorb_value %o combine(%lse : tensor<?x2x4xf32>), %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x4x16xbf16>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x2x4x16xf32>, %lse: tensor<?x3x4xf32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{lse must be [tokens, 2, 4] to match o, got 'tensor<?x3x4xf32>'}}
  %a = ds.mla_absorb_value %o combine(%lse : tensor<?x3x4xf32>), %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<?x2x4x16xf32>, tensor<128x16xbf16> -> tensor<?x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<3x2x4x16xf32>, %lse: tensor<2x2x4xf32>, %kvb: tensor<128x16xbf16>) {
  // expected-error @+1 {{o and lse must have one row per token}}
  %a = ds.mla_absorb_value %o combine(%lse : tensor<2x2x4xf32>), %kvb {num_heads = 4 : i64, qk_nope_head_dim = 16 : i64, v_head_dim = 16 : i64}
      : tensor<3x2x4x16xf32>, tensor<128x16xbf16> -> tensor<3x64xbf16>
  return
}

// -----

func.func @f(%q: tensor<?x4x20xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{q must be [tokens, 4, 24], got 'tensor<?x4x20xbf16>'}}
  %o, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x20xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x3x4x16xf32>, tensor<?x3x4xf32>
  return
}

// -----

func.func @f(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{lse must be [tokens, splits, 4] with a static splits >= 1, got 'tensor<?x?x4xf32>'}}
  %o, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x3x4x16xf32>, tensor<?x?x4xf32>
  return
}

// -----

func.func @f(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{partial must be [tokens, 3, 4, 16], got 'tensor<?x3x4x24xf32>'}}
  %o, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x3x4x24xf32>, tensor<?x3x4xf32>
  return
}

// -----

func.func @f(%q: tensor<?x4x24xbf16>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{layer 2 is outside the cache's 2 layers}}
  %o, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 2 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<?x4x24xbf16>, tensor<?xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<?x3x4x16xf32>, tensor<?x3x4xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x24xbf16>, %pos: tensor<2xi32>, %slots: tensor<2xi32>, %c: !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16>) {
  // expected-error @+1 {{results must have one row per token}}
  %o, %lse = ds.mla_latent_attention_partial %q, %pos, %slots, %c layer 0 {num_heads = 4 : i64, softmax_scale = 0.2 : f64}
      : tensor<2x4x24xbf16>, tensor<2xi32>, !ds.latent_cache<layers = 2, latent = 16, rope = 8, bf16> -> tensor<3x3x4x16xf32>, tensor<2x3x4xf32>
  return
}

// -----

func.func @f(%o: tensor<?x3x4x16xf32>, %lse: tensor<?x2x4xf32>) {
  // expected-error @+1 {{lse must be [tokens, 3, 4] to match partial, got 'tensor<?x2x4xf32>'}}
  %r = ds.mla_attention_combine %o, %lse : tensor<?x3x4x16xf32>, tensor<?x2x4xf32> -> tensor<?x4x16xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x3x4x16xf32>, %lse: tensor<?x3x4xf32>) {
  // expected-error @+1 {{result must be [tokens, 4, 16], got 'tensor<?x4x8xbf16>'}}
  %r = ds.mla_attention_combine %o, %lse : tensor<?x3x4x16xf32>, tensor<?x3x4xf32> -> tensor<?x4x8xbf16>
  return
}

// -----

func.func @f(%o: tensor<?x3x4x16xf32>, %lse: tensor<?x3x4xf32>) {
  // expected-error @+1 {{expected partial [tokens, splits, heads, latent], lse [tokens, splits, heads] and result [tokens, heads, latent]}}
  %r = ds.mla_attention_combine %o, %lse : tensor<?x3x4x16xf32>, tensor<?x3x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

func.func @f(%o: tensor<2x3x4x16xf32>, %lse: tensor<2x3x4xf32>) {
  // expected-error @+1 {{operands and result must have one row per token}}
  %r = ds.mla_attention_combine %o, %lse : tensor<2x3x4x16xf32>, tensor<2x3x4xf32> -> tensor<3x4x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %g: tensor<16x32xbf16>, %u: tensor<8x32xbf16>) {
  // expected-error @+1 {{gate and up weights must have one type, got 'tensor<16x32xbf16>' and 'tensor<8x32xbf16>'}}
  %y = ds.gated_linear %x, %g, %u : tensor<?x32xbf16>, tensor<16x32xbf16>, tensor<8x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %g: tensor<16x32xbf16>, %u: tensor<16x32xbf16>) {
  // expected-error @+1 {{result has 8 features but the weights give 16}}
  %y = ds.gated_linear %x, %g, %u : tensor<?x32xbf16>, tensor<16x32xbf16>, tensor<16x32xbf16> -> tensor<?x8xbf16>
  return
}

// -----

// ds.moe_expert_down with a fused shared expert: both shared operands,
// shapes that chain, addends only after a shared product.
func.func @f(%h: tensor<?x2x8xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %d: tensor<4x16x8xbf16>, %r: tensor<?x16xbf16>) {
  // expected-error @+1 {{has addends but no shared product to add them to}}
  %y = ds.moe_expert_down %h, %w, %i, %d plus(%r : tensor<?x16xbf16>) : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%h: tensor<?x2x8xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %d: tensor<4x16x8xbf16>, %hs: tensor<?x24xbf16>, %sd: tensor<16x32xbf16>) {
  // expected-error @+1 {{input has 24 features but the weight expects 32}}
  %y = ds.moe_expert_down %h, %w, %i, %d shared(%hs, %sd : tensor<?x24xbf16>, tensor<16x32xbf16>) : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%h: tensor<?x2x8xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %d: tensor<4x16x8xbf16>, %hs: tensor<?x32xbf16>, %sd: tensor<16x32xbf16>, %r: tensor<?x8xbf16>) {
  // expected-error @+1 {{addend 0 has type 'tensor<?x8xbf16>' but the result is 'tensor<?x16xbf16>'}}
  %y = ds.moe_expert_down %h, %w, %i, %d shared(%hs, %sd : tensor<?x32xbf16>, tensor<16x32xbf16>) plus(%r : tensor<?x8xbf16>) : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>, %g: tensor<32xbf16>) {
  // expected-error @+1 {{needs both a norm weight and norm_eps, or neither}}
  %y = ds.linear %x, %w norm(%g : tensor<32xbf16>) : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>) {
  // expected-error @+1 {{needs both a norm weight and norm_eps, or neither}}
  %y = ds.linear %x, %w {norm_eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<16x32xbf16>, %g: tensor<32xbf16>) {
  // expected-error @+1 {{norm_eps must be positive}}
  %y = ds.gated_linear %x, %w, %w norm(%g : tensor<32xbf16>) {norm_eps = 0.0 : f64} : tensor<?x32xbf16>, tensor<16x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<8x32xbf16>, %g: tensor<16xbf16>) {
  // expected-error @+1 {{norm weight must have 32 elements, got 16}}
  %y = ds.router_logits %x, %w norm(%g : tensor<16xbf16>) {norm_eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %g: tensor<16xbf16>) {
  // expected-error @+1 {{norm weight must have 32 elements, got 16}}
  %w, %i = ds.moe_gate %x, %r norm(%g : tensor<16xbf16>)
      {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 2 : i64,
       n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64,
       norm_eps = 1.0e-6 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %r: tensor<8x32xbf16>, %g: tensor<32xbf16>) {
  // expected-error @+1 {{needs both a norm weight and norm_eps, or neither}}
  %w, %i = ds.moe_gate %x, %r norm(%g : tensor<32xbf16>)
      {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 2 : i64,
       n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %i: tensor<?x2xi32>, %w: tensor<4x8x32xbf16>, %g: tensor<16xbf16>) {
  // expected-error @+1 {{norm weight must have 32 elements, got 16}}
  %y = ds.moe_expert_up %x, %i, %w, %w norm(%g : tensor<16xbf16>) {norm_eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<?x2xi32>, tensor<4x8x32xbf16>, tensor<4x8x32xbf16> -> tensor<?x2x8xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x32xbf16>, %w: tensor<64x32xbf16>, %r: tensor<?xi32>, %g: tensor<32xbf16>) {
  // expected-error @+1 {{norm_eps must be positive}}
  %y = ds.lm_head %x, %w rows(%r : tensor<?xi32>) norm(%g : tensor<32xbf16>) {norm_eps = -1.0 : f64} : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  return
}

// -----

// expected-error @+1 {{attribute 'ds.variants' must be a non-empty array of #ds.kernel_variant in increasing rows}}
func.func @f() attributes {ds.variants = [#ds.kernel_variant<rows = 4, config = <strategy = warp>>, #ds.kernel_variant<rows = 2, config = <strategy = warp>>]} {
  return
}

// -----

// expected-error @+1 {{a variant's rows must be positive, got 0}}
func.func @f() attributes {ds.variants = [#ds.kernel_variant<rows = 0, config = <strategy = warp>>]} {
  return
}

// -----

// expected-error @+1 {{variants need one kernel per row count, got 2 row counts and 1 kernels}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp, row_group = 4> variants([1, 2], [@one]) outputs = [] "ds.linear"

// -----

// expected-error @+1 {{variant rows must be positive and increasing}}
ds.kernel @k parallel = <tokens> extent = 0 rows = <tokens> config = <strategy = warp, row_group = 4> variants([2, 2], [@one, @two]) outputs = [] "ds.linear"
