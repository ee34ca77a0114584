// Budgets: enforcement, alerts, roll-over, blocks and projections.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "agentlog/store.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
// 2026-01-31 23:00:00 UTC.
constexpr int64_t kJan31Late = 1'769'900'400'000;

UsageSpec Costing(int64_t micros, std::string message_id = "") {
  UsageSpec spec;
  spec.message_id = std::move(message_id);
  spec.model = "m";
  spec.tokens.input = 10;
  spec.cost_micros = micros;
  return spec;
}

class BudgetTest : public StoreTest {
 protected:
  void SetUp() override {
    options_.alert_listener = [this](const BudgetAlert& a) {
      std::lock_guard lock(mu_);
      delivered_.push_back(a);
    };
    StoreTest::SetUp();
  }

  // 01:00 UTC on February 1, and a store budget of 100 a day.
  void StartFebruary1WithADailyBudgetOf100() {
    clock_->Set(kJan31Late + kHour + kHour);
    ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                                 .period = UsagePeriod::kDay,
                                 .limit_micros = 100})
                  .status());
  }

  std::vector<BudgetAlert> Delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

  int64_t StoreSpent(UsagePeriod period = UsagePeriod::kLifetime) {
    auto t = store_->GetUsageTotals(UsageScope::kStore, "", period);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->cost_micros : -1;
  }

  std::mutex mu_;
  std::vector<BudgetAlert> delivered_;  // Guarded by mu_.
};

TEST_F(BudgetTest, HardThresholdRefusesSpendingAndWritesNothing) {
  const Session s = MakeSession("triage");
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kAgent,
                               .name = "triage",
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 1000})
                .status());
  ASSERT_OK(store_->RecordUsage(s.id, Costing(600)).status());
  // Below the hard threshold: the call that crosses it is let through.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(500)).status());
  EXPECT_EQ(StoreSpent(), 1100);

  const Status refused = store_->RecordUsage(s.id, Costing(1)).status();
  EXPECT_EQ(refused.code(), Code::kBudgetExceeded) << refused.ToString();
  EXPECT_NE(refused.message().find("agent 'triage'"), std::string::npos)
      << refused.message();
  EXPECT_EQ(store_->BeginTurn(s.id, "", UserInput("q")).status().code(),
            Code::kBudgetExceeded);
  EXPECT_EQ(store_->AppendTurn(s.id, "", UserInput("q"), AssistantOutput("a"))
                .status()
                .code(),
            Code::kBudgetExceeded);
  // Nothing of the refused calls was written.
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records, store_->ListUsage(s.id));
  EXPECT_EQ(records.size(), 2u);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 0u);
  EXPECT_EQ(StoreSpent(), 1100);

  // Another agent is not affected; an override goes through.
  const Session other = MakeSession("writer");
  EXPECT_OK(store_->RecordUsage(other.id, Costing(5)).status());
  WriteOptions override;
  override.override_budget = true;
  EXPECT_OK(store_->RecordUsage(s.id, Costing(5), override).status());
  EXPECT_OK(store_->BeginTurn(s.id, "", UserInput("q"), override).status());

  // The budget and its spending persist.
  Reopen();
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetStatus> budgets, store_->ListBudgets());
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spent_micros, 1105);
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
}

// Admission looks up only the scopes and periods some budget has: removing
// one budget of a kind must leave the others of that kind enforced, and the
// kinds that have none go on spending freely.
TEST_F(BudgetTest, RemovingABudgetLeavesTheOthersOfItsKindEnforced) {
  const Session a = MakeSession("a");
  const Session b = MakeSession("b");
  for (const char* agent : {"a", "b"}) {
    ASSERT_OK(store_->SetBudget({.scope = UsageScope::kAgent,
                                 .name = agent,
                                 .period = UsagePeriod::kDay,
                                 .limit_micros = 100})
                  .status());
  }
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 10'000})
                .status());
  ASSERT_OK(store_->RemoveBudget(UsageScope::kAgent, "a", UsagePeriod::kDay));
  ASSERT_OK(store_->RecordUsage(a.id, Costing(300)).status());
  ASSERT_OK(store_->RecordUsage(a.id, Costing(1)).status());
  ASSERT_OK(store_->RecordUsage(b.id, Costing(100)).status());
  EXPECT_EQ(store_->RecordUsage(b.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);

  // The same after a restart, and after the store's budget goes too.
  Reopen();
  EXPECT_EQ(store_->RecordUsage(b.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  ASSERT_OK(store_->RemoveBudget(UsageScope::kStore, "",
                                 UsagePeriod::kLifetime));
  EXPECT_EQ(store_->RecordUsage(b.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  EXPECT_OK(store_->RecordUsage(a.id, Costing(1)).status());
  EXPECT_EQ(StoreSpent(), 402);
}

TEST_F(BudgetTest, TurnsBegunBeforeTheLimitStillComplete) {
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 100})
                .status());
  std::vector<uint64_t> begun;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(BeginTurnResult t,
                         store_->BeginTurn(s.id, "", UserInput("q")));
    begun.push_back(t.turn.number);
  }
  // The first completion crosses the limit; the model already answered the
  // other two, so their responses and usage are kept too.
  for (uint64_t n : begun) {
    ASSERT_OK(store_->CompleteTurn(s.id, n, AssistantOutput("a"), {{1, 1, 0, 0}, 80})
                  .status());
  }
  EXPECT_EQ(StoreSpent(), 240);
  // Emergency (120 %) was crossed: new work is blocked, overrides too.
  WriteOptions override;
  override.override_budget = true;
  EXPECT_EQ(store_->BeginTurn(s.id, "", UserInput("q"), override).status().code(),
            Code::kBudgetExceeded);
  ASSERT_EQ(Delivered().size(), 3u);
  EXPECT_EQ(Delivered()[2].threshold, BudgetThreshold::kEmergency);
  EXPECT_EQ(Delivered()[2].spent_micros, 160);
}

// A turn appended with its usage is charged once its batch is built; when
// the budget refuses it, nothing of it is written, not its key either.
TEST_F(BudgetTest, ARefusedAppendWithUsageWritesNothing) {
  options_.detect_echoes = true;
  Reopen();
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 100})
                .status());
  const TurnUsage usage{{1, 1, 0, 0}, 60};
  ASSERT_OK(store_->AppendTurn(s.id, "k1", UserInput("q1"),
                               AssistantOutput("the first answer, long enough"),
                               usage)
                .status());
  // 60 is below the hard threshold: this one is let through, and crosses
  // it (not the emergency one, at 120).
  ASSERT_OK(store_->AppendTurn(s.id, "k2", UserInput("q2"),
                               AssistantOutput("the second answer, long enough"),
                               {{1, 1, 0, 0}, 50})
                .status());
  ASSERT_OK_AND_ASSIGN(const Session before, store_->GetSession(s.id));
  const Status refused =
      store_->AppendTurn(s.id, "k3", UserInput("q3"),
                         AssistantOutput("the third answer, long enough"), usage)
          .status();
  EXPECT_EQ(refused.code(), Code::kBudgetExceeded) << refused.ToString();
  ASSERT_OK_AND_ASSIGN(const Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, before.turn_count);
  EXPECT_EQ(after.usage_records, before.usage_records);
  EXPECT_EQ(after.cost_micros, 110);
  EXPECT_EQ(after.echo.checked, before.echo.checked);
  EXPECT_EQ(StoreSpent(), 110);
  EXPECT_EQ(store_->GetTurnByKey(s.id, "k3").status().code(), Code::kNotFound);
  // With an override it goes through, as turn 3 under the same key.
  WriteOptions override;
  override.override_budget = true;
  ASSERT_OK_AND_ASSIGN(
      const BeginTurnResult appended,
      store_->AppendTurn(s.id, "k3", UserInput("q3"),
                         AssistantOutput("the third answer, long enough"),
                         usage, override));
  EXPECT_EQ(appended.turn.number, 3u);
  EXPECT_EQ(StoreSpent(), 170);
}

TEST_F(BudgetTest, ChangingABudgetStartsItsAlertsAfreshSettingItAgainDoesNot) {
  const Session s = MakeSession("bot");
  const BudgetSpec spec{.scope = UsageScope::kAgent,
                        .name = "bot",
                        .period = UsagePeriod::kLifetime,
                        .limit_micros = 100};
  ASSERT_OK_AND_ASSIGN(BudgetStatus first, store_->SetBudget(spec));
  WriteOptions override;
  override.override_budget = true;
  ASSERT_OK(store_->RecordUsage(s.id, Costing(130), override).status());
  ASSERT_EQ(Delivered().size(), 3u);  // Soft, hard, emergency: blocked.
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1), override).status().code(),
            Code::kBudgetExceeded);

  // A host that sets its budgets at every start changes nothing.
  Reopen();
  ASSERT_OK_AND_ASSIGN(BudgetStatus again, store_->SetBudget(spec));
  EXPECT_EQ(again.generation, first.generation);
  EXPECT_TRUE(again.blocked);
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1), override).status().code(),
            Code::kBudgetExceeded);

  // Raising the limit is a new budget: no block, and its thresholds fire
  // when spending crosses them.
  BudgetSpec raised = spec;
  raised.limit_micros = 200;
  ASSERT_OK_AND_ASSIGN(BudgetStatus changed, store_->SetBudget(raised));
  EXPECT_GT(changed.generation, first.generation);
  EXPECT_FALSE(changed.blocked);
  EXPECT_EQ(changed.spent_micros, 130);
  ASSERT_OK(store_->RecordUsage(s.id, Costing(40)).status());  // 170: soft.
  ASSERT_EQ(Delivered().size(), 4u);
  EXPECT_EQ(Delivered()[3].threshold, BudgetThreshold::kSoft);
  EXPECT_EQ(Delivered()[3].budget_generation, changed.generation);
  Reopen();  // Still once.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(1)).status());
  EXPECT_EQ(Delivered().size(), 4u);

  // Removed and set again: a fresh budget.
  ASSERT_OK(store_->RemoveBudget(UsageScope::kAgent, "bot", UsagePeriod::kLifetime));
  ASSERT_OK_AND_ASSIGN(BudgetStatus fresh, store_->SetBudget(spec));
  EXPECT_GT(fresh.generation, changed.generation);
  EXPECT_FALSE(fresh.blocked);
}

TEST_F(BudgetTest, AClockSteppedBackStillEnforcesTheCurrentDay) {
  const Session s = MakeSession();
  StartFebruary1WithADailyBudgetOf100();
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100)).status());
  clock_->Set(kJan31Late);  // NTP steps back into January 31.
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult t,
                       store_->BeginTurn(s.id, "", UserInput("q"),
                                         {.override_budget = true}));
  ASSERT_OK(store_->CompleteTurn(s.id, t.turn.number, AssistantOutput("a"),
                                 {{1, 0, 0, 0}, 5})
                .status());
  // The spending is filed under February 1, not the day that ended.
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records, store_->ListUsage(s.id));
  EXPECT_EQ(records.back().recorded_ms, kJan31Late + 2 * kHour);
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetStatus> budgets, store_->ListBudgets());
  EXPECT_EQ(budgets[0].spent_micros, 105);
}

TEST_F(BudgetTest, AClockSteppedBackAcrossARestartStillFilesInTheCurrentDay) {
  const Session s = MakeSession();
  StartFebruary1WithADailyBudgetOf100();
  ASSERT_OK(store_->RecordUsage(s.id, Costing(60)).status());
  clock_->Set(kJan31Late);  // The host restarts with its clock behind.
  Reopen();
  ASSERT_OK(store_->RecordUsage(s.id, Costing(50)).status());
  ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records, store_->ListUsage(s.id));
  EXPECT_EQ(records.back().recorded_ms, kJan31Late + 2 * kHour);
  // February 1 has both, and its hard threshold is crossed.
  ASSERT_OK_AND_ASSIGN(
      UsageTotals day,
      store_->GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kDay,
                             kJan31Late + 2 * kHour));
  EXPECT_EQ(day.cost_micros, 110);
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
}

TEST_F(BudgetTest, AlertsFireOncePerThresholdAndPeriodAcrossRestarts) {
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kDay,
                               .limit_micros = 1000})
                .status());
  WriteOptions override;
  override.override_budget = true;
  ASSERT_OK(store_->RecordUsage(s.id, Costing(700)).status());
  EXPECT_TRUE(Delivered().empty());
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100)).status());  // 800: soft.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(50)).status());   // Still soft.
  ASSERT_EQ(Delivered().size(), 1u);
  EXPECT_EQ(Delivered()[0].threshold, BudgetThreshold::kSoft);
  EXPECT_EQ(Delivered()[0].spent_micros, 800);
  EXPECT_EQ(Delivered()[0].threshold_micros, 800);
  EXPECT_EQ(Delivered()[0].session, s.id);

  Reopen();  // Not raised again after a restart.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100)).status());  // 950.
  EXPECT_EQ(Delivered().size(), 1u);
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100)).status());  // 1050: hard.
  ASSERT_EQ(Delivered().size(), 2u);
  EXPECT_EQ(Delivered()[1].threshold, BudgetThreshold::kHard);
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100), override).status());
  EXPECT_EQ(Delivered().size(), 2u);

  // The next day starts afresh: the same thresholds fire again, once.
  clock_->Advance(kDay);
  ASSERT_OK(store_->RecordUsage(s.id, Costing(900)).status());
  ASSERT_OK(store_->RecordUsage(s.id, Costing(10)).status());
  ASSERT_EQ(Delivered().size(), 3u);
  EXPECT_EQ(Delivered()[2].threshold, BudgetThreshold::kSoft);
  EXPECT_GT(Delivered()[2].period_start_ms, Delivered()[0].period_start_ms);

  ASSERT_OK_AND_ASSIGN(std::vector<BudgetAlert> stored, store_->ListAlerts());
  ASSERT_EQ(stored.size(), 3u);
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].threshold, Delivered()[i].threshold);
    EXPECT_EQ(stored[i].spent_micros, Delivered()[i].spent_micros);
    EXPECT_EQ(stored[i].seq, Delivered()[i].seq);
  }
  EXPECT_LT(stored[0].seq, stored[1].seq);
  EXPECT_LT(stored[1].seq, stored[2].seq);
}

TEST_F(BudgetTest, MonthRollsOverAtUtcMidnight) {
  clock_->Set(kJan31Late);
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kSession,
                               .name = s.id.ToString(),
                               .period = UsagePeriod::kMonth,
                               .limit_micros = 100})
                .status());
  ASSERT_OK(store_->RecordUsage(s.id, Costing(100)).status());
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  clock_->Advance(kHour - 1);  // 23:59:59.999 on the 31st.
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  clock_->Advance(1);  // February.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(30)).status());
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetStatus> budgets, store_->ListBudgets());
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spent_micros, 30);
  EXPECT_EQ(budgets[0].period_start_ms, kJan31Late + kHour);
  EXPECT_EQ(StoreSpent(UsagePeriod::kMonth), 30);
  EXPECT_EQ(StoreSpent(), 130);
  // Two alerts in January (soft, hard), none yet in February.
  EXPECT_EQ(Delivered().size(), 2u);
}

TEST_F(BudgetTest, EmergencyBlocksEvenOverridesUntilLifted) {
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kTag,
                               .name = "prod",
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 100,
                               .soft_percent = 50,
                               .hard_percent = 100,
                               .emergency_percent = 150})
                .status());
  ASSERT_OK(store_->TagSession(s.id, std::vector<std::string>{"prod"}).status());
  WriteOptions override;
  override.override_budget = true;
  ASSERT_OK(store_->RecordUsage(s.id, Costing(120)).status());  // Soft, hard.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(40), override).status());  // 160.
  ASSERT_EQ(Delivered().size(), 3u);
  EXPECT_EQ(Delivered()[2].threshold, BudgetThreshold::kEmergency);
  const Status blocked = store_->RecordUsage(s.id, Costing(1), override).status();
  EXPECT_EQ(blocked.code(), Code::kBudgetExceeded);
  EXPECT_NE(blocked.message().find("blocked"), std::string::npos);

  Reopen();  // The block persists...
  EXPECT_EQ(store_->BeginTurn(s.id, "", UserInput("q"), override).status().code(),
            Code::kBudgetExceeded);
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetStatus> budgets, store_->ListBudgets());
  EXPECT_TRUE(budgets[0].blocked);
  // ...until lifted; the hard threshold still applies after.
  ASSERT_OK_AND_ASSIGN(BudgetStatus lifted,
                       store_->LiftBudgetBlock(UsageScope::kTag, "prod",
                                               UsagePeriod::kLifetime));
  EXPECT_FALSE(lifted.blocked);
  EXPECT_EQ(store_->LiftBudgetBlock(UsageScope::kTag, "prod", UsagePeriod::kLifetime)
                .status()
                .code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->RecordUsage(s.id, Costing(1)).status().code(),
            Code::kBudgetExceeded);
  EXPECT_OK(store_->RecordUsage(s.id, Costing(1), override).status());
  Reopen();
  EXPECT_OK(store_->RecordUsage(s.id, Costing(1), override).status());
  EXPECT_EQ(Delivered().size(), 3u);  // Crossed once, raised once.
}

// The exactness acceptance test: many writers, one hard budget.
TEST_F(BudgetTest, ConcurrentWritersPassTheHardLimitByAtMostOneCall) {
  constexpr int kThreads = 16;
  constexpr int64_t kLimit = 200'000;
  constexpr int64_t kMaxCall = 997;
  std::vector<Session> sessions;
  for (int i = 0; i < kThreads; ++i) sessions.push_back(MakeSession("shared"));
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kAgent,
                               .name = "shared",
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = kLimit})
                .status());
  std::atomic<int64_t> admitted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0;; ++n) {
        const int64_t cost = 1 + (i * 7919 + n * 104729) % kMaxCall;
        const Result<RecordUsageResult> r = store_->RecordUsage(
            sessions[i].id,
            Costing(cost, "t" + std::to_string(i) + "-" + std::to_string(n)));
        if (r.ok()) {
          admitted += cost;
          continue;
        }
        EXPECT_EQ(r.status().code(), Code::kBudgetExceeded);
        ++refused;
        return;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(refused.load(), kThreads);
  const int64_t spent = StoreSpent();
  // Every admitted call, and nothing else, is on disk...
  EXPECT_EQ(spent, admitted.load());
  int64_t from_records = 0;
  for (const Session& s : sessions) {
    ASSERT_OK_AND_ASSIGN(std::vector<UsageRecord> records, store_->ListUsage(s.id));
    for (const UsageRecord& u : records) from_records += u.cost_micros;
  }
  EXPECT_EQ(from_records, spent);
  // ...and the limit was reached but passed by less than one call.
  EXPECT_GE(spent, kLimit);
  EXPECT_LT(spent, kLimit + kMaxCall);
  // Each threshold was raised once.
  EXPECT_EQ(Delivered().size(), 2u);
}

TEST_F(BudgetTest, AListenerThatThrowsGetsEveryAlertAndTheCallSucceeds) {
  options_.alert_listener = [this](const BudgetAlert& a) {
    {
      std::lock_guard lock(mu_);
      delivered_.push_back(a);
    }
    throw std::runtime_error("listener failed");
  };
  Reopen();
  const Session s = MakeSession("a");
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kLifetime,
                               .limit_micros = 100})
                .status());
  // One call past all three thresholds: three alerts, each delivered,
  // though the listener throws at every one.
  ASSERT_OK(store_->RecordUsage(s.id, Costing(150)).status());
  const std::vector<BudgetAlert> delivered = Delivered();
  ASSERT_EQ(delivered.size(), 3u);
  EXPECT_EQ(delivered[0].threshold, BudgetThreshold::kSoft);
  EXPECT_EQ(delivered[1].threshold, BudgetThreshold::kHard);
  EXPECT_EQ(delivered[2].threshold, BudgetThreshold::kEmergency);
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetAlert> recorded, store_->ListAlerts());
  EXPECT_EQ(recorded.size(), 3u);
  EXPECT_EQ(StoreSpent(), 150);
}

TEST_F(BudgetTest, BadBudgetsAreRefusedAndNothingIsWritten) {
  const Session s = MakeSession();
  const std::vector<std::pair<BudgetSpec, std::string>> cases = {
      {{.scope = UsageScope::kModel, .name = "m", .limit_micros = 1}, "scope"},
      {{.scope = static_cast<UsageScope>(42), .limit_micros = 1}, "scope"},
      {{.scope = UsageScope::kStore, .name = "x", .limit_micros = 1}, "no name"},
      {{.scope = UsageScope::kSession, .name = "nope", .limit_micros = 1},
       "session id"},
      {{.scope = UsageScope::kAgent, .name = "", .limit_micros = 1}, "empty"},
      {{.limit_micros = 0}, "limit_micros"},
      {{.limit_micros = int64_t{1} << 62 | 1}, "limit_micros"},
      {{.limit_micros = 10, .soft_percent = 100, .hard_percent = 80},
       "thresholds"},
      {{.limit_micros = 10, .hard_percent = 130, .emergency_percent = 120},
       "thresholds"},
      {{.limit_micros = 10, .soft_percent = 0}, "thresholds"},
      {{.period = static_cast<UsagePeriod>(9), .limit_micros = 10}, "period"},
  };
  for (const auto& [spec, needle] : cases) {
    const Status st = store_->SetBudget(spec).status();
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos)
        << needle << ": " << st.message();
  }
  ASSERT_OK_AND_ASSIGN(std::vector<BudgetStatus> budgets, store_->ListBudgets());
  EXPECT_TRUE(budgets.empty());
  Reopen();
  ASSERT_OK_AND_ASSIGN(budgets, store_->ListBudgets());
  EXPECT_TRUE(budgets.empty());
  EXPECT_EQ(store_->RemoveBudget(UsageScope::kStore, "", UsagePeriod::kDay).code(),
            Code::kNotFound);
}

TEST_F(BudgetTest, ProjectionFollowsTheBurnRate) {
  // Midnight UTC, 2026-02-01, then six hours of $0.01 an hour.
  clock_->Set(kJan31Late + kHour);
  const Session s = MakeSession();
  ASSERT_OK(store_->SetBudget({.scope = UsageScope::kStore,
                               .period = UsagePeriod::kMonth,
                               .limit_micros = 10'000'000})
                .status());
  for (int h = 0; h < 6; ++h) {
    ASSERT_OK(store_->RecordUsage(s.id, Costing(10'000)).status());
    clock_->Advance(kHour);
  }
  ASSERT_OK_AND_ASSIGN(BudgetProjection p,
                       store_->ProjectBudget(UsageScope::kStore, "",
                                             UsagePeriod::kMonth,
                                             std::chrono::hours(6)));
  // Today's six hours (windows cover whole UTC days).
  EXPECT_EQ(p.window_spent_micros, 60'000);
  EXPECT_DOUBLE_EQ(p.burn_rate_per_hour, 10'000);
  // February 2026 has 28 days: 672 hours, 666 of them left.
  EXPECT_EQ(p.projected_period_end_micros, 60'000 + 666 * 10'000);
  ASSERT_TRUE(p.time_to_hard_limit.has_value());
  EXPECT_EQ(*p.time_to_hard_limit,
            std::chrono::milliseconds((10'000'000 - 60'000) / 10'000 * kHour));
  EXPECT_EQ(store_->ProjectBudget(UsageScope::kStore, "", UsagePeriod::kDay,
                                  std::chrono::hours(24))
                .status()
                .code(),
            Code::kNotFound);
  EXPECT_EQ(store_->ProjectBudget(UsageScope::kStore, "", UsagePeriod::kMonth,
                                  std::chrono::hours(0))
                .status()
                .code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace agentlog::testing
