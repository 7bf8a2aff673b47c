//===- Session.h - KV cache, arena and entry points of a model ----*- C++ -*-===//
//
// A Session owns what one running model needs besides its weights: the
// activation arena and the latent KV cache, sized by the program. run()
// executes an entry point's launches for one chunk of tokens (each with its
// position and cache slot) and returns the logits of every token.
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
#include <vector>

namespace dsrt {

class Session {
public:
  Session(const Program &program, const WeightStore &weights,
          CpuDevice &device, const HostKernel *kernels, size_t numKernels);

  /// Runs entry point `entry` on tokens[i] at positions[i] of slots[i]
  /// (all of the same length, at most the entry's max_tokens). The logits,
  /// [tokens, vocab] f32, stay valid until the next run().
  Expected<const float *> run(const char *entry,
                              const std::vector<int32_t> &tokens,
                              const std::vector<int32_t> &positions,
                              const std::vector<int32_t> &slots);

  /// Empties slot `slot` of the cache (its positions may be written again).
  void resetSlot(int32_t slot);

private:
  const Program &program_;
  const WeightStore &weights_;
  CpuDevice &device_;
  const HostKernel *kernels_;
  struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeDeleter> arena_, cache_;
};

} // namespace dsrt

#endif // DSRT_SESSION_H
