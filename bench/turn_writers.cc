// The three turn writers of turn_append_bench (docs/benchmarks.md).

#include "turn_writers.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "agentlog/agentlog.h"
#include "column_families.h"
#include "keys.h"
#include "record_codec.h"

namespace agentlog::bench {
namespace {

const TurnUsage kUsage = {
    .tokens = {.input = 1200,
               .output = 350,
               .cache_read = 800,
               .cache_write = 0},
    .cost_micros = 4200,
};

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Prose-like ASCII of exactly `bytes` bytes: LZ4 and the page cache then see
// roughly what they would see for real conversation text.
std::string MakeText(size_t bytes, uint64_t seed) {
  static constexpr const char* kWords[] = {
      "the",       "agent", "calls",  "a",   "tool",       "with",
      "arguments", "and",   "reads",  "its", "result",     "before",
      "writing",   "an",    "answer", "to",  "user",       "who",
      "asked",     "about", "files",  "in",  "repository", "then",
      "model",     "plans", "next",   "step"};
  std::string out;
  out.reserve(bytes + 16);
  while (out.size() < bytes) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    out += kWords[(seed >> 33) % std::size(kWords)];
    out += ' ';
  }
  out.resize(bytes);
  return out;
}

// Writes `n` as 16 hex digits over the start of `text`, so that every
// turn's input differs (and with it agentlog's input digest).
void StampTurn(char* text, uint64_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, n >>= 4) text[i] = kHex[n & 0xf];
}

// "t-<thread>-<n>" in `buf`; unique per turn within one store.
std::string_view IdempotencyKeyFor(char (&buf)[48], int thread, uint64_t n) {
  const int len = std::snprintf(buf, sizeof buf, "t-%d-%llu", thread,
                                static_cast<unsigned long long>(n));
  return {buf, static_cast<size_t>(len)};
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

void PutU64At(std::string* s, size_t offset, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) (*s)[offset + i] = static_cast<char>(v);
}

// The user and assistant messages of one writer thread.
struct Conversation {
  explicit Conversation(int thread) : input(1), output(1) {
    input[0].role = Role::kUser;
    input[0].content = MakeText(kMessageBytes, 2 * thread + 1);
    output[0].role = Role::kAssistant;
    output[0].content = MakeText(kMessageBytes, 2 * thread + 2);
  }
  std::vector<Message> input;
  std::vector<Message> output;
};

SessionSpec BenchSessionSpec() {
  SessionSpec spec;
  spec.agent = "bench-agent";
  spec.model = "bench-model-2025";
  spec.title = "turn append benchmark session";
  spec.context_window = 200000;
  return spec;
}

// --- agentlog ----------------------------------------------------------------

class AgentlogWriter final : public TurnWriter {
 public:
  static std::unique_ptr<TurnWriter> Open(const std::string& dir, bool synced,
                                          int threads, std::string* error) {
    Options options;
    options.durability = synced ? Durability::kSync : Durability::kBuffered;
    auto store = Store::Open(options, dir);
    if (!store.ok()) {
      *error = store.status().ToString();
      return nullptr;
    }
    auto writer = std::unique_ptr<AgentlogWriter>(new AgentlogWriter);
    writer->store_ = std::move(*store);
    writer->slots_.reserve(threads);
    for (int t = 0; t < threads; ++t) {
      auto session = writer->store_->CreateSession(BenchSessionSpec());
      if (!session.ok()) {
        *error = session.status().ToString();
        return nullptr;
      }
      writer->slots_.emplace_back(t, session->id);
    }
    return writer;
  }

  bool Append(int thread, uint64_t n, std::string* error) override {
    Slot& slot = slots_[thread];
    StampTurn(slot.conversation.input[0].content.data(), n);
    char key[48];
    auto appended = store_->AppendTurn(
        slot.session, IdempotencyKeyFor(key, thread, n),
        slot.conversation.input, slot.conversation.output, kUsage);
    if (appended.ok()) return true;
    *error = appended.status().ToString();
    return false;
  }

 private:
  struct alignas(64) Slot {
    Slot(int thread, SessionId id) : conversation(thread), session(id) {}
    Conversation conversation;
    SessionId session;
  };
  AgentlogWriter() = default;

  std::unique_ptr<Store> store_;
  std::vector<Slot> slots_;
};

// --- raw RocksDB -------------------------------------------------------------

// The values agentlog writes for one turn of `thread`, encoded by agentlog's
// own codec so that raw RocksDB writes the same number of bytes.
struct TurnRecords {
  std::string turn;     // Encoded Turn record.
  size_t text_offset;   // Where the user text starts inside `turn`.
  std::string session;  // Encoded Session record.
  std::string usage;    // Encoded UsageRecord of the turn's usage.
};

TurnRecords EncodeSampleRecords(const SessionId& id, int thread) {
  const Conversation conversation(thread);
  Turn turn;
  turn.session = id;
  turn.number = 1;
  char key[48];
  turn.idempotency_key = std::string(IdempotencyKeyFor(key, thread, 1));
  turn.status = TurnStatus::kCompleted;
  turn.input = conversation.input;
  turn.output = conversation.output;
  turn.input_digest = ComputeInputDigest(turn.input);
  turn.started_ms = turn.finished_ms = NowMillis();
  turn.usage = kUsage;

  const SessionSpec spec = BenchSessionSpec();
  Session session;
  session.id = id;
  session.agent = spec.agent;
  session.model = spec.model;
  session.title = spec.title;
  session.context_window = spec.context_window;
  session.created_ms = session.last_active_ms = turn.started_ms;
  session.turn_count = session.completed_turns = 1;
  session.tokens = kUsage.tokens;
  session.cost_micros = kUsage.cost_micros;

  TurnRecords records;
  records.turn = std::string(internal::EncodeTurn(turn).bytes());
  records.text_offset = records.turn.find(conversation.input[0].content);
  records.session = std::string(internal::EncodeSession(session).bytes());
  // The usage record agentlog writes with every turn that carries usage.
  UsageRecord usage;
  usage.session = id;
  usage.seq = 1;
  usage.turn = 1;
  usage.model = spec.model;
  usage.operation = "turn";
  usage.tokens = kUsage.tokens;
  usage.cost_micros = kUsage.cost_micros;
  usage.cost_source = CostSource::kHost;
  usage.recorded_ms = turn.finished_ms;
  records.usage = std::string(internal::EncodeUsageRecord(usage).bytes());
  return records;
}

class RocksDbWriter final : public TurnWriter {
 public:
  static std::unique_ptr<TurnWriter> Open(const std::string& dir, bool synced,
                                          int threads, std::string* error) {
    // agentlog's own DB tuning (background jobs, recovery
    // mode), so that the floor differs from agentlog only by agentlog.
    rocksdb::DBOptions dbo = internal::DbOptionsFor(Options());
    rocksdb::ColumnFamilyOptions cfo;
    cfo.write_buffer_size = Options().write_buffer_bytes;
    cfo.compression = rocksdb::kLZ4Compression;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {"default", "sessions", "turns", "idempotency", "inputs", "usage"}) {
      cfs.emplace_back(name, cfo);
    }
    auto writer = std::unique_ptr<RocksDbWriter>(new RocksDbWriter);
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s =
        rocksdb::DB::Open(dbo, dir, cfs, &writer->handles_, &db);
    if (!s.ok()) {
      *error = s.ToString();
      return nullptr;
    }
    writer->db_.reset(db);
    writer->write_options_.sync = synced;
    const int64_t now = NowMillis();
    writer->slots_.reserve(threads);
    for (int t = 0; t < threads; ++t) {
      writer->slots_.emplace_back(t, SessionId::Generate(now));
      if (writer->slots_.back().records.text_offset == std::string::npos) {
        *error = "the user text is not contiguous in the encoded turn";
        return nullptr;
      }
    }
    return writer;
  }

  ~RocksDbWriter() override {
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  bool Append(int thread, uint64_t n, std::string* error) override {
    Slot& slot = slots_[thread];
    StampTurn(slot.records.turn.data() + slot.records.text_offset, n);
    PutU64At(&slot.turn_key, SessionId::kBytes, n);
    // agentlog's input digest is a hash; a cheap one gives the same random
    // placement of keys within the session's range.
    PutU64At(&slot.input_key, SessionId::kBytes, SplitMix64(n));
    PutU64At(&slot.input_key, SessionId::kBytes + 8, SplitMix64(~n));
    PutU64At(&slot.input_key, SessionId::kBytes + 16, n);
    char key[48];
    slot.idempotency_key.resize(SessionId::kBytes);
    slot.idempotency_key.append(IdempotencyKeyFor(key, thread, n));
    PutU64At(&slot.number, 0, n);
    PutU64At(&slot.usage_key, SessionId::kBytes, n);

    rocksdb::WriteBatch& batch = slot.batch;
    batch.Clear();
    rocksdb::Status s =
        batch.Put(handles_[kTurns], slot.turn_key, slot.records.turn);
    if (s.ok()) {
      s = batch.Put(handles_[kIdempotency], slot.idempotency_key, slot.number);
    }
    if (s.ok()) s = batch.Put(handles_[kInputs], slot.input_key, "");
    if (s.ok()) s = batch.Put(handles_[kUsage], slot.usage_key, slot.records.usage);
    if (s.ok()) {
      s = batch.Put(handles_[kSessions], slot.session_key,
                    slot.records.session);
    }
    if (s.ok()) s = db_->Write(write_options_, &batch);
    if (s.ok()) return true;
    *error = s.ToString();
    return false;
  }

 private:
  enum CfIndex { kDefault, kSessions, kTurns, kIdempotency, kInputs, kUsage };

  struct alignas(64) Slot {
    Slot(int thread, SessionId id)
        : records(EncodeSampleRecords(id, thread)),
          session_key(internal::SessionKey(id)),
          turn_key(internal::TurnKey(id, 0)),
          idempotency_key(session_key),
          input_key(internal::InputKey(id, {}, 0)),
          usage_key(internal::NumberedKey(id, 0)) {}
    TurnRecords records;
    std::string session_key;                    // 16 bytes.
    std::string turn_key;                       // 24 bytes.
    std::string idempotency_key;                // 16 bytes + the key text.
    std::string input_key;                      // 40 bytes.
    std::string usage_key;                      // 24 bytes.
    std::string number = std::string(8, '\0');  // The idempotency value.
    rocksdb::WriteBatch batch;  // Reused: the fastest way to drive RocksDB.
  };
  RocksDbWriter() = default;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  std::vector<Slot> slots_;
};

// --- SQLite ------------------------------------------------------------------

constexpr const char* kSqliteSchema = R"sql(
CREATE TABLE sessions (
  id BLOB PRIMARY KEY,
  agent TEXT NOT NULL,
  model TEXT NOT NULL,
  title TEXT NOT NULL,
  turn_count INTEGER NOT NULL,
  completed_turns INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  last_active_ms INTEGER NOT NULL
);
CREATE TABLE turns (
  session BLOB NOT NULL,
  no INTEGER NOT NULL,
  idem_key TEXT,
  input TEXT NOT NULL,
  output TEXT NOT NULL,
  status INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  PRIMARY KEY (session, no)
);
CREATE UNIQUE INDEX turns_by_idem_key ON turns (session, idem_key);
)sql";

class SqliteWriter final : public TurnWriter {
 public:
  static std::unique_ptr<TurnWriter> Open(const std::string& dir, bool synced,
                                          int threads, std::string* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      *error = "create " + dir + ": " + ec.message();
      return nullptr;
    }
    auto writer = std::unique_ptr<SqliteWriter>(new SqliteWriter);
    const std::string path = dir + "/bench.sqlite";
    const int64_t now = NowMillis();
    for (int t = 0; t < threads; ++t) {
      writer->slots_.push_back(
          std::make_unique<Slot>(t, SessionId::Generate(now)));
    }
    // The first connection creates the schema and every session before the
    // others open: writers then contend only on turn commits.
    for (int t = 0; t < threads; ++t) {
      if (!writer->Connect(*writer->slots_[t], path, synced, t == 0, error)) {
        return nullptr;
      }
    }
    return writer;
  }

  ~SqliteWriter() override {
    // Statements must be finalized before their connection closes.
    for (auto& slot : slots_) {
      for (sqlite3_stmt* stmt : {slot->begin, slot->select, slot->insert,
                                 slot->update, slot->commit, slot->rollback}) {
        sqlite3_finalize(stmt);
      }
      sqlite3_close(slot->db);
    }
  }

  bool Append(int thread, uint64_t n, std::string* error) override {
    Slot& slot = *slots_[thread];
    StampTurn(slot.conversation.input[0].content.data(), n);
    char key[48];
    const std::string_view idem = IdempotencyKeyFor(key, thread, n);
    // busy_timeout already waits up to 10 s for the write lock; a host would
    // retry after that, and so does the benchmark.
    int rc;
    while ((rc = Step(slot.begin)) == SQLITE_BUSY) {
    }
    if (rc != SQLITE_DONE) return Fail(slot, "BEGIN IMMEDIATE", error);

    if (Step(slot.select) != SQLITE_ROW) {
      return Fail(slot, "SELECT turn_count", error);
    }
    const int64_t number = sqlite3_column_int64(slot.select, 0) + 1;
    sqlite3_reset(slot.select);

    const int64_t now = NowMillis();
    const auto& in = slot.conversation.input[0].content;
    const auto& out = slot.conversation.output[0].content;
    sqlite3_stmt* insert = slot.insert;
    sqlite3_bind_int64(insert, 2, number);
    sqlite3_bind_text(insert, 3, idem.data(), static_cast<int>(idem.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 4, in.data(), static_cast<int>(in.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert, 5, out.data(), static_cast<int>(out.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 11, now);
    sqlite3_bind_int64(insert, 12, now);
    if (Step(insert) != SQLITE_DONE) return Fail(slot, "INSERT turn", error);

    sqlite3_bind_int64(slot.update, 2, number);
    sqlite3_bind_int64(slot.update, 3, now);
    if (Step(slot.update) != SQLITE_DONE) {
      return Fail(slot, "UPDATE session", error);
    }
    if (Step(slot.commit) != SQLITE_DONE) return Fail(slot, "COMMIT", error);
    return true;
  }

 private:
  struct Slot {
    Slot(int thread, SessionId id) : conversation(thread), session(id) {}
    Conversation conversation;
    SessionId session;
    sqlite3* db = nullptr;
    sqlite3_stmt* begin = nullptr;
    sqlite3_stmt* select = nullptr;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* update = nullptr;
    sqlite3_stmt* commit = nullptr;
    sqlite3_stmt* rollback = nullptr;
  };
  SqliteWriter() = default;

  // Steps `stmt` once and resets it (bindings stay). For a SELECT, the
  // caller reads the row first and resets it itself.
  static int Step(sqlite3_stmt* stmt) {
    const int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) sqlite3_reset(stmt);
    return rc;
  }

  static bool Fail(Slot& slot, const char* what, std::string* error) {
    *error = std::string(what) + ": " + sqlite3_errmsg(slot.db);
    sqlite3_reset(slot.select);
    if (!sqlite3_get_autocommit(slot.db)) Step(slot.rollback);
    return false;
  }

  static bool Exec(sqlite3* db, const char* sql, std::string* error) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) {
      return true;
    }
    *error = std::string(sql).substr(0, 60) + ": " +
             (message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return false;
  }

  bool Prepare(Slot& slot, const char* sql, sqlite3_stmt** stmt,
               std::string* error) {
    if (sqlite3_prepare_v3(slot.db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt,
                           nullptr) == SQLITE_OK) {
      return true;
    }
    *error = std::string(sql) + ": " + sqlite3_errmsg(slot.db);
    return false;
  }

  bool Connect(Slot& slot, const std::string& path, bool synced, bool create,
               std::string* error) {
    // Each connection is used by one thread at a time: no mutex needed.
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                      (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path.c_str(), &slot.db, flags, nullptr) != SQLITE_OK) {
      *error = "open " + path + ": " + sqlite3_errmsg(slot.db);
      return false;
    }
    sqlite3_busy_timeout(slot.db, 10'000);
    // synchronous is per connection; journal_mode=WAL sticks to the file.
    if (!Exec(slot.db, "PRAGMA journal_mode=WAL", error) ||
        !Exec(slot.db,
              synced ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
              error)) {
      return false;
    }
    if (create && !Exec(slot.db, kSqliteSchema, error)) return false;

    if (!Prepare(slot, "BEGIN IMMEDIATE", &slot.begin, error) ||
        !Prepare(slot, "SELECT turn_count FROM sessions WHERE id = ?1",
                 &slot.select, error) ||
        !Prepare(slot,
                 "INSERT INTO turns (session, no, idem_key, input, output, "
                 "status, input_tokens, output_tokens, cache_read_tokens, "
                 "cache_write_tokens, cost_micros, started_ms, finished_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11, "
                 "?12)",
                 &slot.insert, error) ||
        !Prepare(slot,
                 "UPDATE sessions SET turn_count = ?2, "
                 "completed_turns = completed_turns + 1, "
                 "input_tokens = input_tokens + ?4, "
                 "output_tokens = output_tokens + ?5, "
                 "cache_read_tokens = cache_read_tokens + ?6, "
                 "cache_write_tokens = cache_write_tokens + ?7, "
                 "cost_micros = cost_micros + ?8, "
                 "last_active_ms = max(last_active_ms, ?3) WHERE id = ?1",
                 &slot.update, error) ||
        !Prepare(slot, "COMMIT", &slot.commit, error) ||
        !Prepare(slot, "ROLLBACK", &slot.rollback, error)) {
      return false;
    }

    // Bindings that never change for this session.
    const void* id = slot.session.bytes().data();
    const int id_bytes = SessionId::kBytes;
    const auto& t = kUsage.tokens;
    sqlite3_bind_blob(slot.select, 1, id, id_bytes, SQLITE_STATIC);
    sqlite3_bind_blob(slot.insert, 1, id, id_bytes, SQLITE_STATIC);
    sqlite3_bind_blob(slot.update, 1, id, id_bytes, SQLITE_STATIC);
    const int64_t usage[] = {
        static_cast<int64_t>(t.input), static_cast<int64_t>(t.output),
        static_cast<int64_t>(t.cache_read), static_cast<int64_t>(t.cache_write),
        kUsage.cost_micros};
    for (int i = 0; i < 5; ++i) {
      sqlite3_bind_int64(slot.insert, 6 + i, usage[i]);
      sqlite3_bind_int64(slot.update, 4 + i, usage[i]);
    }

    sqlite3_stmt* create_session = nullptr;
    if (!Prepare(slot,
                 "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, 0, 0, 0, 0, 0, "
                 "0, 0, ?5, ?5)",
                 &create_session, error)) {
      return false;
    }
    const SessionSpec spec = BenchSessionSpec();
    sqlite3_bind_blob(create_session, 1, id, id_bytes, SQLITE_STATIC);
    sqlite3_bind_text(create_session, 2, spec.agent.data(),
                      static_cast<int>(spec.agent.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(create_session, 3, spec.model.data(),
                      static_cast<int>(spec.model.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(create_session, 4, spec.title.data(),
                      static_cast<int>(spec.title.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(create_session, 5, NowMillis());
    const bool created = sqlite3_step(create_session) == SQLITE_DONE;
    if (!created) {
      *error = std::string("INSERT session: ") + sqlite3_errmsg(slot.db);
    }
    sqlite3_finalize(create_session);
    return created;
  }

  // unique_ptr: statements bind pointers into the slot, which must not move.
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace

std::unique_ptr<TurnWriter> OpenAgentlogWriter(const std::string& dir,
                                               bool synced, int threads,
                                               std::string* error) {
  return AgentlogWriter::Open(dir, synced, threads, error);
}

std::unique_ptr<TurnWriter> OpenRocksDbWriter(const std::string& dir,
                                              bool synced, int threads,
                                              std::string* error) {
  return RocksDbWriter::Open(dir, synced, threads, error);
}

std::unique_ptr<TurnWriter> OpenSqliteWriter(const std::string& dir,
                                             bool synced, int threads,
                                             std::string* error) {
  return SqliteWriter::Open(dir, synced, threads, error);
}

RecordSizes SampleRecordSizes() {
  const TurnRecords records = EncodeSampleRecords(SessionId::Generate(0), 0);
  return {records.turn.size(), records.session.size()};
}

}  // namespace agentlog::bench
