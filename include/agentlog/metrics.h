#ifndef AGENTLOG_METRICS_H_
#define AGENTLOG_METRICS_H_

// What a store uses and does, for dashboards (Store::Metrics,
// Store::MemoryUsage) and Prometheus (PrometheusText).

#include <cstdint>
#include <string>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/lifecycle.h"

namespace agentlog {

// Memory the store holds, by part (Store::MemoryUsage).
struct MemoryReport {
  // Blocks in the block cache, which every column family shares
  // (Options::block_cache_bytes bounds it).
  uint64_t block_cache = 0;
  // Active and immutable memtables of every column family
  // (Options::write_buffer_bytes bounds each).
  uint64_t memtables = 0;
  // Index and filter blocks of open SST files held outside the block cache.
  uint64_t table_readers = 0;
  // The in-memory session index (Store::Search).
  uint64_t session_index = 0;

  uint64_t total() const {
    return block_cache + memtables + table_readers + session_index;
  }
};

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
  std::vector<ColumnFamilyInfo> column_families;
};

// `metrics` in the Prometheus text exposition format (version 0.0.4), every
// name prefixed `agentlog_`, with HELP and TYPE lines.
AGENTLOG_EXPORT std::string PrometheusText(const StoreMetrics& metrics);

}  // namespace agentlog

#endif  // AGENTLOG_METRICS_H_
