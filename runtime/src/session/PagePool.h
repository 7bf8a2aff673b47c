//===- PagePool.h - pages of the KV cache and the slots' page tables -*- C++
//-*-===//
//
// The latent KV cache is a pool of pages, each holding page_size positions
// of every layer; the kernels find the page of (slot, position) in the page
// table, i32 [slots, max_seq / page_size]. PagePool owns both: a slot gets a
// page when a chunk first writes a position in it, and gives its pages back
// when it is reset. Both sessions keep one (the cuda session copies the
// table to the device when it changes). Internal to the library; not
// installed.
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
#include <cstdlib>
#include <string>
#include <vector>

namespace dsrt::detail {

class PagePool {
public:
  /// A pool of `pages` pages (0: enough for every slot's whole sequence).
  explicit PagePool(const Program &program, int64_t pages = 0)
      : slots_(program.fb().cache()->slots()),
        perSequence_(program.pagesPerSequence()),
        pageSize_(program.fb().cache()->page_size()),
        pages_(pages > 0 ? pages : slots_ * perSequence_),
        table_(slots_ * perSequence_, 0), owned_(slots_ * perSequence_, false) {
    for (int64_t p = pages_ - 1; p >= 0; --p)
      free_.push_back(static_cast<int32_t>(p)); // page 0 is handed out first
    if (const char *seed = std::getenv("DSRT_SHUFFLE_PAGES")) {
      uint64_t state = std::strtoull(seed, nullptr, 10) * 2654435761u + 1;
      for (size_t i = free_.size(); i > 1; --i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        std::swap(free_[i - 1], free_[(state >> 33) % i]);
      }
    }
  }

  int64_t pages() const { return pages_; }
  /// Pages some slot owns.
  int64_t pagesInUse() const {
    return pages_ - static_cast<int64_t>(free_.size());
  }
  /// The table the kernels read; entries a slot does not own are 0.
  const std::vector<int32_t> &table() const { return table_; }

  /// Gives every (slot, position) of `chunk` a page; `changed` tells
  /// whether the table changed. Fails when the pool runs out.
  Status assign(const Chunk &chunk, bool &changed) {
    changed = false;
    for (size_t t = 0; t < chunk.slots.size(); ++t) {
      if (chunk.slots[t] < 0 || chunk.slots[t] >= slots_ ||
          chunk.positions[t] < 0 ||
          chunk.positions[t] >= perSequence_ * pageSize_)
        return Status::error("token " + std::to_string(t) + ": slot " +
                             std::to_string(chunk.slots[t]) + " position " +
                             std::to_string(chunk.positions[t]) +
                             " is outside the KV cache");
      int64_t entry = int64_t(chunk.slots[t]) * perSequence_ +
                      chunk.positions[t] / pageSize_;
      if (owned_[entry])
        continue;
      if (free_.empty())
        return Status::error(
            "the KV cache is full: all " + std::to_string(pages_) +
            " pages of " + std::to_string(pageSize_) +
            " positions are in use (--cache-pages sizes the pool)");
      table_[entry] = free_.back();
      free_.pop_back();
      owned_[entry] = true;
      changed = true;
    }
    return Status::success();
  }

  /// Returns `slot`'s pages to the pool; they are appended to `released`.
  void release(int32_t slot, std::vector<int32_t> &released) {
    for (int64_t i = 0; i < perSequence_; ++i) {
      int64_t entry = int64_t(slot) * perSequence_ + i;
      if (!owned_[entry])
        continue;
      released.push_back(table_[entry]);
      free_.push_back(table_[entry]);
      owned_[entry] = false;
      table_[entry] = 0;
    }
  }

private:
  int64_t slots_, perSequence_, pageSize_, pages_;
  std::vector<int32_t> table_;
  std::vector<bool> owned_;
  std::vector<int32_t> free_;
};

} // namespace dsrt::detail

#endif // DSRT_SRC_SESSION_PAGEPOOL_H
