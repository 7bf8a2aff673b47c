// RUN: dsc-opt %s --ds-fuse-router | FileCheck %s
// RUN: dsc-opt %s --ds-fuse-router --ds-configure-kernels="target=cuda:sm_90a" | FileCheck %s --check-prefix=SM90
// RUN: dsc-opt %s --ds-fuse-router --ds-configure-kernels="target=cuda:sm_80" | FileCheck %s --check-prefix=SM80
// RUN: dsc-opt %s --ds-fuse-router --ds-configure-kernels | FileCheck %s --check-prefix=CPU

// ds-fuse-router: a ds.moe_select whose logits come from a ds.router_logits
// used only there becomes one ds.moe_gate (input, router weight, the
// selection's bias and attributes, the product's norm clause), and both
// ops are gone.

// A V3-style router (sigmoid, noaux_tc with its bias) whose product reads
// the input through a folded norm.
// CHECK-LABEL: func.func @norm_and_bias
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x16xbf16>, %[[G:[^:]*]]: tensor<16xbf16>, %[[W:[^:]*]]: tensor<8x16xbf16>, %[[B:[^:]*]]: tensor<8xf32>)
// CHECK-NEXT: %[[WT:.*]], %[[I:.*]] = ds.moe_gate %[[X]], %[[W]] bias(%[[B]] : tensor<8xf32>) norm(%[[G]] : tensor<16xbf16>)
// CHECK-SAME: n_group = 4 : i64, norm_eps = 1.000000e-05 : f64, norm_topk_prob = true, routed_scaling_factor = 2.500000e+00 : f64, scoring = #ds.scoring<sigmoid>, top_k = 2 : i64, topk_group = 2 : i64, topk_method = #ds.topk_method<noaux_tc>
// CHECK-SAME: : tensor<?x16xbf16>, tensor<8x16xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK-NEXT: return %[[WT]], %[[I]]
// CHECK-NOT: ds.router_logits
// CHECK-NOT: ds.moe_select
// The gate's kernel: a token per cluster of 8 blocks (a warp per expert:
// one each of 8 experts) on sm_90; a block per token without clusters
// (sm_80); the host's loop elsewhere.
// SM90-LABEL: func.func @norm_and_bias
// SM90: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = cluster_block, block = 32, splits = 8>
// SM80-LABEL: func.func @norm_and_bias
// SM80: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 256>
// CPU-LABEL: func.func @norm_and_bias
// CPU: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = generic>
func.func @norm_and_bias(%x: tensor<?x16xbf16>, %g: tensor<16xbf16>, %w: tensor<8x16xbf16>, %b: tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) attributes {ds.entry = "decode"} {
  %l = ds.router_logits %x, %w norm(%g : tensor<16xbf16>) {norm_eps = 1.0e-5 : f64} : tensor<?x16xbf16>, tensor<8x16xbf16> -> tensor<?x8xf32>
  %wt, %i = ds.moe_select %l bias(%b : tensor<8xf32>) {scoring = #ds.scoring<sigmoid>, topk_method = #ds.topk_method<noaux_tc>, top_k = 2 : i64,
      n_group = 4 : i64, topk_group = 2 : i64, norm_topk_prob = true, routed_scaling_factor = 2.5 : f64}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %wt, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// A V2-Lite-style router (softmax, greedy, no bias, no norm): 64 experts
// spread over a cluster of 8 blocks of 8 warps, V3's 256 over 8 blocks of
// 8 warps too (4 a warp); without clusters a block of 8 warps.
// CHECK-LABEL: func.func @plain
// CHECK-NEXT: ds.moe_gate %{{[^,]*}}, %{{[^ ]*}} {n_group = 1 : i64
// CHECK-SAME: : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x6xf32>, tensor<?x6xi32>
// CHECK-NEXT: ds.moe_gate
// CHECK-SAME: tensor<256x32xbf16>
// SM90-LABEL: func.func @plain
// SM90: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = cluster_block, block = 256, splits = 8>
// SM90: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = cluster_block, block = 256, splits = 8>
// SM80-LABEL: func.func @plain
// SM80: ds.moe_gate {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 256>
func.func @plain(%x: tensor<?x32xbf16>, %w: tensor<64x32xbf16>, %w3: tensor<256x32xbf16>) -> (tensor<?x6xi32>, tensor<?x8xi32>) attributes {ds.entry = "decode"} {
  %l = ds.router_logits %x, %w : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %wt, %i = ds.moe_select %l {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 6 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %l3 = ds.router_logits %x, %w3 : tensor<?x32xbf16>, tensor<256x32xbf16> -> tensor<?x256xf32>
  %wt3, %i3 = ds.moe_select %l3 {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 8 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %i, %i3 : tensor<?x6xi32>, tensor<?x8xi32>
}

// Logits read by anything else stay a product of their own, and so does
// a selection of logits from elsewhere.
// CHECK-LABEL: func.func @logits_used_twice
// CHECK-NEXT: ds.router_logits
// CHECK-NEXT: ds.moe_select
// CHECK-NEXT: return
// CHECK-LABEL: func.func @logits_from_an_argument
// CHECK-NEXT: ds.moe_select
// CHECK-NEXT: return
func.func @logits_used_twice(%x: tensor<?x32xbf16>, %w: tensor<64x32xbf16>) -> (tensor<?x64xf32>, tensor<?x6xi32>) attributes {ds.entry = "decode"} {
  %l = ds.router_logits %x, %w : tensor<?x32xbf16>, tensor<64x32xbf16> -> tensor<?x64xf32>
  %wt, %i = ds.moe_select %l {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 6 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  return %l, %i : tensor<?x64xf32>, tensor<?x6xi32>
}
func.func @logits_from_an_argument(%l: tensor<?x64xf32>) -> tensor<?x6xi32> attributes {ds.entry = "decode"} {
  %wt, %i = ds.moe_select %l {scoring = #ds.scoring<softmax>, topk_method = #ds.topk_method<greedy>, top_k = 6 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, norm_topk_prob = false, routed_scaling_factor = 1.0 : f64}
      : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  return %i : tensor<?x6xi32>
}
