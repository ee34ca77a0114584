// Echo detection through the Store: CheckEcho, the verdicts completions
// record, EchoStats, the window after restart, refusal, and what removing
// turns does to all of them.

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "keys.h"
#include "record_codec.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

// About 90 words: one changed word keeps the shingle similarity above 0.9.
const std::string kAnswer =
    "To rotate the signing key, first create the new key in the vault and "
    "grant the deploy role read access to it. Then update the service "
    "configuration so that it accepts tokens signed with either key, roll "
    "the change out to every region, and wait for the longest token "
    "lifetime to pass. After that, switch the issuer to the new key, confirm "
    "that fresh tokens verify everywhere, and finally remove the old key "
    "from the configuration and revoke it in the vault. Keep the old key's "
    "identifier in the audit log so that any token signed with it can be "
    "traced later.";

std::string Distinct(int i) {
  return "Answer number " + std::to_string(i) +
         ": the build failed because the linker could not find symbol " +
         std::to_string(i * 7919) + " in any of the libraries it was given.";
}

class EchoStoreTest : public StoreTest {
 protected:
  void SetUp() override {
    options_.detect_echoes = true;
    StoreTest::SetUp();
  }
  // Appends a completed turn answering with `text`; returns its verdict.
  EchoVerdict Answer(const Session& s, const std::string& text,
                     const WriteOptions& wo = {}) {
    auto r = store_->AppendTurn(s.id, "", UserInput("q"),
                                AssistantOutput(text), {}, wo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->turn.echo : EchoVerdict{};
  }
  EchoVerdict Check(const Session& s, const std::string& text) {
    auto r = store_->CheckEcho(s.id, text);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : EchoVerdict{};
  }
  EchoStats Stats(const Session& s) {
    auto r = store_->GetEchoStats(s.id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : EchoStats{};
  }
};

const EchoVerdict kNew{EchoKind::kNew, 0, 0};
EchoVerdict Exact(uint64_t turn) { return {EchoKind::kExact, turn, 1.0}; }

TEST_F(EchoStoreTest, ExactRepeatIsFoundByCheckAndRecordedByCompletion) {
  const Session s = MakeSession();
  EXPECT_EQ(Check(s, kAnswer), kNew);  // Nothing to repeat yet.
  EXPECT_EQ(Answer(s, kAnswer), kNew);
  EXPECT_EQ(Check(s, kAnswer), Exact(1));
  // BeginTurn + CompleteTurn records it as AppendTurn does.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult begun,
                       store_->BeginTurn(s.id, "k2", UserInput("again?")));
  ASSERT_OK_AND_ASSIGN(Turn done, store_->CompleteTurn(s.id, begun.turn.number,
                                                       AssistantOutput(kAnswer)));
  EXPECT_EQ(done.echo, Exact(1));
  ASSERT_OK_AND_ASSIGN(Turn stored, store_->GetTurn(s.id, 2));
  EXPECT_EQ(stored.echo, Exact(1));
  EXPECT_EQ(Check(s, kAnswer), Exact(2));  // The newest repeat.
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 2, .exact = 1}));
  EXPECT_DOUBLE_EQ(Stats(s).repeat_rate(), 0.5);
  EXPECT_TRUE(store_->Verify()->clean());
}

TEST_F(EchoStoreTest, CaseAndSpacingDoNotHideARepeat) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  std::string loud = kAnswer;
  std::transform(loud.begin(), loud.end(), loud.begin(), ::toupper);
  std::string spaced = "\n\n" + kAnswer + "   ";
  for (size_t at = spaced.find(". "); at != std::string::npos;
       at = spaced.find(". ", at + 4)) {
    spaced.replace(at, 2, ".\n\n\t");
  }
  EXPECT_EQ(Check(s, loud), Exact(1));
  EXPECT_EQ(Check(s, spaced), Exact(1));
}

TEST_F(EchoStoreTest, OneWordParaphraseIsNearADifferentAnswerIsNew) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  Answer(s, Distinct(1));
  std::string paraphrase = kAnswer;
  paraphrase.replace(paraphrase.find("vault"), 5, "secret store");
  const EchoVerdict near = Answer(s, paraphrase);
  EXPECT_EQ(near.kind, EchoKind::kNear);
  EXPECT_EQ(near.turn, 1u);
  EXPECT_GE(near.similarity, 0.9);
  EXPECT_LT(near.similarity, 1.0);
  EXPECT_EQ(Answer(s, "The weather in Lisbon will be sunny all week, with a "
                      "light breeze from the Atlantic in the afternoons."),
            kNew);
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 4, .near = 1}));
}

TEST_F(EchoStoreTest, ShortResponsesAreSkippedAndNotRemembered) {
  const Session s = MakeSession();
  EXPECT_EQ(Answer(s, "Sure, done."), (EchoVerdict{EchoKind::kSkipped, 0, 0}));
  EXPECT_EQ(Answer(s, "Sure, done."), (EchoVerdict{EchoKind::kSkipped, 0, 0}));
  EXPECT_EQ(Check(s, "SURE,   DONE."), (EchoVerdict{EchoKind::kSkipped, 0, 0}));
  EXPECT_EQ(Stats(s), (EchoStats{.skipped = 2}));
  // A long answer is not compared with the short ones it contains.
  EXPECT_EQ(Answer(s, "Sure, done. " + kAnswer), kNew);
}

TEST_F(EchoStoreTest, WindowHoldsTheLastNCompletedResponses) {
  options_.echo_window = 3;
  Reopen();
  const Session s = MakeSession();
  for (int i = 1; i <= 4; ++i) Answer(s, Distinct(i));
  // A failed turn and a processing one take no place in the window.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult failed,
                       store_->BeginTurn(s.id, "", UserInput("q")));
  ASSERT_OK(store_->FailTurn(s.id, failed.turn.number, "timeout").status());
  ASSERT_OK(store_->BeginTurn(s.id, "", UserInput("q")).status());
  EXPECT_EQ(Check(s, Distinct(1)), kNew);  // Turn 1 fell out.
  EXPECT_EQ(Check(s, Distinct(2)), Exact(2));
  EXPECT_EQ(Check(s, Distinct(4)), Exact(4));
  // The same after a restart: the window is rebuilt from the turn log.
  Reopen();
  EXPECT_EQ(Check(s, Distinct(1)), kNew);
  EXPECT_EQ(Check(s, Distinct(2)), Exact(2));
  EXPECT_EQ(Check(s, Distinct(4)), Exact(4));
}

TEST_F(EchoStoreTest, SessionsAreIsolated) {
  const Session a = MakeSession("a");
  const Session b = MakeSession("b");
  Answer(a, kAnswer);
  EXPECT_EQ(Check(b, kAnswer), kNew);
  EXPECT_EQ(Answer(b, kAnswer), kNew);
  EXPECT_EQ(Stats(a), (EchoStats{.checked = 1}));
}

TEST_F(EchoStoreTest, RestartRebuildsTheSameVerdicts) {
  const Session s = MakeSession();
  std::vector<std::string> answers;
  for (int i = 0; i < 15; ++i) {
    answers.push_back(i % 4 == 3 ? kAnswer : Distinct(i));
    Answer(s, answers.back());
  }
  std::string paraphrase = kAnswer;
  paraphrase.replace(paraphrase.find("audit"), 5, "security");
  answers.push_back(paraphrase);
  answers.push_back(Distinct(100));
  std::vector<EchoVerdict> before;
  for (const std::string& a : answers) before.push_back(Check(s, a));
  const EchoStats stats = Stats(s);
  EXPECT_EQ(stats, (EchoStats{.checked = 15, .exact = 2}));
  Reopen();
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(Check(s, answers[i]), before[i]) << "answer " << i;
  }
  EXPECT_EQ(Stats(s), stats);
  // And a completion after the restart judges against the rebuilt window.
  EXPECT_EQ(Answer(s, kAnswer), Exact(12));
}

TEST_F(EchoStoreTest, RefusingAnExactEchoWritesNothing) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult begun,
                       store_->BeginTurn(s.id, "", UserInput("q")));
  const WriteOptions refuse{.refuse_exact_echo = true};
  const Result<Turn> refused = store_->CompleteTurn(
      s.id, begun.turn.number, AssistantOutput(kAnswer), {}, refuse);
  EXPECT_TRUE(refused.status().IsConflict()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("repeats turn 1"),
            std::string::npos);
  ASSERT_OK_AND_ASSIGN(Turn still, store_->GetTurn(s.id, begun.turn.number));
  EXPECT_EQ(still.status, TurnStatus::kProcessing);
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 1}));
  EXPECT_TRUE(store_->AppendTurn(s.id, "", UserInput("q"),
                                 AssistantOutput(kAnswer), {}, refuse)
                  .status()
                  .IsConflict());
  EXPECT_EQ(store_->GetSession(s.id)->turn_count, 2u);
  // The window did not take the refused response in.
  EXPECT_EQ(Check(s, kAnswer), Exact(1));
  // Near echoes and new answers are not refused.
  std::string paraphrase = kAnswer;
  paraphrase.replace(paraphrase.find("vault"), 5, "safe");
  ASSERT_OK_AND_ASSIGN(Turn near,
                       store_->CompleteTurn(s.id, begun.turn.number,
                                            AssistantOutput(paraphrase), {},
                                            refuse));
  EXPECT_EQ(near.echo.kind, EchoKind::kNear);
  EXPECT_TRUE(store_->Verify()->clean());
}

TEST_F(EchoStoreTest, PopAndClearTakeTheirVerdictsBack) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  Answer(s, Distinct(1));
  Answer(s, "Ok.");
  Answer(s, kAnswer);
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 3, .exact = 1, .skipped = 1}));
  ASSERT_OK(store_->PopTurn(s.id).status());  // The exact echo.
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 2, .skipped = 1}));
  ASSERT_OK(store_->PopTurn(s.id).status());  // The skipped one.
  ASSERT_OK(store_->PopTurn(s.id).status());  // Distinct(1): forgotten.
  EXPECT_EQ(Check(s, Distinct(1)), kNew);
  EXPECT_EQ(Check(s, kAnswer), Exact(1));
  EXPECT_TRUE(store_->Verify()->clean());
  ASSERT_OK(store_->ClearTurns(s.id));
  EXPECT_EQ(Stats(s), EchoStats{});
  EXPECT_EQ(Check(s, kAnswer), kNew);
  EXPECT_EQ(Answer(s, kAnswer), kNew);
}

TEST_F(EchoStoreTest, CheckpointCompletionRecordsAVerdictToo) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult begun,
                       store_->BeginTurn(s.id, "", UserInput("q")));
  CheckpointSpec spec;
  spec.payload = "state";
  ASSERT_OK_AND_ASSIGN(
      TurnWithCheckpoint both,
      store_->CompleteTurnWithCheckpoint(s.id, begun.turn.number,
                                         AssistantOutput(kAnswer), {}, spec));
  EXPECT_EQ(both.turn.echo, Exact(1));
  EXPECT_EQ(Stats(s).exact, 1u);
}

TEST_F(EchoStoreTest, ConcurrentCompletionsJudgeInTurnOrder) {
  const Session s = MakeSession();
  constexpr int kThreads = 8, kEach = 10;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) {
        EXPECT_OK(store_->AppendTurn(s.id, "", UserInput("q"),
                                     AssistantOutput(kAnswer))
                      .status());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Writers of a session are serialised, so turn n was judged against
  // turns 1..n-1: only the first is new, each other repeats its predecessor.
  ASSERT_OK_AND_ASSIGN(std::vector<Turn> turns, store_->ListTurns(s.id));
  ASSERT_EQ(turns.size(), size_t{kThreads * kEach});
  EXPECT_EQ(turns[0].echo, kNew);
  for (size_t i = 1; i < turns.size(); ++i) {
    EXPECT_EQ(turns[i].echo, Exact(turns[i].number - 1));
  }
  EXPECT_EQ(Stats(s), (EchoStats{.checked = kThreads * kEach,
                                 .exact = kThreads * kEach - 1}));
}

TEST_F(EchoStoreTest, TurnsCompletedOutOfOrderAreJudgedAgainstEarlierOnes) {
  const Session s = MakeSession();
  ASSERT_OK(store_->BeginTurn(s.id, "", UserInput("q1")).status());
  ASSERT_OK(store_->BeginTurn(s.id, "", UserInput("q2")).status());
  ASSERT_OK_AND_ASSIGN(Turn second,
                       store_->CompleteTurn(s.id, 2, AssistantOutput(kAnswer)));
  EXPECT_EQ(second.echo, kNew);
  // Turn 1 says the same, but turn 2 came after it: 1 repeats nothing.
  ASSERT_OK_AND_ASSIGN(Turn first,
                       store_->CompleteTurn(s.id, 1, AssistantOutput(kAnswer)));
  EXPECT_EQ(first.echo, kNew);
  EXPECT_EQ(Check(s, kAnswer), Exact(2));
  EXPECT_TRUE(store_->Verify()->clean());
  ASSERT_OK(store_->PopTurn(s.id).status());
  EXPECT_EQ(Check(s, kAnswer), Exact(1));
}

TEST_F(EchoStoreTest, AFailedCompletionLeavesNoTraceInTheWindow) {
  const Session s = MakeSession();
  Answer(s, Distinct(1));
  ASSERT_OK_AND_ASSIGN(BeginTurnResult begun,
                       store_->BeginTurn(s.id, "", UserInput("q")));
  CheckpointSpec spec;
  spec.payload = "state";
  spec.parent = 7;  // No such version: fails after the echo was judged.
  EXPECT_TRUE(store_
                  ->CompleteTurnWithCheckpoint(s.id, begun.turn.number,
                                               AssistantOutput(kAnswer), {},
                                               spec)
                  .status()
                  .IsInvalidArgument());
  EXPECT_EQ(Check(s, kAnswer), kNew);
  EXPECT_EQ(Stats(s), (EchoStats{.checked = 1}));
}

TEST_F(EchoStoreTest, TheWindowLooksBackFourTurnsPerResponse) {
  options_.echo_window = 2;
  Reopen();
  const Session s = MakeSession();
  Answer(s, kAnswer);  // Turn 1.
  // Seven failed turns: turn 1 is now 8 turns back, the limit of a window
  // of 2.
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK_AND_ASSIGN(BeginTurnResult b,
                         store_->BeginTurn(s.id, "", UserInput("q")));
    ASSERT_OK(store_->FailTurn(s.id, b.turn.number, "timeout").status());
  }
  EXPECT_EQ(Check(s, kAnswer), Exact(1));
  ASSERT_OK_AND_ASSIGN(BeginTurnResult b,
                       store_->BeginTurn(s.id, "", UserInput("q")));
  ASSERT_OK(store_->FailTurn(s.id, b.turn.number, "timeout").status());
  EXPECT_EQ(Check(s, kAnswer), kNew);  // Out of reach, kept in step...
  Reopen();
  EXPECT_EQ(Check(s, kAnswer), kNew);  // ...and rebuilt.
}

TEST_F(EchoStoreTest, OffUnlessAskedFor) {
  options_.detect_echoes = false;
  Reopen();
  const Session s = MakeSession();
  Answer(s, kAnswer);
  EXPECT_EQ(Answer(s, kAnswer), EchoVerdict{});  // kNone: not checked.
  EXPECT_EQ(Stats(s), EchoStats{});
  EXPECT_TRUE(store_->CheckEcho(s.id, kAnswer).status().IsFailedPrecondition());
  // Turning it on later judges against the turns already logged, and
  // their verdicts (none) agree with the counts (0).
  options_.detect_echoes = true;
  Reopen();
  EXPECT_EQ(Check(s, kAnswer), Exact(2));
  EXPECT_EQ(Answer(s, kAnswer), Exact(2));
  EXPECT_TRUE(store_->Verify()->clean());
}

TEST_F(EchoStoreTest, VerifyFindsVerdictsThatDisagreeWithTheCounts) {
  const Session s = MakeSession();
  Answer(s, kAnswer);
  Answer(s, kAnswer);
  // Rewrite turn 2 as if its verdict had been lost.
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_OK_AND_ASSIGN(Turn t, store_->GetTurn(s.id, 2));
  t.echo = {};
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kTurns),
                        internal::TurnKey(s.id, 2),
                        rocksdb::Slice(internal::EncodeTurn(t).bytes()))
                  .ok());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].column_family, "sessions");
  EXPECT_EQ(report.problems[0].key, s.id.ToString());
  EXPECT_NE(report.problems[0].what.find("echo counts"), std::string::npos);
}

TEST_F(EchoStoreTest, BadInput) {
  const Session s = MakeSession();
  EXPECT_TRUE(store_->CheckEcho(SessionId::Generate(1), kAnswer)
                  .status()
                  .IsNotFound());
  EXPECT_TRUE(store_->GetEchoStats(SessionId::Generate(1)).status().IsNotFound());
  const Status bad_utf8 = store_->CheckEcho(s.id, "abc\xff").status();
  EXPECT_TRUE(bad_utf8.IsInvalidArgument());
  EXPECT_NE(bad_utf8.message().find("text"), std::string::npos);
  options_.max_turn_content_bytes = 64;
  Reopen();
  const Status too_long =
      store_->CheckEcho(s.id, std::string(65, 'a')).status();
  EXPECT_TRUE(too_long.IsInvalidArgument());
  EXPECT_NE(too_long.message().find("max_turn_content_bytes"),
            std::string::npos);
}

}  // namespace
}  // namespace agentlog::testing
