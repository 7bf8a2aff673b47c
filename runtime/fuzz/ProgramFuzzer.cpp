//===- ProgramFuzzer.cpp - fuzz the compiled program loader -----*- C++ -*-===//
//
// libFuzzer entry point for dsrt::Program::load, which verifies the program
// embedded in a dsc executable. Besides the sanitizers' memory and UB checks,
// it traps when an accepted program breaks a promise the rest of the runtime
// relies on, recomputed here in 128-bit arithmetic so that a size that wraps
// in 64 bits cannot pass: both entry points exist, the logits fit in the
// arena, every launch names a kernel and its arguments lie inside their
// allocations, and every weight has a positive size (with scales when fp8)
// whose bytes fit in 64 bits. Programs whose weights are small are also
// given dummy weights (WeightStore::dummy), which fill every buffer.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Program.h"
#include "dsrt/Weights.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using Wide = unsigned __int128;

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

/// Product of `shape` in 128 bits, saturated at 2^100; 0 when a dimension
/// is not positive.
Wide exactProduct(const flatbuffers::Vector<int64_t> *shape) {
  if (!shape || shape->size() == 0)
    return 0;
  Wide product = 1;
  for (int64_t d : *shape) {
    if (d <= 0)
      return 0;
    product *= Wide(d);
    if (product > (Wide(1) << 100))
      product = Wide(1) << 100;
  }
  return product;
}

Wide alignUp(Wide n) { return (n + 63) / 64 * 64; }

/// Checks what an accepted program promises; returns the bytes of its
/// weights and scales, 64-byte aligned each.
Wide checkProgramInvariants(const dsrt::Program &program) {
  const dsrt::fb::Program &p = program.fb();
  check(p.schema_version() == dsrt::kSchemaVersion);
  check(p.model() && p.weights() && p.kernels() && p.entries() && p.cache() &&
        p.target());
  check(std::strcmp(program.entry("prefill").name()->c_str(), "prefill") == 0);
  check(std::strcmp(program.entry("decode").name()->c_str(), "decode") == 0);

  const dsrt::fb::CacheInfo &c = *p.cache();
  Wide cacheBytes = Wide(c.layers()) * Wide(c.slots()) * Wide(c.max_seq()) *
                    (Wide(c.latent()) + Wide(c.rope())) * 2;
  check(cacheBytes > 0 && cacheBytes == Wide(program.cacheBytes()));
  // Pages hold page_size positions of every layer; a Cache argument is a
  // layer's offset inside one.
  check(c.page_size() > 0 && c.max_seq() % c.page_size() == 0);
  Wide pageBytes = Wide(c.layers()) * Wide(c.page_size()) *
                   (Wide(c.latent()) + Wide(c.rope())) * 2;
  check(pageBytes == Wide(program.cachePageBytes()));

  uint32_t numWeights = p.weights()->size();
  Wide total = 0;
  for (uint32_t i = 0; i < numWeights; ++i) {
    const dsrt::fb::Weight &w = *p.weights()->Get(i);
    check(w.symbol() && w.tensor());
    size_t elementBytes = dsrt::dtypeBytes(w.dtype());
    check(elementBytes > 0);
    Wide elements = exactProduct(w.shape());
    check(elements > 0 && elements == Wide(program.weightElements(i)));
    // The padded bytes must not wrap in the 64-bit arithmetic of Weights.cpp.
    check(alignUp(elements * elementBytes) < (Wide(1) << 63));
    total += alignUp(elements * elementBytes);
    bool fp8 = w.dtype() == dsrt::fb::DType::F8_E4M3;
    check(fp8 == (w.scale_tensor() != nullptr || w.quantized_at_load()));
    check(!(w.scale_tensor() && w.quantized_at_load()));
    if (w.quantized_at_load())
      check(w.scale_block_rows() > 0 && w.scale_block_cols() > 0);
    if (fp8) {
      Wide scales = exactProduct(w.scale_shape());
      check(scales > 0 && scales == Wide(program.scaleElements(i)));
      check(alignUp(scales * 4) < (Wide(1) << 63));
      total += alignUp(scales * 4);
    }
    check(w.experts() >= 0);
    if (w.experts() > 0) {
      check(w.shape()->size() >= 2 && w.shape()->Get(0) == w.experts());
      if (fp8)
        check(w.scale_shape()->Get(0) == w.experts());
    }
  }

  auto checkKernel = [](const dsrt::fb::Kernel *k) {
    check(k->name() != nullptr);
    check(static_cast<int>(k->parallel()) >= 0 &&
          static_cast<int>(k->parallel()) <= 2);
    if (k->parallel() != dsrt::fb::ParallelDim::Tokens)
      check(k->extent() > 0 && k->extent() <= (int64_t(1) << 32));
    check(k->rows() == dsrt::fb::RowCount::Tokens ||
          k->rows() == dsrt::fb::RowCount::Outputs);
    // A GPU block: whole warps, and whole blocks of work when not 128
    // threads and the grid follows the work.
    check(k->block() >= 32 && k->block() <= 1024 && k->block() % 32 == 0);
    dsrt::KernelLaunchShape shape = dsrt::launchShapeOf(*k);
    for (uint32_t d : shape.block)
      check(d > 0);
    check(shape.threads() <= 1024 && shape.threads() % 32 == 0);
    if (!shape.fixedGrid && shape.threads() != 128)
      check(k->parallel() != dsrt::fb::ParallelDim::Tokens &&
            k->extent() % int64_t(shape.threads()) == 0);
    if (shape.fixedGrid)
      check(shape.grid[0] > 0 && shape.grid[0] <= 0x7fffffffu &&
            shape.grid[1] > 0 && shape.grid[1] <= 65535 && shape.grid[2] > 0 &&
            shape.grid[2] <= 65535);
    else if (k->launch())
      check(k->launch()->grid() == nullptr);
    check(shape.sharedBytes <= dsrt::kMaxDynamicSharedBytes);
    // What a launch derives: a grid in range for every row count.
    uint32_t grid[3];
    shape.gridFor(
        k->parallel() == dsrt::fb::ParallelDim::Static ? k->extent() : 1, grid);
    check(grid[0] > 0 && grid[1] > 0 && grid[2] > 0);
    if (k->outputs())
      for (const dsrt::fb::KernelOutput *o : *k->outputs())
        check(dsrt::dtypeBytes(o->dtype()) > 0 && o->row_elements() > 0);
  };
  for (const dsrt::fb::Kernel *k : *p.kernels())
    checkKernel(k);
  if (p.host_twins()) {
    check(p.host_twins()->size() == p.kernels()->size());
    for (const dsrt::fb::Kernel *k : *p.host_twins())
      checkKernel(k);
  }

  Wide vocab = Wide(p.model()->vocab_size());
  for (const dsrt::fb::Entry *e : *p.entries()) {
    check(e->name() && e->launches() && e->max_tokens() > 0);
    Wide logitsEnd =
        Wide(e->logits_offset()) + Wide(e->max_tokens()) * vocab * 4;
    check(logitsEnd <= Wide(p.arena_bytes()));
    Wide sampledEnd = Wide(e->sampled_offset()) + Wide(e->max_tokens()) * 4;
    check(sampledEnd <= Wide(p.arena_bytes()));
    for (const dsrt::fb::Launch *l : *e->launches()) {
      check(l->kernel() < p.kernels()->size() && l->args());
      // What the kernel writes lies in the arena at any row count.
      const dsrt::fb::Kernel *k = p.kernels()->Get(l->kernel());
      if (k->outputs())
        for (const dsrt::fb::KernelOutput *o : *k->outputs()) {
          check(o->arg() < l->args()->size());
          const dsrt::fb::Arg *a = l->args()->Get(o->arg());
          check(a->kind() == dsrt::fb::ArgKind::Arena);
          check(Wide(a->value()) + Wide(e->max_tokens()) *
                                       Wide(o->row_elements()) *
                                       Wide(dsrt::dtypeBytes(o->dtype())) <=
                Wide(p.arena_bytes()));
        }
      for (const dsrt::fb::Arg *a : *l->args()) {
        switch (a->kind()) {
        case dsrt::fb::ArgKind::Arena:
          check(a->value() < p.arena_bytes());
          break;
        case dsrt::fb::ArgKind::Weight:
        case dsrt::fb::ArgKind::WeightScales:
          check(a->value() < numWeights);
          break;
        case dsrt::fb::ArgKind::Cache:
          check(Wide(a->value()) < pageBytes);
          break;
        case dsrt::fb::ArgKind::Tokens:
        case dsrt::fb::ArgKind::Positions:
        case dsrt::fb::ArgKind::Slots:
        case dsrt::fb::ArgKind::Rows:
        case dsrt::fb::ArgKind::Sampling:
        case dsrt::fb::ArgKind::PageTable:
          break;
        default:
          check(false);
        }
      }
    }
  }
  return total;
}

void checkDummyWeights(const dsrt::Program &program) {
  dsrt::Expected<dsrt::WeightStore> store =
      dsrt::WeightStore::dummy(program, /*seed=*/1);
  check(store.ok());
  const auto &weights = *program.fb().weights();
  check(store.value().numWeights() == weights.size());
  for (uint32_t i = 0; i < weights.size(); ++i) {
    const uint8_t *data = static_cast<const uint8_t *>(store.value().data(i));
    check(reinterpret_cast<uintptr_t>(data) % 64 == 0);
    if (weights.Get(i)->dtype() == dsrt::fb::DType::F8_E4M3)
      for (uint64_t j = 0; j < program.weightElements(i); ++j)
        check(data[j] != 0x7F && data[j] != 0xFF);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dsrt::Expected<dsrt::Program> program =
      dsrt::Program::load(data, size, "fuzz");
  if (!program) {
    check(program.error().rfind("fuzz: corrupted program: ", 0) == 0);
    return 0;
  }
  Wide weightBytes = checkProgramInvariants(program.value());
  if (weightBytes <= (1 << 20))
    checkDummyWeights(program.value());
  return 0;
}
