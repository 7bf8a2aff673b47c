//===- UploadBenchmark.cpp - where a weights upload spends its time -------===//
//
// dsc-bench-upload FILE... : the parts of the CUDA weights upload
// (runtime/src/device/cuda/CudaMemory.cpp) measured apart on the files of
// a checkpoint, so that a slow `weights read+upload` phase can be pinned on
// the reads, the copies or their combination:
//   read   pread of 16 MB spans into a ring of pinned (cuMemHostAlloc)
//          buffers, then of pageable (aligned_alloc) ones, by 1, 4 and 16
//          threads; no copy to the device;
//   copy   cuMemcpyHtoDAsync of 16 MB from a few pinned buffers on 1 and 2
//          streams, and synchronous cuMemcpyHtoD from pageable ones, for as
//          many bytes as the files hold (at most DSC_UPLOAD_LIMIT_GB, 8 by
//          default), into one device buffer of 1 GB reused;
//   both   the reads and the copies together: as the loader runs them
//          (dsrt::streamSpans: each reader fills its own two pinned
//          buffers in turn, submits each copy on the buffer's stream and
//          waits on its event before reading into it again), by 4 and 16
//          threads, in 16 MB spans and in 6 MB ones (a V2-Lite expert
//          matrix is 5.8 MB, and the loader's spans are per tensor); the
//          same written out here; and reads and copies in turn, never at
//          once;
// each as GB/s. Without a GPU driver only the pageable reads run. Speed is
// reported, never asserted; run it on the GPU machine after startup.py has
// written a checkpoint (the warm page cache is what startup.py times).
//
//===----------------------------------------------------------------------===//

#include "dsrt/CudaDriver.h"
#include "dsrt/WeightStreaming.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kSpan = uint64_t(16) << 20;
constexpr uint64_t kDeviceBytes = uint64_t(1) << 30;

struct Span {
  int fd;
  uint64_t offset, bytes;
};

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "dsc-bench-upload: %s\n", message.c_str());
  std::exit(1);
}

void check(const dsrt::CudaDriver &d, dsrt::CUresult r, const char *call) {
  if (dsrt::Status s = d.check(r, call); !s)
    die(s.error());
}

/// The files' bytes in spans of `span` bytes (at most 16 MB), file by file,
/// at most `limit` bytes.
std::vector<Span> spansOf(const std::vector<int> &fds, uint64_t limit,
                          uint64_t span = kSpan) {
  std::vector<Span> spans;
  uint64_t total = 0;
  for (int fd : fds) {
    struct stat info;
    if (::fstat(fd, &info) != 0)
      die("cannot stat a file");
    for (uint64_t at = 0; at < uint64_t(info.st_size) && total < limit;
         at += span) {
      uint64_t bytes = std::min<uint64_t>(span, info.st_size - at);
      spans.push_back({fd, at, bytes});
      total += bytes;
    }
  }
  return spans;
}

void preadAll(const Span &s, uint8_t *buffer) {
  for (uint64_t done = 0; done < s.bytes;) {
    ssize_t got = ::pread(s.fd, buffer + done, s.bytes - done,
                          static_cast<off_t>(s.offset + done));
    if (got <= 0)
      die("pread failed");
    done += static_cast<uint64_t>(got);
  }
}

/// `threads` readers pread every span into their own two buffers of `ring`
/// (2 x threads buffers of 16 MB); GB/s.
double readInto(const std::vector<Span> &spans, uint8_t *ring,
                unsigned threads) {
  std::atomic<size_t> next{0};
  uint64_t total = 0;
  for (const Span &s : spans)
    total += s.bytes;
  double start = now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i, k = 0; (i = next++) < spans.size(); ++k) {
        preadAll(spans[i], ring + (2 * t + k % 2) * kSpan);
      }
    });
  for (std::thread &t : pool)
    t.join();
  return total / (now() - start) / 1e9;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dsc-bench-upload FILE...\n");
    return 2;
  }
  std::vector<int> fds;
  for (int i = 1; i < argc; ++i) {
    int fd = ::open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      die(std::string("cannot open ") + argv[i]);
    fds.push_back(fd);
  }
  double limitGB = 8;
  if (const char *env = std::getenv("DSC_UPLOAD_LIMIT_GB"))
    limitGB = std::max(0.001, std::strtod(env, nullptr));
  std::vector<Span> spans = spansOf(fds, uint64_t(limitGB * 1e9));
  uint64_t total = 0;
  for (const Span &s : spans)
    total += s.bytes;
  std::printf("%zu spans, %.2f GB\n", spans.size(), total / 1e9);

  constexpr unsigned kMaxThreads = 16;
  uint64_t ringBytes = 2 * kMaxThreads * kSpan;
  auto *pageable = static_cast<uint8_t *>(std::aligned_alloc(4096, ringBytes));
  if (!pageable)
    die("out of memory");

  dsrt::Expected<const dsrt::CudaDriver *> loaded = dsrt::CudaDriver::load();
  const dsrt::CudaDriver *d = loaded ? loaded.value() : nullptr;
  uint8_t *pinned = nullptr;
  dsrt::CUdeviceptr device = 0;
  dsrt::CUcontext context = nullptr;
  if (d) {
    dsrt::CUdevice dev;
    check(*d, d->cuInit(0), "cuInit");
    check(*d, d->cuDeviceGet(&dev, 0), "cuDeviceGet");
    check(*d, d->cuDevicePrimaryCtxRetain(&context, dev),
          "cuDevicePrimaryCtxRetain");
    check(*d, d->cuCtxSetCurrent(context), "cuCtxSetCurrent");
    if (!d->cuMemHostAlloc)
      die("the driver has no cuMemHostAlloc");
    double start = now();
    void *host = nullptr;
    check(*d, d->cuMemHostAlloc(&host, ringBytes, 0), "cuMemHostAlloc");
    pinned = static_cast<uint8_t *>(host);
    std::printf("cuMemHostAlloc of %.0f MB: %.3f s\n", ringBytes / 1e6,
                now() - start);
    check(*d, d->cuMemAlloc(&device, kDeviceBytes), "cuMemAlloc");
  } else {
    std::printf("no GPU driver (%s): pageable reads only\n",
                loaded.error().c_str());
  }

  std::printf("\n| part | GB/s |\n|---|---|\n");
  for (unsigned threads : {1u, 4u, 16u}) {
    if (pinned)
      std::printf("| read into pinned, %u thread(s) | %.2f |\n", threads,
                  readInto(spans, pinned, threads));
    std::printf("| read into pageable, %u thread(s) | %.2f |\n", threads,
                readInto(spans, pageable, threads));
  }
  if (!d)
    return 0;

  // Copies of `total` bytes from 16 MB buffers, cycling over the device
  // buffer; the host buffers hold what the reads left there.
  auto copy = [&](uint8_t *from, unsigned streams, bool async) {
    std::vector<dsrt::CUstream> list(streams);
    for (dsrt::CUstream &s : list)
      check(*d, d->cuStreamCreate(&s, dsrt::kCuStreamNonBlocking),
            "cuStreamCreate");
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double start = now();
    uint64_t offset = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      const uint8_t *source = from + (i % 8) * kSpan;
      dsrt::CUdeviceptr to = device + offset;
      offset = (offset + kSpan) % kDeviceBytes;
      if (async)
        check(
            *d,
            d->cuMemcpyHtoDAsync(to, source, spans[i].bytes, list[i % streams]),
            "cuMemcpyHtoDAsync");
      else
        check(*d, d->cuMemcpyHtoD(to, source, spans[i].bytes), "cuMemcpyHtoD");
    }
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double seconds = now() - start;
    if (d->cuStreamDestroy)
      for (dsrt::CUstream s : list)
        d->cuStreamDestroy(s);
    return total / seconds / 1e9;
  };
  std::printf("| copy from pinned, async, 1 stream | %.2f |\n",
              copy(pinned, 1, true));
  std::printf("| copy from pinned, async, 2 streams | %.2f |\n",
              copy(pinned, 2, true));
  std::printf("| copy from pageable, sync | %.2f |\n",
              copy(pageable, 1, false));

  // Reads and copies together, as CudaMemory.cpp's upload runs them.
  auto both = [&](const std::vector<Span> &list, unsigned threads) {
    std::vector<dsrt::WeightSource::Span> spanIds;
    for (size_t i = 0; i < list.size(); ++i)
      spanIds.push_back({static_cast<uint32_t>(i), 0, list[i].bytes});
    std::vector<uint8_t *> buffers;
    for (unsigned k = 0; k < 2 * threads; ++k)
      buffers.push_back(pinned + k * kSpan);
    std::vector<dsrt::CUstream> streams(2 * threads);
    for (dsrt::CUstream &s : streams)
      check(*d, d->cuStreamCreate(&s, dsrt::kCuStreamNonBlocking),
            "cuStreamCreate");
    std::vector<dsrt::CUevent> events(buffers.size());
    for (dsrt::CUevent &e : events)
      check(*d, d->cuEventCreate(&e, dsrt::kCuEventDisableTiming),
            "cuEventCreate");
    uint64_t bytes = 0;
    std::atomic<uint64_t> offset{0};
    for (const Span &s : list)
      bytes += s.bytes;
    dsrt::StreamCallbacks callbacks;
    callbacks.start = [&](unsigned) {
      check(*d, d->cuCtxSetCurrent(context), "cuCtxSetCurrent");
      return dsrt::Status::success();
    };
    callbacks.submit = [&](size_t buffer,
                           const dsrt::WeightSource::Span &span) {
      dsrt::CUstream stream = streams[buffer];
      dsrt::CUdeviceptr to = device + offset.fetch_add(kSpan) % kDeviceBytes;
      check(*d, d->cuMemcpyHtoDAsync(to, buffers[buffer], span.bytes, stream),
            "cuMemcpyHtoDAsync");
      check(*d, d->cuEventRecord(events[buffer], stream), "cuEventRecord");
      return dsrt::Status::success();
    };
    callbacks.reuse = [&](size_t buffer) {
      check(*d, d->cuEventSynchronize(events[buffer]), "cuEventSynchronize");
      return dsrt::Status::success();
    };
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double start = now();
    dsrt::Status s = dsrt::streamSpans(
        [&](const dsrt::WeightSource::Span &span, uint8_t *out) {
          preadAll(list[span.piece], out);
          return dsrt::Status::success();
        },
        spanIds, buffers, threads, callbacks);
    if (!s)
      die(s.error());
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double seconds = now() - start;
    for (dsrt::CUevent e : events)
      d->cuEventDestroy(e);
    if (d->cuStreamDestroy)
      for (dsrt::CUstream st : streams)
        d->cuStreamDestroy(st);
    return bytes / seconds / 1e9;
  };
  // Each reader submits its own copies (its stream, its two buffers).
  auto perThread = [&](const std::vector<Span> &list, unsigned threads) {
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> offset{0};
    uint64_t bytes = 0;
    for (const Span &s : list)
      bytes += s.bytes;
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double start = now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        check(*d, d->cuCtxSetCurrent(context), "cuCtxSetCurrent");
        dsrt::CUstream stream;
        check(*d, d->cuStreamCreate(&stream, dsrt::kCuStreamNonBlocking),
              "cuStreamCreate");
        dsrt::CUevent events[2];
        for (dsrt::CUevent &e : events)
          check(*d, d->cuEventCreate(&e, dsrt::kCuEventDisableTiming),
                "cuEventCreate");
        for (size_t i, k = 0; (i = next++) < list.size(); ++k) {
          uint8_t *buffer = pinned + (2 * t + k % 2) * kSpan;
          if (k >= 2)
            check(*d, d->cuEventSynchronize(events[k % 2]),
                  "cuEventSynchronize");
          preadAll(list[i], buffer);
          uint64_t at = offset.fetch_add(kSpan) % kDeviceBytes;
          check(
              *d,
              d->cuMemcpyHtoDAsync(device + at, buffer, list[i].bytes, stream),
              "cuMemcpyHtoDAsync");
          check(*d, d->cuEventRecord(events[k % 2], stream), "cuEventRecord");
        }
        check(*d, d->cuStreamSynchronize(stream), "cuStreamSynchronize");
        for (dsrt::CUevent e : events)
          d->cuEventDestroy(e);
        if (d->cuStreamDestroy)
          d->cuStreamDestroy(stream);
      });
    for (std::thread &t : pool)
      t.join();
    return bytes / (now() - start) / 1e9;
  };
  // Reads and copies in turn, never at once: the readers fill the whole
  // ring, then its copies run, then the next ring.
  auto phased = [&](const std::vector<Span> &list, unsigned threads) {
    uint64_t bytes = 0;
    for (const Span &s : list)
      bytes += s.bytes;
    size_t ring = 2 * threads;
    check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    double start = now();
    uint64_t offset = 0;
    for (size_t first = 0; first < list.size(); first += ring) {
      size_t count = std::min(ring, list.size() - first);
      std::atomic<size_t> next{0};
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          for (size_t j; (j = next++) < count;)
            preadAll(list[first + j], pinned + j * kSpan);
        });
      for (std::thread &t : pool)
        t.join();
      for (size_t j = 0; j < count; ++j) {
        check(*d,
              d->cuMemcpyHtoDAsync(device + offset, pinned + j * kSpan,
                                   list[first + j].bytes, nullptr),
              "cuMemcpyHtoDAsync");
        offset = (offset + kSpan) % kDeviceBytes;
      }
      check(*d, d->cuCtxSynchronize(), "cuCtxSynchronize");
    }
    return bytes / (now() - start) / 1e9;
  };
  std::vector<Span> small = spansOf(fds, uint64_t(limitGB * 1e9), 6 << 20);
  std::printf("| read + copy, each reader its own stream, 16 threads, 16 MB "
              "spans | %.2f |\n",
              perThread(spans, 16));
  std::printf("| read + copy, each reader its own stream, 16 threads, 6 MB "
              "spans | %.2f |\n",
              perThread(small, 16));
  std::printf("| read then copy in turn (32 x 16 MB), 16 threads | %.2f |\n",
              phased(spans, 16));
  std::printf("| read then copy in turn (32 x 6 MB), 16 threads | %.2f |\n",
              phased(small, 16));
  for (unsigned threads : {4u, 16u}) {
    std::printf(
        "| read + copy (streamSpans), %u threads, 16 MB spans | %.2f |\n",
        threads, both(spans, threads));
    std::printf(
        "| read + copy (streamSpans), %u threads, 6 MB spans | %.2f |\n",
        threads, both(small, threads));
  }
  return 0;
}
