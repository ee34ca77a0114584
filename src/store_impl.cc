// The shared machinery of StoreImpl: the write path and record loading.

#include "store_impl.h"

#include <fmt/format.h>

#include "keys.h"
#include "perf_counters_off.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"

namespace agentlog::internal {

rocksdb::Status StoreImpl::WriteRaw(rocksdb::WriteBatch* batch,
                                    const WriteOptions& wo) {
  const Durability durability = DurabilityOf(wo);
  rocksdb::WriteOptions rwo;
  rwo.sync = durability == Durability::kSync;
  const PerfCountersOff perf_counters_off;
  const rocksdb::Status s = db_->Write(rwo, batch);
  if (s.ok() && durability == Durability::kBuffered) syncer_->MarkDirty();
  return s;
}

Status StoreImpl::MakeReplayDurable(const WriteOptions& wo) {
  switch (DurabilityOf(wo)) {
    case Durability::kSync:
      return SyncWalAndRetention();
    case Durability::kBuffered:
      syncer_->MarkDirty();
      return Status::OK();
    case Durability::kNone:
      return Status::OK();
  }
  return Status::OK();
}

Status StoreImpl::Write(rocksdb::WriteBatch* batch, const WriteOptions& wo,
                        const SessionId& id) {
  const rocksdb::Status s = WriteRaw(batch, wo);
  if (!s.ok()) return FromRocksDB(s, "write " + SessionRecordName(id));
  return Status::OK();
}

Result<Session> StoreImpl::LoadSession(const SessionId& id,
                                       const rocksdb::Snapshot* snapshot) {
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kSessions);
  rocksdb::PinnableSlice value;
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  const rocksdb::Status s = cf ? db_->Get(ro, cf, SessionKey(id), &value)
                               : rocksdb::Status::NotFound();
  if (s.IsNotFound()) {
    return Status::NotFound(fmt::format("session {} not found", id.ToString()));
  }
  if (!s.ok()) return FromRocksDB(s, "read " + SessionRecordName(id));
  AGENTLOG_ASSIGN_OR_RETURN(Session session,
                            DecodeSession(id, value.ToStringView()));
  // A stub awaiting compaction of what it covers (eviction_ops.cc).
  if (session.status == SessionStatus::kEvicted) {
    return Status::NotFound(
        fmt::format("session {} not found (evicted)", id.ToString()));
  }
  return session;
}

Result<Turn> StoreImpl::LoadTurn(const SessionId& id, uint64_t number,
                                 const rocksdb::Snapshot* snapshot) {
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kTurns);
  rocksdb::PinnableSlice value;
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  const rocksdb::Status s = cf ? db_->Get(ro, cf, TurnKey(id, number), &value)
                               : rocksdb::Status::NotFound();
  if (s.IsNotFound()) {
    return Status::NotFound(
        fmt::format("turn {} of session {} not found", number, id.ToString()));
  }
  if (!s.ok()) return FromRocksDB(s, "read " + TurnRecordName(id, number));
  AGENTLOG_ASSIGN_OR_RETURN(Turn turn, DecodeTurn(id, value.ToStringView()));
  if (turn.number != number) {
    return Status::Corruption(fmt::format(
        "{} holds turn number {}", TurnRecordName(id, number), turn.number));
  }
  return turn;
}

Status StoreImpl::Compact() {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  // Decisions reach the filters once durable: sync so that every decision
  // made so far applies to this compaction.
  AGENTLOG_RETURN_IF_ERROR(SyncWalAndRetention());
  rocksdb::CompactRangeOptions cro;
  // Rewrite the bottommost level too (each file once), so that the filters
  // see every record; and relocate every live blob, so that blob files
  // holding only dropped payloads are deleted and mixed ones rewritten.
  cro.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForceOptimized;
  // Let automatic compactions run alongside, so that writers never stall on
  // a full L0 while this rewrites the store.
  cro.exclusive_manual_compaction = false;
  cro.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  cro.blob_garbage_collection_age_cutoff = 1.0;
  for (size_t i = 0; i < handles_.size(); ++i) {
    if (handles_[i] == nullptr || static_cast<Cf>(i) == Cf::kDefault) continue;
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        db_->CompactRange(cro, handles_[i], nullptr, nullptr),
        fmt::format("compact {}", kCfNames[i])));
  }
  return DropEvictionStubs().status();
}


void StoreImpl::PutSession(rocksdb::WriteBatch* batch, const Session& session) {
  const EncodedRecord record = EncodeSession(session);
  batch
      ->Put(handle(Cf::kSessions), SessionKey(session.id),
            rocksdb::Slice(record.bytes()))
      .PermitUncheckedError();
}

void StoreImpl::DeleteRanges(rocksdb::WriteBatch* batch, const SessionId& id,
                             std::initializer_list<Cf> families) {
  const std::string begin = SessionRangeBegin(id);
  const std::string end = SessionRangeEnd(id);
  for (Cf cf : families) {
    batch->DeleteRange(handle(cf), begin, end).PermitUncheckedError();
  }
}

Status StoreImpl::CheckFencing(const Session& session, const WriteOptions& wo) {
  if (!wo.fencing_token || (*wo.fencing_token == session.lease.token &&
                            !session.lease.owner.empty())) {
    return Status::OK();
  }
  return Status::Conflict(fmt::format(
      "fencing token {} is stale: session {}'s current lease is {}{}; this "
      "worker lost its lease and must not write",
      *wo.fencing_token, session.id.ToString(), session.lease.token,
      session.lease.owner.empty()
          ? " (released)"
          : fmt::format(" (held by '{}')", session.lease.owner)));
}

Result<Session*> StoreImpl::CachedSession(SessionStripes::Stripe& stripe,
                                         const SessionId& id) {
  Session* session = stripe.cache.Find(id);
  if (session != nullptr) return session;
  AGENTLOG_ASSIGN_OR_RETURN(Session loaded, LoadSession(id));
  return stripe.cache.Put(std::move(loaded));
}

Status StoreImpl::MutateSession(const SessionId& id, const WriteOptions& wo,
                                bool allow_archived, Mutation mutation,
                                Session* out, size_t batch_bytes,
                                UsageWrite* usage) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  // Covers the mutation's reads too (the turn path: docs/benchmarks.md).
  const PerfCountersOff perf_counters_off;
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  AGENTLOG_ASSIGN_OR_RETURN(Session* const session, CachedSession(stripe, id));
  AGENTLOG_RETURN_IF_ERROR(CheckFencing(*session, wo));
  if (session->status == SessionStatus::kArchived && !allow_archived) {
    return Status::FailedPrecondition(
        fmt::format("session {} is archived and read-only; unarchive it first",
                    id.ToString()));
  }
  // The mutation edits the cached session in place. Should anything fail
  // before the write is acknowledged, the entry is dropped so that the
  // cache never holds a state that is not on disk.
  rocksdb::WriteBatch batch(batch_bytes);
  const size_t metadata_before = session->metadata.size();
  Result<bool> write = mutation(*session, batch);
  Status status = write.status();
  if (status.ok() && *write && usage != nullptr) {
    status = AdmitUsage(*session, wo, batch, *usage);
  }
  if (status.ok() && *write) {
    // Last-active never moves backwards, even if the clock does.
    session->last_active_ms = std::max(session->last_active_ms, Now());
    PutSession(&batch, *session);
    status = Write(&batch, wo, id);
    // Before the lock goes, so that a session's totals and its index
    // entry move in the order of its writes.
    if (status.ok()) {
      if (usage != nullptr) AccountUsage(*session, *usage);
      index_.Put(*session);
      // Only when it changed: every writer sharing one counter's cache line
      // on every write would cost the append path for nothing.
      if (session->metadata.size() != metadata_before) {
        active_->AddMetadataBytes(
            static_cast<int64_t>(session->metadata.size()) -
            static_cast<int64_t>(metadata_before));
      }
    }
  }
  if (!status.ok()) {
    stripe.cache.Erase(id);
    return status;
  }
  if (out != nullptr) *out = *session;
  return Status::OK();
}

}  // namespace agentlog::internal
