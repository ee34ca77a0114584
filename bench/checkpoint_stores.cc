// The three checkpoint stores of checkpoint_bench (docs/benchmarks.md).

#include "checkpoint_stores.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "agentlog/agentlog.h"
#include "column_families.h"
#include "keys.h"

namespace agentlog::bench {
namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- agentlog ----------------------------------------------------------------

class AgentlogCheckpoints final : public CheckpointStore {
 public:
  static std::unique_ptr<CheckpointStore> Open(const std::string& dir,
                                               std::string* error) {
    Options options;
    // Acknowledged once in the WAL, fsynced every 100 ms by a background
    // thread: the peers' unsynced writes are the fair comparison. Every
    // other option stays at its default, keep-last 10 included, so that
    // retention decides and drops versions as in production.
    options.durability = Durability::kBuffered;
    auto store = Store::Open(options, dir);
    if (!store.ok()) {
      *error = store.status().ToString();
      return nullptr;
    }
    SessionSpec spec;
    spec.agent = "bench-agent";
    spec.model = "bench-model-2025";
    spec.title = "checkpoint benchmark session";
    auto session = (*store)->CreateSession(spec);
    if (!session.ok()) {
      *error = session.status().ToString();
      return nullptr;
    }
    auto out = std::unique_ptr<AgentlogCheckpoints>(new AgentlogCheckpoints);
    out->store_ = std::move(*store);
    out->session_ = session->id;
    return out;
  }

  bool Put(std::string_view payload, std::string* error) override {
    const auto info =
        store_->PutCheckpoint(session_, CheckpointSpec{.payload = payload});
    if (info.ok()) return true;
    *error = info.status().ToString();
    return false;
  }

  bool Get(uint64_t version, std::string* payload,
           std::string* error) override {
    auto checkpoint = store_->GetCheckpoint(session_, version);
    if (!checkpoint.ok()) {
      *error = checkpoint.status().ToString();
      return false;
    }
    // A move: the bytes agentlog decoded are the caller's, no copy.
    *payload = std::move(checkpoint->payload);
    return true;
  }

  bool Settle(std::string* error) override {
    const Status s = store_->Compact();
    if (s.ok()) return true;
    *error = s.ToString();
    return false;
  }

 private:
  AgentlogCheckpoints() = default;

  std::unique_ptr<Store> store_;
  SessionId session_;
};

// --- raw RocksDB -------------------------------------------------------------

class RocksDbCheckpoints final : public CheckpointStore {
 public:
  static std::unique_ptr<CheckpointStore> Open(const std::string& dir,
                                               std::string* error) {
    const Options defaults;
    // agentlog's own DB options and its checkpoint_data column family
    // (BlobDB from 4 KiB, 64 MiB blob files, blob GC, no compression), minus
    // retention's compaction filter: the floor differs from agentlog only by
    // agentlog's own work (LZ4, XXH3, header and session records,
    // retention).
    rocksdb::DBOptions dbo = internal::DbOptionsFor(defaults);
    const std::shared_ptr<rocksdb::Cache> cache =
        rocksdb::NewLRUCache(defaults.block_cache_bytes);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName,
                     rocksdb::ColumnFamilyOptions());
    cfs.emplace_back(
        std::string(internal::CfName(internal::Cf::kCheckpointData)),
        internal::ColumnFamilyOptionsFor(internal::Cf::kCheckpointData,
                                         defaults, cache));
    auto out = std::unique_ptr<RocksDbCheckpoints>(new RocksDbCheckpoints);
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s =
        rocksdb::DB::Open(dbo, dir, cfs, &out->handles_, &db);
    if (!s.ok()) {
      *error = s.ToString();
      return nullptr;
    }
    out->db_.reset(db);
    out->write_options_.sync = false;
    // agentlog's key: 16-byte session id, 8-byte big-endian version.
    out->id_ = SessionId::Generate(NowMillis());
    return out;
  }

  ~RocksDbCheckpoints() override {
    if (db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  bool Put(std::string_view payload, std::string* error) override {
    const std::string key = internal::CheckpointKey(id_, last_ + 1);
    const rocksdb::Status s =
        db_->Put(write_options_, handles_[kData], key,
                 rocksdb::Slice(payload.data(), payload.size()));
    if (s.ok()) {
      ++last_;
      return true;
    }
    *error = s.ToString();
    return false;
  }

  bool Get(uint64_t version, std::string* payload,
           std::string* error) override {
    const std::string key = internal::CheckpointKey(id_, version);
    rocksdb::PinnableSlice value;
    const rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), handles_[kData], key, &value);
    if (!s.ok()) {
      *error = s.ToString();
      return false;
    }
    // The slice points into RocksDB's memory (a pinned block or blob
    // buffer), gone once `value` is; a caller that keeps the bytes, as
    // agentlog's callers do, needs this copy.
    payload->assign(value.data(), value.size());
    return true;
  }

  bool Settle(std::string* error) override {
    // What agentlog's Store::Compact asks of the same column family.
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForceOptimized;
    cro.blob_garbage_collection_policy =
        rocksdb::BlobGarbageCollectionPolicy::kForce;
    cro.blob_garbage_collection_age_cutoff = 1.0;
    const rocksdb::Status s =
        db_->CompactRange(cro, handles_[kData], nullptr, nullptr);
    if (s.ok()) return true;
    *error = s.ToString();
    return false;
  }

 private:
  enum CfIndex { kDefault, kData };
  RocksDbCheckpoints() = default;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  SessionId id_;
  uint64_t last_ = 0;  // The newest version.
};

// --- SQLite ------------------------------------------------------------------

constexpr const char* kSqliteSchema = R"sql(
CREATE TABLE checkpoints (
  session BLOB NOT NULL,
  version INTEGER NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY (session, version)
);
)sql";

class SqliteCheckpoints final : public CheckpointStore {
 public:
  static std::unique_ptr<CheckpointStore> Open(const std::string& dir,
                                               std::string* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      *error = "create " + dir + ": " + ec.message();
      return nullptr;
    }
    auto out = std::unique_ptr<SqliteCheckpoints>(new SqliteCheckpoints);
    out->id_ = SessionId::Generate(NowMillis());
    if (!out->Connect(dir + "/bench.sqlite", error)) return nullptr;
    return out;
  }

  ~SqliteCheckpoints() override {
    // Statements must be finalized before their connection closes.
    for (sqlite3_stmt* stmt :
         {begin_, insert_, prune_, commit_, rollback_, select_}) {
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db_);
  }

  bool Put(std::string_view payload, std::string* error) override {
    const int64_t version = static_cast<int64_t>(last_ + 1);
    if (Step(begin_) != SQLITE_DONE) return Fail("BEGIN IMMEDIATE", error);
    // SQLITE_STATIC: SQLite reads the bytes during the step, no copy first.
    sqlite3_bind_int64(insert_, 2, version);
    sqlite3_bind_blob64(insert_, 3, payload.data(), payload.size(),
                        SQLITE_STATIC);
    const int inserted = Step(insert_);
    sqlite3_bind_null(insert_, 3);  // `payload` may not outlive this call.
    if (inserted != SQLITE_DONE) return Fail("INSERT", error);
    // Keep the last kKeepLast versions, as agentlog's retention does (which
    // only marks them and lets compaction drop them).
    sqlite3_bind_int64(prune_, 2,
                       std::max<int64_t>(0, version - int64_t{kKeepLast}));
    if (Step(prune_) != SQLITE_DONE) return Fail("DELETE", error);
    if (Step(commit_) != SQLITE_DONE) return Fail("COMMIT", error);
    last_ = static_cast<uint64_t>(version);
    return true;
  }

  bool Get(uint64_t version, std::string* payload,
           std::string* error) override {
    sqlite3_bind_int64(select_, 2, static_cast<int64_t>(version));
    const int rc = sqlite3_step(select_);
    if (rc != SQLITE_ROW) {
      *error = rc == SQLITE_DONE
                   ? "version " + std::to_string(version) + " not found"
                   : std::string("SELECT: ") + sqlite3_errmsg(db_);
      sqlite3_reset(select_);
      return false;
    }
    // The blob lives in SQLite's memory until the reset: copy it out.
    const void* bytes = sqlite3_column_blob(select_, 0);
    const int size = sqlite3_column_bytes(select_, 0);
    payload->assign(static_cast<const char*>(bytes), static_cast<size_t>(size));
    sqlite3_reset(select_);
    return true;
  }

  bool Settle(std::string* error) override {
    return Exec("PRAGMA wal_checkpoint(TRUNCATE)", error);
  }

 private:
  SqliteCheckpoints() = default;

  // Steps `stmt` once and resets it (bindings stay).
  static int Step(sqlite3_stmt* stmt) {
    const int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc;
  }

  bool Fail(const char* what, std::string* error) {
    *error = std::string(what) + ": " + sqlite3_errmsg(db_);
    if (!sqlite3_get_autocommit(db_)) Step(rollback_);
    return false;
  }

  bool Exec(const char* sql, std::string* error) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) {
      return true;
    }
    *error =
        std::string(sql) + ": " + (message ? message : sqlite3_errmsg(db_));
    sqlite3_free(message);
    return false;
  }

  bool Prepare(const char* sql, sqlite3_stmt** stmt, std::string* error) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt,
                           nullptr) == SQLITE_OK) {
      return true;
    }
    *error = std::string(sql) + ": " + sqlite3_errmsg(db_);
    return false;
  }

  bool Connect(const std::string& path, std::string* error) {
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      *error = "open " + path + ": " + sqlite3_errmsg(db_);
      return false;
    }
    // synchronous=NORMAL in WAL mode: commits reach the WAL unsynced, which
    // is fsynced at WAL checkpoints, like agentlog's kBuffered.
    if (!Exec("PRAGMA journal_mode=WAL", error) ||
        !Exec("PRAGMA synchronous=NORMAL", error) ||
        !Exec(kSqliteSchema, error)) {
      return false;
    }
    if (!Prepare("BEGIN IMMEDIATE", &begin_, error) ||
        !Prepare("INSERT INTO checkpoints (session, version, payload) "
                 "VALUES (?1, ?2, ?3)",
                 &insert_, error) ||
        !Prepare("DELETE FROM checkpoints WHERE session = ?1 AND version <= ?2",
                 &prune_, error) ||
        !Prepare("COMMIT", &commit_, error) ||
        !Prepare("ROLLBACK", &rollback_, error) ||
        !Prepare("SELECT payload FROM checkpoints "
                 "WHERE session = ?1 AND version = ?2",
                 &select_, error)) {
      return false;
    }
    // `id_` lives as long as the statements.
    const void* id = id_.bytes().data();
    for (sqlite3_stmt* stmt : {insert_, prune_, select_}) {
      sqlite3_bind_blob(stmt, 1, id, SessionId::kBytes, SQLITE_STATIC);
    }
    return true;
  }

  SessionId id_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* prune_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
  uint64_t last_ = 0;  // The newest version.
};

}  // namespace

std::unique_ptr<CheckpointStore> OpenAgentlogCheckpoints(const std::string& dir,
                                                         std::string* error) {
  return AgentlogCheckpoints::Open(dir, error);
}

std::unique_ptr<CheckpointStore> OpenRocksDbCheckpoints(const std::string& dir,
                                                        std::string* error) {
  return RocksDbCheckpoints::Open(dir, error);
}

std::unique_ptr<CheckpointStore> OpenSqliteCheckpoints(const std::string& dir,
                                                       std::string* error) {
  return SqliteCheckpoints::Open(dir, error);
}

}  // namespace agentlog::bench
