//===- ConfigureKernels.cpp - ds-configure-kernels ------------------------===//
//
// Chooses, per kernel-level op, the strategy its kernel is generated with
// and that strategy's parameters, from the instruction-set target, the
// device profile and the op's static shapes (see Passes.td). The rules read
// capabilities (warp shuffles, registers, threads per block) and capacities
// (the profile's register file), never a chip's name; a new strategy for a
// new chip is a new rule here plus its kernel file.
//
//===----------------------------------------------------------------------===//

#include "dsc/Compiler/Passes.h"
#include "dsc/Dialect/DS/KernelArguments.h"
#include "dsc/Target/TargetDescription.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

namespace dsc {
#define GEN_PASS_DEF_DSCONFIGUREKERNELS
#include "dsc/Compiler/Passes.h.inc"
} // namespace dsc

using namespace mlir;
using namespace dsc::ds;

namespace {

/// Registers the block-split decode attention needs per thread (ptxas
/// reports 128 or fewer at the 576-wide latent of every DeepSeek model).
constexpr int64_t kBlockSplitRegisters = 128;
/// Prefill tokens one warp serves at a 512-wide latent: 4 tokens' output
/// accumulators (16 per lane each) and queries fill the 255 registers a
/// thread may use (ptxas, sm_90a). Wider latents hold proportionally fewer.
constexpr int64_t kQueryGroupAt512 = 4;
constexpr int64_t kWarp = 32;
/// Routed experts a warp's registers hold for ds.moe_select (8 per lane).
constexpr int64_t kMaxExpertsPerWarp = 8 * kWarp;
/// Registers a sampler thread may use (ptxas reports fewer at sm_90a), and
/// the f32 bin sums each thread keeps in shared memory for the thresholds'
/// radix search (16 bins and one above them).
constexpr int64_t kSamplerRegisters = 128;
constexpr int64_t kSamplerBinsPerThread = 17;
/// Blocks of a sampler's cluster: the portable maximum, so a row's dozen
/// passes over the vocabulary run on 8 SMs instead of one.
constexpr int64_t kSamplerClusterBlocks = kMaxClusterBlocks;
/// Threads of a ds.logprobs block.
constexpr int64_t kLogProbsThreads = 1024;
/// Blocks of the router's cluster (ds.moe_gate): the portable maximum, so
/// that a token's experts spread over as many SMs as a cluster spans; and
/// the most warps of one of its blocks (at 256 threads any register count
/// a kernel may have fits an SM: V3's 256 experts take 4 per warp).
constexpr int64_t kRouterClusterBlocks = kMaxClusterBlocks;
constexpr int64_t kRouterMaxWarps = 8;
/// Blocks of a merging value product's cluster (ds.mla_absorb_value
/// combine(...)): the portable maximum, so that a (token, head)'s merge and
/// its W_UV rows spread over 8 SMs; and the lanes that merge 4 latent
/// columns (the combine kernel's).
constexpr int64_t kMergeClusterBlocks = kMaxClusterBlocks;
constexpr int64_t kMergeLanes = 8;
/// Value features one of its warps computes (in one pass over the merged
/// row): 4 makes V2-Lite's and V3's blocks 4 warps (119 registers: 4
/// blocks an SM, so batch 4's 512 blocks are one wave). Measured on the
/// H200 against 2 (8 warps, 96 registers): level at batch 1, +1% at batch
/// 4 and for V3 (docs/performance.md, tenth session).
constexpr int64_t kMergeFeaturesPerWarp = 4;
/// warp_async: warps per block, and blocks per SM its shared memory is
/// sized for (the token's activations, 22 KB for V2-Lite, then each warp's
/// stages). Measured on the H200 at V2-Lite's down projection (eleventh
/// session, docs/performance.md): 4 warps sized for 3 blocks (128
/// registers then, 96 with the body inlined; 3 stages of 4 KB a warp) against 4
/// for 4 blocks (2 stages), 8 for 2 and 16 for 1: level at batch 1 (525 / 513 /
/// 524 / 518 tok/s), best or level at 4K. Before the activations were staged
/// (241 registers, 2 blocks an SM whatever the sizing) the same sizing took
/// 0.426 ms per step against 0.452 for 2 blocks and 0.506 for `warp`.
/// fp8 rows (half the bytes an iteration) are sized for 4 blocks where
/// that makes one token's blocks one wave and 3 would not: V2-Lite's 512
/// blocks (3 an SM left 1.29 waves; Nsight Compute: 16.3 µs, 30% of the
/// DRAM bandwidth) gain 3% at batch 1 (thirteenth session). V3's 1,792
/// (4.5 waves) lost 3.3% with 4 (2 stages a warp instead of 3).
constexpr int64_t kWarpAsyncWarps = 4;
constexpr int64_t kWarpAsyncBlocksPerSM = 3;
constexpr int64_t kWarpAsyncFp8BlocksPerSM = 4;
/// warp_async applies below this many output features per SM: V2-Lite's
/// 2,048 (15.5 warps per SM at one token) and, since the block stages its
/// token's activations, V3's 7,168 (54 per SM: 0.272 -> 0.204 ms per step
/// for the 6-layer cut, +4% at batch 1; thirteenth session) gain. Before
/// the staging V3's lost 3-4%. Wider outputs are unmeasured and keep `warp`.
constexpr int64_t kWarpAsyncMaxOutputsPerSM = 64;
/// The most shared memory a `warp` product's row group may stage (its rows
/// as bf16 and a fused norm's sums of squares): V2-Lite's 2,048-column rows
/// take 4 a group, V3's 7,168-column ones 2.
constexpr int64_t kRowGroupSharedBytes = 32 * 1024;
/// The fewest rows a `tile_mma` product's launch runs on tensor cores; fewer
/// run its `warp` variants (ds.variants).
constexpr int64_t kTileMmaMinRows = 9;
/// The fewest rows (tokens) whose launch of an expert-grouped up projection
/// runs the grouped kernel; fewer run the per-choice one (ds.variants). At
/// 16 rows V2-Lite's 96 choices give most experts one or two, too few to
/// share a weight read: the grouped kernel is 6% slower there (b16 926 vs
/// 985 tok/s), 7.5% faster at 32 rows, 17% at 64 and 47% at a 1,024-token
/// prefill (nineteenth session).
constexpr int64_t kExpertGroupMinRows = 17;
/// Static shared memory a block may always have (48 KB on every CUDA chip).
constexpr int64_t kStaticSharedBytes = 48 * 1024;
/// position_split: the rows of its cache tile, and the shared memory the
/// tile may take (static shared arrays are limited to 48 KB per block).
constexpr int64_t kTileRows = 32;
constexpr int64_t kMaxTileBytes = 40 * 1024;

class KernelConfigurator {
public:
  KernelConfigurator(MLIRContext *context, const dsc::TargetDescription &target,
                     const dsc::DeviceProfile *device, bool tensorCores,
                     bool tileMma, bool tileMmaPrefill, int64_t rowGroup,
                     int64_t fp8RowGroup, int64_t expertRowGroup)
      : context(context), target(target), device(device),
        tensorCores(tensorCores), tileMmaProducts(tileMma),
        tileMmaPrefill(tileMmaPrefill), rowGroup(rowGroup),
        fp8RowGroup(fp8RowGroup), expertRowGroup(expertRowGroup) {}

  /// The configuration of `op` in an entry point of kind `entry`, or null
  /// when `op` is not kernel-level.
  KernelConfigAttr choose(Operation *op, StringRef entry) const {
    return llvm::TypeSwitch<Operation *, KernelConfigAttr>(op)
        // A thread per element or row suffices: no reduction to share.
        .Case<SwiGLUOp, AddOp, RopeOp, MLAAttentionOp, MoELocalChoicesOp>(
            [&](Operation *) { return generic(); })
        // A warp per token copying its table row in 16-byte groups.
        .Case([&](EmbedOp embed) {
          return target.hasWarpShuffle &&
                         embed.getTable().getType().getDimSize(1) % 8 == 0
                     ? warp()
                     : generic();
        })
        // A warp per token, its lanes holding the experts' scores.
        .Case([&](MoESelectOp select) {
          int64_t experts = select.getLogits().getType().getDimSize(1);
          return target.hasWarpShuffle && experts <= kMaxExpertsPerWarp
                     ? warp()
                     : generic();
        })
        .Case([&](MoEGateOp gate) { return router(gate); })
        .Case([&](MLAAbsorbValueOp value) {
          if (value.getLse())
            return mergingValue(value);
          return target.hasWarpShuffle ? warp() : generic();
        })
        .Case([&](MoEExpertDownOp down) {
          if (KernelConfigAttr staged = warpAsync(down))
            return staged;
          return target.hasWarpShuffle ? warp() : generic();
        })
        // Decode products on tensor cores where they apply.
        .Case<LinearOp, GatedLinearOp, LMHeadOp>([&](Operation *product) {
          if (KernelConfigAttr tiled = tileMma(product, entry))
            return tiled;
          return target.hasWarpShuffle ? warpProduct(product) : generic();
        })
        .Case([&](RMSNormOp norm) { return rmsNorm(norm); })
        // Reductions along a row: 32 lanes share it where warps exist.
        .Case<RouterLogitsOp, MLACacheWriteOp, MLAAbsorbQueryOp>(
            [&](Operation *) {
              return target.hasWarpShuffle ? warp() : generic();
            })
        .Case([&](MoEExpertUpOp up) {
          return target.hasWarpShuffle ? expertUp(up) : generic();
        })
        .Case([&](SampleOp) { return sampler(); })
        .Case([&](LogProbsOp) { return logProbs(); })
        .Case([&](MLALatentAttentionOp attention) {
          return latentAttention(attention, entry);
        })
        .Case([&](MLALatentAttentionPartialOp partial) {
          LatentCacheType cache = partial.getCache().getType();
          KernelConfigAttr config =
              positionSplitMma(cache, partial.getNumHeads());
          if (!config)
            config = positionSplit(cache, partial.getNumHeads());
          return config ? config : generic();
        })
        // 8 lanes per (token, head, 4 latent columns) where warps exist.
        .Case([&](MLAAttentionCombineOp combine) {
          int64_t latent = cast<RankedTensorType>(combine.getResult().getType())
                               .getShape()
                               .back();
          return target.hasWarpShuffle && latent % 4 == 0 ? warp() : generic();
        })
        .Default([](Operation *) { return KernelConfigAttr(); });
  }

  /// The strategies for launches of few rows (`ds.variants`) of `op`,
  /// configured `config`; null where its own kernel serves every row
  /// count. A `warp` product with a row group holds the grouped path's
  /// registers, so a launch of one row (batch-1 decode) runs the one-row
  /// kernel. A `tile_mma` product (16 rows a tile) runs the `warp` kernels
  /// up to kTileMmaMinRows - 1 rows: the one-row kernel, then the grouped
  /// one where the product has a row group (else the one-row kernel up to
  /// kTileMmaMinRows - 1 rows). An expert-grouped up projection runs the
  /// per-choice kernel up to kExpertGroupMinRows - 1 rows.
  ArrayAttr variants(Operation *op, KernelConfigAttr config) const {
    auto oneRow = [&](KernelConfigAttr warp) {
      return KernelConfigAttr::get(
          context, KernelStrategy::Warp, warp.getBlock(), /*rowGroup=*/1,
          warp.getDynamicSharedBytes(), warp.getSplits());
    };
    if (config.getStrategy() == KernelStrategy::TileMma) {
      if (!target.hasWarpShuffle)
        return {};
      KernelConfigAttr warp = warpProduct(op);
      if (warp.getRowGroup() == 1)
        return ArrayAttr::get(
            context,
            {KernelVariantAttr::get(context, kTileMmaMinRows - 1, warp)});
      return ArrayAttr::get(
          context,
          {KernelVariantAttr::get(context, 1, oneRow(warp)),
           KernelVariantAttr::get(context, kTileMmaMinRows - 1, warp)});
    }
    if (config.getStrategy() != KernelStrategy::Warp ||
        config.getRowGroup() == 1)
      return {};
    int64_t rows = isa<MoEExpertUpOp>(op) ? kExpertGroupMinRows - 1 : 1;
    return ArrayAttr::get(
        context, {KernelVariantAttr::get(context, rows, oneRow(config))});
  }

private:
  MLIRContext *context;
  const dsc::TargetDescription &target;
  const dsc::DeviceProfile *device;
  bool tensorCores;
  bool tileMmaProducts, tileMmaPrefill;
  int64_t rowGroup, fp8RowGroup, expertRowGroup;

  KernelConfigAttr generic() const {
    return KernelConfigAttr::getGeneric(context);
  }
  KernelConfigAttr warp() const {
    return KernelConfigAttr::get(context, KernelStrategy::Warp, 4 * kWarp, 1,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// RMSNorm: a block per row where the row reads in 256-column groups
  /// and has more than a warp's registers hold together
  /// (kRMSNormWarpGroups), with enough warps that each holds
  /// kRMSNormBlockGroups (at most the target's threads per block); else a
  /// warp per row.
  KernelConfigAttr rmsNorm(RMSNormOp op) const {
    if (!target.hasWarpShuffle)
      return generic();
    int64_t width = op.getInput().getType().getShape().back();
    constexpr int64_t kSpan = kWarp * 8;
    int64_t groups = width / kSpan;
    if (width % kSpan != 0 || groups <= kRMSNormWarpGroups)
      return warp();
    int64_t warps = std::min<int64_t>((groups + kRMSNormBlockGroups - 1) /
                                          kRMSNormBlockGroups,
                                      target.maxThreadsPerBlock / kWarp);
    return KernelConfigAttr::get(context, KernelStrategy::Block, warps * kWarp,
                                 1, /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// The routed experts' down projection with its weights staged in shared
  /// memory (`warp_async`, where the target has cp.async), where the `warp`
  /// kernel's warps (one per output feature) would leave the SMs short of
  /// bytes in flight: fewer than kWarpAsyncMaxOutputsPerSM outputs per SM.
  /// kWarpAsyncWarps warps per block; the block's token's activations
  /// (MoEDownTerms::inputBytes) and each warp's stages sized so that
  /// kWarpAsyncBlocksPerSM blocks (kWarpAsyncFp8BlocksPerSM where every
  /// row is fp8 and that makes a token's blocks one wave) share an SM's
  /// shared memory. Null where it does not apply, the rows do not read in
  /// 8-column groups or the activations leave no room.
  KernelConfigAttr warpAsync(MoEExpertDownOp op) const {
    if (!target.hasAsyncCopy || !device)
      return {};
    int64_t outputs =
        cast<RankedTensorType>(op.getResult().getType()).getShape().back();
    std::optional<MoEDownTerms> terms = moeDownTerms(op);
    if (!terms || outputs >= kWarpAsyncMaxOutputsPerSM * device->smCount)
      return {};
    // The block's share: its token's activations, then its warps' stages;
    // its warps are outputs of one token.
    int64_t warps = kWarpAsyncWarps;
    int64_t blocks = outputs / warps;
    int64_t blocksPerSM =
        !terms->bf16Terms && blocks > kWarpAsyncBlocksPerSM * device->smCount &&
                blocks <= kWarpAsyncFp8BlocksPerSM * device->smCount
            ? kWarpAsyncFp8BlocksPerSM
            : kWarpAsyncBlocksPerSM;
    int64_t perBlock = std::min(device->sharedMemoryPerSM / blocksPerSM - 1024,
                                target.maxSharedMemoryPerBlock) -
                       terms->inputBytes;
    if (outputs % warps != 0 || perBlock <= 0)
      return {};
    WarpStageLayout layout = warpStageLayout(
        terms->cols, terms->bf16Terms, terms->fp8Terms, kWarpAsyncLoadsInFlight,
        perBlock / warps, terms->fp8BlockCols);
    if (layout.warpBytes * warps > perBlock)
      return {};
    return KernelConfigAttr::get(context, KernelStrategy::WarpAsync,
                                 warps * kWarp, 1,
                                 terms->inputBytes + layout.warpBytes * warps,
                                 /*splits=*/1);
  }

  /// A `warp` matrix product whose warps serve a feature of `row_group`
  /// input rows each (MatrixProducts.cpp): the pass's row-group (its
  /// fp8-row-group for fp8 weights), halved while the group's staged rows
  /// (bf16, and a fused norm's sums of squares, an f32 per 8 columns)
  /// exceed kRowGroupSharedBytes; 1 where a block of 4 warps cannot stage
  /// its rows (the features a multiple of the block's warps, rows read in
  /// 16-byte groups, of whole 256-column spans where a norm is folded
  /// in).
  KernelConfigAttr warpProduct(Operation *op) const {
    KernelConfigAttr plain = warp();
    Type weight = op->getOperand(1).getType();
    int64_t features = 0, cols = 0;
    auto fp8 = dyn_cast<FP8BlockWeightType>(weight);
    if (fp8) {
      if (fp8.getBlockCols() % 8 != 0)
        return plain;
      features = fp8.getRows();
      cols = fp8.getCols();
    } else if (auto type = dyn_cast<RankedTensorType>(weight);
               type && type.getRank() == 2 && type.hasStaticShape()) {
      features = type.getDimSize(0);
      cols = type.getDimSize(1);
    }
    int64_t warps = plain.getBlock() / kWarp;
    bool norm = getInputNorm(op).has_value();
    if (features == 0 || features % warps != 0 ||
        cols % (norm ? kWarp * 8 : 8) != 0)
      return plain;
    int64_t rowBytes = cols * 2 + (norm ? cols / 2 : 0);
    int64_t group = std::max<int64_t>(fp8 ? fp8RowGroup : rowGroup, 1);
    while (group > 1 && group * rowBytes > kRowGroupSharedBytes)
      group /= 2;
    return KernelConfigAttr::get(context, KernelStrategy::Warp,
                                 plain.getBlock(), group,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// The routed experts' up projection: with the expert-row-group option
  /// G > 1, each expert's choices in groups of G (the expert-grouped
  /// kernel, MoE.cpp), halved while the group's staged rows (and a folded
  /// norm's sums of squares) exceed kRowGroupSharedBytes; where a block of
  /// 4 warps divides the features and the rows read in 16-byte groups (of
  /// whole 256-column spans with a norm). Else a warp per (choice,
  /// feature).
  KernelConfigAttr expertUp(MoEExpertUpOp op) const {
    KernelConfigAttr plain = warp();
    Type gate = op.getGate().getType();
    int64_t inner = 0, hidden = 0;
    if (auto fp8 = dyn_cast<FP8BlockWeightType>(gate)) {
      if (fp8.getBlockCols() % 8 != 0)
        return plain;
      inner = fp8.getRows();
      hidden = fp8.getCols();
    } else {
      auto type = cast<RankedTensorType>(gate);
      inner = type.getDimSize(1);
      hidden = type.getDimSize(2);
    }
    bool norm = getInputNorm(op).has_value();
    if (expertRowGroup <= 1 || inner % (plain.getBlock() / kWarp) != 0 ||
        hidden % (norm ? kWarp * 8 : 8) != 0)
      return plain;
    int64_t rowBytes = hidden * 2 + (norm ? hidden / 2 : 0);
    int64_t group = expertRowGroup;
    while (group > 1 && group * rowBytes > kRowGroupSharedBytes)
      group /= 2;
    return KernelConfigAttr::get(context, KernelStrategy::Warp,
                                 plain.getBlock(), group,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// With the tile-mma option (`dsc compile`'s default on cuda targets;
  /// launches of up to 8 rows run `warp` variants), a decode product on
  /// tensor cores (`tile_mma`) where the target has mma.sync (and, for fp8
  /// weights, the e4m3x2 conversion): the weight rows in 128-byte iterations
  /// (fp8 scale blocks a multiple of 128 columns), a fused norm's row in
  /// 256-column groups (the ds.rms_norm kernel's order), 8 | output features.
  /// Warps per block: enough that each holds at most kTileMmaRegisterIterations
  /// over its weights, at least 4, doubled (up to 16, at most one per
  /// iteration) while the blocks' warps would not give every SM 8; the staged
  /// rows as many as leave two blocks an SM's shared memory. Null where it does
  /// not apply.
  KernelConfigAttr tileMma(Operation *op, StringRef entry) const {
    if (!tileMmaProducts || (entry != "decode" && !tileMmaPrefill) ||
        !tensorCores || !target.hasMmaSync || !device)
      return {};
    std::optional<TileMmaProduct> product = tileMmaProduct(op);
    if (!product || (product->fp8 && !target.hasFp8Convert))
      return {};
    int64_t terms = product->terms, iterations = product->iterations;
    int64_t perWarp = kTileMmaRegisterIterations / terms;
    int64_t warps = std::max<int64_t>((iterations + perWarp - 1) / perWarp, 4);
    int64_t tiles = product->features / kTileMmaFeatures;
    while (warps < 16 && 2 * warps <= iterations &&
           tiles * warps < 8 * device->smCount)
      warps *= 2;
    warps = std::min(warps, iterations);
    if (warps > 16)
      return {};
    TileMmaLayout layout =
        tileMmaLayoutWithin(product->cols, product->fp8, terms, warps,
                            std::min(device->sharedMemoryPerSM / 2 - 1024,
                                     target.maxSharedMemoryPerBlock));
    if (!layout.rows)
      return {};
    return KernelConfigAttr::get(context, KernelStrategy::TileMma,
                                 warps * kWarp, 1, layout.bytes,
                                 /*splits=*/1);
  }

  /// The whole router (ds.moe_gate, after ds-fuse-router): a token per
  /// cluster of kRouterClusterBlocks blocks where the target has clusters,
  /// else per block, of up to kRouterMaxWarps warps (a warp per expert
  /// where that suffices); its choice by one warp, as ds.moe_select's.
  KernelConfigAttr router(MoEGateOp gate) const {
    int64_t experts = gate.getWeight().getType().getDimSize(0);
    if (!target.hasWarpShuffle || experts > kMaxExpertsPerWarp)
      return generic();
    int64_t maxWarps =
        std::min(kRouterMaxWarps, target.maxThreadsPerBlock / kWarp);
    int64_t blocks =
        target.hasClusters ? std::min(kRouterClusterBlocks, experts) : 1;
    int64_t warps =
        std::clamp<int64_t>((experts + blocks - 1) / blocks, 1, maxWarps);
    if (blocks < 2)
      return KernelConfigAttr::get(context, KernelStrategy::Block,
                                   warps * kWarp, 1, /*dynamicSharedBytes=*/0,
                                   /*splits=*/1);
    return KernelConfigAttr::get(context, KernelStrategy::ClusterBlock,
                                 warps * kWarp, 1, /*dynamicSharedBytes=*/0,
                                 blocks);
  }

  /// ds.mla_absorb_value combine(...): a cluster of kMergeClusterBlocks
  /// blocks per (token, head) where the target has clusters, each block
  /// merging an eighth of the latent columns with 8 lanes per 4 columns
  /// (whole warps of it) and computing an eighth of the value features,
  /// kMergeFeaturesPerWarp a warp (more warps where the merge needs them,
  /// so that they divide the features); else `generic`.
  KernelConfigAttr mergingValue(MLAAbsorbValueOp value) const {
    auto o = cast<RankedTensorType>(value.getO().getType());
    int64_t latent = o.getDimSize(3), vDim = value.getVHeadDim();
    int64_t blocks = kMergeClusterBlocks;
    if (!target.hasWarpShuffle || !target.hasClusters || vDim % blocks != 0 ||
        latent % (4 * blocks) != 0)
      return generic();
    // Features of a block, and the fewest warps that merge its columns or
    // compute its features kMergeFeaturesPerWarp a warp.
    int64_t features = vDim / blocks;
    int64_t mergers = latent / 4 / blocks * kMergeLanes;
    if (mergers % kWarp != 0)
      return generic();
    int64_t warps =
        std::max(mergers / kWarp, (features + kMergeFeaturesPerWarp - 1) /
                                      kMergeFeaturesPerWarp);
    while (warps <= features && features % warps != 0)
      ++warps;
    if (warps > features || warps * kWarp > target.maxThreadsPerBlock)
      return generic();
    return KernelConfigAttr::get(context, KernelStrategy::ClusterBlock,
                                 warps * kWarp, 1, /*dynamicSharedBytes=*/0,
                                 blocks);
  }

  /// The sampler: a block per row, as many threads as the register file
  /// (at kSamplerRegisters each) and static shared memory (the search's
  /// bins, plus a little for the block's reductions) allow; on targets with
  /// clusters, a cluster of such blocks per row.
  KernelConfigAttr sampler() const {
    if (!target.hasWarpShuffle)
      return generic();
    int64_t registersPerSM = device ? device->registersPerSM : 65536;
    int64_t block =
        std::min({target.maxThreadsPerBlock, registersPerSM / kSamplerRegisters,
                  (kStaticSharedBytes - 1024) / (4 * kSamplerBinsPerThread)});
    block = std::max<int64_t>(block / kWarp * kWarp, kWarp);
    // With clusters, a row's passes spread over kSamplerClusterBlocks SMs.
    if (target.hasClusters)
      return KernelConfigAttr::get(context, KernelStrategy::ClusterBlock, block,
                                   1, /*dynamicSharedBytes=*/0,
                                   kSamplerClusterBlocks);
    return KernelConfigAttr::get(context, KernelStrategy::Block, block, 1,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// The log-probabilities: a block of kLogProbsThreads per row (a pass
  /// over the vocabulary is a few loads per thread; the radix selection's
  /// 256 bins and the top tokens fit static shared memory).
  KernelConfigAttr logProbs() const {
    if (!target.hasWarpShuffle)
      return generic();
    int64_t block = std::min(target.maxThreadsPerBlock, kLogProbsThreads);
    block = std::max<int64_t>(block / kWarp * kWarp, kWarp);
    return KernelConfigAttr::get(context, KernelStrategy::Block, block, 1,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// Prefill: each cache row read once for a group of a slot's tokens.
  /// Decode (one token per slot): the cached positions of a (token, head)
  /// split over the warps of a block.
  KernelConfigAttr latentAttention(MLALatentAttentionOp op,
                                   StringRef entry) const {
    if (!target.hasWarpShuffle)
      return generic();
    int64_t latent = op.getCache().getType().getLatent();
    if (entry == "prefill") {
      int64_t group = std::clamp<int64_t>(kQueryGroupAt512 * 512 /
                                              std::max<int64_t>(latent, 1),
                                          1, kQueryGroupAt512);
      return KernelConfigAttr::get(context, KernelStrategy::WarpQueryGroup,
                                   4 * kWarp, group, /*dynamicSharedBytes=*/0,
                                   /*splits=*/1);
    }
    if (KernelConfigAttr split =
            positionSplitMma(op.getCache().getType(), op.getNumHeads()))
      return split;
    if (KernelConfigAttr split =
            positionSplit(op.getCache().getType(), op.getNumHeads()))
      return split;
    int64_t registersPerSM = device ? device->registersPerSM : 65536;
    int64_t block = std::min(target.maxThreadsPerBlock,
                             registersPerSM / kBlockSplitRegisters);
    block = std::max<int64_t>(block / kWarp * kWarp, 2 * kWarp);
    return KernelConfigAttr::get(context, KernelStrategy::BlockSplit, block, 1,
                                 /*dynamicSharedBytes=*/0, /*splits=*/1);
  }

  /// Decode on tensor cores where the target has mma.sync and the cache
  /// row fits its fragments (width a multiple of 16, the latent of 32: four
  /// warps of n8 blocks): a block of 4 warps per (token, share of the
  /// positions, group of 16 heads), its queries and two tiles of rows in
  /// dynamic shared memory. As many shares per token as fill the SMs once
  /// with one token's blocks. Null where it does not apply.
  KernelConfigAttr positionSplitMma(LatentCacheType cache,
                                    int64_t heads) const {
    if (!tensorCores || !target.hasMmaSync || !device)
      return {};
    int64_t latent = cache.getLatent(), width = latent + cache.getRope();
    if (latent % 32 != 0 || width % 16 != 0)
      return {};
    int64_t shared = positionSplitMmaLayout(width).bytes;
    if (shared > target.maxSharedMemoryPerBlock)
      return {};
    int64_t groups =
        (heads + kPositionSplitMmaHeads - 1) / kPositionSplitMmaHeads;
    int64_t splits = std::max<int64_t>(1, device->smCount / groups);
    return KernelConfigAttr::get(context, KernelStrategy::PositionSplitMma,
                                 4 * kWarp, 1, shared, splits);
  }

  /// Decode where the cache rows fit the kernel's tile (16-byte groups of
  /// bf16, 32 rows in shared memory): a block per (token, share of the
  /// positions, group of heads), a warp per `heads / warps` heads of the
  /// group, so every cache row is read once per head group. At most as many
  /// shares per token as fill the SMs once with one token's blocks (the
  /// kernel spreads them over the chunk's tokens at run time). Null where
  /// it does not apply.
  KernelConfigAttr positionSplit(LatentCacheType cache, int64_t heads) const {
    if (!target.hasWarpShuffle || !device)
      return {};
    int64_t latent = cache.getLatent(), width = latent + cache.getRope();
    if (latent % 8 != 0 || width % 8 != 0 ||
        kTileRows * width * 2 > kMaxTileBytes)
      return {};
    int64_t group = positionSplitHeadGroup(heads);
    // As many warps as heads divide among, at most 8.
    int64_t warps = std::min<int64_t>(group, 8);
    while (group % warps != 0)
      --warps;
    int64_t splits = std::max<int64_t>(1, device->smCount / (heads / group));
    return KernelConfigAttr::get(context, KernelStrategy::PositionSplit,
                                 warps * kWarp, 1, /*dynamicSharedBytes=*/0,
                                 splits);
  }
};

struct ConfigureKernelsPass
    : dsc::impl::DSConfigureKernelsBase<ConfigureKernelsPass> {
  using DSConfigureKernelsBase::DSConfigureKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string known;
    std::optional<dsc::TargetDescription> isa =
        dsc::lookupTarget(target, known);
    if (!isa) {
      module.emitError("ds-configure-kernels: unknown target '")
          << target << "' (known: " << known << ")";
      return signalPassFailure();
    }
    std::optional<dsc::DeviceProfile> device;
    if (isa->isCUDA()) {
      std::string profile = gpu.empty() ? isa->defaultDevice : gpu.getValue();
      device = dsc::lookupDeviceProfile(profile, known);
      if (!device) {
        module.emitError("ds-configure-kernels: unknown gpu '")
            << profile << "' (known: " << known << ")";
        return signalPassFailure();
      }
      if (device->chip != isa->chip) {
        module.emitError("ds-configure-kernels: gpu '")
            << device->name << "' runs " << device->chip << " code, not "
            << isa->name;
        return signalPassFailure();
      }
    } else if (!gpu.empty()) {
      module.emitError("ds-configure-kernels: gpu '")
          << gpu << "' needs a cuda target";
      return signalPassFailure();
    }

    DSDialect *dialect = getContext().getLoadedDialect<DSDialect>();
    // The CUDA kernels of the routed experts read every choice's expert;
    // only the generic ones skip another rank's (index -1).
    if (dialect->getRanksAttrHelper().isAttrPresent(module) && isa->isCUDA()) {
      module.emitError("ds-configure-kernels: a partitioned module "
                       "(ds-partition) has only host kernels so far, not ")
          << isa->name;
      return signalPassFailure();
    }
    KernelConfigurator configurator(
        &getContext(), *isa, device ? &*device : nullptr, tensorCores, tileMma,
        tileMmaPrefill, rowGroup, fp8RowGroup, expertRowGroup);
    for (auto f : module.getOps<func::FuncOp>()) {
      StringAttr entry = dialect->getEntryAttrHelper().getAttr(f);
      if (!entry)
        continue;
      f.walk([&](Operation *op) {
        if (keepExisting && dialect->getConfigAttrHelper().isAttrPresent(op))
          return;
        KernelConfigAttr config = configurator.choose(op, entry.getValue());
        if (!config)
          return;
        dialect->getConfigAttrHelper().setAttr(op, config);
        if (ArrayAttr variants = configurator.variants(op, config))
          dialect->getVariantsAttrHelper().setAttr(op, variants);
        else
          dialect->getVariantsAttrHelper().removeAttr(op);
      });
    }
    dialect->getTargetAttrHelper().setAttr(
        module,
        StringAttr::get(&getContext(),
                        device ? isa->name + "/" + device->name : isa->name));
  }
};

} // namespace
