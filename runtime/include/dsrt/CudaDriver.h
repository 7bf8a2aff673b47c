//===- CudaDriver.h - the CUDA driver API, loaded at run time -----*- C++
//-*-===//
//
// The few driver entry points the `cuda` device uses, resolved with dlopen
// from libcuda.so.1, so executables have no link-time dependency on the CUDA
// toolkit or driver. check() turns a CUresult into a message naming the
// call and the driver's error name.
//
// Threading: load() once; the table is read-only afterwards.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_CUDADRIVER_H
#define DSRT_CUDADRIVER_H

#include "dsrt/Expected.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsrt {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;
using CUgraph = CUgraph_st *;
using CUgraphExec = CUgraphExec_st *;
using CUcontext = CUctx_st *;
using CUmodule = CUmod_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
struct CUevent_st;
using CUevent = CUevent_st *;
/// CUlaunchAttribute (cuda.h, CUDA 12.0+): an id, padding to 8 bytes, and a
/// 64-byte union of values, of which dsc sets an int or the cluster shape.
struct CUlaunchAttribute_st {
  int id;
  char pad[4];
  union {
    char bytes[64];
    int programmaticStreamSerializationAllowed;
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
};
static_assert(sizeof(CUlaunchAttribute_st) == 72, "CUlaunchAttribute layout");
/// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel may
/// start before its predecessor in the stream completes (it waits with
/// griddepcontrol.wait); stream capture records a programmatic edge.
constexpr int kLaunchAttributeProgrammaticStreamSerialization = 6;
/// CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION: the grid runs as clusters of
/// value.clusterDim blocks (sm_90+), each co-scheduled on one GPC.
constexpr int kLaunchAttributeClusterDimension = 4;

/// CUlaunchConfig (cuda.h, CUDA 12.0+), field for field.
struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute_st *attrs;
  unsigned numAttrs;
};

struct CudaDriver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuLaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **,
                               void **);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph,
                                          unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  // Optional (null when the driver lacks them): kernel timing, and the
  // streams of a graph's concurrent launches.
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventRecordWithFlags)(CUevent, CUstream, unsigned);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  // Optional: pinned staging buffers of the weights' upload (without them
  // it stages through pageable memory), and freeing its streams.
  CUresult (*cuMemHostAlloc)(void **, size_t, unsigned);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuStreamDestroy)(CUstream);

  /// Loads libcuda.so.1 and resolves every entry point.
  static Expected<const CudaDriver *> load();

  /// Ok, or "<call> failed: CUDA_ERROR_..." for a failed CUresult.
  Status check(CUresult result, const char *call) const;
};

/// cuDeviceGetAttribute codes used here.
constexpr int kCuAttrComputeCapabilityMajor = 75;
constexpr int kCuAttrComputeCapabilityMinor = 76;
constexpr int kCuAttrL2CacheSize = 38;
/// CU_EVENT_RECORD_EXTERNAL: during stream capture, an event record node in
/// the graph (timed when the graph runs) instead of a capture dependency.
constexpr unsigned kCuEventRecordExternal = 1;
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
constexpr int kCuFuncAttrMaxDynamicSharedSizeBytes = 8;
/// CU_EVENT_DISABLE_TIMING.
constexpr unsigned kCuEventDisableTiming = 2;
/// CU_STREAM_NON_BLOCKING.
constexpr unsigned kCuStreamNonBlocking = 1;
/// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL.
constexpr int kCuStreamCaptureThreadLocal = 1;

} // namespace dsrt

#endif // DSRT_CUDADRIVER_H
