// Eviction of StoreImpl: Options::max_sessions, max_bytes and
// evict_inactive_after.
//
// Evicting is a retention decision (docs/architecture.md, "Retention"): the
// session record becomes a stub with status evicted, in one write; readers
// see NotFound from then on, the index drops the session, and the filters
// of every per-session family drop its records once the write is durable.
// The stub keeps the decision across restarts until Compact has dropped
// every record it covers, and then goes too.

#include <fmt/format.h>

#include <limits>

#include "keys.h"
#include "rocksdb_status.h"
#include "record_codec.h"
#include "status_macros.h"
#include "store_impl.h"
#include "usage_keys.h"

namespace agentlog::internal {
namespace {

// Candidates taken from the index per round: bounds the memory of a pass
// over a million expired sessions.
constexpr size_t kEvictionBatch = 1024;
// For Options::max_bytes, where one session may free enough.
constexpr size_t kByteEvictionBatch = 16;

}  // namespace

Result<bool> StoreImpl::EvictSession(
    const SessionId& id, FunctionRef<bool(const Session&)> still_due) {
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  Result<Session> loaded = LoadSession(id);
  if (loaded.status().IsNotFound()) return false;  // Deleted meanwhile.
  AGENTLOG_RETURN_IF_ERROR(loaded.status());
  const Session& session = *loaded;
  // AcquireSession takes this lock too: no handle can appear until the
  // eviction is written.
  if (session.pinned || active_->IsActive(id) || !still_due(session)) {
    return false;
  }
  // The totals keep what the session spent; its usage records, which open
  // would replay them from, go.
  AGENTLOG_RETURN_IF_ERROR(usage_buffer_->FlushSession(id));
  Session stub = session;
  stub.status = SessionStatus::kEvicted;
  stub.metadata.clear();  // The stub only has to say what went, and when.
  rocksdb::WriteBatch batch;
  PutSession(&batch, stub);
  batch.Delete(handle(Cf::kUsageTotals), TotalsMarkKey(id))
      .PermitUncheckedError();
  stripe.cache.Erase(id);
  // Not synced: an eviction a power loss undoes only brings back a session
  // that the next pass evicts again, and the creation that asked for it
  // need not wait for a second fsync. The filters act once a later sync
  // (the WalSyncer's, asked for by PublishDecision) covers it.
  WriteOptions wo;
  wo.durability = Durability::kNone;
  AGENTLOG_RETURN_IF_ERROR(Write(&batch, wo, id));
  index_.Remove(id);
  active_->AddMetadataBytes(-static_cast<int64_t>(session.metadata.size()));
  active_->CountEvicted();
  PublishDecision(id, {.evicted = true}, wo);
  WakeLeaseWaiters();  // They learn NotFound now, not at the lease's end.
  return true;
}

bool StoreImpl::SpareFromLru(const SessionId& id) {
  // A session read since the reads were last written is more recent than
  // its place in the activity order says: passing it over spares writing
  // every read before each eviction.
  return active_->IsActive(id) || reads_.Latest(id).has_value();
}

Status StoreImpl::EnforceSessionLimit(RetentionRun* run) {
  if (options_.max_sessions == 0) return Status::OK();
  std::lock_guard<std::mutex> lock(eviction_mu_);
  bool reads_flushed = false;
  while (!StopRequested()) {
    const size_t live = index_.live();
    if (live <= options_.max_sessions) return Status::OK();
    const size_t excess = live - options_.max_sessions;
    const std::vector<SessionId> victims = index_.EvictionOrder(
        std::min(excess, kEvictionBatch), options_.evict_archived_first,
        [&](const SessionId& id) { return SpareFromLru(id); });
    uint64_t evicted = 0;
    for (const SessionId& id : victims) {
      AGENTLOG_ASSIGN_OR_RETURN(
          const bool done,
          EvictSession(id, [](const Session&) { return true; }));
      evicted += done ? 1 : 0;
    }
    if (run != nullptr) run->over_limit += evicted;
    // Only read sessions are left to choose from: write their reads, which
    // puts them in order, and choose again.
    if (evicted == 0 && !reads_flushed && reads_.size() > 0) {
      AGENTLOG_RETURN_IF_ERROR(FlushReads());
      reads_flushed = true;
      continue;
    }
    // Every candidate became pinned or held meanwhile, or none is left:
    // the store stays above the limit until one is.
    if (evicted == 0) return Status::OK();
  }
  return Status::OK();
}

Result<uint64_t> StoreImpl::StoreBytes() {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* h : owned_handles_) {
    uint64_t sst = 0, blob = 0, garbage = 0;
    if (!db_->GetIntProperty(h, rocksdb::DB::Properties::kLiveSstFilesSize,
                             &sst) ||
        !db_->GetIntProperty(h, rocksdb::DB::Properties::kLiveBlobFileSize,
                             &blob) ||
        !db_->GetIntProperty(
            h, rocksdb::DB::Properties::kLiveBlobFileGarbageSize, &garbage)) {
      return Status::IOError(fmt::format(
          "RocksDB did not report the file sizes of {}", h->GetName()));
    }
    // Blob garbage is space compaction will return: it holds no session.
    total += sst + blob - std::min(blob, garbage);
  }
  return total;
}

Result<uint64_t> StoreImpl::SessionBytes(const SessionId& id) {
  const std::string begin = SessionRangeBegin(id);
  const std::string end = SessionRangeEnd(id);
  const rocksdb::Range range(begin, end);
  uint64_t total = 0;
  for (Cf cf : kPerSessionCfs) {
    uint64_t bytes = 0;
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        db_->GetApproximateSizes(handle(cf), &range, 1, &bytes),
        fmt::format("estimate the {} bytes of session {}", CfName(cf),
                    id.ToString())));
    total += bytes;
  }
  // A large payload lives in a blob file, of which the tables hold only a
  // reference: count it from its header.
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handle(Cf::kCheckpoints)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const std::optional<ParsedNumberedKey> key =
        ParseNumberedKey(it->key().ToStringView());
    if (!key) continue;
    Result<CheckpointInfo> info =
        DecodeCheckpointHeader(id, key->number, it->value().ToStringView());
    // A header that does not decode is Verify's to report; estimate on.
    if (info.ok() && info->stored_bytes >= kMinBlobBytes) {
      total += info->stored_bytes;
    }
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
      it->status(),
      fmt::format("read the checkpoints of session {}", id.ToString())));
  return total;
}

Status StoreImpl::EnforceByteLimit(RetentionRun* run) {
  if (options_.max_bytes == 0) return Status::OK();
  std::lock_guard<std::mutex> lock(eviction_mu_);
  AGENTLOG_ASSIGN_OR_RETURN(uint64_t bytes, StoreBytes());
  uint64_t memtables = 0;
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables,
                                &memtables);
  // Within the limit even counting the memtables' arenas (more than the
  // records they hold): nothing to do.
  if (bytes + memtables <= options_.max_bytes) return Status::OK();
  // Otherwise decide on files alone, which RocksDB measures exactly and
  // whose key ranges it estimates well (its estimates of a memtable's key
  // ranges are coarse, and its arenas are mostly Bloom filters and slack):
  // flush the memtables first.
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(db_->Flush(flush, owned_handles_),
                                       "flush memtables for max_bytes"));
  AGENTLOG_ASSIGN_OR_RETURN(bytes, StoreBytes());
  // What evicted sessions still hold leaves with the next compactions: not
  // subtracting it would evict again for bytes already on their way out.
  for (const SessionId& id : retention_->Evicted()) {
    if (bytes <= options_.max_bytes) return Status::OK();
    AGENTLOG_ASSIGN_OR_RETURN(const uint64_t held, SessionBytes(id));
    bytes -= std::min(bytes, held);
  }
  bool reads_flushed = false;
  while (bytes > options_.max_bytes && !StopRequested()) {
    // A few at a time: each may be enough.
    const std::vector<SessionId> victims = index_.EvictionOrder(
        kByteEvictionBatch, options_.evict_archived_first,
        [&](const SessionId& id) { return SpareFromLru(id); });
    uint64_t evicted = 0;
    for (const SessionId& id : victims) {
      if (bytes <= options_.max_bytes) break;
      AGENTLOG_ASSIGN_OR_RETURN(const uint64_t held, SessionBytes(id));
      AGENTLOG_ASSIGN_OR_RETURN(
          const bool done,
          EvictSession(id, [](const Session&) { return true; }));
      if (!done) continue;
      ++evicted;
      bytes -= std::min(bytes, held);
    }
    if (run != nullptr) run->over_bytes += evicted;
    if (evicted == 0 && !reads_flushed && reads_.size() > 0) {
      AGENTLOG_RETURN_IF_ERROR(FlushReads());
      reads_flushed = true;
      continue;
    }
    if (evicted == 0) break;  // Everything left is pinned or held.
  }
  return Status::OK();
}

Result<uint64_t> StoreImpl::EvictInactive(SessionStatus status,
                                          std::chrono::seconds limit) {
  if (limit.count() == 0) return uint64_t{0};
  const int64_t limit_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
  // Saturates: a cutoff before the epoch evicts nothing.
  const int64_t now = Now();
  const int64_t cutoff = now > std::numeric_limits<int64_t>::min() + limit_ms
                             ? now - limit_ms
                             : std::numeric_limits<int64_t>::min();
  const auto read_since = [&](const SessionId& id) {
    const std::optional<int64_t> read = reads_.Latest(id);
    return read.has_value() && *read >= cutoff;
  };
  std::lock_guard<std::mutex> lock(eviction_mu_);
  uint64_t total = 0;
  while (!StopRequested()) {
    const std::vector<SessionId> victims = index_.InactiveBefore(
        status, cutoff, kEvictionBatch, [&](const SessionId& id) {
          return active_->IsActive(id) || read_since(id);
        });
    uint64_t evicted = 0;
    for (const SessionId& id : victims) {
      // Touched, read or re-archived since the index was read: not due any
      // more.
      AGENTLOG_ASSIGN_OR_RETURN(
          const bool done, EvictSession(id, [&](const Session& s) {
            return s.status == status && s.last_active_ms < cutoff &&
                   !read_since(id);
          }));
      evicted += done ? 1 : 0;
    }
    total += evicted;
    if (victims.size() < kEvictionBatch || evicted == 0) break;
  }
  return total;
}

Result<bool> StoreImpl::RecordsLeft(const SessionId& id) {
  const std::string begin = SessionRangeBegin(id);
  const std::string end = SessionRangeEnd(id);
  const rocksdb::Slice upper(end);
  for (Cf cf : kPerSessionCfs) {
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handle(cf)));
    it->Seek(begin);
    if (it->Valid()) return true;
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        it->status(), fmt::format("look for records of evicted session {}",
                                  id.ToString())));
  }
  return false;
}

Result<uint64_t> StoreImpl::DropEvictionStubs() {
  // Only decisions in effect: their filters are the ones that drop records.
  const std::vector<SessionId> evicted = retention_->DurablyEvicted();
  std::vector<SessionId> done;
  rocksdb::WriteBatch batch;
  for (const SessionId& id : evicted) {
    if (StopRequested()) break;
    // A stub goes only once compaction dropped every record it covers (a
    // file a compaction skipped keeps some until the next one): without
    // the stub, nothing would ever drop them.
    AGENTLOG_ASSIGN_OR_RETURN(const bool left, RecordsLeft(id));
    if (left) continue;
    batch.Delete(handle(Cf::kSessions), SessionKey(id)).PermitUncheckedError();
    done.push_back(id);
  }
  if (done.empty()) return uint64_t{0};
  // No lock: nothing writes to an evicted session, and ids are never
  // reused. Not synced: a stub a power loss brings back is dropped again.
  WriteOptions wo;
  wo.durability = Durability::kNone;
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(WriteRaw(&batch, wo), "drop eviction stubs"));
  for (const SessionId& id : done) retention_->Forget(id);
  return uint64_t{done.size()};
}

void StoreImpl::StartRetentionTask() {
  const auto set = [](const Options::AgeLimits& ages) {
    return ages.active.count() != 0 || ages.idle.count() != 0 ||
           ages.archived.count() != 0;
  };
  if (mode_ != AccessMode::kReadWrite ||
      (options_.max_sessions == 0 && options_.max_bytes == 0 &&
       !set(options_.evict_inactive_after) && !set(options_.turn_max_age) &&
       !set(options_.usage_max_age) && !set(options_.checkpoint_max_age))) {
    return;
  }
  retention_task_ = std::make_unique<PeriodicTask>(
      [this] {
        // A failure (an I/O error) is retried at the next run; hosts that
        // want to see it call EnforceRetention themselves.
        EnforceRetention().status().IgnoreError();
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(
          options_.retention_check_interval));
}

Result<RetentionRun> StoreImpl::EnforceRetention() {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  // The periodic write of read times (Options::reads_count_as_activity).
  AGENTLOG_RETURN_IF_ERROR(FlushReads());
  RetentionRun run;
  const Options::AgeLimits& limits = options_.evict_inactive_after;
  AGENTLOG_ASSIGN_OR_RETURN(run.inactive_active,
                            EvictInactive(SessionStatus::kActive, limits.active));
  AGENTLOG_ASSIGN_OR_RETURN(run.inactive_idle,
                            EvictInactive(SessionStatus::kIdle, limits.idle));
  AGENTLOG_ASSIGN_OR_RETURN(
      run.inactive_archived,
      EvictInactive(SessionStatus::kArchived, limits.archived));
  AGENTLOG_RETURN_IF_ERROR(EnforceSessionLimit(&run));
  AGENTLOG_RETURN_IF_ERROR(EnforceByteLimit(&run));
  AGENTLOG_RETURN_IF_ERROR(PruneByAge(&run));
  AGENTLOG_ASSIGN_OR_RETURN(run.stubs_dropped, DropEvictionStubs());
  return run;
}

}  // namespace agentlog::internal
