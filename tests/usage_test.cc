// Usage records, prices and totals through the Store API.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agentlog/backup.h"
#include "agentlog/store.h"
#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "usage_keys.h"
#include "test_util.h"
#include "usage_oracle.h"
#include "usage_period.h"

namespace agentlog::testing {
namespace {

// 2023-11-14 22:13:20 UTC, the ManualClock's start.
constexpr int64_t kStart = 1'700'000'000'000;
constexpr int64_t kHour = 3'600'000;

UsageSpec Spec(std::string message_id, std::string model, TokenCounts tokens,
               std::string operation = "chat") {
  UsageSpec spec;
  spec.message_id = std::move(message_id);
  spec.model = std::move(model);
  spec.operation = std::move(operation);
  spec.tokens = tokens;
  return spec;
}

// The store's directory opened with RocksDB alone, as another writer (an
// older library, a process that died) leaves it. The store must be closed.
class RawDb {
 public:
  RawDb(const Options& options, const std::string& path) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (size_t i = 0; i < internal::kCfNames.size(); ++i) {
      families.emplace_back(
          std::string(internal::kCfNames[i]),
          internal::ColumnFamilyOptionsFor(static_cast<internal::Cf>(i),
                                           options, nullptr));
    }
    rocksdb::DB* db = nullptr;
    status_ = rocksdb::DB::Open(internal::DbOptionsFor(options), path,
                                families, &handles_, &db);
    db_.reset(db);
  }
  // Closes what an assertion left open; a test closes with Close().
  ~RawDb() { Close().PermitUncheckedError(); }

  // Releases the handles and closes the DB: the first error of either.
  rocksdb::Status Close() {
    if (db_ == nullptr) return rocksdb::Status::OK();
    rocksdb::Status first;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      rocksdb::Status s = db_->DestroyColumnFamilyHandle(handle);
      if (first.ok()) first = std::move(s);
    }
    handles_.clear();
    rocksdb::Status closed = db_->Close();
    if (first.ok()) first = std::move(closed);
    db_.reset();
    return first;
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* operator->() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* handle(internal::Cf cf) const {
    return handles_[static_cast<size_t>(cf)];
  }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

class UsageTest : public StoreTest {
 protected:
  // $3 / $15 / $0.30 / $3.75 per million tokens.
  static ModelPrice Sonnet() {
    return {.model = "sonnet",
            .input = 3'000'000,
            .output = 15'000'000,
            .cache_read = 300'000,
            .cache_write = 3'750'000};
  }

  Session MakeTagged(const std::string& agent,
                     std::vector<std::string> tags) {
    SessionSpec spec;
    spec.agent = agent;
    spec.model = "sonnet";
    spec.tags = std::move(tags);
    auto s = store_->CreateSession(spec);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : Session{};
  }

  UsageTotals Totals(UsageScope scope, const std::string& name,
                     UsagePeriod period = UsagePeriod::kLifetime) {
    auto t = store_->GetUsageTotals(scope, name, period);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : UsageTotals{};
  }
};

TEST_F(UsageTest, RecordIsPricedExactlyWithThePriceInEffect) {
  ASSERT_OK(store_->SetPrice(Sonnet()).status());
  ModelPrice cheaper = Sonnet();
  cheaper.input = 1'000'000;
  ASSERT_OK_AND_ASSIGN(PriceVersion v2,
                       store_->SetPrice(cheaper, kStart + kHour));
  EXPECT_EQ(v2.version, 2u);
  const Session s = MakeSession();

  // 1,234 input, 567 output, 10,000 cache-read, 2,000 cache-write tokens:
  // 3,702,000,000 + 8,505,000,000 + 3,000,000,000 + 7,500,000,000
  // = 22,707,000,000 / 10^6 = 22,707 micro-dollars. Caching saved
  // 10,000 x (3,000,000 - 300,000) / 10^6 = 27,000.
  ASSERT_OK_AND_ASSIGN(
      RecordUsageResult r,
      store_->RecordUsage(s.id, Spec("m1", "sonnet", {1234, 567, 10000, 2000})));
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.record.cost_micros, 22'707);
  EXPECT_EQ(r.record.saved_micros, 27'000);
  EXPECT_EQ(r.record.cost_source, CostSource::kPriced);
  EXPECT_EQ(r.record.price_version, 1u);
  EXPECT_EQ(r.record.seq, 1u);
  EXPECT_EQ(r.record.turn, 0u);

  // Version 2 applies from its effective time: 1,234 x 1,000,000 / 10^6.
  clock_->Advance(kHour);
  ASSERT_OK_AND_ASSIGN(r, store_->RecordUsage(
                              s.id, Spec("m2", "sonnet", {1234, 0, 0, 0})));
  EXPECT_EQ(r.record.cost_micros, 1'234);
  EXPECT_EQ(r.record.price_version, 2u);
  // Rounded half up, once per record: 1 token at $0.5 per million.
  ModelPrice tiny{.model = "tiny", .input = 500'000};
  ASSERT_OK(store_->SetPrice(tiny).status());
  ASSERT_OK_AND_ASSIGN(
      r, store_->RecordUsage(s.id, Spec("m3", "tiny", {1, 0, 0, 0})));
  EXPECT_EQ(r.record.cost_micros, 1);

  ASSERT_OK_AND_ASSIGN(std::vector<PriceVersion> prices, store_->ListPrices());
  ASSERT_EQ(prices.size(), 3u);
  EXPECT_EQ(prices[0].price, Sonnet());
  Reopen();  // Prices persist.
  ASSERT_OK_AND_ASSIGN(std::vector<PriceVersion> reopened, store_->ListPrices());
  ASSERT_EQ(reopened.size(), 3u);
  EXPECT_EQ(reopened[1].price, cheaper);
  EXPECT_EQ(reopened[1].effective_ms, kStart + kHour);
}

TEST_F(UsageTest, UnknownModelIsRecordedAtZeroCostAndFlagged) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(RecordUsageResult r,
                       store_->RecordUsage(s.id, Spec("", "mystery", {10, 20, 0, 0})));
  EXPECT_EQ(r.record.cost_source, CostSource::kUnpriced);
  EXPECT_EQ(r.record.cost_micros, 0);
  EXPECT_EQ(Totals(UsageScope::kModel, "mystery").records, 1u);
  // The host's own cost is kept as given.
  UsageSpec host = Spec("", "mystery", {10, 20, 0, 0});
  host.cost_micros = 777;
  ASSERT_OK_AND_ASSIGN(r, store_->RecordUsage(s.id, host));
  EXPECT_EQ(r.record.cost_source, CostSource::kHost);
  EXPECT_EQ(r.record.cost_micros, 777);
  // An empty model means the session's; an empty operation, "call".
  ASSERT_OK_AND_ASSIGN(r, store_->RecordUsage(s.id, Spec("", "", {1, 0, 0, 0}, "")));
  EXPECT_EQ(r.record.model, "model-x");
  EXPECT_EQ(r.record.operation, "call");
}

TEST_F(UsageTest, MessageIdIsCountedOnceAcrossSessionsCallsAndReopen) {
  ASSERT_OK(store_->SetPrice(Sonnet()).status());
  const Session a = MakeSession();
  const Session b = MakeSession();
  ASSERT_OK_AND_ASSIGN(RecordUsageResult first,
                       store_->RecordUsage(a.id, Spec("msg-1", "sonnet", {100, 50, 0, 0})));
  ASSERT_OK_AND_ASSIGN(RecordUsageResult again,
                       store_->RecordUsage(b.id, Spec("msg-1", "sonnet", {999, 999, 0, 0})));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.record.session, a.id);
  EXPECT_EQ(again.record.tokens, first.record.tokens);

  // Within one completion, and against earlier records, duplicates are
  // skipped and do not count in the turn's usage.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult t,
                       store_->BeginTurn(b.id, "", UserInput("q")));
  const std::vector<UsageSpec> calls = {
      Spec("msg-2", "sonnet", {10, 1, 0, 0}), Spec("msg-2", "sonnet", {10, 1, 0, 0}),
      Spec("msg-1", "sonnet", {10, 1, 0, 0}), Spec("msg-3", "sonnet", {20, 2, 0, 0})};
  ASSERT_OK_AND_ASSIGN(TurnWithUsage done,
                       store_->CompleteTurnWithUsage(b.id, t.turn.number,
                                                     AssistantOutput("a"), calls));
  ASSERT_EQ(done.usage.size(), 4u);
  EXPECT_FALSE(done.usage[0].duplicate);
  EXPECT_TRUE(done.usage[1].duplicate);
  EXPECT_TRUE(done.usage[2].duplicate);
  EXPECT_FALSE(done.usage[3].duplicate);
  EXPECT_EQ(done.turn.usage.tokens, (TokenCounts{30, 3, 0, 0}));
  EXPECT_EQ(done.turn.usage.cost_micros,
            done.usage[0].record.cost_micros + done.usage[3].record.cost_micros);
  EXPECT_EQ(done.usage[3].record.turn, t.turn.number);

  Reopen();
  ASSERT_OK_AND_ASSIGN(RecordUsageResult later,
                       store_->RecordUsage(a.id, Spec("msg-3", "sonnet", {1, 1, 0, 0})));
  EXPECT_TRUE(later.duplicate);
  const UsageTotals store_totals = Totals(UsageScope::kStore, "");
  EXPECT_EQ(store_totals.records, 3u);
  EXPECT_EQ(store_totals.tokens.input, 130u);
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> of_b, store_->ListUsage(b.id));
  EXPECT_EQ(of_b.size(), 2u);
}

TEST_F(UsageTest, CompletionAndItsUsageAreOneWrite) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(BeginTurnResult t, store_->BeginTurn(s.id, "", UserInput("q")));
  ASSERT_OK(store_->FailTurn(s.id, t.turn.number, "boom").status());
  // The turn is no longer processing: nothing of the usage is written.
  EXPECT_EQ(store_
                ->CompleteTurnWithUsage(s.id, t.turn.number, AssistantOutput("a"),
                                        std::vector{Spec("x", "m", {5, 5, 0, 0})})
                .status()
                .code(),
            Code::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records, store_->ListUsage(s.id));
  EXPECT_TRUE(records.empty());
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 0u);
  // Nor did the message id get taken.
  ASSERT_OK_AND_ASSIGN(RecordUsageResult r,
                       store_->RecordUsage(s.id, Spec("x", "m", {5, 5, 0, 0})));
  EXPECT_FALSE(r.duplicate);

  // CompleteTurn's TurnUsage becomes one record of the session's model.
  ASSERT_OK_AND_ASSIGN(t, store_->BeginTurn(s.id, "", UserInput("q2")));
  ASSERT_OK_AND_ASSIGN(Turn done,
                       store_->CompleteTurn(s.id, t.turn.number, AssistantOutput("a"),
                                            {{7, 8, 0, 0}, 42}));
  EXPECT_EQ(done.usage.cost_micros, 42);
  ASSERT_OK_AND_ASSIGN(records, store_->ListUsage(s.id));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].model, "model-x");
  EXPECT_EQ(records[1].operation, "turn");
  EXPECT_EQ(records[1].turn, t.turn.number);
  EXPECT_EQ(records[1].cost_source, CostSource::kHost);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.usage_records, 2u);
  EXPECT_EQ(after.context_tokens, 15u);
  // A completion without usage records nothing.
  ASSERT_OK_AND_ASSIGN(t, store_->BeginTurn(s.id, "", UserInput("q3")));
  ASSERT_OK(store_->CompleteTurn(s.id, t.turn.number, AssistantOutput("a")).status());
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 2u);
}

TEST_F(UsageTest, EveryAggregateEqualsTheSumOfTheRecords) {
  std::mt19937_64 rng(20261124);
  ASSERT_OK(store_->SetPrice(Sonnet()).status());
  ASSERT_OK(store_->SetPrice({.model = "haiku", .input = 800'000,
                              .output = 4'000'000, .cache_read = 80'000,
                              .cache_write = 1'000'000})
                .status());
  std::vector<Session> sessions;
  const std::vector<std::string> tags = {"prod", "eval", "team-a", "team-b"};
  for (int i = 0; i < 24; ++i) {
    std::vector<std::string> mine;
    for (const std::string& t : tags) {
      if (rng() % 3 == 0) mine.push_back(t);
    }
    sessions.push_back(MakeTagged("agent-" + std::to_string(i % 5), mine));
  }
  const std::vector<std::string> models = {"sonnet", "haiku", "unpriced-model"};
  const std::vector<std::string> operations = {"chat", "embed", "summarise"};
  int written = 0;
  for (int i = 0; i < 10'000; ++i) {
    // About 14 months of hourly traffic: days and months roll over.
    clock_->Advance(static_cast<int64_t>(rng() % (2 * kHour)));
    if (i == 5'000) {
      ModelPrice raised = Sonnet();
      raised.output = 18'000'000;
      ASSERT_OK(store_->SetPrice(raised).status());
    }
    const Session& s = sessions[rng() % sessions.size()];
    UsageSpec spec = Spec(rng() % 10 == 0 ? "dup-" + std::to_string(rng() % 50)
                                          : "id-" + std::to_string(i),
                          models[rng() % models.size()],
                          {rng() % 5000, rng() % 2000, rng() % 20000, rng() % 3000},
                          operations[rng() % operations.size()]);
    if (rng() % 7 == 0) spec.cost_micros = static_cast<int64_t>(rng() % 100'000);
    if (rng() % 4 == 0) {
      // With a turn, sometimes two calls in one completion.
      ASSERT_OK_AND_ASSIGN(BeginTurnResult t,
                           store_->BeginTurn(s.id, "", UserInput("q")));
      UsageSpec second = spec;
      second.message_id += "-b";
      ASSERT_OK_AND_ASSIGN(
          TurnWithUsage done,
          store_->CompleteTurnWithUsage(s.id, t.turn.number, AssistantOutput("a"),
                                        std::vector{spec, second}));
      for (const auto& r : done.usage) written += r.duplicate ? 0 : 1;
    } else {
      ASSERT_OK_AND_ASSIGN(RecordUsageResult r, store_->RecordUsage(s.id, spec));
      written += r.duplicate ? 0 : 1;
    }
  }
  TotalsMap expected = BruteForce(*store_);
  EXPECT_EQ((expected[{UsageScope::kStore, UsagePeriod::kLifetime, 0, ""}].records),
            static_cast<uint64_t>(written));
  size_t months = 0;
  for (const auto& [key, t] : expected) {
    months += std::get<1>(key) == UsagePeriod::kMonth &&
              std::get<0>(key) == UsageScope::kStore;
  }
  EXPECT_GE(months, 12u);
  EXPECT_EQ(Stored(*store_), expected);
  // Point reads agree with the scan.
  EXPECT_EQ(Totals(UsageScope::kAgent, "agent-3", UsagePeriod::kMonth),
            (expected[{UsageScope::kAgent, UsagePeriod::kMonth,
                       internal::PeriodStartMs(
                           UsagePeriod::kMonth,
                           internal::PeriodIndex(UsagePeriod::kMonth,
                                                 clock_->NowMillis())),
                       "agent-3"}]));

  Reopen();
  EXPECT_EQ(Stored(*store_), expected);
  ASSERT_OK(store_->Compact());  // Merges folded into values.
  EXPECT_EQ(Stored(*store_), expected);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean()) << report.problems[0].what;
}

// Totals reach usage_totals in batches; the records are their journal
// (usage_buffer.h). A backup of a live store is a crash image: it holds
// the records but not the totals still in memory. Opening it must count
// those records once, under the tags the session had when they were written
// (retagging flushes first), and keep what a deleted session spent
// (deleting flushes first). Message ids reach usage_ids with the totals:
// every one must still count once.
TEST_F(UsageTest, TotalsPendingAtACrashAreReplayedFromTheRecords) {
  const Session kept = MakeTagged("agent", {"a"});
  const Session gone = MakeTagged("agent", {"a"});
  auto record = [&](const Session& s, const std::string& id) {
    ASSERT_OK(store_->RecordUsage(s.id, Spec(id, "m", {10, 1, 0, 0})).status());
  };
  // A crash image of the store as it is now, opened.
  int images = 0;
  auto image = [&]() -> std::unique_ptr<Store> {
    const std::string backups = dir_.Sub("backups");
    const std::string restored = dir_.Sub("image" + std::to_string(++images));
    EXPECT_OK(store_->Backup(backups).status());
    EXPECT_OK(RestoreBackup(backups, std::nullopt, restored));
    auto opened = Store::Open(options_, restored);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(opened).value() : nullptr;
  };
  auto counted_once = [&](Store& store, const Session& s, const std::string& id) {
    SCOPED_TRACE(id);
    // Asked of the filter of recorded ids, not only of the buffer and disk.
    ASSERT_TRUE(
        static_cast<internal::StoreImpl&>(store).TEST_WaitForRecordedIds());
    auto again = store.RecordUsage(s.id, Spec(id, "m", {10, 1, 0, 0}));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->duplicate);
    EXPECT_EQ(again->record.message_id, id);
  };
  auto records = [&](Store& store, UsageScope scope, const std::string& name) {
    auto t = store.GetUsageTotals(scope, name, UsagePeriod::kLifetime);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->records : 0;
  };

  for (const char* id : {"k1", "k2", "k3"}) record(kept, id);
  ASSERT_OK(store_->TagSession(kept.id, std::vector<std::string>{"b"}).status());
  for (const char* id : {"k4", "k5"}) record(kept, id);
  {
    const std::unique_ptr<Store> first = image();
    ASSERT_NE(first, nullptr);
    // k4 and k5: the retag wrote the totals of k1 to k3.
    EXPECT_EQ(first->recovery_report().usage_records_replayed, 2u);
    EXPECT_EQ(records(*first, UsageScope::kTag, "a"), 5u);
    EXPECT_EQ(records(*first, UsageScope::kTag, "b"), 2u);
    EXPECT_EQ(records(*first, UsageScope::kStore, ""), 5u);
    // k1 on disk (the retag flushed it), k5 only in the records.
    for (const char* id : {"k1", "k5"}) counted_once(*first, kept, id);
    EXPECT_EQ(records(*first, UsageScope::kStore, ""), 5u);
  }

  record(gone, "g1");
  ASSERT_OK(store_->DeleteSession(gone.id));
  const std::unique_ptr<Store> second = image();
  for (Store* store : {store_.get(), second.get()}) {
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(records(*store, UsageScope::kStore, ""), 6u);
    EXPECT_EQ(records(*store, UsageScope::kTag, "a"), 6u);
    EXPECT_EQ(records(*store, UsageScope::kTag, "b"), 2u);
    EXPECT_EQ(records(*store, UsageScope::kSession, kept.id.ToString()), 5u);
    EXPECT_EQ(records(*store, UsageScope::kSession, gone.id.ToString()), 1u);
    EXPECT_EQ(records(*store, UsageScope::kModel, "m"), 6u);
    // Deleting flushed g1's id: no record is left to replay it from.
    for (const char* id : {"g1", "k5"}) counted_once(*store, kept, id);
    ASSERT_OK_AND_ASSIGN(VerifyReport report, store->Verify());
    EXPECT_TRUE(report.clean()) << report.problems[0].what;
  }
  // An open writes what it replayed: the next has nothing to add.
  ASSERT_OK_AND_ASSIGN(auto again, Store::Open(options_, dir_.Sub("image1")));
  EXPECT_EQ(again->recovery_report().usage_records_replayed, 0u);
  EXPECT_EQ(records(*again, UsageScope::kTag, "b"), 2u);
}

// A clean close writes the totals, then meta/totals_closed_at: the next
// open skips the marks while nothing was written since, and reads them (and
// replays) once anything was, a crash image included.
TEST_F(UsageTest, MarksAreReadUnlessTheStoreIsAsACleanCloseLeftIt) {
  const Session s = MakeSession();
  auto record = [&](const std::string& id) {
    ASSERT_OK(store_->RecordUsage(s.id, Spec(id, "m", {10, 1, 0, 0})).status());
  };
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  EXPECT_TRUE(impl->TEST_ReadTotalsMarks());  // A new store has no stamp.
  for (const char* id : {"a", "b", "c"}) record(id);
  Reopen();
  impl = static_cast<internal::StoreImpl*>(store_.get());
  EXPECT_FALSE(impl->TEST_ReadTotalsMarks());
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 3u);
  Close();
  {
    auto read_only = Store::OpenReadOnly(options_, path());
    ASSERT_OK(read_only.status());
    EXPECT_FALSE(static_cast<internal::StoreImpl*>(read_only->get())
                     ->TEST_ReadTotalsMarks());
  }
  Reopen();
  impl = static_cast<internal::StoreImpl*>(store_.get());
  EXPECT_FALSE(impl->TEST_ReadTotalsMarks());

  // Pending totals at a crash after a clean open: the stamp is stale.
  record("d");
  record("e");
  const std::string backups = dir_.Sub("backups");
  ASSERT_OK(store_->Backup(backups).status());
  ASSERT_OK(RestoreBackup(backups, std::nullopt, dir_.Sub("image")));
  {
    auto image = Store::Open(options_, dir_.Sub("image"));
    ASSERT_OK(image.status());
    EXPECT_TRUE(
        static_cast<internal::StoreImpl*>(image->get())->TEST_ReadTotalsMarks());
    EXPECT_EQ((*image)->recovery_report().usage_records_replayed, 2u);
    auto totals = (*image)->GetUsageTotals(UsageScope::kStore, "",
                                           UsagePeriod::kLifetime);
    ASSERT_OK(totals.status());
    EXPECT_EQ(totals->records, 5u);
  }
  // Any write after the stamp makes it stale, whatever it wrote.
  Reopen();
  impl = static_cast<internal::StoreImpl*>(store_.get());
  EXPECT_FALSE(impl->TEST_ReadTotalsMarks());
  MakeSession();
  const std::string later = dir_.Sub("backups2");
  ASSERT_OK(store_->Backup(later).status());
  ASSERT_OK(RestoreBackup(later, std::nullopt, dir_.Sub("image2")));
  {
    auto image = Store::Open(options_, dir_.Sub("image2"));
    ASSERT_OK(image.status());
    EXPECT_TRUE(
        static_cast<internal::StoreImpl*>(image->get())->TEST_ReadTotalsMarks());
    EXPECT_EQ((*image)->recovery_report().usage_records_replayed, 0u);
  }
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 5u);
}

// Format 6 merged every record's totals in the record's own batch and had
// no marks: upgrading marks every record as counted, and counts none twice.
TEST_F(UsageTest, AFormat6StoreIsMarkedAsFullyCounted) {
  const Session s = MakeSession();
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_OK(store_->RecordUsage(s.id, Spec(id, "m", {10, 1, 0, 0})).status());
  }
  Reopen();  // Closing wrote the totals and the mark.
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  rocksdb::ColumnFamilyHandle* totals = impl->handle(internal::Cf::kUsageTotals);
  std::string six;
  internal::AppendU64(&six, 6);
  ASSERT_TRUE(impl->db()
                  ->Delete(rocksdb::WriteOptions(), totals,
                           internal::TotalsMarkKey(s.id))
                  .ok());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kMeta),
                        internal::kFormatVersionKey, six)
                  .ok());
  Reopen();
  EXPECT_EQ(store_->recovery_report().format_version, internal::kFormatVersion);
  EXPECT_EQ(store_->recovery_report().usage_records_replayed, 0u);
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 3u);
  impl = static_cast<internal::StoreImpl*>(store_.get());
  std::string mark;
  ASSERT_TRUE(impl->db()
                  ->Get(rocksdb::ReadOptions(),
                        impl->handle(internal::Cf::kUsageTotals),
                        internal::TotalsMarkKey(s.id), &mark)
                  .ok());
  EXPECT_EQ(internal::DecodeTotalsMark(mark), 3u);
  Reopen();
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 3u);
}

// Until format 10, DeleteSession deleted a session's usage records by range.
// `usage` now takes memtable insert hints, which RocksDB 7.8 cannot mix with
// a range deletion in one memtable: replaying such a WAL with hints on
// aborts the process (Debian's RocksDB asserts). Open replays with them off
// (column_families.h).
TEST_F(UsageTest, AWalWithAnOldRangeDeletionOfUsageReplays) {
  const Session gone = MakeSession();
  const Session kept = MakeSession();
  for (const char* id : {"g1", "g2", "g3"}) {
    ASSERT_OK(store_->RecordUsage(gone.id, Spec(id, "m", {10, 1, 0, 0})).status());
  }
  ASSERT_OK(store_->RecordUsage(kept.id, Spec("k1", "m", {10, 1, 0, 0})).status());
  Close();

  // What a library before format 10 left in its WAL: a usage record of the
  // session, then DeleteSession's batch, opened here with the options of
  // that time (no hints) and closed without a flush.
  {
    RawDb raw(options_, path());
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    auto h = [&](internal::Cf cf) { return raw.handle(cf); };
    rocksdb::WriteBatch record;
    ASSERT_TRUE(record
                    .Put(h(internal::Cf::kUsage),
                         internal::NumberedKey(gone.id, 4), "a record")
                    .ok());
    ASSERT_TRUE(raw->Write(rocksdb::WriteOptions(), &record).ok());
    rocksdb::WriteBatch deletion;
    ASSERT_TRUE(deletion
                    .DeleteRange(h(internal::Cf::kUsage),
                                 internal::SessionRangeBegin(gone.id),
                                 internal::SessionRangeEnd(gone.id))
                    .ok());
    ASSERT_TRUE(deletion
                    .Delete(h(internal::Cf::kUsageTotals),
                            internal::TotalsMarkKey(gone.id))
                    .ok());
    ASSERT_TRUE(deletion
                    .Delete(h(internal::Cf::kSessions),
                            internal::SessionKey(gone.id))
                    .ok());
    ASSERT_TRUE(raw->Write(rocksdb::WriteOptions(), &deletion).ok());
    ASSERT_TRUE(raw.Close().ok());
  }

  Reopen();
  EXPECT_TRUE(store_->GetSession(gone.id).status().IsNotFound());
  auto kept_usage = store_->ListUsage(kept.id);
  ASSERT_TRUE(kept_usage.ok()) << kept_usage.status().ToString();
  EXPECT_EQ(kept_usage->size(), 1u);
  // Hints are on again: usage writes after the replay go in with them.
  ASSERT_OK(store_->RecordUsage(kept.id, Spec("k2", "m", {10, 1, 0, 0})).status());
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << report->problems.size() << " problems";
  Reopen();
  EXPECT_EQ(Totals(UsageScope::kSession, kept.id.ToString()).records, 2u);
}

TEST_F(UsageTest, VerifyFindsAMissingUsageRecord) {
  const Session s = MakeSession();
  ASSERT_OK(store_->RecordUsage(s.id, Spec("a", "m", {1, 1, 0, 0})).status());
  ASSERT_OK(store_->RecordUsage(s.id, Spec("b", "m", {1, 1, 0, 0})).status());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Delete(rocksdb::WriteOptions(),
                           impl->handle(internal::Cf::kUsage),
                           internal::NumberedKey(s.id, 2))
                  .ok());
  ASSERT_OK_AND_ASSIGN(report, store_->Verify());
  ASSERT_EQ(report.problems.size(), 2u);
  EXPECT_EQ(report.problems[0].column_family, "usage");
  EXPECT_NE(report.problems[0].what.find("1..2 but 1"), std::string::npos)
      << report.problems[0].what;
  EXPECT_EQ(report.problems[1].column_family, "usage_ids");  // "b" dangles.
}

TEST_F(UsageTest, ACorruptAlertStopsAWritableOpenButNotAReadOnlyOne) {
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kAlerts), "k", "garbage!")
                  .ok());
  Close();
  auto read_only = Store::OpenReadOnly(options_, path());
  ASSERT_TRUE(read_only.ok()) << read_only.status().ToString();
  ASSERT_EQ((*read_only)->recovery_report().corrupt_records.size(), 1u);
  EXPECT_NE((*read_only)->recovery_report().corrupt_records[0].find("alerts/"),
            std::string::npos);
  read_only->reset();
  EXPECT_EQ(Store::Open(options_, path()).status().code(), Code::kCorruption);
}

// An open that fails half way (here on a record LoadUsageState cannot
// decode) leaves the store as it found it: no totals, no close stamp, no
// write at all, whatever the close of the half-opened store would have
// done after a complete one.
TEST_F(UsageTest, AnOpenThatFailsWritesNothing) {
  const Session s = MakeSession();
  ASSERT_OK(store_->RecordUsage(s.id, Spec("a", "m", {10, 1, 0, 0})).status());
  Close();
  // The corrupt alert comes after the clean close's stamp, as from a writer
  // that died: a close after a complete open would stamp the store anew.
  {
    RawDb raw(options_, path());
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(),
                         raw.handle(internal::Cf::kAlerts), "k", "garbage!")
                    .ok());
    ASSERT_TRUE(raw.Close().ok());
  }
  auto last_sequence = [&]() -> uint64_t {
    auto read_only = Store::OpenReadOnly(options_, path());
    EXPECT_TRUE(read_only.ok()) << read_only.status().ToString();
    if (!read_only.ok()) return 0;
    auto info = (*read_only)->Info();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? info->last_sequence : 0;
  };
  const uint64_t before = last_sequence();
  EXPECT_EQ(Store::Open(options_, path()).status().code(), Code::kCorruption);
  EXPECT_EQ(last_sequence(), before);
}

// Once the filter of recorded ids has read `usage_ids` (recorded_id_filter.h)
// a write asks it first: it must hold the ids on disk when the store opened
// and every id recorded since.
TEST_F(UsageTest, EveryRecordedIdIsFoundOnceTheIdFilterIsLoaded) {
  const Session s = MakeSession();
  auto impl = [&] { return static_cast<internal::StoreImpl*>(store_.get()); };
  constexpr int kIds = 2000;
  auto record = [&](const std::string& id) {
    auto r = store_->RecordUsage(s.id, Spec(id, "m", {1, 0, 0, 0}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && !r->duplicate;
  };
  auto count_new = [&](const std::string& prefix) {
    int fresh = 0;
    for (int i = 0; i < kIds; ++i) fresh += record(prefix + std::to_string(i));
    return fresh;
  };
  ASSERT_TRUE(impl()->TEST_WaitForRecordedIds());
  EXPECT_EQ(count_new("before-"), kIds);
  EXPECT_EQ(count_new("before-"), 0);
  Reopen();
  ASSERT_TRUE(impl()->TEST_WaitForRecordedIds());
  EXPECT_EQ(count_new("before-"), 0);
  EXPECT_EQ(count_new("after-"), kIds);
  EXPECT_EQ(count_new("after-"), 0);
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, 2u * kIds);
  ASSERT_OK_AND_ASSIGN(MemoryReport memory, store_->MemoryUsage());
  // The filter's first segment at least.
  EXPECT_GE(memory.other, internal::RecordedIdFilter::kMinIds * 2);
}

TEST_F(UsageTest, ConcurrentRecordersOfTheSameIdsCountEachOnce) {
  // Every writer asks the filter of recorded ids first.
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->TEST_WaitForRecordedIds());
  constexpr int kThreads = 8;
  constexpr int kIds = 200;
  std::vector<Session> sessions;
  for (int i = 0; i < kThreads; ++i) sessions.push_back(MakeSession());
  std::atomic<int> written{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIds; ++i) {
        // Every thread records every id, each in its own order and session.
        const int id = (i * (2 * t + 1)) % kIds;
        auto r = store_->RecordUsage(
            sessions[t].id, Spec("shared-" + std::to_string(id), "m", {1, 0, 0, 0}));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (!r->duplicate) ++written;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(written.load(), kIds);
  EXPECT_EQ(Totals(UsageScope::kStore, "").records, static_cast<uint64_t>(kIds));
  EXPECT_EQ(Stored(*store_), BruteForce(*store_));
}

// Flushes run on the buffer's own thread (usage_buffer.h). With the clock
// moving a flush interval every kPerFlush records, a flush of about that
// many is due all the time and often in flight; a totals read must still
// count each acknowledged record exactly once, whether the flush in flight
// committed before the read's snapshot or not, and a message id in flight
// must still count as recorded.
TEST_F(UsageTest, ReadsDuringBackgroundFlushesCountEveryRecordOnce) {
  constexpr int kRecords = 3000;
  constexpr int kPerFlush = 20;
  const Session writer_session = MakeTagged("agent", {"t"});
  const Session probe_session = MakeTagged("agent", {"t"});
  std::atomic<int> acked{0};
  std::atomic<bool> done{false};
  auto write_all = [&] {
    for (int i = 0; i < kRecords; ++i) {
      if (i % kPerFlush == 0) clock_->Advance(1000);  // kFlushIntervalMs.
      auto r = store_->RecordUsage(
          writer_session.id, Spec("w" + std::to_string(i), "m", {1, 0, 0, 0}));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_FALSE(r->duplicate);
      acked.store(i + 1);
    }
  };
  std::thread writer([&] {
    write_all();
    done.store(true);
  });
  int reads = 0;
  std::mt19937 rng(7);
  // Each read counts at least the records acknowledged before it began and
  // at most those acknowledged by its end, and the one being written (its
  // totals are added before RecordUsage returns): counting a flush twice or
  // not at all is off by about kPerFlush.
  while (!done.load() && !HasFailure()) {
    ++reads;
    const uint64_t before = acked.load();
    auto store_total = store_->GetUsageTotals(UsageScope::kStore, "");
    auto by_tag =
        store_->ListUsageTotals(UsageScope::kTag, UsagePeriod::kLifetime);
    const uint64_t after = acked.load();
    if (!store_total.ok() || !by_tag.ok() || by_tag->size() > 1) {
      ADD_FAILURE() << store_total.status().ToString() << " "
                    << by_tag.status().ToString();
      break;
    }
    const uint64_t read = store_total->records;
    EXPECT_TRUE(before <= read && read <= after + 1)
        << read << " records read, " << before << " to " << after
        << " acknowledged";
    EXPECT_EQ(store_total->tokens.input, read);
    const uint64_t tagged =
        by_tag->empty() ? 0 : by_tag->front().totals.records;
    EXPECT_TRUE(before <= tagged && tagged <= after + 1)
        << tagged << " records listed, " << before << " to " << after
        << " acknowledged";
    if (before > 0) {
      // An acknowledged id, perhaps in the flush in flight: counted already.
      const std::string id = "w" + std::to_string(rng() % before);
      auto again =
          store_->RecordUsage(probe_session.id, Spec(id, "m", {1, 0, 0, 0}));
      EXPECT_TRUE(again.ok() && again->duplicate) << id;
    }
  }
  writer.join();
  EXPECT_GT(reads, 1);
  EXPECT_EQ(Totals(UsageScope::kStore, "").records,
            static_cast<uint64_t>(kRecords));
  EXPECT_EQ(Stored(*store_), BruteForce(*store_));
}

TEST_F(UsageTest, ContextWindowPrediction) {
  SessionSpec spec;
  spec.agent = "a";
  spec.context_window = 1000;
  ASSERT_OK_AND_ASSIGN(Session s, store_->CreateSession(spec));
  ASSERT_OK_AND_ASSIGN(ContextPrediction p, store_->PredictOverflow(s.id, 100));
  EXPECT_TRUE(p.fits);
  EXPECT_FALSE(p.warning);
  // The last call: 500 prompt + 200 cached + 100 response = 800 resent.
  ASSERT_OK(store_->RecordUsage(s.id, Spec("", "m", {500, 100, 200, 0})).status());
  ASSERT_OK_AND_ASSIGN(p, store_->PredictOverflow(s.id, 100));
  EXPECT_EQ(p.current_tokens, 800u);
  EXPECT_TRUE(p.fits);
  EXPECT_TRUE(p.warning);  // 900 >= 80 % of 1000.
  ASSERT_OK_AND_ASSIGN(p, store_->PredictOverflow(s.id, 250));
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.overflow_tokens, 50u);
  // A call beside the conversation leaves the context alone.
  UsageSpec embed = Spec("", "embedder", {5000, 0, 0, 0}, "embed");
  embed.in_context = false;
  ASSERT_OK(store_->RecordUsage(s.id, embed).status());
  ASSERT_OK_AND_ASSIGN(p, store_->PredictOverflow(s.id, 0));
  EXPECT_EQ(p.current_tokens, 800u);
  const Session unknown = MakeSession();
  EXPECT_EQ(store_->PredictOverflow(unknown.id, 1).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(UsageTest, RateCheckSlidesWithTheClock) {
  const Session s = MakeSession("rater");
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(store_->RecordUsage(s.id, Spec("", "m", {100, 0, 0, 0})).status());
    clock_->Advance(100);
  }
  // Calls at +0, +100, +200; now +300.
  const auto window = std::chrono::milliseconds(1000);
  ASSERT_OK_AND_ASSIGN(RateDecision d,
                       store_->CheckRate(UsageScope::kAgent, "rater", window, 0, 4));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.window_requests, 3u);
  EXPECT_EQ(d.window_tokens, 300u);
  ASSERT_OK_AND_ASSIGN(d, store_->CheckRate(UsageScope::kAgent, "rater", window, 0, 3));
  EXPECT_FALSE(d.allowed);
  // The first call leaves the window at +1000.
  EXPECT_EQ(d.wait, std::chrono::milliseconds(700));
  // Tokens: below 150 only once two have left, at +1100.
  ASSERT_OK_AND_ASSIGN(d, store_->CheckRate(UsageScope::kStore, "", window, 150, 0));
  EXPECT_EQ(d.wait, std::chrono::milliseconds(800));
  clock_->Advance(700);
  ASSERT_OK_AND_ASSIGN(d, store_->CheckRate(UsageScope::kAgent, "rater", window, 0, 3));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.window_requests, 2u);
  EXPECT_EQ(store_->CheckRate(UsageScope::kAgent, "rater", window, 0, 0).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_
                ->CheckRate(UsageScope::kAgent, "rater",
                            options_.max_rate_window + std::chrono::milliseconds(1),
                            1, 0)
                .status()
                .code(),
            Code::kInvalidArgument);
}

// DeleteSession removes usage records key by key (the usage family takes
// memtable insert hints, which RocksDB 7.8 cannot mix with range
// deletions): every one must go, from memtables and from files.
TEST_F(UsageTest, DeletingASessionDeletesEveryUsageRecord) {
  auto usage_keys_of = [&](const SessionId& id) {
    auto& impl = static_cast<internal::StoreImpl&>(*store_);
    const std::string begin = internal::SessionRangeBegin(id);
    const std::string end = internal::SessionRangeEnd(id);
    const rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(impl.db()->NewIterator(
        ro, impl.handle(internal::Cf::kUsage)));
    size_t n = 0;
    for (it->Seek(begin); it->Valid(); it->Next()) ++n;
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return n;
  };
  const Session gone = MakeSession();
  const Session kept = MakeSession();
  for (int i = 0; i < 40; ++i) {
    for (const Session* s : {&gone, &kept}) {
      ASSERT_OK(store_->RecordUsage(s->id, Spec(s->id.ToString() + "-" +
                                                    std::to_string(i),
                                                "m", {10, 1, 0, 0}))
                    .status());
    }
    if (i == 20) ASSERT_OK(store_->Compact());  // Half in files.
  }
  ASSERT_EQ(usage_keys_of(gone.id), 40u);
  ASSERT_OK(store_->DeleteSession(gone.id));
  EXPECT_EQ(usage_keys_of(gone.id), 0u);
  EXPECT_EQ(usage_keys_of(kept.id), 40u);
  Reopen();
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(usage_keys_of(gone.id), 0u);
  EXPECT_EQ(usage_keys_of(kept.id), 40u);
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records,
                       store_->ListUsage(kept.id));
  EXPECT_EQ(records.size(), 40u);
}

}  // namespace
}  // namespace agentlog::testing
