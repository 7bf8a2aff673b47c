// RUN: dsc-opt %s --ds-configure-kernels="target=cuda:sm_90a" --ds-plan-buffers --ds-generate-kernels | FileCheck %s

// ds.rms_norm of a row wider than a warp holds (V3's 7,168 columns: 28
// groups of 256) gets a block per row (`block`, 14 warps of 2 groups).
// Each lane issues its two groups' row and norm-weight loads together (16
// bytes each), leaves each group's sum of squares at [group][lane] in
// shared memory, and after a barrier adds all 28 in group order (the
// `warp` kernel's order, so the same bits); then it stores its two groups
// of the normalised row (16 bytes each) and the block meets again.

// The kernel record: 448 threads a row.
// CHECK: ds.kernel @dsc_rms_norm_block_7168 parallel = <tokens_x_static> extent = 448 rows = <tokens> config = <strategy = block, block = 448>
// CHECK: llvm.mlir.global internal @dsc_rms_norm_block_7168_square_sums() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<896 x f32>
// CHECK-LABEL: func.func @dsc_rms_norm_block_7168(
// CHECK-COUNT-4: llvm.load {{.*}}{alignment = 16 : i64} : !llvm.ptr -> vector<8xbf16>
// CHECK-NOT: nvvm.barrier0
// CHECK-COUNT-2: llvm.store {{.*}} : f32, !llvm.ptr
// CHECK: nvvm.barrier0
// CHECK-COUNT-28: llvm.load {{.*}} : !llvm.ptr -> f32
// CHECK: nvvm.shfl.sync bfly
// CHECK-NOT: nvvm.barrier0
// CHECK-COUNT-2: llvm.store {{.*}}{alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr
// CHECK: nvvm.barrier0

func.func @decode(%x: tensor<?x7168xbf16>, %g: tensor<7168xbf16>) -> tensor<?x7168xbf16>
    attributes {ds.entry = "decode"} {
  %n = ds.rms_norm %x, %g {eps = 1.0e-06 : f64} : tensor<?x7168xbf16>, tensor<7168xbf16>
  return %n : tensor<?x7168xbf16>
}
