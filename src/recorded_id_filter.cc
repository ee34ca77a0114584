#include "recorded_id_filter.h"

#include <algorithm>
#include <bit>

#include "message_id_filter.h"
#include "rocksdb_status.h"

namespace agentlog::internal {

RecordedIdFilter::Segment::Segment(uint64_t ids)
    : mask(std::bit_ceil(ids / kIdsPerWord) - 1),
      bits(new std::atomic<uint64_t>[mask + 1]()) {}

RecordedIdFilter::RecordedIdFilter(uint64_t expected_ids) {
  const uint64_t ids = std::max(expected_ids, kMinIds);
  segments_[0] = std::make_unique<Segment>(ids);
  capacity_.store(segments_[0]->words() * kIdsPerWord,
                  std::memory_order_relaxed);
  count_.store(1, std::memory_order_release);
}

void RecordedIdFilter::Add(uint64_t hash) {
  const uint64_t added = added_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (added > capacity_.load(std::memory_order_relaxed)) Grow(added);
  // Into the newest segment: should another thread add one meanwhile, this
  // id lands in a full one, which costs a little accuracy, never an id.
  const Segment& s = *segments_[count_.load(std::memory_order_acquire) - 1];
  std::atomic<uint64_t>& word = s.bits[hash & s.mask];
  const uint64_t bits = MessageIdBits(hash);
  // An id already there (one Load reads after a writer added it): no write.
  if ((word.load(std::memory_order_relaxed) & bits) != bits) {
    word.fetch_or(bits, std::memory_order_relaxed);
  }
}

void RecordedIdFilter::Grow(uint64_t added) {
  std::lock_guard lock(grow_mu_);
  const int count = count_.load(std::memory_order_relaxed);
  if (added <= capacity_.load(std::memory_order_relaxed) ||
      count == kMaxSegments) {
    return;
  }
  segments_[count] =
      std::make_unique<Segment>(segments_[count - 1]->words() * kIdsPerWord * 2);
  capacity_.fetch_add(segments_[count]->words() * kIdsPerWord,
                      std::memory_order_relaxed);
  count_.store(count + 1, std::memory_order_release);
}

bool RecordedIdFilter::MayContain(uint64_t hash) const {
  // Acquire: every key Load read is in the bits.
  if (!loaded_.load(std::memory_order_acquire)) return true;
  const uint64_t bits = MessageIdBits(hash);
  // Relaxed loads suffice for ids added by writers: an id is added before
  // its writer releases the id's stripe lock, which the next writer of it
  // takes before asking.
  for (int i = count_.load(std::memory_order_acquire) - 1; i >= 0; --i) {
    const Segment& s = *segments_[i];
    if ((s.bits[hash & s.mask].load(std::memory_order_relaxed) & bits) ==
        bits) {
      return true;
    }
  }
  return false;
}

void RecordedIdFilter::Prefetch(uint64_t hash) const {
  for (int i = count_.load(std::memory_order_acquire) - 1; i >= 0; --i) {
    const Segment& s = *segments_[i];
    __builtin_prefetch(&s.bits[hash & s.mask]);
  }
}

Status RecordedIdFilter::Load(rocksdb::DB* db,
                              rocksdb::ColumnFamilyHandle* ids_cf,
                              std::stop_token stop) {
  rocksdb::ReadOptions ro;
  // A one-off scan: the cache keeps what serving reads.
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, ids_cf));
  uint64_t keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice id = it->key();
    Add(MessageIdHash(id.ToStringView()));
    if (++keys % 4096 == 0 && stop.stop_requested()) {
      FinishLoad(false);
      return Status::ShuttingDown("loading usage_ids into the id filter: stopped");
    }
  }
  Status s = FromRocksDB(it->status(), "scan usage_ids for the id filter");
  FinishLoad(s.ok());
  return s;
}

void RecordedIdFilter::FinishLoad(bool loaded) {
  if (loaded) loaded_.store(true, std::memory_order_release);
  std::lock_guard lock(load_mu_);
  load_ended_ = true;
  load_done_.notify_all();
}

bool RecordedIdFilter::WaitUntilLoaded() {
  std::unique_lock lock(load_mu_);
  load_done_.wait(lock, [&] { return load_ended_; });
  return loaded_.load(std::memory_order_acquire);
}

size_t RecordedIdFilter::MemoryBytes() const {
  size_t bytes = 0;
  for (int i = 0; i < count_.load(std::memory_order_acquire); ++i) {
    bytes += segments_[i]->words() * sizeof(uint64_t);
  }
  return bytes;
}

}  // namespace agentlog::internal
