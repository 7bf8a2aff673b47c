// RUN: dsc-opt %s --ds-fuse-norms | FileCheck %s
// RUN: dsc-opt %s --ds-fuse-norms="entries=prefill" | FileCheck %s --check-prefix=PREFILL
// RUN: dsc-opt %s --ds-fuse-norms="lm-head=false" | FileCheck %s --check-prefix=NO-LM-HEAD

// ds-fuse-norms: a decode norm read only as the input of products becomes
// their `norm(...)` clause (its input, weight and eps), and the norm is gone.

// The attention norm of a layer: the query and the latent products.
// CHECK-LABEL: func.func @attention_norm
// CHECK-SAME: (%[[H:[^:]*]]: tensor<?x16xbf16>, %[[G:[^:]*]]: tensor<16xbf16>, %[[WQ:[^:]*]]: tensor<24x16xbf16>, %[[WKV:[^:]*]]: tensor<8x16xbf16>)
// CHECK-NEXT: %[[Q:.*]] = ds.linear %[[H]], %[[WQ]] norm(%[[G]] : tensor<16xbf16>) {norm_eps = {{.*}} : f64} : tensor<?x16xbf16>, tensor<24x16xbf16> -> tensor<?x24xbf16>
// CHECK-NEXT: %[[KV:.*]] = ds.linear %[[H]], %[[WKV]] norm(%[[G]] : tensor<16xbf16>) {norm_eps = {{.*}} : f64}
// CHECK-NEXT: return %[[Q]], %[[KV]]
// The prefill-only run leaves decode alone.
// PREFILL-LABEL: func.func @attention_norm
// PREFILL-NEXT: ds.rms_norm
func.func @attention_norm(%h: tensor<?x16xbf16>, %g: tensor<16xbf16>, %wq: tensor<24x16xbf16>, %wkv: tensor<8x16xbf16>) -> (tensor<?x24xbf16>, tensor<?x8xbf16>) attributes {ds.entry = "decode"} {
  %n = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %q = ds.linear %n, %wq : tensor<?x16xbf16>, tensor<24x16xbf16> -> tensor<?x24xbf16>
  %kv = ds.linear %n, %wkv : tensor<?x16xbf16>, tensor<8x16xbf16> -> tensor<?x8xbf16>
  return %q, %kv : tensor<?x24xbf16>, tensor<?x8xbf16>
}

// The MoE norm: router, routed experts' gate/up and shared experts'
// gated product; a product with addends keeps them before its norm.
// CHECK-LABEL: func.func @moe_norm
// CHECK-SAME: (%[[H:[^:]*]]: tensor<?x16xbf16>, %[[G:[^:]*]]: tensor<16xbf16>
// CHECK-NEXT: %[[L:.*]] = ds.router_logits %[[H]], %{{.*}} norm(%[[G]] : tensor<16xbf16>) {norm_eps = 1.000000e-05 : f64} : tensor<?x16xbf16>, tensor<4x16xbf16> -> tensor<?x4xf32>
// CHECK-NEXT: ds.moe_expert_up %[[H]], %{{.*}}, %{{.*}}, %{{.*}} norm(%[[G]] : tensor<16xbf16>) {norm_eps = 1.000000e-05 : f64}
// CHECK-NEXT: ds.gated_linear %[[H]], %{{.*}}, %{{.*}} norm(%[[G]] : tensor<16xbf16>) {norm_eps = 1.000000e-05 : f64}
// CHECK-NEXT: ds.linear %[[H]], %{{.*}} plus(%[[H]] : tensor<?x16xbf16>) norm(%[[G]] : tensor<16xbf16>) {norm_eps = 1.000000e-05 : f64}
// CHECK-NOT: ds.rms_norm
func.func @moe_norm(%h: tensor<?x16xbf16>, %g: tensor<16xbf16>, %wr: tensor<4x16xbf16>, %idx: tensor<?x2xi32>, %eg: tensor<4x8x16xbf16>, %eu: tensor<4x8x16xbf16>, %sg: tensor<8x16xbf16>, %su: tensor<8x16xbf16>, %w: tensor<16x16xbf16>) -> (tensor<?x4xf32>, tensor<?x2x8xbf16>, tensor<?x8xbf16>, tensor<?x16xbf16>) attributes {ds.entry = "decode"} {
  %n = ds.rms_norm %h, %g {eps = 1.0e-5 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %l = ds.router_logits %n, %wr : tensor<?x16xbf16>, tensor<4x16xbf16> -> tensor<?x4xf32>
  %up = ds.moe_expert_up %n, %idx, %eg, %eu : tensor<?x16xbf16>, tensor<?x2xi32>, tensor<4x8x16xbf16>, tensor<4x8x16xbf16> -> tensor<?x2x8xbf16>
  %s = ds.gated_linear %n, %sg, %su : tensor<?x16xbf16>, tensor<8x16xbf16>, tensor<8x16xbf16> -> tensor<?x8xbf16>
  %o = ds.linear %n, %w plus(%h : tensor<?x16xbf16>) : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  return %l, %up, %s, %o : tensor<?x4xf32>, tensor<?x2x8xbf16>, tensor<?x8xbf16>, tensor<?x16xbf16>
}

// The final norm into the lm_head; with lm-head=false (dsc's choice on
// GPUs) it stays.
// CHECK-LABEL: func.func @final_norm
// CHECK-NEXT: ds.lm_head %{{.*}}, %{{.*}} rows(%{{.*}} : tensor<?xi32>) norm(%{{.*}} : tensor<16xbf16>) {norm_eps = {{.*}} : f64}
// NO-LM-HEAD-LABEL: func.func @final_norm
// NO-LM-HEAD-NEXT: %[[N:.*]] = ds.rms_norm
// NO-LM-HEAD-NEXT: ds.lm_head %[[N]], %{{.*}} rows(%{{.*}} : tensor<?xi32>) :
func.func @final_norm(%h: tensor<?x16xbf16>, %g: tensor<16xbf16>, %w: tensor<32x16xbf16>, %rows: tensor<?xi32>) -> tensor<?x32xf32> attributes {ds.entry = "decode"} {
  %n = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %logits = ds.lm_head %n, %w rows(%rows : tensor<?xi32>) : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xf32>
  return %logits : tensor<?x32xf32>
}

// Left alone: a norm that something else reads too (here the return, or a
// product's addend), a product that already has a norm, and prefill.
// CHECK-LABEL: func.func @not_fused
// CHECK-NEXT: %[[A:.*]] = ds.rms_norm
// CHECK-NEXT: ds.linear %[[A]], %{{.*}} : tensor
// CHECK-NEXT: %[[B:.*]] = ds.rms_norm
// CHECK-NEXT: ds.linear %{{.*}}, %{{.*}} plus(%[[B]] : tensor<?x16xbf16>) : tensor
// CHECK-NEXT: %[[C:.*]] = ds.rms_norm
// CHECK-NEXT: ds.linear %[[C]], %{{.*}} norm(
// CHECK-NEXT: return
func.func @not_fused(%h: tensor<?x16xbf16>, %g: tensor<16xbf16>, %w: tensor<16x16xbf16>) -> (tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>) attributes {ds.entry = "decode"} {
  %a = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %p = ds.linear %a, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %b = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %q = ds.linear %b, %w plus(%b : tensor<?x16xbf16>) : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %c = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %r = ds.linear %c, %w norm(%g : tensor<16xbf16>) {norm_eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  return %a, %q, %r, %p : tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @prefill
// CHECK-NEXT: ds.rms_norm
// PREFILL-LABEL: func.func @prefill
// PREFILL-NEXT: ds.linear %{{.*}}, %{{.*}} norm(
func.func @prefill(%h: tensor<?x16xbf16>, %g: tensor<16xbf16>, %w: tensor<16x16xbf16>) -> tensor<?x16xbf16> attributes {ds.entry = "prefill"} {
  %n = ds.rms_norm %h, %g {eps = 1.0e-6 : f64} : tensor<?x16xbf16>, tensor<16xbf16>
  %p = ds.linear %n, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  return %p : tensor<?x16xbf16>
}
