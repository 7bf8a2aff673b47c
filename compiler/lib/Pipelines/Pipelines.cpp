//===- Pipelines.cpp - dsc's pass pipelines -------------------------------===//
//
// Each step says why it is there.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Pipelines.h"

#include "dsc/Compiler/Passes.h"
#include "dsc/Target/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace dsc {

void buildModelPipeline(mlir::OpPassManager &pm,
                        const PipelineOptions &options) {
  // Decode attends in the latent space (docs/model.md §2.7): per step it
  // reads the 576-wide cache instead of expanding keys and values. On GPUs
  // prefill does too, until a tensor-core prefill attention exists: the
  // generic naive form expands keys per query, which is far slower there.
  DSAbsorbMLAOptions absorb;
  if (options.isCUDA())
    absorb.entries = {"prefill", "decode"};
  pm.addPass(createDSAbsorbMLA(absorb));
  // One op per kernel launch from here on: every later step (buffers,
  // kernels, launches) works op by op.
  pm.addPass(createDSDecompose());
  // Weight reads repeated by the decomposition fold into one.
  pm.addPass(mlir::createCSEPass());
  // Residual adds become the stores of the products they follow.
  pm.addPass(createDSFuseEpilogues());
  // Decode's RMSNorms become the prologues of the products that read them
  // (dsc compile: by default on CUDA targets): no launch and no stored row
  // per norm; a CUDA block normalises its row once into shared memory while
  // its first weights are in flight (docs/performance.md, seventh session).
  // dsc leaves the final norm apart on GPUs: staged in each of the
  // lm_head's 25,600 blocks it costs more than its launch.
  if (options.fuseNorms) {
    DSFuseNormsOptions fuse;
    fuse.lmHead = options.fuseLMHeadNorm;
    pm.addPass(createDSFuseNorms(fuse));
  }
  // The router's logits and its choice in one kernel (dsc compile
  // --fuse-router; off by default: with programmatic dependent launch the
  // second launch costs little, docs/performance.md, ninth session). After
  // the norms fold, so that the router's norm clause comes along.
  if (options.fuseRouter)
    pm.addPass(createDSFuseRouter());
  // The sampled and the likeliest tokens' log-probabilities (dsc compile
  // --logprobs=K), computed on the device after the sample.
  if (options.logProbs >= 0) {
    DSLogProbsOptions logProbs;
    logProbs.top = options.logProbs;
    pm.addPass(createDSLogProbs(logProbs));
  }
}

void buildSchedulePipeline(mlir::OpPassManager &pm,
                           const PipelineOptions &options) {
  // Each kernel's strategy, from what the target's instructions allow and
  // what the device's capacities favour; generation only follows it.
  DSConfigureKernelsOptions configure;
  configure.target = options.target;
  configure.gpu = options.gpu;
  configure.tensorCores = options.tensorCores;
  configure.tileMma = options.tileMma;
  configure.tileMmaPrefill = options.tileMmaPrefill;
  configure.rowGroup = options.rowGroup;
  configure.fp8RowGroup = options.fp8RowGroup;
  configure.expertRowGroup = options.expertRowGroup;
  pm.addPass(createDSConfigureKernels(configure));
  // Strategies made of two kernels become two ops (position-split decode
  // attention: partial states, then their combine), so that the plan below
  // places their workspace like any other activation.
  DSSplitAttentionOptions split;
  split.splits = options.attentionSplits;
  pm.addPass(createDSSplitAttention(split));
  // The shares' merge in the value product (one dependent kernel less per
  // layer), then the configuration of the ops that made.
  if (options.fuseAttentionCombine) {
    pm.addPass(createDSFuseAttentionCombine());
    configure.keepExisting = true;
    pm.addPass(createDSConfigureKernels(configure));
  }
  // Activations: the kernels index buffers the plan placed.
  DSPlanBuffersOptions plan;
  plan.prefillChunk = options.prefillChunk;
  plan.maxBatch = options.maxBatch;
  plan.concurrent = options.launchStreams() > 1;
  pm.addPass(createDSPlanBuffers(plan));
  // The kernels, one per distinct op signature, generated as configured.
  DSGenerateKernelsOptions generate;
  generate.maxSeqLen = options.maxSeqLen;
  generate.maxBatch = options.maxBatch;
  generate.pageSize = options.pageSize;
  generate.hostTwins = options.hostTwins;
  pm.addPass(createDSGenerateKernels(generate));
  // The ordered launches of those kernels, with where each pointer goes.
  // On GPUs, independent launches go on their own streams (a CUDA graph
  // runs them side by side): a small kernel such as the router's fills a
  // few SMs, and the shared experts' product can use the rest meanwhile.
  DSScheduleOptions schedule;
  schedule.streams = options.launchStreams();
  schedule.maxSeqLen = options.maxSeqLen;
  schedule.pageSize = options.pageSize;
  schedule.maxBatch = options.maxBatch;
  pm.addPass(createDSSchedule(schedule));
}

void registerPipelines() {
  mlir::PassPipelineRegistration<>(
      "dsc-model-pipeline", "model-level ds to kernel-level ds",
      [](mlir::OpPassManager &pm) { buildModelPipeline(pm, {}); });
  mlir::PassPipelineRegistration<>(
      "dsc-schedule-pipeline",
      "kernel-level ds to a schedule of host-kernel launches (defaults: "
      "max-seq-len 4096, max-batch 8, prefill-chunk 256)",
      [](mlir::OpPassManager &pm) { buildSchedulePipeline(pm, {}); });
}

} // namespace dsc
