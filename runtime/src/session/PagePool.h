//===- PagePool.h - pages of the KV cache, shared and indexed ---*- C++ -*-===//
//
// The latent KV cache is a pool of pages, each holding page_size positions
// of every layer; the kernels find the page of (slot, position) in the page
// table, i32 [slots, max_seq / page_size]. PagePool owns both. A slot gets a
// page when a chunk first writes a position in it and lets go of its pages
// when it is reset.
//
// Pages are reference-counted, so several slots can map one page:
//  - forkSlot() maps a slot's pages into another (the n samples of one
//    prompt); the first chunk that writes into a page mapped more than once
//    gets a copy of it first (copy on write: PageChanges::copies);
//  - the prefix index keeps full pages after their slots let go of them,
//    keyed by the tokens at their positions and at every position before
//    them (a chain of page hashes, each entry checked token by token and by
//    its parent page), and reusePrefix() maps the longest indexed prefix of
//    a token sequence into an empty slot. A page that only the index holds
//    is reclaimable: when the free list is empty, the least recently used
//    such page without indexed successors is dropped from the index and
//    handed out (zeroed first: PageChanges::zero).
//
// Both sessions keep one (the cuda session copies the table to the device
// when it changes) and carry out the zeroing and the copies it asks for
// before the chunk's launches. Internal to the library; not installed.
//
// DSRT_SHUFFLE_PAGES=SEED hands pages out in a shuffled order (a
// deterministic permutation of the pool): tests use it to check that
// nothing depends on a slot's pages being contiguous or ordered.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_SESSION_PAGEPOOL_H
#define DSRT_SRC_SESSION_PAGEPOOL_H

#include "dsrt/Expected.h"
#include "dsrt/Program.h"
#include "dsrt/Session.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsrt::detail {

/// What a session must do to the cache before a chunk's launches, in this
/// order: zero `zero`'s pages, then copy page `from` onto page `to` for
/// each of `copies`.
struct PageChanges {
  std::vector<int32_t> zero;
  std::vector<std::pair<int32_t, int32_t>> copies; // (from, to)
};

class PagePool {
public:
  /// A pool of `pages` pages (0: enough for every slot's whole sequence).
  explicit PagePool(const Program &program, int64_t pages = 0);

  int64_t pages() const { return pages_; }
  int64_t pageSize() const { return pageSize_; }
  /// Pages some slot maps (a page several slots map counts once).
  int64_t pagesInUse() const;
  /// Pages only the prefix index holds (reclaimable).
  int64_t pagesCached() const;
  /// The table the kernels read; entries a slot does not map are 0.
  const std::vector<int32_t> &table() const { return table_; }
  /// Whether the table changed since the last call (and clears the flag).
  bool takeTableChanged() {
    bool changed = tableChanged_;
    tableChanged_ = false;
    return changed;
  }

  /// Gives every (slot, position) of `chunk` a page of its own: a new page
  /// where the slot maps none, a copy where it maps a shared one. Fails when
  /// the pool runs out (no free page and none reclaimable).
  Status assign(const Chunk &chunk, PageChanges &changes);
  /// How many pages assign() would hand out for `chunk`.
  int64_t pagesNeeded(const Chunk &chunk) const;

  /// Lets go of `slot`'s pages; those nothing else holds return to the pool
  /// and are appended to `released` (the session zeroes them).
  void release(int32_t slot, std::vector<int32_t> &released);

  /// Maps into empty slot `to` the pages of slot `from` that hold positions
  /// [0, positions).
  Status forkSlot(int32_t from, int32_t to, int64_t positions);

  /// Maps into empty slot `slot` the indexed pages that hold the longest
  /// prefix of `tokens` (whole pages, at most `most` positions); returns
  /// how many positions they hold.
  int64_t reusePrefix(int32_t slot, const std::vector<int32_t> &tokens,
                      int64_t most);
  /// Indexes the full pages of `slot` whose positions hold tokens[0, n)
  /// (n = tokens.size()): the slot must have written them.
  void indexPrefix(int32_t slot, const std::vector<int32_t> &tokens);
  /// Drops every page from the index (those only it holds return to the
  /// pool and are appended to `released`).
  void clearIndex(std::vector<int32_t> &released);

private:
  /// One indexed page: the tokens at its positions and its predecessor.
  struct Indexed {
    uint64_t key = 0;
    int32_t parent = -1; // the page before it in the chain; -1: the first
    std::vector<int32_t> tokens;
    uint64_t lastUse = 0;
    int32_t successors = 0; // indexed pages whose parent it is
  };

  int64_t entry(int32_t slot, int64_t index) const {
    return int64_t(slot) * perSequence_ + index;
  }
  bool validSlot(int32_t slot) const { return slot >= 0 && slot < slots_; }
  bool slotEmpty(int32_t slot) const;
  /// A free page (reclaiming one from the index when none is free), or -1.
  int32_t take(PageChanges &changes);
  /// Drops one reference to `page`; returns true when it became free.
  bool unref(int32_t page);
  /// Removes `page` from the index (dropping the index's reference).
  bool unindex(int32_t page);
  static uint64_t chain(uint64_t parentKey, const int32_t *tokens, int64_t n);

  int64_t slots_, perSequence_, pageSize_, pages_;
  std::vector<int32_t> table_;
  std::vector<bool> mapped_;  // per table entry
  std::vector<int32_t> refs_; // per page: slots mapping it + 1 if indexed
  std::vector<int32_t> free_;
  std::unordered_map<int32_t, Indexed> indexed_; // page -> entry
  std::unordered_map<uint64_t, int32_t> byKey_;  // chain key -> page
  uint64_t clock_ = 0;
  bool tableChanged_ = false;
};

} // namespace dsrt::detail

#endif // DSRT_SRC_SESSION_PAGEPOOL_H
