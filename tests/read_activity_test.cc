// Reads as activity (Options::reads_count_as_activity): reads move a
// session's last activity without a write per read, the times reach the
// records at each retention pass, Shutdown and close, and eviction spares
// the sessions hosts read.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace agentlog::testing {
namespace {

class ReadActivityTest : public StoreTest {
 protected:
  void SetUp() override {
    // The tests run every retention pass themselves.
    options_.retention_check_interval = std::chrono::hours(24);
    StoreTest::SetUp();
  }

  uint64_t LastSequence() {
    auto info = store_->Info();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? info->last_sequence : 0;
  }
  int64_t LastActive(const SessionId& id) {
    // Through the index: GetSession would itself count as a read.
    for (const SessionSummary& s : AllIndexed(*store_)) {
      if (s.id == id) return s.last_active_ms;
    }
    ADD_FAILURE() << id.ToString() << " is not indexed";
    return 0;
  }
  std::set<SessionId> Live() {
    std::set<SessionId> out;
    for (const SessionSummary& s : AllIndexed(*store_)) out.insert(s.id);
    return out;
  }
  void AddTurn(const SessionId& id) {
    ASSERT_OK(store_->AppendTurn(id, "k" + std::to_string(++turns_),
                                 UserInput("question"),
                                 AssistantOutput("answer"), TurnUsage{})
                  .status());
  }
  int turns_ = 0;
};

TEST_F(ReadActivityTest, ReadsMoveLastActiveWithoutAWritePerRead) {
  const Session s = MakeSession();
  AddTurn(s.id);
  ASSERT_OK(store_->PutCheckpoint(s.id, {.payload = "state"}).status());
  const int64_t written = clock_->NowMillis();
  const uint64_t seq = LastSequence();

  // Every kind of read, many times, at later and later times.
  int64_t last_read = 0;
  for (int i = 0; i < 100; ++i) {
    clock_->Advance(10);
    last_read = clock_->NowMillis();
    switch (i % 8) {
      case 0: ASSERT_OK(store_->GetSession(s.id).status()); break;
      case 1: ASSERT_OK(store_->GetTurn(s.id, 1).status()); break;
      case 2: ASSERT_OK(store_->GetTurnByKey(s.id, "k1").status()); break;
      case 3: ASSERT_OK(store_->ListTurns(s.id).status()); break;
      case 4:
        ASSERT_OK(
            store_->FindInput(s.id, ComputeInputDigest(UserInput("question")))
                .status());
        break;
      case 5: ASSERT_OK(store_->GetCheckpoint(s.id).status()); break;
      case 6: ASSERT_OK(store_->ListCheckpoints(s.id).status()); break;
      case 7: ASSERT_OK(store_->ListUsage(s.id).status()); break;
    }
  }
  EXPECT_EQ(LastSequence(), seq) << "a read wrote";
  EXPECT_EQ(LastActive(s.id), written) << "not written before the pass";

  ASSERT_OK(store_->EnforceRetention().status());
  EXPECT_EQ(LastSequence(), seq + 1) << "one write for all the reads";
  EXPECT_EQ(LastActive(s.id), last_read) << "the read's time, not the pass's";
  clock_->Advance(1000);
  ASSERT_OK_AND_ASSIGN(Session stored, store_->GetSession(s.id));
  EXPECT_EQ(stored.last_active_ms, last_read);

  // A pass with nothing newer than the records writes nothing.
  ASSERT_OK(store_->EnforceRetention().status());  // Writes the GetSession.
  const uint64_t after = LastSequence();
  ASSERT_OK(store_->EnforceRetention().status());
  EXPECT_EQ(LastSequence(), after);
}

TEST_F(ReadActivityTest, AWriteAfterTheReadWins) {
  const Session s = MakeSession();
  clock_->Advance(10);
  ASSERT_OK(store_->GetSession(s.id).status());
  clock_->Advance(10);
  AddTurn(s.id);
  const int64_t written = clock_->NowMillis();
  const uint64_t seq = LastSequence();
  ASSERT_OK(store_->EnforceRetention().status());
  EXPECT_EQ(LastActive(s.id), written);
  EXPECT_EQ(LastSequence(), seq) << "an older read is not written";
}

TEST_F(ReadActivityTest, ReadTimesReachTheRecordsAtCloseAndShutdown) {
  const Session a = MakeSession();
  const Session b = MakeSession();
  clock_->Advance(100);
  ASSERT_OK(store_->GetSession(a.id).status());
  const int64_t read_a = clock_->NowMillis();
  Reopen();
  EXPECT_EQ(LastActive(a.id), read_a);
  EXPECT_EQ(LastActive(b.id), b.last_active_ms);

  clock_->Advance(100);
  ASSERT_OK(store_->ListTurns(b.id).status());
  const int64_t read_b = clock_->NowMillis();
  ASSERT_OK(store_->Shutdown(std::chrono::milliseconds(0)).status());
  EXPECT_EQ(LastActive(b.id), read_b);
  Reopen();
  EXPECT_EQ(LastActive(b.id), read_b);
}

TEST_F(ReadActivityTest, LruEvictionSparesReadSessions) {
  options_.max_sessions = 3;
  Reopen();
  std::vector<SessionId> ids;
  for (int i = 0; i < 3; ++i) {
    clock_->Advance(1);
    ids.push_back(MakeSession().id);
  }
  clock_->Advance(1);
  ASSERT_OK(store_->GetSession(ids[0]).status());
  clock_->Advance(1);
  const SessionId d = MakeSession().id;  // Evicts 1, the oldest unread.
  EXPECT_EQ(Live(), (std::set<SessionId>{ids[0], ids[2], d}));
  clock_->Advance(1);
  const SessionId e = MakeSession().id;  // Then 2.
  EXPECT_EQ(Live(), (std::set<SessionId>{ids[0], d, e}));
}

TEST_F(ReadActivityTest, WhenOnlyReadSessionsAreLeftTheOldestReadGoes) {
  options_.max_sessions = 2;
  Reopen();
  clock_->Advance(1);
  const SessionId a = MakeSession().id;
  clock_->Advance(1);
  const SessionId b = MakeSession().id;
  clock_->Advance(1);
  ASSERT_OK(store_->GetSession(b).status());  // b read first,
  clock_->Advance(1);
  ASSERT_OK(store_->GetSession(a).status());  // a last.
  clock_->Advance(1);
  const SessionId c = MakeSession().id;
  EXPECT_EQ(Live(), (std::set<SessionId>{a, c}));
}

TEST_F(ReadActivityTest, InactiveEvictionSparesSessionsReadSinceTheCutoff) {
  constexpr int64_t kDay = 24 * 3600 * 1000;
  options_.evict_inactive_after.active = std::chrono::hours(24 * 7);
  Reopen();
  const SessionId read = MakeSession().id;
  MakeSession();  // Unread: evicted at the first pass.
  clock_->Advance(6 * kDay);
  ASSERT_OK(store_->ListCheckpoints(read).status());
  clock_->Advance(2 * kDay);
  ASSERT_OK_AND_ASSIGN(RetentionRun run, store_->EnforceRetention());
  EXPECT_EQ(run.inactive_active, 1u);
  EXPECT_EQ(Live(), std::set<SessionId>{read});
  // The pass wrote the read: it survives a restart, and so does the
  // session's reprieve.
  Reopen();
  clock_->Advance(2 * kDay);
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.total(), 0u);
  clock_->Advance(4 * kDay);  // 8 days after the read.
  ASSERT_OK_AND_ASSIGN(run, store_->EnforceRetention());
  EXPECT_EQ(run.inactive_active, 1u);
  EXPECT_TRUE(Live().empty());
}

TEST_F(ReadActivityTest, ReadsDoNotCountWhenTheOptionIsOff) {
  options_.reads_count_as_activity = false;
  options_.max_sessions = 2;
  Reopen();
  clock_->Advance(1);
  const Session a = MakeSession();
  clock_->Advance(1);
  const SessionId b = MakeSession().id;
  clock_->Advance(1);
  ASSERT_OK(store_->GetSession(a.id).status());
  ASSERT_OK(store_->EnforceRetention().status());
  EXPECT_EQ(LastActive(a.id), a.last_active_ms);
  clock_->Advance(1);
  const SessionId c = MakeSession().id;
  EXPECT_EQ(Live(), (std::set<SessionId>{b, c}));
}

TEST_F(ReadActivityTest, ConcurrentReadsWritesAndPassesKeepEveryRead) {
  constexpr int kSessions = 32;
  constexpr int kReaders = 4;
  constexpr int kReads = 2000;
  std::vector<SessionId> ids;
  for (int i = 0; i < kSessions; ++i) ids.push_back(MakeSession().id);
  // The latest clock reading some thread took before a read of each
  // session returned: its last activity can be no older.
  std::mutex mu;
  std::map<SessionId, int64_t> floor;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      for (int i = 0; i < kReads; ++i) {
        const SessionId& id = ids[rng() % ids.size()];
        clock_->Advance(1);
        const int64_t before = clock_->NowMillis();
        ASSERT_OK(store_->GetSession(id).status());
        std::lock_guard<std::mutex> lock(mu);
        floor[id] = std::max(floor[id], before);
      }
    });
  }
  threads.emplace_back([&] {  // A writer: writes and reads interleave.
    for (int i = 0; !stop.load(); ++i) {
      ASSERT_OK(store_->TouchSession(ids[i % ids.size()]));
    }
  });
  threads.emplace_back([&] {  // Passes flush while reads are noted.
    while (!stop.load()) ASSERT_OK(store_->EnforceRetention().status());
  });
  for (int r = 0; r < kReaders; ++r) threads[r].join();
  stop.store(true);
  for (size_t t = kReaders; t < threads.size(); ++t) threads[t].join();

  ASSERT_OK(store_->EnforceRetention().status());
  const int64_t now = clock_->NowMillis();
  for (const auto& [id, at_least] : floor) {
    const int64_t last = LastActive(id);
    EXPECT_GE(last, at_least) << id.ToString();
    EXPECT_LE(last, now);
  }
  // The index kept in step with what the passes wrote.
  Reopen();
  for (const auto& [id, at_least] : floor) {
    EXPECT_GE(LastActive(id), at_least) << id.ToString();
  }
}

}  // namespace
}  // namespace agentlog::testing
