// Eviction: Options::max_sessions in least-recently-active order, and
// evict_inactive_after per status; evicted sessions read as NotFound at once,
// leave the index, and their records leave the disk at Compact.

#include <rocksdb/db.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::StoreImpl;

constexpr Cf kPerSessionFamilies[] = {Cf::kTurns,       Cf::kIdempotency,
                                      Cf::kInputs,      Cf::kCheckpoints,
                                      Cf::kCheckpointData, Cf::kUsage};

class EvictionTest : public StoreTest {
 protected:
  void SetUp() override {
    // The background pass would race the tests' own EnforceRetention calls.
    options_.retention_check_interval = std::chrono::hours(24);
    StoreTest::SetUp();
  }
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  // Sessions with at least one record of `cf` on disk, read past agentlog.
  std::set<SessionId> SessionsOnDisk(Cf cf) {
    std::set<SessionId> out;
    std::unique_ptr<rocksdb::Iterator> it(impl().db()->NewIterator(
        rocksdb::ReadOptions(), impl().handle(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.insert(internal::SessionIdFromKeyPrefix(it->key().ToStringView()));
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return out;
  }
  uint64_t RecordsOf(Cf cf) {
    uint64_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(impl().db()->NewIterator(
        rocksdb::ReadOptions(), impl().handle(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    return n;
  }

  // Every session the index holds, archived included.
  std::set<SessionId> Indexed() {
    std::set<SessionId> out;
    for (const SessionSummary& s : AllIndexed(*store_)) out.insert(s.id);
    return out;
  }

  // Gives `id` a turn with usage, an idempotency key and an input digest,
  // and a checkpoint: a record in every per-session family.
  void Fill(const SessionId& id, int n) {
    const Message in{.role = Role::kUser,
                     .content = "question " + std::to_string(n)};
    const Message out{.role = Role::kAssistant, .content = "answer"};
    TurnUsage usage;
    usage.tokens.input = 10;
    usage.tokens.output = 5;
    usage.cost_micros = 7;
    ASSERT_OK(store_->AppendTurn(id, "key-" + std::to_string(n), {&in, 1},
                                 {&out, 1}, usage)
                  .status());
    const std::string payload(100, 'c');
    ASSERT_OK(store_->PutCheckpoint(id, {.payload = payload}).status());
  }
};

// The oracle: what the store must keep, replaying the same decisions.
struct Model {
  struct Entry {
    int64_t last_active = 0;
    bool pinned = false;
    bool archived = false;
  };
  std::map<SessionId, Entry> live;
  std::set<SessionId> held;

  // Evicts down to `max` the way the store documents it.
  void Enforce(size_t max, const SessionId& created) {
    while (live.size() > max) {
      std::optional<std::pair<int64_t, SessionId>> best;
      for (bool archived : {false, true}) {
        for (const auto& [id, e] : live) {
          if (e.pinned || e.archived != archived || held.contains(id) ||
              id == created) {
            continue;
          }
          const std::pair<int64_t, SessionId> key{e.last_active, id};
          if (!best || key < *best) best = key;
        }
        if (best) break;
      }
      if (!best) return;
      live.erase(best->second);
    }
  }
};

TEST_F(EvictionTest, MaxSessionsEvictsLeastRecentlyActiveAndReclaimsAtCompact) {
  constexpr size_t kMax = 1000;
  constexpr int kCreates = 5000;
  options_.max_sessions = kMax;
  Reopen();
  Model model;
  std::vector<SessionId> created;
  std::vector<SessionHandle> handles;
  std::mt19937_64 rng(7);
  for (int i = 0; i < kCreates; ++i) {
    clock_->Advance(1);
    SessionSpec spec;
    spec.agent = "agent";
    spec.model = "m";
    spec.pinned = i % 250 == 3;
    ASSERT_OK_AND_ASSIGN(Session s, store_->CreateSession(spec));
    created.push_back(s.id);
    model.live[s.id] = {.last_active = s.last_active_ms, .pinned = s.pinned};
    model.Enforce(kMax, s.id);
    if (i % 500 == 10) {  // A host works on a few sessions for good.
      ASSERT_OK_AND_ASSIGN(SessionHandle h, store_->AcquireSession(s.id));
      handles.push_back(std::move(h));
      model.held.insert(s.id);
    }
    // Use a random live session: it becomes the most recently active.
    if (i % 7 == 0) {
      auto it = model.live.begin();
      std::advance(it, static_cast<long>(rng() % model.live.size()));
      const SessionId used = it->first;
      clock_->Advance(1);
      if (it->second.archived) {
        ASSERT_OK(store_->TouchSession(used));
      } else if (i % 21 == 0) {
        ASSERT_OK(store_->ArchiveSession(used));
        it->second.archived = true;
      } else {
        Fill(used, i);
      }
      it->second.last_active = clock_->NowMillis();
    }
  }

  // Exactly the model's sessions are live: no more than the limit, every
  // pinned and held one among them, in LRU order otherwise.
  std::set<SessionId> expected;
  for (const auto& [id, e] : model.live) expected.insert(id);
  EXPECT_EQ(expected.size(), kMax);
  EXPECT_EQ(Indexed(), expected);
  EXPECT_EQ(store_->Lifecycle().evicted, kCreates - kMax);
  for (const SessionId& id : model.held) EXPECT_TRUE(expected.contains(id));
  size_t archived_live = 0;
  for (const auto& [id, e] : model.live) {
    if (e.archived) ++archived_live;
    if (e.pinned) {
      EXPECT_TRUE(expected.contains(id));
    }
  }
  EXPECT_GT(archived_live, 0u) << "archived sessions go last";
  std::set<SessionId> evicted;
  for (const SessionId& id : created) {
    if (!expected.contains(id)) evicted.insert(id);
  }
  for (const SessionId& id : evicted) {
    ASSERT_EQ(store_->GetSession(id).status().code(), Code::kNotFound);
    ASSERT_EQ(store_->ListTurns(id).status().code(), Code::kNotFound);
  }
  // Records await compaction, and Verify knows why they are there.
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, store_->Verify());
  EXPECT_TRUE(verify.clean()) << verify.problems.front().what;

  // Across a restart the decisions stand, and Compact carries them out.
  const UsageTotals before = *store_->GetUsageTotals(UsageScope::kStore, "");
  handles.clear();
  Reopen();
  EXPECT_EQ(Indexed(), expected);
  EXPECT_EQ(RecordsOf(Cf::kSessions), static_cast<uint64_t>(kCreates))
      << "every stub stays until its records are compacted away";
  ASSERT_OK(store_->Compact());
  for (Cf cf : kPerSessionFamilies) {
    const std::set<SessionId> on_disk = SessionsOnDisk(cf);
    for (const SessionId& id : evicted) {
      ASSERT_FALSE(on_disk.contains(id))
          << internal::CfName(cf) << " still holds " << id.ToString();
    }
  }
  // The live ones kept theirs; the stubs went with the records.
  std::set<SessionId> filled_live;
  for (const SessionId& id : SessionsOnDisk(Cf::kTurns)) {
    EXPECT_TRUE(expected.contains(id));
    filled_live.insert(id);
  }
  EXPECT_FALSE(filled_live.empty());
  EXPECT_EQ(RecordsOf(Cf::kSessions), kMax);
  // Spending is a ledger: eviction takes nothing out of it.
  EXPECT_EQ(store_->GetUsageTotals(UsageScope::kStore, "")->cost_micros,
            before.cost_micros);

  Reopen();
  EXPECT_EQ(Indexed(), expected);
  ASSERT_OK_AND_ASSIGN(verify, store_->Verify());
  EXPECT_TRUE(verify.clean());
}

TEST_F(EvictionTest, StubsGoOnlyOnceCompactionDroppedTheirRecords) {
  options_.max_sessions = 2;
  Reopen();
  std::vector<Session> s;
  for (int i = 0; i < 3; ++i) {
    clock_->Advance(1);
    s.push_back(MakeSession());
    Fill(s.back().id, i);
  }
  // The oldest went at the third creation; its decision is not yet synced.
  EXPECT_EQ(store_->GetSession(s[0].id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetTurn(s[0].id, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(RecordsOf(Cf::kSessions), 3u);
  ASSERT_OK(store_->SyncWal());
  ASSERT_OK_AND_ASSIGN(StoreMetrics metrics, store_->Metrics());
  EXPECT_EQ(metrics.retention_decisions, 1u);
  // Its records are still on disk: the stub must stay.
  ASSERT_OK_AND_ASSIGN(RetentionRun run, store_->EnforceRetention());
  EXPECT_EQ(run.stubs_dropped, 0u);
  EXPECT_EQ(RecordsOf(Cf::kSessions), 3u);

  ASSERT_OK(store_->Compact());  // In this process: no reopen.
  for (Cf cf : kPerSessionFamilies) {
    EXPECT_FALSE(SessionsOnDisk(cf).contains(s[0].id)) << internal::CfName(cf);
    EXPECT_TRUE(SessionsOnDisk(cf).contains(s[2].id)) << internal::CfName(cf);
  }
  EXPECT_EQ(RecordsOf(Cf::kSessions), 2u);
  ASSERT_OK_AND_ASSIGN(metrics, store_->Metrics());
  EXPECT_EQ(metrics.retention_decisions, 0u);
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, store_->Verify());
  EXPECT_TRUE(verify.clean());
}

TEST_F(EvictionTest, ConcurrentCreatorsAtTheCapKeepItExactly) {
  constexpr size_t kMax = 100;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  options_.max_sessions = kMax;
  Reopen();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        clock_->Advance(1);
        auto created = store_->CreateSession({.agent = "a", .model = "m"});
        EXPECT_TRUE(created.ok()) << created.status().ToString();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Each creation evicted what it pushed over the cap, no more, no less.
  EXPECT_EQ(Indexed().size(), kMax);
  EXPECT_EQ(store_->Lifecycle().evicted, kThreads * kPerThread - kMax);
  ASSERT_OK_AND_ASSIGN(VerifyReport verify, store_->Verify());
  EXPECT_TRUE(verify.clean());
}

TEST_F(EvictionTest, ArchivedFirstWhenThePolicySaysSo) {
  options_.max_sessions = 3;
  options_.evict_archived_first = true;
  Reopen();
  std::vector<Session> s;
  for (int i = 0; i < 3; ++i) {
    clock_->Advance(1);
    s.push_back(MakeSession());
  }
  clock_->Advance(1);
  ASSERT_OK(store_->ArchiveSession(s[2].id));  // Newest, yet first to go.
  clock_->Advance(1);
  const Session fourth = MakeSession();
  EXPECT_EQ(store_->GetSession(s[2].id).status().code(), Code::kNotFound);
  EXPECT_EQ(Indexed(), (std::set<SessionId>{s[0].id, s[1].id, fourth.id}));
}

TEST_F(EvictionTest, WhenEverySessionIsPinnedOrHeldTheStoreStaysAbove) {
  options_.max_sessions = 2;
  Reopen();
  SessionSpec pinned{.agent = "a", .model = "m"};
  pinned.pinned = true;
  ASSERT_OK_AND_ASSIGN(Session a, store_->CreateSession(pinned));
  const Session b = MakeSession();
  ASSERT_OK_AND_ASSIGN(SessionHandle hold, store_->AcquireSession(b.id));
  const Session c = MakeSession();  // Never evicts itself.
  EXPECT_EQ(Indexed(), (std::set<SessionId>{a.id, b.id, c.id}));
  EXPECT_EQ(store_->Lifecycle().evicted, 0u);
  // Once b is released, the next check brings the store back to the limit.
  hold.Release();
  ASSERT_OK_AND_ASSIGN(RetentionRun run, store_->EnforceRetention());
  EXPECT_EQ(run.over_limit, 1u);
  EXPECT_EQ(Indexed(), (std::set<SessionId>{a.id, c.id}));
  // A held session cannot be deleted either.
  ASSERT_OK_AND_ASSIGN(SessionHandle hold_c, store_->AcquireSession(c.id));
  EXPECT_EQ(store_->DeleteSession(c.id).code(), Code::kBusy);
}

TEST_F(EvictionTest, InactiveSessionsGoPerStatusByTheInjectedClock) {
  constexpr int64_t kDay = 24 * 3600 * 1000;
  options_.evict_inactive_after.active = std::chrono::hours(24 * 30);
  options_.evict_inactive_after.idle = std::chrono::hours(24 * 7);
  // Archived: never.
  Reopen();
  const Session active_old = MakeSession();
  const Session idle_old = MakeSession();
  const Session archived_old = MakeSession();
  SessionSpec pin{.agent = "a", .model = "m"};
  pin.pinned = true;
  ASSERT_OK_AND_ASSIGN(Session pinned_old, store_->CreateSession(pin));
  ASSERT_OK(store_->ArchiveSession(idle_old.id));
  ASSERT_OK(store_->UnarchiveSession(idle_old.id));  // Now idle.
  ASSERT_OK(store_->ArchiveSession(archived_old.id));
  const Session held_old = MakeSession();
  ASSERT_OK_AND_ASSIGN(SessionHandle hold, store_->AcquireSession(held_old.id));

  clock_->Advance(8 * kDay);
  const Session recent = MakeSession();
  ASSERT_OK_AND_ASSIGN(RetentionRun run, store_->EnforceRetention());
  EXPECT_EQ(run.inactive_idle, 1u);  // 8 days > 7: the idle one.
  EXPECT_EQ(run.inactive_active, 0u);
  EXPECT_EQ(store_->GetSession(idle_old.id).status().code(), Code::kNotFound);

  clock_->Advance(20 * kDay);  // 28 days: nothing more yet.
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.total(), 0u);
  ASSERT_OK(store_->TouchSession(recent.id));
  clock_->Advance(3 * kDay);  // 31 days for the old ones.
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.inactive_active, 1u);  // Not pinned, held or touched.
  EXPECT_EQ(store_->GetSession(active_old.id).status().code(),
            Code::kNotFound);
  EXPECT_EQ(Indexed(), (std::set<SessionId>{archived_old.id, pinned_old.id,
                                            held_old.id, recent.id}));
  EXPECT_EQ(store_->Lifecycle().evicted, 2u);

  Reopen();  // Decisions are durable; the held one is free now.
  EXPECT_EQ(store_->GetSession(active_old.id).status().code(),
            Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.inactive_active, 1u);
  EXPECT_EQ(Indexed(),
            (std::set<SessionId>{archived_old.id, pinned_old.id, recent.id}));
}

TEST_F(EvictionTest, MaxBytesEvictsInLruOrderUntilTheStoreFits) {
  constexpr int kSessions = 24;
  constexpr size_t kPayload = 256 * 1024;
  constexpr uint64_t kMaxBytes = 2 << 20;
  options_.max_bytes = kMaxBytes;
  Reopen();
  std::mt19937_64 rng(11);
  std::vector<Session> s;
  for (int i = 0; i < kSessions; ++i) {
    clock_->Advance(1);
    SessionSpec spec{.agent = "a", .model = "m"};
    spec.pinned = i == 0;
    ASSERT_OK_AND_ASSIGN(Session created, store_->CreateSession(spec));
    s.push_back(created);
    // Incompressible: the payload is stored as it is, in a blob file once
    // flushed.
    std::string payload(kPayload, '\0');
    for (char& c : payload) c = static_cast<char>(rng());
    ASSERT_OK(store_->PutCheckpoint(created.id, {.payload = payload}).status());
    Fill(created.id, i);
  }
  ASSERT_OK_AND_ASSIGN(SessionHandle hold, store_->AcquireSession(s[1].id));
  for (int i : {2, 3, 4}) {  // The oldest ones become the most recent.
    clock_->Advance(1);
    ASSERT_OK(store_->TouchSession(s[i].id));
  }
  std::vector<SessionId> lru;  // Evictable, least recently active first.
  for (int i = 5; i < kSessions; ++i) lru.push_back(s[i].id);
  for (int i : {2, 3, 4}) lru.push_back(s[i].id);

  // Who went, after `evicted` evictions: the least recently active.
  const auto live_after = [&](size_t evicted) {
    std::set<SessionId> live{s[0].id, s[1].id};  // Pinned, held.
    for (size_t i = evicted; i < lru.size(); ++i) live.insert(lru[i]);
    return live;
  };
  ASSERT_OK_AND_ASSIGN(RetentionRun run, store_->EnforceRetention());
  ASSERT_GT(run.over_bytes, 0u);
  ASSERT_LT(run.over_bytes, lru.size());
  uint64_t evicted = run.over_bytes;
  EXPECT_EQ(Indexed(), live_after(evicted)) << "not in LRU order";

  // The evicted sessions' bytes are on their way out: a second pass before
  // compaction must not evict for them again.
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.over_bytes, 0u);

  // Compact flushes the memtables and drops every record of the evicted.
  // The estimates were approximate: a pass now, on exact file sizes, may
  // evict one more, no further.
  ASSERT_OK(store_->Compact());
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_LE(run.over_bytes, 1u);
  evicted += run.over_bytes;
  ASSERT_OK(store_->Compact());
  ASSERT_OK_AND_ASSIGN(StoreInfo info, store_->Info());
  uint64_t on_disk = 0;
  for (const ColumnFamilyInfo& cf : info.column_families) {
    on_disk += cf.sst_bytes + cf.blob_bytes;
  }
  EXPECT_LE(on_disk, kMaxBytes);
  // And not far below it: the estimates did not evict sessions the limit
  // had room for.
  EXPECT_GT(on_disk + 2 * kPayload, kMaxBytes);
  const std::set<SessionId> expected = live_after(evicted);
  EXPECT_EQ(Indexed(), expected);
  EXPECT_EQ(store_->Lifecycle().evicted, evicted);
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.over_bytes, 0u);

  hold.Release();
  Reopen();
  EXPECT_EQ(Indexed(), expected);
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.over_bytes, 0u);
}

TEST_F(EvictionTest, EvictionOptionsAreValidated) {
  options_.max_sessions = (uint64_t{1} << 32) + 1;
  auto opened = Store::Open(options_, dir_.Sub("other"));
  ASSERT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("max_sessions"), std::string::npos);
  options_.max_sessions = 0;
  options_.evict_inactive_after.idle = std::chrono::seconds(-1);
  opened = Store::Open(options_, dir_.Sub("other"));
  ASSERT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("evict_inactive_after.idle"),
            std::string::npos);
  options_.evict_inactive_after.idle = std::chrono::seconds(0);
  options_.max_bytes = 1000;  // Below 1 MiB: nothing could stay.
  opened = Store::Open(options_, dir_.Sub("other"));
  ASSERT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("max_bytes"), std::string::npos);
}

}  // namespace
}  // namespace agentlog::testing
