// Store::MemoryUsage and Store::Metrics of StoreImpl.

#include "status_macros.h"
#include "store_impl.h"

namespace agentlog::internal {

Result<MemoryReport> StoreImpl::MemoryUsage() {
  MemoryReport m;
  // The memtables' charge in the cache is a placeholder (no memory of its
  // own) for what `memtables` counts: left out so nothing counts twice.
  // Read apart from the usage, so a charge that grew in between is clamped.
  const uint64_t cache = block_cache_->GetUsage();
  const uint64_t charge =
      write_buffers_ ? write_buffers_->dummy_entries_in_cache_usage() : 0;
  m.block_cache = cache > charge ? cache - charge : 0;
  uint64_t v = 0;
  // Not cur-size-all-mem-tables: flushed memtables a reader still holds are
  // memory too.
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kSizeAllMemTables,
                                    &v)) {
    m.memtables = v;
  }
  if (db_->GetAggregatedIntProperty("rocksdb.estimate-table-readers-mem",
                                    &v)) {
    m.table_readers = v;
  }
  m.session_index = index_.MemoryBytes();
  m.other = stripes_.MemoryBytes() + (rates_ ? rates_->MemoryBytes() : 0) +
            (recorded_ids_ ? recorded_ids_->MemoryBytes() : 0);
  if (memory_->Check(m) && mode_ == AccessMode::kReadWrite) {
    // Memtables are the part the store can free at once without losing
    // anything; the cache already gives way to them. Not waiting: this may
    // be a host's metrics call. Family by family, each a best effort: while
    // RocksDB has writes stopped for flushes under way it refuses
    // (TryAgain), and those flushes are what frees memory then.
    rocksdb::FlushOptions flush;
    flush.wait = false;
    flush.allow_write_stall = true;
    for (rocksdb::ColumnFamilyHandle* h : owned_handles_) {
      db_->Flush(flush, h).PermitUncheckedError();
    }
  }
  return m;
}

Result<StoreMetrics> StoreImpl::Metrics() {
  StoreMetrics m;
  m.lifecycle = active_->Figures();
  AGENTLOG_ASSIGN_OR_RETURN(m.memory, MemoryUsage());
  m.memory_warnings = memory_->warnings();
  m.memory_emergencies = memory_->emergencies();
  const std::array<uint64_t, 3> by_status = index_.StatusCounts();
  m.sessions_active = by_status[0];
  m.sessions_idle = by_status[1];
  m.sessions_archived = by_status[2];
  m.retention_decisions = retention_->durable_count();
  m.retention_decisions_pending = retention_->pending_count();
  AGENTLOG_ASSIGN_OR_RETURN(StoreInfo info, Info());
  m.column_families = std::move(info.column_families);
  return m;
}

}  // namespace agentlog::internal
