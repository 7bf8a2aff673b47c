// RUN: dsc-opt %s --ds-fuse-epilogues | FileCheck %s

// ds-fuse-epilogues: a ds.add of a single-use ds.linear becomes the
// linear's addend, chains fold in order, and the fused product takes the
// add's place.

// CHECK-LABEL: func.func @residual
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xbf16>, %[[W:.*]]: tensor<16x16xbf16>, %[[H:.*]]: tensor<?x16xbf16>)
// CHECK-NEXT: %[[Y:.*]] = ds.linear %[[X]], %[[W]] plus(%[[H]] : tensor<?x16xbf16>) : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
// CHECK-NEXT: return %[[Y]]
func.func @residual(%x: tensor<?x16xbf16>, %w: tensor<16x16xbf16>, %h: tensor<?x16xbf16>) -> tensor<?x16xbf16> {
  %o = ds.linear %x, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %s = ds.add %h, %o : tensor<?x16xbf16>
  return %s : tensor<?x16xbf16>
}

// The shared expert's down projection, plus the routed sum, plus the
// residual: one product with two addends in that order, after the routed
// experts.
// CHECK-LABEL: func.func @moe_output
// CHECK-SAME: (%[[A:.*]]: tensor<?x32xbf16>, %[[W:.*]]: tensor<16x32xbf16>, %[[R:.*]]: tensor<?x16xbf16>, %[[H:.*]]: tensor<?x16xbf16>)
// CHECK-NEXT: %[[Y:.*]] = ds.linear %[[A]], %[[W]] plus(%[[R]], %[[H]] : tensor<?x16xbf16>, tensor<?x16xbf16>)
// CHECK-NEXT: return %[[Y]]
func.func @moe_output(%a: tensor<?x32xbf16>, %w: tensor<16x32xbf16>, %routed: tensor<?x16xbf16>, %h: tensor<?x16xbf16>) -> tensor<?x16xbf16> {
  %shared = ds.linear %a, %w : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %mlp = ds.add %routed, %shared : tensor<?x16xbf16>
  %out = ds.add %h, %mlp : tensor<?x16xbf16>
  return %out : tensor<?x16xbf16>
}

// A product used elsewhere too stays a product; an add of two fusible
// products takes the later one, and chains keep folding.
// CHECK-LABEL: func.func @not_fused
// CHECK: %[[P:.*]] = ds.linear %{{.*}}, %{{.*}} : tensor
// CHECK-NEXT: %[[S:.*]] = ds.add %[[P]], %{{.*}} : tensor<?x16xbf16>
// CHECK-NEXT: %[[Q:.*]] = ds.linear %{{.*}}, %{{.*}} : tensor
// CHECK-NEXT: %[[T:.*]] = ds.linear %{{.*}}, %{{.*}} plus(%[[Q]], %[[S]] : tensor<?x16xbf16>, tensor<?x16xbf16>)
// CHECK-NEXT: return %[[P]], %[[T]]
func.func @not_fused(%x: tensor<?x16xbf16>, %w: tensor<16x16xbf16>, %h: tensor<?x16xbf16>) -> (tensor<?x16xbf16>, tensor<?x16xbf16>) {
  %p = ds.linear %x, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %s = ds.add %p, %h : tensor<?x16xbf16>
  %q = ds.linear %x, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %r = ds.linear %x, %w : tensor<?x16xbf16>, tensor<16x16xbf16> -> tensor<?x16xbf16>
  %t = ds.add %q, %r : tensor<?x16xbf16>
  %u = ds.add %t, %s : tensor<?x16xbf16>
  return %p, %u : tensor<?x16xbf16>, tensor<?x16xbf16>
}

// A SwiGLU MLP's gate and up products over one input: one gated product in
// the swiglu's place, the down projection then takes the residual.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xbf16>, %[[G:.*]]: tensor<32x16xbf16>, %[[U:.*]]: tensor<32x16xbf16>, %[[D:.*]]: tensor<16x32xbf16>, %[[H:.*]]: tensor<?x16xbf16>)
// CHECK-NEXT: %[[A:.*]] = ds.gated_linear %[[X]], %[[G]], %[[U]] : tensor<?x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
// CHECK-NEXT: %[[Y:.*]] = ds.linear %[[A]], %[[D]] plus(%[[H]] : tensor<?x16xbf16>)
// CHECK-NEXT: return %[[Y]]
func.func @mlp(%x: tensor<?x16xbf16>, %wg: tensor<32x16xbf16>, %wu: tensor<32x16xbf16>, %wd: tensor<16x32xbf16>, %h: tensor<?x16xbf16>) -> tensor<?x16xbf16> {
  %g = ds.linear %x, %wg : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %u = ds.linear %x, %wu : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %a = ds.swiglu %g, %u : tensor<?x32xbf16>
  %d = ds.linear %a, %wd : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %y = ds.add %d, %h : tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// Not fused: products of different inputs, or a gate used elsewhere too.
// CHECK-LABEL: func.func @not_gated
// CHECK-NOT: ds.gated_linear
// CHECK: ds.swiglu
// CHECK: ds.swiglu
// CHECK-NOT: ds.gated_linear
func.func @not_gated(%x: tensor<?x16xbf16>, %z: tensor<?x16xbf16>, %wg: tensor<32x16xbf16>, %wu: tensor<32x16xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>) {
  %g = ds.linear %x, %wg : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %u = ds.linear %z, %wu : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %a = ds.swiglu %g, %u : tensor<?x32xbf16>
  %g2 = ds.linear %x, %wg : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %u2 = ds.linear %x, %wu : tensor<?x16xbf16>, tensor<32x16xbf16> -> tensor<?x32xbf16>
  %b = ds.swiglu %g2, %u2 : tensor<?x32xbf16>
  return %a, %b, %g2 : tensor<?x32xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>
}

// The shared experts' down projection whose first addend is the routed
// experts' sum joins the routed kernel (ds.moe_expert_down ... shared),
// keeping the linear's other addends, in the linear's place. A routed sum
// used elsewhere too, or not the first addend, stays apart.
// CHECK-LABEL: func.func @shared_down
// CHECK-SAME: (%[[HR:[^:]*]]: tensor<?x2x8xbf16>, %[[CW:[^:]*]]: tensor<?x2xf32>, %[[CI:[^:]*]]: tensor<?x2xi32>, %[[D:[^:]*]]: tensor<4x16x8xbf16>, %[[HS:[^:]*]]: tensor<?x32xbf16>, %[[SD:[^:]*]]: tensor<16x32xbf16>, %[[X:[^:]*]]: tensor<?x16xbf16>)
// CHECK-NEXT: %[[Y:.*]] = ds.moe_expert_down %[[HR]], %[[CW]], %[[CI]], %[[D]] shared(%[[HS]], %[[SD]] : tensor<?x32xbf16>, tensor<16x32xbf16>) plus(%[[X]] : tensor<?x16xbf16>) : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
// CHECK-NEXT: return %[[Y]]
func.func @shared_down(%h: tensor<?x2x8xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %d: tensor<4x16x8xbf16>, %hs: tensor<?x32xbf16>, %sd: tensor<16x32xbf16>, %x: tensor<?x16xbf16>) -> tensor<?x16xbf16> {
  %routed = ds.moe_expert_down %h, %w, %i, %d : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  %shared = ds.linear %hs, %sd : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %mlp = ds.add %routed, %shared : tensor<?x16xbf16>
  %out = ds.add %x, %mlp : tensor<?x16xbf16>
  return %out : tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @shared_down_kept
// CHECK: %[[R:.*]] = ds.moe_expert_down %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}} : tensor
// CHECK-NEXT: ds.linear {{.*}} plus(%[[R]] :
// CHECK: %[[R2:.*]] = ds.moe_expert_down %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}} : tensor
// CHECK-NEXT: ds.linear {{.*}} plus(%{{[^,]*}}, %[[R2]] :
func.func @shared_down_kept(%h: tensor<?x2x8xbf16>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %d: tensor<4x16x8xbf16>, %hs: tensor<?x32xbf16>, %sd: tensor<16x32xbf16>, %x: tensor<?x16xbf16>) -> (tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>) {
  %routed = ds.moe_expert_down %h, %w, %i, %d : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  %shared = ds.linear %hs, %sd : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %mlp = ds.add %routed, %shared : tensor<?x16xbf16>
  %routed2 = ds.moe_expert_down %h, %w, %i, %d : tensor<?x2x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x16x8xbf16> -> tensor<?x16xbf16>
  %shared2 = ds.linear %hs, %sd : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %s2 = ds.add %x, %shared2 : tensor<?x16xbf16>
  %mlp2 = ds.add %routed2, %s2 : tensor<?x16xbf16>
  return %mlp, %routed, %mlp2 : tensor<?x16xbf16>, tensor<?x16xbf16>, tensor<?x16xbf16>
}
