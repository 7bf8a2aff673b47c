//===- Pipelines.h - dsc's pass pipelines --------------------------*- C++
//-*-===//
//
// The pass pipelines `dsc compile` runs, as C++ functions with a comment per
// step, so that dsc-opt, tests and other targets can run them too.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_COMPILER_PIPELINES_H
#define DSC_COMPILER_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <string>

namespace dsc {

struct PipelineOptions {
  int64_t maxSeqLen = 4096;    // positions per sequence in the KV cache
  int64_t maxBatch = 8;        // sequences at once (decode tokens per step)
  int64_t pageSize = 0;        // positions per KV cache page; 0: default
  int64_t prefillChunk = 256;  // tokens per prefill call
  std::string target = "cpu";  // instruction-set target (cuda:sm_90a, ...)
  std::string gpu;             // device profile; "": the target's default
  bool hostTwins = false;      // cuda: also the generic host kernels (checks)
  int64_t attentionSplits = 0; // decode attention shares; 0: the target's
  int64_t streams = 0;         // streams launches run on; 0: the target's
  bool tensorCores = true; // tensor-core strategies where the target has them
  bool tileMma = false;    // decode's products on tensor cores (tile_mma)
  bool tileMmaPrefill = false; // ... and prefill's
  int64_t rowGroup = 4;        // input rows a warp of a bf16 product serves
  int64_t fp8RowGroup = 1;     // ... of an fp8 product
  int64_t expertRowGroup = 1;  // choices of an expert a warp of the routed
                               // up projection serves
  bool fuseNorms = false;      // decode's RMSNorms folded into their products
  bool fuseLMHeadNorm = true;  // ... the final one into the lm_head too
  bool fuseRouter = false;     // router logits and selection in one kernel
  bool fuseAttentionCombine = false; // split attention merged in absorb_value
  int64_t logProbs = -1; // top tokens' log-probabilities reported; -1: none

  bool isCUDA() const { return target.rfind("cuda:", 0) == 0; }
  /// Streams the launches run on: `streams`, or 4 on GPUs (independent
  /// kernels overlap in a CUDA graph) and 1 on the cpu target.
  int64_t launchStreams() const {
    return streams > 0 ? streams : isCUDA() ? 4 : 1;
  }
};

/// Model-level ds to kernel-level ds (`--emit=ds-opt`).
void buildModelPipeline(mlir::OpPassManager &pm,
                        const PipelineOptions &options);

/// Kernel-level ds to the schedule: planned buffers, generated host
/// kernels, ordered launches (`--emit=schedule`).
void buildSchedulePipeline(mlir::OpPassManager &pm,
                           const PipelineOptions &options);

/// Registers both as `dsc-model-pipeline` and `dsc-schedule-pipeline` for
/// dsc-opt.
void registerPipelines();

} // namespace dsc

#endif // DSC_COMPILER_PIPELINES_H
