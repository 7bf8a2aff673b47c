//===- Checkpoint.cpp - the weights of a checkpoint folder ------*- C++ -*-===//
//
// Implements dsrt/Checkpoint.h. Checkpoint::Loader decides which safetensors
// files make up the checkpoint (the index's shards, model.safetensors, or all
// *.safetensors files), opens each once, and builds the sorted name -> tensor
// table, checking the index against the shards it names.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Checkpoint.h"

#include "dsrt/Json.h"
#include "io/QuoteForMessage.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <filesystem>
#include <map>
#include <system_error>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dsrt {

namespace {

using detail::quoteForMessage;

std::string errnoMessage() {
  return std::error_code(errno, std::generic_category()).message();
}

/// Whether `path` exists; false with `error` set when that cannot be told.
bool pathExists(const std::string &path, std::string &error) {
  struct stat status;
  if (::stat(path.c_str(), &status) == 0)
    return true;
  if (errno != ENOENT)
    error = path + ": cannot stat: " + errnoMessage();
  return false;
}

/// Reads a whole file of at most `maxSize` bytes.
Expected<std::string> readWholeFile(const std::string &path, size_t maxSize) {
  using Result = Expected<std::string>;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Result::error(path + ": cannot open: " + errnoMessage());
  std::string contents;
  char buffer[1 << 16];
  for (;;) {
    ssize_t count = ::read(fd, buffer, sizeof(buffer));
    if (count < 0 && errno == EINTR)
      continue;
    if (count < 0) {
      std::string message = path + ": cannot read: " + errnoMessage();
      ::close(fd);
      return Result::error(message);
    }
    if (count == 0)
      break;
    if (contents.size() + size_t(count) > maxSize) {
      ::close(fd);
      return Result::error(path + ": larger than the limit of " +
                           std::to_string(maxSize) + " bytes");
    }
    contents.append(buffer, size_t(count));
  }
  ::close(fd);
  return contents;
}

/// A shard name from an index must name a file directly inside the folder.
bool isPlainFileName(const std::string &name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find("..") == std::string::npos &&
         name.find('\0') == std::string::npos && name != ".";
}

bool hasSafetensorsSuffix(const std::string &name) {
  constexpr std::string_view kSuffix = ".safetensors";
  return name.size() > kSuffix.size() &&
         name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) ==
             0;
}

} // namespace

//===----------------------------------------------------------------------===//
// Loader
//===----------------------------------------------------------------------===//

/// Builds one Checkpoint; each step returns an error Status or fills
/// `checkpoint_`.
class Checkpoint::Loader {
public:
  explicit Loader(const std::string &dir) { checkpoint_.dir_ = dir; }

  Expected<Checkpoint> load();

private:
  /// The (tensor, shard file name) pairs of an index's weight_map.
  using WeightMap = std::vector<std::pair<std::string, std::string>>;

  Status checkFolder() const;
  Status loadIndexed(const std::string &indexPath);
  Status readWeightMap(const std::string &indexPath, WeightMap &weightMap);
  Status openIndexedShards(const std::string &indexPath,
                           const WeightMap &weightMap,
                           std::map<std::string, size_t> &shardIndex);
  Status loadUnindexed();
  Status addAllTensorsOfShards();
  Status openShard(const std::string &fileName);
  void sortEntries();
  std::string pathOf(const std::string &fileName) const;

  Checkpoint checkpoint_;
};

Expected<Checkpoint> Checkpoint::Loader::load() {
  Status status = checkFolder();
  std::string indexPath = pathOf(kIndexFileName);
  std::string statError;
  if (status) {
    if (pathExists(indexPath, statError))
      status = loadIndexed(indexPath);
    else if (!statError.empty())
      status = Status::error(statError);
    else
      status = loadUnindexed();
  }
  if (!status)
    return Expected<Checkpoint>::error(status.error());
  return std::move(checkpoint_);
}

Status Checkpoint::Loader::checkFolder() const {
  const std::string &dir = checkpoint_.dir_;
  struct stat status;
  if (::stat(dir.c_str(), &status) != 0)
    return Status::error("checkpoint folder " + quoteForMessage(dir) + ": " +
                         errnoMessage());
  if (!S_ISDIR(status.st_mode))
    return Status::error("checkpoint folder " + quoteForMessage(dir) +
                         " is not a directory");
  return Status::success();
}

Status Checkpoint::Loader::loadIndexed(const std::string &indexPath) {
  checkpoint_.hasIndex_ = true;
  WeightMap weightMap;
  std::map<std::string, size_t> shardIndex; // shard file name -> shard
  Status status = readWeightMap(indexPath, weightMap);
  if (status)
    status = openIndexedShards(indexPath, weightMap, shardIndex);
  if (!status)
    return status;

  for (const auto &[tensor, shardName] : weightMap) {
    size_t shard = shardIndex.at(shardName);
    const TensorInfo *info = checkpoint_.shards_[shard].header().find(tensor);
    if (!info)
      return Status::error(indexPath + ": maps tensor " +
                           quoteForMessage(tensor) + " to shard " +
                           quoteForMessage(shardName) +
                           ", but that shard has no such tensor");
    checkpoint_.entries_.push_back({info, shard});
  }
  sortEntries();

  // Count what the shards hold beyond what the index maps to them.
  for (size_t shard = 0; shard < checkpoint_.shards_.size(); ++shard) {
    for (const TensorInfo &tensor :
         checkpoint_.shards_[shard].header().tensors) {
      const Entry *entry = checkpoint_.find(tensor.name);
      if (!entry || entry->shard != shard)
        ++checkpoint_.numUnindexedTensors_;
    }
  }
  return Status::success();
}

Status Checkpoint::Loader::readWeightMap(const std::string &indexPath,
                                         WeightMap &weightMap) {
  json::ParseOptions options;
  Expected<std::string> text = readWholeFile(indexPath, options.maxSize);
  if (!text)
    return Status::error(text.error());
  Expected<json::Value> root = json::parse(text.value(), options);
  if (!root)
    return Status::error(indexPath + ": not valid JSON: " + root.error());
  auto fieldError = [&](const std::string &message) {
    return Status::error(indexPath + ": " + message);
  };
  if (!root.value().isObject())
    return fieldError("top level is a JSON " +
                      json::kindName(root.value().kind()) +
                      ", expected an object");
  const json::Value *metadata = root.value().find("metadata");
  if (metadata && !metadata->isObject())
    return fieldError("field 'metadata' is a JSON " +
                      json::kindName(metadata->kind()) +
                      ", expected an object");
  const json::Value *map = root.value().find("weight_map");
  if (!map)
    return fieldError("missing field 'weight_map'");
  if (!map->isObject())
    return fieldError("field 'weight_map' is a JSON " +
                      json::kindName(map->kind()) + ", expected an object");

  for (const auto &[tensor, shard] : map->members()) {
    if (!shard.isString())
      return fieldError("weight_map entry " + quoteForMessage(tensor) +
                        " is a JSON " + json::kindName(shard.kind()) +
                        ", expected a shard file name");
    if (!isPlainFileName(shard.asString()))
      return fieldError("weight_map maps tensor " + quoteForMessage(tensor) +
                        " to " + quoteForMessage(shard.asString()) +
                        ", which is not a plain file name");
    weightMap.emplace_back(tensor, shard.asString());
  }
  return Status::success();
}

/// Opens every shard the weight map names, once each, in name order.
Status Checkpoint::Loader::openIndexedShards(
    const std::string &indexPath, const WeightMap &weightMap,
    std::map<std::string, size_t> &shardIndex) {
  std::map<std::string, const std::string *> firstTensorOf;
  for (const auto &[tensor, shardName] : weightMap)
    firstTensorOf.emplace(shardName, &tensor);

  for (const auto &[shardName, tensor] : firstTensorOf) {
    std::string statError;
    if (!pathExists(pathOf(shardName), statError)) {
      if (!statError.empty())
        return Status::error(statError);
      return Status::error(indexPath + " names shard " +
                           quoteForMessage(shardName) + " for tensor " +
                           quoteForMessage(*tensor) +
                           ", but the file is missing");
    }
    shardIndex[shardName] = checkpoint_.shards_.size();
    Status status = openShard(shardName);
    if (!status)
      return status;
  }
  return Status::success();
}

Status Checkpoint::Loader::loadUnindexed() {
  const char *kSingleFile = "model.safetensors";
  std::string statError;
  if (pathExists(pathOf(kSingleFile), statError)) {
    Status status = openShard(kSingleFile);
    return status ? addAllTensorsOfShards() : status;
  }
  if (!statError.empty())
    return Status::error(statError);

  std::error_code error;
  std::vector<std::string> fileNames;
  std::filesystem::directory_iterator it(checkpoint_.dir_, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    std::error_code typeError;
    if (hasSafetensorsSuffix(name) && it->is_regular_file(typeError))
      fileNames.push_back(name);
  }
  if (error)
    return Status::error("checkpoint folder " +
                         quoteForMessage(checkpoint_.dir_) +
                         ": cannot list: " + error.message());
  std::sort(fileNames.begin(), fileNames.end());
  for (const std::string &name : fileNames) {
    Status status = openShard(name);
    if (!status)
      return status;
  }
  return addAllTensorsOfShards();
}

/// Without an index every tensor of every shard belongs to the checkpoint,
/// and a name may appear only once.
Status Checkpoint::Loader::addAllTensorsOfShards() {
  for (size_t shard = 0; shard < checkpoint_.shards_.size(); ++shard)
    for (const TensorInfo &tensor : checkpoint_.shards_[shard].header().tensors)
      checkpoint_.entries_.push_back({&tensor, shard});
  sortEntries();
  const std::vector<Entry> &entries = checkpoint_.entries_;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].info->name != entries[i].info->name)
      continue;
    return Status::error(
        "tensor " + quoteForMessage(entries[i].info->name) +
        " appears in both " +
        quoteForMessage(checkpoint_.shards_[entries[i - 1].shard].path()) +
        " and " +
        quoteForMessage(checkpoint_.shards_[entries[i].shard].path()));
  }
  return Status::success();
}

Status Checkpoint::Loader::openShard(const std::string &fileName) {
  Expected<SafetensorsFile> file = SafetensorsFile::open(pathOf(fileName));
  if (!file)
    return Status::error(file.error());
  checkpoint_.shards_.push_back(file.take());
  return Status::success();
}

void Checkpoint::Loader::sortEntries() {
  // Equal names (an error found later) are ordered by shard, so the message
  // names the files in a fixed order.
  std::sort(checkpoint_.entries_.begin(), checkpoint_.entries_.end(),
            [](const Entry &a, const Entry &b) {
              return std::tie(a.info->name, a.shard) <
                     std::tie(b.info->name, b.shard);
            });
}

std::string Checkpoint::Loader::pathOf(const std::string &fileName) const {
  const std::string &dir = checkpoint_.dir_;
  if (dir.empty() || dir.back() == '/')
    return dir + fileName;
  return dir + "/" + fileName;
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

Expected<Checkpoint> Checkpoint::open(const std::string &dir) {
  return Loader(dir).load();
}

const Checkpoint::Entry *Checkpoint::find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry &entry, std::string_view key) {
                               return entry.info->name < key;
                             });
  if (it == entries_.end() || it->info->name != name)
    return nullptr;
  return &*it;
}

std::vector<std::string> Checkpoint::tensorNames() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const Entry &entry : entries_)
    names.push_back(entry.info->name);
  return names;
}

const SafetensorsFile &Checkpoint::shard(size_t index) const {
  assert(index < shards_.size() && "shard index out of range");
  return shards_[index];
}

} // namespace dsrt
