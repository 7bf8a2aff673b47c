//===- ParallelPlan.cpp - what a model costs spread over several GPUs -----===//
//
// See ParallelPlan.h.
//
//===----------------------------------------------------------------------===//

#include "dsc/Frontend/ParallelPlan.h"

#include "dsc/Frontend/ModelWeights.h"

#include <algorithm>
#include <vector>

namespace dsc {

const char *attentionLayoutName(AttentionLayout layout) {
  return layout == AttentionLayout::TensorParallel ? "tp" : "dp";
}

namespace {

bool startsWith(const std::string &s, const std::string &prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// The part of a layer's weight name after "model.layers.<i>.".
std::string inLayer(const WeightSpec &w) {
  std::string prefix = layerPrefix(w.layer);
  return startsWith(w.name, prefix) ? w.name.substr(prefix.size()) : w.name;
}

/// ceil(bytes * share / whole): a split that gives the first ranks one row
/// more when `whole` is not a multiple of the GPUs.
int64_t shareOf(int64_t bytes, int64_t whole, int64_t gpus) {
  int64_t rows = (whole + gpus - 1) / gpus;
  return (bytes * rows + whole - 1) / whole;
}

/// C(n, k) as a double (0 outside 0 <= k <= n).
double choose(int64_t n, int64_t k) {
  if (k < 0 || k > n)
    return 0;
  double r = 1;
  for (int64_t i = 1; i <= k; ++i)
    r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r;
}

/// The expected largest number of `k` distinct experts (of `experts`, every
/// set equally likely) that one of `ranks` ranks holds, each rank holding
/// experts / ranks of them: sum over m of P(max > m), where the sets with
/// every rank at most m are counted rank by rank.
double expectedBusiest(int64_t experts, int64_t ranks, int64_t k) {
  int64_t per = experts / ranks;
  double all = choose(experts, k), expected = 0;
  for (int64_t m = 0; m < k; ++m) {
    std::vector<double> ways(static_cast<size_t>(k + 1), 0.0);
    ways[0] = 1;
    for (int64_t r = 0; r < ranks; ++r) {
      std::vector<double> next(ways.size(), 0.0);
      for (int64_t j = 0; j <= k; ++j)
        for (int64_t c = 0; c <= std::min(m, per) && j + c <= k; ++c)
          next[static_cast<size_t>(j + c)] +=
              ways[static_cast<size_t>(j)] * choose(per, c);
      ways = std::move(next);
    }
    expected += 1.0 - ways[static_cast<size_t>(k)] / all;
  }
  return expected;
}

} // namespace

std::string planParallel(const ModelConfig &c, int64_t gpus,
                         AttentionLayout attention, bool fp8,
                         ParallelPlan &plan) {
  plan = ParallelPlan{};
  plan.gpus = gpus;
  plan.attention = attention;
  plan.fp8 = fp8;
  if (gpus < 1)
    return "the number of GPUs must be at least 1";
  const bool tp = attention == AttentionLayout::TensorParallel;
  if (c.hasMoE() && c.numRoutedExperts % gpus != 0)
    return "the " + std::to_string(c.numRoutedExperts) +
           " routed experts do not divide among " + std::to_string(gpus) +
           " GPUs";
  if (tp && c.numHeads % gpus != 0)
    return "tensor-parallel attention splits the " +
           std::to_string(c.numHeads) +
           " heads by GPU: " + std::to_string(gpus) + " does not divide them";

  int64_t moeLayers = 0, firstMoE = -1;
  for (int64_t i = 0; i < c.numLayers; ++i)
    if (c.isMoELayer(i)) {
      ++moeLayers;
      if (firstMoE < 0)
        firstMoE = i;
    }
  // Per GPU (rank 0; every rank holds as much): what it holds, and what it
  // reads per token besides the experts.
  double readPerToken = 0;
  int64_t expertBytes = 0; // one routed expert of one layer
  for (const WeightSpec &w : listWeights(c)) {
    int64_t bytes = weightBytes(w, c, fp8);
    if (w.expert >= 0) {
      plan.routedExpertBytes += w.expert % gpus == 0 ? bytes : 0;
      if (w.expert == 0 && w.layer == firstMoE)
        expertBytes += bytes;
      continue;
    }
    std::string name = inLayer(w);
    int64_t held = bytes;
    int64_t *part = &plan.otherBytes;
    if (w.role == WeightRole::Embedding || w.role == WeightRole::Head) {
      part = &plan.vocabularyBytes;
      if (tp)
        held = shareOf(bytes, c.vocabSize, gpus);
    } else if (startsWith(name, "self_attn.")) {
      part = &plan.attentionBytes;
      bool byHead = startsWith(name, "self_attn.q_proj.") ||
                    startsWith(name, "self_attn.q_b_proj.") ||
                    startsWith(name, "self_attn.kv_b_proj.") ||
                    startsWith(name, "self_attn.o_proj.");
      if (tp && byHead)
        held = bytes / gpus;
    } else if (startsWith(name, "mlp.")) {
      part = &plan.mlpBytes;
      bool router = startsWith(name, "mlp.gate.");
      int64_t width = startsWith(name, "mlp.shared_experts.")
                          ? c.numSharedExperts * c.moeIntermediateSize
                          : c.intermediateSize;
      if (tp && !router)
        held = shareOf(bytes, width, gpus);
    }
    *part += held;
    // A token reads one row of the embedding, all of every other weight.
    readPerToken += w.role == WeightRole::Embedding
                        ? 2.0 * static_cast<double>(c.hiddenSize)
                        : static_cast<double>(held);
  }
  if (c.hasMoE()) {
    // An expert's weights are the same size in every MoE layer.
    plan.expertsPerGpu = c.numRoutedExperts / gpus;
    plan.busiestExperts =
        expectedBusiest(c.numRoutedExperts, gpus, c.numExpertsPerToken);
    readPerToken += plan.busiestExperts * static_cast<double>(expertBytes) *
                    static_cast<double>(moeLayers);
  }
  plan.bytesPerTokenBusiest = readPerToken;
  plan.kvBytesPerPosition = summarize(c).kvCacheBytesPerToken;

  double hidden = 2.0 * static_cast<double>(c.hiddenSize);
  if (gpus == 1)
    return "";
  if (tp) {
    plan.collectivesPerToken = 2.0 * static_cast<double>(c.numLayers) + 1;
    plan.collectiveBytesPerToken =
        2.0 * static_cast<double>(c.numLayers) * hidden +
        4.0 * static_cast<double>(c.vocabSize);
  } else if (c.hasMoE()) {
    // The ranks holding at least one of the token's experts.
    int64_t per = c.numRoutedExperts / gpus;
    double none = choose(c.numRoutedExperts - per, c.numExpertsPerToken) /
                  choose(c.numRoutedExperts, c.numExpertsPerToken);
    double ranks = static_cast<double>(gpus) * (1.0 - none);
    plan.collectivesPerToken = 2.0 * static_cast<double>(moeLayers);
    plan.collectiveBytesPerToken =
        2.0 * static_cast<double>(moeLayers) * ranks * hidden;
  }
  return "";
}

} // namespace dsc
