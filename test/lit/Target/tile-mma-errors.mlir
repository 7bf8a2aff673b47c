// RUN: not dsc-opt %s --split-input-file --ds-configure-kernels="target=cuda:sm_90a keep-existing=true" --ds-plan-buffers --ds-generate-kernels -o /dev/null 2>&1 | FileCheck %s
// RUN: not dsc-opt %s --split-input-file --ds-configure-kernels="target=cuda:sm_80 keep-existing=true" --ds-plan-buffers --ds-generate-kernels -o /dev/null 2>&1 | FileCheck %s --check-prefix=SM80

// A hand-written `tile_mma` configuration that the product does not fit is
// refused by the generator with what is missing, never generated wrong.

// Shared memory for no staged row: one row of 256 bf16 (+16 bytes) and
// 4 warps' sums need 528 + 2048 bytes.
// CHECK: error: 'ds.linear' op cannot be generated as 'tile_mma': dynamic_shared_bytes = 256 holds no staged row (one needs 2576)
func.func @decode(%x: tensor<?x256xbf16>, %w: tensor<64x256xbf16>)
    attributes {ds.entry = "decode"} {
  %a = ds.linear %x, %w {ds.config = #ds.kernel_config<strategy = tile_mma, dynamic_shared_bytes = 65536>} : tensor<?x256xbf16>, tensor<64x256xbf16> -> tensor<?x64xbf16>
  %b = ds.linear %x, %w {ds.config = #ds.kernel_config<strategy = tile_mma, dynamic_shared_bytes = 256>} : tensor<?x256xbf16>, tensor<64x256xbf16> -> tensor<?x64xbf16>
  return
}

// -----

// Output features that are not whole tiles of 8.
// CHECK: error: 'ds.linear' op cannot be generated as 'tile_mma': tile_mma needs a multiple of 8 output features, not 60
func.func @decode(%x: tensor<?x256xbf16>, %w: tensor<60x256xbf16>)
    attributes {ds.entry = "decode"} {
  %a = ds.linear %x, %w {ds.config = #ds.kernel_config<strategy = tile_mma, dynamic_shared_bytes = 65536>} : tensor<?x256xbf16>, tensor<60x256xbf16> -> tensor<?x60xbf16>
  return
}

// -----

// fp8 weights on a chip without the e4m3x2 conversion (sm_80); sm_90a
// generates the same product.
// SM80: error: 'ds.linear' op cannot be generated as 'tile_mma': fp8 weights need the e4m3x2 conversion (sm_89+)
// CHECK-NOT: fp8 weights need
func.func @decode(%x: tensor<?x256xbf16>, %w: !ds.fp8_block<128x256, block = 128x128, scales = f32>)
    attributes {ds.entry = "decode"} {
  %a = ds.linear %x, %w {ds.config = #ds.kernel_config<strategy = tile_mma, dynamic_shared_bytes = 65536>} : tensor<?x256xbf16>, !ds.fp8_block<128x256, block = 128x128, scales = f32> -> tensor<?x128xbf16>
  return
}
