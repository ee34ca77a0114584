// Integration tests of every Store operation on a real store in a temporary
// directory.

#include <gtest/gtest.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <sys/stat.h>

#include <filesystem>

#include "agentlog/backup.h"
#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"
#include "usage_keys.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::StoreImpl;

StoreImpl* Impl(Store* store) { return static_cast<StoreImpl*>(store); }

// ---------------------------------------------------------------- sessions

TEST_F(StoreTest, CreateAndGetSession) {
  SessionSpec spec;
  spec.agent = "planner";
  spec.model = "model-x";
  spec.title = "Plan a trip";
  spec.tags = {"prod", "eu", "prod"};
  spec.metadata = std::string("\x01\x02", 2);
  spec.context_window = 128000;
  spec.pinned = true;
  ASSERT_OK_AND_ASSIGN(Session created, store_->CreateSession(spec));
  EXPECT_EQ(created.status, SessionStatus::kActive);
  EXPECT_EQ(created.created_ms, clock_->NowMillis());
  EXPECT_EQ(created.id.timestamp_ms(), clock_->NowMillis());
  EXPECT_EQ(created.tags, (std::vector<std::string>{"prod", "eu"}));

  ASSERT_OK_AND_ASSIGN(Session got, store_->GetSession(created.id));
  EXPECT_EQ(got.agent, "planner");
  EXPECT_EQ(got.model, "model-x");
  EXPECT_EQ(got.title, "Plan a trip");
  EXPECT_EQ(got.tags, created.tags);
  EXPECT_EQ(got.metadata, spec.metadata);
  EXPECT_EQ(got.context_window, 128000u);
  EXPECT_TRUE(got.pinned);
  EXPECT_EQ(got.turn_count, 0u);
}

TEST_F(StoreTest, GetUnknownSessionIsNotFoundNamingIt) {
  const SessionId id = SessionId::Generate(1);
  auto got = store_->GetSession(id);
  ASSERT_TRUE(got.status().IsNotFound());
  EXPECT_NE(got.status().message().find(id.ToString()), std::string::npos);
}

TEST_F(StoreTest, ListSessionsPagesInCreationOrder) {
  std::vector<SessionId> ids;
  for (int i = 0; i < 5; ++i) {
    clock_->Advance(10);
    ids.push_back(MakeSession().id);
  }
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListSessions());
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(all[i].id, ids[i]);

  SessionListOptions page;
  page.limit = 2;
  ASSERT_OK_AND_ASSIGN(auto first, store_->ListSessions(page));
  ASSERT_EQ(first.size(), 2u);
  page.after = first.back().id;
  ASSERT_OK_AND_ASSIGN(auto second, store_->ListSessions(page));
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].id, ids[2]);
  EXPECT_EQ(second[1].id, ids[3]);
}

TEST_F(StoreTest, UpdateTagUntagAndTouch) {
  Session s = MakeSession();
  SessionUpdate update;
  update.title = "renamed";
  update.metadata = "meta";
  update.context_window = 32000;
  update.pinned = true;
  ASSERT_OK_AND_ASSIGN(Session updated, store_->UpdateSession(s.id, update));
  EXPECT_EQ(updated.title, "renamed");
  EXPECT_EQ(updated.metadata, "meta");
  EXPECT_EQ(updated.context_window, 32000u);
  EXPECT_TRUE(updated.pinned);
  EXPECT_EQ(updated.agent, s.agent);  // Untouched fields stay.

  const std::vector<std::string> add = {"a", "b"};
  ASSERT_OK(store_->TagSession(s.id, add).status());
  const std::vector<std::string> more = {"b", "c"};
  ASSERT_OK_AND_ASSIGN(Session tagged, store_->TagSession(s.id, more));
  EXPECT_EQ(tagged.tags, (std::vector<std::string>{"a", "b", "c"}));
  const std::vector<std::string> drop = {"a", "zzz"};
  ASSERT_OK_AND_ASSIGN(Session untagged, store_->UntagSession(s.id, drop));
  EXPECT_EQ(untagged.tags, (std::vector<std::string>{"b", "c"}));

  clock_->Advance(5000);
  ASSERT_OK(store_->TouchSession(s.id));
  ASSERT_OK_AND_ASSIGN(Session touched, store_->GetSession(s.id));
  EXPECT_EQ(touched.last_active_ms, clock_->NowMillis());
}

TEST_F(StoreTest, TagsBeyondTheLimitAreRefused) {
  options_.max_tags = 2;
  Reopen();
  Session s = MakeSession();
  const std::vector<std::string> two = {"a", "b"};
  ASSERT_OK(store_->TagSession(s.id, two).status());
  const std::vector<std::string> third = {"c"};
  auto r = store_->TagSession(s.id, third);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("max_tags"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Session got, store_->GetSession(s.id));
  EXPECT_EQ(got.tags, two);
}

TEST_F(StoreTest, ArchivedSessionsAreReadOnlyUntilUnarchived) {
  Session s = MakeSession();
  ASSERT_OK(
      store_->AppendTurn(s.id, "k1", UserInput("hi"), AssistantOutput("hello"))
          .status());
  ASSERT_OK(store_->ArchiveSession(s.id));
  ASSERT_OK_AND_ASSIGN(Session archived, store_->GetSession(s.id));
  EXPECT_EQ(archived.status, SessionStatus::kArchived);

  EXPECT_TRUE(store_->BeginTurn(s.id, "k2", UserInput("again"))
                  .status()
                  .IsFailedPrecondition());
  EXPECT_TRUE(store_->UpdateSession(s.id, SessionUpdate{.title = "x"})
                  .status()
                  .IsFailedPrecondition());
  EXPECT_TRUE(store_->PopTurn(s.id).status().IsFailedPrecondition());
  EXPECT_TRUE(store_->ClearTurns(s.id).IsFailedPrecondition());
  EXPECT_TRUE(store_->ArchiveSession(s.id).IsFailedPrecondition());
  // Reads still work.
  ASSERT_OK(store_->GetTurn(s.id, 1).status());

  ASSERT_OK(store_->UnarchiveSession(s.id));
  ASSERT_OK_AND_ASSIGN(Session back, store_->GetSession(s.id));
  EXPECT_EQ(back.status, SessionStatus::kIdle);
  EXPECT_TRUE(store_->UnarchiveSession(s.id).IsFailedPrecondition());
  ASSERT_OK(store_->BeginTurn(s.id, "k2", UserInput("again")).status());
}

TEST_F(StoreTest, DeleteRemovesTheSessionAndEveryRecordOfIt) {
  Session keep = MakeSession();
  Session gone = MakeSession();
  for (Session* s : {&keep, &gone}) {
    ASSERT_OK(
        store_->AppendTurn(s->id, "k", UserInput("q"), AssistantOutput("a"))
            .status());
    ASSERT_OK(store_->BeginTurn(s->id, "k2", UserInput("q2")).status());
  }
  ASSERT_OK(store_->DeleteSession(gone.id));
  EXPECT_TRUE(store_->GetSession(gone.id).status().IsNotFound());
  EXPECT_TRUE(store_->GetTurn(gone.id, 1).status().IsNotFound());
  EXPECT_TRUE(store_->GetTurnByKey(gone.id, "k").status().IsNotFound());
  EXPECT_TRUE(store_->DeleteSession(gone.id).IsNotFound());
  ASSERT_OK_AND_ASSIGN(Turn kept, store_->GetTurn(keep.id, 1));
  EXPECT_EQ(kept.output[0].content, "a");

  // No record of the deleted session survives in any column family.
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
  Reopen();
  EXPECT_TRUE(store_->GetSession(gone.id).status().IsNotFound());
  EXPECT_EQ(store_->recovery_report().sessions, 1u);
  // Only the kept session's processing turn is reported.
  ASSERT_EQ(store_->recovery_report().processing_turns.size(), 1u);
  EXPECT_EQ(store_->recovery_report().processing_turns[0],
            (TurnRef{keep.id, 2}));
}

// ------------------------------------------------------------------- turns

TEST_F(StoreTest, TurnsAreNumberedWithoutGapsAndMoveThroughTheirStates) {
  Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(BeginTurnResult t1,
                       store_->BeginTurn(s.id, "k1", UserInput("one")));
  EXPECT_FALSE(t1.replayed);
  EXPECT_EQ(t1.turn.number, 1u);
  EXPECT_EQ(t1.turn.status, TurnStatus::kProcessing);
  ASSERT_OK_AND_ASSIGN(BeginTurnResult t2,
                       store_->BeginTurn(s.id, "k2", UserInput("two")));
  EXPECT_EQ(t2.turn.number, 2u);

  clock_->Advance(250);
  TurnUsage usage{{10, 20, 30, 40}, 1234};
  ASSERT_OK_AND_ASSIGN(
      Turn done, store_->CompleteTurn(s.id, 1, AssistantOutput("1!"), usage));
  EXPECT_EQ(done.status, TurnStatus::kCompleted);
  EXPECT_EQ(done.finished_ms - done.started_ms, 250);
  ASSERT_OK_AND_ASSIGN(Turn failed,
                       store_->FailTurn(s.id, 2, "model timed out"));
  EXPECT_EQ(failed.status, TurnStatus::kFailed);
  EXPECT_EQ(failed.error, "model timed out");

  // Final states are final.
  EXPECT_TRUE(store_->CompleteTurn(s.id, 1, AssistantOutput("again"))
                  .status()
                  .IsFailedPrecondition());
  EXPECT_TRUE(
      store_->FailTurn(s.id, 1, "late").status().IsFailedPrecondition());
  EXPECT_TRUE(store_->CompleteTurn(s.id, 2, AssistantOutput("x"))
                  .status()
                  .IsFailedPrecondition());
  EXPECT_TRUE(store_->CompleteTurn(s.id, 3, AssistantOutput("x"))
                  .status()
                  .IsNotFound());

  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 2u);
  EXPECT_EQ(after.completed_turns, 1u);
  EXPECT_EQ(after.failed_turns, 1u);
  EXPECT_EQ(after.tokens, usage.tokens);
  EXPECT_EQ(after.cost_micros, 1234);
  EXPECT_TRUE(after.processing_turns.empty());
}

TEST_F(StoreTest, SameIdempotencyKeyReturnsTheExistingTurn) {
  Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(BeginTurnResult first,
                       store_->BeginTurn(s.id, "retry-me", UserInput("hi")));
  ASSERT_OK_AND_ASSIGN(BeginTurnResult again,
                       store_->BeginTurn(s.id, "retry-me", UserInput("hi")));
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.turn.number, first.turn.number);
  EXPECT_EQ(again.turn.status, TurnStatus::kProcessing);

  ASSERT_OK(store_->CompleteTurn(s.id, 1, AssistantOutput("hello")).status());
  ASSERT_OK_AND_ASSIGN(BeginTurnResult after_done,
                       store_->BeginTurn(s.id, "retry-me", UserInput("hi")));
  EXPECT_TRUE(after_done.replayed);
  EXPECT_EQ(after_done.turn.status, TurnStatus::kCompleted);
  EXPECT_EQ(after_done.turn.output[0].content, "hello");

  // AppendTurn honours the key too.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult appended,
                       store_->AppendTurn(s.id, "retry-me", UserInput("hi"),
                                          AssistantOutput("other")));
  EXPECT_TRUE(appended.replayed);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 1u);
}

TEST_F(StoreTest, ReusingAKeyWithADifferentInputIsAConflict) {
  Session s = MakeSession();
  ASSERT_OK(store_->BeginTurn(s.id, "k", UserInput("first")).status());
  auto r = store_->BeginTurn(s.id, "k", UserInput("something else"));
  ASSERT_TRUE(r.status().IsConflict()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("idempotency_key"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 1u);
}

TEST_F(StoreTest, TurnsWithoutAKeyAreNeverDeduplicated) {
  Session s = MakeSession();
  ASSERT_OK(store_->BeginTurn(s.id, "", UserInput("x")).status());
  ASSERT_OK_AND_ASSIGN(BeginTurnResult second,
                       store_->BeginTurn(s.id, "", UserInput("x")));
  EXPECT_FALSE(second.replayed);
  EXPECT_EQ(second.turn.number, 2u);
}

TEST_F(StoreTest, GetTurnByNumberAndByKey) {
  Session s = MakeSession();
  ASSERT_OK(
      store_->AppendTurn(s.id, "alpha", UserInput("a"), AssistantOutput("A"))
          .status());
  ASSERT_OK(
      store_->AppendTurn(s.id, "beta", UserInput("b"), AssistantOutput("B"))
          .status());
  ASSERT_OK_AND_ASSIGN(Turn by_number, store_->GetTurn(s.id, 2));
  EXPECT_EQ(by_number.idempotency_key, "beta");
  ASSERT_OK_AND_ASSIGN(Turn by_key, store_->GetTurnByKey(s.id, "alpha"));
  EXPECT_EQ(by_key.number, 1u);
  EXPECT_EQ(by_key.output[0].content, "A");
  EXPECT_TRUE(store_->GetTurn(s.id, 3).status().IsNotFound());
  EXPECT_TRUE(store_->GetTurnByKey(s.id, "gamma").status().IsNotFound());
  auto unknown = store_->GetTurn(SessionId::Generate(1), 1);
  ASSERT_TRUE(unknown.status().IsNotFound());
  EXPECT_NE(unknown.status().message().find("session"), std::string::npos);
}

TEST_F(StoreTest, ListTurnsByRangeLastNAndNewestFirst) {
  Session s = MakeSession();
  for (int i = 1; i <= 10; ++i) {
    ASSERT_OK(store_
                  ->AppendTurn(s.id, "k" + std::to_string(i),
                               UserInput("q" + std::to_string(i)),
                               AssistantOutput("a"))
                  .status());
  }
  auto numbers = [&](const TurnListOptions& o) {
    std::vector<uint64_t> out;
    auto turns = store_->ListTurns(s.id, o);
    EXPECT_TRUE(turns.ok()) << turns.status().ToString();
    if (turns.ok()) {
      for (const Turn& t : *turns) out.push_back(t.number);
    }
    return out;
  };
  using V = std::vector<uint64_t>;
  EXPECT_EQ(numbers({}), (V{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(numbers({.first = 3, .last = 5}), (V{3, 4, 5}));
  EXPECT_EQ(numbers({.last_n = 3}), (V{8, 9, 10}));
  EXPECT_EQ(numbers({.last_n = 3, .newest_first = true}), (V{10, 9, 8}));
  EXPECT_EQ(numbers({.first = 2, .last = 4, .last_n = 2}), (V{3, 4}));
  EXPECT_EQ(numbers({.first = 9, .last = 100}), (V{9, 10}));
  EXPECT_EQ(numbers({.first = 11}), V{});
  EXPECT_EQ(numbers({.last_n = 50}).size(), 10u);
  EXPECT_TRUE(
      store_->ListTurns(SessionId::Generate(1), {}).status().IsNotFound());
}

TEST_F(StoreTest, FindInputReturnsTheFirstTurnWithThatInput) {
  Session s = MakeSession();
  Session other = MakeSession();
  ASSERT_OK(store_
                ->AppendTurn(s.id, "", UserInput("hello  there"),
                             AssistantOutput("hi"))
                .status());
  ASSERT_OK(store_
                ->AppendTurn(s.id, "", UserInput("something else"),
                             AssistantOutput("ok"))
                .status());
  ASSERT_OK(store_
                ->AppendTurn(s.id, "", UserInput("hello there"),
                             AssistantOutput("hi again"))
                .status());
  const InputDigest digest = ComputeInputDigest(UserInput(" hello there "));
  ASSERT_OK_AND_ASSIGN(auto found, store_->FindInput(s.id, digest));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, 1u);
  ASSERT_OK_AND_ASSIGN(auto elsewhere, store_->FindInput(other.id, digest));
  EXPECT_FALSE(elsewhere.has_value());  // Sessions are isolated.
  ASSERT_OK_AND_ASSIGN(
      auto never,
      store_->FindInput(s.id, ComputeInputDigest(UserInput("new"))));
  EXPECT_FALSE(never.has_value());
  EXPECT_TRUE(
      store_->FindInput(SessionId::Generate(1), digest).status().IsNotFound());
}

TEST_F(StoreTest, PopRemovesTheNewestTurnAndUndoesItsTotals) {
  Session s = MakeSession();
  ASSERT_OK(store_
                ->AppendTurn(s.id, "k1", UserInput("one"), AssistantOutput("1"),
                             {{1, 1, 0, 0}, 5})
                .status());
  ASSERT_OK(store_
                ->AppendTurn(s.id, "k2", UserInput("two"), AssistantOutput("2"),
                             {{2, 3, 0, 0}, 7})
                .status());
  ASSERT_OK_AND_ASSIGN(Turn popped, store_->PopTurn(s.id));
  EXPECT_EQ(popped.number, 2u);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 1u);
  EXPECT_EQ(after.completed_turns, 1u);
  EXPECT_EQ(after.tokens, (TokenCounts{1, 1, 0, 0}));
  EXPECT_EQ(after.cost_micros, 5);
  // Its key and input are free again.
  EXPECT_TRUE(store_->GetTurnByKey(s.id, "k2").status().IsNotFound());
  ASSERT_OK_AND_ASSIGN(
      auto input,
      store_->FindInput(s.id, ComputeInputDigest(UserInput("two"))));
  EXPECT_FALSE(input.has_value());
  ASSERT_OK_AND_ASSIGN(BeginTurnResult reused,
                       store_->BeginTurn(s.id, "k2", UserInput("other")));
  EXPECT_FALSE(reused.replayed);
  EXPECT_EQ(reused.turn.number, 2u);  // No gap.
  // A processing turn can be popped, and leaves the processing list.
  ASSERT_OK(store_->PopTurn(s.id).status());
  ASSERT_OK_AND_ASSIGN(Session again, store_->GetSession(s.id));
  EXPECT_TRUE(again.processing_turns.empty());
  ASSERT_OK(store_->PopTurn(s.id).status());
  EXPECT_TRUE(store_->PopTurn(s.id).status().IsNotFound());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
}

TEST_F(StoreTest, ClearRemovesEveryTurnAndRestartsNumbering) {
  Session s = MakeSession();
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(store_
                  ->AppendTurn(s.id, "k" + std::to_string(i),
                               UserInput("q" + std::to_string(i)),
                               AssistantOutput("a"), {{1, 1, 0, 0}, 1})
                  .status());
  }
  ASSERT_OK(store_->BeginTurn(s.id, "open", UserInput("pending")).status());
  ASSERT_OK(store_->ClearTurns(s.id));
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.turn_count, 0u);
  EXPECT_EQ(after.tokens, TokenCounts{});
  EXPECT_TRUE(after.processing_turns.empty());
  ASSERT_OK_AND_ASSIGN(auto turns, store_->ListTurns(s.id, {}));
  EXPECT_TRUE(turns.empty());
  EXPECT_TRUE(store_->GetTurnByKey(s.id, "k0").status().IsNotFound());
  ASSERT_OK_AND_ASSIGN(BeginTurnResult fresh,
                       store_->BeginTurn(s.id, "k0", UserInput("new")));
  EXPECT_FALSE(fresh.replayed);
  EXPECT_EQ(fresh.turn.number, 1u);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
}

TEST_F(StoreTest, MessagesKeepRolesAndToolFields) {
  Session s = MakeSession();
  std::vector<Message> input = {{Role::kSystem, "You are terse.", "", ""},
                                {Role::kUser, "Weather in Oslo?", "", ""}};
  std::vector<Message> output = {
      {Role::kAssistant, "", "call_1", "get_weather"},
      {Role::kTool, "{\"temp\": -3}", "call_1", "get_weather"},
      {Role::kAssistant,
       "It is -3\xc2\xb0"
       "C.",
       "", ""}};
  ASSERT_OK(store_->AppendTurn(s.id, "w", input, output).status());
  Reopen();
  ASSERT_OK_AND_ASSIGN(Turn t, store_->GetTurn(s.id, 1));
  EXPECT_EQ(t.input, input);
  EXPECT_EQ(t.output, output);
  EXPECT_EQ(t.input_digest, ComputeInputDigest(input));
}

// The write paths run with RocksDB's perf counting off (perf_counters_off.h)
// and hand the host's thread its own level back.
TEST_F(StoreTest, WritesNeitherCountInNorChangeTheHostsPerfContext) {
  // Back to the default for the tests after this one, even if it fails.
  struct DefaultPerfLevelAtExit {
    ~DefaultPerfLevelAtExit() {
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    }
  } restore;
  Session s = MakeSession();
  uint64_t number = 0;
  for (const rocksdb::PerfLevel level :
       {rocksdb::PerfLevel::kEnableCount, rocksdb::PerfLevel::kEnableTime}) {
    rocksdb::SetPerfLevel(level);
    rocksdb::get_perf_context()->Reset();
    ASSERT_OK(store_->AppendTurn(s.id, "key-" + std::to_string(++number),
                                 UserInput("hello"), AssistantOutput("hi"))
                  .status());
    ASSERT_OK(store_->UpdateSession(s.id, {.title = "renamed"}).status());
    EXPECT_EQ(static_cast<int>(rocksdb::GetPerfLevel()),
              static_cast<int>(level));
    EXPECT_EQ(rocksdb::get_perf_context()->user_key_comparison_count, 0u);
  }
}

// ------------------------------------------------------- open and recovery

TEST_F(StoreTest, EverythingSurvivesCloseAndReopen) {
  Session s = MakeSession();
  ASSERT_OK(store_
                ->AppendTurn(s.id, "k1", UserInput("q"), AssistantOutput("a"),
                             {{3, 4, 0, 0}, 9})
                .status());
  ASSERT_OK(store_->BeginTurn(s.id, "k2", UserInput("pending")).status());
  ASSERT_OK(store_->ArchiveSession(s.id));
  Reopen();
  const RecoveryReport& report = store_->recovery_report();
  EXPECT_FALSE(report.created);
  EXPECT_EQ(report.sessions, 1u);
  EXPECT_EQ(report.format_version, internal::kFormatVersion);
  ASSERT_EQ(report.processing_turns.size(), 1u);
  EXPECT_EQ(report.processing_turns[0], (TurnRef{s.id, 2}));
  EXPECT_GT(report.last_sequence, 0u);
  ASSERT_OK_AND_ASSIGN(Session got, store_->GetSession(s.id));
  EXPECT_EQ(got.status, SessionStatus::kArchived);
  EXPECT_EQ(got.turn_count, 2u);
  EXPECT_EQ(got.cost_micros, 9);
  ASSERT_OK_AND_ASSIGN(Turn t, store_->GetTurnByKey(s.id, "k1"));
  EXPECT_EQ(t.output[0].content, "a");
}

TEST_F(StoreTest, ProcessingTurnsCanBeResumedAfterReopen) {
  Session s = MakeSession();
  ASSERT_OK(store_->BeginTurn(s.id, "k", UserInput("q")).status());
  Reopen();
  ASSERT_EQ(store_->recovery_report().processing_turns.size(), 1u);
  const TurnRef ref = store_->recovery_report().processing_turns[0];
  ASSERT_OK(
      store_->FailTurn(ref.session, ref.number, "host restarted").status());
  Reopen();
  EXPECT_TRUE(store_->recovery_report().processing_turns.empty());
}

TEST_F(StoreTest, NewStoreIsReportedAsCreated) {
  EXPECT_TRUE(store_->recovery_report().created);
  EXPECT_EQ(store_->recovery_report().sessions, 0u);
  EXPECT_EQ(store_->access_mode(), AccessMode::kReadWrite);
}

TEST_F(StoreTest, DirectoryIs0700AndFiles0600) {
  MakeSession();
  ASSERT_OK(store_->SyncWal());
  Reopen();  // Rolls the WAL and writes a new OPTIONS and MANIFEST.
  struct stat st;
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path())) {
    if (!entry.is_regular_file()) continue;
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
    ++files;
  }
  EXPECT_GT(files, 3);
}

TEST_F(StoreTest, SecondOpenOfAHeldStoreIsBusy) {
  auto second = Store::Open(options_, path());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
}

TEST_F(StoreTest, ErrorIfExistsAndCreateIfMissing) {
  Close();
  Options o = options_;
  o.error_if_exists = true;
  auto exists = Store::Open(o, path());
  ASSERT_TRUE(exists.status().IsAlreadyExists()) << exists.status().ToString();
  o = options_;
  o.create_if_missing = false;
  auto missing = Store::Open(o, dir_.Sub("nothing-here"));
  ASSERT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("nothing-here")));
  Reopen();
}

TEST_F(StoreTest, InvalidOptionsAreRefusedBeforeTouchingDisk) {
  Options o = options_;
  o.max_title_bytes = 0;
  auto r = Store::Open(o, dir_.Sub("never"));
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("Options::max_title_bytes"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("never")));
}

TEST_F(StoreTest, StoreFromANewerFormatIsRefused) {
  std::string encoded;
  internal::AppendU64(&encoded, internal::kFormatVersion + 1);
  StoreImpl* impl = Impl(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(), impl->handle(Cf::kMeta),
                        internal::kFormatVersionKey, encoded)
                  .ok());
  Close();
  auto r = Store::Open(options_, path());
  ASSERT_TRUE(r.status().IsFailedPrecondition()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("format version"), std::string::npos);
  auto ro = Store::OpenReadOnly(options_, path());
  ASSERT_TRUE(ro.status().IsFailedPrecondition());
}

TEST_F(StoreTest, ReadOnlyOpenSeesDataAndRefusesWrites) {
  Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  Close();
  ASSERT_OK_AND_ASSIGN(auto ro, Store::OpenReadOnly(options_, path()));
  EXPECT_EQ(ro->access_mode(), AccessMode::kReadOnly);
  ASSERT_OK_AND_ASSIGN(Turn t, ro->GetTurn(s.id, 1));
  EXPECT_EQ(t.output[0].content, "a");
  EXPECT_TRUE(
      ro->CreateSession({.agent = "a"}).status().IsFailedPrecondition());
  EXPECT_TRUE(ro->AppendTurn(s.id, "k2", UserInput("q"), AssistantOutput("a"))
                  .status()
                  .IsFailedPrecondition());
  EXPECT_TRUE(ro->SyncWal().IsFailedPrecondition());
  auto missing = Store::OpenReadOnly(options_, dir_.Sub("absent"));
  EXPECT_TRUE(missing.status().IsNotFound());
  ro.reset();
  Reopen();
}

TEST_F(StoreTest, CorruptRecordIsReportedNamingItsKey) {
  Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  StoreImpl* impl = Impl(store_.get());
  // A value that is not a Cap'n Proto message, as a damaged disk would give.
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(), impl->handle(Cf::kTurns),
                        internal::TurnKey(s.id, 1), "garbage!")
                  .ok());
  auto got = store_->GetTurn(s.id, 1);
  ASSERT_TRUE(got.status().IsCorruption()) << got.status().ToString();
  EXPECT_NE(got.status().message().find("turns/" + s.id.ToString()),
            std::string::npos);
  EXPECT_TRUE(store_->ListTurns(s.id, {}).status().IsCorruption());
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  ASSERT_EQ(report.problems.size(), 2u);  // The record, and the count.
  EXPECT_EQ(report.problems[0].column_family, "turns");
  EXPECT_EQ(report.problems[0].key, s.id.ToString() + "/1");
}

TEST_F(StoreTest, CorruptSessionRecordDoesNotPreventOpening) {
  Session good = MakeSession();
  Session bad = MakeSession();
  StoreImpl* impl = Impl(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(), impl->handle(Cf::kSessions),
                        internal::SessionKey(bad.id), "garbage!")
                  .ok());
  Reopen();
  const RecoveryReport& report = store_->recovery_report();
  EXPECT_EQ(report.sessions, 2u);
  ASSERT_EQ(report.corrupt_records.size(), 1u);
  EXPECT_NE(report.corrupt_records[0].find("sessions/" + bad.id.ToString()),
            std::string::npos);
  EXPECT_TRUE(store_->GetSession(bad.id).status().IsCorruption());
  EXPECT_TRUE(
      store_->BeginTurn(bad.id, "k", UserInput("x")).status().IsCorruption());
  ASSERT_OK(
      store_->AppendTurn(good.id, "k", UserInput("x"), AssistantOutput("y"))
          .status());
}

TEST_F(StoreTest, DamageAcrossTheScanIsReportedInKeyOrder) {
  // Open's scan reads on a thread of its own and hands records over in
  // batches of 512 KiB: damage spread over many batches (and a record
  // larger than one) is reported as a single pass would, in key order.
  options_.max_metadata_bytes = 1 << 20;
  Reopen();
  std::vector<Session> sessions;
  for (int i = 0; i < 3'000; ++i) {
    SessionSpec spec{.agent = "agent", .model = "model-x"};
    spec.metadata = std::string(i == 1'500 ? (1 << 20) : 900, 'm');
    ASSERT_OK_AND_ASSIGN(Session s, store_->CreateSession(spec));
    TurnUsage usage;
    usage.tokens.input = 10;
    ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"),
                                 AssistantOutput("a"), usage)
                  .status());
    sessions.push_back(s);
  }
  Reopen();  // The totals marks are written.
  StoreImpl* impl = Impl(store_.get());
  auto put = [&](Cf cf, const std::string& key, const std::string& value) {
    ASSERT_TRUE(
        impl->db()->Put(rocksdb::WriteOptions(), impl->handle(cf), key, value)
            .ok());
  };
  // In key order: what the report must say, one needle a record.
  std::vector<std::string> needles;
  for (int i : {10, 700, 1'499, 2'999}) {
    put(Cf::kSessions, internal::SessionKey(sessions[i].id), "garbage!");
    needles.push_back("sessions/" + sessions[i].id.ToString());
    if (i == 700) {
      const std::string key = internal::SessionKey(sessions[i].id) + "x";
      put(Cf::kSessions, key, "garbage!");
      needles.push_back("sessions key " + internal::Hex(key) + " is not");
    }
  }
  put(Cf::kUsageTotals, internal::TotalsMarkKey(sessions[2'000].id), "bad");
  needles.insert(needles.begin() + 4,
                 "usage_totals/mark/" + sessions[2'000].id.ToString() +
                     " is 3 bytes");
  // A crash image: after a clean close open would not read the marks.
  const std::string backups = dir_.Sub("backups");
  ASSERT_OK(store_->Backup(backups).status());
  ASSERT_OK(RestoreBackup(backups, std::nullopt, dir_.Sub("image")));
  auto image = Store::Open(options_, dir_.Sub("image"));
  ASSERT_OK(image.status());
  const RecoveryReport& report = (*image)->recovery_report();
  EXPECT_EQ(report.sessions, 3'000u);
  ASSERT_EQ(report.corrupt_records.size(), needles.size());
  for (size_t i = 0; i < needles.size(); ++i) {
    EXPECT_NE(report.corrupt_records[i].find(needles[i]), std::string::npos)
        << report.corrupt_records[i] << " is not about " << needles[i];
  }
  ASSERT_OK_AND_ASSIGN(StoreInfo info, (*image)->Info());
  EXPECT_EQ(info.sessions, 2'996u);
  ASSERT_OK_AND_ASSIGN(Session large,
                       (*image)->GetSession(sessions[1'500].id));
  EXPECT_EQ(large.metadata.size(), size_t{1} << 20);
}

// Whether automatic compactions are on in every family of `store`.
void ExpectCompactionsOn(StoreImpl* impl) {
  for (size_t i = 0; i < internal::kCfNames.size(); ++i) {
    rocksdb::ColumnFamilyHandle* h = impl->handle(static_cast<Cf>(i));
    ASSERT_NE(h, nullptr) << internal::kCfNames[i];
    EXPECT_FALSE(impl->db()->GetOptions(h).disable_auto_compactions)
        << internal::kCfNames[i];
  }
}

TEST_F(StoreTest, CompactionsRunAgainOnceOpenHasScanned) {
  // Open holds automatic compactions back while it scans a large store,
  // then lets them run: a store whose families stayed without them would
  // never compact. Every store is large from 0 bytes on here.
  MakeSession();
  StoreImpl::TEST_SetHoldCompactionsFrom(0);
  Reopen();
  StoreImpl::TEST_SetHoldCompactionsFrom(StoreImpl::kHoldCompactionsFrom);
  StoreImpl* impl = Impl(store_.get());
  impl->TEST_WaitForCompactionsEnabled();
  ExpectCompactionsOn(impl);
}

TEST_F(StoreTest, ASmallStoreOpensWithCompactionsOn) {
  // Nothing to hold back, and no OPTIONS files to write, with every writer
  // held, after the open: compactions are on when Open returns.
  MakeSession();
  Reopen();
  ExpectCompactionsOn(Impl(store_.get()));
}

TEST_F(StoreTest, UnstampedEmptyStoreIsStampedButUnstampedDataIsRefused) {
  // A crash in the very first open can leave the column families without
  // the format stamp; such a store holds nothing and opens as new.
  StoreImpl* impl = Impl(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Delete(rocksdb::WriteOptions(), impl->handle(Cf::kMeta),
                           internal::kFormatVersionKey)
                  .ok());
  Reopen();
  EXPECT_EQ(store_->recovery_report().format_version, internal::kFormatVersion);

  // A directory with sessions but no stamp is not something we wrote.
  MakeSession();
  impl = Impl(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Delete(rocksdb::WriteOptions(), impl->handle(Cf::kMeta),
                           internal::kFormatVersionKey)
                  .ok());
  Close();
  auto r = Store::Open(options_, path());
  ASSERT_TRUE(r.status().IsFailedPrecondition()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("not an agentlog store"),
            std::string::npos);
}

TEST_F(StoreTest, InfoCountsSessionsAndNamesColumnFamilies) {
  MakeSession();
  MakeSession();
  ASSERT_OK_AND_ASSIGN(StoreInfo info, store_->Info());
  EXPECT_EQ(info.sessions, 2u);
  EXPECT_EQ(info.path, path());
  EXPECT_EQ(info.format_version, internal::kFormatVersion);
  std::vector<std::string> names;
  for (const auto& cf : info.column_families) names.push_back(cf.name);
  EXPECT_EQ(names, (std::vector<std::string>{"sessions", "turns", "idempotency",
                                             "inputs", "meta", "checkpoints",
                                             "checkpoint_data", "run_once",
                                             "usage", "usage_ids",
                                             "usage_totals", "alerts"}));
}

TEST_F(StoreTest, EveryDurabilityModeAcknowledgesDurablyAcrossReopen) {
  for (Durability d :
       {Durability::kSync, Durability::kBuffered, Durability::kNone}) {
    options_.durability = d;
    Reopen();
    Session s = MakeSession();
    WriteOptions per_call;
    per_call.durability = Durability::kSync;
    ASSERT_OK(
        store_->AppendTurn(s.id, "a", UserInput("x"), AssistantOutput("y"))
            .status());
    ASSERT_OK(store_
                  ->AppendTurn(s.id, "b", UserInput("x2"),
                               AssistantOutput("y2"), {}, per_call)
                  .status());
    Reopen();
    ASSERT_OK_AND_ASSIGN(Session got, store_->GetSession(s.id));
    EXPECT_EQ(got.turn_count, 2u);
  }
}

}  // namespace
}  // namespace agentlog::testing
