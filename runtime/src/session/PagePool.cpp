//===- PagePool.cpp - pages of the KV cache, shared and indexed -----------===//
//
// See PagePool.h.
//
//===----------------------------------------------------------------------===//

#include "session/PagePool.h"

#include <algorithm>
#include <cstdlib>

namespace dsrt::detail {

PagePool::PagePool(const Program &program, int64_t pages)
    : slots_(program.fb().cache()->slots()),
      perSequence_(program.pagesPerSequence()),
      pageSize_(program.fb().cache()->page_size()),
      pages_(pages > 0 ? pages : slots_ * perSequence_),
      table_(slots_ * perSequence_, 0), mapped_(slots_ * perSequence_, false),
      refs_(pages_, 0) {
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

int64_t PagePool::pagesInUse() const {
  return pages_ - static_cast<int64_t>(free_.size()) - pagesCached();
}

int64_t PagePool::pagesCached() const {
  int64_t n = 0;
  for (const auto &[page, e] : indexed_)
    n += refs_[page] == 1;
  return n;
}

bool PagePool::slotEmpty(int32_t slot) const {
  for (int64_t i = 0; i < perSequence_; ++i)
    if (mapped_[entry(slot, i)])
      return false;
  return true;
}

uint64_t PagePool::chain(uint64_t parentKey, const int32_t *tokens, int64_t n) {
  // FNV-1a over the parent's key and the page's tokens, then a final mix.
  uint64_t h = 1469598103934665603ull ^ parentKey;
  auto byte = [&](uint64_t v) {
    h ^= v & 0xFF;
    h *= 1099511628211ull;
  };
  for (int64_t i = 0; i < n; ++i)
    for (int s = 0; s < 32; s += 8)
      byte(static_cast<uint32_t>(tokens[i]) >> s);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

bool PagePool::unref(int32_t page) {
  if (--refs_[page] > 0)
    return false;
  free_.push_back(page);
  return true;
}

bool PagePool::unindex(int32_t page) {
  auto it = indexed_.find(page);
  if (it == indexed_.end())
    return false;
  if (it->second.parent >= 0)
    --indexed_.at(it->second.parent).successors;
  byKey_.erase(it->second.key);
  indexed_.erase(it);
  return unref(page);
}

int32_t PagePool::take(PageChanges &changes) {
  if (free_.empty()) {
    // Reclaim the least recently used page only the index holds and no
    // indexed page follows (a chain is dropped from its end).
    int32_t victim = -1;
    uint64_t oldest = 0;
    for (const auto &[page, e] : indexed_)
      if (refs_[page] == 1 && e.successors == 0 &&
          (victim < 0 || e.lastUse < oldest)) {
        victim = page;
        oldest = e.lastUse;
      }
    if (victim < 0)
      return -1;
    unindex(victim);
    changes.zero.push_back(victim); // it holds another prefix's rows
  }
  int32_t page = free_.back();
  free_.pop_back();
  refs_[page] = 1;
  return page;
}

Status PagePool::assign(const Chunk &chunk, PageChanges &changes) {
  for (size_t t = 0; t < chunk.slots.size(); ++t) {
    if (!validSlot(chunk.slots[t]) || chunk.positions[t] < 0 ||
        chunk.positions[t] >= perSequence_ * pageSize_)
      return Status::error("token " + std::to_string(t) + ": slot " +
                           std::to_string(chunk.slots[t]) + " position " +
                           std::to_string(chunk.positions[t]) +
                           " is outside the KV cache");
    int64_t e = entry(chunk.slots[t], chunk.positions[t] / pageSize_);
    if (mapped_[e] && refs_[table_[e]] == 1)
      continue; // its own page
    int32_t page = take(changes);
    if (page < 0)
      return Status::error(
          "the KV cache is full: all " + std::to_string(pages_) + " pages of " +
          std::to_string(pageSize_) +
          " positions are in use (--cache-pages sizes the pool)");
    if (mapped_[e]) { // shared: write into a copy
      changes.copies.emplace_back(table_[e], page);
      unref(table_[e]);
    }
    table_[e] = page;
    mapped_[e] = true;
    tableChanged_ = true;
  }
  return Status::success();
}

int64_t PagePool::pagesNeeded(const Chunk &chunk) const {
  std::vector<int64_t> entries;
  for (size_t t = 0; t < chunk.slots.size(); ++t) {
    if (!validSlot(chunk.slots[t]) || chunk.positions[t] < 0 ||
        chunk.positions[t] >= perSequence_ * pageSize_)
      continue; // assign() reports it
    int64_t e = entry(chunk.slots[t], chunk.positions[t] / pageSize_);
    if (!mapped_[e] || refs_[table_[e]] > 1)
      entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end());
  return std::unique(entries.begin(), entries.end()) - entries.begin();
}

void PagePool::release(int32_t slot, std::vector<int32_t> &released) {
  if (!validSlot(slot))
    return;
  for (int64_t i = 0; i < perSequence_; ++i) {
    int64_t e = entry(slot, i);
    if (!mapped_[e])
      continue;
    if (unref(table_[e]))
      released.push_back(table_[e]);
    mapped_[e] = false;
    table_[e] = 0;
    tableChanged_ = true;
  }
}

Status PagePool::forkSlot(int32_t from, int32_t to, int64_t positions) {
  if (!validSlot(from) || !validSlot(to) || from == to)
    return Status::error("forkSlot: slots " + std::to_string(from) + " and " +
                         std::to_string(to) +
                         " are not two slots of the cache");
  if (!slotEmpty(to))
    return Status::error("forkSlot: slot " + std::to_string(to) +
                         " is not empty");
  int64_t count = (positions + pageSize_ - 1) / pageSize_;
  if (positions < 0 || count > perSequence_)
    return Status::error("forkSlot: " + std::to_string(positions) +
                         " positions do not fit a sequence");
  for (int64_t i = 0; i < count; ++i)
    if (!mapped_[entry(from, i)])
      return Status::error("forkSlot: slot " + std::to_string(from) +
                           " holds no page for positions from " +
                           std::to_string(i * pageSize_));
  for (int64_t i = 0; i < count; ++i) {
    int32_t page = table_[entry(from, i)];
    table_[entry(to, i)] = page;
    mapped_[entry(to, i)] = true;
    ++refs_[page];
  }
  tableChanged_ = tableChanged_ || count > 0;
  return Status::success();
}

int64_t PagePool::reusePrefix(int32_t slot, const std::vector<int32_t> &tokens,
                              int64_t most) {
  if (!validSlot(slot) || !slotEmpty(slot))
    return 0;
  most = std::min<int64_t>(most, static_cast<int64_t>(tokens.size()));
  uint64_t key = 0;
  int32_t parent = -1;
  int64_t k = 0;
  ++clock_;
  for (; (k + 1) * pageSize_ <= most && k < perSequence_; ++k) {
    const int32_t *t = tokens.data() + k * pageSize_;
    key = chain(key, t, pageSize_);
    auto found = byKey_.find(key);
    if (found == byKey_.end())
      break;
    Indexed &e = indexed_.at(found->second);
    if (e.parent != parent || !std::equal(e.tokens.begin(), e.tokens.end(), t))
      break; // a hash collision
    e.lastUse = clock_;
    parent = found->second;
    table_[entry(slot, k)] = parent;
    mapped_[entry(slot, k)] = true;
    ++refs_[parent];
    tableChanged_ = true;
  }
  return k * pageSize_;
}

void PagePool::indexPrefix(int32_t slot, const std::vector<int32_t> &tokens) {
  if (!validSlot(slot))
    return;
  uint64_t key = 0;
  int32_t parent = -1;
  ++clock_;
  int64_t full = static_cast<int64_t>(tokens.size()) / pageSize_;
  for (int64_t k = 0; k < full && k < perSequence_; ++k) {
    if (!mapped_[entry(slot, k)])
      return;
    int32_t page = table_[entry(slot, k)];
    const int32_t *t = tokens.data() + k * pageSize_;
    key = chain(key, t, pageSize_);
    auto it = indexed_.find(page);
    if (it != indexed_.end()) { // reused from the index, or indexed before
      if (it->second.key != key || it->second.parent != parent)
        return; // indexed under other tokens: the caller's are not its own
      it->second.lastUse = clock_;
    } else {
      if (byKey_.count(key))
        return; // another page holds these positions' rows already
      Indexed e;
      e.key = key;
      e.parent = parent;
      e.tokens.assign(t, t + pageSize_);
      e.lastUse = clock_;
      indexed_.emplace(page, std::move(e));
      byKey_.emplace(key, page);
      if (parent >= 0)
        ++indexed_.at(parent).successors;
      ++refs_[page];
    }
    parent = page;
  }
}

void PagePool::clearIndex(std::vector<int32_t> &released) {
  for (const auto &[page, e] : indexed_)
    if (unref(page))
      released.push_back(page);
  indexed_.clear();
  byKey_.clear();
}

} // namespace dsrt::detail
