//===- Session.h - KV cache, arena and entry points of a model ----*- C++ -*-===//
//
// A Session owns what one running model needs on its device: the weights
// there, the activation arena and the latent KV cache, sized by the program.
// run() executes an entry point's launches for one chunk of tokens (each
// with its position and cache slot) and returns the logits of every token
// in host memory. Two devices implement it: `cpu` (kernels compiled into the
// executable, run by a thread pool) and `cuda` (kernels in the program's GPU
// image, launched through the dlopen'd driver).
//
// Threading: one run() at a time.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SESSION_H
#define DSRT_SESSION_H

#include "dsrt/CpuDevice.h"
#include "dsrt/Expected.h"
#include "dsrt/Program.h"
#include "dsrt/Weights.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dsrt {

struct SessionOptions {
  unsigned threads = 0;                 // cpu: worker threads (0: all)
  const HostKernel *hostKernels = nullptr; // cpu: the executable's table
  size_t numHostKernels = 0;
};

class Session {
public:
  virtual ~Session() = default;

  /// A session on the device the program was compiled for. The weights are
  /// read during creation (and uploaded for GPUs); `weights` may be freed
  /// afterwards only for GPU sessions (see keepsHostWeights()).
  static Expected<std::unique_ptr<Session>>
  create(const Program &program, const WeightStore &weights,
         const SessionOptions &options);

  /// Runs entry point `entry` on tokens[i] at positions[i] of slots[i]
  /// (all of the same length, at most the entry's max_tokens). The logits,
  /// [tokens, vocab] f32 in host memory, stay valid until the next run().
  virtual Expected<const float *> run(const char *entry,
                                      const std::vector<int32_t> &tokens,
                                      const std::vector<int32_t> &positions,
                                      const std::vector<int32_t> &slots) = 0;

  /// Empties slot `slot` of the cache.
  virtual Status resetSlot(int32_t slot) = 0;

  /// "cpu (16 threads)", "NVIDIA H200 (sm_90)".
  virtual std::string deviceName() const = 0;

  /// Whether run() reads the WeightStore passed to create().
  virtual bool keepsHostWeights() const = 0;

protected:
  /// The checks every device makes before running a chunk.
  static Status checkChunk(const fb::Entry &entry, const char *name,
                           const std::vector<int32_t> &tokens,
                           const std::vector<int32_t> &positions,
                           const std::vector<int32_t> &slots);
};

/// Sessions of each device (Session::create picks by the program's target).
Expected<std::unique_ptr<Session>>
createCpuSession(const Program &program, const WeightStore &weights,
                 const SessionOptions &options);
Expected<std::unique_ptr<Session>>
createCudaSession(const Program &program, const WeightStore &weights);

} // namespace dsrt

#endif // DSRT_SESSION_H
