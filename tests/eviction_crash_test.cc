// Kill -9 and reopen with eviction running. A child process creates
// sessions in a store capped at kMaxSessions (each creation past the cap
// evicts the least recently active session, an unsynced decision), gives
// each a synced turn, reads and touches older ones, and acknowledges every
// call that returned OK on a pipe; the parent SIGKILLs it after a random
// number of acknowledgements (or while it opens the store) and checks the
// reopened store: every acknowledged session is there with its turn or was
// evicted (NotFound), never anything else; the index rebuilt at open holds
// exactly the live session records; Verify is clean; a retention pass
// brings the store back to the cap (an eviction the crash undid is done
// again); and, every few cycles, after Compact no per-session record of an
// evicted session is left and every stub is gone.
//
// AGENTLOG_CRASH_CYCLES sets the number of cycles (default 50);
// AGENTLOG_CRASH_SEED fixes the base seed, which every run prints.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

constexpr char kChildEnv[] = "AGENTLOG_EVICTION_CRASH_CHILD";
constexpr uint64_t kMaxSessions = 24;
constexpr uint64_t kMaxAcksPerCycle = 120;

Options StoreOptions() {
  Options options;
  options.durability = Durability::kSync;
  options.max_sessions = kMaxSessions;
  // The parent runs every pass itself.
  options.retention_check_interval = std::chrono::hours(24);
  return options;
}

std::string KeyFor(const SessionId& id) { return "first-" + id.ToString(); }

// --- The child: "<store path>|<ack fd>|<seed>" ---

[[noreturn]] void RunChild(const std::string& spec) {
  std::stringstream in(spec);
  std::string path, fd_text, seed_text;
  std::getline(in, path, '|');
  std::getline(in, fd_text, '|');
  std::getline(in, seed_text, '|');
  const int fd = std::stoi(fd_text);
  std::mt19937_64 rng(std::stoull(seed_text));
  Send(fd, "P\n");  // About to open.
  Result<std::unique_ptr<Store>> opened = Store::Open(StoreOptions(), path);
  if (!opened.ok()) Die(fd, "Open: " + opened.status().ToString());
  Store& store = **opened;
  Send(fd, "O\n");
  std::vector<SessionId> mine;
  for (;;) {
    Result<Session> s = store.CreateSession({.agent = "a", .model = "m"});
    if (!s.ok()) Die(fd, "CreateSession: " + s.status().ToString());
    Send(fd, "C " + s->id.ToString() + "\n");
    Result<BeginTurnResult> t =
        store.AppendTurn(s->id, KeyFor(s->id), UserInput("q"),
                         AssistantOutput("a"), TurnUsage{});
    if (!t.ok()) Die(fd, "AppendTurn: " + t.status().ToString());
    Send(fd, "T " + s->id.ToString() + "\n");
    mine.push_back(s->id);
    // Use an older session: a read or a touch makes it recent, unless it
    // was evicted already.
    const SessionId& old = mine[rng() % mine.size()];
    const Status used = rng() % 2 == 0 ? store.GetSession(old).status()
                                       : store.TouchSession(old);
    if (!used.ok() && !used.IsNotFound()) {
      Die(fd, "using an older session: " + used.ToString());
    }
  }
}

// --- The parent ---

class EvictionCrashTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.Sub("store"); }

  // Runs one child to its death; adds what it acknowledged.
  void RunChildUntilKilled(uint64_t seed) {
    std::mt19937_64 rng(seed);
    const bool while_opening = rng() % 10 == 0;
    const uint64_t target = 1 + rng() % kMaxAcksPerCycle;
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t pid =
        SpawnSelf(kChildEnv, fmt::format("{}|{}|{}", path(), fds[1], seed),
                  fds[1]);
    ::close(fds[1]);
    ASSERT_GT(pid, 0) << "cannot start the child";
    uint64_t acks = 0;
    const ChildEnd end = RunChildToItsEnd(
        pid, fds[0],
        [&](const std::string& line, std::vector<std::string>& errors) {
          const char kind = line[0];
          if (kind == 'P') {
            return while_opening ? LineVerdict::kKill : LineVerdict::kGoOn;
          }
          if (kind == 'O') return LineVerdict::kGoOn;
          Result<SessionId> id = line.size() < 3
                                     ? Status::InvalidArgument("too short")
                                     : SessionId::Parse(line.substr(2));
          if (!id.ok() || (kind != 'C' && kind != 'T')) {
            errors.push_back("malformed ack: " + line);
            return LineVerdict::kKill;
          }
          (kind == 'C' ? created_ : with_turn_).insert(*id);
          return ++acks >= target ? LineVerdict::kKill : LineVerdict::kGoOn;
        });
    for (const std::string& e : end.errors) ADD_FAILURE() << "child: " << e;
    ASSERT_TRUE(end.errors.empty());
    ASSERT_TRUE(end.killed) << "the child ended by itself with status "
                            << end.status;
  }

  void CheckReopenedStore(bool compact) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                         Store::Open(StoreOptions(), path()));
    // The index rebuilt at open holds exactly the live records.
    ASSERT_OK_AND_ASSIGN(std::vector<Session> records,
                         store->ListSessions({}));
    std::map<SessionId, SessionSummary> expected;
    for (const Session& s : records) {
      if (s.status != SessionStatus::kEvicted) expected[s.id] = SummaryOf(s);
    }
    const std::vector<SessionSummary> indexed = AllIndexed(*store);
    ASSERT_EQ(indexed.size(), expected.size());
    for (const SessionSummary& s : indexed) {
      ASSERT_TRUE(expected.contains(s.id)) << s.id.ToString();
      EXPECT_EQ(s, expected[s.id]);
    }
    // Every acknowledged session is there, with its acknowledged turn, or
    // was evicted; nothing reads as anything else.
    for (const SessionId& id : created_) {
      Result<Session> s = store->GetSession(id);
      if (s.status().IsNotFound()) {
        EXPECT_FALSE(expected.contains(id)) << id.ToString();
        evicted_.insert(id);
        continue;
      }
      ASSERT_OK(s.status());
      EXPECT_FALSE(evicted_.contains(id))
          << id.ToString() << " came back after it was seen evicted";
      if (with_turn_.contains(id)) {
        ASSERT_OK_AND_ASSIGN(Turn t, store->GetTurn(id, 1));
        EXPECT_EQ(t.idempotency_key, KeyFor(id));
      }
    }
    ASSERT_OK_AND_ASSIGN(VerifyReport verify, store->Verify());
    EXPECT_TRUE(verify.clean()) << verify.problems.front().what;
    // A pass brings the store back to the cap.
    ASSERT_OK(store->EnforceRetention().status());
    EXPECT_EQ(AllIndexed(*store).size(),
              std::min<size_t>(kMaxSessions, expected.size()));
    if (!compact) return;
    ASSERT_OK(store->Compact());
    std::set<SessionId> live;
    for (const SessionSummary& s : AllIndexed(*store)) live.insert(s.id);
    auto& impl = static_cast<internal::StoreImpl&>(*store);
    for (internal::Cf cf : internal::kPerSessionCfs) {
      std::unique_ptr<rocksdb::Iterator> it(
          impl.db()->NewIterator(rocksdb::ReadOptions(), impl.handle(cf)));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const SessionId owner =
            internal::SessionIdFromKeyPrefix(it->key().ToStringView());
        ASSERT_TRUE(live.contains(owner))
            << internal::CfName(cf) << " still holds a record of evicted "
            << owner.ToString();
      }
      ASSERT_TRUE(it->status().ok()) << it->status().ToString();
    }
    ASSERT_OK_AND_ASSIGN(records, store->ListSessions({}));
    EXPECT_EQ(records.size(), live.size()) << "stubs left after Compact";
  }

  TempDir dir_;
  std::set<SessionId> created_;    // Acknowledged creations.
  std::set<SessionId> with_turn_;  // Acknowledged turns (number 1).
  std::set<SessionId> evicted_;    // Seen NotFound once.
};

TEST_F(EvictionCrashTest, EvictionsSurviveSigkill) {
  if (const char* spec = std::getenv(kChildEnv)) RunChild(spec);
  const char* cycles_env = std::getenv("AGENTLOG_CRASH_CYCLES");
  const uint64_t cycles =
      cycles_env != nullptr && *cycles_env != '\0' ? std::stoull(cycles_env)
                                                   : 50;
  const char* seed_env = std::getenv("AGENTLOG_CRASH_SEED");
  const uint64_t base_seed = seed_env != nullptr && *seed_env != '\0'
                                 ? std::stoull(seed_env)
                                 : std::random_device()();
  std::cout << "[ crash    ] " << cycles
            << " cycles, AGENTLOG_CRASH_SEED=" << base_seed << std::endl;
  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE(fmt::format("cycle {} (AGENTLOG_CRASH_SEED={})", cycle,
                             base_seed));
    ASSERT_NO_FATAL_FAILURE(RunChildUntilKilled(base_seed + cycle));
    ASSERT_NO_FATAL_FAILURE(CheckReopenedStore(cycle % 5 == 4));
    if (HasFailure()) break;
  }
  std::cout << "[ crash    ] " << created_.size() << " sessions created, "
            << evicted_.size() << " evicted" << std::endl;
  if (cycles >= 10) {
    EXPECT_GT(created_.size(), kMaxSessions);
    EXPECT_GT(evicted_.size(), 0u);
  }
}

}  // namespace
}  // namespace agentlog::testing
