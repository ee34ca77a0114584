#ifndef AGENTLOG_TESTS_TEST_UTIL_H_
#define AGENTLOG_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"

namespace agentlog {
// How GoogleTest prints agentlog values in failure messages.
inline void PrintTo(TurnStatus status, std::ostream* os) {
  *os << TurnStatusName(status);
}
inline void PrintTo(SessionStatus status, std::ostream* os) {
  *os << SessionStatusName(status);
}
inline void PrintTo(const SessionId& id, std::ostream* os) {
  *os << id.ToString();
}
inline void PrintTo(const Lease& lease, std::ostream* os) {
  *os << "lease " << lease.token << " of " << lease.session.ToString()
      << " to '" << lease.owner << "' until " << lease.expires_ms;
}
inline void PrintTo(const TurnRef& ref, std::ostream* os) {
  *os << ref.session.ToString() << "/" << ref.number;
}
}  // namespace agentlog

namespace agentlog::testing {

// A fresh directory under TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "agentlog-test-XXXXXX")
            .string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t ms) { now_.fetch_add(ms); }
  void Set(int64_t ms) { now_.store(ms); }

 private:
  std::atomic<int64_t> now_;
};

inline std::vector<Message> UserInput(const std::string& text) {
  return {Message{Role::kUser, text, "", ""}};
}
inline std::vector<Message> AssistantOutput(const std::string& text) {
  return {Message{Role::kAssistant, text, "", ""}};
}

// Turn contents derived from an idempotency key, so that a checker can
// recompute what a writer (another thread or process) stored.
inline uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Long enough to be judged by echo detection (Options::echo_min_chars).
inline std::vector<Message> OutputFor(const std::string& key) {
  return {Message{Role::kAssistant, "the answer to " + key + " is stored",
                  "", ""}};
}

inline TurnUsage UsageFor(const std::string& key) {
  const uint64_t h = Fnv1a(key);
  TurnUsage usage;
  usage.tokens.input = 1 + h % 1000;
  usage.tokens.output = 1 + (h >> 10) % 1000;
  usage.tokens.cache_read = (h >> 20) % 100;
  usage.tokens.cache_write = (h >> 30) % 100;
  usage.cost_micros = static_cast<int64_t>((h >> 40) % 10000);
  return usage;
}

// Adds a completed turn's usage to `totals`: the session totals a checker
// expects, summed independently of the store's own arithmetic.
inline void AddCompleted(const TurnUsage& usage, Session* totals) {
  ++totals->completed_turns;
  totals->tokens.input += usage.tokens.input;
  totals->tokens.output += usage.tokens.output;
  totals->tokens.cache_read += usage.tokens.cache_read;
  totals->tokens.cache_write += usage.tokens.cache_write;
  totals->cost_micros += usage.cost_micros;
}

// The summary the session index should hold for `s` (Store::Search).
inline SessionSummary SummaryOf(const Session& s) {
  return {.id = s.id,
          .agent = s.agent,
          .model = s.model,
          .tags = s.tags,
          .status = s.status,
          .pinned = s.pinned,
          .created_ms = s.created_ms,
          .last_active_ms = s.last_active_ms,
          .cost_micros = s.cost_micros,
          .tokens = s.tokens.total()};
}

// Every session the index holds, archived included (Store::Search).
inline std::vector<SessionSummary> AllIndexed(Store& store) {
  SessionQuery q;
  q.statuses = {SessionStatus::kActive, SessionStatus::kIdle,
                SessionStatus::kArchived};
  q.limit = 0;
  Result<SessionPage> page = store.Search(q);
  EXPECT_TRUE(page.ok()) << page.status().ToString();
  return page.ok() ? std::move(page)->sessions
                   : std::vector<SessionSummary>{};
}

inline std::string ErrorFor(const std::string& key) {
  return "gave up on " + key;
}

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// Unwraps a Result in a test, failing the test on error.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                           \
  auto AGENTLOG_TEST_CONCAT_(_r_, __LINE__) = (rexpr);             \
  ASSERT_TRUE(AGENTLOG_TEST_CONCAT_(_r_, __LINE__).ok())           \
      << #rexpr << ": "                                            \
      << AGENTLOG_TEST_CONCAT_(_r_, __LINE__).status().ToString(); \
  lhs = std::move(AGENTLOG_TEST_CONCAT_(_r_, __LINE__)).value()
#define AGENTLOG_TEST_CONCAT_INNER_(a, b) a##b
#define AGENTLOG_TEST_CONCAT_(a, b) AGENTLOG_TEST_CONCAT_INNER_(a, b)

// Opens a fresh store in a temp directory per test; Reopen closes and opens
// it again.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.durability = Durability::kNone;
    options_.clock = clock_;
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto opened = Store::Open(options_, path());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  void Close() { store_.reset(); }
  std::string path() const { return dir_.Sub("store"); }

  Session MakeSession(const std::string& agent = "agent") {
    SessionSpec spec;
    spec.agent = agent;
    spec.model = "model-x";
    auto s = store_->CreateSession(spec);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : Session{};
  }

  TempDir dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  Options options_;
  std::unique_ptr<Store> store_;
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTS_TEST_UTIL_H_
