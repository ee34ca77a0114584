// The memory budget: its split among RocksDB's parts, its thresholds, their
// delivery to Options::memory_listener, and the WriteBufferManager that
// charges memtables to the block cache.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "agentlog/metrics.h"
#include "agentlog/store.h"
#include "memory_budget.h"
#include "recorded_id_filter.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::MemoryPlan;
using internal::MemoryThresholds;
using internal::PlanMemory;
using internal::StoreImpl;

constexpr uint64_t kMiB = 1 << 20;

std::vector<MemoryLevel> Levels(std::initializer_list<MemoryLevel> levels) {
  return levels;
}

TEST(MemoryThresholdsTest, EachRiseIsReportedOnceUntilUsageFallsBelowIt) {
  MemoryThresholds t(1000, 0.8, 0.95);
  EXPECT_EQ(t.warning_bytes(), 800u);
  EXPECT_EQ(t.emergency_bytes(), 950u);
  EXPECT_EQ(t.Observe(799), Levels({}));
  EXPECT_EQ(t.level(), MemoryLevel::kNormal);
  EXPECT_EQ(t.Observe(800), Levels({MemoryLevel::kWarning}));
  EXPECT_EQ(t.Observe(900), Levels({}));  // Still above: not again.
  EXPECT_EQ(t.level(), MemoryLevel::kWarning);
  EXPECT_EQ(t.Observe(950), Levels({MemoryLevel::kEmergency}));
  EXPECT_EQ(t.Observe(2000), Levels({}));
  EXPECT_EQ(t.level(), MemoryLevel::kEmergency);
  // Into the warning band: emergency re-armed, nothing said (the warning
  // stands), and it fires again on the next rise.
  EXPECT_EQ(t.Observe(900), Levels({}));
  EXPECT_EQ(t.level(), MemoryLevel::kWarning);
  EXPECT_EQ(t.Observe(960), Levels({MemoryLevel::kEmergency}));
  // Below warning: back to normal, both re-armed.
  EXPECT_EQ(t.Observe(100), Levels({MemoryLevel::kNormal}));
  EXPECT_EQ(t.Observe(100), Levels({}));
  EXPECT_EQ(t.level(), MemoryLevel::kNormal);
  EXPECT_EQ(t.Observe(850), Levels({MemoryLevel::kWarning}));
}

TEST(MemoryThresholdsTest, OneStepPastBothReportsBothInOrder) {
  MemoryThresholds t(1000, 0.8, 0.95);
  EXPECT_EQ(t.Observe(5000),
            Levels({MemoryLevel::kWarning, MemoryLevel::kEmergency}));
  EXPECT_EQ(t.Observe(0), Levels({MemoryLevel::kNormal}));
}

TEST(MemoryThresholdsTest, NoBudgetReportsNothing) {
  MemoryThresholds t(0, 0.8, 0.95);
  for (uint64_t usage : {uint64_t{0}, uint64_t{1} << 40, uint64_t{0}}) {
    EXPECT_EQ(t.Observe(usage), Levels({}));
  }
  EXPECT_EQ(t.level(), MemoryLevel::kNormal);
}

TEST(MemoryPlanTest, WithoutABudgetTheOptionsApplyAsGiven) {
  Options o;
  o.block_cache_bytes = 10 * kMiB;
  o.write_buffer_bytes = 3 * kMiB;
  const MemoryPlan plan = PlanMemory(o, 5 * kMiB);
  EXPECT_EQ(plan.block_cache_capacity, 10 * kMiB);
  EXPECT_EQ(plan.memtable_limit, 0u);
  EXPECT_EQ(plan.write_buffer_bytes, 3 * kMiB);
}

TEST(MemoryPlanTest, TheCacheFillsSevenEighthsOfTheWarningLevelLessTheIndex) {
  Options o;
  o.memory_budget_bytes = 1024 * kMiB;
  o.memory_warning_fraction = 0.5;
  // 7/8 of 512 MiB is 448 MiB.
  MemoryPlan plan = PlanMemory(o, 0);
  EXPECT_EQ(plan.block_cache_capacity, 448 * kMiB);
  EXPECT_EQ(plan.memtable_limit, 224 * kMiB);
  // A quarter of the limit is 56 MiB: write_buffer_bytes (32 MiB) is less.
  EXPECT_EQ(plan.write_buffer_bytes, 32 * kMiB);
  plan = PlanMemory(o, 48 * kMiB);
  EXPECT_EQ(plan.block_cache_capacity, 400 * kMiB);
  EXPECT_EQ(plan.memtable_limit, 200 * kMiB);
  EXPECT_EQ(plan.write_buffer_bytes, 32 * kMiB);
  // An index bigger than the cache's share leaves it an eighth.
  plan = PlanMemory(o, 900 * kMiB);
  EXPECT_EQ(plan.block_cache_capacity, 128 * kMiB);
  EXPECT_EQ(plan.memtable_limit, 64 * kMiB);
  // A small budget makes the families' memtables smaller.
  o.memory_budget_bytes = 16 * kMiB;
  plan = PlanMemory(o, 0);
  EXPECT_EQ(plan.block_cache_capacity, 7 * kMiB);
  EXPECT_EQ(plan.write_buffer_bytes, 7 * kMiB / 8);
}

// A store with a budget whose thresholds tests reach with a few large turns.
// The background check runs once an hour: the checks a test sees are the
// MemoryUsage and Metrics calls it makes.
class MemoryBudgetTest : public StoreTest {
 protected:
  void SetUp() override {
    options_.memory_budget_bytes = 16 * kMiB;
    options_.memory_warning_fraction = 0.5;    // 8 MiB.
    options_.memory_emergency_fraction = 0.75;  // 12 MiB.
    options_.memory_check_interval = std::chrono::hours(1);
    options_.memory_listener = [this](const MemoryEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    };
    StoreTest::SetUp();
  }

  std::vector<MemoryEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<MemoryLevel> EventLevels() {
    std::vector<MemoryLevel> levels;
    for (const MemoryEvent& e : Events()) levels.push_back(e.level);
    return levels;
  }

  // The levels a listener that also runs `then` hears while usage rises
  // past the warning threshold (one large turn) and falls back (Compact).
  std::vector<MemoryLevel> LevelsHeardBy(
      std::function<void(const MemoryEvent&)> then) {
    // Shared: the store keeps the listener after this returns.
    auto heard = std::make_shared<std::vector<MemoryLevel>>();
    options_.memory_listener = [heard, then](const MemoryEvent& e) {
      heard->push_back(e.level);
      then(e);
    };
    Reopen();
    const Session s = MakeSession();
    WriteTurn(s.id, 8 * kMiB + kMiB / 2);
    EXPECT_OK(store_->MemoryUsage().status());
    EXPECT_OK(store_->Compact());
    EXPECT_OK(store_->MemoryUsage().status());
    // No event after this: the background check runs hourly.
    return *heard;
  }

  // A completed turn whose input is `bytes` bytes of text.
  void WriteTurn(const SessionId& session, size_t bytes) {
    std::string text(bytes, 'x');
    for (size_t i = 0; i < bytes; ++i) {
      text[i] = static_cast<char>('a' + (i * 7919 + bytes) % 26);
    }
    ASSERT_OK(store_->AppendTurn(session, "", UserInput(text),
                                 AssistantOutput("ok"))
                  .status());
  }

  StoreImpl* impl() { return static_cast<StoreImpl*>(store_.get()); }
  uint64_t ActiveTurnsEntries() {
    uint64_t n = 0;
    impl()->db()->GetIntProperty(
        impl()->handle(Cf::kTurns),
        rocksdb::DB::Properties::kNumEntriesActiveMemTable, &n);
    return n;
  }

  std::mutex mu_;
  std::vector<MemoryEvent> events_;  // Guarded by mu_.
};

TEST_F(MemoryBudgetTest, ReportCarriesTheBudgetAndItsSplit) {
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_EQ(m.budget, 16 * kMiB);
  EXPECT_EQ(m.warning_bytes, 8 * kMiB);
  EXPECT_EQ(m.emergency_bytes, 12 * kMiB);
  // 7/8 of the warning level, less what is outside the cache from the
  // start: the first segment of the filter of recorded message ids, and
  // the (tiny) index of an empty store.
  const uint64_t id_filter = internal::RecordedIdFilter(0).MemoryBytes();
  EXPECT_LE(m.block_cache_capacity, 7 * kMiB - id_filter);
  EXPECT_GT(m.block_cache_capacity, 7 * kMiB - id_filter - kMiB / 8);
  EXPECT_EQ(m.memtable_limit, m.block_cache_capacity / 2);
  EXPECT_EQ(m.level, MemoryLevel::kNormal);
  EXPECT_LT(m.total(), m.warning_bytes);
  EXPECT_TRUE(Events().empty());
}

TEST_F(MemoryBudgetTest, WritesPastEachThresholdAreReportedOnceInOrder) {
  const Session s = MakeSession();
  // 8.5 MiB in one memtable: past the warning threshold, below emergency.
  WriteTurn(s.id, 8 * kMiB + kMiB / 2);
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_GE(m.memtables, 8 * kMiB);
  EXPECT_EQ(m.level, MemoryLevel::kWarning);
  ASSERT_EQ(EventLevels(), Levels({MemoryLevel::kWarning}));
  // Checking again reports nothing new: the warning stands.
  ASSERT_OK(store_->MemoryUsage().status());
  ASSERT_OK(store_->Metrics().status());
  ASSERT_EQ(EventLevels(), Levels({MemoryLevel::kWarning}));
  EXPECT_GT(ActiveTurnsEntries(), 0u);  // A warning flushes nothing.

  // A reader pins the memtable holding that turn: a flush cannot free it,
  // so the next turn adds to it whatever the flushes do meanwhile.
  {
    std::unique_ptr<rocksdb::Iterator> pin(impl()->db()->NewIterator(
        rocksdb::ReadOptions(), impl()->handle(Cf::kTurns)));
    WriteTurn(s.id, 5 * kMiB);
    ASSERT_OK_AND_ASSIGN(m, store_->MemoryUsage());
    EXPECT_EQ(m.level, MemoryLevel::kEmergency);
    ASSERT_EQ(EventLevels(),
              Levels({MemoryLevel::kWarning, MemoryLevel::kEmergency}));
    ASSERT_OK(store_->MemoryUsage().status());
    ASSERT_EQ(EventLevels().size(), 2u);
  }

  const std::vector<MemoryEvent> events = Events();
  EXPECT_GE(events[0].usage.total(), 8 * kMiB);
  EXPECT_LT(events[0].usage.total(), 12 * kMiB);
  EXPECT_GE(events[1].usage.total(), 12 * kMiB);
  for (const MemoryEvent& e : events) {
    EXPECT_EQ(e.budget, 16 * kMiB);
    EXPECT_EQ(e.usage.budget, 16 * kMiB);
  }
  ASSERT_OK_AND_ASSIGN(StoreMetrics metrics, store_->Metrics());
  EXPECT_EQ(metrics.memory_warnings, 1u);
  EXPECT_EQ(metrics.memory_emergencies, 1u);
}

TEST_F(MemoryBudgetTest, OneWritePastBothThresholdsReportsBothAndFlushes) {
  const Session s = MakeSession();
  WriteTurn(s.id, 13 * kMiB);
  EXPECT_GT(ActiveTurnsEntries(), 0u);
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_EQ(m.level, MemoryLevel::kEmergency);
  ASSERT_EQ(EventLevels(),
            Levels({MemoryLevel::kWarning, MemoryLevel::kEmergency}));
  // Both events carry the report that crossed.
  EXPECT_EQ(Events()[0].usage.total(), Events()[1].usage.total());
  // The emergency started a flush of every memtable: the turns family's
  // active memtable was switched out before MemoryUsage returned.
  EXPECT_EQ(ActiveTurnsEntries(), 0u);
}

TEST_F(MemoryBudgetTest, ThresholdsRearmOnceUsageFallsBelowThem) {
  const Session s = MakeSession();
  WriteTurn(s.id, 8 * kMiB + kMiB / 2);
  ASSERT_OK(store_->MemoryUsage().status());
  ASSERT_EQ(EventLevels(), Levels({MemoryLevel::kWarning}));

  // Compact flushes the memtables and waits: usage falls back.
  ASSERT_OK(store_->Compact());
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_LT(m.total(), 8 * kMiB);
  EXPECT_EQ(m.level, MemoryLevel::kNormal);
  ASSERT_EQ(EventLevels(),
            Levels({MemoryLevel::kWarning, MemoryLevel::kNormal}));
  EXPECT_LT(Events()[1].usage.total(), 8 * kMiB);
  ASSERT_OK(store_->MemoryUsage().status());
  ASSERT_EQ(EventLevels().size(), 2u);

  // Re-armed: the next rise is reported again, and only once.
  WriteTurn(s.id, 8 * kMiB + kMiB / 2);
  ASSERT_OK(store_->MemoryUsage().status());
  ASSERT_OK(store_->MemoryUsage().status());
  EXPECT_EQ(EventLevels(),
            Levels({MemoryLevel::kWarning, MemoryLevel::kNormal,
                    MemoryLevel::kWarning}));
}

TEST_F(MemoryBudgetTest, AListenerMayCallTheStore) {
  // A listener that checks again from inside: that must neither deadlock
  // nor deliver anything twice or out of order.
  EXPECT_EQ(LevelsHeardBy([&](const MemoryEvent&) {
              ASSERT_OK(store_->MemoryUsage().status());
            }),
            Levels({MemoryLevel::kWarning, MemoryLevel::kNormal}));
}

TEST_F(MemoryBudgetTest, AListenerThatThrowsStillGetsEveryEvent) {
  EXPECT_EQ(LevelsHeardBy([](const MemoryEvent&) {
              throw std::runtime_error("listener failed");
            }),
            Levels({MemoryLevel::kWarning, MemoryLevel::kNormal}));
}

// Without the charge of memtables to the cache, a cache full of data blocks
// plus the memtables would exceed the cache's capacity by the memtables.
TEST_F(MemoryBudgetTest, MemtablesAndBlockCacheStayWithinTheCacheCapacity) {
  options_.memory_budget_bytes = 32 * kMiB;
  options_.memory_warning_fraction = 0.8;
  options_.memory_emergency_fraction = 0.95;
  Reopen();
  // What the bound allows above the capacity: cache shards over their
  // share of the memtables' charge (made in 256 KiB units).
  constexpr uint64_t kSlack = kMiB;
  std::vector<Session> sessions;
  for (int i = 0; i < 8; ++i) sessions.push_back(MakeSession());
  uint64_t max_memtables = 0;
  uint64_t max_cache = 0;
  uint64_t turns = 0;
  for (int round = 0; round < 24; ++round) {
    for (int i = 0; i < 64; ++i) {
      WriteTurn(sessions[i % 8].id, 32 << 10);
      ++turns;
    }
    // Read back older turns, so data blocks compete with memtables.
    for (uint64_t n = 1; n <= turns / 8; n += 1 + round % 2) {
      for (const Session& s : sessions) {
        ASSERT_OK(store_->GetTurn(s.id, n).status());
      }
    }
    ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
    EXPECT_LE(m.block_cache + m.memtables, m.block_cache_capacity + kSlack)
        << "round " << round << ": cache " << m.block_cache << ", memtables "
        << m.memtables << ", capacity " << m.block_cache_capacity;
    EXPECT_LE(m.memtables, m.memtable_limit + kSlack) << "round " << round;
    max_memtables = std::max(max_memtables, m.memtables);
    max_cache = std::max(max_cache, m.block_cache);
  }
  // The load did what the bound is about: memtables well above the slack
  // while data blocks filled most of the cache (48 MiB were written).
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_GT(max_memtables, 2 * kSlack);
  EXPECT_GT(max_cache, m.block_cache_capacity / 2);
  // A full cache with its memtables sits below the warning threshold.
  EXPECT_TRUE(Events().empty()) << "usage " << m.total();
}

TEST_F(MemoryBudgetTest, NoBudgetMeansNoChecksAndNoEvents) {
  options_.memory_budget_bytes = 0;
  Reopen();
  const Session s = MakeSession();
  WriteTurn(s.id, 14 * kMiB);
  ASSERT_OK_AND_ASSIGN(MemoryReport m, store_->MemoryUsage());
  EXPECT_GE(m.memtables, 14 * kMiB);
  EXPECT_EQ(m.budget, 0u);
  EXPECT_EQ(m.warning_bytes, 0u);
  EXPECT_EQ(m.block_cache_capacity, 0u);
  EXPECT_EQ(m.level, MemoryLevel::kNormal);
  ASSERT_OK_AND_ASSIGN(StoreMetrics metrics, store_->Metrics());
  EXPECT_EQ(metrics.memory_warnings, 0u);
  EXPECT_TRUE(Events().empty());
  // Nothing flushed either: the memtable still holds the turn.
  EXPECT_GT(ActiveTurnsEntries(), 0u);
}

}  // namespace
}  // namespace agentlog::testing
