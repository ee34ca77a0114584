// Session operations of StoreImpl.

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>

#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {

Result<Session> StoreImpl::CreateSession(const SessionSpec& spec,
                                         const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  Session session;
  if (Status s = ValidateSessionSpec(options_, spec, &session.tags); !s.ok()) {
    // Counted as refused for its metadata only when nothing else was wrong.
    SessionSpec without_metadata = spec;
    without_metadata.metadata.clear();
    std::vector<std::string> unused;
    if (ValidateSessionSpec(options_, without_metadata, &unused).ok()) {
      active_->CountMetadataRejected();
    }
    return s;
  }
  AGENTLOG_RETURN_IF_ERROR(active_->BeginCreate());
  // Shutdown waits for this creation's write, not for its evictions.
  struct WriteInFlight {
    ActiveSessions* active;
    void End() {
      if (active != nullptr) active->EndCreate();
      active = nullptr;
    }
    ~WriteInFlight() { End(); }
  } write_in_flight{active_.get()};
  // The index hands out the id: ids ascend, even when the clock steps back,
  // and the creation time is the id's.
  session.id = index_.Reserve(Now());
  // No eviction, not even by a concurrent creation at the cap, takes the
  // session before this call returns it.
  active_->Protect(session.id);
  struct Protection {
    ActiveSessions* active;
    SessionId id;
    ~Protection() { active->Unprotect(id); }
  } protection{active_.get(), session.id};
  const int64_t now = session.id.timestamp_ms();
  session.lease.session = session.id;
  session.agent = spec.agent;
  session.model = spec.model;
  session.title = spec.title;
  session.metadata = spec.metadata;
  session.status = SessionStatus::kActive;
  session.created_ms = now;
  session.last_active_ms = now;
  session.context_window = spec.context_window;
  session.pinned = spec.pinned;
  // 80 random bits make a collision practically impossible; the lock still
  // makes the write atomic with respect to any writer of the same id.
  SessionStripes::Stripe& stripe = stripes_.For(session.id);
  std::unique_lock<std::mutex> lock(stripe.mu);
  rocksdb::WriteBatch batch;
  PutSession(&batch, session);
  if (Status s = Write(&batch, wo, session.id); !s.ok()) {
    index_.Abandon(session.id);
    return s;
  }
  index_.Put(session);
  active_->CountCreated();
  active_->AddMetadataBytes(static_cast<int64_t>(session.metadata.size()));
  stripe.cache.Put(session);  // Its first turns usually follow.
  lock.unlock();
  write_in_flight.End();
  // The session is written: should an eviction fail, it is still returned,
  // and the next creation or the background pass tries again.
  EnforceSessionLimit(nullptr).IgnoreError();
  return session;
}

Result<Session> StoreImpl::GetSession(const SessionId& id) {
  NoteRead(id);
  return LoadSession(id);
}

Result<std::vector<Session>> StoreImpl::ListSessions(
    const SessionListOptions& options) {
  std::vector<Session> out;
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kSessions);
  if (cf == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf));
  it->Seek(SessionKey(options.after));
  if (it->Valid() && !options.after.is_zero() &&
      it->key().ToStringView() == SessionKey(options.after)) {
    it->Next();
  }
  for (; it->Valid(); it->Next()) {
    if (options.limit != 0 && out.size() >= options.limit) break;
    const auto id = ParseSessionKey(it->key().ToStringView());
    if (!id) {
      return Status::Corruption(
          fmt::format("sessions key {} is not a 16-byte session id",
                      Hex(it->key().ToStringView())));
    }
    AGENTLOG_ASSIGN_OR_RETURN(Session s,
                              DecodeSession(*id, it->value().ToStringView()));
    if (s.status == SessionStatus::kEvicted) continue;
    out.push_back(std::move(s));
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan sessions"));
  return out;
}

Result<SessionPage> StoreImpl::Search(const SessionQuery& query) {
  return index_.Search(query, [&](const SessionId& id) -> Result<std::string> {
    AGENTLOG_ASSIGN_OR_RETURN(Session s, LoadSession(id));
    return std::move(s.title);
  });
}

Result<SessionStats> StoreImpl::Stats() { return index_.Stats(Now()); }

Result<Session> StoreImpl::UpdateSession(const SessionId& id,
                                         const SessionUpdate& update,
                                         const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  std::vector<std::string> tags;
  if (Status s = ValidateSessionUpdate(options_, update, &tags); !s.ok()) {
    // Counted as refused for its metadata only when nothing else was wrong.
    SessionUpdate without_metadata = update;
    without_metadata.metadata.reset();
    if (update.metadata &&
        ValidateSessionUpdate(options_, without_metadata, &tags).ok()) {
      active_->CountMetadataRejected();
    }
    return s;
  }
  Session updated;
  AGENTLOG_RETURN_IF_ERROR(MutateSession(
      id, wo, false,
      [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
        if (update.tags) AGENTLOG_RETURN_IF_ERROR(FlushTotalsBeforeRetag(id));
        if (update.title) s.title = *update.title;
        if (update.tags) s.tags = tags;
        if (update.metadata) s.metadata = *update.metadata;
        if (update.context_window) s.context_window = *update.context_window;
        if (update.pinned) s.pinned = *update.pinned;
        return true;
      },
      &updated));
  return updated;
}

Result<Session> StoreImpl::TagSession(const SessionId& id,
                                      std::span<const std::string> tags,
                                      const WriteOptions& wo) {
  std::vector<std::string> add;
  AGENTLOG_RETURN_IF_ERROR(ValidateTags(options_, tags, "tags", &add));
  Session tagged;
  AGENTLOG_RETURN_IF_ERROR(MutateSession(
      id, wo, false,
      [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
        std::vector<std::string> merged = s.tags;
        for (const std::string& t : add) {
          if (std::find(merged.begin(), merged.end(), t) == merged.end()) {
            merged.push_back(t);
          }
        }
        if (merged.size() > options_.max_tags) {
          return Status::InvalidArgument(fmt::format(
              "session {} would have {} tags; limit is {} (Options::max_tags)",
              id.ToString(), merged.size(), options_.max_tags));
        }
        AGENTLOG_RETURN_IF_ERROR(FlushTotalsBeforeRetag(id));
        s.tags = std::move(merged);
        return true;
      },
      &tagged));
  return tagged;
}

Result<Session> StoreImpl::UntagSession(const SessionId& id,
                                        std::span<const std::string> tags,
                                        const WriteOptions& wo) {
  std::vector<std::string> remove;
  AGENTLOG_RETURN_IF_ERROR(ValidateTags(options_, tags, "tags", &remove));
  Session untagged;
  AGENTLOG_RETURN_IF_ERROR(MutateSession(
      id, wo, false,
      [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
        AGENTLOG_RETURN_IF_ERROR(FlushTotalsBeforeRetag(id));
        std::erase_if(s.tags, [&](const std::string& t) {
          return std::find(remove.begin(), remove.end(), t) != remove.end();
        });
        return true;
      },
      &untagged));
  return untagged;
}

Status StoreImpl::TouchSession(const SessionId& id, const WriteOptions& wo) {
  return MutateSession(
      id, wo, true,
      [](Session&, rocksdb::WriteBatch&) -> Result<bool> { return true; });
}

Status StoreImpl::FlushReads() {
  // A read's time is written as it was, not as the time of this flush:
  // flushing late must not make a session look more recent than it is.
  // Unsynced: read times are a hint for eviction, and the next sync of
  // anything else covers them.
  WriteOptions wo;
  wo.durability = Durability::kNone;
  for (const auto& [id, read_ms] : reads_.Take()) {
    SessionStripes::Stripe& stripe = stripes_.For(id);
    std::lock_guard<std::mutex> lock(stripe.mu);
    Result<Session*> cached = CachedSession(stripe, id);
    if (cached.status().IsNotFound()) continue;  // Deleted or evicted since.
    AGENTLOG_RETURN_IF_ERROR(cached.status());
    Session& session = **cached;
    if (read_ms <= session.last_active_ms) continue;  // Written since.
    session.last_active_ms = read_ms;
    rocksdb::WriteBatch batch;
    PutSession(&batch, session);
    if (Status s = Write(&batch, wo, id); !s.ok()) {
      stripe.cache.Erase(id);
      return s;
    }
    index_.Put(session);
  }
  return Status::OK();
}

Status StoreImpl::ArchiveSession(const SessionId& id, const WriteOptions& wo) {
  return MutateSession(
      id, wo, true, [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
        if (s.status == SessionStatus::kArchived) {
          return Status::FailedPrecondition(
              fmt::format("session {} is already archived", id.ToString()));
        }
        s.status = SessionStatus::kArchived;
        return true;
      });
}

Status StoreImpl::UnarchiveSession(const SessionId& id,
                                   const WriteOptions& wo) {
  return MutateSession(
      id, wo, true, [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
        if (s.status != SessionStatus::kArchived) {
          return Status::FailedPrecondition(
              fmt::format("session {} is {}, not archived", id.ToString(),
                          SessionStatusName(s.status)));
        }
        s.status = SessionStatus::kIdle;
        return true;
      });
}

Status StoreImpl::DeleteUsageRecords(const SessionId& id,
                                     rocksdb::WriteBatch& batch) {
  const std::string end = SessionRangeEnd(id);
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handle(Cf::kUsage)));
  for (it->Seek(SessionRangeBegin(id)); it->Valid(); it->Next()) {
    batch.Delete(handle(Cf::kUsage), it->key()).PermitUncheckedError();
  }
  return FromRocksDB(
      it->status(),
      fmt::format("list usage records of session {}", id.ToString()));
}

Status StoreImpl::DeleteSession(const SessionId& id, const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id));
  AGENTLOG_RETURN_IF_ERROR(CheckFencing(session, wo));
  if (active_->IsActive(id)) {
    return Status::Busy(fmt::format(
        "session {} has an active handle; release it before deleting",
        id.ToString()));
  }
  // The totals keep what the session spent; its records, which open would
  // replay them from, go.
  AGENTLOG_RETURN_IF_ERROR(usage_buffer_->FlushSession(id));
  rocksdb::WriteBatch batch;
  DeleteRanges(&batch, id,
               {Cf::kTurns, Cf::kIdempotency, Cf::kInputs, Cf::kCheckpoints,
                Cf::kCheckpointData});
  // Usage records by point deletes, not a range: the usage family takes
  // memtable insert hints, which RocksDB 7.8 cannot mix with range
  // deletions (column_families.cc). Every one on disk, those below the age
  // floor too: compaction may not have dropped them yet, and once the
  // session is gone no decision is left that would.
  AGENTLOG_RETURN_IF_ERROR(DeleteUsageRecords(id, batch));
  batch.Delete(handle(Cf::kUsageTotals), TotalsMarkKey(id))
      .PermitUncheckedError();
  batch.Delete(handle(Cf::kSessions), SessionKey(id)).PermitUncheckedError();
  stripe.cache.Erase(id);
  AGENTLOG_RETURN_IF_ERROR(Write(&batch, wo, id));
  index_.Remove(id);
  active_->AddMetadataBytes(-static_cast<int64_t>(session.metadata.size()));
  // The range deletions cover every record its floors did. (Forgetting
  // early is safe: a filter without a decision keeps everything.)
  retention_->Forget(id);
  WakeLeaseWaiters();  // They learn NotFound now, not at the lease's end.
  return Status::OK();
}

}  // namespace agentlog::internal
