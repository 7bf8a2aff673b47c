//===- Weights.cpp - load or make the weights of a program ---------------===//
//
// Manifest checking, reading a WeightSource into host buffers on several
// threads, and seeded dummy weights. Weights quantized at load (`dsc compile
// --quantize=fp8`) are read as bf16, a span of whole rows of blocks at a
// time, and quantised by the thread that read them into their fp8 buffer
// and scales (dsrt/Quantize.h).
//
//===----------------------------------------------------------------------===//

#include "dsrt/Weights.h"

#include "dsrt/Quantize.h"
#include "dsrt/WeightStreaming.h"
#include "io/WeightParts.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace dsrt {

namespace {

using detail::partsOf;
using detail::WeightPart;

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t alignUp(uint64_t n) { return (n + 63) / 64 * 64; }

} // namespace

Status WeightStore::check(const Program &program, const Checkpoint &checkpoint,
                          int64_t rank) {
  std::string problems;
  size_t count = 0;
  auto report = [&](const std::string &line) {
    if (++count <= 20)
      problems += "\n  " + line;
  };
  for (const fb::Weight *w : *program.fb().weights())
    for (bool scales : {false, true}) {
      if (scales && !w->scale_tensor())
        continue;
      for (const WeightPart &part : partsOf(*w, scales, rank)) {
        const Checkpoint::Entry *entry = checkpoint.find(part.name);
        std::string expected = std::string(dtypeName(part.dtype)) + " " +
                               shapeText(part.fullShape);
        if (!entry)
          report("missing tensor '" + part.name + "' (expected " + expected +
                 ")");
        else if (entry->info->dtype != part.dtype ||
                 entry->info->shape != part.fullShape)
          report("tensor '" + part.name + "' is " +
                 dtypeName(entry->info->dtype) + " " +
                 shapeText(entry->info->shape) + ", expected " + expected +
                 (w->quantized_at_load()
                      ? " (the program quantizes it to fp8 at load; "
                        "compile an fp8 checkpoint without --quantize)"
                      : ""));
      }
    }
  if (count == 0)
    return Status::success();
  if (count > 20)
    problems += "\n  ... and " + std::to_string(count - 20) + " more";
  return Status::error(checkpoint.dir() +
                       ": the checkpoint does not hold "
                       "the weights this program was compiled for (" +
                       std::to_string(count) + " problems):" + problems);
}

Expected<WeightStore> WeightStore::allocate(const Program &program) {
  WeightStore store;
  const auto &weights = *program.fb().weights();
  for (uint32_t i = 0; i < weights.size(); ++i) {
    uint64_t bytes = alignUp(program.weightElements(i) *
                             dtypeBytes(weights.Get(i)->dtype()));
    uint64_t scaleBytes = alignUp(program.scaleElements(i) * 4);
    Buffer data(static_cast<uint8_t *>(std::aligned_alloc(64, bytes)));
    Buffer scales(
        scaleBytes ? static_cast<uint8_t *>(std::aligned_alloc(64, scaleBytes))
                   : nullptr);
    if (!data || (scaleBytes && !scales))
      return Expected<WeightStore>::error("out of memory allocating weight '" +
                                          weights.Get(i)->symbol()->str() +
                                          "' (" + std::to_string(bytes) +
                                          " bytes)");
    store.totalBytes_ += bytes + scaleBytes;
    store.data_.push_back(data.get());
    store.scales_.push_back(scales.get());
    store.owned_.push_back(std::move(data));
    store.owned_.push_back(std::move(scales));
  }
  return store;
}

namespace {
constexpr char kImageMagic[8] = {'D', 'S', 'C', 'W', 'G', 'T', '0', '1'};
/// The last 24 bytes of an executable with embedded weights.
struct ImageTrailer {
  char magic[8];
  uint64_t offset; // of the image in the file
  uint64_t size;   // of the image
};

/// Bytes of weight i and its scales in an image, 64-byte aligned each.
std::pair<uint64_t, uint64_t> imageBytes(const Program &program, uint32_t i) {
  const fb::Weight &w = *program.fb().weights()->Get(i);
  return {alignUp(program.weightElements(i) * dtypeBytes(w.dtype())),
          alignUp(program.scaleElements(i) * 4)};
}
} // namespace

Status WeightStore::appendImage(const Program &program,
                                const std::string &path) const {
  std::FILE *f = std::fopen(path.c_str(), "ab");
  if (!f)
    return Status::error(path +
                         ": cannot open for writing: " + std::strerror(errno));
  long start = std::ftell(f);
  // The image starts 64-byte aligned in the file so that mapped weights
  // keep the alignment of allocated ones.
  uint64_t padding = alignUp(static_cast<uint64_t>(start)) - start;
  static const uint8_t zeros[64] = {};
  bool ok = std::fwrite(zeros, 1, padding, f) == padding;
  uint64_t size = 0;
  for (uint32_t i = 0; ok && i < data_.size(); ++i) {
    auto [bytes, scaleBytes] = imageBytes(program, i);
    ok = std::fwrite(data_[i], 1, bytes, f) == bytes &&
         (scaleBytes == 0 ||
          std::fwrite(scales_[i], 1, scaleBytes, f) == scaleBytes);
    size += bytes + scaleBytes;
  }
  ImageTrailer trailer;
  std::memcpy(trailer.magic, kImageMagic, 8);
  trailer.offset = static_cast<uint64_t>(start) + padding;
  trailer.size = size;
  ok = ok && std::fwrite(&trailer, sizeof(trailer), 1, f) == 1;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok)
    return Status::error(
        path + ": cannot write the weights image: " + std::strerror(errno));
  return Status::success();
}

Expected<WeightStore> WeightStore::fromExecutable(const Program &program,
                                                  const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Expected<WeightStore>::error(
        path + ": cannot open: " + std::strerror(errno));
  struct stat info;
  ImageTrailer trailer;
  bool readable =
      ::fstat(fd, &info) == 0 &&
      static_cast<uint64_t>(info.st_size) >= sizeof(trailer) &&
      ::pread(fd, &trailer, sizeof(trailer), info.st_size - sizeof(trailer)) ==
          static_cast<ssize_t>(sizeof(trailer));
  if (!readable || std::memcmp(trailer.magic, kImageMagic, 8) != 0) {
    ::close(fd);
    return WeightStore(); // no embedded weights
  }
  uint64_t fileSize = static_cast<uint64_t>(info.st_size);
  uint64_t expected = 0;
  for (uint32_t i = 0; i < program.fb().weights()->size(); ++i) {
    auto [bytes, scaleBytes] = imageBytes(program, i);
    // Saturating: a sum past 2^64 must not wrap to a size that matches.
    uint64_t add = bytes + scaleBytes;
    expected = add > UINT64_MAX - expected ? UINT64_MAX : expected + add;
  }
  if (trailer.offset % 64 != 0 || trailer.size != expected ||
      trailer.offset > fileSize - sizeof(trailer) ||
      trailer.size > fileSize - sizeof(trailer) - trailer.offset) {
    ::close(fd);
    return Expected<WeightStore>::error(
        path + ": the embedded weights image is damaged (" +
        std::to_string(trailer.size) + " bytes at " +
        std::to_string(trailer.offset) + ", the program needs " +
        std::to_string(expected) + ")");
  }
  void *base = ::mmap(nullptr, fileSize, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED)
    return Expected<WeightStore>::error(
        path + ": cannot map: " + std::strerror(errno));
  WeightStore store;
  store.mapping_ = std::shared_ptr<void>(
      base, [fileSize](void *p) { ::munmap(p, fileSize); });
  uint8_t *at = static_cast<uint8_t *>(base) + trailer.offset;
  for (uint32_t i = 0; i < program.fb().weights()->size(); ++i) {
    auto [bytes, scaleBytes] = imageBytes(program, i);
    store.data_.push_back(at);
    store.scales_.push_back(scaleBytes ? at + bytes : nullptr);
    at += bytes + scaleBytes;
  }
  store.totalBytes_ = trailer.size;
  return store;
}

Expected<WeightStore> WeightStore::load(const Program &program,
                                        const Checkpoint &checkpoint,
                                        const Progress &progress,
                                        LoadTimes *times, int64_t rank) {
  auto checking = std::chrono::steady_clock::now();
  Expected<WeightSource> source =
      WeightSource::fromCheckpoint(program, checkpoint, rank);
  double checkSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - checking)
          .count();
  if (!source)
    return Expected<WeightStore>::error(source.error());
  LoadOptions options;
  options.progress = progress;
  Expected<WeightStore> store = load(source.value(), options, times);
  if (times)
    times->checkSeconds = checkSeconds;
  return store;
}

Expected<WeightStore> WeightStore::load(const WeightSource &source,
                                        const LoadOptions &options,
                                        LoadTimes *times) {
  auto started = std::chrono::steady_clock::now();
  const Program &program = source.program();
  Expected<WeightStore> allocated = allocate(program);
  if (!allocated)
    return allocated;
  WeightStore store = allocated.take();
  const std::vector<WeightSource::Piece> &pieces = source.pieces();
  std::vector<WeightSource::Span> spans = source.spans(options.spanBytes);
  unsigned threads = loadThreads(options.threads);
  std::vector<std::vector<uint16_t>> scratch(threads); // bf16 to quantise
  std::vector<std::atomic<uint64_t>> nonFinite(store.numWeights());
  auto work = [&](const WeightSource::Span &span, unsigned thread) -> Status {
    const WeightSource::Piece &piece = pieces[span.piece];
    if (!piece.quantize)
      return source.read(
          span, (piece.scales ? store.scales_ : store.data_)[piece.weight] +
                    piece.offset + span.begin);
    // Whole rows of blocks: read them, then quantise them on this thread.
    std::vector<uint16_t> &bf16 = scratch[thread];
    bf16.resize(span.bytes / 2);
    if (Status s = source.read(span, bf16.data()); !s)
      return s;
    WeightSource::Band band = source.bandOf(span);
    QuantizeJob job{bf16.data(), store.data_[piece.weight] + band.valuesOffset,
                    reinterpret_cast<float *>(store.scales_[piece.weight] +
                                              band.scalesOffset),
                    band.rows, piece.cols};
    nonFinite[piece.weight] += quantizeFP8Blocks(
        {job}, piece.blockRows, piece.blockCols, /*threads=*/1);
    return Status::success();
  };
  uint64_t total = source.sourceBytes();
  Status read = readSpans(spans, threads, work, [&](uint64_t done) {
    if (options.progress)
      options.progress(done, total);
  });
  if (!read)
    return Expected<WeightStore>::error(read.error());
  LoadTimes local;
  LoadTimes &t = times ? *times : local;
  const auto &weights = *program.fb().weights();
  for (uint32_t i = 0; i < weights.size(); ++i) {
    if (uint64_t count = nonFinite[i])
      return Expected<WeightStore>::error(source.nonFiniteMessage(i, count));
    if (weights.Get(i)->quantized_at_load())
      t.quantizedBytes +=
          program.weightElements(i) * dtypeBytes(weights.Get(i)->dtype()) +
          program.scaleElements(i) * 4;
  }
  t.readBytes = total;
  t.readSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return store;
}

namespace {

/// splitmix64: a counter-based generator, so skip() jumps ahead exactly.
struct DummyGenerator {
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
  explicit DummyGenerator(uint64_t seed) : state(seed * kGamma + 1) {}
  void skip(uint64_t draws) { state += draws * kGamma; }
  uint64_t next() {
    uint64_t z = (state += kGamma);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { // [-1, 1)
    return static_cast<float>(next() >> 40) / float(1 << 23) - 1.0f;
  }
  uint64_t state;
};

uint16_t toBF16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

/// Calls f(local, global) for each element of part `part` (of weight data
/// or scales; see partsOf) in the order the program holds them: `local` its
/// index in the part, `global` its index in the whole tensor (of a stack,
/// the whole stack).
template <typename F> void forEachElement(const WeightPart &part, F f) {
  uint64_t matrix = 1;
  for (int64_t d : part.fullShape)
    matrix *= uint64_t(d);
  uint64_t base = part.expert >= 0 ? uint64_t(part.expert) * matrix : 0;
  const detail::SliceRuns &r = part.runs;
  uint64_t local = 0;
  for (uint64_t o = 0; o < r.outer; ++o)
    for (uint64_t k = 0; k < r.run; ++k)
      f(local++, base + o * r.stride + r.first + k);
}

/// The same over every part of weight `w` (rank `rank`'s), `local` counting
/// on from one part to the next.
template <typename F>
void forEachElement(const fb::Weight &w, bool scales, int64_t rank, F f) {
  uint64_t offset = 0;
  for (const WeightPart &part : partsOf(w, scales, rank)) {
    forEachElement(part, [&](uint64_t j, uint64_t g) { f(offset + j, g); });
    offset += part.runs.outer * part.runs.run;
  }
}

/// The elements of the whole tensor (stack) behind weight `w`'s data.
uint64_t wholeElements(const fb::Weight &w) {
  std::vector<WeightPart> parts = partsOf(w, false);
  uint64_t matrix = 1;
  for (int64_t d : parts.front().fullShape)
    matrix *= uint64_t(d);
  if (w.experts() == 0)
    return matrix;
  int64_t stacked = w.experts();
  if (w.shard_ranks() >= 2 && w.shard_dim() == 0)
    stacked *= w.shard_ranks();
  return matrix * uint64_t(stacked);
}

/// The columns of the whole matrix behind weight `w` (a rank's part may
/// hold some of them).
int64_t wholeColumns(const fb::Weight &w) {
  uint32_t last = w.shape()->size() - 1;
  int64_t cols = w.shape()->Get(last);
  if (w.shard_ranks() >= 2 && w.shard_dim() >= 0 &&
      uint32_t(w.shard_dim()) == last)
    cols *= w.shard_ranks();
  return cols;
}

/// Fills weight `w` (rank `rank`'s part of it) from the generator of
/// `seed`: element g of the whole tensor from draws [g * d, (g + 1) * d)
/// (d draws an element: 2 for an f32 vector or an fp8 value, else 1), its
/// scales from the draws after the whole tensor's.
void fillDummy(const fb::Weight &w, uint8_t *data, uint8_t *scaleData,
               uint64_t seed, int64_t rank) {
  const DummyGenerator start(seed);
  bool vector = w.shape()->size() == 1;
  // Norm weights near 1, biases small and positive, matrices scaled by
  // 1/sqrt(fan-in) so activations stay in range through the layers (a part
  // split by columns keeps the whole matrix's fan-in).
  int64_t fanIn = wholeColumns(w);
  float scale = vector ? 0.1f : 1.0f / std::sqrt(static_cast<float>(fanIn));
  uint64_t draws =
      (w.dtype() == fb::DType::F32 && vector) || w.dtype() == fb::DType::F8_E4M3
          ? 2
          : 1;
  forEachElement(w, false, rank, [&](uint64_t j, uint64_t g) {
    DummyGenerator generator = start;
    generator.skip(g * draws);
    float v = vector ? 1.0f + scale * generator.uniform()
                     : scale * generator.uniform();
    switch (w.dtype()) {
    case fb::DType::BF16: {
      uint16_t b = toBF16(v);
      std::memcpy(data + 2 * j, &b, 2);
      break;
    }
    case fb::DType::F32: {
      float f = vector ? 0.5f + 0.5f * (generator.uniform() + 1.0f) : v;
      std::memcpy(data + 4 * j, &f, 4);
      break;
    }
    case fb::DType::F8_E4M3: // exponent < 15: no NaN
      data[j] = static_cast<uint8_t>(generator.next() & 0xF7);
      break;
    case fb::DType::I32:
      std::memset(data + 4 * j, 0, 4);
      break;
    }
  });
  if (!w.scale_tensor())
    return;
  // e4m3 values reach 240 here: scale the products to ~1/sqrt(fan-in).
  float s = 1.0f / (240.0f * std::sqrt(static_cast<float>(fanIn)));
  uint64_t after = wholeElements(w) * draws;
  forEachElement(w, true, rank, [&](uint64_t j, uint64_t g) {
    DummyGenerator generator = start;
    generator.skip(after + g);
    float v = s * (1.0f + 0.25f * generator.uniform());
    std::memcpy(scaleData + 4 * j, &v, 4);
  });
}

/// Fills weight `w`, quantized at load, with the bf16 values fillDummy()
/// makes for a bf16 weight of its shape and seed, quantised: a bf16 and an
/// fp8 program of one model run the same dummy weights (and a rank of a
/// partitioned program its part of them: the parts cover whole blocks).
void fillQuantizedDummy(const fb::Weight &w, uint64_t elements,
                        uint64_t scaleCount, uint8_t *data, uint8_t *scaleData,
                        uint64_t seed, int64_t rank) {
  int64_t rows = w.shape()->Get(w.shape()->size() - 2);
  int64_t cols = w.shape()->Get(w.shape()->size() - 1);
  uint64_t matrix = static_cast<uint64_t>(rows * cols);
  // Every matrix of the weight (of a stack, or of leading dimensions) has
  // the same share of the scales.
  uint64_t matrices = elements / matrix;
  uint64_t matrixScales = scaleCount / matrices;
  float scale = 1.0f / std::sqrt(static_cast<float>(wholeColumns(w)));
  // Per part (an expert of a stack), the bf16 values fillDummy() draws for
  // the whole tensor there, quantised a matrix at a time.
  const DummyGenerator start(seed);
  float *scales = reinterpret_cast<float *>(scaleData);
  std::vector<uint16_t> source;
  uint64_t done = 0; // matrices
  for (const WeightPart &part : partsOf(w, false, rank)) {
    uint64_t n = 1;
    for (int64_t d : part.shape)
      n *= uint64_t(d);
    source.assign(n, 0);
    forEachElement(part, [&](uint64_t j, uint64_t g) {
      DummyGenerator generator = start;
      generator.skip(g);
      source[j] = toBF16(scale * generator.uniform());
    });
    for (uint64_t m = 0; m < n / matrix; ++m, ++done)
      quantizeFP8Blocks({{source.data() + m * matrix, data + done * matrix,
                          scales + done * matrixScales, rows, cols}},
                        w.scale_block_rows(), w.scale_block_cols(),
                        /*threads=*/1);
  }
}

} // namespace

Expected<WeightStore> WeightStore::dummy(const Program &program, uint64_t seed,
                                         int64_t rank) {
  Expected<WeightStore> allocated = allocate(program);
  if (!allocated)
    return allocated;
  WeightStore store = allocated.take();
  const auto &weights = *program.fb().weights();
  // Each weight has its own generator (seeded by the seed and its index),
  // so the result does not depend on how many threads fill them.
  std::atomic<uint32_t> nextWeight{0};
  auto worker = [&] {
    for (uint32_t i; (i = nextWeight++) < weights.size();) {
      const fb::Weight &w = *weights.Get(i);
      if (w.quantized_at_load())
        fillQuantizedDummy(w, program.weightElements(i),
                           program.scaleElements(i), store.data_[i],
                           store.scales_[i], seed * 1000003u + i, rank);
      else
        fillDummy(w, store.data_[i], store.scales_[i], seed * 1000003u + i,
                  rank);
    }
  };
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
  return store;
}

} // namespace dsrt
