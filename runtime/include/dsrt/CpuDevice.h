//===- CpuDevice.h - run host kernels on a thread pool ------------*- C++
//-*-===//
//
// The `cpu` device: kernels compiled into the executable, called through
// the table the compiler emits. A launch splits the kernel's parallel
// dimension into one contiguous share per worker and waits for all of them.
//
// Threading: one launch at a time; run() must not be called concurrently.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_CPUDEVICE_H
#define DSRT_CPUDEVICE_H

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace dsrt {

/// The ABI of every host kernel (see
/// compiler/include/dsc/Target/HostKernels.h).
using HostKernel = void (*)(void **args, int64_t tokens, int64_t begin,
                            int64_t end);

class CpuDevice {
public:
  /// `threads` workers (0: one per hardware thread).
  explicit CpuDevice(unsigned threads = 0);
  ~CpuDevice();
  CpuDevice(const CpuDevice &) = delete;
  CpuDevice &operator=(const CpuDevice &) = delete;

  /// Runs `kernel` over [0, extent) split between the workers.
  void run(HostKernel kernel, void **args, int64_t tokens, int64_t extent);
  unsigned threads() const {
    return static_cast<unsigned>(workers_.size()) + 1;
  }

private:
  void work(unsigned worker);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  uint64_t generation_ = 0;
  unsigned pending_ = 0;
  bool stopping_ = false;
  // The launch in flight.
  HostKernel kernel_ = nullptr;
  void **args_ = nullptr;
  int64_t tokens_ = 0, extent_ = 0;
  unsigned shares_ = 0;
};

} // namespace dsrt

#endif // DSRT_CPUDEVICE_H
