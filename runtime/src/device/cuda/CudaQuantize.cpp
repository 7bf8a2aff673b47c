//===- CudaQuantize.cpp - bf16 to fp8 e4m3 on the GPU ---------------------===//
//
// The PTX of the device quantiser (see CudaQuantize.h) and its launches:
// one thread block of 256 threads per block of the matrix, in grids of at
// most 65535 rows of blocks.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaQuantize.h"

#include <algorithm>

namespace dsrt {

namespace {

/// Element %r18 of the thread's block (w = %r13 columns from row %r11,
/// column %r9; the band is %r2 columns wide): its index in the band in
/// %rd5, its bf16 bits widened to f32 bits in %r21.
#define DSRT_QUANTIZE_LOAD_ELEMENT                                             \
  "  div.u32 %r19, %r18, %r13;\n"                                              \
  "  mul.lo.u32 %r20, %r19, %r13;\n"                                           \
  "  sub.u32 %r20, %r18, %r20;\n"                                              \
  "  add.u32 %r19, %r19, %r11;\n"                                              \
  "  add.u32 %r20, %r20, %r9;\n"                                               \
  "  mul.wide.u32 %rd5, %r19, %r2;\n"                                          \
  "  cvt.u64.u32 %rd6, %r20;\n"                                                \
  "  add.u64 %rd5, %rd5, %rd6;\n"                                              \
  "  shl.b64 %rd6, %rd5, 1;\n"                                                 \
  "  add.u64 %rd6, %rd1, %rd6;\n"                                              \
  "  ld.global.nc.u16 %h1, [%rd6];\n"                                          \
  "  cvt.u32.u16 %r21, %h1;\n"                                                 \
  "  shl.b32 %r21, %r21, 16;\n"

/// The kernel, for any chip from sm_50 (the driver compiles it). Each
/// step of encodeE4M3 (Quantize.cpp) has its instruction here: the
/// normal path's integer rounding, the subnormal path's a * 512 rounded
/// with ties to even, saturation from 448, and the sign.
const char kQuantizeFp8Ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    "\n"
    "// One thread block per block of the matrix: the block's largest finite "
    "|w|\n"
    "// (f32 bits order like the values) and its non-finite count, the scale,\n"
    "// then every value divided by the scale and encoded as e4m3.\n"
    ".visible .entry dsrt_quantize_fp8(\n"
    "    .param .u64 param_source,\n"
    "    .param .u64 param_values,\n"
    "    .param .u64 param_scales,\n"
    "    .param .u64 param_non_finite,\n"
    "    .param .u32 param_rows,\n"
    "    .param .u32 param_cols,\n"
    "    .param .u32 param_block_rows,\n"
    "    .param .u32 param_block_cols)\n"
    "{\n"
    "  .reg .pred %p<16>;\n"
    "  .reg .b16 %h<2>;\n"
    "  .reg .b32 %r<64>;\n"
    "  .reg .b64 %rd<16>;\n"
    "  .reg .f32 %f<16>;\n"
    "  .shared .align 4 .b32 block_amax;\n"
    "  .shared .align 4 .b32 block_non_finite;\n"
    "\n"
    "  ld.param.u64 %rd1, [param_source];\n"
    "  cvta.to.global.u64 %rd1, %rd1;\n"
    "  ld.param.u64 %rd2, [param_values];\n"
    "  cvta.to.global.u64 %rd2, %rd2;\n"
    "  ld.param.u64 %rd3, [param_scales];\n"
    "  cvta.to.global.u64 %rd3, %rd3;\n"
    "  ld.param.u64 %rd4, [param_non_finite];\n"
    "  cvta.to.global.u64 %rd4, %rd4;\n"
    "  ld.param.u32 %r1, [param_rows];\n"
    "  ld.param.u32 %r2, [param_cols];\n"
    "  ld.param.u32 %r3, [param_block_rows];\n"
    "  ld.param.u32 %r4, [param_block_cols];\n"
    "  mov.u32 %r5, %ctaid.x;\n"
    "  mov.u32 %r6, %ctaid.y;\n"
    "  mov.u32 %r7, %tid.x;\n"
    "  mov.u32 %r8, %ntid.x;\n"
    "  // The block: columns [c0, c1), rows [r0, r1), n = w * h elements.\n"
    "  mul.lo.u32 %r9, %r5, %r4;\n"
    "  add.u32 %r10, %r9, %r4;\n"
    "  min.u32 %r10, %r10, %r2;\n"
    "  mul.lo.u32 %r11, %r6, %r3;\n"
    "  add.u32 %r12, %r11, %r3;\n"
    "  min.u32 %r12, %r12, %r1;\n"
    "  sub.u32 %r13, %r10, %r9;\n"
    "  sub.u32 %r14, %r12, %r11;\n"
    "  mul.lo.u32 %r15, %r13, %r14;\n"
    "  mov.u32 %r50, 0;\n"
    "  setp.eq.u32 %p1, %r7, 0;\n"
    "  @%p1 st.shared.u32 [block_amax], %r50;\n"
    "  @%p1 st.shared.u32 [block_non_finite], %r50;\n"
    "  bar.sync 0;\n"
    "  mov.u32 %r16, 0;\n"
    "  mov.u32 %r17, 0;\n"
    "  mov.u32 %r18, %r7;\n"
    "AMAX_LOOP:\n"
    "  setp.ge.u32 %p2, %r18, %r15;\n"
    "  @%p2 bra AMAX_DONE;\n" DSRT_QUANTIZE_LOAD_ELEMENT
    "  and.b32 %r22, %r21, 2147483647;\n"
    "  setp.ge.u32 %p3, %r22, 2139095040;\n"
    "  @%p3 add.u32 %r17, %r17, 1;\n"
    "  @!%p3 max.u32 %r16, %r16, %r22;\n"
    "  add.u32 %r18, %r18, %r8;\n"
    "  bra AMAX_LOOP;\n"
    "AMAX_DONE:\n"
    "  atom.shared.max.u32 %r23, [block_amax], %r16;\n"
    "  atom.shared.add.u32 %r23, [block_non_finite], %r17;\n"
    "  bar.sync 0;\n"
    "  ld.shared.u32 %r24, [block_amax];\n"
    "  ld.shared.u32 %r25, [block_non_finite];\n"
    "  // s = amax / 448, or 0 when the block holds a non-finite value.\n"
    "  mov.b32 %f1, %r24;\n"
    "  div.rn.f32 %f2, %f1, 0f43E00000;\n"
    "  setp.ne.u32 %p4, %r25, 0;\n"
    "  @%p4 mov.f32 %f2, 0f00000000;\n"
    "  mov.u32 %r26, %nctaid.x;\n"
    "  mad.lo.u32 %r27, %r6, %r26, %r5;\n"
    "  mul.wide.u32 %rd7, %r27, 4;\n"
    "  add.u64 %rd7, %rd3, %rd7;\n"
    "  @%p1 st.global.f32 [%rd7], %f2;\n"
    "  and.pred %p5, %p1, %p4;\n"
    "  cvt.u64.u32 %rd8, %r25;\n"
    "  @%p5 atom.global.add.u64 %rd9, [%rd4], %rd8;\n"
    "  setp.eq.f32 %p6, %f2, 0f00000000;\n"
    "  mov.u32 %r18, %r7;\n"
    "ENCODE_LOOP:\n"
    "  setp.ge.u32 %p2, %r18, %r15;\n"
    "  @%p2 bra ENCODE_DONE;\n" DSRT_QUANTIZE_LOAD_ELEMENT
    "  mov.b32 %f3, %r21;\n"
    "  div.rn.f32 %f4, %f3, %f2;\n"
    "  mov.b32 %r30, %f4;\n"
    "  shr.u32 %r31, %r30, 24;\n"
    "  and.b32 %r31, %r31, 128;\n"
    "  and.b32 %r32, %r30, 2147483647;\n"
    "  mov.b32 %f5, %r32;\n"
    "  // Normals: 3 of the 23 mantissa bits, the 20 dropped rounded to "
    "nearest\n"
    "  // even; a carry into the exponent rounds up to the next binade.\n"
    "  shr.u32 %r33, %r32, 20;\n"
    "  and.b32 %r33, %r33, 1;\n"
    "  add.u32 %r34, %r32, 524287;\n"
    "  add.u32 %r34, %r34, %r33;\n"
    "  shr.u32 %r35, %r34, 23;\n"
    "  sub.s32 %r35, %r35, 120;\n"
    "  shr.u32 %r36, %r34, 20;\n"
    "  and.b32 %r36, %r36, 7;\n"
    "  shl.b32 %r37, %r35, 3;\n"
    "  or.b32 %r37, %r37, %r36;\n"
    "  setp.gt.s32 %p7, %r35, 15;\n"
    "  setp.eq.s32 %p8, %r35, 15;\n"
    "  setp.eq.u32 %p9, %r36, 7;\n"
    "  and.pred %p8, %p8, %p9;\n"
    "  or.pred %p7, %p7, %p8;\n"
    "  selp.b32 %r37, 126, %r37, %p7;\n"
    "  // Subnormals: a * 512 rounded to an integer, ties to even.\n"
    "  mul.rn.f32 %f6, %f5, 0f44000000;\n"
    "  cvt.rzi.u32.f32 %r38, %f6;\n"
    "  cvt.rn.f32.u32 %f7, %r38;\n"
    "  sub.rn.f32 %f8, %f6, %f7;\n"
    "  setp.gt.f32 %p10, %f8, 0f3F000000;\n"
    "  setp.eq.f32 %p11, %f8, 0f3F000000;\n"
    "  and.b32 %r39, %r38, 1;\n"
    "  setp.ne.u32 %p12, %r39, 0;\n"
    "  and.pred %p11, %p11, %p12;\n"
    "  or.pred %p10, %p10, %p11;\n"
    "  @%p10 add.u32 %r38, %r38, 1;\n"
    "  setp.lt.f32 %p13, %f5, 0f3C800000;\n"
    "  selp.b32 %r40, %r38, %r37, %p13;\n"
    "  // From 448 up: saturate; NaN stays NaN; a zero scale gives 0.\n"
    "  setp.ge.f32 %p14, %f5, 0f43E00000;\n"
    "  selp.b32 %r40, 126, %r40, %p14;\n"
    "  setp.gt.u32 %p15, %r32, 2139095040;\n"
    "  selp.b32 %r40, 127, %r40, %p15;\n"
    "  or.b32 %r40, %r40, %r31;\n"
    "  selp.b32 %r40, 0, %r40, %p6;\n"
    "  add.u64 %rd10, %rd2, %rd5;\n"
    "  st.global.u8 [%rd10], %r40;\n"
    "  add.u32 %r18, %r18, %r8;\n"
    "  bra ENCODE_LOOP;\n"
    "ENCODE_DONE:\n"
    "  ret;\n"
    "}\n";

#undef DSRT_QUANTIZE_LOAD_ELEMENT

constexpr unsigned kThreads = 256;
constexpr int64_t kMaxGridRows = 65535;

} // namespace

Status CudaFp8Quantizer::load(const CudaDriver &driver) {
  driver_ = &driver;
  const CudaDriver &d = driver;
  CUmodule module = nullptr;
  if (Status s = d.check(d.cuModuleLoadData(&module, kQuantizeFp8Ptx),
                         "cuModuleLoadData(fp8 quantiser)");
      !s)
    return s;
  return d.check(d.cuModuleGetFunction(&function_, module, "dsrt_quantize_fp8"),
                 "cuModuleGetFunction(dsrt_quantize_fp8)");
}

Status CudaFp8Quantizer::launch(CUstream stream, CUdeviceptr source,
                                CUdeviceptr values, CUdeviceptr scales,
                                CUdeviceptr nonFinite, int64_t rows,
                                int64_t cols, int64_t blockRows,
                                int64_t blockCols) const {
  if (!function_)
    return Status::error("internal error: the fp8 quantiser is not loaded");
  if (rows <= 0 || cols <= 0)
    return Status::success();
  if (cols > UINT32_MAX / 2 || rows > UINT32_MAX || blockRows <= 0 ||
      blockCols <= 0 || blockRows > UINT32_MAX || blockCols > UINT32_MAX)
    return Status::error("the fp8 quantiser cannot take a " +
                         std::to_string(rows) + " x " + std::to_string(cols) +
                         " matrix");
  int64_t blocksPerRow = (cols + blockCols - 1) / blockCols;
  // Bands of at most kMaxGridRows rows of blocks (the grid's y limit).
  for (int64_t row = 0; row < rows; row += kMaxGridRows * blockRows) {
    int64_t bandRows = std::min(rows - row, kMaxGridRows * blockRows);
    CUdeviceptr bandSource = source + uint64_t(row * cols) * 2;
    CUdeviceptr bandValues = values + uint64_t(row * cols);
    CUdeviceptr bandScales =
        scales + uint64_t(row / blockRows * blocksPerRow) * 4;
    uint32_t r = uint32_t(bandRows), c = uint32_t(cols),
             br = uint32_t(blockRows), bc = uint32_t(blockCols);
    void *params[] = {&bandSource, &bandValues, &bandScales, &nonFinite,
                      &r,          &c,          &br,         &bc};
    CUlaunchConfig config{uint32_t(blocksPerRow),
                          uint32_t((bandRows + blockRows - 1) / blockRows),
                          1,
                          kThreads,
                          1,
                          1,
                          0,
                          stream,
                          nullptr,
                          0};
    if (Status s = driver_->check(
            driver_->cuLaunchKernelEx(&config, function_, params, nullptr),
            "cuLaunchKernelEx(fp8 quantiser)");
        !s)
      return s;
  }
  return Status::success();
}

} // namespace dsrt
