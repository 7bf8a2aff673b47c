//===- CudaQuantize.h - bf16 to fp8 e4m3 on the GPU -------------*- C++ -*-===//
//
// The quantiser of `--quantize=fp8` weights on the device: the cuda session
// uploads each bf16 matrix in spans of whole rows of blocks and quantises
// them where they land, so the host never touches the values twice. The
// kernel is PTX text embedded here (the driver compiles it for the device,
// like the profiler's calibration kernel) and computes exactly what
// quantizeFP8Blocks (dsrt/Quantize.h) computes: the block's largest finite
// |w| over 448 as the scale (f32 division; 0 for a block holding a
// non-finite value, which is counted), each value divided by it (f32
// division) and encoded as e4m3 by encodeE4M3's integer steps (round to
// nearest even, saturating to 448). The unit test CudaQuantizeTest compares
// both bit for bit on a GPU. Internal to the library.
//
// Threading: like the session, one thread at a time.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_DEVICE_CUDA_CUDAQUANTIZE_H
#define DSRT_SRC_DEVICE_CUDA_CUDAQUANTIZE_H

#include "dsrt/CudaDriver.h"

#include <cstdint>

namespace dsrt {

class CudaFp8Quantizer {
public:
  /// Loads the kernel into the current context.
  Status load(const CudaDriver &driver);

  /// Enqueues on `stream` the quantisation of the `rows` x `cols` bf16
  /// matrix at `source` (rows: a multiple of blockRows, or the matrix's
  /// last rows) into e4m3 `values` and the row-major f32 scales of its
  /// blocks at `scales`; adds the count of non-finite values to the u64 at
  /// `nonFinite`.
  Status launch(CUstream stream, CUdeviceptr source, CUdeviceptr values,
                CUdeviceptr scales, CUdeviceptr nonFinite, int64_t rows,
                int64_t cols, int64_t blockRows, int64_t blockCols) const;

private:
  const CudaDriver *driver_ = nullptr;
  CUfunction function_ = nullptr;
};

} // namespace dsrt

#endif // DSRT_SRC_DEVICE_CUDA_CUDAQUANTIZE_H
