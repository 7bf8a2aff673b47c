//===- WeightSource.cpp - where the bytes of a program's weights are ------===//
//
// The pieces of a checkpoint (after the manifest check) or of a weight
// store, their spans in reading order, and reading one span.
//
//===----------------------------------------------------------------------===//

#include "dsrt/WeightSource.h"

#include "dsrt/Weights.h"
#include "io/WeightParts.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace dsrt {

Expected<WeightSource>
WeightSource::fromCheckpoint(const Program &program,
                             const Checkpoint &checkpoint, int64_t rank) {
  if (Status checked = WeightStore::check(program, checkpoint, rank); !checked)
    return Expected<WeightSource>::error(checked.error());
  WeightSource source;
  source.program_ = &program;
  source.origin_ = checkpoint.dir();
  const auto &weights = *program.fb().weights();
  for (uint32_t i = 0; i < weights.size(); ++i) {
    const fb::Weight &w = *weights.Get(i);
    for (bool scales : {false, true}) {
      if (scales && !w.scale_tensor())
        continue;
      bool quantize = !scales && w.quantized_at_load();
      int64_t rows = 0, cols = 0;
      uint64_t matrixScaleBytes = 0;
      if (quantize) {
        rows = w.shape()->Get(w.shape()->size() - 2);
        cols = w.shape()->Get(w.shape()->size() - 1);
        matrixScaleBytes =
            program.scaleElements(i) / std::max<int64_t>(w.experts(), 1) * 4;
      }
      uint64_t offset = 0, scaleOffset = 0;
      for (const detail::WeightPart &part : detail::partsOf(w, scales, rank)) {
        // check() found every part with its dtype and shape.
        const Checkpoint::Entry *entry = checkpoint.find(part.name);
        Piece piece;
        piece.weight = i;
        piece.scales = scales;
        piece.offset = offset;
        piece.bytes = entry->info->numBytes();
        piece.file = &checkpoint.shard(entry->shard);
        piece.tensor = entry->info;
        if (!part.runs.whole()) {
          uint64_t element = dtypeSize(part.dtype);
          piece.runCount = part.runs.outer;
          piece.runBytes = part.runs.run * element;
          piece.strideBytes = part.runs.stride * element;
          piece.firstBytes = part.runs.first * element;
          piece.bytes = piece.runCount * piece.runBytes;
        }
        if (quantize) {
          piece.quantize = true;
          piece.scaleOffset = scaleOffset;
          piece.rows = rows;
          piece.cols = cols;
          piece.blockRows = std::max<int64_t>(w.scale_block_rows(), 1);
          piece.blockCols = std::max<int64_t>(w.scale_block_cols(), 1);
          offset += static_cast<uint64_t>(rows * cols); // one byte each
          scaleOffset += matrixScaleBytes;
          source.quantizes_ = true;
        } else {
          offset += piece.bytes;
        }
        source.sourceBytes_ += piece.bytes;
        source.pieces_.push_back(piece);
      }
    }
  }
  return source;
}

WeightSource WeightSource::fromStore(const Program &program,
                                     const WeightStore &store) {
  WeightSource source;
  source.program_ = &program;
  source.store_ = &store;
  const auto &weights = *program.fb().weights();
  for (uint32_t i = 0; i < weights.size() && i < store.numWeights(); ++i) {
    for (bool scales : {false, true}) {
      const void *at = scales ? store.scales(i) : store.data(i);
      uint64_t bytes = scales ? program.scaleElements(i) * 4
                              : program.weightElements(i) *
                                    dtypeBytes(weights.Get(i)->dtype());
      if (!at || bytes == 0)
        continue;
      Piece piece;
      piece.weight = i;
      piece.scales = scales;
      piece.bytes = bytes;
      piece.memory = static_cast<const uint8_t *>(at);
      source.sourceBytes_ += bytes;
      source.pieces_.push_back(piece);
    }
  }
  return source;
}

std::vector<WeightSource::Span> WeightSource::spans(uint64_t maxBytes) const {
  maxBytes = std::max<uint64_t>(maxBytes, 1);
  // The spans of each file (memory counts as one), in file order.
  std::map<const SafetensorsFile *, std::vector<std::pair<uint64_t, Span>>>
      byFile;
  std::vector<const SafetensorsFile *> files; // in order of first use
  for (uint32_t p = 0; p < pieces_.size(); ++p) {
    const Piece &piece = pieces_[p];
    uint64_t step = maxBytes;
    if (piece.quantize) {
      uint64_t band = static_cast<uint64_t>(piece.blockRows * piece.cols) * 2;
      step = std::max<uint64_t>(maxBytes / band, 1) * band;
    }
    auto &list = byFile[piece.file];
    if (list.empty())
      files.push_back(piece.file);
    uint64_t at = piece.tensor ? piece.tensor->begin : 0;
    for (uint64_t begin = 0; begin < piece.bytes; begin += step)
      list.push_back(
          {at + begin, {p, begin, std::min(step, piece.bytes - begin)}});
    if (piece.bytes == 0)
      list.push_back({at, {p, 0, 0}});
  }
  for (auto &[file, list] : byFile)
    if (file) // memory keeps the order of the weights
      std::stable_sort(
          list.begin(), list.end(),
          [](const auto &a, const auto &b) { return a.first < b.first; });
  std::vector<Span> spans;
  std::vector<size_t> next(files.size(), 0);
  for (bool more = true; more;) {
    more = false;
    for (size_t f = 0; f < files.size(); ++f) {
      const auto &list = byFile[files[f]];
      if (next[f] < list.size()) {
        spans.push_back(list[next[f]++].second);
        more = true;
      }
    }
  }
  return spans;
}

WeightSource::Band WeightSource::bandOf(const Span &span) const {
  const Piece &piece = pieces_[span.piece];
  uint64_t rowBytes = uint64_t(piece.cols) * 2;
  int64_t firstRow = int64_t(span.begin / rowBytes);
  int64_t blocksPerRow = (piece.cols + piece.blockCols - 1) / piece.blockCols;
  Band band;
  band.valuesOffset = piece.offset + uint64_t(firstRow * piece.cols);
  band.scalesOffset = piece.scaleOffset +
                      uint64_t(firstRow / piece.blockRows * blocksPerRow) * 4;
  band.rows = int64_t(span.bytes / rowBytes);
  return band;
}

Status WeightSource::read(const Span &span, void *out) const {
  const Piece &piece = pieces_[span.piece];
  if (span.begin > piece.bytes || span.bytes > piece.bytes - span.begin)
    return Status::error("internal error: a span outside its piece");
  if (piece.file && piece.runCount > 0) {
    // A rank's part: the span's bytes from each run they touch.
    uint8_t *to = static_cast<uint8_t *>(out);
    for (uint64_t at = span.begin, end = span.begin + span.bytes; at < end;) {
      uint64_t run = at / piece.runBytes, within = at % piece.runBytes;
      uint64_t n = std::min(piece.runBytes - within, end - at);
      if (Status s = piece.file->readTensor(*piece.tensor,
                                            run * piece.strideBytes +
                                                piece.firstBytes + within,
                                            n, to + (at - span.begin));
          !s)
        return s;
      at += n;
    }
    return Status::success();
  }
  if (piece.file)
    return piece.file->readTensor(*piece.tensor, span.begin, span.bytes, out);
  if (span.bytes)
    std::memcpy(out, piece.memory + span.begin, span.bytes);
  return Status::success();
}

std::string WeightSource::nonFiniteMessage(uint32_t weight,
                                           uint64_t count) const {
  const fb::Weight &w = *program_->fb().weights()->Get(weight);
  return (origin_.empty() ? std::string("weights") : origin_) + ": tensor '" +
         w.tensor()->str() + "' holds " + std::to_string(count) +
         " non-finite value(s) (inf or NaN); it cannot be quantized to fp8";
}

} // namespace dsrt
