//===- CudaDriver.cpp - dlopen the CUDA driver ---------------------------===//
//
// Resolves the driver API from libcuda.so.1 (the _v2 symbols where the API
// versioned them).
//
//===----------------------------------------------------------------------===//

#include "dsrt/CudaDriver.h"

#include <dlfcn.h>
#include <initializer_list>

namespace dsrt {

Expected<const CudaDriver *> CudaDriver::load() {
  static CudaDriver driver;
  static std::string error;
  static bool loaded = false;
  if (loaded)
    return error.empty() ? Expected<const CudaDriver *>(&driver)
                         : Expected<const CudaDriver *>::error(error);
  loaded = true;
  void *library = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    error = "no NVIDIA driver: libcuda.so.1 cannot be loaded";
    return Expected<const CudaDriver *>::error(error);
  }
  auto resolve = [&](auto &slot, const char *name) {
    void *symbol = ::dlsym(library, name);
    if (!symbol && error.empty())
      error = std::string("the NVIDIA driver lacks ") + name;
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(symbol);
  };
  resolve(driver.cuInit, "cuInit");
  resolve(driver.cuDeviceGet, "cuDeviceGet");
  resolve(driver.cuDeviceGetCount, "cuDeviceGetCount");
  resolve(driver.cuDeviceGetName, "cuDeviceGetName");
  resolve(driver.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  resolve(driver.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  resolve(driver.cuCtxSetCurrent, "cuCtxSetCurrent");
  resolve(driver.cuCtxSynchronize, "cuCtxSynchronize");
  resolve(driver.cuModuleLoadData, "cuModuleLoadData");
  resolve(driver.cuModuleGetFunction, "cuModuleGetFunction");
  resolve(driver.cuMemAlloc, "cuMemAlloc_v2");
  resolve(driver.cuMemFree, "cuMemFree_v2");
  resolve(driver.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  resolve(driver.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  resolve(driver.cuMemsetD8, "cuMemsetD8_v2");
  resolve(driver.cuMemcpyDtoD, "cuMemcpyDtoD_v2");
  // CUDA 12.0+ drivers.
  resolve(driver.cuLaunchKernelEx, "cuLaunchKernelEx");
  resolve(driver.cuFuncSetAttribute, "cuFuncSetAttribute");
  resolve(driver.cuGetErrorName, "cuGetErrorName");
  resolve(driver.cuStreamCreate, "cuStreamCreate");
  resolve(driver.cuStreamSynchronize, "cuStreamSynchronize");
  resolve(driver.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  resolve(driver.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  resolve(driver.cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  resolve(driver.cuStreamEndCapture, "cuStreamEndCapture");
  resolve(driver.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
  resolve(driver.cuGraphLaunch, "cuGraphLaunch");
  resolve(driver.cuGraphDestroy, "cuGraphDestroy");
  resolve(driver.cuGraphExecDestroy, "cuGraphExecDestroy");
  // Events time kernels (--profile) and join the streams of a graph's
  // concurrent launches (without them a graph runs its launches in list
  // order); drivers before CUDA 12.8 name the elapsed-time call without
  // _v2.
  auto optional = [&](auto &slot, std::initializer_list<const char *> names) {
    for (const char *name : names)
      if (void *symbol = ::dlsym(library, name)) {
        slot =
            reinterpret_cast<std::remove_reference_t<decltype(slot)>>(symbol);
        return;
      }
  };
  optional(driver.cuEventCreate, {"cuEventCreate"});
  optional(driver.cuEventRecord, {"cuEventRecord"});
  optional(driver.cuEventRecordWithFlags, {"cuEventRecordWithFlags"});
  optional(driver.cuStreamWaitEvent, {"cuStreamWaitEvent"});
  optional(driver.cuMemsetD8Async, {"cuMemsetD8Async"});
  optional(driver.cuEventSynchronize, {"cuEventSynchronize"});
  optional(driver.cuEventElapsedTime,
           {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
  optional(driver.cuEventDestroy, {"cuEventDestroy_v2", "cuEventDestroy"});
  optional(driver.cuMemHostAlloc, {"cuMemHostAlloc"});
  optional(driver.cuMemFreeHost, {"cuMemFreeHost"});
  optional(driver.cuStreamDestroy, {"cuStreamDestroy_v2", "cuStreamDestroy"});
  if (!error.empty())
    return Expected<const CudaDriver *>::error(error);
  return &driver;
}

Status CudaDriver::check(CUresult result, const char *call) const {
  if (result == 0)
    return Status::success();
  const char *name = nullptr;
  if (!cuGetErrorName || cuGetErrorName(result, &name) != 0 || !name)
    name = "unknown CUDA error";
  return Status::error(std::string(call) + " failed: " + name + " (" +
                       std::to_string(result) + ")");
}

} // namespace dsrt
