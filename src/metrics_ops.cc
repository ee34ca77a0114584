// Store::MemoryUsage and Store::Metrics of StoreImpl.

#include "status_macros.h"
#include "store_impl.h"

namespace agentlog::internal {

Result<MemoryReport> StoreImpl::MemoryUsage() {
  MemoryReport m;
  m.block_cache = block_cache_->GetUsage();
  uint64_t v = 0;
  if (db_->GetAggregatedIntProperty("rocksdb.cur-size-all-mem-tables", &v)) {
    m.memtables = v;
  }
  if (db_->GetAggregatedIntProperty("rocksdb.estimate-table-readers-mem",
                                    &v)) {
    m.table_readers = v;
  }
  m.session_index = index_.MemoryBytes();
  return m;
}

Result<StoreMetrics> StoreImpl::Metrics() {
  StoreMetrics m;
  m.lifecycle = active_->Figures();
  AGENTLOG_ASSIGN_OR_RETURN(m.memory, MemoryUsage());
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
