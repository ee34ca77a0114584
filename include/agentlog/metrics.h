#ifndef AGENTLOG_METRICS_H_
#define AGENTLOG_METRICS_H_

// What a store uses and does, for dashboards (Store::Metrics,
// Store::MemoryUsage) and Prometheus (PrometheusText).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/lifecycle.h"

namespace agentlog {

// Where memory use stands against Options::memory_budget_bytes. Values are
// exported (agentlog_memory_level); never renumber.
enum class MemoryLevel : uint8_t {
  // Below the warning threshold, or no budget.
  kNormal = 0,
  // At or above Options::memory_warning_fraction of the budget.
  kWarning = 1,
  // At or above Options::memory_emergency_fraction of the budget.
  kEmergency = 2,
};

// Memory the store holds, by part (Store::MemoryUsage), and the budget it
// is held to. The parts do not overlap: total() is what the store holds.
struct MemoryReport {
  // Blocks in the block cache, which every column family shares. With a
  // budget the cache also carries the memtables' charge (placeholder
  // entries, no memory of their own), which is left out here: memtables
  // are counted once, below.
  uint64_t block_cache = 0;
  // Active, immutable and pinned memtables of every column family: every
  // memtable not yet freed, including flushed ones a reader still holds.
  uint64_t memtables = 0;
  // Index and filter blocks of open SST files held outside the block cache.
  uint64_t table_readers = 0;
  // The in-memory session index (Store::Search).
  uint64_t session_index = 0;
  // The write path's cache of decoded sessions and their echo windows
  // (Options::detect_echoes), the rate windows of Store::CheckRate, and
  // the filter of every message id recorded (2 to 6 bytes an id).
  // Measured without waiting for a writer: a stripe busy with a write
  // counts as when it was last measured.
  uint64_t other = 0;

  // Options::memory_budget_bytes; 0 when the store has no budget, and then
  // every field below is 0 as well.
  uint64_t budget = 0;
  // The budget's warning and emergency thresholds, in bytes.
  uint64_t warning_bytes = 0;
  uint64_t emergency_bytes = 0;
  // How the budget was split at open: the block cache's capacity (data
  // blocks and the memtables' charge together) and the memtables' limit
  // within it (docs/architecture.md, "Memory").
  uint64_t block_cache_capacity = 0;
  uint64_t memtable_limit = 0;
  // Where total() stands against the thresholds, as of this report.
  MemoryLevel level = MemoryLevel::kNormal;

  uint64_t total() const {
    return block_cache + memtables + table_readers + session_index + other;
  }
};

// A threshold crossing of the memory budget (Options::memory_listener).
struct MemoryEvent {
  // kWarning or kEmergency: usage rose to that threshold. kNormal: usage
  // fell back below the warning threshold after a warning.
  MemoryLevel level = MemoryLevel::kNormal;
  // The report whose total() crossed it.
  MemoryReport usage;
  // Options::memory_budget_bytes.
  uint64_t budget = 0;
};

// Receives memory threshold crossings (Options::memory_listener) on the
// thread that found them: the store's background check, or a caller of
// Store::MemoryUsage or Store::Metrics, or, when another thread is
// delivering already, that thread, so that events arrive one at a time and
// in order. No lock of the store is held; it may call the store (a
// MemoryUsage from inside it delivers what it finds after it returns).
using MemoryListener = std::function<void(const MemoryEvent&)>;

// Per-column-family figures for inspection (Store::Info, Store::Metrics).
struct ColumnFamilyInfo {
  std::string name;
  uint64_t estimated_keys = 0;  // RocksDB's estimate.
  uint64_t sst_bytes = 0;       // Live SST files.
  uint64_t blob_bytes = 0;      // Live blob files.
  uint64_t memtable_bytes = 0;  // Active and immutable memtables.
  // Records retention's compaction filters dropped since the store opened.
  uint64_t retention_dropped = 0;
};

// Everything Store::Metrics reports. Counters count since the store opened.
struct StoreMetrics {
  SessionLifecycle lifecycle;
  MemoryReport memory;
  // Live sessions by status (the index's counts).
  uint64_t sessions_active = 0;
  uint64_t sessions_idle = 0;
  uint64_t sessions_archived = 0;
  // Retention decisions the compaction filters act on / awaiting a WAL sync.
  uint64_t retention_decisions = 0;
  uint64_t retention_decisions_pending = 0;
  // Memory threshold crossings upward since open (delivered or not).
  uint64_t memory_warnings = 0;
  uint64_t memory_emergencies = 0;
  std::vector<ColumnFamilyInfo> column_families;
};

// `metrics` in the Prometheus text exposition format (version 0.0.4), every
// name prefixed `agentlog_`, with HELP and TYPE lines.
AGENTLOG_EXPORT std::string PrometheusText(const StoreMetrics& metrics);

}  // namespace agentlog

#endif  // AGENTLOG_METRICS_H_
