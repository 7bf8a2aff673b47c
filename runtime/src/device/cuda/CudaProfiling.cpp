//===- CudaProfiling.cpp - time per kernel (DSRT_PROFILE) ----------------===//
//
// DSRT_PROFILE=1 records a CUDA event before every launch and reads the
// elapsed times after the chunk's one synchronisation, so kernels run back
// to back as usual and each is charged its GPU time. DSRT_PROFILE=sync
// synchronises after every launch and charges the host's wall time instead
// (launch latency included). The session prints the table, sorted by time,
// on stderr when it ends.
//
//===----------------------------------------------------------------------===//

#include "device/cuda/CudaSession.h"

#include <algorithm>
#include <cstdio>

namespace dsrt {

bool CudaSession::eventProfile() const {
  return profile_ && !profileSync_ && driver_->cuEventCreate;
}

Status CudaSession::recordEvent(std::string kernel) {
  const CudaDriver &d = *driver_;
  if (eventsUsed_ == events_.size()) {
    CUevent e = nullptr;
    if (Status s = d.check(d.cuEventCreate(&e, 0), "cuEventCreate"); !s)
      return s;
    events_.push_back(e);
  }
  eventKernels_.push_back(std::move(kernel));
  return d.check(d.cuEventRecord(events_[eventsUsed_++], stream_),
                 "cuEventRecord");
}

Status CudaSession::collectEvents() {
  const CudaDriver &d = *driver_;
  for (size_t i = 0; i + 1 < eventsUsed_; ++i) {
    float ms = 0;
    if (Status s =
            d.check(d.cuEventElapsedTime(&ms, events_[i], events_[i + 1]),
                    "cuEventElapsedTime");
        !s)
      return s;
    auto &slot = profileTimes_[eventKernels_[i]];
    slot.first += ms * 1e-3;
    slot.second += 1;
  }
  eventsUsed_ = 0;
  eventKernels_.clear();
  return Status::success();
}

Status
CudaSession::chargeHostTime(const fb::Kernel &kernel,
                            std::chrono::steady_clock::time_point launched) {
  const CudaDriver &d = *driver_;
  if (Status s = d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
      !s)
    return s;
  auto &slot = profileTimes_[kernel.summary()->str()];
  slot.first +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - launched)
          .count();
  slot.second += 1;
  return Status::success();
}

void CudaSession::printProfile() const {
  std::vector<std::pair<double, std::string>> rows;
  double total = 0;
  for (const auto &[name, entry] : profileTimes_) {
    rows.emplace_back(entry.first, name);
    total += entry.first;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(stderr, "DSRT_PROFILE: %.1f ms in kernels (%s)\n", total * 1e3,
               eventProfile() ? "GPU time between CUDA events"
                              : "host time, synchronised per launch");
  for (const auto &[seconds, name] : rows)
    std::fprintf(stderr, "  %8.2f ms %5.1f%% %6lld x  %s\n", seconds * 1e3,
                 100 * seconds / total,
                 static_cast<long long>(profileTimes_.at(name).second),
                 name.substr(0, 110).c_str());
}

} // namespace dsrt
