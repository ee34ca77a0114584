// Echo checks and lease round trips (docs/benchmarks.md), each beside what a
// host would otherwise do, in one run.
//
// echo/*: Store::CheckEcho of a 2 KiB response against a full window of
//   ten 2 KiB responses. "new" is the usual case (unrelated to all ten),
//   "near" has one word changed from a window entry (a full sketch merge),
//   "exact" repeats one. Beside them: the fingerprint alone, and the
//   brute-force alternative, the exact Jaccard of the response's shingle
//   set with each of the ten (hash sets built once, outside the loop).
// lease/*: AcquireLease then ReleaseLease of one session, synced and not.
//   Beside them the same two read-check-write steps on a lease record in
//   raw RocksDB (Get, Put; WAL synced or not) and in SQLite (WAL mode;
//   BEGIN IMMEDIATE, SELECT, UPDATE, COMMIT; synchronous FULL or OFF).

#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <sqlite3.h>
#include <xxhash.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "agentlog/agentlog.h"
#include "echo.h"
#include "temp_dir.h"
#include "text_payload.h"

namespace agentlog::bench {
namespace {

constexpr size_t kResponseBytes = 2048;
constexpr int kWindow = 10;

std::string Response(uint64_t seed) {
  return MakeTextPayload(kResponseBytes, seed);
}

// The response that is like window entry 4 but for one word.
std::string NearResponse() {
  std::string text = Response(4);
  const size_t at = text.find(' ', text.size() / 2);
  text.insert(at, " indeed");
  return text;
}

std::unique_ptr<Store> OpenStore(const std::string& dir, Durability durability,
                                 std::string* error) {
  Options options;
  options.durability = durability;
  options.detect_echoes = true;
  auto opened = Store::Open(options, dir);
  if (!opened.ok()) {
    *error = opened.status().ToString();
    return nullptr;
  }
  return std::move(opened).value();
}

enum class EchoCase { kNew, kNear, kExact };

void BM_CheckEcho(benchmark::State& state, EchoCase which) {
  TempDir dir;
  std::string error;
  std::unique_ptr<Store> store =
      OpenStore(dir.path() + "/db", Durability::kNone, &error);
  if (store == nullptr) return state.SkipWithError(error.c_str());
  const Result<Session> session = store->CreateSession({.agent = "bench"});
  if (!session.ok()) return state.SkipWithError("create session");
  for (int i = 0; i < kWindow; ++i) {
    const std::vector<Message> out = {{Role::kAssistant, Response(i), "", ""}};
    const std::vector<Message> in = {{Role::kUser, "q", "", ""}};
    if (!store->AppendTurn(session->id, "", in, out).ok()) {
      return state.SkipWithError("append");
    }
  }
  const std::string text = which == EchoCase::kNew    ? Response(1000)
                           : which == EchoCase::kNear ? NearResponse()
                                                      : Response(4);
  const EchoKind expected = which == EchoCase::kNew    ? EchoKind::kNew
                            : which == EchoCase::kNear ? EchoKind::kNear
                                                       : EchoKind::kExact;
  for (auto _ : state) {
    Result<EchoVerdict> verdict = store->CheckEcho(session->id, text);
    if (!verdict.ok() || verdict->kind != expected) {
      return state.SkipWithError("unexpected verdict");
    }
    benchmark::DoNotOptimize(verdict);
  }
}

void BM_Fingerprint(benchmark::State& state) {
  const std::string text = Response(1000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(internal::FingerprintText(text));
  }
}

// Every word 3-shingle of the normalised text, hashed.
std::unordered_set<uint64_t> ShingleSet(const std::string& text) {
  const std::string normal = internal::NormaliseEchoText(text);
  std::vector<uint64_t> words;
  for (size_t at = 0; at < normal.size();) {
    size_t end = normal.find(' ', at);
    if (end == std::string::npos) end = normal.size();
    words.push_back(XXH3_64bits(normal.data() + at, end - at));
    at = end + 1;
  }
  std::unordered_set<uint64_t> out;
  for (size_t i = 0; i + 3 <= words.size(); ++i) {
    out.insert(XXH3_64bits(&words[i], 3 * sizeof(uint64_t)));
  }
  return out;
}

void BM_BruteForceJaccard(benchmark::State& state) {
  std::vector<std::unordered_set<uint64_t>> window;
  for (int i = 0; i < kWindow; ++i) window.push_back(ShingleSet(Response(i)));
  const std::string text = NearResponse();
  for (auto _ : state) {
    const std::unordered_set<uint64_t> mine = ShingleSet(text);
    double best = 0;
    for (const auto& other : window) {
      size_t both = 0;
      for (uint64_t h : mine) both += other.count(h);
      best = std::max(best, static_cast<double>(both) /
                                (mine.size() + other.size() - both));
    }
    benchmark::DoNotOptimize(best);
  }
}

void BM_LeaseAgentlog(benchmark::State& state, bool synced) {
  TempDir dir;
  std::string error;
  std::unique_ptr<Store> store = OpenStore(
      dir.path() + "/db", synced ? Durability::kSync : Durability::kNone,
      &error);
  if (store == nullptr) return state.SkipWithError(error.c_str());
  const Result<Session> session = store->CreateSession({.agent = "bench"});
  if (!session.ok()) return state.SkipWithError("create session");
  for (auto _ : state) {
    Result<Lease> lease =
        store->AcquireLease(session->id, "worker-1", std::chrono::seconds(30));
    if (!lease.ok() || !store->ReleaseLease(session->id, lease->token).ok()) {
      return state.SkipWithError("lease round trip failed");
    }
  }
}

// The lease record of the baselines: owner, token, expiry, as text.
struct LeaseRecord {
  std::string owner;
  uint64_t token = 0;
  int64_t expires_ms = 0;
};

void BM_LeaseRocksDb(benchmark::State& state, bool synced) {
  TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir.path() + "/db", &raw).ok()) {
    return state.SkipWithError("open RocksDB");
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = synced;
  const std::string key = "lease/session-1";
  auto read = [&](LeaseRecord* r) {
    std::string value;
    const rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return true;
    char owner[64] = {};
    unsigned long long token = 0;
    long long expires = 0;
    if (!s.ok() ||
        std::sscanf(value.c_str(), "%63[^|]|%llu|%lld", owner, &token,
                    &expires) < 2) {
      return false;
    }
    *r = {owner[0] == '-' ? "" : owner, token, expires};
    return true;
  };
  auto write = [&](const LeaseRecord& r) {
    const std::string value = (r.owner.empty() ? "-" : r.owner) + "|" +
                              std::to_string(r.token) + "|" +
                              std::to_string(r.expires_ms);
    return db->Put(wo, key, value).ok();
  };
  int64_t now = 1'700'000'000'000;
  for (auto _ : state) {
    LeaseRecord r;
    ++now;
    if (!read(&r) || (!r.owner.empty() && r.expires_ms > now) ||
        !write({"worker-1", r.token + 1, now + 30'000})) {
      return state.SkipWithError("acquire failed");
    }
    LeaseRecord held;
    if (!read(&held) || held.token != r.token + 1 ||
        !write({"", held.token, held.expires_ms})) {
      return state.SkipWithError("release failed");
    }
  }
}

void BM_LeaseSqlite(benchmark::State& state, bool synced) {
  TempDir dir;
  sqlite3* db = nullptr;
  if (sqlite3_open((dir.path() + "/db.sqlite").c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return state.SkipWithError("open SQLite");
  }
  const std::string setup =
      std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
      (synced ? "FULL" : "OFF") +
      "; CREATE TABLE lease(session TEXT PRIMARY KEY, owner TEXT, token "
      "INTEGER, expires INTEGER); INSERT INTO lease VALUES('s1', NULL, 0, 0);";
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* update = nullptr;
  if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "SELECT owner, token, expires FROM lease WHERE "
                         "session = 's1'",
                         -1, &select, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "UPDATE lease SET owner = ?, token = ?, expires = ? "
                         "WHERE session = 's1'",
                         -1, &update, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return state.SkipWithError("prepare SQLite");
  }
  // One transaction: read the record, check it with `ok`, write it.
  auto step = [&](auto ok, const char* owner, int64_t expires) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
            SQLITE_OK ||
        sqlite3_step(select) != SQLITE_ROW) {
      return false;
    }
    const bool free = sqlite3_column_type(select, 0) == SQLITE_NULL;
    const int64_t token = sqlite3_column_int64(select, 1);
    sqlite3_reset(select);
    const bool proceed = ok(free, token);
    if (proceed) {
      const int64_t new_token = owner != nullptr ? token + 1 : token;
      if (owner != nullptr) {
        sqlite3_bind_text(update, 1, owner, -1, SQLITE_STATIC);
      } else {
        sqlite3_bind_null(update, 1);
      }
      sqlite3_bind_int64(update, 2, new_token);
      sqlite3_bind_int64(update, 3, expires);
      if (sqlite3_step(update) != SQLITE_DONE) return false;
      sqlite3_reset(update);
    }
    return sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK &&
           proceed;
  };
  int64_t now = 1'700'000'000'000;
  for (auto _ : state) {
    ++now;
    int64_t token = 0;
    const bool acquired = step(
        [&](bool free, int64_t t) {
          token = t + 1;
          return free;
        },
        "worker-1", now + 30'000);
    const bool released = acquired && step([&](bool, int64_t t) { return t == token; },
                                           nullptr, now);
    if (!released) {
      sqlite3_finalize(select);
      sqlite3_finalize(update);
      sqlite3_close(db);
      return state.SkipWithError("SQLite lease round trip failed");
    }
  }
  sqlite3_finalize(select);
  sqlite3_finalize(update);
  sqlite3_close(db);
}

BENCHMARK_CAPTURE(BM_CheckEcho, new, EchoCase::kNew)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_CheckEcho, near, EchoCase::kNear)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_CheckEcho, exact, EchoCase::kExact)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fingerprint)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BruteForceJaccard)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LeaseAgentlog, synced, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LeaseRocksDb, synced, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LeaseSqlite, synced, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LeaseAgentlog, unsynced, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LeaseRocksDb, unsynced, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LeaseSqlite, unsynced, false)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace agentlog::bench

BENCHMARK_MAIN();
