// Opening and closing a store: directory set-up, column families, the
// format-version check and the recovery scan.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>

#include "keys.h"
#include "private_file_system.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "session_scan.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog {

Result<std::unique_ptr<Store>> Store::Open(const Options& options,
                                           std::string_view path) {
  AGENTLOG_ASSIGN_OR_RETURN(
      auto store, internal::StoreImpl::OpenImpl(options, path, false));
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const Options& options,
                                                   std::string_view path) {
  AGENTLOG_ASSIGN_OR_RETURN(auto store,
                            internal::StoreImpl::OpenImpl(options, path, true));
  return std::unique_ptr<Store>(std::move(store));
}

namespace internal {
namespace {

namespace fs = std::filesystem;

// StoreImpl::kHoldCompactionsFrom, unless a test changed it.
std::atomic<uint64_t> hold_compactions_from{StoreImpl::kHoldCompactionsFrom};

// The bytes of the table and blob files in `path`: what the recovery scan
// and any compaction due would read. 0 when it cannot be listed (a new
// store), as no error here should stop an open.
uint64_t TableBytes(const std::string& path) {
  std::error_code ec;
  uint64_t bytes = 0;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path& file = it->path();
    if (file.extension() != ".sst" && file.extension() != ".blob") continue;
    const uintmax_t size = it->file_size(ec);
    if (!ec) bytes += size;
    ec.clear();
  }
  return bytes;
}

// The floor that covers a per-session family's records, and where their
// number is.
std::pair<FloorField, NumberAt> RetentionFloorOf(Cf cf) {
  switch (cf) {
    case Cf::kCheckpoints:
    case Cf::kCheckpointData:
      return {&SessionFloors::checkpoint, NumberAt::kKey};
    case Cf::kTurns:
      return {&SessionFloors::turn, NumberAt::kKey};
    case Cf::kInputs:
      return {&SessionFloors::turn, NumberAt::kInputKey};
    case Cf::kIdempotency:
      return {&SessionFloors::turn, NumberAt::kValue};
    case Cf::kUsage:
      return {&SessionFloors::usage, NumberAt::kKey};
    default:
      return {nullptr, NumberAt::kKey};
  }
}

// True when another process holds the store's RocksDB LOCK (an fcntl write
// lock). F_GETLK only asks; it takes nothing.
bool LockedByAnotherProcess(const std::string& dir) {
  const std::string lock_path = dir + "/LOCK";
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held =
      ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

Status PrepareDirectory(const Options& options, const std::string& path,
                        bool read_only) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  const bool has_store = fs::exists(path + "/CURRENT", ec);
  if (read_only || !options.create_if_missing) {
    if (!has_store) {
      return Status::NotFound(fmt::format("no agentlog store at '{}'", path));
    }
    return Status::OK();
  }
  if (has_store && options.error_if_exists) {
    return Status::AlreadyExists(fmt::format(
        "a store exists at '{}' (Options::error_if_exists is set)", path));
  }
  if (!exists) {
    fs::create_directories(path, ec);
    if (ec) {
      return Status::IOError(fmt::format(
          "cannot create store directory '{}': {}", path, ec.message()));
    }
    // Conversations and costs are private: the owner alone may enter.
    if (::chmod(path.c_str(), 0700) != 0) {
      return Status::IOError(
          fmt::format("cannot set mode 0700 on store directory '{}'", path));
    }
  } else if (!fs::is_directory(path, ec)) {
    return Status::InvalidArgument(
        fmt::format("store path '{}' exists and is not a directory", path));
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<StoreImpl>> StoreImpl::OpenImpl(const Options& options,
                                                       std::string_view path,
                                                       bool read_only) {
  return OpenOn(options, path, read_only, rocksdb::FileSystem::Default());
}

Result<std::unique_ptr<StoreImpl>> StoreImpl::TEST_OpenOnFileSystem(
    const Options& options, std::string_view path,
    std::shared_ptr<rocksdb::FileSystem> file_system) {
  return OpenOn(options, path, false, std::move(file_system));
}

Result<std::unique_ptr<StoreImpl>> StoreImpl::OpenOn(
    const Options& options, std::string_view path, bool read_only,
    std::shared_ptr<rocksdb::FileSystem> file_system) {
  const auto start = std::chrono::steady_clock::now();
  AGENTLOG_RETURN_IF_ERROR(ValidateOptions(options));
  // Open starts threads and sizes its memory from the store: the system
  // refusing either (std::system_error, std::bad_alloc) must not throw
  // through the API. A half-open store closes on the way out, as after any
  // error of Initialise, writing nothing (open_complete_).
  try {
    std::unique_ptr<StoreImpl> store(new StoreImpl);
    AGENTLOG_RETURN_IF_ERROR(
        store->Initialise(options, path, read_only, std::move(file_system)));
    store->report_.duration =
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);
    store->StartRetentionTask();
    store->open_complete_ = true;
    return store;
  } catch (const std::exception& e) {
    return Status::ResourceExhausted(
        fmt::format("cannot open store '{}': {}", path, e.what()));
  }
}

Status StoreImpl::Initialise(const Options& options, std::string_view path,
                             bool read_only,
                             std::shared_ptr<rocksdb::FileSystem> file_system) {
  options_ = options;
  clock_ = options.clock ? options.clock : SystemClock();
  active_ = std::make_shared<ActiveSessions>(options.max_active_sessions,
                                             clock_);
  path_ = std::string(path);
  if (path_.empty()) {
    return Status::InvalidArgument("store path is empty");
  }
  AGENTLOG_RETURN_IF_ERROR(PrepareDirectory(options, path_, read_only));

  rocksdb::DBOptions dbo = DbOptionsFor(options);
  if (!read_only) {
    env_ = NewPrivateEnv(std::move(file_system));
    dbo.env = env_.get();
  }
  // The session index is not built yet: the cache starts with the split of
  // an empty store and shrinks to the final one after the recovery scan.
  const MemoryPlan plan = PlanMemory(options, 0);
  block_cache_ = rocksdb::NewLRUCache(plan.block_cache_capacity);
  const std::shared_ptr<rocksdb::Cache>& cache = block_cache_;
  if (plan.memtable_limit > 0) {
    // Charging memtables to the cache makes one number bound both: data
    // blocks give way to memtables. No stall: a write that would wait for
    // a flush to free memory could wait on a reader pinning memtables; the
    // limit triggers flushes, and thresholds report what overshoots.
    write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(
        plan.memtable_limit, block_cache_, /*allow_stall=*/false);
    dbo.write_buffer_manager = write_buffers_;
  }
  memory_ = std::make_unique<MemoryMonitor>(options, plan);
  Options family_options = options;
  family_options.write_buffer_bytes = plan.write_buffer_bytes;

  // Open every column family the store has (RocksDB requires it) plus the
  // ones this version adds; unknown names (a newer writer) get default
  // options and are refused by the format check below.
  std::vector<std::string> existing;
  rocksdb::DB::ListColumnFamilies(dbo, path_, &existing).PermitUncheckedError();
  std::vector<std::string> names = existing;
  if (!read_only) {
    for (std::string_view known : kCfNames) {
      if (std::find(names.begin(), names.end(), known) == names.end()) {
        names.emplace_back(known);
      }
    }
  }
  if (names.empty()) names.emplace_back(rocksdb::kDefaultColumnFamilyName);
  // Every per-session family drops the records of evicted sessions, and
  // those below the floor that covers them.
  for (Cf cf : kPerSessionCfs) {
    const auto [floor, number_at] = RetentionFloorOf(cf);
    retention_filters_[static_cast<size_t>(cf)] =
        std::make_shared<RetentionFilterFactory>(std::string(CfName(cf)),
                                                 retention_, floor, number_at);
  }
  retention_filters_[static_cast<size_t>(Cf::kRunOnce)] =
      std::make_shared<ExpiryFilterFactory>(std::string(CfName(Cf::kRunOnce)),
                                            clock_);
  // Holding compactions back costs writers a stall once the scan is done:
  // turning them on again is a SetOptions per family, and RocksDB 7.8 holds
  // every writer while each writes and syncs an OPTIONS file (about 80 ms
  // of stalled appends after the open of a small store). It pays only where
  // the scan is long, in a large store.
  const bool hold_compactions =
      !read_only && TableBytes(path_) >= hold_compactions_from.load();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    const auto cf = CfFromName(name);
    descriptors.emplace_back(
        name, cf ? ColumnFamilyOptionsFor(
                       *cf, family_options, cache,
                       retention_filters_[static_cast<size_t>(*cf)],
                       insert_hints_on_)
                 : rocksdb::ColumnFamilyOptions());
    // Compactions a store left due (the flush at close can fill level 0)
    // would start inside DB::Open and take the cores the recovery scan
    // needs: in a large store they start when the scan is done
    // (EnableAutoCompaction below).
    descriptors.back().options.disable_auto_compactions = hold_compactions;
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (!read_only) {
    mode_ = AccessMode::kReadWrite;
    s = rocksdb::DB::Open(rocksdb::Options(dbo, rocksdb::ColumnFamilyOptions()),
                          path_, descriptors, &owned_handles_, &raw);
  } else if (LockedByAnotherProcess(path_)) {
    mode_ = AccessMode::kSecondary;
    std::error_code ec;
    const fs::path temp = fs::temp_directory_path(ec);
    if (ec) {
      return Status::IOError(
          "no temporary directory for the secondary instance (TMPDIR): " +
          ec.message());
    }
    std::string tmpl = temp / "agentlog-secondary-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Status::IOError(
          "cannot create a directory for the secondary instance under " +
          temp.string() + ": " + std::strerror(errno));
    }
    secondary_dir_ = tmpl;
    dbo.max_open_files = -1;  // Required by secondary instances.
    s = rocksdb::DB::OpenAsSecondary(
        rocksdb::Options(dbo, rocksdb::ColumnFamilyOptions()), path_,
        secondary_dir_, descriptors, &owned_handles_, &raw);
    if (s.ok()) s = raw->TryCatchUpWithPrimary();
  } else {
    mode_ = AccessMode::kReadOnly;
    s = rocksdb::DB::OpenForReadOnly(
        rocksdb::Options(dbo, rocksdb::ColumnFamilyOptions()), path_,
        descriptors, &owned_handles_, &raw);
  }
  db_.reset(raw);
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(s, "open store '" + path_ + "'"));
  // The WAL is replayed: from here on, only this library's writes, which
  // delete no range where hints are taken. A reader replays a writer's WAL
  // as it grows, so keeps them off.
  if (mode_ == AccessMode::kReadWrite) insert_hints_on_->store(true);
  for (rocksdb::ColumnFamilyHandle* h : owned_handles_) {
    if (auto cf = CfFromName(h->GetName())) {
      handles_[static_cast<size_t>(*cf)] = h;
    }
  }
  report_.created = existing.empty();
  if (mode_ == AccessMode::kReadWrite && !RestrictFilesIn(path_)) {
    return Status::IOError(
        fmt::format("cannot set mode 0600 on the files of store '{}'", path_));
  }
  AGENTLOG_RETURN_IF_ERROR(CheckFormatVersion());
  rocksdb::WriteBatch upgrade;
  AGENTLOG_RETURN_IF_ERROR(Recover(&upgrade));
  AGENTLOG_RETURN_IF_ERROR(Upgrade(&upgrade));
  if (mode_ == AccessMode::kReadWrite) {
    // Totals replayed from records are written now, not at the next flush.
    AGENTLOG_RETURN_IF_ERROR(usage_buffer_->Flush());
    StartRecordedIds();
  }
  AGENTLOG_RETURN_IF_ERROR(LoadUsageState());
  if (mode_ == AccessMode::kReadWrite) {
    // RocksDB 7.8 writes and syncs an OPTIONS file for each family's
    // SetOptions: 13 of them were 0.2 s of an open at 10^6 sessions, nearly
    // all of it waiting on the disk, and serving needs none of it. An
    // error only means a file not written: the options change in memory
    // before RocksDB writes anything, and agentlog never reads OPTIONS
    // files (every open passes its own options).
    if (hold_compactions) {
      compactions_on_ = std::thread([this] {
        db_->EnableAutoCompaction(owned_handles_).PermitUncheckedError();
      });
    }
    syncer_ = std::make_unique<WalSyncer>(
        [this] { return SyncWalAndRetention().ok(); }, options.sync_interval);
    track_reads_ = options.reads_count_as_activity;
  }
  if (options.memory_budget_bytes > 0) {
    // The parts outside the cache are known now: the final split.
    uint64_t table_readers = 0;
    db_->GetAggregatedIntProperty("rocksdb.estimate-table-readers-mem",
                                  &table_readers);
    const MemoryPlan final_plan = PlanMemory(
        options, index_.MemoryBytes() + table_readers +
                     (recorded_ids_ ? recorded_ids_->MemoryBytes() : 0));
    block_cache_->SetCapacity(final_plan.block_cache_capacity);
    write_buffers_->SetBufferSize(final_plan.memtable_limit);
    memory_->SetPlan(final_plan);
    memory_task_ = std::make_unique<PeriodicTask>(
        [this] { MemoryUsage().status().IgnoreError(); },
        options.memory_check_interval);
  }
  return Status::OK();
}

Status StoreImpl::CheckFormatVersion() {
  rocksdb::ColumnFamilyHandle* meta = handle(Cf::kMeta);
  std::string value;
  rocksdb::Status s =
      meta ? db_->Get(rocksdb::ReadOptions(), meta, kFormatVersionKey, &value)
           : rocksdb::Status::NotFound();
  if (s.IsNotFound()) {
    // A store is stamped in its first open; a crash between RocksDB
    // creating the column families and the stamp leaves a store with no
    // version and no sessions, which is still new.
    if (mode_ != AccessMode::kReadWrite ||
        (!report_.created && !ColumnFamilyEmpty(Cf::kSessions))) {
      return Status::FailedPrecondition(fmt::format(
          "'{}' is a RocksDB directory without an agentlog format version; "
          "it is not an agentlog store",
          path_));
    }
    std::string encoded;
    AppendU64(&encoded, kFormatVersion);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    AGENTLOG_RETURN_IF_ERROR(
        FromRocksDB(db_->Put(wo, meta, kFormatVersionKey, encoded),
                    "write format version"));
    report_.format_version = kFormatVersion;
    return Status::OK();
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(s, "read format version"));
  if (value.size() != 8) {
    return Status::Corruption(fmt::format(
        "meta/format_version is {} bytes; expected 8", value.size()));
  }
  const uint64_t version = DecodeU64(value);
  if (version > kFormatVersion) {
    return Status::FailedPrecondition(fmt::format(
        "store '{}' has format version {}; this library reads versions up to "
        "{}: upgrade agentlog to open it",
        path_, version, kFormatVersion));
  }
  if (version < 1) {
    return Status::Corruption(fmt::format("meta/format_version is {}", version));
  }
  // Older versions are stamped by Upgrade, after Recover.
  report_.format_version = static_cast<uint32_t>(version);
  return Status::OK();
}

Status StoreImpl::Upgrade(rocksdb::WriteBatch* batch) {
  if (mode_ != AccessMode::kReadWrite ||
      report_.format_version >= kFormatVersion) {
    return Status::OK();
  }
  // 1 -> 2 added the checkpoint column families, 3 -> 4 run_once and 5 -> 6
  // the usage families (open has just created them); 2 -> 3 added the lease
  // fields of sessions and 4 -> 5 the echo fields of sessions and turns,
  // which read as 0 (no lease, no verdict) in older records. 6 -> 7 added
  // the totals marks, which Recover put in `batch`; 7 -> 8 eviction stubs,
  // which only a version-8 library reads as gone; 8 -> 9 the age floors of
  // sessions, which read as 0 (nothing pruned); 9 -> 10 message ids past
  // the totals marks, which a version-9 store has in usage_ids already. The
  // stamp, in the same batch, is what keeps older libraries, which would
  // drop the new fields when rewriting a record, away from the store.
  std::string encoded;
  AppendU64(&encoded, kFormatVersion);
  batch->Put(handle(Cf::kMeta), kFormatVersionKey, encoded)
      .PermitUncheckedError();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(db_->Write(wo, batch), "write format version"));
  report_.format_version = kFormatVersion;
  return Status::OK();
}

bool StoreImpl::ColumnFamilyEmpty(Cf cf) {
  rocksdb::ColumnFamilyHandle* h = handle(cf);
  if (h == nullptr) return true;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), h));
  it->SeekToFirst();
  return !it->Valid();
}

Status StoreImpl::Recover(rocksdb::WriteBatch* upgrade) {
  report_.last_sequence = db_->GetLatestSequenceNumber();
  rates_ = std::make_unique<RateWindows>(options_.max_rate_window);
  rocksdb::ColumnFamilyHandle* totals_cf = handle(Cf::kUsageTotals);
  if (totals_cf != nullptr) {
    // The usage families come together (format 6).
    usage_buffer_ = std::make_unique<UsageBuffer>(
        db_.get(), totals_cf, handle(Cf::kUsageIds), rates_.get(),
        mode_ == AccessMode::kReadWrite);
  }
  rocksdb::ColumnFamilyHandle* sessions = handle(Cf::kSessions);
  if (sessions == nullptr) return Status::OK();
  // Before format 7 every record's totals were merged in the record's own
  // batch: the totals on disk include every record.
  const bool marked = report_.format_version >= 7;
  // After a clean close every mark is current: reading 10^6 of them was a
  // third of the opening thread's time, for nothing to replay.
  read_totals_marks_ =
      marked && totals_cf != nullptr && !TotalsCurrentSinceClose();
  // One pass over every session: leave the block cache to the blocks a
  // service reads again, and read ahead in large steps rather than a block
  // at a time (a fifth less time for the scan at 10^6 sessions).
  rocksdb::ReadOptions scan;
  scan.fill_cache = false;
  scan.readahead_size = 4 << 20;
  scan.adaptive_readahead = true;
  // Marks sort by session id, like sessions: one pass over each.
  std::unique_ptr<rocksdb::Iterator> marks;
  if (read_totals_marks_) {
    marks.reset(db_->NewIterator(scan, totals_cf));
    marks->Seek(std::string(1, kTotalsMarkByte));
  }
  auto mark_of = [&](const SessionView& s) -> uint64_t {
    for (; marks != nullptr && marks->Valid(); marks->Next()) {
      const auto id = ParseTotalsMarkKey(marks->key().ToStringView());
      if (!id || *id < s.id) continue;  // Verify names a stray one.
      if (*id > s.id) break;
      const std::optional<uint64_t> mark =
          DecodeTotalsMark(marks->value().ToStringView());
      if (!mark) {
        report_.corrupt_records.push_back(fmt::format(
            "usage_totals/mark/{} is {} bytes; expected 8", s.id.ToString(),
            marks->value().size()));
        return s.usage_records;
      }
      return *mark;
    }
    return 0;
  };
  uint64_t estimate = 0;
  if (db_->GetIntProperty(sessions, rocksdb::DB::Properties::kEstimateNumKeys,
                          &estimate)) {
    // An estimate (overwrites in memtables count): bounded, a hint only.
    index_.ReserveCapacity(
        std::min<uint64_t>(estimate + estimate / 8, uint64_t{1} << 24));
  }
  // RocksDB's iteration of the records runs on the scan's thread; this one
  // decodes, indexes and reads the marks (the two halves of the work are
  // then about equal). Everything open reports and decides is done here,
  // record by record in key order.
  SessionScan records(db_.get(), scan, sessions);
  // Recovery needs a few fields of each record: read them in place rather
  // than build a Session (strings, vectors) a million times.
  SessionViewDecoder decoder;
  while (const ScannedSession* record = records.Next()) {
    if (!record->id) {
      report_.corrupt_records.push_back(
          fmt::format("sessions key {} is not a 16-byte session id",
                      Hex(record->key)));
      continue;
    }
    const SessionId& id = *record->id;
    Result<SessionView> session = decoder.Decode(id, record->value);
    if (!session.ok()) {
      ++report_.sessions;
      // Keep opening: the other sessions are fine, and an operator must be
      // able to open the store to look. Reads of this one fail with the
      // same Corruption.
      report_.corrupt_records.push_back(session.status().message());
      continue;
    }
    if (session->status == SessionStatus::kEvicted) {
      // Found on disk, so durable: the filters may drop its records.
      retention_->Durable(id, {.evicted = true});
      continue;
    }
    ++report_.sessions;
    index_.Load(*session);
    // Usage times never go back (UsageNow), across a restart too: a
    // session's last activity is a time the store's clock had reached, and
    // the latest of them is at or past every usage time recorded.
    if (session->last_active_ms >
        usage_clock_ms_.load(std::memory_order_relaxed)) {
      usage_clock_ms_.store(session->last_active_ms,
                            std::memory_order_relaxed);
    }
    active_->AddMetadataBytes(static_cast<int64_t>(session->metadata_bytes));
    for (uint64_t n : session->processing_turns) {
      report_.processing_turns.push_back({id, n});
    }
    // What open finds on disk is durable: after WAL replay RocksDB flushes
    // the recovered writes before it returns.
    if (session->oldest_checkpoint > 1 || session->oldest_turn > 1 ||
        session->oldest_usage > 1) {
      retention_->Durable(id, {.checkpoint = session->oldest_checkpoint,
                               .turn = session->oldest_turn,
                               .usage = session->oldest_usage});
    }
    if (session->usage_records > 0 && usage_buffer_ != nullptr) {
      if (read_totals_marks_) {
        const uint64_t mark = mark_of(*session);
        if (mark < session->usage_records) {
          // Totals lag the records (a crash before their flush): rare, so
          // the replay gets the whole record, as the rest of the store does.
          Result<Session> full = DecodeSession(id, record->value);
          AGENTLOG_RETURN_IF_ERROR(full.status());
          AGENTLOG_RETURN_IF_ERROR(ReplayUsage(*full, mark, nullptr));
        }
      } else if (!marked && mode_ == AccessMode::kReadWrite) {
        upgrade
            ->Put(totals_cf, TotalsMarkKey(id),
                  EncodeTotalsMark(session->usage_records))
            .PermitUncheckedError();
      }
    }
  }
  index_.FinishLoad();
  if (marks != nullptr) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(marks->status(), "scan totals marks"));
  }
  return records.status();
}

bool StoreImpl::TotalsCurrentSinceClose() {
  rocksdb::ColumnFamilyHandle* meta = handle(Cf::kMeta);
  if (meta == nullptr) return false;
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta, kTotalsClosedAtKey, &value);
  // Anything unexpected (an error, a value of another size) reads the
  // marks, as a store without the key does.
  return s.ok() && value.size() == 8 &&
         DecodeU64(value) == db_->GetLatestSequenceNumber();
}

void StoreImpl::WriteTotalsClosedAt() {
  // Nothing else writes now: this Put takes the next sequence number. Were
  // that wrong, the value would never match and open would read the marks.
  std::string value;
  AppendU64(&value, db_->GetLatestSequenceNumber() + 1);
  db_->Put(rocksdb::WriteOptions(), handle(Cf::kMeta), kTotalsClosedAtKey,
           value)
      .PermitUncheckedError();  // Without it, open reads the marks.
}

void StoreImpl::TEST_SetHoldCompactionsFrom(uint64_t table_bytes) {
  hold_compactions_from.store(table_bytes);
}

void StoreImpl::TEST_WaitForCompactionsEnabled() {
  if (compactions_on_.joinable()) compactions_on_.join();
}

void StoreImpl::StartRecordedIds() {
  // The ids open replayed are in `usage_ids` now (Flush), and every id
  // queued from here on is added as it is (AccountUsage).
  rocksdb::ColumnFamilyHandle* ids = handle(Cf::kUsageIds);
  uint64_t on_disk = 0;
  db_->GetIntProperty(ids, rocksdb::DB::Properties::kEstimateNumKeys,
                      &on_disk);
  recorded_ids_ = std::make_unique<RecordedIdFilter>(on_disk);
  // In the background: at 10^6 ids the scan takes a fraction of a second
  // the open need not wait for; until it ends, writers look ids up as
  // before. A scan that fails leaves them doing so until the next open.
  recorded_ids_loader_ = std::jthread([this, ids](std::stop_token stop) {
    recorded_ids_->Load(db_.get(), ids, stop).IgnoreError();
  });
}

bool StoreImpl::TEST_WaitForRecordedIds() {
  return recorded_ids_ != nullptr && recorded_ids_->WaitUntilLoaded();
}

StoreImpl::~StoreImpl() {
  // Before anything they use goes (db_, owned_handles_).
  if (compactions_on_.joinable()) compactions_on_.join();
  if (recorded_ids_loader_.joinable()) {
    recorded_ids_loader_.request_stop();
    recorded_ids_loader_.join();
  }
  stop_retention_.store(true, std::memory_order_relaxed);
  retention_task_.reset();  // Before anything it uses goes.
  memory_task_.reset();
  syncer_.reset();
  if (db_ != nullptr) {
    // Its thread writes to db_: stopped before db_ closes.
    if (usage_buffer_ != nullptr) usage_buffer_->StopFlusher();
    if (mode_ == AccessMode::kReadWrite && open_complete_) {
      // Pending totals would be replayed at the next open anyway; writing
      // them spares it the work.
      const bool totals_flushed =
          usage_buffer_ == nullptr || usage_buffer_->Flush().ok();
      // Reads since the last retention pass become activity on disk.
      FlushReads().IgnoreError();
      // Last: the next open reads no marks while no write follows it. A
      // close after no write leaves the store as it found it.
      if (totals_flushed && handle(Cf::kMeta) != nullptr &&
          !TotalsCurrentSinceClose()) {
        WriteTotalsClosedAt();
      }
      // Make buffered writes durable: closing is a promise point for hosts.
      db_->SyncWAL().PermitUncheckedError();
      // And leave nothing in the memtables, so that the next open replays
      // no WAL: with large write buffers, replay costs seconds at open.
      rocksdb::FlushOptions flush;
      flush.allow_write_stall = true;
      db_->Flush(flush, owned_handles_).PermitUncheckedError();
    }
    for (rocksdb::ColumnFamilyHandle* h : owned_handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(secondary_dir_, ec);
  }
}

Status StoreImpl::SyncWal() {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  return SyncWalAndRetention();
}

Status StoreImpl::SyncWalAndRetention() {
  const uint64_t ticket = retention_->BeforeSync();
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(db_->SyncWAL(), "sync WAL"));
  retention_->AfterSync(ticket);
  return Status::OK();
}

Status StoreImpl::CheckWritable() const {
  if (mode_ != AccessMode::kReadWrite) {
    return Status::FailedPrecondition(
        fmt::format("store '{}' is open read-only; writes are refused", path_));
  }
  return Status::OK();
}

Result<StoreInfo> StoreImpl::Info() {
  StoreInfo info;
  info.path = path_;
  info.mode = mode_;
  info.format_version = report_.format_version;
  info.last_sequence = db_->GetLatestSequenceNumber();
  for (size_t i = 0; i < handles_.size(); ++i) {
    rocksdb::ColumnFamilyHandle* h = handles_[i];
    if (h == nullptr || static_cast<Cf>(i) == Cf::kDefault) continue;
    ColumnFamilyInfo cf;
    cf.name = std::string(kCfNames[i]);
    auto property = [&](const std::string& name) {
      uint64_t v = 0;
      db_->GetIntProperty(h, name, &v);
      return v;
    };
    cf.estimated_keys = property("rocksdb.estimate-num-keys");
    cf.sst_bytes = property("rocksdb.live-sst-files-size");
    cf.blob_bytes = property("rocksdb.live-blob-file-size");
    cf.memtable_bytes = property("rocksdb.cur-size-all-mem-tables");
    if (retention_filters_[i] != nullptr) {
      cf.retention_dropped = retention_filters_[i]->dropped();
    }
    info.column_families.push_back(std::move(cf));
  }
  info.sessions = index_.live();
  return info;
}

}  // namespace internal
}  // namespace agentlog
