//===- CudaSession.cpp - the cuda device's session -----------------------===//
//
// Loads the program's GPU image (cubin, or PTX the driver compiles), uploads
// the weights once, and allocates the arena, the KV cache and the chunk's
// index buffers on the device. Every launch's pointer arguments are fixed,
// so their tables are built and uploaded once; a chunk then costs one small
// copy of its token ids, positions, slots, output rows and sampling
// parameters, the launches, and the copy of the sampled ids back (and of the
// outputs' logits when asked). Every driver call is checked and reported by its
// error name.
//
//===----------------------------------------------------------------------===//

#include "dsrt/CudaDriver.h"
#include "dsrt/Session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unistd.h>

namespace dsrt {

namespace {

class CudaSession : public Session {
public:
  ~CudaSession() override {
    if (!driver_)
      return;
    if (profile_)
      printProfile();
    for (CUevent e : events_)
      driver_->cuEventDestroy(e);
    for (CUdeviceptr p : allocations_)
      driver_->cuMemFree(p);
  }

  Status init(const Program &program, const WeightStore &weights,
              const SessionOptions &options) {
    program_ = &program;
    if (options.checkKernels) {
      const auto *twins = program.fb().host_twins();
      if (!twins)
        return Status::error("this executable was not compiled with "
                             "--check-kernels (dsc compile --check-kernels)");
      if (!options.hostKernels ||
          options.numHostKernels != program.fb().kernels()->size())
        return Status::error("corrupted program: it names " +
                             std::to_string(program.fb().kernels()->size()) +
                             " kernels, the executable holds " +
                             std::to_string(options.numHostKernels) +
                             " host twins");
      check_ = std::make_unique<KernelCheck>();
      check_->hostKernels = options.hostKernels;
      check_->weights = &weights;
      check_->cpu = std::make_unique<CpuDevice>(options.threads);
      check_->arena.assign(program.fb().arena_bytes(), 0);
      check_->cache.assign(program.cacheBytes(), 0);
      check_->stats.resize(program.fb().kernels()->size());
    }
    auto driver = CudaDriver::load();
    if (!driver)
      return Status::error(driver.error() +
                           "; this executable was compiled "
                           "for " +
                           program.fb().target()->str() +
                           " and needs an NVIDIA GPU");
    driver_ = driver.value();
    const CudaDriver &d = *driver_;
#define DSRT_CHECK(call)                                                       \
  if (Status s = d.check(call, #call); !s)                                     \
    return s;
    DSRT_CHECK(d.cuInit(0));
    int devices = 0;
    DSRT_CHECK(d.cuDeviceGetCount(&devices));
    if (devices == 0)
      return Status::error("no CUDA device; this executable was compiled for " +
                           program.fb().target()->str());
    CUdevice device;
    DSRT_CHECK(d.cuDeviceGet(&device, 0));
    char name[256] = {};
    DSRT_CHECK(d.cuDeviceGetName(name, sizeof(name) - 1, device));
    int major = 0, minor = 0;
    DSRT_CHECK(
        d.cuDeviceGetAttribute(&major, kCuAttrComputeCapabilityMajor, device));
    DSRT_CHECK(
        d.cuDeviceGetAttribute(&minor, kCuAttrComputeCapabilityMinor, device));
    deviceName_ = std::string(name) + " (sm_" + std::to_string(major) +
                  std::to_string(minor) + ")";
    CUcontext context;
    DSRT_CHECK(d.cuDevicePrimaryCtxRetain(&context, device));
    DSRT_CHECK(d.cuCtxSetCurrent(context));
    DSRT_CHECK(d.cuStreamCreate(&stream_, 0));

    const fb::Program &p = program.fb();
    if (!p.gpu_image() || p.gpu_image()->size() == 0 || !p.gpu_image_format())
      return Status::error("corrupted program: no GPU image for target " +
                           p.target()->str());
    std::string format = p.gpu_image_format()->str();
    if (format == "ptx" && p.gpu_image()->data()[p.gpu_image()->size() - 1])
      return Status::error("corrupted program: the PTX is not terminated");
    CUmodule module;
    if (Status s = d.check(d.cuModuleLoadData(&module, p.gpu_image()->data()),
                           "cuModuleLoadData");
        !s)
      return Status::error(s.error() + " (loading the " + format + " for " +
                           (p.gpu_chip() ? p.gpu_chip()->str() : "?") + " on " +
                           deviceName_ + ")");
    for (const fb::Kernel *k : *p.kernels()) {
      CUfunction f;
      std::string entry = k->name()->str() + "_entry";
      DSRT_CHECK(d.cuModuleGetFunction(&f, module, entry.c_str()));
      functions_.push_back(f);
    }

    // Device memory: weights (with progress on a terminal), arena, cache,
    // the chunk's index arrays.
    const auto &ws = *p.weights();
    bool tty = isatty(fileno(stderr));
    auto uploadStart = std::chrono::steady_clock::now();
    uint64_t uploaded = 0;
    for (uint32_t i = 0; i < ws.size(); ++i) {
      if (tty) {
        double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - uploadStart)
                             .count();
        std::fprintf(stderr, "\ruploading weights %5.1f%% (%.1f GB/s)",
                     100.0 * uploaded /
                         std::max<uint64_t>(weights.totalBytes(), 1),
                     seconds > 0 ? uploaded / seconds / 1e9 : 0.0);
      }
      uint64_t bytes =
          program.weightElements(i) * dtypeBytes(ws.Get(i)->dtype());
      CUdeviceptr data = 0, scales = 0;
      if (Status s = upload(weights.data(i), bytes, data); !s)
        return s;
      if (ws.Get(i)->scale_tensor())
        if (Status s =
                upload(weights.scales(i), program.scaleElements(i) * 4, scales);
            !s)
          return s;
      weightPtrs_.push_back(data);
      scalePtrs_.push_back(scales);
      uploaded += bytes + program.scaleElements(i) * 4;
    }
    if (tty)
      std::fprintf(stderr, "\ruploaded %.2f GB of weights to %s\n",
                   uploaded / 1e9, deviceName_.c_str());
    maxTokens_ = 0;
    for (const fb::Entry *e : *p.entries())
      maxTokens_ = std::max<int64_t>(maxTokens_, e->max_tokens());
    if (Status s = allocate(p.arena_bytes(), arena_); !s)
      return s;
    if (check_) // the host mirror starts equal to the device arena
      DSRT_CHECK(
          d.cuMemsetD8(arena_, 0, std::max<uint64_t>(p.arena_bytes(), 1)));
    if (Status s = allocate(program.cacheBytes(), cache_); !s)
      return s;
    DSRT_CHECK(d.cuMemsetD8(cache_, 0, program.cacheBytes()));
    for (CUdeviceptr *p : {&tokens_, &positions_, &slots_, &rows_})
      if (Status s = allocate(maxTokens_ * 4, *p); !s)
        return s;
    if (Status s = allocate(maxTokens_ * sizeof(SamplingRow), sampling_); !s)
      return s;

    // One argument table per launch, all in one device buffer.
    std::vector<CUdeviceptr> tables;
    for (const fb::Entry *e : *p.entries()) {
      std::vector<uint64_t> offsets;
      for (const fb::Launch *l : *e->launches()) {
        offsets.push_back(tables.size() * sizeof(CUdeviceptr));
        for (const fb::Arg *a : *l->args())
          tables.push_back(pointer(*a));
      }
      tableOffsets_.push_back(std::move(offsets));
    }
    if (Status s =
            upload(tables.data(), tables.size() * sizeof(CUdeviceptr), tables_);
        !s)
      return s;
    logits_.resize(static_cast<size_t>(maxTokens_ * p.model()->vocab_size()));
    next_.resize(static_cast<size_t>(maxTokens_));
    return Status::success();
#undef DSRT_CHECK
  }

  Expected<ChunkResult> run(const char *entryName,
                            const Chunk &chunk) override {
    const fb::Program &p = program_->fb();
    size_t entryIndex = 0;
    for (; entryIndex < p.entries()->size(); ++entryIndex)
      if (p.entries()->Get(entryIndex)->name()->str() == entryName)
        break;
    const fb::Entry &entry = *p.entries()->Get(entryIndex);
    Status ok = checkChunk(entry, entryName, chunk);
    if (!ok)
      return Expected<ChunkResult>::error(ok.error());
    const CudaDriver &d = *driver_;
    auto fail = [](const Status &s) {
      return Expected<ChunkResult>::error(s.error());
    };
    struct Copy {
      CUdeviceptr to;
      const void *from;
      size_t bytes;
      const char *what;
    };
    size_t count = chunk.tokens.size(), outputs = chunk.rows.size();
    for (const Copy &c :
         {Copy{tokens_, chunk.tokens.data(), count * 4,
               "cuMemcpyHtoDAsync(tokens)"},
          Copy{positions_, chunk.positions.data(), count * 4,
               "cuMemcpyHtoDAsync(positions)"},
          Copy{slots_, chunk.slots.data(), count * 4,
               "cuMemcpyHtoDAsync(slots)"},
          Copy{rows_, chunk.rows.data(), outputs * 4,
               "cuMemcpyHtoDAsync(rows)"},
          Copy{sampling_, chunk.sampling.data(), outputs * sizeof(SamplingRow),
               "cuMemcpyHtoDAsync(sampling)"}})
      if (c.bytes)
        if (Status s = d.check(
                d.cuMemcpyHtoDAsync(c.to, c.from, c.bytes, stream_), c.what);
            !s)
          return fail(s);
    // Decode steps replay a CUDA graph captured once per (tokens, outputs):
    // the step's launches, sampling included, need nothing from the host
    // (every index array is read from device memory).
    bool graph = !profile_ && !noGraphs_ && !check_ &&
                 std::string(entryName) == "decode";
    if (graph) {
      auto &exec = graphs_[{count, outputs}];
      if (!exec) {
        if (Status s = d.check(
                d.cuStreamBeginCapture(stream_, kCuStreamCaptureThreadLocal),
                "cuStreamBeginCapture");
            !s)
          return fail(s);
        Status launched = launchAll(entry, entryIndex, chunk);
        CUgraph captured = nullptr;
        Status ended = d.check(d.cuStreamEndCapture(stream_, &captured),
                               "cuStreamEndCapture");
        if (!launched)
          return fail(launched);
        if (!ended)
          return fail(ended);
        Status made = d.check(d.cuGraphInstantiateWithFlags(&exec, captured, 0),
                              "cuGraphInstantiateWithFlags");
        d.cuGraphDestroy(captured);
        if (!made)
          return fail(made);
      }
      if (Status s = d.check(d.cuGraphLaunch(exec, stream_), "cuGraphLaunch");
          !s)
        return fail(s);
    } else if (Status s = launchAll(entry, entryIndex, chunk); !s) {
      return fail(s);
    }
    ChunkResult result;
    if (outputs) {
      if (Status s = d.check(
              d.cuMemcpyDtoHAsync(next_.data(), arena_ + entry.sampled_offset(),
                                  outputs * 4, stream_),
              "cuMemcpyDtoHAsync(sampled tokens)");
          !s)
        return fail(s);
      result.next = next_.data();
    }
    if (chunk.wantLogits && outputs) {
      size_t bytes = outputs * p.model()->vocab_size() * 4;
      if (Status s = d.check(d.cuMemcpyDtoHAsync(logits_.data(),
                                                 arena_ + entry.logits_offset(),
                                                 bytes, stream_),
                             "cuMemcpyDtoHAsync(logits)");
          !s)
        return fail(s);
      result.logits = logits_.data();
    }
    if (eventProfile())
      if (Status s = recordEvent(""); !s)
        return fail(s);
    if (Status s =
            d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
        !s)
      return fail(s);
    if (eventProfile())
      if (Status s = collectEvents(); !s)
        return fail(s);
    return result;
  }

  /// DSRT_PROFILE=1 (any value but "sync"): CUDA events around every launch,
  /// read after the chunk's one synchronisation, so kernels run back to back
  /// as usual and each is charged its GPU time.
  bool eventProfile() const {
    return profile_ && !profileSync_ && driver_->cuEventCreate;
  }
  Status recordEvent(std::string kernel) {
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
  Status collectEvents() {
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

  /// Launches every kernel of `entry` for `chunk` on the stream.
  Status launchAll(const fb::Entry &entry, size_t entryIndex,
                   const Chunk &chunk) {
    const CudaDriver &d = *driver_;
    const auto &kernels = *program_->fb().kernels();
    const auto &offsets = tableOffsets_[entryIndex];
    for (size_t i = 0; i < entry.launches()->size(); ++i) {
      const fb::Launch &launch = *entry.launches()->Get(i);
      const fb::Kernel &kernel = *kernels.Get(launch.kernel());
      int64_t count = rowCount(kernel, chunk);
      int64_t extent = extentOf(kernel, count);
      if (extent == 0)
        continue; // no output rows
      CUdeviceptr table = tables_ + offsets[i];
      void *params[] = {&table, &count, &extent};
      unsigned block = kernel.block();
      unsigned blocks = static_cast<unsigned>((extent + block - 1) / block);
      if (check_)
        if (Status s = runTwin(launch, chunk); !s)
          return s;
      auto launched = std::chrono::steady_clock::now();
      if (eventProfile())
        if (Status s = recordEvent(kernel.summary()->str()); !s)
          return s;
      if (Status s = d.check(d.cuLaunchKernel(functions_[launch.kernel()],
                                              blocks, 1, 1, block, 1, 1, 0,
                                              stream_, params, nullptr),
                             "cuLaunchKernel");
          !s)
        return Status::error(s.error() + " (kernel " + kernel.name()->str() +
                             ")");
      if (check_)
        if (Status s = compareWithTwin(launch, chunk); !s)
          return s;
      if (profile_ && !eventProfile()) {
        // DSRT_PROFILE=sync: synchronise after every launch and charge the
        // host's wall time to the kernel (launch latency included).
        if (Status s =
                d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
            !s)
          return s;
        auto &slot = profileTimes_[kernel.summary()->str()];
        slot.first += std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - launched)
                          .count();
        slot.second += 1;
      }
    }
    return Status::success();
  }

  Status resetSlot(int32_t slot) override {
    const fb::CacheInfo &c = *program_->fb().cache();
    uint64_t slotBytes = uint64_t(c.latent() + c.rope()) * 2 * c.max_seq();
    for (int64_t layer = 0; layer < c.layers(); ++layer) {
      if (Status s = driver_->check(
              driver_->cuMemsetD8(cache_ +
                                      (layer * c.slots() + slot) * slotBytes,
                                  0, slotBytes),
              "cuMemsetD8(cache)");
          !s)
        return s;
      if (check_)
        std::memset(check_->cache.data() +
                        (layer * c.slots() + slot) * slotBytes,
                    0, slotBytes);
    }
    return Status::success();
  }

  std::string deviceName() const override { return deviceName_; }
  bool keepsHostWeights() const override { return check_ != nullptr; }

  std::string kernelCheckReport(bool &passed) const override {
    passed = true;
    if (!check_)
      return "";
    const auto &kernels = *program_->fb().kernels();
    std::string out = "kernel         launches  max rel err  int mismatches  "
                      "result  op\n";
    char line[512];
    for (size_t k = 0; k < check_->stats.size(); ++k) {
      const KernelStats &st = check_->stats[k];
      if (st.launches == 0)
        continue;
      bool ok = st.failures == 0;
      passed &= ok;
      std::snprintf(
          line, sizeof(line), "%-14s %8lld  %11.2e  %14lld  %-6s  %s\n",
          kernels.Get(k)->name()->c_str(), static_cast<long long>(st.launches),
          st.maxRelError, static_cast<long long>(st.intMismatches),
          ok ? "ok" : "FAIL",
          kernels.Get(k)->summary()->str().substr(0, 90).c_str());
      out += line;
    }
    return out;
  }

private:
  /// --check-kernels: a host mirror of the arena and the cache that always
  /// holds what the GPU computed, so each launch's host twin reads exactly
  /// the GPU kernel's inputs.
  struct KernelStats {
    int64_t launches = 0, intMismatches = 0, failures = 0;
    double maxRelError = 0;
  };
  struct KernelCheck {
    const HostKernel *hostKernels = nullptr;
    const WeightStore *weights = nullptr;
    std::unique_ptr<CpuDevice> cpu;
    std::vector<uint8_t> arena, cache, scratch;
    std::vector<KernelStats> stats;
  };
  /// Largest relative error (L2 of the difference over L2 of the host
  /// result) a float output may have; bf16 rounding of sums taken in
  /// another order moves single elements by an ulp (2^-8 relative).
  static constexpr double kMaxRelError = 1e-2;

  void *hostPointer(const fb::Arg &arg, const Chunk &chunk) {
    switch (arg.kind()) {
    case fb::ArgKind::Arena:
      return check_->arena.data() + arg.value();
    case fb::ArgKind::Weight:
      return const_cast<void *>(check_->weights->data(arg.value()));
    case fb::ArgKind::WeightScales:
      return const_cast<void *>(check_->weights->scales(arg.value()));
    case fb::ArgKind::Cache:
      return check_->cache.data() + arg.value();
    case fb::ArgKind::Tokens:
      return const_cast<int32_t *>(chunk.tokens.data());
    case fb::ArgKind::Positions:
      return const_cast<int32_t *>(chunk.positions.data());
    case fb::ArgKind::Slots:
      return const_cast<int32_t *>(chunk.slots.data());
    case fb::ArgKind::Rows:
      return const_cast<int32_t *>(chunk.rows.data());
    case fb::ArgKind::Sampling:
      return const_cast<SamplingRow *>(chunk.sampling.data());
    }
    return nullptr;
  }

  /// Runs the launch's host twin on the mirror (before the GPU kernel).
  Status runTwin(const fb::Launch &launch, const Chunk &chunk) {
    const fb::Kernel &twin = *program_->fb().host_twins()->Get(launch.kernel());
    int64_t rows = rowCount(twin, chunk);
    std::vector<void *> args;
    for (const fb::Arg *a : *launch.args())
      args.push_back(hostPointer(*a, chunk));
    check_->cpu->run(check_->hostKernels[launch.kernel()], args.data(), rows,
                     extentOf(twin, rows));
    return Status::success();
  }

  /// Compares what the GPU kernel wrote with the twin's results, then puts
  /// the GPU's values in the mirror.
  Status compareWithTwin(const fb::Launch &launch, const Chunk &chunk) {
    const CudaDriver &d = *driver_;
    const fb::Kernel &kernel = *program_->fb().kernels()->Get(launch.kernel());
    KernelStats &st = check_->stats[launch.kernel()];
    ++st.launches;
    int64_t rows = rowCount(kernel, chunk);
    if (Status s =
            d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
        !s)
      return Status::error(s.error() + " (kernel " + kernel.name()->str() +
                           ")");
    struct Region {
      uint64_t offset, bytes;
      fb::DType dtype;
      bool cache;
    };
    std::vector<Region> regions;
    if (kernel.outputs())
      for (const fb::KernelOutput *o : *kernel.outputs())
        regions.push_back(
            {launch.args()->Get(o->arg())->value(),
             uint64_t(rows) * o->row_elements() * dtypeBytes(o->dtype()),
             o->dtype(), false});
    if (kernel.writes_cache()) {
      // The rows of the chunk's tokens in the layer the launch addresses.
      const fb::CacheInfo &c = *program_->fb().cache();
      uint64_t rowBytes = uint64_t(c.latent() + c.rope()) * 2;
      for (const fb::Arg *a : *launch.args())
        if (a->kind() == fb::ArgKind::Cache)
          for (size_t t = 0; t < chunk.tokens.size(); ++t)
            regions.push_back(
                {a->value() + (uint64_t(chunk.slots[t]) * c.max_seq() +
                               uint64_t(chunk.positions[t])) *
                                  rowBytes,
                 rowBytes, fb::DType::BF16, true});
    }
    double diff2 = 0, ref2 = 0;
    bool nonFinite = false;
    int64_t mismatches = 0;
    for (const Region &r : regions) {
      uint8_t *mirror =
          (r.cache ? check_->cache.data() : check_->arena.data()) + r.offset;
      check_->scratch.resize(r.bytes);
      if (Status s = d.check(
              d.cuMemcpyDtoH(check_->scratch.data(),
                             (r.cache ? cache_ : arena_) + r.offset, r.bytes),
              "cuMemcpyDtoH(kernel check)");
          !s)
        return s;
      const uint8_t *gpu = check_->scratch.data();
      size_t n = r.bytes / dtypeBytes(r.dtype);
      for (size_t i = 0; i < n; ++i) {
        if (r.dtype == fb::DType::I32) {
          int32_t x, y;
          std::memcpy(&x, gpu + 4 * i, 4);
          std::memcpy(&y, mirror + 4 * i, 4);
          mismatches += x != y;
          continue;
        }
        float x, y;
        if (r.dtype == fb::DType::F32) {
          std::memcpy(&x, gpu + 4 * i, 4);
          std::memcpy(&y, mirror + 4 * i, 4);
        } else {
          uint16_t hx, hy;
          std::memcpy(&hx, gpu + 2 * i, 2);
          std::memcpy(&hy, mirror + 2 * i, 2);
          uint32_t wx = uint32_t(hx) << 16, wy = uint32_t(hy) << 16;
          std::memcpy(&x, &wx, 4);
          std::memcpy(&y, &wy, 4);
        }
        if (std::isfinite(x) != std::isfinite(y)) {
          nonFinite = true;
          continue;
        }
        if (!std::isfinite(y))
          continue;
        diff2 += double(x - y) * double(x - y);
        ref2 += double(y) * double(y);
      }
      std::memcpy(mirror, gpu, r.bytes);
    }
    double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    if (nonFinite)
      rel = INFINITY;
    st.maxRelError = std::max(st.maxRelError, rel);
    st.intMismatches += mismatches;
    if (rel > kMaxRelError || mismatches > 0)
      ++st.failures;
    return Status::success();
  }

  std::unique_ptr<KernelCheck> check_;
  void printProfile() const {
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

  bool profile_ = std::getenv("DSRT_PROFILE") != nullptr;
  bool profileSync_ =
      profile_ && std::string(std::getenv("DSRT_PROFILE")) == "sync";
  std::vector<CUevent> events_;
  std::vector<std::string> eventKernels_; // the kernel after each event
  size_t eventsUsed_ = 0;
  bool noGraphs_ = std::getenv("DSRT_NO_GRAPHS") != nullptr;
  CUstream stream_ = nullptr;
  // Decode graph per (tokens, outputs).
  std::map<std::pair<size_t, size_t>, CUgraphExec> graphs_;
  std::map<std::string, std::pair<double, int64_t>> profileTimes_;

  Status allocate(uint64_t bytes, CUdeviceptr &out) {
    if (Status s = driver_->check(
            driver_->cuMemAlloc(&out, std::max<uint64_t>(bytes, 256)),
            "cuMemAlloc");
        !s)
      return Status::error(s.error() + " (" + std::to_string(bytes) +
                           " bytes)");
    allocations_.push_back(out);
    return Status::success();
  }

  Status upload(const void *host, uint64_t bytes, CUdeviceptr &out) {
    if (Status s = allocate(bytes, out); !s)
      return s;
    return driver_->check(driver_->cuMemcpyHtoD(out, host, bytes),
                          "cuMemcpyHtoD(weights)");
  }

  CUdeviceptr pointer(const fb::Arg &arg) const {
    switch (arg.kind()) {
    case fb::ArgKind::Arena:
      return arena_ + arg.value();
    case fb::ArgKind::Weight:
      return weightPtrs_[arg.value()];
    case fb::ArgKind::WeightScales:
      return scalePtrs_[arg.value()];
    case fb::ArgKind::Cache:
      return cache_ + arg.value();
    case fb::ArgKind::Tokens:
      return tokens_;
    case fb::ArgKind::Positions:
      return positions_;
    case fb::ArgKind::Slots:
      return slots_;
    case fb::ArgKind::Rows:
      return rows_;
    case fb::ArgKind::Sampling:
      return sampling_;
    }
    return 0;
  }

  const Program *program_ = nullptr;
  const CudaDriver *driver_ = nullptr;
  std::string deviceName_;
  std::vector<CUfunction> functions_;
  std::vector<CUdeviceptr> allocations_, weightPtrs_, scalePtrs_;
  CUdeviceptr arena_ = 0, cache_ = 0, tokens_ = 0, positions_ = 0, slots_ = 0,
              rows_ = 0, sampling_ = 0, tables_ = 0;
  std::vector<std::vector<uint64_t>> tableOffsets_;
  int64_t maxTokens_ = 0;
  std::vector<float> logits_;
  std::vector<int32_t> next_;
};

} // namespace

Expected<std::unique_ptr<Session>>
createCudaSession(const Program &program, const WeightStore &weights,
                  const SessionOptions &options) {
  auto session = std::make_unique<CudaSession>();
  Status ok = session->init(program, weights, options);
  if (!ok)
    return Expected<std::unique_ptr<Session>>::error(ok.error());
  return std::unique_ptr<Session>(std::move(session));
}

} // namespace dsrt
