// RUN: dsc-opt %s -cse -canonicalize | FileCheck %s

// ds ops are pure: repeated weight reads and identical computations fold
// into one, and unused ones disappear.

ds.weight @w = "model.layers.0.mlp.gate_proj.weight" : tensor<16x32xbf16>

// CHECK-LABEL: func.func @dedupe
func.func @dedupe(%x: tensor<?x32xbf16>) -> (tensor<?x16xbf16>, tensor<?x16xbf16>) {
  // CHECK: %[[W:.*]] = ds.get_weight @w
  // CHECK-NEXT: %[[Y:.*]] = ds.linear %{{.*}}, %[[W]]
  // CHECK-NEXT: return %[[Y]], %[[Y]]
  %w0 = ds.get_weight @w : tensor<16x32xbf16>
  %w1 = ds.get_weight @w : tensor<16x32xbf16>
  %y0 = ds.linear %x, %w0 : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  %y1 = ds.linear %x, %w1 : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return %y0, %y1 : tensor<?x16xbf16>, tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @dead
func.func @dead(%x: tensor<?x32xbf16>) -> tensor<?x32xbf16> {
  // CHECK-NOT: ds.
  // CHECK: return
  %w = ds.get_weight @w : tensor<16x32xbf16>
  %y = ds.linear %x, %w : tensor<?x32xbf16>, tensor<16x32xbf16> -> tensor<?x16xbf16>
  return %x : tensor<?x32xbf16>
}
