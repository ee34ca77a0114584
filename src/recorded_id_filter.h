#ifndef AGENTLOG_SRC_RECORDED_ID_FILTER_H_
#define AGENTLOG_SRC_RECORDED_ID_FILTER_H_

// Every message id the store has counted, as a Bloom filter: when it says
// an id is new, a usage write skips looking for it in the usage buffer and
// in `usage_ids`. Nearly every id a write looks up is new, and that lookup
// (the buffer's two mutexes, then a RocksDB Get through the memtable's
// Bloom filter and each file's) cost about 1.4 us of a 45 us turn, where a
// probe here, its cache line fetched while the write takes its locks
// (Prefetch), costs next to nothing (docs/benchmarks.md).
//
// It holds every id `usage_ids` held when Load began, and every id Add was
// given since. StoreImpl adds each id it queues for the usage buffer
// (AccountUsage), before it releases the id's UsageIdLocks stripe, so that
// the next writer of that id finds it; and open has written the ids it
// replayed to `usage_ids` before Load begins. Since format 10 ids reach
// `usage_ids` only through the buffer (older stores' were there before the
// open), so none is missed. Until Load has read the family through, the
// filter answers nothing: MayContain says yes to every id.
//
// It grows without reading the family again: once the ids added pass its
// capacity it adds a segment twice as large as the last, and a probe reads
// one word of each. The first is sized for the ids `usage_ids` holds when
// the store opens, rounded up to a power of two: a store has one segment
// until its ids pass that capacity, two until they pass three times it.
// Each id sets two bits of one 64-bit word, and a segment holds four ids a
// word: 0.5% false positives half full, 1.7% full (a probe of three full
// segments, 5%), and 2 to 6 bytes of memory an id. A false positive costs
// the lookup the filter would have saved.
//
// Thread-safe.

#include <rocksdb/db.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>

#include "agentlog/status.h"

namespace agentlog::internal {

class RecordedIdFilter {
 public:
  // Sized for `expected_ids` ids, at least kMinIds.
  explicit RecordedIdFilter(uint64_t expected_ids);
  RecordedIdFilter(const RecordedIdFilter&) = delete;
  RecordedIdFilter& operator=(const RecordedIdFilter&) = delete;

  // Adds the id of `hash` (MessageIdHash).
  void Add(uint64_t hash);
  // False only if the id of `hash` was never added and Load is done.
  bool MayContain(uint64_t hash) const;
  // Starts reading what MayContain(hash) reads, so that a probe some
  // hundreds of nanoseconds later finds it in the cache: a probe is a
  // random read of a large array, a cache miss otherwise.
  void Prefetch(uint64_t hash) const;

  // Adds every key of `ids_cf` of `db`, then makes the filter answer.
  // Returns early, the filter still answering nothing, once `stop` is
  // requested (ShuttingDown) or should the scan fail.
  Status Load(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* ids_cf,
              std::stop_token stop);
  // Waits until Load is done or has failed; returns whether the filter
  // answers. For tests.
  bool WaitUntilLoaded();

  // The memory its segments take.
  size_t MemoryBytes() const;

  // The fewest ids the first segment is sized for (128 KiB).
  static constexpr uint64_t kMinIds = uint64_t{1} << 16;

 private:
  static constexpr uint64_t kIdsPerWord = 4;
  static constexpr int kMaxSegments = 40;  // 2^39 times the first: never.

  struct Segment {
    explicit Segment(uint64_t ids);
    uint64_t words() const { return mask + 1; }
    const uint64_t mask;  // Words - 1; words a power of two.
    const std::unique_ptr<std::atomic<uint64_t>[]> bits;
  };

  // Adds a segment, unless one added since covers `added` ids already.
  void Grow(uint64_t added);
  void FinishLoad(bool loaded);

  std::atomic<bool> loaded_{false};
  std::atomic<uint64_t> added_{0};
  std::atomic<uint64_t> capacity_{0};  // The ids all segments are sized for.
  // segments_[0, count_) are set and never change; count_ is published
  // after the segment it counts.
  std::array<std::unique_ptr<Segment>, kMaxSegments> segments_;
  std::atomic<int> count_{0};
  std::mutex grow_mu_;

  std::mutex load_mu_;
  std::condition_variable load_done_;
  bool load_ended_ = false;  // Guarded by load_mu_.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RECORDED_ID_FILTER_H_
