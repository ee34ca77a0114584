#ifndef AGENTLOG_SRC_MEMORY_BUDGET_H_
#define AGENTLOG_SRC_MEMORY_BUDGET_H_

// The memory budget (Options::memory_budget_bytes): how it divides among
// RocksDB's parts, and its warning and emergency thresholds with their
// delivery to Options::memory_listener. docs/architecture.md, "Memory".

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "agentlog/metrics.h"
#include "agentlog/options.h"

namespace agentlog::internal {

// What RocksDB is given, from the options and what the parts outside the
// block cache (session index, table readers) hold.
struct MemoryPlan {
  // The block cache's capacity: data blocks, and with a budget the
  // memtables' charge too.
  size_t block_cache_capacity = 0;
  // The WriteBufferManager's limit on every memtable together, charged to
  // the block cache; 0 without a budget (no WriteBufferManager).
  size_t memtable_limit = 0;
  // Each column family's memtable size (ColumnFamilyOptions).
  size_t write_buffer_bytes = 0;
};

// Without a budget: block_cache_bytes and write_buffer_bytes as given.
// With budget B and warning fraction w: the cache gets 7/8 of w x B less
// `outside_bytes`, but at least B / 8; memtables may take half of it; each
// family's memtable is a quarter of the limit an empty store would get
// (between 256 KiB and write_buffer_bytes), so that it does not depend on
// what a store holds when opened. The eighth below the warning threshold
// absorbs what overshoots a full cache in normal running: memtables growing
// while their flush runs, cache shards over their share.
MemoryPlan PlanMemory(const Options& options, uint64_t outside_bytes);

// The warning and emergency thresholds of a budget as a state machine: a
// rise to a threshold is reported once, and re-armed only when usage falls
// below that threshold again. Not thread-safe.
class MemoryThresholds {
 public:
  // `budget` 0: no thresholds; Observe never reports anything.
  MemoryThresholds(uint64_t budget, double warning_fraction,
                   double emergency_fraction);

  // The crossings `usage` makes, in order: kWarning then kEmergency on the
  // way up (both when one step passes both), kNormal when usage falls below
  // the warning threshold after a warning. A fall from above the emergency
  // threshold into the warning band re-arms the emergency threshold and
  // reports nothing: the warning still stands.
  std::vector<MemoryLevel> Observe(uint64_t usage);

  MemoryLevel level() const {
    return emergency_ ? MemoryLevel::kEmergency
                      : warned_ ? MemoryLevel::kWarning : MemoryLevel::kNormal;
  }
  uint64_t warning_bytes() const { return warning_bytes_; }
  uint64_t emergency_bytes() const { return emergency_bytes_; }

 private:
  const uint64_t budget_;
  const uint64_t warning_bytes_;
  const uint64_t emergency_bytes_;
  bool warned_ = false;     // A kWarning was reported and usage has not
                            // fallen below the warning threshold since.
  bool emergency_ = false;  // Likewise for kEmergency.
};

// The thresholds of a store and the delivery of their crossings to
// Options::memory_listener. Thread-safe: reports may come from the
// background check and from callers of Store::MemoryUsage at once. Events
// are delivered one at a time, in the order the crossings were observed,
// with no lock held: a thread that finds one queues it, and the first
// thread with something to deliver delivers the queue until it is empty,
// so a listener that calls Store::MemoryUsage itself only queues.
class MemoryMonitor {
 public:
  // `plan` is what the store gave RocksDB (reported in every MemoryReport).
  MemoryMonitor(const Options& options, const MemoryPlan& plan);
  MemoryMonitor(const MemoryMonitor&) = delete;
  MemoryMonitor& operator=(const MemoryMonitor&) = delete;

  // The split changes once at open, when the session index is known.
  void SetPlan(const MemoryPlan& plan);

  // Fills `report`'s budget fields and level, observes its total and
  // delivers the crossings. True when usage has just risen to the
  // emergency threshold (the caller's cue to free what it can). Call with
  // no lock of the store held.
  bool Check(MemoryReport& report);

  // Crossings upward since open.
  uint64_t warnings() const;
  uint64_t emergencies() const;

 private:
  const uint64_t budget_;
  const MemoryListener listener_;
  mutable std::mutex mu_;
  MemoryThresholds thresholds_;    // Guarded by mu_.
  MemoryPlan plan_;                // Guarded by mu_.
  std::deque<MemoryEvent> queue_;  // Guarded by mu_.
  bool delivering_ = false;        // Guarded by mu_.
  uint64_t warnings_ = 0;          // Guarded by mu_.
  uint64_t emergencies_ = 0;       // Guarded by mu_.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_MEMORY_BUDGET_H_
