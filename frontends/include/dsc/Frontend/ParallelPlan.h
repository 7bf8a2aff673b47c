//===- ParallelPlan.h - what a model costs spread over several GPUs -*- C++
//-*-//
//
// The arithmetic of a layout over N GPUs, before any partitioned code runs
// (`dsc info --gpus N`; issue 16, and docs/design/multi-gpu.md, which does
// the same sums by hand for DeepSeek-V3). The routed experts are always
// spread over all N GPUs (expert parallel, expert e on rank e mod N, so a
// routing group does not land on one rank). Attention is either
//  - tensor parallel over heads (TP): q_b (or q), kv_b and o are split by
//    head; q_a, kv_a, the norms, the routers and the latent cache are
//    replicated; the shared experts, the dense MLPs and the vocabulary
//    (embedding and lm_head rows) are split N ways. Best for one user's
//    latency: every GPU reads a share of every weight a token needs.
//  - data parallel (DP): every rank holds the whole attention, shared
//    experts, dense MLPs and vocabulary, and serves its own sequences, so
//    the cache is not replicated. Best for throughput with many sequences.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_FRONTEND_PARALLELPLAN_H
#define DSC_FRONTEND_PARALLELPLAN_H

#include "dsc/Frontend/ModelConfig.h"

#include <cstdint>
#include <string>

namespace dsc {

enum class AttentionLayout { TensorParallel, DataParallel };

/// "tp" or "dp".
const char *attentionLayoutName(AttentionLayout layout);

struct ParallelPlan {
  int64_t gpus = 1;
  AttentionLayout attention = AttentionLayout::TensorParallel;
  bool fp8 = false; // linears counted as fp8 with their block scales

  /// Weight bytes on each GPU, by part: the routed experts; attention
  /// (projections and their norms); the shared experts, dense MLPs and
  /// routers; embedding and lm_head; the other norms.
  int64_t routedExpertBytes = 0, attentionBytes = 0, mlpBytes = 0,
          vocabularyBytes = 0, otherBytes = 0;
  int64_t weightBytes() const {
    return routedExpertBytes + attentionBytes + mlpBytes + vocabularyBytes +
           otherBytes;
  }
  /// Routed experts each GPU holds per MoE layer.
  int64_t expertsPerGpu = 0;

  /// Batch 1. The expected number of a token's top-k experts on the rank
  /// that holds most of them, per MoE layer (every set of k distinct
  /// experts equally likely: group-limited routing spreads over ranks the
  /// same way under the round-robin placement), and the bytes the busiest
  /// GPU reads per token: its share of every non-expert weight (a row of
  /// the embedding) plus that many experts per MoE layer. Each layer waits
  /// for its busiest rank, so this bounds a token's time from below.
  double busiestExperts = 0;
  double bytesPerTokenBusiest = 0;

  /// Latent cache bytes per cached position on a GPU that holds the
  /// sequence: under TP every GPU (replicated), under DP only the
  /// sequence's rank.
  int64_t kvBytesPerPosition = 0;

  /// Collectives per token at batch 1, and the bytes they carry (payload
  /// per collective times their number). TP: an all-reduce of the bf16
  /// hidden state after each layer's attention and after its MLP, and an
  /// all-gather of the vocabulary-split f32 logits. DP: per MoE layer the
  /// token's bf16 hidden state dispatched to each rank that holds one of
  /// its experts and their bf16 sum combined back (two transfers per such
  /// rank, the expected number of ranks).
  double collectivesPerToken = 0, collectiveBytesPerToken = 0;
};

/// The plan of `config` over `gpus` GPUs with `attention`, linears in fp8
/// when `fp8`; "" on success, else why the layout cannot be built (the
/// experts or the heads not divisible by the GPUs).
std::string planParallel(const ModelConfig &config, int64_t gpus,
                         AttentionLayout attention, bool fp8,
                         ParallelPlan &plan);

} // namespace dsc

#endif // DSC_FRONTEND_PARALLELPLAN_H
