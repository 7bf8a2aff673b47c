//===- PagePoolTest.cpp - the KV cache's pages: sharing and the index -----===//
//
// PagePool on its own (no device): pages handed out as chunks write, forked
// slots sharing pages and copying one on their first write into it, the
// prefix index (reuse by whole pages, checked token by token, kept after
// the slots let go, reclaimed least recently used first, from the end of a
// chain), and the counts the engine plans with.
//
//===----------------------------------------------------------------------===//

#include "session/PagePool.h"

#include "ProgramBuilder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace dsrt::detail {
namespace {

/// A program of `slots` sequences of 16 positions in pages of 4.
struct Fixture {
  std::vector<uint8_t> bytes;
  Program program;
  explicit Fixture(int64_t slots = 3) : program(load(bytes, slots)) {}
  static Program load(std::vector<uint8_t> &bytes, int64_t slots) {
    test::ProgramBuilder b;
    b.cache.slots = slots;
    b.cache.maxSeq = 16;
    b.cache.pageSize = 4;
    b.cache.latent = 44; // a layer's page holds 384 bytes, as the builder's
                         // launches (layer 1 at offset 384) expect
    bytes = b.build();
    Expected<Program> p = Program::load(bytes.data(), bytes.size(), "test");
    EXPECT_TRUE(p.ok()) << p.error();
    return p.take();
  }
};

/// Positions [from, to) of `slot`.
Chunk positions(int32_t slot, int32_t from, int32_t to) {
  Chunk c;
  for (int32_t p = from; p < to; ++p) {
    c.tokens.push_back(100 + p);
    c.positions.push_back(p);
    c.slots.push_back(slot);
  }
  return c;
}

int32_t pageOf(const PagePool &pool, int32_t slot, int32_t position) {
  return pool.table()[slot * 4 + position / 4];
}

std::vector<int32_t> tokens(int n, int first = 7) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(PagePoolTest, PagesAreHandedOutAsChunksWriteAndReturnedOnRelease) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  ASSERT_TRUE(pool.assign(positions(0, 0, 6), changes).ok());
  EXPECT_TRUE(changes.zero.empty());
  EXPECT_TRUE(changes.copies.empty());
  EXPECT_EQ(pool.pagesInUse(), 2);
  EXPECT_TRUE(pool.takeTableChanged());
  EXPECT_FALSE(pool.takeTableChanged());
  EXPECT_NE(pageOf(pool, 0, 0), pageOf(pool, 0, 4));
  // Writing again where it owns pages takes none.
  ASSERT_TRUE(pool.assign(positions(0, 5, 8), changes).ok());
  EXPECT_EQ(pool.pagesInUse(), 2);
  EXPECT_FALSE(pool.takeTableChanged());
  std::vector<int32_t> released;
  pool.release(0, released);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(pool.pagesInUse(), 0);
}

TEST(PagePoolTest, AFullPoolFailsNamingTheOption) {
  Fixture f;
  PagePool pool(f.program, 2);
  PageChanges changes;
  EXPECT_EQ(pool.pagesNeeded(positions(0, 0, 9)), 3);
  Status s = pool.assign(positions(0, 0, 9), changes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("--cache-pages"), std::string::npos) << s.error();
}

TEST(PagePoolTest, AForkSharesPagesAndCopiesOnTheFirstWrite) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  ASSERT_TRUE(pool.assign(positions(0, 0, 6), changes).ok()); // 2 pages
  ASSERT_TRUE(pool.forkSlot(0, 1, 6).ok());
  EXPECT_EQ(pageOf(pool, 1, 0), pageOf(pool, 0, 0));
  EXPECT_EQ(pageOf(pool, 1, 4), pageOf(pool, 0, 4));
  EXPECT_EQ(pool.pagesInUse(), 2); // shared pages count once
  // Slot 1 writes position 6, in the shared second page: a copy first.
  EXPECT_EQ(pool.pagesNeeded(positions(1, 6, 7)), 1);
  int32_t shared = pageOf(pool, 0, 4);
  ASSERT_TRUE(pool.assign(positions(1, 6, 7), changes).ok());
  ASSERT_EQ(changes.copies.size(), 1u);
  EXPECT_EQ(changes.copies[0].first, shared);
  EXPECT_EQ(changes.copies[0].second, pageOf(pool, 1, 4));
  EXPECT_NE(pageOf(pool, 1, 4), shared);
  EXPECT_EQ(pageOf(pool, 1, 0), pageOf(pool, 0, 0)); // still shared
  // Slot 0 is now the only holder of its second page: no copy.
  changes = {};
  ASSERT_TRUE(pool.assign(positions(0, 6, 7), changes).ok());
  EXPECT_TRUE(changes.copies.empty());
  EXPECT_EQ(pageOf(pool, 0, 4), shared);
  EXPECT_EQ(pool.pagesInUse(), 3);
  // Releasing slot 0 keeps the first page for slot 1.
  std::vector<int32_t> released;
  pool.release(0, released);
  EXPECT_EQ(released, std::vector<int32_t>{shared});
  EXPECT_EQ(pool.pagesInUse(), 2);
}

TEST(PagePoolTest, AForkNeedsAnEmptySlotAndTheSourcesPages) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  ASSERT_TRUE(pool.assign(positions(0, 0, 4), changes).ok());
  ASSERT_TRUE(pool.assign(positions(1, 0, 1), changes).ok());
  EXPECT_FALSE(pool.forkSlot(0, 1, 4).ok()); // slot 1 holds a page
  EXPECT_FALSE(pool.forkSlot(0, 2, 8).ok()); // slot 0 has one page
  EXPECT_FALSE(pool.forkSlot(0, 0, 4).ok());
  EXPECT_FALSE(pool.forkSlot(0, 3, 4).ok()); // no slot 3
  EXPECT_TRUE(pool.forkSlot(0, 2, 4).ok());
}

TEST(PagePoolTest, TheIndexReusesWholePagesOfAnEqualPrefix) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  std::vector<int32_t> prompt = tokens(10);
  ASSERT_TRUE(pool.assign(positions(0, 0, 10), changes).ok());
  pool.indexPrefix(0, prompt); // pages 0 and 1 are full; page 2 is not
  std::vector<int32_t> released;
  pool.release(0, released);
  EXPECT_EQ(released.size(), 1u); // the partial page; the index keeps two
  EXPECT_EQ(pool.pagesInUse(), 0);
  EXPECT_EQ(pool.pagesCached(), 2);

  // The same prompt: two pages, at most `most` positions.
  EXPECT_EQ(pool.reusePrefix(1, prompt, 9), 8);
  EXPECT_EQ(pool.pagesInUse(), 2);
  EXPECT_EQ(pool.pagesCached(), 0);
  pool.release(1, released);
  EXPECT_EQ(pool.reusePrefix(1, prompt, 7), 4);
  pool.release(1, released);
  // A prompt differing in its sixth token: the first page only.
  std::vector<int32_t> other = prompt;
  other[5] = 999;
  EXPECT_EQ(pool.reusePrefix(2, other, 10), 4);
  pool.release(2, released);
  // Differing in the first: nothing; a slot that is not empty: nothing.
  other[0] = 999;
  EXPECT_EQ(pool.reusePrefix(2, other, 10), 0);
  ASSERT_TRUE(pool.assign(positions(2, 0, 1), changes).ok());
  EXPECT_EQ(pool.reusePrefix(2, prompt, 10), 0);
}

TEST(PagePoolTest, ReusedPagesAreNeverWrittenInPlace) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  std::vector<int32_t> prompt = tokens(8);
  ASSERT_TRUE(pool.assign(positions(0, 0, 8), changes).ok());
  pool.indexPrefix(0, prompt);
  ASSERT_EQ(pool.reusePrefix(1, prompt, 8), 8);
  // Both slots and the index hold the pages; a write into one copies it.
  int32_t page = pageOf(pool, 1, 4);
  ASSERT_TRUE(pool.assign(positions(1, 7, 8), changes).ok());
  ASSERT_EQ(changes.copies.size(), 1u);
  EXPECT_EQ(changes.copies[0].first, page);
  EXPECT_EQ(pageOf(pool, 0, 4), page);
}

TEST(PagePoolTest, TheIndexGivesPagesBackLeastRecentlyUsedFromTheEnd) {
  Fixture f;
  PagePool pool(f.program, 4);
  PageChanges changes;
  std::vector<int32_t> a = tokens(8, 10), b = tokens(4, 50);
  ASSERT_TRUE(pool.assign(positions(0, 0, 8), changes).ok());
  pool.indexPrefix(0, a); // a chain of two pages
  int32_t a0 = pageOf(pool, 0, 0), a1 = pageOf(pool, 0, 4);
  ASSERT_TRUE(pool.assign(positions(1, 0, 4), changes).ok());
  pool.indexPrefix(1, b);
  int32_t b0 = pageOf(pool, 1, 0);
  std::vector<int32_t> released;
  pool.release(0, released);
  pool.release(1, released);
  EXPECT_TRUE(released.empty());
  EXPECT_EQ(pool.pagesCached(), 3);
  EXPECT_EQ(pool.reusePrefix(2, b, 4), 4); // b is used last
  pool.release(2, released);

  // Two pages needed, one free: the least recently used page with no
  // successor goes first (a's second page, not its first), zeroed.
  changes = {};
  ASSERT_TRUE(pool.assign(positions(0, 0, 8), changes).ok());
  EXPECT_EQ(changes.zero, std::vector<int32_t>{a1});
  EXPECT_EQ(pool.reusePrefix(1, a, 8), 4); // a's first page is still there
  EXPECT_EQ(pageOf(pool, 1, 0), a0);       // and now used after b's
  pool.release(1, released);
  // Another page: b0, now the least recently used, goes.
  changes = {};
  ASSERT_TRUE(pool.assign(positions(0, 8, 9), changes).ok());
  EXPECT_EQ(changes.zero, std::vector<int32_t>{b0});
  EXPECT_EQ(pool.reusePrefix(1, b, 4), 0);
  EXPECT_EQ(pool.reusePrefix(1, a, 4), 4);
  // Nothing left to reclaim: a0 is mapped.
  EXPECT_FALSE(pool.assign(positions(2, 0, 1), changes).ok());
}

TEST(PagePoolTest, IndexingTwiceOrFromASecondCopyKeepsOnePagePerPrefix) {
  Fixture f;
  PagePool pool(f.program, 8);
  PageChanges changes;
  std::vector<int32_t> prompt = tokens(4);
  ASSERT_TRUE(pool.assign(positions(0, 0, 4), changes).ok());
  ASSERT_TRUE(pool.assign(positions(1, 0, 4), changes).ok());
  pool.indexPrefix(0, prompt);
  pool.indexPrefix(0, prompt);
  pool.indexPrefix(1, prompt); // the same rows in another page: not indexed
  std::vector<int32_t> released;
  pool.release(0, released);
  pool.release(1, released);
  EXPECT_EQ(released.size(), 1u);
  EXPECT_EQ(pool.pagesCached(), 1);
  pool.clearIndex(released);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(pool.pagesCached(), 0);
  EXPECT_EQ(pool.reusePrefix(0, prompt, 4), 0);
}

} // namespace
} // namespace dsrt::detail
