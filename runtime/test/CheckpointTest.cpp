//===- CheckpointTest.cpp - tests of checkpoint folders ---------*- C++ -*-===//
//
// Unit tests of dsrt/Checkpoint.h: folders with an index and two shards, with
// a single model.safetensors, with loose shards, with no weights at all, and
// every way an index can disagree with its shards.
//
//===----------------------------------------------------------------------===//

#include "dsrt/Checkpoint.h"

#include "SafetensorsBuilder.h"
#include "TempDir.h"

#include <gtest/gtest.h>

#include <cstring>

namespace dsrt {
namespace {

using test::SafetensorsBuilder;
using test::TempDir;

const char *kShard1 = "model-00001-of-00002.safetensors";
const char *kShard2 = "model-00002-of-00002.safetensors";

/// An index.json text whose weight_map is `entries` ("name": "file", ...).
std::string indexJson(const std::string &entries) {
  return "{\"metadata\": {\"total_size\": 1234},\n \"weight_map\": {" +
         entries + "}}";
}

std::string mapping(const std::string &tensor, const std::string &shard) {
  return "\"" + tensor + "\": \"" + shard + "\"";
}

std::string openError(const TempDir &dir) {
  Expected<Checkpoint> checkpoint = Checkpoint::open(dir.path());
  EXPECT_FALSE(checkpoint.ok());
  return checkpoint.error();
}

/// Expects `name` to be in `checkpoint`, in shard `shard`, with `payload`.
void expectTensor(const Checkpoint &checkpoint, const std::string &name,
                  size_t shard, const std::vector<uint8_t> &payload) {
  const Checkpoint::Entry *entry = checkpoint.find(name);
  ASSERT_NE(entry, nullptr) << name;
  EXPECT_EQ(entry->shard, shard) << name;
  EXPECT_EQ(entry->info->name, name);
  const uint8_t *data = checkpoint.shard(entry->shard).tensorData(*entry->info);
  ASSERT_NE(data, nullptr) << name;
  ASSERT_EQ(entry->info->numBytes(), payload.size()) << name;
  EXPECT_EQ(std::memcmp(data, payload.data(), payload.size()), 0) << name;
}

/// A folder with an index over two shards; shard 2 also holds an extra
/// tensor that the index does not mention.
struct TwoShardFolder {
  TempDir dir;
  SafetensorsBuilder first{1}, second{2};

  TwoShardFolder() {
    first.add("model.embed_tokens.weight", DType::BF16, {8, 4})
        .add("model.layers.0.input_layernorm.weight", DType::BF16, {4});
    second.add("model.norm.weight", DType::F32, {4})
        .add("lm_head.weight", DType::F8_E4M3, {8, 4})
        .add("model.layers.0.rotary_emb.inv_freq", DType::F32, {2});
    dir.writeFile(kShard1, first.build());
    dir.writeFile(kShard2, second.build());
  }

  void writeIndex(const std::string &entries) {
    dir.writeFile(Checkpoint::kIndexFileName, indexJson(entries));
  }
  void writeFullIndex() {
    writeIndex(mapping("model.embed_tokens.weight", kShard1) + "," +
               mapping("model.layers.0.input_layernorm.weight", kShard1) + "," +
               mapping("model.norm.weight", kShard2) + "," +
               mapping("lm_head.weight", kShard2));
  }
  std::string indexPath() const { return dir.file(Checkpoint::kIndexFileName); }
};

//===--- with an index ----------------------------------------------------===//

TEST(CheckpointTest, IndexWithTwoShards) {
  TwoShardFolder folder;
  folder.writeFullIndex();
  folder.dir.writeFile("stray.safetensors", "not even a safetensors file");

  Expected<Checkpoint> opened = Checkpoint::open(folder.dir.path());
  ASSERT_TRUE(opened.ok()) << opened.error();
  Checkpoint checkpoint = opened.take();
  EXPECT_TRUE(checkpoint.hasWeights());
  EXPECT_TRUE(checkpoint.hasIndex());
  EXPECT_EQ(checkpoint.dir(), folder.dir.path());
  ASSERT_EQ(checkpoint.numShards(), 2u);
  EXPECT_EQ(checkpoint.shard(0).path(), folder.dir.file(kShard1));
  EXPECT_EQ(checkpoint.shard(1).path(), folder.dir.file(kShard2));
  EXPECT_EQ(checkpoint.numTensors(), 4u);
  EXPECT_EQ(checkpoint.tensorNames(),
            (std::vector<std::string>{
                "lm_head.weight", "model.embed_tokens.weight",
                "model.layers.0.input_layernorm.weight", "model.norm.weight"}));

  Checkpoint moved = std::move(checkpoint); // entries stay valid
  expectTensor(moved, "model.embed_tokens.weight", 0,
               folder.first.payload("model.embed_tokens.weight"));
  expectTensor(moved, "model.layers.0.input_layernorm.weight", 0,
               folder.first.payload("model.layers.0.input_layernorm.weight"));
  expectTensor(moved, "model.norm.weight", 1,
               folder.second.payload("model.norm.weight"));
  expectTensor(moved, "lm_head.weight", 1,
               folder.second.payload("lm_head.weight"));

  // In shard 2 but not in the index: ignored, and counted.
  EXPECT_EQ(moved.find("model.layers.0.rotary_emb.inv_freq"), nullptr);
  EXPECT_EQ(moved.numUnindexedTensors(), 1u);
  EXPECT_EQ(moved.find("absent"), nullptr);
}

TEST(CheckpointTest, DirectoryWithTrailingSlash) {
  TwoShardFolder folder;
  folder.writeFullIndex();
  Expected<Checkpoint> checkpoint = Checkpoint::open(folder.dir.path() + "/");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.error();
  EXPECT_EQ(checkpoint.value().shard(0).path(), folder.dir.file(kShard1));
}

TEST(CheckpointTest, IndexNamesAMissingShard) {
  TwoShardFolder folder;
  folder.writeIndex(mapping("model.norm.weight", kShard2) + "," +
                    mapping("X", "model-00003-of-00003.safetensors"));
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() +
                " names shard 'model-00003-of-00003.safetensors' for tensor "
                "'X', but the file is missing");
}

TEST(CheckpointTest, IndexMapsATensorTheShardLacks) {
  TwoShardFolder folder;
  folder.writeIndex(mapping("model.norm.weight", kShard1));
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() +
                ": maps tensor 'model.norm.weight' to shard '" + kShard1 +
                "', but that shard has no such tensor");
}

TEST(CheckpointTest, ShardNamesMustBePlainFileNames) {
  for (const char *name : {"../x.safetensors", "sub/x.safetensors", "..", ".",
                           "", "/etc/passwd"}) {
    TwoShardFolder folder;
    folder.writeIndex(mapping("t", name));
    EXPECT_EQ(openError(folder.dir),
              folder.indexPath() + ": weight_map maps tensor 't' to '" + name +
                  "', which is not a plain file name");
  }
}

TEST(CheckpointTest, IndexMustBeWellFormed) {
  TwoShardFolder folder;
  folder.dir.writeFile(Checkpoint::kIndexFileName, "{\"weight_map\": {");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() + ": not valid JSON: line 1, column 17: "
                                 "expected '\"' to begin an object key, found "
                                 "end of input");
  folder.dir.writeFile(Checkpoint::kIndexFileName, "[]");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() +
                ": top level is a JSON array, expected an object");
  folder.dir.writeFile(Checkpoint::kIndexFileName, "{\"metadata\": {}}");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() + ": missing field 'weight_map'");
  folder.dir.writeFile(Checkpoint::kIndexFileName, "{\"weight_map\": []}");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() +
                ": field 'weight_map' is a JSON array, expected an object");
  folder.dir.writeFile(Checkpoint::kIndexFileName,
                       "{\"metadata\": 3, \"weight_map\": {}}");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() +
                ": field 'metadata' is a JSON number, expected an object");
  folder.dir.writeFile(Checkpoint::kIndexFileName,
                       "{\"weight_map\": {\"t\": 1}}");
  EXPECT_EQ(openError(folder.dir),
            folder.indexPath() + ": weight_map entry 't' is a JSON number, "
                                 "expected a shard file name");
}

TEST(CheckpointTest, IndexWithoutMetadataIsFine) {
  TwoShardFolder folder;
  folder.dir.writeFile(Checkpoint::kIndexFileName,
                       "{\"weight_map\": {" +
                           mapping("model.norm.weight", kShard2) + "}}");
  Expected<Checkpoint> checkpoint = Checkpoint::open(folder.dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.error();
  EXPECT_EQ(checkpoint.value().numShards(), 1u); // shard 1 is never opened
  EXPECT_EQ(checkpoint.value().numTensors(), 1u);
  EXPECT_EQ(checkpoint.value().numUnindexedTensors(), 2u);
}

TEST(CheckpointTest, CorruptShardIsReportedWithItsPath) {
  TwoShardFolder folder;
  folder.writeFullIndex();
  std::vector<uint8_t> truncated = folder.second.build();
  truncated.resize(truncated.size() - 1);
  folder.dir.writeFile(kShard2, truncated);
  std::string error = openError(folder.dir);
  EXPECT_EQ(error.rfind(folder.dir.file(kShard2) + ": tensor '", 0), 0u)
      << error;
  EXPECT_NE(error.find("end past the data region"), std::string::npos) << error;
}

//===--- without an index -------------------------------------------------===//

TEST(CheckpointTest, SingleModelSafetensors) {
  TempDir dir;
  SafetensorsBuilder model(5), other(6);
  model.add("b", DType::F16, {3}).add("a", DType::I64, {2, 2});
  other.add("ignored", DType::U8, {1});
  dir.writeFile("model.safetensors", model.build());
  dir.writeFile("extra.safetensors", other.build()); // model.safetensors wins
  dir.writeFile("config.json", "{}");

  Expected<Checkpoint> opened = Checkpoint::open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.error();
  const Checkpoint &checkpoint = opened.value();
  EXPECT_TRUE(checkpoint.hasWeights());
  EXPECT_FALSE(checkpoint.hasIndex());
  EXPECT_EQ(checkpoint.numShards(), 1u);
  EXPECT_EQ(checkpoint.tensorNames(), (std::vector<std::string>{"a", "b"}));
  expectTensor(checkpoint, "a", 0, model.payload("a"));
  expectTensor(checkpoint, "b", 0, model.payload("b"));
  EXPECT_EQ(checkpoint.find("ignored"), nullptr);
  EXPECT_EQ(checkpoint.numUnindexedTensors(), 0u);
}

TEST(CheckpointTest, LooseShardsInNameOrder) {
  TempDir dir;
  SafetensorsBuilder b(7), a(8);
  b.add("y", DType::BF16, {2});
  a.add("x", DType::BF16, {2}).add("z", DType::U8, {3});
  dir.writeFile("b.safetensors", b.build());
  dir.writeFile("a.safetensors", a.build());
  dir.writeFile("notes.safetensors.txt", "ignored");
  std::filesystem::create_directory(dir.file("folder.safetensors"));

  Expected<Checkpoint> opened = Checkpoint::open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.error();
  const Checkpoint &checkpoint = opened.value();
  ASSERT_EQ(checkpoint.numShards(), 2u);
  EXPECT_EQ(checkpoint.shard(0).path(), dir.file("a.safetensors"));
  EXPECT_EQ(checkpoint.tensorNames(),
            (std::vector<std::string>{"x", "y", "z"}));
  expectTensor(checkpoint, "x", 0, a.payload("x"));
  expectTensor(checkpoint, "y", 1, b.payload("y"));
  expectTensor(checkpoint, "z", 0, a.payload("z"));
}

TEST(CheckpointTest, DuplicateNamesAcrossShards) {
  TempDir dir;
  SafetensorsBuilder a(1), b(2);
  a.add("w", DType::U8, {1});
  b.add("v", DType::U8, {1}).add("w", DType::U8, {1});
  dir.writeFile("a.safetensors", a.build());
  dir.writeFile("b.safetensors", b.build());
  EXPECT_EQ(openError(dir), "tensor 'w' appears in both '" +
                                dir.file("a.safetensors") + "' and '" +
                                dir.file("b.safetensors") + "'");
}

TEST(CheckpointTest, EmptyFolderHasNoWeights) {
  TempDir dir;
  Expected<Checkpoint> empty = Checkpoint::open(dir.path());
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_FALSE(empty.value().hasWeights());
  EXPECT_EQ(empty.value().numShards(), 0u);
  EXPECT_TRUE(empty.value().tensorNames().empty());

  dir.writeFile("config.json", "{\"hidden_size\": 2048}");
  Expected<Checkpoint> configOnly = Checkpoint::open(dir.path());
  ASSERT_TRUE(configOnly.ok()) << configOnly.error();
  EXPECT_FALSE(configOnly.value().hasWeights());
}

TEST(CheckpointTest, FolderMustExist) {
  TempDir dir;
  std::string missing = dir.file("nope");
  EXPECT_EQ(Checkpoint::open(missing).error(),
            "checkpoint folder '" + missing + "': No such file or directory");
  std::string file = dir.writeFile("plain", "x");
  EXPECT_EQ(Checkpoint::open(file).error(),
            "checkpoint folder '" + file + "' is not a directory");
}

} // namespace
} // namespace dsrt
