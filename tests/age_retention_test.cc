// Retention by age: Options::turn_max_age, usage_max_age and
// checkpoint_max_age per session status, by the injected clock. Pruned records read as NotFound at once,
// the session's totals keep what they counted, the decisions survive
// reopening, and Compact takes the records (with the idempotency and input
// keys of pruned turns) off the disk.

#include <rocksdb/db.h>

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agentlog/backup.h"
#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::StoreImpl;

constexpr int64_t kDay = 24 * 3600 * 1000;

class AgeRetentionTest : public StoreTest {
 protected:
  void SetUp() override {
    // The background pass would race the tests' own EnforceRetention calls.
    options_.retention_check_interval = std::chrono::hours(24);
    options_.turn_max_age.active = std::chrono::hours(24 * 7);
    options_.usage_max_age.active = std::chrono::hours(24);
    StoreTest::SetUp();
  }
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  // The numbers of `id`'s records in `cf` on disk, read past agentlog: the
  // number in the key (turns, usage), at the key's end (inputs) or in the
  // value (idempotency).
  std::vector<uint64_t> OnDisk(Cf cf, const SessionId& id) {
    std::vector<uint64_t> out;
    const std::string begin = internal::SessionRangeBegin(id);
    const std::string end = internal::SessionRangeEnd(id);
    const rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(
        impl().db()->NewIterator(ro, impl().handle(cf)));
    for (it->Seek(begin); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      if (cf == Cf::kIdempotency) {
        out.push_back(internal::DecodeU64(it->value().ToStringView()));
      } else if (cf == Cf::kInputs) {
        out.push_back(internal::ParseInputKey(key)->number);
      } else {
        out.push_back(internal::ParseNumberedKey(key)->number);
      }
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return out;
  }

  std::vector<uint64_t> Listed(const SessionId& id) {
    std::vector<uint64_t> out;
    auto turns = store_->ListTurns(id);
    EXPECT_TRUE(turns.ok()) << turns.status().ToString();
    if (turns.ok()) {
      for (const Turn& t : *turns) out.push_back(t.number);
    }
    return out;
  }

  // A completed turn with idempotency key "k<n>" and input "q<n>".
  uint64_t Append(const SessionId& id, int n) {
    const auto in = UserInput("q" + std::to_string(n));
    const auto out = AssistantOutput("a" + std::to_string(n));
    auto r = store_->AppendTurn(id, "k" + std::to_string(n), in, out);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->turn.number : 0;
  }

  void ExpectVerifies() {
    auto report = store_->Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const VerifyProblem& p : report->problems) {
      ADD_FAILURE() << p.column_family << " " << p.key << ": " << p.what;
    }
  }

  RetentionRun Enforce() {
    auto run = store_->EnforceRetention();
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : RetentionRun{};
  }
};

TEST_F(AgeRetentionTest, OldTurnsReadAsPrunedAndLeaveTheDiskAtCompact) {
  const Session s = MakeSession();
  for (int n = 1; n <= 3; ++n) Append(s.id, n);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult processing,
                       store_->BeginTurn(s.id, "k4", UserInput("q4")));
  Append(s.id, 5);
  const Session fresh = MakeSession();
  clock_->Advance(8 * kDay);
  Append(fresh.id, 1);  // Created before the cutoff, its turn after it.

  RetentionRun run = Enforce();
  // 1..3 of s; turn 4 is still processing, so 5 waits for it.
  EXPECT_EQ(run.turns_pruned, 3u);
  EXPECT_EQ(run.sessions_pruned, 1u);
  EXPECT_EQ(run.total(), 0u);  // Nothing evicted.

  auto check_pruned = [&] {
    const Result<Turn> gone = store_->GetTurn(s.id, 2);
    EXPECT_EQ(gone.status().code(), Code::kNotFound);
    EXPECT_NE(gone.status().message().find("pruned by age"), std::string::npos)
        << gone.status().message();
    EXPECT_OK(store_->GetTurn(s.id, 4).status());
    EXPECT_EQ(Listed(s.id), (std::vector<uint64_t>{4, 5}));
    EXPECT_EQ(store_->GetTurnByKey(s.id, "k1").status().code(),
              Code::kNotFound);
    ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> q1,
                         store_->FindInput(s.id, ComputeInputDigest(
                                                     UserInput("q1"))));
    EXPECT_FALSE(q1.has_value());
    ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> q5,
                         store_->FindInput(s.id, ComputeInputDigest(
                                                     UserInput("q5"))));
    EXPECT_EQ(q5, std::optional<uint64_t>(5));
    ASSERT_OK_AND_ASSIGN(Session now, store_->GetSession(s.id));
    EXPECT_EQ(now.oldest_turn, 4u);
    EXPECT_EQ(now.turn_count, 5u);
    EXPECT_EQ(now.completed_turns, 4u);  // The totals keep the pruned turns.
    EXPECT_EQ(Listed(fresh.id), (std::vector<uint64_t>{1}));
  };
  check_pruned();
  ExpectVerifies();
  // Pruning is not activity.
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.last_active_ms, s.created_ms);

  Reopen();  // The decision is durable.
  check_pruned();
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(OnDisk(Cf::kTurns, s.id), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(OnDisk(Cf::kIdempotency, s.id), (std::vector<uint64_t>{4, 5}));
  std::vector<uint64_t> inputs = OnDisk(Cf::kInputs, s.id);
  std::sort(inputs.begin(), inputs.end());
  EXPECT_EQ(inputs, (std::vector<uint64_t>{4, 5}));
  check_pruned();
  ExpectVerifies();

  // The key of a pruned turn is free again: a new turn, not a replay.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult again,
                       store_->AppendTurn(s.id, "k1", UserInput("q1"),
                                          AssistantOutput("again")));
  EXPECT_FALSE(again.replayed);
  EXPECT_EQ(again.turn.number, 6u);
  ASSERT_OK_AND_ASSIGN(Turn by_key, store_->GetTurnByKey(s.id, "k1"));
  EXPECT_EQ(by_key.number, 6u);
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(Listed(s.id), (std::vector<uint64_t>{4, 5, 6}));
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, ATurnThatEndsLateIsPrunedOnceItIsOld) {
  const Session s = MakeSession();
  Append(s.id, 1);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult two,
                       store_->BeginTurn(s.id, "", UserInput("q2")));
  Append(s.id, 3);
  clock_->Advance(8 * kDay);
  EXPECT_EQ(Enforce().turns_pruned, 1u);
  clock_->Advance(kDay);
  ASSERT_OK(store_->CompleteTurn(s.id, 2, AssistantOutput("late")).status());
  // Day 9: turn 2 ended a day ago, 3 nine days ago; not yet.
  EXPECT_EQ(Enforce().turns_pruned, 0u);
  clock_->Advance(7 * kDay);  // Day 16: turn 2 is exactly 7 days old.
  EXPECT_EQ(Enforce().turns_pruned, 0u);
  clock_->Advance(1);  // Older than 7 days.
  EXPECT_EQ(Enforce().turns_pruned, 2u);
  EXPECT_EQ(Listed(s.id), std::vector<uint64_t>{});
  ASSERT_OK_AND_ASSIGN(Session now, store_->GetSession(s.id));
  EXPECT_EQ(now.oldest_turn, 4u);
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, EachStatusHasItsOwnAgeAndPinnedSessionsKeepAll) {
  options_.turn_max_age.active = std::chrono::seconds(0);  // Never.
  options_.turn_max_age.idle = std::chrono::hours(24);
  options_.turn_max_age.archived = std::chrono::hours(24 * 3);
  Reopen();
  const Session active = MakeSession();
  const Session idle = MakeSession();
  const Session archived = MakeSession();
  SessionSpec pin{.agent = "a", .model = "m"};
  pin.pinned = true;
  ASSERT_OK_AND_ASSIGN(const Session pinned, store_->CreateSession(pin));
  for (const Session* s : {&active, &idle, &archived, &pinned}) {
    Append(s->id, 1);
    Append(s->id, 2);
  }
  ASSERT_OK(store_->ArchiveSession(idle.id));
  ASSERT_OK(store_->UnarchiveSession(idle.id));  // Now idle.
  ASSERT_OK(store_->ArchiveSession(pinned.id));
  ASSERT_OK(store_->UnarchiveSession(pinned.id));
  ASSERT_OK(store_->ArchiveSession(archived.id));

  clock_->Advance(2 * kDay);
  EXPECT_EQ(Enforce().turns_pruned, 2u);  // The idle one's.
  EXPECT_EQ(Listed(idle.id), std::vector<uint64_t>{});
  EXPECT_EQ(Listed(active.id), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Listed(pinned.id), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Listed(archived.id), (std::vector<uint64_t>{1, 2}));

  clock_->Advance(2 * kDay);
  EXPECT_EQ(Enforce().turns_pruned, 2u);  // The archived one's, read-only.
  EXPECT_EQ(Listed(archived.id), std::vector<uint64_t>{});
  EXPECT_EQ(Listed(active.id), (std::vector<uint64_t>{1, 2}));

  // Unpinned, the pinned one is due at the next pass.
  SessionUpdate unpin;
  unpin.pinned = false;
  ASSERT_OK(store_->UpdateSession(pinned.id, unpin).status());
  EXPECT_EQ(Enforce().turns_pruned, 2u);
  EXPECT_EQ(Listed(pinned.id), std::vector<uint64_t>{});
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, OldUsageIsPrunedAndTheTotalsKeepIt) {
  const Session s = MakeSession();
  auto record = [&](int n) {
    UsageSpec u;
    u.message_id = "m" + std::to_string(n);
    u.tokens.input = 100 * n;
    u.tokens.output = n;
    u.cost_micros = 1000 * n;
    auto r = store_->RecordUsage(s.id, u);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RecordUsageResult{};
  };
  const std::string name = s.id.ToString();
  auto totals_of = [&](Store& store) {
    auto t = store.GetUsageTotals(UsageScope::kSession, name);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : UsageTotals{};
  };
  for (int n = 1; n <= 5; ++n) record(n);
  clock_->Advance(2 * kDay);
  const UsageTotals five = totals_of(*store_);
  EXPECT_EQ(five.records, 5u);

  RetentionRun run = Enforce();
  EXPECT_EQ(run.usage_pruned, 5u);
  EXPECT_EQ(run.turns_pruned, 0u);
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(OnDisk(Cf::kUsage, s.id), std::vector<uint64_t>{});
  {
    // A crash now: open replays the records past the totals' mark, and
    // those are gone; the totals on disk must already count them.
    const std::string backups = dir_.Sub("backups");
    const std::string image = dir_.Sub("image");
    ASSERT_OK(store_->Backup(backups).status());
    ASSERT_OK(RestoreBackup(backups, std::nullopt, image));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> crashed,
                         Store::Open(options_, image));
    EXPECT_EQ(totals_of(*crashed), five);
    EXPECT_TRUE(crashed->recovery_report().corrupt_records.empty());
  }

  record(6);
  record(7);
  const UsageTotals seven = totals_of(*store_);
  EXPECT_EQ(seven.records, 7u);
  auto check = [&] {
    ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> listed,
                         store_->ListUsage(s.id));
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].seq, 6u);
    EXPECT_EQ(listed[1].seq, 7u);
    EXPECT_EQ(totals_of(*store_), seven);
    ASSERT_OK_AND_ASSIGN(Session now, store_->GetSession(s.id));
    EXPECT_EQ(now.oldest_usage, 6u);
    EXPECT_EQ(now.usage_records, 7u);
  };
  check();
  // A pruned record's message id still counts as recorded.
  const RecordUsageResult again = record(1);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.record.seq, 1u);
  ExpectVerifies();
  Reopen();
  check();
  EXPECT_EQ(OnDisk(Cf::kUsage, s.id), (std::vector<uint64_t>{6, 7}));
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, DeletingASessionTakesUsagePrunedButNotYetCompacted) {
  const Session s = MakeSession();
  const Session kept = MakeSession();
  for (const SessionId& id : {s.id, kept.id}) {
    for (int n = 1; n <= 3; ++n) {
      UsageSpec u;
      u.message_id = id.ToString() + "/" + std::to_string(n);
      u.tokens.input = 10;
      ASSERT_OK(store_->RecordUsage(id, u).status());
    }
  }
  clock_->Advance(2 * kDay);
  EXPECT_EQ(Enforce().usage_pruned, 6u);
  // Pruned, but only compaction takes records off the disk.
  ASSERT_EQ(OnDisk(Cf::kUsage, s.id), (std::vector<uint64_t>{1, 2, 3}));

  ASSERT_OK(store_->DeleteSession(s.id));
  // The deletion covers them: once the session is gone, no decision is
  // left that would have the filter drop them.
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(OnDisk(Cf::kUsage, s.id), std::vector<uint64_t>{});
  EXPECT_EQ(OnDisk(Cf::kUsage, kept.id), std::vector<uint64_t>{});
  ExpectVerifies();
  Reopen();
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(OnDisk(Cf::kUsage, s.id), std::vector<uint64_t>{});
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, OldCheckpointsArePrunedButNeverTheNewest) {
  options_.checkpoint_max_age.active = std::chrono::hours(48);
  Reopen();
  const Session growing = MakeSession();
  const Session stale = MakeSession();
  auto put = [&](const Session& s, int n) {
    const std::string payload = "state " + std::to_string(n);
    ASSERT_OK(store_->PutCheckpoint(s.id, {.payload = payload}).status());
  };
  for (int n = 1; n <= 5; ++n) put(growing, n);
  for (int n = 1; n <= 3; ++n) put(stale, n);
  clock_->Advance(3 * kDay);
  put(growing, 6);
  auto versions = [&](const SessionId& id) {
    std::vector<uint64_t> out;
    auto list = store_->ListCheckpoints(id);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok()) {
      for (const CheckpointInfo& c : *list) out.push_back(c.version);
    }
    return out;
  };

  RetentionRun run = Enforce();
  EXPECT_EQ(run.checkpoints_pruned, 5u + 2u);
  EXPECT_EQ(run.sessions_pruned, 2u);
  auto check = [&] {
    EXPECT_EQ(versions(growing.id), (std::vector<uint64_t>{6}));
    EXPECT_EQ(versions(stale.id), (std::vector<uint64_t>{3}));  // The newest.
    EXPECT_EQ(store_->GetCheckpoint(growing.id, 5).status().code(),
              Code::kNotFound);
    ASSERT_OK_AND_ASSIGN(Checkpoint latest, store_->GetCheckpoint(stale.id));
    EXPECT_EQ(latest.payload, "state 3");
  };
  check();
  Reopen();
  check();
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(OnDisk(Cf::kCheckpointData, growing.id),
            (std::vector<uint64_t>{6}));
  EXPECT_EQ(OnDisk(Cf::kCheckpoints, stale.id), (std::vector<uint64_t>{3}));
  check();
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, ClearingPrunedTurnsNumbersFromOneAndKeepsTheNewOnes) {
  const Session s = MakeSession();
  for (int n = 1; n <= 3; ++n) Append(s.id, n);
  clock_->Advance(8 * kDay);
  EXPECT_EQ(Enforce().turns_pruned, 3u);
  ASSERT_OK(store_->Compact());  // The floor is in effect in the filters.
  ASSERT_OK(store_->ClearTurns(s.id));
  EXPECT_EQ(Append(s.id, 1), 1u);
  EXPECT_EQ(Append(s.id, 2), 2u);
  ASSERT_OK(store_->Compact());  // Must not take turns under the old floor.
  EXPECT_EQ(Listed(s.id), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(OnDisk(Cf::kTurns, s.id), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(OnDisk(Cf::kIdempotency, s.id), (std::vector<uint64_t>{1, 2}));
  ASSERT_OK_AND_ASSIGN(Turn by_key, store_->GetTurnByKey(s.id, "k2"));
  EXPECT_EQ(by_key.number, 2u);
  Reopen();
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(Listed(s.id), (std::vector<uint64_t>{1, 2}));
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, PopStopsAtTheFloorAndNewTurnsNumberAboveIt) {
  const Session s = MakeSession();
  Append(s.id, 1);
  Append(s.id, 2);
  clock_->Advance(8 * kDay);
  EXPECT_EQ(Enforce().turns_pruned, 2u);
  EXPECT_EQ(store_->PopTurn(s.id).status().code(), Code::kNotFound);
  EXPECT_EQ(Append(s.id, 3), 3u);
  ASSERT_OK_AND_ASSIGN(Turn popped, store_->PopTurn(s.id));
  EXPECT_EQ(popped.number, 3u);
  EXPECT_EQ(store_->PopTurn(s.id).status().code(), Code::kNotFound);
  EXPECT_EQ(Append(s.id, 3), 3u);
  ASSERT_OK(store_->Compact());
  EXPECT_EQ(Listed(s.id), (std::vector<uint64_t>{3}));
  ExpectVerifies();
}

// Filters drop records under readers' snapshots: readers racing passes
// and compactions must still see an unbroken log from the floor, and
// NotFound (never Corruption) for what went.
TEST_F(AgeRetentionTest, ReadersSeeAnUnbrokenLogWhilePassesAndCompactionsRun) {
  options_.turn_max_age.active = std::chrono::seconds(1);
  Reopen();
  std::vector<SessionId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(MakeSession().id);
  std::atomic<bool> done{false};
  std::atomic<bool> pruner_done{false};
  std::atomic<uint64_t> passes{0};

  // Each thread's body returns at its first failed assertion; the flags
  // are set either way, so that no thread waits for a failed one.
  auto write = [&] {
    for (int n = 1; n <= 300; ++n) {
      for (const SessionId& id : ids) {
        ASSERT_OK(store_->AppendTurn(id, "k" + std::to_string(n),
                                     UserInput("q" + std::to_string(n)),
                                     AssistantOutput("a"))
                      .status());
      }
      clock_->Advance(20);
      // Passes (with their compactions) are slower than appends: let one
      // finish every 20 turns, so that pruning runs throughout.
      if (n % 20 == 0) {
        const uint64_t seen = passes;
        while (passes == seen && !pruner_done) std::this_thread::yield();
      }
    }
  };
  auto prune = [&] {
    // Until the writer is done, and twice more.
    for (uint64_t i = 0, after_done = 0; after_done < 2; ++i) {
      after_done += done ? 1 : 0;
      ASSERT_OK(store_->EnforceRetention().status());
      if (i % 4 == 3) ASSERT_OK(store_->Compact());
      ++passes;
    }
  };
  std::thread writer([&] {
    write();
    done = true;
  });
  std::thread pruner([&] {
    prune();
    pruner_done = true;
  });
  auto read = [&](int seed) {
    std::mt19937 rng(seed);
    while (!done) {
      const SessionId& id = ids[rng() % ids.size()];
      auto turns = store_->ListTurns(id);
      ASSERT_TRUE(turns.ok()) << turns.status().ToString();
      for (size_t i = 1; i < turns->size(); ++i) {
        ASSERT_EQ((*turns)[i].number, (*turns)[i - 1].number + 1);
      }
      const uint64_t n = 1 + rng() % 300;
      const Result<Turn> one = store_->GetTurn(id, n);
      ASSERT_TRUE(one.ok() || one.status().IsNotFound())
          << one.status().ToString();
      const Result<Turn> by_key =
          store_->GetTurnByKey(id, "k" + std::to_string(n));
      ASSERT_TRUE(by_key.ok() || by_key.status().IsNotFound())
          << by_key.status().ToString();
    }
  };
  std::thread reader1(read, 1);
  std::thread reader2(read, 2);
  writer.join();
  pruner.join();
  reader1.join();
  reader2.join();

  EXPECT_GT(passes.load(), 15u);
  // 300 turns 20 ms apart: all but the last second's 50 or so are gone.
  for (const SessionId& id : ids) {
    ASSERT_OK_AND_ASSIGN(Session s, store_->GetSession(id));
    EXPECT_GT(s.oldest_turn, 200u);
    EXPECT_EQ(Listed(id).size(), s.turn_count + 1 - s.oldest_turn);
  }
  ASSERT_OK(store_->Compact());
  ExpectVerifies();
}

TEST_F(AgeRetentionTest, AgesOutOfRangeAreRefusedByName) {
  Close();
  options_.usage_max_age.archived = std::chrono::seconds(-1);
  auto opened = Store::Open(options_, path());
  EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("usage_max_age.archived"),
            std::string::npos)
      << opened.status().message();
}

}  // namespace
}  // namespace agentlog::testing
