//===- WeightSource.h - where a program's weights come from -----*- C++ -*-===//
//
// A WeightSource lists, piece by piece, where every byte of a program's
// weights comes from and where it goes: a checkpoint tensor (one expert of a
// stack, a weight's scales) into a byte range of the weight's buffer, or a
// weight already in host memory (dummy or embedded weights, a loaded
// WeightStore). A piece the program quantizes at load is a bf16 matrix that
// becomes e4m3 values and f32 block scales (dsrt/Quantize.h).
//
// Readers cut the pieces into spans (spans()) and move them on several
// threads at once (dsrt/WeightStreaming.h): into host buffers
// (WeightStore::load) or through pinned staging buffers to a GPU without a
// host copy of the weights (the cuda session). Checkpoint bytes are read
// with pread (SafetensorsFile::readTensor): one copy out of the page cache,
// the validated header's bounds checked again for every span, and a shard
// cut short while it is read is an error naming the file and the tensor.
//
// Ownership: a WeightSource refers to the Program, the Checkpoint or the
// WeightStore it was made from, which must outlive it; it owns nothing.
// Threading: immutable after construction; read() may run on several
// threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_WEIGHTSOURCE_H
#define DSRT_WEIGHTSOURCE_H

#include "dsrt/Checkpoint.h"
#include "dsrt/Expected.h"
#include "dsrt/Program.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt {

class WeightStore;

class WeightSource {
public:
  /// One source range and where it goes.
  struct Piece {
    uint32_t weight = 0; // manifest index
    bool scales = false; // into the weight's scales rather than its data
    /// Byte offset of the piece in the weight's data (or scales); for a
    /// quantized piece, of its e4m3 values in the weight's data.
    uint64_t offset = 0;
    uint64_t bytes = 0; // read from the source
    /// A tensor of a checkpoint shard, or (file == nullptr) host memory.
    const SafetensorsFile *file = nullptr;
    const TensorInfo *tensor = nullptr;
    const uint8_t *memory = nullptr;
    /// A bf16 matrix of rows x cols quantised at load, its block scales at
    /// byte `scaleOffset` of the weight's scales.
    bool quantize = false;
    uint64_t scaleOffset = 0;
    int64_t rows = 0, cols = 0, blockRows = 0, blockCols = 0;
    /// A rank's part of the tensor (a partitioned program): its `bytes`
    /// are `runCount` runs of `runBytes`, run o at byte o * strideBytes +
    /// firstBytes of the tensor. 0 runs: the whole tensor.
    uint64_t runCount = 0, runBytes = 0, strideBytes = 0, firstBytes = 0;
  };

  /// Bytes [begin, begin + bytes) of piece `piece`: what one reader moves
  /// at once. A span of a quantized piece covers whole rows of blocks.
  struct Span {
    uint32_t piece = 0;
    uint64_t begin = 0, bytes = 0;
  };

  /// The checkpoint's tensors for every weight of `program`, after
  /// WeightStore::check() (whose message lists every problem by name); of
  /// a partitioned program, rank `rank`'s parts.
  static Expected<WeightSource> fromCheckpoint(const Program &program,
                                               const Checkpoint &checkpoint,
                                               int64_t rank = 0);
  /// The weights of `store` (dummy, embedded or loaded), one piece per
  /// weight and per scales.
  static WeightSource fromStore(const Program &program,
                                const WeightStore &store);

  const Program &program() const { return *program_; }
  const std::vector<Piece> &pieces() const { return pieces_; }
  /// The store the weights are in when made by fromStore(), else nullptr.
  const WeightStore *store() const { return store_; }
  /// The checkpoint's folder (fromCheckpoint), for messages; else "".
  const std::string &origin() const { return origin_; }
  /// The bytes every piece reads.
  uint64_t sourceBytes() const { return sourceBytes_; }
  /// Whether a piece is quantized at load.
  bool quantizes() const { return quantizes_; }

  /// The pieces cut into spans of at most `maxBytes` (a quantized piece's
  /// row of blocks is never cut, so a span can be larger when one is
  /// wider), in reading order: each file front to back, the files taken in
  /// turn so that readers on several threads spread over them.
  std::vector<Span> spans(uint64_t maxBytes) const;

  /// Where a span of a quantized piece lands: its rows of the matrix and
  /// the byte offsets of their e4m3 values in the weight's data and of
  /// their block scales in the weight's scales.
  struct Band {
    uint64_t valuesOffset = 0, scalesOffset = 0;
    int64_t rows = 0;
  };
  Band bandOf(const Span &span) const;

  /// Reads `span` into `out` (span.bytes bytes). Errors name the file and
  /// the tensor.
  Status read(const Span &span, void *out) const;

  /// The message for `count` non-finite values met quantizing weight
  /// `weight` (which cannot be quantized to fp8).
  std::string nonFiniteMessage(uint32_t weight, uint64_t count) const;

private:
  const Program *program_ = nullptr;
  const WeightStore *store_ = nullptr;
  std::string origin_;
  std::vector<Piece> pieces_;
  uint64_t sourceBytes_ = 0;
  bool quantizes_ = false;
};

} // namespace dsrt

#endif // DSRT_WEIGHTSOURCE_H
