//===- Program.cpp - verify and read a compiled program ------------------===//
//
// FlatBuffer verification plus the semantic checks the runtime needs before
// it allocates or dereferences anything the program describes.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Program.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace dsrt {

KernelLaunchShape launchShapeOf(const fb::Kernel &kernel) {
  KernelLaunchShape shape;
  shape.block[0] = kernel.block();
  const fb::LaunchShape *l = kernel.launch();
  if (!l)
    return shape;
  if (const fb::Dim3 *b = l->block())
    shape.block[0] = b->x(), shape.block[1] = b->y(), shape.block[2] = b->z();
  shape.fixedGrid = l->grid_rule() == fb::GridRule::Fixed;
  if (const fb::Dim3 *g = l->grid(); g && shape.fixedGrid)
    shape.grid[0] = g->x(), shape.grid[1] = g->y(), shape.grid[2] = g->z();
  shape.sharedBytes = l->dynamic_shared_bytes();
  shape.programmatic = l->programmatic();
  shape.cluster = l->cluster();
  return shape;
}

void KernelLaunchShape::gridFor(int64_t extent, uint32_t out[3]) const {
  if (fixedGrid) {
    out[0] = grid[0], out[1] = grid[1], out[2] = grid[2];
    return;
  }
  uint64_t t = threads();
  out[0] = static_cast<uint32_t>((uint64_t(extent) + t - 1) / t);
  out[1] = out[2] = 1;
}

size_t dtypeBytes(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::BF16:
    return 2;
  case fb::DType::F32:
  case fb::DType::I32:
    return 4;
  case fb::DType::F8_E4M3:
    return 1;
  }
  return 0;
}

namespace {

/// Product of a shape, or 0 if any dimension is not positive or the product
/// exceeds 2^60 (so that its bytes, at 4 per element, and their 64-byte
/// padding stay well inside 64 bits).
uint64_t shapeProduct(const flatbuffers::Vector<int64_t> *shape) {
  if (!shape || shape->size() == 0)
    return 0;
  uint64_t product = 1;
  for (int64_t d : *shape) {
    if (d <= 0 || product > (uint64_t(1) << 60) / uint64_t(d))
      return 0;
    product *= uint64_t(d);
  }
  return product;
}

/// Whether the elements of `vector` (may be null or empty) are 8-byte
/// aligned. The FlatBuffer verifier checks only the alignment of a vector's
/// 4-byte length, so a buffer can place 8-byte elements (shapes, launch
/// arguments) 4 bytes off, and reading them would be undefined behaviour.
template <class Vector> bool elementsAligned(const Vector *vector) {
  return !vector || vector->size() == 0 ||
         reinterpret_cast<uintptr_t>(vector->Data()) % 8 == 0;
}

std::string checkProgram(const fb::Program &p) {
  if (p.schema_version() != kSchemaVersion)
    return "schema version " + std::to_string(p.schema_version()) +
           ", this runtime reads version " + std::to_string(kSchemaVersion);
  if (!p.model() || !p.weights() || !p.kernels() || !p.entries() ||
      !p.cache() || !p.target())
    return "missing model, weights, kernels, entries, cache or target";
  const fb::ModelInfo &m = *p.model();
  if (m.vocab_size() <= 0 || m.hidden_size() <= 0 || m.num_layers() <= 0)
    return "model dimensions must be positive";
  const fb::CacheInfo &c = *p.cache();
  if (c.layers() <= 0 || c.latent() <= 0 || c.rope() <= 0 || c.slots() <= 0 ||
      c.max_seq() <= 0 || c.page_size() <= 0 ||
      c.max_seq() % c.page_size() != 0 || c.layers() > (1 << 12) ||
      c.slots() > (1 << 16) || c.max_seq() > (int64_t(1) << 24) ||
      c.latent() > (1 << 16) || c.rope() > (1 << 16) ||
      c.latent() + c.rope() > (1 << 16) ||
      uint64_t(c.layers()) * c.slots() * c.max_seq() >
          (uint64_t(1) << 62) / (uint64_t(c.latent() + c.rope()) * 2))
    return "cache geometry out of range";
  // A Cache argument is a layer's offset inside a page.
  uint64_t cacheBytes =
      uint64_t(c.layers()) * c.page_size() * (c.latent() + c.rope()) * 2;

  for (uint32_t i = 0; i < p.weights()->size(); ++i) {
    const fb::Weight *w = p.weights()->Get(i);
    std::string what = "weight " + std::to_string(i);
    if (!elementsAligned(w->shape()) || !elementsAligned(w->scale_shape()))
      return what + ": misaligned shape";
    if (!w->symbol() || !w->tensor() || shapeProduct(w->shape()) == 0)
      return what + ": missing name or non-positive shape";
    if (dtypeBytes(w->dtype()) == 0)
      return what + " ('" + w->symbol()->str() + "'): unknown dtype " +
             std::to_string(static_cast<int>(w->dtype()));
    if (w->experts() < 0 ||
        (w->experts() > 0 &&
         (w->shape()->size() < 2 || w->shape()->Get(0) != w->experts())))
      return what + " ('" + w->symbol()->str() +
             "'): experts do not match its shape";
    bool fp8 = w->dtype() == fb::DType::F8_E4M3;
    bool quantized = w->quantized_at_load();
    std::string named = what + " ('" + w->symbol()->str() + "')";
    if (quantized && !fp8)
      return named + ": only fp8 weights are quantized at load";
    // An fp8 weight's scales come from the checkpoint (scale_tensor) or
    // from quantizing a bf16 tensor at load, never both.
    if (fp8 != (w->scale_tensor() != nullptr || quantized) ||
        (fp8 && shapeProduct(w->scale_shape()) == 0) ||
        (!fp8 && w->scale_shape() && w->scale_shape()->size() > 0))
      return named + ": fp8 weights need scales, others have none";
    if (quantized && w->scale_tensor())
      return named + ": a weight quantized at load has no scale tensor";
    if (fp8 && w->experts() > 0 && w->scale_shape()->Get(0) != w->experts())
      return named + ": experts do not match its scale shape";
    int64_t blockRows = w->scale_block_rows(),
            blockCols = w->scale_block_cols();
    bool blocks = blockRows != 0 || blockCols != 0;
    if ((quantized || blocks) && (blockRows <= 0 || blockCols <= 0 || !fp8))
      return named + ": scale blocks " + std::to_string(blockRows) + " x " +
             std::to_string(blockCols) +
             (fp8 ? " must be positive" : " on a weight that is not fp8") +
             (quantized ? " (quantized at load)" : "");
    if (w->shard_dim() != -1 || w->shard_ranks() != 0 ||
        w->shard_interleaved()) {
      int64_t dim = w->shard_dim(), dims = w->shape()->size();
      if (dim < 0 || dim >= dims || w->shard_ranks() < 2)
        return named + ": shard of dimension " + std::to_string(dim) +
               " over " + std::to_string(w->shard_ranks()) +
               " ranks (needs a dimension of its shape and at least 2 ranks)";
      if (w->shard_interleaved() && (dim != 0 || w->experts() == 0))
        return named + ": an interleaved shard splits an expert stack's "
                       "dimension 0";
      // A part of an fp8 weight covers whole scale blocks along its
      // dimension, so its scales are the same part of the scale tensor's.
      int64_t block = dim == dims - 1   ? blockCols
                      : dim == dims - 2 ? blockRows
                                        : 1;
      if (fp8 && !(w->experts() > 0 && dim == 0) &&
          (block <= 0 || w->shape()->Get(dim) % block != 0))
        return named + ": an fp8 part must cover whole scale blocks along "
                       "its split dimension";
    }
    if (blocks) {
      // scale_shape = shape with its last two dimensions divided by the
      // blocks, rounded up.
      const auto &shape = *w->shape();
      const auto &scales = *w->scale_shape();
      bool ok = shape.size() >= 2 && scales.size() == shape.size();
      for (uint32_t d = 0; ok && d < shape.size(); ++d) {
        int64_t block = d + 2 == shape.size()   ? blockRows
                        : d + 1 == shape.size() ? blockCols
                                                : 1;
        ok = scales.Get(d) == (shape.Get(d) - 1) / block + 1;
      }
      if (!ok)
        return named + ": scale shape does not cover its shape in blocks of " +
               std::to_string(blockRows) + " x " + std::to_string(blockCols);
    }
  }
  auto checkKernel = [&](const fb::Kernel *k,
                         const std::string &what) -> std::string {
    if (!k->name())
      return what + " has no name";
    if (k->parallel() != fb::ParallelDim::Tokens &&
        k->parallel() != fb::ParallelDim::Static &&
        k->parallel() != fb::ParallelDim::TokensTimesStatic)
      return what + " has an unknown parallel dimension";
    if (k->parallel() != fb::ParallelDim::Tokens &&
        (k->extent() <= 0 || k->extent() > (int64_t(1) << 32)))
      return what + " has an extent out of range";
    if (k->rows() != fb::RowCount::Tokens && k->rows() != fb::RowCount::Outputs)
      return what + " has an unknown row count";
    if (k->block() < 32 || k->block() > 1024 || k->block() % 32 != 0)
      return what + " has a block size that does not divide its work";
    if (const fb::LaunchShape *l = k->launch()) {
      if (l->grid_rule() != fb::GridRule::PerIndex &&
          l->grid_rule() != fb::GridRule::Fixed)
        return what + " has an unknown grid rule";
      if (const fb::Dim3 *b = l->block())
        if (b->x() == 0 || b->y() == 0 || b->z() == 0 || b->x() > 1024 ||
            b->y() > 1024 || b->z() > 64 ||
            uint64_t(b->x()) * b->y() * b->z() > 1024)
          return what + " has a block shape out of range";
      const fb::Dim3 *g = l->grid();
      if (l->grid_rule() == fb::GridRule::Fixed &&
          (!g || g->x() == 0 || g->y() == 0 || g->z() == 0 ||
           g->x() > 0x7fffffffu || g->y() > 65535 || g->z() > 65535))
        return what + " has a fixed grid out of range";
      if (l->grid_rule() == fb::GridRule::PerIndex && g)
        return what + " has a grid but derives it from its work";
      if (l->dynamic_shared_bytes() > kMaxDynamicSharedBytes)
        return what + " asks for more dynamic shared memory than a block has";
      if (l->cluster() == 0 || l->cluster() > kMaxClusterBlocks)
        return what + " has a cluster of " + std::to_string(l->cluster()) +
               " blocks (1 to " + std::to_string(kMaxClusterBlocks) + ")";
      if (l->cluster() > 1 &&
          (l->grid_rule() == fb::GridRule::Fixed
               ? g->x() % l->cluster() != 0
               : k->parallel() == fb::ParallelDim::Tokens ||
                     k->extent() % (int64_t(l->cluster()) *
                                    int64_t(launchShapeOf(*k).threads())) !=
                         0))
        return what + " has a grid that is not whole clusters";
    }
    KernelLaunchShape shape = launchShapeOf(*k);
    // Whole warps; a block that is not 128 threads cooperates across its
    // indices, so its work is whole blocks.
    if (shape.threads() % 32 != 0 ||
        (!shape.fixedGrid && shape.threads() != 128 &&
         (k->parallel() == fb::ParallelDim::Tokens ||
          k->extent() % int64_t(shape.threads()) != 0)))
      return what + " has a block size that does not divide its work";
    if (k->outputs() && !elementsAligned(k->outputs()))
      return what + " has misaligned outputs";
    if (k->outputs())
      for (const fb::KernelOutput *o : *k->outputs())
        if (dtypeBytes(o->dtype()) == 0 || o->row_elements() <= 0 ||
            o->row_elements() > (int64_t(1) << 32))
          return what + " has a malformed output";
    // The profile divides and multiplies by these.
    if (const fb::KernelCost *c = k->cost()) {
      for (double v :
           {c->bytes_fixed(), c->bytes_per_row(), c->bytes_per_context(),
            c->bytes_per_expert(), c->flops_per_row(), c->flops_per_context()})
        if (!std::isfinite(v) || v < 0)
          return what + " has a cost coefficient that is negative or not "
                        "finite";
      if (c->experts() < 0 || c->experts_per_row() < 0 ||
          c->experts_per_row() > c->experts())
        return what + " has a cost with experts_per_row outside [0, experts]";
    }
    return "";
  };
  for (uint32_t i = 0; i < p.kernels()->size(); ++i)
    if (std::string e =
            checkKernel(p.kernels()->Get(i), "kernel " + std::to_string(i));
        !e.empty())
      return e;
  // A variant runs in its kernel's place: another kernel, without variants
  // of its own, with the same rows and outputs (the launch's arguments
  // were checked against those), in increasing rows.
  auto sameOutputs = [](const fb::Kernel &a, const fb::Kernel &b) {
    if (!a.outputs() || !b.outputs())
      return !a.outputs() && !b.outputs();
    if (a.outputs()->size() != b.outputs()->size())
      return false;
    for (uint32_t i = 0; i < a.outputs()->size(); ++i) {
      const fb::KernelOutput *x = a.outputs()->Get(i), *y = b.outputs()->Get(i);
      if (x->arg() != y->arg() || x->dtype() != y->dtype() ||
          x->row_elements() != y->row_elements())
        return false;
    }
    return true;
  };
  for (uint32_t i = 0; i < p.kernels()->size(); ++i) {
    const fb::Kernel &k = *p.kernels()->Get(i);
    if (!k.variants())
      continue;
    std::string what = "kernel " + std::to_string(i);
    int64_t previous = 0;
    for (const fb::KernelVariant *v : *k.variants()) {
      if (v->rows() <= previous)
        return what + ": variant rows must be positive and increasing";
      previous = v->rows();
      if (v->kernel() >= p.kernels()->size() || v->kernel() == i)
        return what + ": variant kernel " + std::to_string(v->kernel()) +
               " out of range or itself";
      const fb::Kernel &other = *p.kernels()->Get(v->kernel());
      if (other.variants() || other.rows() != k.rows() ||
          other.writes_cache() != k.writes_cache() || !sameOutputs(k, other))
        return what + ": variant kernel " + std::to_string(v->kernel()) +
               " has variants, or other rows, outputs or cache writes";
    }
  }
  if (p.host_twins()) {
    if (p.host_twins()->size() != p.kernels()->size())
      return "host twins do not match the kernels";
    for (uint32_t i = 0; i < p.host_twins()->size(); ++i) {
      if (p.host_twins()->Get(i)->variants())
        return "host twin " + std::to_string(i) + " has variants";
      if (std::string e = checkKernel(p.host_twins()->Get(i),
                                      "host twin " + std::to_string(i));
          !e.empty())
        return e;
    }
  }
  if (const fb::DeviceCeilings *d = p.device()) {
    if (!d->name())
      return "device ceilings without a name";
    for (double v : {d->memory_bytes_per_second(), d->bf16_flops_per_second(),
                     d->fp8_flops_per_second()})
      if (!std::isfinite(v) || v < 0)
        return "device ceilings: a ceiling is negative or not finite";
    if (d->l2_bytes() < 0)
      return "device ceilings: negative L2 size";
  }
  bool prefill = false, decode = false;
  for (const fb::Entry *e : *p.entries()) {
    if (!e->name() || !e->launches())
      return "entry point without name or launches";
    std::string name = e->name()->str();
    prefill |= name == "prefill";
    decode |= name == "decode";
    if (e->max_tokens() <= 0 || e->max_tokens() > (1 << 20))
      return "entry '" + name + "': max_tokens out of range";
    // max_tokens x vocab x 4 bytes must fit after logits_offset; divided
    // rather than multiplied, since the product can exceed 64 bits.
    if (e->logits_offset() > p.arena_bytes() ||
        uint64_t(m.vocab_size()) > (p.arena_bytes() - e->logits_offset()) / 4 /
                                       uint64_t(e->max_tokens()))
      return "entry '" + name + "': logits outside the arena";
    if (e->sampled_offset() > p.arena_bytes() ||
        uint64_t(e->max_tokens()) > (p.arena_bytes() - e->sampled_offset()) / 4)
      return "entry '" + name + "': sampled tokens outside the arena";
    if (e->top_logprobs() < -1 || e->top_logprobs() > kMaxTopLogProbs)
      return "entry '" + name + "': top_logprobs " +
             std::to_string(e->top_logprobs()) + " outside [-1, " +
             std::to_string(kMaxTopLogProbs) + "]";
    if (e->top_logprobs() >= 0) {
      uint64_t rowBytes = 4 * uint64_t(e->top_logprobs() + 1);
      for (uint64_t offset : {e->logprobs_offset(), e->logprob_ids_offset()})
        if (offset > p.arena_bytes() ||
            uint64_t(e->max_tokens()) > (p.arena_bytes() - offset) / rowBytes)
          return "entry '" + name + "': log-probabilities outside the arena";
    }
    for (uint32_t i = 0; i < e->launches()->size(); ++i) {
      const fb::Launch *l = e->launches()->Get(i);
      if (l->kernel() >= p.kernels()->size() || !l->args())
        return "entry '" + name + "': launch of kernel " +
               std::to_string(l->kernel()) + " out of range";
      if (l->stream() >= kMaxLaunchStreams)
        return "entry '" + name + "': launch " + std::to_string(i) +
               " runs on stream " + std::to_string(l->stream()) +
               ", outside [0, " + std::to_string(kMaxLaunchStreams) + ")";
      if (l->waits())
        for (uint32_t w = 0; w < l->waits()->size(); ++w)
          if (l->waits()->Get(w) >= i ||
              (w > 0 && l->waits()->Get(w) <= l->waits()->Get(w - 1)))
            return "entry '" + name + "': launch " + std::to_string(i) +
                   " waits for launch " + std::to_string(l->waits()->Get(w)) +
                   ": waits must name earlier launches in order";
      if (!elementsAligned(l->args()))
        return "entry '" + name + "': misaligned launch arguments";
      for (const fb::Arg *a : *l->args()) {
        bool ok = true;
        switch (a->kind()) {
        case fb::ArgKind::Arena:
          ok = a->value() < p.arena_bytes();
          break;
        case fb::ArgKind::Weight:
          ok = a->value() < p.weights()->size();
          break;
        case fb::ArgKind::WeightScales: // only fp8 weights have scales
          ok = a->value() < p.weights()->size() &&
               p.weights()->Get(static_cast<uint32_t>(a->value()))->dtype() ==
                   fb::DType::F8_E4M3;
          break;
        case fb::ArgKind::Cache:
          ok = a->value() < cacheBytes;
          break;
        case fb::ArgKind::Tokens:
        case fb::ArgKind::Positions:
        case fb::ArgKind::Slots:
        case fb::ArgKind::Rows:
        case fb::ArgKind::Sampling:
        case fb::ArgKind::PageTable:
          break;
        default:
          ok = false;
        }
        if (!ok)
          return "entry '" + name + "': a launch argument is out of range";
      }
      // What the kernel writes lies in the arena for any row count.
      const fb::Kernel *k = p.kernels()->Get(l->kernel());
      if (k->outputs())
        for (const fb::KernelOutput *o : *k->outputs()) {
          if (o->arg() >= l->args()->size() ||
              l->args()->Get(o->arg())->kind() != fb::ArgKind::Arena)
            return "entry '" + name + "': kernel " +
                   std::to_string(l->kernel()) +
                   " writes an argument that is not in the arena";
          uint64_t offset = l->args()->Get(o->arg())->value();
          uint64_t rowBytes =
              uint64_t(o->row_elements()) * dtypeBytes(o->dtype());
          if (rowBytes > (p.arena_bytes() - offset) / uint64_t(e->max_tokens()))
            return "entry '" + name + "': kernel " +
                   std::to_string(l->kernel()) + " writes past the arena";
        }
    }
  }
  if (!prefill || !decode)
    return "the prefill and decode entry points are required";
  return "";
}

} // namespace

Expected<Program> Program::load(const uint8_t *data, size_t size,
                                const std::string &origin) {
  auto fail = [&](const std::string &why) {
    return Expected<Program>::error(origin + ": corrupted program: " + why);
  };
  if (!data || size < 8)
    return fail("shorter than a FlatBuffer header");
  if (!fb::ProgramBufferHasIdentifier(data))
    return fail("missing the \"DSCP\" identifier");
  // The verifier checks alignment relative to the buffer's start.
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0)
    return fail("the buffer is not 8-byte aligned in memory");
  flatbuffers::Verifier verifier(data, size);
  if (!fb::VerifyProgramBuffer(verifier))
    return fail("the FlatBuffer verifier rejected it");
  const fb::Program *program = fb::GetProgram(data);
  std::string problem = checkProgram(*program);
  if (!problem.empty())
    return fail(problem);
  return Program(program);
}

const fb::Entry &Program::entry(const char *name) const {
  for (const fb::Entry *e : *program_->entries())
    if (std::strcmp(e->name()->c_str(), name) == 0)
      return *e;
  std::abort(); // load() guarantees both entries
}

uint64_t Program::cachePageBytes() const {
  const fb::CacheInfo &c = *program_->cache();
  return uint64_t(c.layers()) * c.page_size() * (c.latent() + c.rope()) * 2;
}

uint32_t Program::kernelFor(uint32_t kernel, int64_t rows) const {
  if (const auto *variants = program_->kernels()->Get(kernel)->variants())
    for (const fb::KernelVariant *v : *variants)
      if (rows <= v->rows())
        return v->kernel();
  return kernel;
}

int64_t Program::pagesPerSequence() const {
  const fb::CacheInfo &c = *program_->cache();
  return c.max_seq() / c.page_size();
}

uint64_t Program::cacheBytes() const {
  return uint64_t(program_->cache()->slots()) * pagesPerSequence() *
         cachePageBytes();
}

uint64_t Program::weightElements(uint32_t index) const {
  return shapeProduct(program_->weights()->Get(index)->shape());
}

uint64_t Program::scaleElements(uint32_t index) const {
  return shapeProduct(program_->weights()->Get(index)->scale_shape());
}

} // namespace dsrt
