// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=16 max-batch=2" | FileCheck %s
// RUN: dsc-opt %s --ds-plan-buffers="prefill-chunk=16 max-batch=2 concurrent=true" | FileCheck %s --check-prefix=CONCURRENT

// ds-plan-buffers: liveness-based first fit. Each [T, 32] bf16 buffer is
// 16 x 32 x 2 = 1024 bytes in prefill and 2 x 32 x 2 = 128 bytes in decode.

// CHECK: module attributes {ds.arena_bytes = 3072 : i64}
ds.weight @table = "model.embed_tokens.weight" : tensor<64x32xbf16>
ds.weight @norm = "model.norm.weight" : tensor<32xbf16>

// CHECK-LABEL: func.func @prefill
// CHECK-SAME: ds.max_tokens = 16 : i64
func.func @prefill(%t: tensor<?xi32>) -> tensor<?x32xbf16> attributes {ds.entry = "prefill"} {
  // Weights are not placed.
  // CHECK: ds.get_weight @table
  // CHECK-NOT: ds.arena_offsets
  %table = ds.get_weight @table : tensor<64x32xbf16>
  %w = ds.get_weight @norm : tensor<32xbf16>
  // CHECK: ds.embed {{.*}}ds.arena_offsets = [0]
  %h0 = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  // CHECK: ds.rms_norm {{.*}}ds.arena_offsets = [1024]
  %n0 = ds.rms_norm %h0, %w {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  // %h0 is still needed: the sum goes to a third buffer.
  // CHECK: ds.add {{.*}}ds.arena_offsets = [2048]
  %h1 = ds.add %h0, %n0 : tensor<?x32xbf16>
  // %h0 and %n0 are dead: their bytes are reused.
  // CHECK: ds.rms_norm {{.*}}ds.arena_offsets = [0]
  %n1 = ds.rms_norm %h1, %w {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  // CHECK: ds.add {{.*}}ds.arena_offsets = [1024]
  %h2 = ds.add %h1, %n1 : tensor<?x32xbf16>
  return %h2 : tensor<?x32xbf16>
}

// CHECK-LABEL: func.func @decode
// CHECK-SAME: ds.max_tokens = 2 : i64
func.func @decode(%t: tensor<?xi32>) -> tensor<?x32xbf16> attributes {ds.entry = "decode"} {
  %table = ds.get_weight @table : tensor<64x32xbf16>
  // CHECK: ds.embed {{.*}}ds.arena_offsets = [0]
  %h0 = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  // CHECK: ds.add {{.*}}ds.arena_offsets = [128]
  %h1 = ds.add %h0, %h0 : tensor<?x32xbf16>
  return %h1 : tensor<?x32xbf16>
}

// Concurrent plans free a buffer for an op only when every user of it is
// among the op's data-flow ancestors. %b2 depends on %h0 alone, so it may
// run beside %a2 = %a + %a; %a's bytes (1024) stay reserved for it, and
// %b2 takes fresh ones where the plan for one ordered list reuses them.
// CHECK-LABEL: func.func @branches
// CHECK: ds.rms_norm {{.*}}ds.arena_offsets = [1024]
// CHECK: ds.add {{.*}}ds.arena_offsets = [2048]
// CHECK: ds.rms_norm {{.*}}ds.arena_offsets = [1024]
// CONCURRENT-LABEL: func.func @branches
// CONCURRENT: ds.rms_norm {{.*}}ds.arena_offsets = [1024]
// CONCURRENT: ds.add {{.*}}ds.arena_offsets = [2048]
// CONCURRENT: ds.rms_norm {{.*}}ds.arena_offsets = [3072]
// The join follows every user of %h0 and takes its bytes; the op after it
// follows %a's users too.
// CONCURRENT: ds.add {{.*}}ds.arena_offsets = [0]
// CONCURRENT: ds.add {{.*}}ds.arena_offsets = [1024]
func.func @branches(%t: tensor<?xi32>) -> tensor<?x32xbf16> attributes {ds.entry = "prefill"} {
  %table = ds.get_weight @table : tensor<64x32xbf16>
  %w = ds.get_weight @norm : tensor<32xbf16>
  %h0 = ds.embed %t, %table : tensor<?xi32>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %a = ds.rms_norm %h0, %w {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  %a2 = ds.add %a, %a : tensor<?x32xbf16>
  %b2 = ds.rms_norm %h0, %w {eps = 1.0e-6 : f64} : tensor<?x32xbf16>, tensor<32xbf16>
  %s = ds.add %a2, %b2 : tensor<?x32xbf16>
  %r = ds.add %s, %s : tensor<?x32xbf16>
  return %r : tensor<?x32xbf16>
}
