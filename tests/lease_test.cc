// Session leases and fencing tokens: mutual exclusion, expiry, release and
// force-release, tokens that only grow (across restart too), waiters woken
// by a release, and late writes of a worker that lost its lease refused.

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using namespace std::chrono_literals;

class LeaseTest : public StoreTest {
 protected:
  uint64_t Sequence() {
    return static_cast<internal::StoreImpl&>(*store_)
        .db()
        ->GetLatestSequenceNumber();
  }
  static WriteOptions Fenced(const Lease& lease) {
    WriteOptions wo;
    wo.fencing_token = lease.token;
    return wo;
  }
};

// 8 workers contend for 3 sessions. Inside a lease each bumps a per-session
// "holders" counter, which must read 1 (no one else inside), checks that its
// token is greater than every token before it, and appends a fenced turn.
TEST_F(LeaseTest, OneHolderAtATimeAndTokensOnlyGrow) {
  constexpr int kWorkers = 8;
  constexpr int kSessions = 3;
  constexpr int kRounds = 60;
  std::vector<Session> sessions;
  for (int s = 0; s < kSessions; ++s) sessions.push_back(MakeSession());
  std::array<std::atomic<int>, kSessions> holders{};
  std::array<std::atomic<uint64_t>, kSessions> last_token{};
  std::atomic<int> violations{0};
  std::atomic<int> appended{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      const std::string owner = "worker-" + std::to_string(w);
      for (int round = 0; round < kRounds; ++round) {
        const int s = (w + round) % kSessions;
        const SessionId& id = sessions[s].id;
        // The manual clock never moves: leases end only by release.
        auto lease = store_->AcquireLease(id, owner, 60s, 60s);
        if (!lease.ok()) {
          ADD_FAILURE() << lease.status().ToString();
          return;
        }
        if (holders[s].fetch_add(1) != 0) ++violations;
        if (lease->token <= last_token[s].load()) ++violations;
        last_token[s] = lease->token;
        const std::string key = owner + "/" + std::to_string(round);
        // Failures are recorded, not ASSERTed: a worker that returned
        // holding the lease would stall the others.
        EXPECT_OK(store_
                      ->AppendTurn(id, key, UserInput(key),
                                   AssistantOutput("ok"), {}, Fenced(*lease))
                      .status());
        ++appended;
        holders[s].fetch_sub(1);
        EXPECT_OK(store_->ReleaseLease(id, lease->token));
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(appended.load(), kWorkers * kRounds);
  uint64_t tokens = 0;
  for (int s = 0; s < kSessions; ++s) {
    ASSERT_OK_AND_ASSIGN(Lease lease, store_->GetLease(sessions[s].id));
    EXPECT_TRUE(lease.owner.empty());
    tokens += lease.token;
  }
  EXPECT_EQ(tokens, static_cast<uint64_t>(kWorkers * kRounds));
}

TEST_F(LeaseTest, AnExpiredLeaseFreesItself) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(Lease a, store_->AcquireLease(s.id, "a", 1000ms));
  EXPECT_EQ(a.token, 1u);
  EXPECT_EQ(a.expires_ms, clock_->NowMillis() + 1000);
  const Status busy = store_->AcquireLease(s.id, "b", 1000ms).status();
  EXPECT_EQ(busy.code(), Code::kBusy);
  EXPECT_NE(busy.message().find("'a'"), std::string::npos) << busy.message();

  clock_->Advance(999);
  EXPECT_TRUE(store_->AcquireLease(s.id, "b", 1000ms).status().IsBusy());
  clock_->Advance(1);  // Now at the expiry: the lease is over.
  ASSERT_OK_AND_ASSIGN(Lease b, store_->AcquireLease(s.id, "b", 1000ms));
  EXPECT_EQ(b.token, 2u);
  EXPECT_EQ(b.owner, "b");
  // a learns it lost the lease.
  EXPECT_EQ(store_->RenewLease(s.id, a.token, 1000ms).status().code(),
            Code::kConflict);
  EXPECT_EQ(store_->ReleaseLease(s.id, a.token).code(), Code::kConflict);
  // b renews; an expired lease nobody took can be renewed too.
  clock_->Advance(5000);
  ASSERT_OK_AND_ASSIGN(Lease renewed, store_->RenewLease(s.id, b.token, 50ms));
  EXPECT_EQ(renewed.token, b.token);
  EXPECT_EQ(renewed.expires_ms, clock_->NowMillis() + 50);
}

TEST_F(LeaseTest, ForceReleaseFreesAndKeepsTheOldTokenFenced) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(Lease a, store_->AcquireLease(s.id, "stuck", 60s));
  ASSERT_OK(store_->ForceReleaseLease(s.id));
  // The holder is fenced at once, before anyone else takes the session.
  EXPECT_EQ(store_->AppendTurn(s.id, "k0", UserInput("q"), AssistantOutput("a"),
                               {}, Fenced(a))
                .status()
                .code(),
            Code::kConflict);
  ASSERT_OK_AND_ASSIGN(Lease freed, store_->GetLease(s.id));
  EXPECT_FALSE(freed.held(clock_->NowMillis()));
  EXPECT_EQ(freed.token, a.token);
  // Still the current token: nobody has taken the session since.
  EXPECT_EQ(store_->ReleaseLease(s.id, a.token).code(), Code::kConflict);
  ASSERT_OK_AND_ASSIGN(Lease b, store_->AcquireLease(s.id, "next", 60s));
  EXPECT_GT(b.token, a.token);
  EXPECT_EQ(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"),
                               {}, Fenced(a))
                .status()
                .code(),
            Code::kConflict);
  ASSERT_OK(store_->ForceReleaseLease(s.id));
  ASSERT_OK(store_->ForceReleaseLease(s.id));  // Free already: fine.
}

TEST_F(LeaseTest, TokensKeepGrowingAcrossReleaseExpiryAndRestart) {
  const Session s = MakeSession();
  std::vector<uint64_t> tokens;
  ASSERT_OK_AND_ASSIGN(Lease a, store_->AcquireLease(s.id, "w", 100ms));
  tokens.push_back(a.token);
  ASSERT_OK(store_->ReleaseLease(s.id, a.token));
  ASSERT_OK_AND_ASSIGN(Lease b, store_->AcquireLease(s.id, "w", 100ms));
  tokens.push_back(b.token);
  clock_->Advance(200);  // b expires.
  ASSERT_OK_AND_ASSIGN(Lease c, store_->AcquireLease(s.id, "x", 100ms));
  tokens.push_back(c.token);
  Reopen();
  ASSERT_OK_AND_ASSIGN(Lease after, store_->GetLease(s.id));
  EXPECT_EQ(after, c);  // The lease itself survives the restart.
  clock_->Advance(200);
  ASSERT_OK_AND_ASSIGN(Lease d, store_->AcquireLease(s.id, "y", 100ms));
  tokens.push_back(d.token);
  for (size_t i = 1; i < tokens.size(); ++i) {
    EXPECT_GT(tokens[i], tokens[i - 1]);
  }
}

// A release wakes a waiter at once; the waiter does not poll.
TEST_F(LeaseTest, ReleaseWakesAWaiter) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(Lease a, store_->AcquireLease(s.id, "a", 60s));
  std::atomic<bool> waiting{false};
  Result<Lease> got = Status::FailedPrecondition("not run");
  std::thread waiter([&] {
    waiting = true;
    got = store_->AcquireLease(s.id, "b", 60s, 24h);  // Would wait a day.
  });
  while (!waiting.load()) std::this_thread::yield();
  ASSERT_OK(store_->ReleaseLease(s.id, a.token));
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->owner, "b");
  EXPECT_EQ(got->token, a.token + 1);
}

TEST_F(LeaseTest, WaitingEndsBusyAtTheTimeout) {
  const Session s = MakeSession();
  ASSERT_OK(store_->AcquireLease(s.id, "a", 60s).status());
  EXPECT_EQ(store_->AcquireLease(s.id, "b", 60s, 20ms).status().code(),
            Code::kBusy);
}

// The fencing scenario: worker A stalls past its TTL, B takes over and
// writes; A's late writes are refused and B's data is intact.
TEST_F(LeaseTest, ALateWriteOfAWorkerThatLostItsLeaseIsRefused) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(Lease a, store_->AcquireLease(s.id, "worker-a", 1s));
  ASSERT_OK(store_
                ->AppendTurn(s.id, "a1", UserInput("from a"),
                             AssistantOutput("a's answer"), {}, Fenced(a))
                .status());
  clock_->Advance(5000);  // A is paused (GC, network) past its TTL.

  ASSERT_OK_AND_ASSIGN(Lease b, store_->AcquireLease(s.id, "worker-b", 1s));
  ASSERT_OK(store_
                ->AppendTurn(s.id, "b1", UserInput("from b"),
                             AssistantOutput("b's answer"), {}, Fenced(b))
                .status());
  CheckpointSpec state;
  state.payload = "b's state";
  ASSERT_OK(store_->PutCheckpoint(s.id, state, Fenced(b)).status());
  const uint64_t sequence = Sequence();

  // A wakes up and carries on as if it still held the session.
  const Status late = store_
                          ->AppendTurn(s.id, "a2", UserInput("late"),
                                       AssistantOutput("stale"), {}, Fenced(a))
                          .status();
  EXPECT_EQ(late.code(), Code::kConflict);
  EXPECT_NE(late.message().find("fencing token 1"), std::string::npos)
      << late.message();
  CheckpointSpec stale;
  stale.payload = "a's stale state";
  EXPECT_EQ(store_->PutCheckpoint(s.id, stale, Fenced(a)).status().code(),
            Code::kConflict);
  EXPECT_EQ(store_->BeginTurn(s.id, "a3", UserInput("x"), Fenced(a))
                .status()
                .code(),
            Code::kConflict);
  EXPECT_EQ(store_->DeleteSession(s.id, Fenced(a)).code(), Code::kConflict);
  EXPECT_EQ(Sequence(), sequence) << "a refused write wrote something";

  ASSERT_OK_AND_ASSIGN(auto turns, store_->ListTurns(s.id));
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_EQ(turns[1].idempotency_key, "b1");
  ASSERT_OK_AND_ASSIGN(Checkpoint latest, store_->GetCheckpoint(s.id));
  EXPECT_EQ(latest.payload, "b's state");
  // Writes without a token are not fenced.
  ASSERT_OK(store_
                ->AppendTurn(s.id, "plain", UserInput("q"),
                             AssistantOutput("a"))
                .status());
}

TEST_F(LeaseTest, BadLeaseCallsAreRefusedAndWriteNothing) {
  const Session s = MakeSession();
  const uint64_t sequence = Sequence();
  struct Case {
    const char* what;
    Status status;
    const char* names;
  };
  const std::string long_owner(options_.max_lease_owner_bytes + 1, 'o');
  const Case cases[] = {
      {"empty owner", store_->AcquireLease(s.id, "", 1s).status(), "owner"},
      {"long owner", store_->AcquireLease(s.id, long_owner, 1s).status(),
       "max_lease_owner_bytes"},
      {"zero ttl", store_->AcquireLease(s.id, "w", 0ms).status(), "ttl"},
      {"huge ttl", store_->AcquireLease(s.id, "w", 48h).status(), "ttl"},
      {"negative wait", store_->AcquireLease(s.id, "w", 1s, -1ms).status(),
       "wait_timeout"},
      {"renew ttl", store_->RenewLease(s.id, 1, 0ms).status(), "ttl"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), Code::kInvalidArgument) << c.what;
    EXPECT_NE(c.status.message().find(c.names), std::string::npos)
        << c.what << ": " << c.status.message();
  }
  EXPECT_TRUE(store_->AcquireLease(SessionId::Generate(1), "w", 1s)
                  .status()
                  .IsNotFound());
  EXPECT_EQ(store_->RenewLease(s.id, 7, 1s).status().code(), Code::kConflict);
  EXPECT_EQ(Sequence(), sequence);
  ASSERT_OK(store_->ArchiveSession(s.id));
  EXPECT_EQ(store_->AcquireLease(s.id, "w", 1s).status().code(),
            Code::kFailedPrecondition);
}

}  // namespace
}  // namespace agentlog::testing
