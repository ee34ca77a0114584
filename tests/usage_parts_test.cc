// The building blocks of usage accounting: keys, periods, the totals codec
// and merge operator, the totals buffer and its inbox, the record codecs,
// the price book, the budget ledger and the rate windows on their own.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "budget_ledger.h"
#include "keys.h"
#include "message_id_filter.h"
#include "price_book.h"
#include "rate_window.h"
#include "record_codec.h"
#include "recorded_id_filter.h"
#include "test_util.h"
#include "usage_buffer.h"
#include "usage_inbox.h"
#include "usage_keys.h"
#include "usage_period.h"
#include "usage_totals.h"

namespace agentlog::internal {
namespace {

using ::agentlog::testing::TempDir;

TEST(UsageKeysTest, TotalsKeysRoundTripAndSortByScopePeriodTimeName) {
  const TotalsKey a{UsageScope::kAgent, UsagePeriod::kDay, 20'000, "bot"};
  const std::string encoded = EncodeTotalsKey(a);
  const auto parsed = ParseTotalsKey(encoded);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->scope, a.scope);
  EXPECT_EQ(parsed->period, a.period);
  EXPECT_EQ(parsed->index, a.index);
  EXPECT_EQ(parsed->name, a.name);
  EXPECT_TRUE(encoded.starts_with(TotalsPrefix(a.scope, a.period)));
  // A later day sorts after, whatever the names.
  EXPECT_LT(encoded, EncodeTotalsKey({UsageScope::kAgent, UsagePeriod::kDay,
                                      20'001, "a"}));
  EXPECT_LT(encoded, EncodeTotalsKey({UsageScope::kAgent, UsagePeriod::kMonth,
                                      0, ""}));
  EXPECT_FALSE(ParseTotalsKey("abc").has_value());
  EXPECT_FALSE(ParseTotalsKey(std::string("\x09\x00\x00\x00\x00\x00", 6)));
  EXPECT_FALSE(ParseTotalsKey(std::string("\x00\x07\x00\x00\x00\x00", 6)));
}

TEST(UsageKeysTest, PriceKeysGroupAModelsVersionsInOrder) {
  EXPECT_LT(PriceKey("m", 1), PriceKey("m", 2));
  EXPECT_LT(PriceKey("m", 255), PriceKey("m", 256));
  // Length-prefixed: "m" and "m2" never interleave.
  EXPECT_FALSE(PriceKey("m2", 1).starts_with(PriceKey("m", 1).substr(0, 11)));
  EXPECT_TRUE(PriceKey("m", 1).starts_with(kPriceKeyPrefix));
}

TEST(UsageKeysTest, UsageRefsRoundTrip) {
  const SessionId id = SessionId::Generate(99);
  const auto ref = DecodeUsageRef(EncodeUsageRef(id, 1ULL << 33));
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->session, id);
  EXPECT_EQ(ref->seq, 1ULL << 33);
  EXPECT_FALSE(DecodeUsageRef("short").has_value());
}

TEST(UsageKeysTest, TotalsMarksRoundTrip) {
  const SessionId id = SessionId::Generate(7);
  EXPECT_EQ(ParseTotalsMarkKey(TotalsMarkKey(id)), id);
  EXPECT_FALSE(ParseTotalsMarkKey(SessionKey(id)).has_value());
  EXPECT_EQ(DecodeTotalsMark(EncodeTotalsMark(1ULL << 40)), 1ULL << 40);
  EXPECT_EQ(EncodeTotalsMark(1).size(), 8u);
  EXPECT_FALSE(DecodeTotalsMark("bad").has_value());
  EXPECT_FALSE(DecodeTotalsMark(std::string(9, '\0')).has_value());
}

TEST(UsagePeriodTest, DaysAndMonthsAreUtcCalendarPeriods) {
  // 2024-02-29 12:00 UTC (a leap day).
  const int64_t leap_noon = 1'709'208'000'000;
  const uint32_t day = PeriodIndex(UsagePeriod::kDay, leap_noon);
  EXPECT_EQ(PeriodStartMs(UsagePeriod::kDay, day), leap_noon - 12 * 3'600'000);
  const uint32_t month = PeriodIndex(UsagePeriod::kMonth, leap_noon);
  EXPECT_EQ(month, (2024 - 1970) * 12 + 1);
  EXPECT_EQ(PeriodStartMs(UsagePeriod::kMonth, month), 1'706'745'600'000);
  // March 1 2024 00:00 UTC.
  EXPECT_EQ(PeriodEndMs(UsagePeriod::kMonth, month), 1'709'251'200'000);
  EXPECT_EQ(PeriodIndex(UsagePeriod::kMonth, 1'709'251'200'000 - 1), month);
  EXPECT_EQ(PeriodIndex(UsagePeriod::kMonth, 1'709'251'200'000), month + 1);
  // December rolls into the next year.
  const uint32_t dec = (2025 - 1970) * 12 + 11;
  EXPECT_EQ(PeriodEndMs(UsagePeriod::kMonth, dec), 1'767'225'600'000);
  EXPECT_EQ(PeriodIndex(UsagePeriod::kLifetime, leap_noon), 0u);
  EXPECT_EQ(PeriodIndex(UsagePeriod::kDay, -5), 0u);
}

// A database in `dir` whose default family merges with the totals
// operator; null (and a failure) if it does not open.
std::unique_ptr<rocksdb::DB> OpenTotalsDb(const TempDir& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.merge_operator = NewTotalsMergeOperator();
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(o, dir.Sub("db"), &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::unique_ptr<rocksdb::DB>(raw);
}

TEST(UsageTotalsTest, CodecAndMergeOperatorAdd) {
  const UsageTotals a{.records = 1, .tokens = {1, 2, 3, 4}, .cost_micros = 5,
                      .saved_micros = 6};
  const UsageTotals b{.records = 2, .tokens = {10, 20, 30, 40},
                      .cost_micros = 50, .saved_micros = 60};
  auto decoded = DecodeTotals(EncodeTotals(a), "t");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, a);
  EXPECT_EQ(DecodeTotals("short", "usage_totals/x").status().code(),
            Code::kCorruption);

  // Through RocksDB: merges before and after a flush, and a put base.
  TempDir dir;
  const std::unique_ptr<rocksdb::DB> db = OpenTotalsDb(dir);
  ASSERT_NE(db, nullptr);
  const rocksdb::WriteOptions wo;
  ASSERT_TRUE(db->Merge(wo, "k", EncodeTotals(a)).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  ASSERT_TRUE(db->Merge(wo, "k", EncodeTotals(b)).ok());
  ASSERT_TRUE(db->Merge(wo, "k", EncodeTotals(b)).ok());
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "k", &value).ok());
  decoded = DecodeTotals(value, "k");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (UsageTotals{.records = 5,
                                   .tokens = {21, 42, 63, 84},
                                   .cost_micros = 105,
                                   .saved_micros = 126}));
  // A malformed operand fails the read instead of being guessed at.
  ASSERT_TRUE(db->Merge(wo, "k", "garbage").ok());
  EXPECT_FALSE(db->Get(rocksdb::ReadOptions(), "k", &value).ok());
}

TEST(UsageTotalsTest, CountersSaturateRatherThanWrap) {
  // Five priced calls at the most a call may cost (about 2^62 micro-dollars
  // each) pass INT64_MAX; a wrapped, negative total would put every budget
  // of the scope out of reach.
  constexpr int64_t kCall = int64_t{1} << 62;
  const UsageTotals call{.records = 1,
                         .tokens = {uint64_t{1} << 62, 1, 0, 0},
                         .cost_micros = kCall,
                         .saved_micros = kCall};
  const UsageTotals saturated{
      .records = 5,
      .tokens = {std::numeric_limits<uint64_t>::max(), 5, 0, 0},
      .cost_micros = std::numeric_limits<int64_t>::max(),
      .saved_micros = std::numeric_limits<int64_t>::max()};
  UsageTotals sum;
  for (int i = 0; i < 5; ++i) AddTotals(sum, call);
  EXPECT_EQ(sum, saturated);

  TempDir dir;
  const std::unique_ptr<rocksdb::DB> db = OpenTotalsDb(dir);
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(db->Merge(rocksdb::WriteOptions(), "k", EncodeTotals(call)).ok());
  }
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "k", &value).ok());
  const auto decoded = DecodeTotals(value, "k");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, saturated);
}

// Grouped deltas spread over exactly the rows, and the sums, that adding
// every record to each of its rows one by one gives.
TEST(UsageTotalsTest, GroupedDeltasSpreadLikeRecordByRecord) {
  const std::vector<std::string> tags = {"prod", "team-a"};
  const std::vector<SpendScope> scopes =
      SessionScopes("SESSION", "bot", tags);
  constexpr int64_t kDayMs = 86'400'000;
  const int64_t jan31 = PeriodStartMs(UsagePeriod::kDay, 20'119);
  struct Rec {
    std::string model, operation;
    int64_t ms;
    UsageTotals delta;
  };
  // Two models, two operations, three days: January 31st, February 1st
  // and 2nd.
  std::vector<Rec> records;
  for (int i = 0; i < 40; ++i) {
    records.push_back(
        {i % 2 ? "opus" : "haiku", (i / 2) % 2 ? "chat" : "embed",
         jan31 + (i % 3) * kDayMs + i,
         {.records = 1,
          .tokens = {uint64_t(i), uint64_t(2 * i), 3, 0},
          .cost_micros = 10 * i,
          .saved_micros = i}});
  }
  std::map<std::string, UsageTotals> expected;
  for (const Rec& r : records) {
    auto add = [&](UsageScope scope, std::string_view name) {
      AddTotals(expected[EncodeTotalsKey({scope, UsagePeriod::kLifetime, 0,
                                          name})],
                r.delta);
      if (!HasPeriods(scope)) return;
      for (UsagePeriod p : {UsagePeriod::kDay, UsagePeriod::kMonth}) {
        AddTotals(expected[EncodeTotalsKey({scope, p, PeriodIndex(p, r.ms),
                                            name})],
                  r.delta);
      }
    };
    for (const SpendScope& s : scopes) add(s.scope, s.name);
    add(UsageScope::kModel, r.model);
    add(UsageScope::kOperation, r.operation);
  }

  // Added in two writes, the second joined to the first as the buffer does.
  TotalsDeltas first, second;
  for (size_t i = 0; i < records.size(); ++i) {
    const Rec& r = records[i];
    (i < 25 ? first : second).Add(r.model, r.operation, r.ms, r.delta);
  }
  first.Add(second);
  std::map<std::string, UsageTotals> spread;
  size_t calls = 0;
  first.ForEachRow(scopes, [&](const std::string& key, const UsageTotals& d) {
    AddTotals(spread[key], d);
    ++calls;
  });
  EXPECT_EQ(spread, expected);
  // Grouped: every one of 2 models x 2 operations x 3 days occurs, so 12
  // groups of 17 rows each (5 scopes in 3 periods, model, operation), not
  // 40 records' worth.
  EXPECT_EQ(calls, 12u * 17u);
  EXPECT_FALSE(first.empty());
  first.clear();
  EXPECT_TRUE(first.empty());
}

// A RocksDB database with the two families a UsageBuffer writes.
struct TotalsDb {
  TempDir dir;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  rocksdb::ColumnFamilyHandle* totals() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* ids() const { return handles[2]; }

  ::testing::AssertionResult Open() {
    rocksdb::DBOptions dbo;
    dbo.create_if_missing = true;
    dbo.create_missing_column_families = true;
    rocksdb::ColumnFamilyOptions totals_options;
    totals_options.merge_operator = NewTotalsMergeOperator();
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {"usage_totals", totals_options},
        {"usage_ids", {}}};
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s =
        rocksdb::DB::Open(dbo, dir.Sub("db"), families, &handles, &raw);
    if (!s.ok()) return ::testing::AssertionFailure() << s.ToString();
    db.reset(raw);
    return ::testing::AssertionSuccess();
  }
  // Released before the DB closes, however the test ends.
  ~TotalsDb() {
    if (db == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }
};

// A usage record of `session` numbered `seq`, with 10 input tokens.
RecordUsageResult TenTokens(const SessionId& session, uint64_t seq,
                            std::string_view message_id) {
  RecordUsageResult r;
  r.record.session = session;
  r.record.seq = seq;
  r.record.message_id = message_id;
  r.record.model = "m";
  r.record.operation = "op";
  r.record.tokens = {10, 0, 0, 0};
  r.record.cost_micros = 1;
  return r;
}

TEST(UsageInboxTest, FindsEveryQueuedIdUntilCleared) {
  UsageInbox inbox;
  const SessionId session = SessionId::Generate(1);
  const std::vector<std::string> tags = {"team-search", "env-prod"};
  // Past the first size of the id table and the arena's first block.
  constexpr uint64_t kRecords = 3000;
  auto id = [](int round, uint64_t seq) {
    return fmt::format("msg_round_{}_{:020}", round, seq);
  };
  for (int round = 0; round < 2; ++round) {
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
      RecordUsageResult results[2] = {TenTokens(session, seq, id(round, seq)),
                                       TenTokens(session, 0, "duplicate")};
      results[0].record.model = "a-model-name-longer-than-a-short-string";
      results[1].duplicate = true;
      inbox.Add(session, "agent-name-longer-than-a-short-string", tags,
                results, seq, static_cast<int64_t>(seq));
    }
    EXPECT_EQ(inbox.records(), kRecords);
    ASSERT_EQ(inbox.writes().size(), kRecords);
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
      const std::string message_id = id(round, seq);
      const std::optional<UsageRef> ref =
          inbox.FindId(message_id, MessageIdHash(message_id));
      ASSERT_TRUE(ref) << message_id;
      EXPECT_EQ(ref->session, session);
      EXPECT_EQ(ref->seq, seq);
    }
    // Duplicates are not queued, and Clear forgot the round before.
    EXPECT_FALSE(inbox.FindId("duplicate", MessageIdHash("duplicate")));
    if (round == 1) {
      const std::string cleared = id(0, 1);
      EXPECT_FALSE(inbox.FindId(cleared, MessageIdHash(cleared)));
    }
    // What was copied into the arena reads back whole, in the first block
    // and past it.
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
      const UsageInbox::Write& w = inbox.writes()[seq - 1];
      ASSERT_EQ(w.session, session);
      ASSERT_EQ(w.agent, "agent-name-longer-than-a-short-string");
      ASSERT_EQ(w.tags.size(), tags.size());
      ASSERT_EQ(w.tags[0], "team-search");
      ASSERT_EQ(w.tags[1], "env-prod");
      ASSERT_EQ(w.through_seq, seq);
      ASSERT_EQ(w.now_ms, static_cast<int64_t>(seq));
      ASSERT_EQ(w.records.size(), 1u);
      ASSERT_EQ(w.records[0].model, "a-model-name-longer-than-a-short-string");
      ASSERT_EQ(w.records[0].operation, "op");
      ASSERT_EQ(w.records[0].message_id, id(round, seq));
      ASSERT_EQ(w.records[0].seq, seq);
      ASSERT_EQ(w.records[0].tokens, 10u);
      ASSERT_EQ(w.records[0].delta.records, 1u);
      ASSERT_EQ(w.records[0].delta.tokens.input, 10u);
    }
    inbox.Clear();
    EXPECT_TRUE(inbox.empty());
    EXPECT_EQ(inbox.records(), 0u);
  }
}

// Queued writes count before any drain: their ids are found in the inbox,
// and a read drains first. The rate windows get them with the drain. (A
// read-only buffer has no thread to drain behind the test's back.)
TEST(UsageBufferTest, QueuedWritesCountBeforeTheyAreDrained) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  RateWindows rates(std::chrono::hours(1));
  UsageBuffer buffer(db.db.get(), db.totals(), db.ids(), &rates, false);
  const SessionId session = SessionId::Generate(1);
  const std::vector<std::string> tags = {"t"};
  const RecordUsageResult first = TenTokens(session, 1, "first");
  EXPECT_FALSE(buffer.Enqueue(session, "agent", tags, {&first, 1}, 1, 5000));

  ASSERT_TRUE(buffer.FindId("first"));
  EXPECT_EQ(buffer.FindId("first")->seq, 1u);
  auto requests = [&] {
    return rates
        .Check(UsageScope::kTag, "t", std::chrono::seconds(10), 0, 100, 5000)
        .window_requests;
  };
  EXPECT_EQ(requests(), 0u);
  buffer.Drain();
  EXPECT_EQ(requests(), 1u);
  ASSERT_TRUE(buffer.FindId("first"));

  const RecordUsageResult second = TenTokens(session, 2, "second");
  buffer.Enqueue(session, "agent", tags, {&second, 1}, 2, 5000);
  const Result<UsageTotals> totals = buffer.Read(EncodeTotalsKey(
      {UsageScope::kTag, UsagePeriod::kLifetime, 0, "t"}));
  ASSERT_TRUE(totals.ok()) << totals.status().ToString();
  EXPECT_EQ(totals->records, 2u);
  EXPECT_EQ(totals->tokens.input, 20u);
  EXPECT_EQ(requests(), 2u);
  std::vector<std::string> pending;
  for (const auto& [message_id, ref] : buffer.PendingIds()) {
    pending.push_back(message_id);
  }
  EXPECT_EQ(pending, (std::vector<std::string>{"first", "second"}));
}

// With no thread draining, the writer that queues the kMaxQueuedRecords-th
// record is told to drain itself, and not before.
TEST(UsageBufferTest, AWriterFindingTheQueueFullIsToldToDrain) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  UsageBuffer buffer(db.db.get(), db.totals(), db.ids(), nullptr, false);
  const SessionId session = SessionId::Generate(1);
  const std::vector<std::string> tags;
  for (uint64_t seq = 1; seq <= UsageBuffer::kMaxQueuedRecords; ++seq) {
    const RecordUsageResult r = TenTokens(session, seq, "");
    const bool drain = buffer.Enqueue(session, "agent", tags, {&r, 1}, seq, 0);
    ASSERT_EQ(drain, seq == UsageBuffer::kMaxQueuedRecords) << seq;
  }
  buffer.Drain();
  const RecordUsageResult next =
      TenTokens(session, UsageBuffer::kMaxQueuedRecords + 1, "");
  EXPECT_FALSE(buffer.Enqueue(session, "agent", tags, {&next, 1},
                              UsageBuffer::kMaxQueuedRecords + 1, 0));
}

// An id moves from the inbox to the inbox being drained to a generation;
// FindId must find it at every moment of the way. One thread drains
// without pause while the other queues ids and looks up ids it queued
// before: a drain that dropped an id before its generation had it, or a
// lookup that skipped the inbox being drained, misses some (each drain
// spends most of its time with its batch half applied).
TEST(UsageBufferTest, IdsAreFoundThroughoutADrain) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  UsageBuffer buffer(db.db.get(), db.totals(), db.ids(), nullptr, false);
  const SessionId session = SessionId::Generate(1);
  const std::vector<std::string> tags;
  constexpr uint64_t kIds = 20'000;
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done.load()) buffer.Drain();
  });
  std::mt19937_64 rng(11);
  uint64_t missed = 0;
  for (uint64_t seq = 1; seq <= kIds; ++seq) {
    const RecordUsageResult r =
        TenTokens(session, seq, "id-" + std::to_string(seq));
    buffer.Enqueue(session, "agent", tags, {&r, 1}, seq, 0);
    // The one just queued, and one queued earlier.
    for (const uint64_t probe : {seq, 1 + rng() % seq}) {
      const std::optional<UsageRef> ref =
          buffer.FindId("id-" + std::to_string(probe));
      if (!ref || ref->seq != probe) ++missed;
    }
  }
  done.store(true);
  drainer.join();
  EXPECT_EQ(missed, 0u);
}

// A flush that fails leaves every message id and total it held pending
// (findable, listed, counted), however many flushes fail in a row.
TEST(UsageBufferTest, FailedFlushesKeepEveryIdAndTotalPending) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  const SessionId session = SessionId::Generate(1);
  const std::vector<std::string> tags;
  const std::string store_key =
      EncodeTotalsKey({UsageScope::kStore, UsagePeriod::kLifetime, 0, ""});
  {
    UsageBuffer buffer(db.db.get(), db.totals(), db.ids(), nullptr, true);
    uint64_t seq = 0;
    // One record with message id `id`, 10 input tokens.
    auto add = [&](std::string_view id) {
      const RecordUsageResult r = TenTokens(session, ++seq, id);
      buffer.Enqueue(session, "agent", tags, {&r, 1}, seq, 0);
    };
    add("id-1");
    ASSERT_TRUE(buffer.Flush().ok());
    EXPECT_FALSE(buffer.FindId("id-1"));  // On disk now.

    add("id-3");
    // A flush's batch to a dropped family reaches the WAL and then fails
    // at its first memtable insert, which comes before any other (the
    // totals rows lead the batch); RocksDB takes that for a fatal error,
    // and refuses every write after it. Reads of the family work on.
    ASSERT_TRUE(db.db->DropColumnFamily(db.totals()).ok());
    EXPECT_FALSE(buffer.Flush().ok());
    add("id-2");
    EXPECT_FALSE(buffer.Flush().ok());
    add("id-4");

    for (uint64_t i = 2; i <= 4; ++i) {
      const std::optional<UsageRef> ref =
          buffer.FindId("id-" + std::to_string(i));
      ASSERT_TRUE(ref) << i;
      EXPECT_EQ(ref->session, session);
      EXPECT_EQ(ref->seq, i == 2 ? 3u : i == 3 ? 2u : 4u);
    }
    std::vector<std::string> pending;
    for (const auto& [id, ref] : buffer.PendingIds()) pending.push_back(id);
    EXPECT_EQ(pending, (std::vector<std::string>{"id-2", "id-3", "id-4"}));
    const Result<UsageTotals> totals = buffer.Read(store_key);
    ASSERT_TRUE(totals.ok()) << totals.status().ToString();
    EXPECT_EQ(totals->records, 4u);
    EXPECT_EQ(totals->tokens.input, 40u);
  }
}

// The share of `probes` random hashes, none added, that `filter` may hold.
double FalsePositives(const RecordedIdFilter& filter, int probes,
                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  int yes = 0;
  for (int i = 0; i < probes; ++i) yes += filter.MayContain(rng()) ? 1 : 0;
  return static_cast<double>(yes) / probes;
}

TEST(RecordedIdFilterTest, AnswersOnlyOnceLoadedAndHoldsEveryIdOnDisk) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  constexpr int kIds = 5000;
  auto id = [](int i) { return fmt::format("msg_{:06}", i); };
  for (int i = 0; i < kIds; ++i) {
    // The first half in a table file, the rest in the memtable.
    if (i == kIds / 2) {
      ASSERT_TRUE(db.db->Flush({}, db.ids()).ok());
    }
    ASSERT_TRUE(db.db->Put({}, db.ids(), id(i), "ref").ok());
  }
  RecordedIdFilter filter(kIds);
  EXPECT_EQ(FalsePositives(filter, 1000, 1), 1.0);  // Not loaded: yes to all.
  ASSERT_OK(filter.Load(db.db.get(), db.ids(), std::stop_token()));
  EXPECT_TRUE(filter.WaitUntilLoaded());
  int missing = 0;
  for (int i = 0; i < kIds; ++i) {
    missing += filter.MayContain(MessageIdHash(id(i))) ? 0 : 1;
  }
  EXPECT_EQ(missing, 0);
  // Far from full: well under the 0.5% of a half full segment.
  EXPECT_LT(FalsePositives(filter, 100'000, 2), 0.005);
}

TEST(RecordedIdFilterTest, AStoppedLoadLeavesItAnsweringNothing) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(db.db->Put({}, db.ids(), std::to_string(i), "ref").ok());
  }
  RecordedIdFilter filter(0);
  std::stop_source stop;
  stop.request_stop();
  EXPECT_TRUE(filter.Load(db.db.get(), db.ids(), stop.get_token())
                  .IsShuttingDown());
  EXPECT_FALSE(filter.WaitUntilLoaded());
  EXPECT_EQ(FalsePositives(filter, 1000, 3), 1.0);
}

// Four threads add ids past the first segment's capacity many times over
// while each also probes its own earlier ids: no id is lost to a segment
// added meanwhile, and the memory and false positives stay within what
// recorded_id_filter.h promises.
TEST(RecordedIdFilterTest, GrowsWithoutLosingAnId) {
  TotalsDb db;
  ASSERT_TRUE(db.Open());
  RecordedIdFilter filter(0);
  ASSERT_OK(filter.Load(db.db.get(), db.ids(), std::stop_token()));
  const size_t first_bytes = filter.MemoryBytes();
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 2 * RecordedIdFilter::kMinIds;
  std::atomic<uint64_t> missed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      std::vector<uint64_t> added;
      for (uint64_t i = 0; i < kPerThread; ++i) {
        added.push_back(rng());
        filter.Add(added.back());
        if (!filter.MayContain(added[rng() % added.size()])) ++missed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(missed.load(), 0u);
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937_64 rng(100 + t);
    for (uint64_t i = 0; i < kPerThread; ++i) {
      const uint64_t hash = rng();
      static_cast<void>(rng());  // The probe the thread drew.
      if (!filter.MayContain(hash)) ++missed;
    }
  }
  EXPECT_EQ(missed.load(), 0u);
  const uint64_t ids = kThreads * kPerThread;
  EXPECT_GT(filter.MemoryBytes(), first_bytes);
  EXPECT_LE(filter.MemoryBytes(), 6 * ids);
  // Three full segments and an eighth of a fourth: about 5%.
  EXPECT_LT(FalsePositives(filter, 100'000, 4), 0.06);
}

TEST(UsageCodecTest, RecordsPricesBudgetsAndAlertsRoundTrip) {
  UsageRecord u;
  u.session = SessionId::Generate(4);
  u.seq = 7;
  u.turn = 3;
  u.message_id = "msg_01";
  u.model = "sonnet";
  u.operation = "chat";
  u.tokens = {1, 2, 3, 4};
  u.cost_micros = 55;
  u.saved_micros = 66;
  u.cost_source = CostSource::kHost;
  u.price_version = 2;
  u.recorded_ms = 123;
  auto record = DecodeUsageRecord(u.session, 7, EncodeUsageRecord(u).bytes());
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->message_id, u.message_id);
  EXPECT_EQ(record->tokens, u.tokens);
  EXPECT_EQ(record->cost_source, u.cost_source);
  EXPECT_EQ(record->saved_micros, u.saved_micros);
  EXPECT_EQ(record->recorded_ms, u.recorded_ms);
  EXPECT_EQ(record->turn, u.turn);
  const Status wrong_seq =
      DecodeUsageRecord(u.session, 8, EncodeUsageRecord(u).bytes()).status();
  EXPECT_EQ(wrong_seq.code(), Code::kCorruption);
  EXPECT_NE(wrong_seq.message().find("usage/"), std::string::npos);

  const PriceVersion p{.price = {"m", 1, 2, 3, 4}, .version = 5,
                       .effective_ms = 6, .set_ms = 7};
  auto price = DecodePrice("k", EncodePrice(p).bytes());
  ASSERT_TRUE(price.ok());
  EXPECT_EQ(price->price, p.price);
  EXPECT_EQ(price->version, 5u);
  EXPECT_EQ(price->effective_ms, 6);

  const StoredBudget b{.spec = {.scope = UsageScope::kTag, .name = "prod",
                                .period = UsagePeriod::kDay,
                                .limit_micros = 9, .soft_percent = 10,
                                .hard_percent = 20, .emergency_percent = 30},
                       .created_ms = 11, .lifted_through_seq = 12};
  auto budget = DecodeBudget("k", EncodeBudget(b).bytes());
  ASSERT_TRUE(budget.ok());
  EXPECT_EQ(budget->spec.name, "prod");
  EXPECT_EQ(budget->spec.period, UsagePeriod::kDay);
  EXPECT_EQ(budget->spec.emergency_percent, 30u);
  EXPECT_EQ(budget->lifted_through_seq, 12u);

  const BudgetAlert a{.seq = 3, .scope = UsageScope::kAgent, .name = "bot",
                      .period = UsagePeriod::kMonth, .period_start_ms = 100,
                      .threshold = BudgetThreshold::kEmergency,
                      .limit_micros = 10, .threshold_micros = 12,
                      .spent_micros = 13, .session = u.session,
                      .raised_ms = 14};
  auto alert = DecodeAlert("k", EncodeAlert(a).bytes());
  ASSERT_TRUE(alert.ok());
  EXPECT_EQ(alert->threshold, BudgetThreshold::kEmergency);
  EXPECT_EQ(alert->session, u.session);
  EXPECT_EQ(alert->spent_micros, 13);
  EXPECT_EQ(DecodeAlert("k", "garbage!").status().code(), Code::kCorruption);
}

TEST(PriceBookTest, PicksTheLatestVersionInEffect) {
  PriceBook book;
  EXPECT_FALSE(book.At("m", 100).has_value());
  EXPECT_EQ(book.NextVersion("m"), 1u);
  book.Add({.price = {.model = "m", .input = 1}, .version = 1, .effective_ms = 100});
  book.Add({.price = {.model = "m", .input = 3}, .version = 3, .effective_ms = 50});
  book.Add({.price = {.model = "m", .input = 2}, .version = 2, .effective_ms = 200});
  EXPECT_EQ(book.NextVersion("m"), 4u);
  EXPECT_FALSE(book.At("m", 49).has_value());
  EXPECT_EQ(book.At("m", 50)->version, 3u);   // Effective first.
  EXPECT_EQ(book.At("m", 150)->version, 1u);  // Latest effective <= 150.
  EXPECT_EQ(book.At("m", 250)->version, 2u);
  EXPECT_EQ(book.All().size(), 3u);
  EXPECT_EQ(book.All()[0].version, 1u);
}

// A ledger over an empty store.
class NothingSpent final : public BudgetReader {
 public:
  Result<int64_t> SpentIn(UsageScope, std::string_view, UsagePeriod,
                          uint32_t) override {
    return int64_t{0};
  }
  Result<bool> AlertRaised(std::string_view) override { return false; }
};

TEST(BudgetLedgerTest, RolledBackAdmissionsTakeTheirSpendAndAlertsBack) {
  NothingSpent reader;
  BudgetLedger ledger(&reader);
  auto persist = [](const std::string&, const StoredBudget*) {
    return Status::OK();
  };
  ASSERT_TRUE(ledger
                  .Set({.scope = UsageScope::kStore,
                        .period = UsagePeriod::kLifetime,
                        .limit_micros = 100},
                       0, persist)
                  .ok());
  const SpendScope store[] = {{UsageScope::kStore, ""}};
  const SessionId id = SessionId::Generate(1);
  {
    auto a = ledger.Admit(store, 90, 0, true, false, id);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->alerts().size(), 1u);  // Soft.
    // Not committed: the write "failed".
  }
  auto status = ledger.List(0);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)[0].spent_micros, 0);
  // The soft alert is raised again by the next crossing.
  auto b = ledger.Admit(store, 85, 0, true, false, id);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->alerts().size(), 1u);
  EXPECT_EQ(b->alerts()[0].threshold, BudgetThreshold::kSoft);
  b->Commit();
  auto c = ledger.Admit(store, 1000, 0, true, false, id);  // Crosses all the rest.
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->alerts().size(), 2u);
  c->Commit();
  EXPECT_EQ(ledger.Admit(store, 1, 0, true, true, id).status().code(),
            Code::kBudgetExceeded);  // Blocked: override or not...
  auto completion = ledger.Admit(store, 1, 0, false, false, id);
  EXPECT_TRUE(completion.ok());  // ...but work already begun completes.
  EXPECT_EQ(ThresholdMicros({.limit_micros = 3, .soft_percent = 50}, BudgetThreshold::kSoft), 2);
}

TEST(BudgetLedgerTest, AChangedBudgetKeepsSpendingNotYetInTheTotals) {
  NothingSpent reader;  // The totals: none of the calls below is in them.
  BudgetLedger ledger(&reader);
  auto persist = [](const std::string&, const StoredBudget*) {
    return Status::OK();
  };
  auto set = [&](int64_t limit) {
    auto set = ledger.Set({.scope = UsageScope::kStore,
                           .period = UsagePeriod::kLifetime,
                           .limit_micros = limit},
                          0, persist);
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    return set.ok() ? set->spent_micros : -1;
  };
  auto spent = [&] {
    auto status = ledger.List(0);
    EXPECT_TRUE(status.ok());
    return status.ok() ? (*status)[0].spent_micros : -1;
  };
  const SpendScope store[] = {{UsageScope::kStore, ""}};
  const SessionId id = SessionId::Generate(1);
  set(100);
  {
    // Admitted, its write in flight, when the limit changes.
    auto a = ledger.Admit(store, 60, 0, true, false, id);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(set(200), 60);
    a->Commit();
  }
  EXPECT_EQ(spent(), 60);
  {
    // One whose write then fails is taken back across a change too.
    auto b = ledger.Admit(store, 30, 0, true, false, id);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(set(300), 90);
  }
  EXPECT_EQ(spent(), 60);
  // The hard threshold counts what was admitted before the change.
  auto c = ledger.Admit(store, 240, 0, true, false, id);
  ASSERT_TRUE(c.ok());
  c->Commit();
  EXPECT_EQ(ledger.Admit(store, 1, 0, true, false, id).status().code(),
            Code::kBudgetExceeded);
}

// Ten minutes of a busy scope (a record every 2 ms, some arriving up to
// 5 ms late, random sizes): the window holds a bounded number of buckets
// however many records it saw, and every answer is the exact sum over the
// window plus at most what lies within 1/kPrecision of the window before
// its start, never less (a check errs only towards refusing).
TEST(RateWindowsTest, BusyScopesStayBoundedAndCountWithinThePrecision) {
  constexpr int64_t kHorizonMs = 10 * 60 * 1000;
  RateWindows rates(std::chrono::milliseconds{kHorizonMs});
  const SpendScope scope[] = {{UsageScope::kAgent, "busy"}};
  std::map<int64_t, std::pair<uint64_t, uint64_t>> exact;  // ms -> sums.
  std::mt19937_64 rng(11);
  size_t most_buckets = 0;
  int64_t now = 0;
  // Sums of `exact` over (from, to].
  auto sum = [&](int64_t from, int64_t to) {
    std::pair<uint64_t, uint64_t> s{0, 0};
    for (auto it = exact.upper_bound(from); it != exact.end() && it->first <= to;
         ++it) {
      s.first += it->second.first;
      s.second += it->second.second;
    }
    return s;
  };
  for (int64_t i = 1; i <= kHorizonMs / 2; ++i) {
    now = 2 * i;
    const int64_t ms = rng() % 8 == 0 ? now - static_cast<int64_t>(rng() % 6) : now;
    const uint64_t tokens = 1 + rng() % 1000;
    rates.Record(scope, ms, tokens);
    exact[ms].first += tokens;
    ++exact[ms].second;
    most_buckets =
        std::max(most_buckets, rates.BucketsForTesting(UsageScope::kAgent, "busy"));
    if (i % 50'000 != 0) continue;
    for (const int64_t window_ms : {int64_t{1'000}, int64_t{60'000}, int64_t{300'000}, kHorizonMs}) {
      const RateDecision d = rates.Check(UsageScope::kAgent, "busy",
                                         std::chrono::milliseconds{window_ms},
                                         0, 0, now);
      const int64_t start = now - window_ms;
      const auto in = sum(start, now);
      const auto slack = sum(start - window_ms / RateWindows::kPrecision - 1, start);
      EXPECT_GE(d.window_tokens, in.first) << window_ms << " ms at " << now;
      EXPECT_GE(d.window_requests, in.second) << window_ms << " ms at " << now;
      EXPECT_LE(d.window_tokens, in.first + slack.first) << window_ms << " ms at " << now;
      EXPECT_LE(d.window_requests, in.second + slack.second)
          << window_ms << " ms at " << now;
    }
  }
  // 300,000 records; a bucket for each would be 300,000. The bound: about
  // kPrecision buckets for each doubling of age from 1 ms to the horizon,
  // and up to twice that between compactions.
  EXPECT_LT(most_buckets, 2 * 2 * RateWindows::kPrecision * 20);
  EXPECT_LT(rates.MemoryBytes(), 512u << 10);
}

// Waits are the exact ones while buckets are young, and never shorter than
// exact once they are coarse: refused until enough has left the window.
TEST(RateWindowsTest, WaitsAreExactForRecentRecordsAndNeverShort) {
  RateWindows rates(std::chrono::hours{1});
  const SpendScope scope[] = {{UsageScope::kStore, ""}};
  rates.Record(scope, 1000, 10);
  rates.Record(scope, 1000, 10);  // The same millisecond: one bucket.
  rates.Record(scope, 1500, 10);
  EXPECT_EQ(rates.BucketsForTesting(UsageScope::kStore, ""), 2u);
  RateDecision d = rates.Check(UsageScope::kStore, "", std::chrono::seconds{1},
                               0, 3, 1800);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.window_requests, 3u);
  // Both records at 1000 must leave: at 2000.
  EXPECT_EQ(d.wait, std::chrono::milliseconds{200});
  d = rates.Check(UsageScope::kStore, "", std::chrono::seconds{1}, 25, 0, 1800);
  EXPECT_EQ(d.wait, std::chrono::milliseconds{200});
  d = rates.Check(UsageScope::kStore, "", std::chrono::seconds{1}, 0, 3, 2000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.window_requests, 1u);

  // An hour of a record a millisecond: old buckets coarsen. A check over
  // the last 10 minutes must not allow what exact counting refuses, and
  // may wait at most 1/kPrecision of the window longer.
  RateWindows busy(std::chrono::hours{1});
  constexpr int64_t kHourMs = 3'600'000;
  for (int64_t ms = 1; ms <= kHourMs; ++ms) busy.Record(scope, ms, 1);
  const std::chrono::milliseconds window = std::chrono::minutes{10};
  const uint64_t in_window = 600'000;  // Records (now - 10 min, now].
  d = busy.Check(UsageScope::kStore, "", window, 0, in_window, kHourMs);
  EXPECT_FALSE(d.allowed);
  // Exactly: the oldest record in the window leaves after 1 ms.
  EXPECT_GE(d.wait.count(), 1);
  EXPECT_LE(d.wait.count(), 1 + window.count() / RateWindows::kPrecision);
  EXPECT_LT(busy.BucketsForTesting(UsageScope::kStore, ""), 2 * 2 * 64 * 22u);
}

}  // namespace
}  // namespace agentlog::internal
