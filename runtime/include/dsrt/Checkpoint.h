//===- Checkpoint.h - the weights of a checkpoint folder --------*- C++ -*-===//
//
// A Checkpoint gathers the tensors of a Hugging Face checkpoint folder from its
// safetensors shards, so a caller can look a weight up by name without caring
// which file holds it. Which files count:
//
//  * with `model.safetensors.index.json`: exactly the shards its "weight_map"
//    names, and in each shard exactly the tensors the index maps to it. Every
//    named shard must exist and hold its tensors. Tensors a shard holds but the
//    index does not map to it are ignored and counted (numUnindexedTensors()).
//    Shard names must be plain file names (no '/', no "..").
//  * otherwise `model.safetensors` if present, else every `*.safetensors` file
//    of the folder in name order; a tensor name in two files is an error.
//  * a folder without weights (say, only config.json) is a valid, empty
//    Checkpoint: hasWeights() is false.
//
// Every shard is opened once, memory-mapped and validated (see
// dsrt/Safetensors.h) before open() returns.
//
// Ownership: a Checkpoint owns its shards' mappings. Entry pointers, TensorInfo
// pointers and shard references stay valid for the Checkpoint's lifetime,
// including across moves.
// Threading: a Checkpoint is immutable after open() and may be read from
// several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_CHECKPOINT_H
#define DSRT_CHECKPOINT_H

#include "dsrt/Expected.h"
#include "dsrt/Safetensors.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dsrt {

class Checkpoint {
public:
  /// Where one tensor lives.
  struct Entry {
    const TensorInfo *info; // in shard(shard).header()
    size_t shard;           // index for shard()
  };

  /// The name of the index file that lists the shards.
  static constexpr const char *kIndexFileName = "model.safetensors.index.json";

  /// Reads the weights of the checkpoint folder `dir`.
  static Expected<Checkpoint> open(const std::string &dir);

  Checkpoint(Checkpoint &&) noexcept = default;
  Checkpoint &operator=(Checkpoint &&) noexcept = default;
  Checkpoint(const Checkpoint &) = delete;
  Checkpoint &operator=(const Checkpoint &) = delete;

  /// False when the folder has no safetensors weights at all.
  bool hasWeights() const { return !entries_.empty(); }
  /// True when the tensors came from model.safetensors.index.json.
  bool hasIndex() const { return hasIndex_; }
  /// The tensor named `name`, or nullptr. Logarithmic in the tensor count.
  const Entry *find(std::string_view name) const;
  size_t numTensors() const { return entries_.size(); }
  /// All tensor names, sorted.
  std::vector<std::string> tensorNames() const;
  /// Tensors present in shards but not mapped to that shard by the index;
  /// they are not part of the checkpoint. Always 0 without an index.
  size_t numUnindexedTensors() const { return numUnindexedTensors_; }

  /// Shard `index`, which must be below numShards().
  const SafetensorsFile &shard(size_t index) const;
  size_t numShards() const { return shards_.size(); }
  const std::string &dir() const { return dir_; }

private:
  Checkpoint() = default;
  class Loader;

  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::vector<Entry> entries_; // sorted by info->name
  size_t numUnindexedTensors_ = 0;
  bool hasIndex_ = false;
};

} // namespace dsrt

#endif // DSRT_CHECKPOINT_H
