//===- Weights.h - the weights of a program in host memory -------*- C++
//-*-===//
//
// Reads the weights a program's manifest names from a checkpoint folder:
// every tensor is checked (present, dtype, shape, and for fp8 its
// weight_scale_inv) before anything is allocated, then each manifest entry
// is read (dsrt/WeightSource.h, on several threads) into one
// 64-byte-aligned host buffer, expert stacks contiguous. A weight the
// program quantizes at load (`dsc compile --quantize=fp8`) is read from its
// bf16 tensor and quantised to fp8 with f32 block scales (dsrt/Quantize.h)
// by the thread that read it. GPU sessions stream a WeightSource to the
// device instead and need no WeightStore. With dummy(), weights of the
// compiled shapes and dtypes are made in place from a seed instead (for
// benchmarks without a checkpoint).
//
// Ownership: a WeightStore owns its buffers. Read-only after construction;
// safe to share between threads.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_WEIGHTS_H
#define DSRT_WEIGHTS_H

#include "dsrt/Checkpoint.h"
#include "dsrt/Expected.h"
#include "dsrt/Program.h"
#include "dsrt/WeightSource.h"
#include "dsrt/WeightStreaming.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

namespace dsrt {

/// How WeightStore::load reads.
struct WeightLoadOptions {
  unsigned threads = 0;                // reader threads (loadThreads())
  uint64_t spanBytes = kLoadSpanBytes; // the most one read moves
  LoadProgress progress;               // called under a lock by the readers
};

class WeightStore {
public:
  /// Called as bytes are read: (bytes done, bytes total).
  using Progress = LoadProgress;
  using LoadOptions = WeightLoadOptions;

  /// Checks the checkpoint against the manifest; the message lists every
  /// problem (up to a limit), each naming the tensor and what was expected.
  /// In a partitioned program the tensors are those rank `rank` reads
  /// (its experts), each of the whole tensor's shape.
  static Status check(const Program &program, const Checkpoint &checkpoint,
                      int64_t rank = 0);

  /// Where load() spent its time (seconds) and the bytes it moved: the
  /// manifest check, then reading (quantising as it reads, overlapped) the
  /// source's bytes; quantizedBytes are the e4m3 values and scales made.
  struct LoadTimes {
    double checkSeconds = 0, readSeconds = 0;
    uint64_t readBytes = 0, quantizedBytes = 0;
  };

  /// check(), then reads every weight into host memory on several threads,
  /// quantising the ones quantized at load; fills `times` when given. A
  /// partitioned program's split weights are read as rank `rank`'s parts.
  static Expected<WeightStore> load(const Program &program,
                                    const Checkpoint &checkpoint,
                                    const Progress &progress = {},
                                    LoadTimes *times = nullptr,
                                    int64_t rank = 0);
  /// Reads every weight of `source` into host memory (see above).
  static Expected<WeightStore> load(const WeightSource &source,
                                    const LoadOptions &options = {},
                                    LoadTimes *times = nullptr);

  /// Weights of the compiled shapes and dtypes from a seeded generator. A
  /// weight quantized at load gets the bf16 values a bf16 program's weight
  /// of the same index and shape gets, quantised. Each value is a function
  /// of the seed, the weight's index and the element's index in the whole
  /// tensor (of a stack, the global expert's), so rank `rank`'s parts of a
  /// partitioned program hold exactly the values the unpartitioned
  /// program's weights hold there.
  static Expected<WeightStore> dummy(const Program &program, uint64_t seed,
                                     int64_t rank = 0);

  /// The weights image appended to `executable` by `dsc compile
  /// --embed-weights`, mapped in place; an empty store (numWeights() == 0)
  /// when the file carries none.
  static Expected<WeightStore> fromExecutable(const Program &program,
                                              const std::string &executable);

  /// Writes the image fromExecutable() reads (every weight, then its
  /// scales, each 64-byte aligned, then the trailer) to the end of `path`.
  Status appendImage(const Program &program, const std::string &path) const;

  const void *data(uint32_t index) const { return data_[index]; }
  const void *scales(uint32_t index) const { return scales_[index]; }
  size_t numWeights() const { return data_.size(); }
  uint64_t totalBytes() const { return totalBytes_; }

private:
  struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;
  static Expected<WeightStore> allocate(const Program &program);

  std::vector<uint8_t *> data_, scales_; // into owned_ or mapping_
  std::vector<Buffer> owned_;
  std::shared_ptr<void> mapping_;
  uint64_t totalBytes_ = 0;
};

} // namespace dsrt

#endif // DSRT_WEIGHTS_H
