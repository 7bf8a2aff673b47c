//===- CpuDevice.cpp - thread pool for host kernels ----------------------===//
//
// Workers sleep on a condition variable; a launch bumps the generation,
// each worker computes its share, the caller computes share 0 and waits for
// the rest.
//
//===----------------------------------------------------------------------===//

#include "dsrt/CpuDevice.h"

#include <algorithm>

namespace dsrt {

CpuDevice::CpuDevice(unsigned threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { work(i); });
}

CpuDevice::~CpuDevice() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

static void runShare(HostKernel kernel, void **args, int64_t tokens,
                     int64_t extent, unsigned share, unsigned shares) {
  int64_t begin = extent * share / shares;
  int64_t end = extent * (share + 1) / shares;
  if (begin < end)
    kernel(args, tokens, begin, end);
}

void CpuDevice::work(unsigned worker) {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_)
      return;
    seen = generation_;
    HostKernel kernel = kernel_;
    void **args = args_;
    int64_t tokens = tokens_, extent = extent_;
    unsigned shares = shares_;
    lock.unlock();
    if (worker < shares)
      runShare(kernel, args, tokens, extent, worker, shares);
    lock.lock();
    if (--pending_ == 0)
      done_.notify_one();
  }
}

void CpuDevice::run(HostKernel kernel, void **args, int64_t tokens,
                    int64_t extent) {
  unsigned shares = static_cast<unsigned>(
      std::min<int64_t>(extent, static_cast<int64_t>(threads())));
  if (shares <= 1 || workers_.empty()) {
    if (extent > 0)
      kernel(args, tokens, 0, extent);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    kernel_ = kernel;
    args_ = args;
    tokens_ = tokens;
    extent_ = extent;
    shares_ = shares;
    pending_ = static_cast<unsigned>(workers_.size());
    ++generation_;
  }
  start_.notify_all();
  runShare(kernel, args, tokens, extent, 0, shares);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

} // namespace dsrt
