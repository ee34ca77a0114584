// Session search over the in-memory index against SQLite with indexes
// (docs/benchmarks.md), on the same sessions in one process run.
//
// For N = 10^4, 10^5 and 10^6 sessions the program fills a store (created
// over 90 simulated days; 20 agents, 5 models, 0-4 of 50 tags with "prod"
// on about a third, one completed turn each with a random cost, a tenth
// archived), copies every session into an SQLite table with indexes on what
// the queries filter and sort by (and a tags table), and times four query
// shapes, each with random parameters per iteration:
//   agent_prod_week_by_cost  an agent's sessions tagged prod created in the
//                            last 7 days, most expensive first, 20;
//   recent_by_activity       sessions (archived excluded) by last activity,
//                            newest first, 50;
//   tags_model_cost          any of two tags, not a third, one model, cost
//                            at least $1, newest first, 20;
//   title_prefix             titles starting "fix", newest first, 20.
// Each reports p50 and p99 in microseconds (counters p50_us, p99_us) over
// 2,000 queries (300 for SQLite at 10^6) and the mean number of results
// (the same for both: a check that they answer the same question). Then
// open/N reopens the store and reports Open's time (open_ms) and the
// index's bytes per session (index_bytes_per_session).
// Targets at 10^6 sessions: p99 under 1 ms, open under 1 s, under 100 bytes
// per session plus tags.

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"
#include "temp_dir.h"

namespace agentlog::bench {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int kAgents = 20;
constexpr int kModels = 5;
constexpr int kTags = 50;
const char* const kTitles[] = {"fix login",      "fix the build",
                               "summarise call", "plan a trip",
                               "refactor db",    "triage ticket",
                               "review PR",      "draft an email"};

class StepClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_.load(); }
  void Set(int64_t ms) { now_.store(ms); }

 private:
  std::atomic<int64_t> now_{1'760'000'000'000};
};

std::string Agent(uint64_t i) { return "agent-" + std::to_string(i % kAgents); }
std::string Model(uint64_t i) { return "model-" + std::to_string(i % kModels); }
std::string Tag(uint64_t i) {
  return i == 0 ? "prod" : "tag-" + std::to_string(i % kTags);
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
}

void CheckSqlite(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::abort();
  }
}

// One filled store and its SQLite copy.
struct Corpus {
  size_t n = 0;
  TempDir dir;
  std::shared_ptr<StepClock> clock = std::make_shared<StepClock>();
  Options options;
  std::unique_ptr<Store> store;
  sqlite3* db = nullptr;
  int64_t end_ms = 0;

  ~Corpus() {
    store.reset();
    if (db != nullptr) sqlite3_close(db);
  }
};

void Fill(Corpus& c, size_t n) {
  c.n = n;
  c.options.durability = Durability::kNone;
  c.options.clock = c.clock;
  auto opened = Store::Open(c.options, c.dir.path() + "/store");
  Check(opened.status(), "open");
  c.store = std::move(opened).value();
  std::mt19937_64 rng(n);
  const int64_t start = c.clock->NowMillis();
  const std::vector<Message> input = {{Role::kUser, "q", "", ""}};
  const std::vector<Message> output = {{Role::kAssistant, "a", "", ""}};
  for (size_t i = 0; i < n; ++i) {
    c.clock->Set(start + static_cast<int64_t>(90 * kDay * i / n));
    SessionSpec spec{.agent = Agent(rng()), .model = Model(rng()),
                     .title = kTitles[rng() % std::size(kTitles)]};
    if (rng() % 3 == 0) spec.tags.push_back("prod");
    for (uint64_t t = rng() % 4; t > 0; --t) {
      const std::string tag = Tag(1 + rng() % (kTags - 1));
      if (std::find(spec.tags.begin(), spec.tags.end(), tag) ==
          spec.tags.end()) {
        spec.tags.push_back(tag);
      }
    }
    auto s = c.store->CreateSession(spec);
    Check(s.status(), "create");
    TurnUsage usage;
    usage.tokens.input = rng() % 20'000;
    usage.tokens.output = rng() % 4'000;
    usage.cost_micros = static_cast<int64_t>(rng() % 5'000'000);
    Check(c.store->AppendTurn(s->id, "k", input, output, usage).status(),
          "append");
    if (rng() % 10 == 0) Check(c.store->ArchiveSession(s->id), "archive");
  }
  c.end_ms = c.clock->NowMillis();

  // The same sessions in SQLite.
  const std::string path = c.dir.path() + "/sessions.sqlite";
  CheckSqlite(sqlite3_open(path.c_str(), &c.db), c.db, "sqlite open");
  CheckSqlite(sqlite3_exec(c.db, R"(
      PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
      PRAGMA cache_size=-1000000;
      CREATE TABLE sessions(ord INTEGER PRIMARY KEY, id BLOB UNIQUE,
        agent TEXT, model TEXT, status INT, created INT, last_active INT,
        cost INT, tokens INT, title TEXT);
      CREATE TABLE tags(ord INT, tag TEXT, PRIMARY KEY(ord, tag))
        WITHOUT ROWID;
      BEGIN;)",
                           nullptr, nullptr, nullptr),
              c.db, "sqlite schema");
  sqlite3_stmt* session_insert = nullptr;
  sqlite3_stmt* tag_insert = nullptr;
  sqlite3_prepare_v2(c.db,
                     "INSERT INTO sessions VALUES(?,?,?,?,?,?,?,?,?,?)", -1,
                     &session_insert, nullptr);
  sqlite3_prepare_v2(c.db, "INSERT INTO tags VALUES(?,?)", -1, &tag_insert,
                     nullptr);
  auto all = c.store->ListSessions();
  Check(all.status(), "list");
  int64_t ord = 0;
  for (const Session& s : *all) {
    ++ord;
    sqlite3_bind_int64(session_insert, 1, ord);
    sqlite3_bind_blob(session_insert, 2, s.id.bytes().data(), 16,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(session_insert, 3, s.agent.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(session_insert, 4, s.model.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(session_insert, 5, static_cast<int>(s.status));
    sqlite3_bind_int64(session_insert, 6, s.created_ms);
    sqlite3_bind_int64(session_insert, 7, s.last_active_ms);
    sqlite3_bind_int64(session_insert, 8, s.cost_micros);
    sqlite3_bind_int64(session_insert, 9,
                       static_cast<int64_t>(s.tokens.total()));
    sqlite3_bind_text(session_insert, 10, s.title.c_str(), -1,
                      SQLITE_TRANSIENT);
    CheckSqlite(sqlite3_step(session_insert), c.db, "insert");
    sqlite3_reset(session_insert);
    for (const std::string& tag : s.tags) {
      sqlite3_bind_int64(tag_insert, 1, ord);
      sqlite3_bind_text(tag_insert, 2, tag.c_str(), -1, SQLITE_TRANSIENT);
      CheckSqlite(sqlite3_step(tag_insert), c.db, "insert tag");
      sqlite3_reset(tag_insert);
    }
  }
  sqlite3_finalize(session_insert);
  sqlite3_finalize(tag_insert);
  CheckSqlite(sqlite3_exec(c.db, R"(
      COMMIT;
      CREATE INDEX s_agent_created ON sessions(agent, created);
      CREATE INDEX s_status_active ON sessions(status, last_active);
      CREATE INDEX s_active ON sessions(last_active);
      CREATE INDEX s_model_created ON sessions(model, created);
      CREATE INDEX s_cost ON sessions(cost);
      CREATE INDEX s_created ON sessions(created);
      CREATE INDEX s_title ON sessions(title);
      CREATE INDEX t_tag ON tags(tag, ord);
      ANALYZE;)",
                           nullptr, nullptr, nullptr),
              c.db, "sqlite indexes");
}

// The corpus in use; main releases it before exit, while RocksDB's own
// statics (its loggers) still exist.
std::unique_ptr<Corpus> corpus;

// The corpus of `n` sessions, filled on first use; the previous one goes.
Corpus& CorpusOf(size_t n) {
  if (corpus == nullptr || corpus->n != n) {
    corpus.reset();
    corpus = std::make_unique<Corpus>();
    Fill(*corpus, n);
  }
  return *corpus;
}

enum class Shape { kAgentProdWeekByCost, kRecentByActivity, kTagsModelCost,
                   kTitlePrefix };

SessionQuery AgentlogQuery(Shape shape, std::mt19937_64& rng, int64_t end_ms) {
  SessionQuery q;
  switch (shape) {
    case Shape::kAgentProdWeekByCost:
      q.agent = Agent(rng());
      q.all_tags = {"prod"};
      q.created_from_ms = end_ms - 7 * kDay;
      q.sort = SessionSort::kCost;
      q.descending = true;
      q.limit = 20;
      break;
    case Shape::kRecentByActivity:
      q.sort = SessionSort::kLastActive;
      q.descending = true;
      q.limit = 50;
      break;
    case Shape::kTagsModelCost:
      q.any_tags = {Tag(1 + rng() % (kTags - 1)), Tag(1 + rng() % (kTags - 1))};
      q.no_tags = {Tag(1 + rng() % (kTags - 1))};
      q.model = Model(rng());
      q.min_cost_micros = 1'000'000;
      q.descending = true;
      q.limit = 20;
      break;
    case Shape::kTitlePrefix:
      q.title_prefix = "fix";
      q.descending = true;
      q.limit = 20;
      break;
  }
  return q;
}

// The same query in SQL, bound to `stmt` (prepared from SqlFor).
const char* SqlFor(Shape shape) {
  switch (shape) {
    case Shape::kAgentProdWeekByCost:
      return "SELECT ord FROM sessions WHERE agent = ?1 AND created >= ?2 "
             "AND status IN (0, 1) AND EXISTS (SELECT 1 FROM tags WHERE "
             "tags.ord = sessions.ord AND tag = 'prod') "
             "ORDER BY cost DESC, id DESC LIMIT 20";
    case Shape::kRecentByActivity:
      return "SELECT ord FROM sessions WHERE status IN (0, 1) "
             "ORDER BY last_active DESC, id DESC LIMIT 50";
    case Shape::kTagsModelCost:
      return "SELECT ord FROM sessions WHERE model = ?1 AND cost >= 1000000 "
             "AND status IN (0, 1) AND EXISTS (SELECT 1 FROM tags WHERE "
             "tags.ord = sessions.ord AND tag IN (?2, ?3)) AND NOT EXISTS "
             "(SELECT 1 FROM tags WHERE tags.ord = sessions.ord AND tag = ?4) "
             "ORDER BY created DESC, id DESC LIMIT 20";
    case Shape::kTitlePrefix:
      return "SELECT ord FROM sessions WHERE title >= 'fix' AND title < 'fiy' "
             "AND status IN (0, 1) ORDER BY created DESC, id DESC LIMIT 20";
  }
  return "";
}

void BindSql(Shape shape, sqlite3_stmt* stmt, std::mt19937_64& rng,
             int64_t end_ms) {
  const auto text = [&](int i, const std::string& s) {
    sqlite3_bind_text(stmt, i, s.c_str(), -1, SQLITE_TRANSIENT);
  };
  switch (shape) {
    case Shape::kAgentProdWeekByCost:
      text(1, Agent(rng()));
      sqlite3_bind_int64(stmt, 2, end_ms - 7 * kDay);
      break;
    case Shape::kRecentByActivity:
      break;
    case Shape::kTagsModelCost: {
      // Drawn in the order AgentlogQuery draws them.
      const std::string any1 = Tag(1 + rng() % (kTags - 1));
      const std::string any2 = Tag(1 + rng() % (kTags - 1));
      const std::string none = Tag(1 + rng() % (kTags - 1));
      text(2, any1);
      text(3, any2);
      text(4, none);
      text(1, Model(rng()));
      break;
    }
    case Shape::kTitlePrefix:
      break;
  }
}

void ReportPercentiles(benchmark::State& state, std::vector<double>& us,
                       size_t results) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  state.counters["results"] =
      static_cast<double>(results) / static_cast<double>(us.size());
}

void BM_Agentlog(benchmark::State& state, Shape shape, size_t n) {
  Corpus& c = CorpusOf(n);
  std::mt19937_64 rng(1);
  std::vector<double> us;
  size_t results = 0;
  for (auto _ : state) {
    const SessionQuery q = AgentlogQuery(shape, rng, c.end_ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto page = c.store->Search(q);
    const auto t1 = std::chrono::steady_clock::now();
    Check(page.status(), "search");
    results += page->sessions.size();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  ReportPercentiles(state, us, results);
}

void BM_Sqlite(benchmark::State& state, Shape shape, size_t n) {
  Corpus& c = CorpusOf(n);
  sqlite3_stmt* stmt = nullptr;
  CheckSqlite(sqlite3_prepare_v2(c.db, SqlFor(shape), -1, &stmt, nullptr),
              c.db, "prepare");
  std::mt19937_64 rng(1);
  std::vector<double> us;
  size_t results = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    BindSql(shape, stmt, rng, c.end_ms);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) ++results;
    CheckSqlite(rc, c.db, "query");
    sqlite3_reset(stmt);
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  sqlite3_finalize(stmt);
  ReportPercentiles(state, us, results);
}

void BM_Open(benchmark::State& state, size_t n) {
  Corpus& c = CorpusOf(n);
  for (auto _ : state) {
    c.store.reset();
    auto opened = Store::Open(c.options, c.dir.path() + "/store");
    Check(opened.status(), "reopen");
    c.store = std::move(opened).value();
    state.SetIterationTime(
        std::chrono::duration<double>(c.store->recovery_report().duration)
            .count());
    state.counters["open_ms"] =
        std::chrono::duration<double, std::milli>(
            c.store->recovery_report().duration)
            .count();
  }
  auto stats = c.store->Stats();
  Check(stats.status(), "stats");
  state.counters["index_bytes_per_session"] =
      static_cast<double>(stats->index_bytes) / static_cast<double>(n);
}

void Register() {
  const std::pair<Shape, const char*> shapes[] = {
      {Shape::kAgentProdWeekByCost, "agent_prod_week_by_cost"},
      {Shape::kRecentByActivity, "recent_by_activity"},
      {Shape::kTagsModelCost, "tags_model_cost"},
      {Shape::kTitlePrefix, "title_prefix"},
  };
  for (size_t n : {size_t{10'000}, size_t{100'000}, size_t{1'000'000}}) {
    for (const auto& [shape, name] : shapes) {
      benchmark::RegisterBenchmark(
          ("search/" + std::string(name) + "/" + std::to_string(n) +
           "/agentlog")
              .c_str(),
          BM_Agentlog, shape, n)
          ->Iterations(2000)
          ->Unit(benchmark::kMicrosecond);
      // SQLite takes up to a tenth of a second a query at 10^6.
      benchmark::RegisterBenchmark(
          ("search/" + std::string(name) + "/" + std::to_string(n) + "/sqlite")
              .c_str(),
          BM_Sqlite, shape, n)
          ->Iterations(n >= 1'000'000 ? 300 : 2000)
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark(("open/" + std::to_string(n)).c_str(),
                                 BM_Open, n)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace agentlog::bench

int main(int argc, char** argv) {
  agentlog::bench::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  agentlog::bench::corpus.reset();
  benchmark::Shutdown();
  return 0;
}
