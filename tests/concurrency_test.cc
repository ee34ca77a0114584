// Many threads writing turns to shared sessions at once. Every thread logs
// what each call returned; afterwards the store must agree exactly: turn
// counts, totals, gap-free numbering, idempotency keys, the same after a
// reopen.
//
// The workload mixes BeginTurn + CompleteTurn/FailTurn, AppendTurn, and keys
// that two threads use at the same moment: one of them must create the turn
// and the other replay it, and when both try to finish it, exactly one wins.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <latch>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace agentlog::testing {
namespace {

// --- Turn contents: a pure function of the idempotency key. ---

std::vector<Message> InputFor(const std::string& key) {
  return {Message{Role::kUser, "question " + key, "", ""}};
}

// --- What the threads saw ---

// A BeginTurn or AppendTurn that returned OK.
struct Started {
  int session;
  uint64_t number;
  std::string key;
  bool replayed;
};

// A CompleteTurn or FailTurn that returned OK (or an AppendTurn that
// created its turn).
struct Finished {
  int session;
  uint64_t number;
  TurnStatus status;
};

struct ThreadLog {
  std::vector<Started> started;
  std::vector<Finished> finished;
  std::vector<std::string> errors;
};

struct Workload {
  int threads;
  int turns_per_thread;
  // Every `shared_every`-th operation of a thread uses a key its partner
  // thread (thread ^ 1) uses at the same step.
  int shared_every;
};

// One writer thread. Nothing here asserts: every unexpected outcome goes to
// `log->errors`, reported after the join.
void Writer(Store& store, const std::vector<SessionId>& sessions,
            const Workload& w, int thread, std::latch& start, ThreadLog* log) {
  std::mt19937_64 rng(1000 + thread);
  const int n_sessions = static_cast<int>(sessions.size());
  auto error = [&](const std::string& what, const Status& st) {
    log->errors.push_back(what + ": " + st.ToString());
  };
  // Finishes turn `n`, completing or failing it; `may_lose` when another
  // thread may finish it first (then FailedPrecondition is the right answer).
  auto finish = [&](int s, uint64_t n, const std::string& key, bool complete,
                    bool may_lose) {
    const Result<Turn> r =
        complete
            ? store.CompleteTurn(sessions[s], n, OutputFor(key), UsageFor(key))
            : store.FailTurn(sessions[s], n, ErrorFor(key));
    if (r.ok()) {
      log->finished.push_back({s, n, r->status});
    } else if (!(may_lose && r.status().IsFailedPrecondition())) {
      error(fmt::format("finishing {}", key), r.status());
    }
  };

  start.arrive_and_wait();
  for (int j = 0; j < w.turns_per_thread; ++j) {
    if (j % w.shared_every == 0) {
      // The partner runs the same step with the same key and session.
      const int pair = thread / 2;
      const int s = (pair * 5 + j / w.shared_every) % n_sessions;
      const std::string key = fmt::format("shared.{}.{}", pair, j);
      const bool append = (j / w.shared_every) % 2 == 0;
      const Result<BeginTurnResult> r =
          append ? store.AppendTurn(sessions[s], key, InputFor(key),
                                    OutputFor(key), UsageFor(key))
                 : store.BeginTurn(sessions[s], key, InputFor(key));
      if (!r.ok()) {
        error(fmt::format("starting {}", key), r.status());
        continue;
      }
      log->started.push_back({s, r->turn.number, key, r->replayed});
      if (append) {
        if (!r->replayed) {
          log->finished.push_back({s, r->turn.number, TurnStatus::kCompleted});
        }
      } else {
        // Both partners race to finish it: even threads complete, odd fail.
        finish(s, r->turn.number, key, thread % 2 == 0, /*may_lose=*/true);
      }
      continue;
    }
    const int s = static_cast<int>(rng() % n_sessions);
    const std::string key = fmt::format("t{}.{}", thread, j);
    const uint64_t dice = rng() % 100;
    if (dice < 40) {
      const Result<BeginTurnResult> r = store.AppendTurn(
          sessions[s], key, InputFor(key), OutputFor(key), UsageFor(key));
      if (!r.ok()) {
        error("AppendTurn " + key, r.status());
        continue;
      }
      log->started.push_back({s, r->turn.number, key, r->replayed});
      log->finished.push_back({s, r->turn.number, TurnStatus::kCompleted});
      continue;
    }
    const Result<BeginTurnResult> r =
        store.BeginTurn(sessions[s], key, InputFor(key));
    if (!r.ok()) {
      error("BeginTurn " + key, r.status());
      continue;
    }
    log->started.push_back({s, r->turn.number, key, r->replayed});
    if (dice < 85) {
      finish(s, r->turn.number, key, /*complete=*/true, /*may_lose=*/false);
    } else if (dice < 95) {
      finish(s, r->turn.number, key, /*complete=*/false, /*may_lose=*/false);
    }  // Otherwise it stays processing.
  }
}

// What the store must hold, built from the thread logs.
struct ExpectedTurn {
  std::string key;
  TurnStatus status = TurnStatus::kProcessing;
};
using Model = std::vector<std::map<uint64_t, ExpectedTurn>>;  // Per session.

class ConcurrencyTest : public StoreTest {
 protected:
  void MakeSessions(int n) {
    for (int i = 0; i < n; ++i) {
      sessions_.push_back(MakeSession(fmt::format("agent-{}", i)).id);
    }
    // The recovery report lists sessions in id order.
    std::sort(sessions_.begin(), sessions_.end());
  }

  // Runs `w` and checks the logs against each other; fills `model_`.
  void Run(const Workload& w) {
    std::vector<ThreadLog> logs(w.threads);
    std::latch start(w.threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < w.threads; ++t) {
      threads.emplace_back(Writer, std::ref(*store_), std::cref(sessions_),
                           std::cref(w), t, std::ref(start), &logs[t]);
    }
    for (std::thread& t : threads) t.join();

    size_t errors = 0;
    for (const ThreadLog& log : logs) {
      for (const std::string& e : log.errors) {
        if (++errors <= 10) ADD_FAILURE() << e;
      }
    }
    ASSERT_EQ(errors, 0u);

    model_.assign(sessions_.size(), {});
    size_t started = 0, replays = 0;
    for (const ThreadLog& log : logs) {
      for (const Started& st : log.started) {
        ++started;
        if (st.replayed) continue;
        const auto [it, inserted] =
            model_[st.session].emplace(st.number, ExpectedTurn{st.key});
        EXPECT_TRUE(inserted)
            << "turn " << st.number << " of session " << st.session
            << " was handed to " << st.key << " and " << it->second.key;
      }
    }
    // A key names one turn: whoever replayed it got the creator's number.
    std::vector<std::map<std::string, uint64_t>> by_key(sessions_.size());
    for (size_t s = 0; s < model_.size(); ++s) {
      for (const auto& [n, turn] : model_[s]) {
        EXPECT_TRUE(by_key[s].emplace(turn.key, n).second)
            << "key " << turn.key << " created two turns";
      }
    }
    for (const ThreadLog& log : logs) {
      for (const Started& st : log.started) {
        if (!st.replayed) continue;
        ++replays;
        const auto it = by_key[st.session].find(st.key);
        ASSERT_NE(it, by_key[st.session].end())
            << "replayed key " << st.key << " was never created";
        EXPECT_EQ(st.number, it->second) << st.key;
      }
    }
    // Every shared key was started by both partners: one created, one
    // replayed.
    const size_t shared_steps =
        (w.turns_per_thread + w.shared_every - 1) / w.shared_every;
    EXPECT_EQ(replays, static_cast<size_t>(w.threads / 2) * shared_steps);
    EXPECT_EQ(started, static_cast<size_t>(w.threads * w.turns_per_thread));

    std::map<std::pair<int, uint64_t>, int> finishes;
    for (const ThreadLog& log : logs) {
      for (const Finished& f : log.finished) {
        ASSERT_EQ(model_[f.session].count(f.number), 1u);
        model_[f.session][f.number].status = f.status;
        const int times = ++finishes[std::make_pair(f.session, f.number)];
        EXPECT_EQ(times, 1) << "turn " << f.number << " of session "
                            << f.session << " was finished twice";
      }
    }
    // ...and at least once when both partners tried.
    for (const auto& turns : model_) {
      for (const auto& [n, t] : turns) {
        if (t.key.starts_with("shared.")) {
          EXPECT_NE(t.status, TurnStatus::kProcessing) << t.key;
        }
      }
    }
  }

  // The store agrees with `model_` exactly.
  void CheckStore() {
    std::vector<TurnRef> processing;
    for (size_t s = 0; s < sessions_.size(); ++s) {
      const SessionId& id = sessions_[s];
      const auto& expected = model_[s];
      SCOPED_TRACE(fmt::format("session {} ({})", s, id.ToString()));
      ASSERT_OK_AND_ASSIGN(Session session, store_->GetSession(id));
      ASSERT_OK_AND_ASSIGN(std::vector<Turn> turns, store_->ListTurns(id));

      EXPECT_EQ(session.turn_count, expected.size());
      ASSERT_EQ(turns.size(), expected.size());
      Session totals;
      std::vector<uint64_t> processing_numbers;
      uint64_t n = 0;
      for (const auto& [number, want] : expected) {
        ++n;
        ASSERT_EQ(number, n) << "numbers handed out have a gap";
        const Turn& t = turns[n - 1];
        SCOPED_TRACE(fmt::format("turn {} key {}", n, want.key));
        ASSERT_EQ(t.number, n);
        EXPECT_EQ(t.idempotency_key, want.key);
        EXPECT_EQ(t.status, want.status);
        EXPECT_EQ(t.input, InputFor(want.key));
        switch (want.status) {
          case TurnStatus::kProcessing:
            EXPECT_TRUE(t.output.empty());
            processing_numbers.push_back(n);
            processing.push_back({id, n});
            break;
          case TurnStatus::kCompleted: {
            const TurnUsage usage = UsageFor(want.key);
            EXPECT_EQ(t.output, OutputFor(want.key));
            EXPECT_EQ(t.usage.tokens, usage.tokens);
            EXPECT_EQ(t.usage.cost_micros, usage.cost_micros);
            AddCompleted(usage, &totals);
            break;
          }
          case TurnStatus::kFailed:
            EXPECT_EQ(t.error, ErrorFor(want.key));
            ++totals.failed_turns;
            break;
        }
        ASSERT_OK_AND_ASSIGN(Turn by_key, store_->GetTurnByKey(id, want.key));
        EXPECT_EQ(by_key.number, n);
      }
      EXPECT_EQ(session.completed_turns, totals.completed_turns);
      EXPECT_EQ(session.failed_turns, totals.failed_turns);
      EXPECT_EQ(session.tokens, totals.tokens);
      EXPECT_EQ(session.cost_micros, totals.cost_micros);
      EXPECT_EQ(session.processing_turns, processing_numbers);
    }
    expected_processing_ = processing;

    ASSERT_OK_AND_ASSIGN(VerifyReport verify, store_->Verify());
    std::string problems;
    for (const VerifyProblem& p : verify.problems) {
      problems += fmt::format("\n  {} {}: {}", p.column_family, p.key, p.what);
    }
    EXPECT_TRUE(verify.clean()) << problems;
  }

  // Every session got turns, and the run left some processing (so the
  // recovery report check below is not vacuous).
  void CheckModelIsInteresting() {
    size_t processing = 0;
    for (const auto& turns : model_) {
      EXPECT_FALSE(turns.empty());
      for (const auto& [n, t] : turns) {
        processing += t.status == TurnStatus::kProcessing;
      }
    }
    EXPECT_GT(processing, 0u);
  }

  void CheckAfterReopen() {
    ASSERT_NO_FATAL_FAILURE(Reopen());
    EXPECT_EQ(store_->recovery_report().sessions, sessions_.size());
    EXPECT_EQ(store_->recovery_report().processing_turns, expected_processing_);
    ASSERT_NO_FATAL_FAILURE(CheckStore());
  }

  std::vector<SessionId> sessions_;  // In id order.
  Model model_;
  std::vector<TurnRef> expected_processing_;
};

TEST_F(ConcurrencyTest, EightThreadsOverSixteenSessionsKeepExactCounts) {
  MakeSessions(16);
  ASSERT_NO_FATAL_FAILURE(
      Run({.threads = 8, .turns_per_thread = 2000, .shared_every = 10}));
  CheckModelIsInteresting();
  ASSERT_NO_FATAL_FAILURE(CheckStore());
  CheckAfterReopen();
}

// Synced writers to different sessions share fsyncs (RocksDB group commit);
// the counts must be just as exact.
TEST_F(ConcurrencyTest, SixteenSyncedWritersKeepExactCounts) {
  options_.durability = Durability::kSync;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  MakeSessions(16);
  ASSERT_NO_FATAL_FAILURE(
      Run({.threads = 16, .turns_per_thread = 50, .shared_every = 5}));
  CheckModelIsInteresting();
  ASSERT_NO_FATAL_FAILURE(CheckStore());
  CheckAfterReopen();
}

}  // namespace
}  // namespace agentlog::testing
