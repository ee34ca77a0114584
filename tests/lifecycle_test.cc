// Session handles, max_active_sessions, lifecycle figures and Shutdown.

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "agentlog/store.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

class LifecycleTest : public StoreTest {
 protected:
  void SetUp() override {
    options_.max_active_sessions = 5;
    StoreTest::SetUp();
  }

  // Blocks until Shutdown has begun, read from the store's own refusal. The
  // probe names no session, so that it never takes a handle (it gets
  // NotFound until then).
  void AwaitShutdownBegun() {
    const SessionId nobody = SessionId::Generate(1);
    while (store_->AcquireSession(nobody).status().code() !=
           Code::kShuttingDown) {
      std::this_thread::yield();
    }
  }

  // Five new sessions, each held through a handle.
  void HoldFive(std::vector<Session>* sessions,
                std::vector<SessionHandle>* handles) {
    for (int i = 0; i < 5; ++i) {
      sessions->push_back(MakeSession());
      ASSERT_OK_AND_ASSIGN(SessionHandle h,
                           store_->AcquireSession(sessions->back().id));
      handles->push_back(std::move(h));
    }
  }
};

TEST_F(LifecycleTest, HandlesCountAgainstMaxActiveSessions) {
  std::vector<SessionHandle> handles;
  std::vector<Session> sessions;
  for (int i = 0; i < 6; ++i) sessions.push_back(MakeSession());
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionHandle h,
                         store_->AcquireSession(sessions[i].id));
    EXPECT_TRUE(h.held());
    EXPECT_EQ(h.session(), sessions[i].id);
    handles.push_back(std::move(h));
  }
  auto refused = store_->AcquireSession(sessions[5].id);
  ASSERT_EQ(refused.status().code(), Code::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("max_active_sessions is 5"),
            std::string::npos)
      << refused.status().message();

  handles[2].Release();
  EXPECT_FALSE(handles[2].held());
  handles[2].Release();  // A second release does nothing.
  ASSERT_OK_AND_ASSIGN(SessionHandle sixth,
                       store_->AcquireSession(sessions[5].id));

  const SessionLifecycle f = store_->Lifecycle();
  EXPECT_EQ(f.created, 6u);
  EXPECT_EQ(f.active, 5u);
  EXPECT_EQ(f.peak_active, 5u);
  EXPECT_EQ(f.completed, 1u);
  EXPECT_EQ(f.rejected_for_capacity, 1u);
}

TEST_F(LifecycleTest, OneHandlePerSessionAndOnlyOnWritableSessions) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(SessionHandle h, store_->AcquireSession(s.id));
  EXPECT_EQ(store_->AcquireSession(s.id).status().code(), Code::kBusy);
  h.Release();
  EXPECT_TRUE(store_->AcquireSession(s.id).ok());  // Released at once.

  EXPECT_EQ(store_->AcquireSession(SessionId::Generate(1)).status().code(),
            Code::kNotFound);
  ASSERT_OK(store_->ArchiveSession(s.id));
  EXPECT_EQ(store_->AcquireSession(s.id).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->Lifecycle().active, 0u);

  Close();
  ASSERT_OK_AND_ASSIGN(auto ro, Store::OpenReadOnly(options_, path()));
  EXPECT_EQ(ro->AcquireSession(s.id).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(LifecycleTest, MovingAHandleMovesTheClaim) {
  const Session a = MakeSession();
  const Session b = MakeSession();
  ASSERT_OK_AND_ASSIGN(SessionHandle ha, store_->AcquireSession(a.id));
  SessionHandle moved(std::move(ha));
  EXPECT_FALSE(ha.held());  // NOLINT(bugprone-use-after-move): the point.
  EXPECT_TRUE(moved.held());
  EXPECT_EQ(store_->Lifecycle().active, 1u);

  ASSERT_OK_AND_ASSIGN(SessionHandle hb, store_->AcquireSession(b.id));
  moved = std::move(hb);  // Releases a's claim, takes b's.
  EXPECT_EQ(moved.session(), b.id);
  EXPECT_EQ(store_->Lifecycle().active, 1u);
  EXPECT_TRUE(store_->AcquireSession(a.id).ok());
  {
    SessionHandle scoped = std::move(moved);
  }
  const SessionLifecycle f = store_->Lifecycle();
  EXPECT_EQ(f.active, 0u);
  EXPECT_EQ(f.completed, 3u);  // a by the move, a again, b by the scope.
}

TEST_F(LifecycleTest, AHandleMayOutliveItsStore) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(SessionHandle h, store_->AcquireSession(s.id));
  Close();
  h.Release(SessionOutcome::kFailed);  // No store to tell: only dropped.
  EXPECT_FALSE(h.held());
}

TEST_F(LifecycleTest, OutcomesRatesAndDurationsAreExact) {
  std::vector<Session> sessions;
  for (int i = 0; i < 4; ++i) sessions.push_back(MakeSession());
  const SessionOutcome outcomes[] = {
      SessionOutcome::kCompleted, SessionOutcome::kCompleted,
      SessionOutcome::kFailed, SessionOutcome::kTimedOut};
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(SessionHandle h,
                         store_->AcquireSession(sessions[i].id));
    clock_->Advance(100 * (i + 1));
    h.Release(outcomes[i]);
  }
  const SessionLifecycle f = store_->Lifecycle();
  EXPECT_EQ(f.completed, 2u);
  EXPECT_EQ(f.failed, 1u);
  EXPECT_EQ(f.timed_out, 1u);
  EXPECT_EQ(f.released(), 4u);
  EXPECT_DOUBLE_EQ(f.success_rate(), 0.5);
  EXPECT_DOUBLE_EQ(f.error_rate(), 0.25);
  EXPECT_DOUBLE_EQ(f.timeout_rate(), 0.25);
  EXPECT_EQ(f.held_ms_total, 1000u);  // 100 + 200 + 300 + 400.
  EXPECT_DOUBLE_EQ(f.average_duration_ms(), 250.0);
  EXPECT_EQ(f.peak_active, 1u);

  // Counters start again with the process.
  Reopen();
  EXPECT_EQ(store_->Lifecycle().released(), 0u);
  EXPECT_DOUBLE_EQ(store_->Lifecycle().success_rate(), 0.0);
}

TEST_F(LifecycleTest, MetadataBytesFollowEveryWriteAndReopen) {
  SessionSpec spec;
  spec.agent = "a";
  spec.model = "m";
  spec.metadata = std::string(1000, 'x');
  ASSERT_OK_AND_ASSIGN(Session one, store_->CreateSession(spec));
  spec.metadata = std::string(300, 'y');
  ASSERT_OK_AND_ASSIGN(Session two, store_->CreateSession(spec));
  EXPECT_EQ(store_->Lifecycle().metadata_bytes, 1300u);

  SessionUpdate update;
  update.metadata = std::string(50, 'z');
  ASSERT_TRUE(store_->UpdateSession(one.id, update).ok());
  EXPECT_EQ(store_->Lifecycle().metadata_bytes, 350u);
  ASSERT_OK(store_->DeleteSession(two.id));
  EXPECT_EQ(store_->Lifecycle().metadata_bytes, 50u);

  // Refusals for size are counted, and change nothing.
  spec.metadata = std::string(options_.max_metadata_bytes + 1, 'x');
  EXPECT_EQ(store_->CreateSession(spec).status().code(),
            Code::kInvalidArgument);
  update.metadata = spec.metadata;
  EXPECT_EQ(store_->UpdateSession(one.id, update).status().code(),
            Code::kInvalidArgument);
  SessionSpec no_agent;  // Refused, but not for its metadata.
  EXPECT_FALSE(store_->CreateSession(no_agent).ok());
  SessionLifecycle f = store_->Lifecycle();
  EXPECT_EQ(f.rejected_for_metadata_size, 2u);
  EXPECT_EQ(f.metadata_bytes, 50u);
  EXPECT_EQ(f.created, 2u);

  Reopen();
  f = store_->Lifecycle();
  EXPECT_EQ(f.metadata_bytes, 50u);  // Counted again at open.
  EXPECT_EQ(f.created, 0u);
}

TEST_F(LifecycleTest, ShutdownWaitsForEveryHandleAndRefusesNewWork) {
  const Session spare = MakeSession();
  std::vector<Session> sessions;
  std::vector<SessionHandle> handles;
  ASSERT_NO_FATAL_FAILURE(HoldFive(&sessions, &handles));
  std::vector<Status> during;  // Calls made while Shutdown waited.
  std::thread workers([&] {
    AwaitShutdownBegun();
    SessionSpec spec;
    spec.agent = "late";
    spec.model = "m";
    during.push_back(store_->CreateSession(spec).status());
    // Holders finish their work one after another, at different times.
    for (int i = 0; i < 5; ++i) {
      const Message in{.role = Role::kUser, .content = "last words"};
      during.push_back(store_->AppendTurn(sessions[i].id, "", {&in, 1},
                                          {&in, 1})
                           .status());
      clock_->Advance(10 * (i + 1));
      handles[i].Release(i == 4 ? SessionOutcome::kFailed
                                : SessionOutcome::kCompleted);
    }
  });
  Result<ShutdownReport> shutdown = store_->Shutdown(std::chrono::hours(1));
  workers.join();  // Before any assertion can return.
  ASSERT_OK_AND_ASSIGN(ShutdownReport report, std::move(shutdown));

  EXPECT_EQ(report.active_at_start, 5u);
  EXPECT_EQ(report.active_at_end, 0u);
  EXPECT_EQ(report.completed_during_shutdown, 5u);
  EXPECT_FALSE(report.timeout_reached);
  EXPECT_TRUE(report.still_active.empty());
  ASSERT_EQ(during.size(), 6u);
  EXPECT_EQ(during[0].code(), Code::kShuttingDown);
  for (size_t i = 1; i < during.size(); ++i) EXPECT_OK(during[i]);

  const SessionLifecycle f = store_->Lifecycle();
  EXPECT_EQ(f.completed, 4u);
  EXPECT_EQ(f.failed, 1u);
  EXPECT_EQ(f.active, 0u);
  // Held from acquisition (clock still) until released: 10, 30, 60, 100, 150.
  EXPECT_EQ(f.held_ms_total, 350u);
  // Still refusing after the wait.
  EXPECT_EQ(store_->AcquireSession(spare.id).status().code(),
            Code::kShuttingDown);

  // What the holders wrote while Shutdown waited is kept.
  Reopen();
  for (const Session& s : sessions) {
    ASSERT_OK_AND_ASSIGN(Session back, store_->GetSession(s.id));
    EXPECT_EQ(back.turn_count, 1u);
  }
  EXPECT_TRUE(store_->AcquireSession(spare.id).ok());  // A new process.
}

TEST_F(LifecycleTest, ShutdownTimeoutNamesTheSessionsStillActive) {
  std::vector<Session> sessions;
  std::vector<SessionHandle> handles;
  ASSERT_NO_FATAL_FAILURE(HoldFive(&sessions, &handles));
  // Three finished before; two outlast the wait.
  for (int i : {0, 2, 4}) handles[i].Release();
  const auto timeout = std::chrono::milliseconds(50);
  ASSERT_OK_AND_ASSIGN(ShutdownReport report, store_->Shutdown(timeout));
  EXPECT_TRUE(report.timeout_reached);
  EXPECT_GE(report.duration, timeout);  // It did wait the whole timeout.
  EXPECT_EQ(report.active_at_start, 2u);
  EXPECT_EQ(report.active_at_end, 2u);
  EXPECT_EQ(report.completed_during_shutdown, 0u);
  std::vector<SessionId> expected = {sessions[1].id, sessions[3].id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(report.still_active, expected);

  // The late holders may still write and release.
  const Message in{.role = Role::kUser, .content = "late"};
  EXPECT_OK(store_->AppendTurn(sessions[1].id, "", {&in, 1}, {&in, 1})
                .status());
  handles[1].Release();
  handles[3].Release();
  ASSERT_OK_AND_ASSIGN(ShutdownReport again,
                       store_->Shutdown(std::chrono::milliseconds(0)));
  EXPECT_FALSE(again.timeout_reached);
  EXPECT_EQ(again.active_at_start, 0u);
  EXPECT_TRUE(again.still_active.empty());
}

TEST_F(LifecycleTest, ShutdownRefusesABadTimeout) {
  EXPECT_EQ(store_->Shutdown(std::chrono::milliseconds(-1)).status().code(),
            Code::kInvalidArgument);
  auto too_long = store_->Shutdown(std::chrono::hours(25));
  EXPECT_EQ(too_long.status().code(), Code::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("timeout"), std::string::npos);
  EXPECT_TRUE(store_->CreateSession({.agent = "a", .model = "m"}).ok())
      << "a refused Shutdown must not stop the store";
}

}  // namespace
}  // namespace agentlog::testing
