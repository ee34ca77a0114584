// Session handles and graceful shutdown of StoreImpl.

#include <fmt/format.h>

#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"

namespace agentlog::internal {

Result<SessionHandle> StoreImpl::AcquireSession(const SessionId& id) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  // Refuse before reading, so that a shutting-down store does no work.
  AGENTLOG_RETURN_IF_ERROR(active_->CheckAccepting());
  // Under the session's lock, so that no delete, archive or eviction lands
  // between the check and the claim.
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id));
  if (session.status == SessionStatus::kArchived) {
    return Status::FailedPrecondition(fmt::format(
        "session {} is archived and read-only; unarchive it first",
        id.ToString()));
  }
  return active_->Acquire(id);
}

Result<ShutdownReport> StoreImpl::Shutdown(std::chrono::milliseconds timeout) {
  constexpr auto kMaxTimeout = std::chrono::hours(24);
  if (timeout.count() < 0 || timeout > kMaxTimeout) {
    return Status::InvalidArgument(fmt::format(
        "shutdown timeout is {} ms; allowed range is 0 to {} ms",
        timeout.count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(kMaxTimeout)
            .count()));
  }
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  const auto start = std::chrono::steady_clock::now();
  ShutdownReport report = active_->Drain(timeout);
  // No eviction writes after the final sync.
  stop_retention_.store(true, std::memory_order_relaxed);
  retention_task_.reset();
  if (mode_ == AccessMode::kReadWrite) {
    if (usage_buffer_ != nullptr) {
      AGENTLOG_RETURN_IF_ERROR(usage_buffer_->Flush());
    }
    AGENTLOG_RETURN_IF_ERROR(FlushReads());
    AGENTLOG_RETURN_IF_ERROR(SyncWalAndRetention());
    rocksdb::FlushOptions flush;
    flush.allow_write_stall = true;
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(db_->Flush(flush, owned_handles_),
                                         "flush memtables at shutdown"));
  }
  report.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return report;
}

}  // namespace agentlog::internal
