// The agentlog command against real stores: reading while another process
// writes, exit codes, and never writing to the store it reads.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"

extern char** environ;

namespace agentlog::testing {
namespace {

struct CliResult {
  int exit_code = -1;
  std::string out;
};

// Runs the agentlog binary (path from AGENTLOG_BIN, set by meson) with
// `args`; stderr is discarded.
CliResult RunCli(const std::string& args) {
  const char* bin = std::getenv("AGENTLOG_BIN");
  EXPECT_NE(bin, nullptr) << "AGENTLOG_BIN is not set";
  CliResult r;
  if (bin == nullptr) return r;
  const std::string command = std::string(bin) + " " + args + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// tests/live_writer (path from AGENTLOG_LIVE_WRITER) as a separate process:
// a fresh program, so that its RocksDB owns its threads, holding the store
// the way a service would.
class Writer {
 public:
  explicit Writer(const std::string& store_path) {
    const char* bin = std::getenv("AGENTLOG_LIVE_WRITER");
    int fds[2];
    if (bin == nullptr || ::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::string path = store_path;
    char* argv[] = {const_cast<char*>(bin), path.data(), nullptr};
    if (::posix_spawn(&pid_, bin, &actions, nullptr, argv, environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    in_ = ::fdopen(fds[0], "r");
  }
  ~Writer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    if (in_ != nullptr) std::fclose(in_);
  }

  // Blocks for the next line the writer printed; empty when it is gone.
  std::string Next() {
    char line[128];
    if (in_ == nullptr || std::fgets(line, sizeof line, in_) == nullptr) {
      return "";
    }
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
};

TEST(CliTest, ReadsAStoreAnotherProcessIsWriting) {
  TempDir dir;
  const std::string store = dir.Sub("store");
  Writer writer(store);
  const std::string id = writer.Next();
  ASSERT_EQ(id.size(), 26u) << "writer failed to start";

  uint64_t acked = 0;
  uint64_t seen_before = 0;
  for (int round = 0; round < 8; ++round) {
    // Let the writer get ahead, so that memtables flush and WAL files roll
    // while the reader works.
    for (int i = 0; i < 200; ++i) {
      const std::string line = writer.Next();
      ASSERT_FALSE(line.empty()) << "the writer died";
      acked = std::stoull(line);
    }
    SCOPED_TRACE("round " + std::to_string(round) + ", acked " +
                 std::to_string(acked));

    CliResult info = RunCli("info " + store);
    ASSERT_EQ(info.exit_code, 0) << info.out;
    EXPECT_NE(info.out.find("secondary"), std::string::npos) << info.out;

    CliResult sessions = RunCli("sessions " + store);
    ASSERT_EQ(sessions.exit_code, 0);
    EXPECT_NE(sessions.out.find(id), std::string::npos);

    // Every turn acknowledged before the command started is visible.
    CliResult turns = RunCli("turns " + store + " " + id + " --json");
    ASSERT_EQ(turns.exit_code, 0);
    const uint64_t visible = Lines(turns.out).size();
    EXPECT_GE(visible, acked);
    EXPECT_GE(visible, seen_before);
    seen_before = visible;

    CliResult show = RunCli("show " + store + " " + id);
    ASSERT_EQ(show.exit_code, 0);
    EXPECT_NE(show.out.find("Session " + id), std::string::npos);
    EXPECT_NE(show.out.find("question " + std::to_string(acked)),
              std::string::npos);

    CliResult dump = RunCli("dump " + store);
    ASSERT_EQ(dump.exit_code, 0);
    uint64_t turn_records = 0;
    for (const std::string& line : Lines(dump.out)) {
      ASSERT_EQ(line.rfind("{\"cf\":\"", 0), 0u) << line;
      ASSERT_EQ(line.back(), '}') << line;
      if (line.rfind("{\"cf\":\"turns\"", 0) == 0) ++turn_records;
    }
    EXPECT_GE(turn_records, acked);
  }
  // Backing up a live store from outside is refused: the process holding
  // it may delete files mid-copy. The host backs up with Store::Backup.
  EXPECT_EQ(RunCli("backup " + store + " " + dir.Sub("backups")).exit_code, 1);
}

// Every file's size and modification time: the command must change none.
std::map<std::string, std::pair<uintmax_t, int64_t>> Snapshot(
    const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, int64_t>> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st;
    ::stat(e.path().c_str(), &st);
    files[e.path().filename()] = {
        static_cast<uintmax_t>(st.st_size),
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
            st.st_mtim.tv_nsec};
  }
  return files;
}

class CliStoreTest : public StoreTest {};

TEST_F(CliStoreTest, NeverWritesToTheStoreItReads) {
  Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  ASSERT_OK(store_->BeginTurn(s.id, "k2", UserInput("pending")).status());
  Close();
  const auto before = Snapshot(path());
  for (const std::string& args :
       {"info " + path(), "sessions " + path(),
        "sessions " + path() + " --json",
        "show " + path() + " " + s.id.ToString(),
        "turns " + path() + " " + s.id.ToString(), "dump " + path(),
        "dump " + path() + " --cf sessions",
        "checkpoints " + path() + " " + s.id.ToString(), "verify " + path(),
        "backup " + path() + " " + dir_.Sub("backups")}) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 0) << args;
  }
  EXPECT_EQ(Snapshot(path()), before);
  Reopen();
}

TEST_F(CliStoreTest, OutputsDescribeTheStore) {
  Session s = MakeSession();
  ASSERT_OK(store_
                ->AppendTurn(s.id, "k1", UserInput("What is 2+2?"),
                             AssistantOutput("4"), {{5, 1, 0, 0}, 25})
                .status());
  ASSERT_OK(store_->BeginTurn(s.id, "k2", UserInput("And 3+3?")).status());
  ASSERT_OK(store_->FailTurn(s.id, 2, "rate limited").status());
  Close();

  CliResult show = RunCli("show " + path() + " " + s.id.ToString());
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("#1 completed"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("user: What is 2+2?"), std::string::npos);
  EXPECT_NE(show.out.find("assistant: 4"), std::string::npos);
  EXPECT_NE(show.out.find("#2 failed"), std::string::npos);
  EXPECT_NE(show.out.find("error: rate limited"), std::string::npos);

  CliResult sessions = RunCli("sessions " + path() + " --json");
  ASSERT_EQ(sessions.exit_code, 0);
  EXPECT_NE(sessions.out.find("\"turns\":2"), std::string::npos)
      << sessions.out;
  EXPECT_NE(sessions.out.find("\"cost_micros\":25"), std::string::npos);

  CliResult dump = RunCli("dump " + path() + " --cf idempotency");
  ASSERT_EQ(dump.exit_code, 0);
  EXPECT_EQ(Lines(dump.out).size(), 2u);
  EXPECT_NE(dump.out.find("\"key\":\"k1\""), std::string::npos) << dump.out;

  CliResult info = RunCli("info " + path() + " --json");
  ASSERT_EQ(info.exit_code, 0);
  EXPECT_NE(info.out.find("\"sessions\":1"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"mode\":\"read-only\""), std::string::npos);
  Reopen();
}

TEST_F(CliStoreTest, SessionsTakesSearchFiltersAndStatsCounts) {
  // Three sessions of agent "a" tagged prod, with different costs, and
  // others that each filter must leave out.
  std::vector<std::string> by_cost_desc(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(
        const Session s,
        store_->CreateSession({.agent = "a", .tags = {"prod", "eu"}}));
    ASSERT_OK(store_
                  ->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"),
                               {{5, 1, 0, 0}, 100 * (i + 1)})
                  .status());
    by_cost_desc[2 - i] = s.id.ToString();
    clock_->Advance(1000);
  }
  ASSERT_OK(store_->CreateSession({.agent = "b", .tags = {"prod"}}).status());
  ASSERT_OK(store_->CreateSession({.agent = "a", .tags = {"dev"}}).status());
  Close();

  CliResult found = RunCli("sessions " + path() +
                           " --agent a --tag prod,eu --sort cost --desc --json");
  ASSERT_EQ(found.exit_code, 0) << found.out;
  const std::vector<std::string> lines = Lines(found.out);
  ASSERT_EQ(lines.size(), 3u) << found.out;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(lines[i].find(by_cost_desc[i]), std::string::npos) << lines[i];
  }
  // Paging: the cursor the first page prints fetches the rest.
  CliResult first = RunCli("sessions " + path() +
                           " --agent a --tag prod --sort cost --limit 2 --json");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  const std::vector<std::string> page = Lines(first.out);
  ASSERT_EQ(page.size(), 3u) << first.out;
  const std::string key = "\"next_cursor\":\"";
  const size_t at = page[2].find(key);
  ASSERT_NE(at, std::string::npos) << page[2];
  const std::string cursor =
      page[2].substr(at + key.size(), page[2].find('"', at + key.size()) -
                                          at - key.size());
  CliResult rest = RunCli("sessions " + path() +
                          " --agent a --tag prod --sort cost --limit 2 "
                          "--cursor " + cursor + " --json");
  ASSERT_EQ(rest.exit_code, 0) << rest.out;
  ASSERT_EQ(Lines(rest.out).size(), 1u) << rest.out;
  EXPECT_NE(rest.out.find(by_cost_desc[0]), std::string::npos);
  EXPECT_EQ(RunCli("sessions " + path() + " --min-cost 0.0002").out.find(
                by_cost_desc[2]),
            std::string::npos);

  CliResult stats = RunCli("stats " + path() + " --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.out;
  EXPECT_NE(stats.out.find("\"sessions\":5"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"by_agent\":{\"a\":4,\"b\":1}"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("\"prod\":4"), std::string::npos) << stats.out;

  CliResult metrics = RunCli("metrics " + path());
  ASSERT_EQ(metrics.exit_code, 0) << metrics.out;
  EXPECT_NE(metrics.out.find("agentlog_sessions{status=\"active\"} 5\n"),
            std::string::npos)
      << metrics.out;
  EXPECT_NE(metrics.out.find("# TYPE agentlog_column_family_sst_bytes gauge"),
            std::string::npos);

  EXPECT_EQ(RunCli("sessions " + path() + " --sort size").exit_code, 2);
  EXPECT_EQ(RunCli("sessions " + path() + " --status gone").exit_code, 2);
  EXPECT_EQ(RunCli("sessions " + path() + " --active-from yesterday").exit_code,
            2);
  EXPECT_EQ(RunCli("sessions " + path() + " --cursor zz").exit_code, 1);
  Reopen();
}

TEST_F(CliStoreTest, ShowMarksEchoes) {
  options_.detect_echoes = true;
  Reopen();
  Session s = MakeSession();
  const std::string answer =
      "Refunds reach your card in three to five business days after we "
      "receive the returned item at our warehouse in Porto, and you will get "
      "an e-mail with the refund number as soon as it is issued by our bank. "
      "If it has not arrived by then, reply to this message with your order "
      "number and we will chase the payment with the bank the same day.";
  std::string near = answer;
  near.replace(near.find("Porto"), 5, "Braga");
  for (const std::string& text : {answer, answer, near}) {
    ASSERT_OK(store_->AppendTurn(s.id, "", UserInput("when?"),
                                 AssistantOutput(text))
                  .status());
  }
  Close();
  CliResult show = RunCli("show " + path() + " " + s.id.ToString());
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("echoes: 1 exact, 1 near of 3 responses checked"),
            std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("(repeats turn 1)"), std::string::npos);
  EXPECT_NE(show.out.find("(nearly repeats turn 2: similarity 0.9"),
            std::string::npos);
  CliResult json = RunCli("turns " + path() + " " + s.id.ToString() + " --json");
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find("\"echo\":\"exact\",\"echo_turn\":1,"
                          "\"echo_similarity\":1.0000"),
            std::string::npos)
      << json.out;
  Reopen();
}

TEST_F(CliStoreTest, ExitCodesSayWhatWentWrong) {
  Session s = MakeSession();
  Close();
  EXPECT_EQ(RunCli("").exit_code, 2);
  EXPECT_EQ(RunCli("frobnicate " + path()).exit_code, 2);
  EXPECT_EQ(RunCli("show " + path()).exit_code, 2);  // no id
  EXPECT_EQ(RunCli("show " + path() + " not-an-id").exit_code, 2);
  EXPECT_EQ(RunCli("sessions " + path() + " --limit x").exit_code, 2);
  EXPECT_EQ(RunCli("dump " + path() + " --cf nope").exit_code, 2);
  EXPECT_EQ(RunCli("info " + dir_.Sub("absent")).exit_code, 1);
  EXPECT_EQ(RunCli("show " + path() + " " + SessionId::Generate(1).ToString())
                .exit_code,
            1);
  EXPECT_EQ(RunCli("--help").exit_code, 0);
  Reopen();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(CliStoreTest, CheckpointsAreListedExtractedAndVerified) {
  Session s = MakeSession();
  const std::string id = s.id.ToString();
  std::vector<std::string> payloads;
  for (int v = 1; v <= 3; ++v) {
    payloads.push_back(std::string(20'000 * v, static_cast<char>('a' + v)) +
                       "\n\x01binary\x00tail" + std::to_string(v));
    CheckpointSpec spec;
    spec.payload = payloads.back();
    if (v > 1) spec.parent = v - 1;
    const std::string metadata = "step " + std::to_string(v);
    spec.metadata = metadata;
    ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  }
  Close();

  CliResult list = RunCli("checkpoints " + path() + " " + id);
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("step 3"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("lz4"), std::string::npos) << list.out;
  CliResult json = RunCli("checkpoints " + path() + " " + id + " --json");
  ASSERT_EQ(Lines(json.out).size(), 3u);
  EXPECT_NE(json.out.find("\"version\":2,\"parent\":1"), std::string::npos)
      << json.out;

  const std::string out = dir_.Sub("v2.bin");
  ASSERT_EQ(RunCli("checkpoint " + path() + " " + id + " 2 -o " + out)
                .exit_code,
            0);
  EXPECT_EQ(ReadFile(out), payloads[1]);
  CliResult latest = RunCli("checkpoint " + path() + " " + id + " -o -");
  ASSERT_EQ(latest.exit_code, 0);
  EXPECT_EQ(latest.out, payloads[2]);
  EXPECT_EQ(RunCli("checkpoint " + path() + " " + id + " 2").exit_code, 2);
  EXPECT_EQ(RunCli("checkpoint " + path() + " " + id + " 9 -o " + out)
                .exit_code,
            1);

  CliResult clean = RunCli("verify " + path());
  EXPECT_EQ(clean.exit_code, 0);
  EXPECT_NE(clean.out.find(" 0 problems"), std::string::npos) << clean.out;

  // Damage version 1's payload behind agentlog's back.
  Reopen();
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kCheckpointData),
                        internal::CheckpointKey(s.id, 1), "not the payload")
                  .ok());
  Close();
  CliResult damaged = RunCli("verify " + path());
  EXPECT_EQ(damaged.exit_code, 3);
  EXPECT_NE(damaged.out.find("checkpoint_data  " + id + "/1"),
            std::string::npos)
      << damaged.out;
  const std::string bad = dir_.Sub("v1.bin");
  EXPECT_EQ(RunCli("checkpoint " + path() + " " + id + " 1 -o " + bad)
                .exit_code,
            3);
  EXPECT_FALSE(std::filesystem::exists(bad));
  Reopen();
}

TEST_F(CliStoreTest, BackupListVerifyPurgeAndRestore) {
  Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  Close();
  const std::string backups = dir_.Sub("backups");
  ASSERT_EQ(RunCli("backup " + path() + " " + backups).exit_code, 0);
  ASSERT_EQ(RunCli("backup " + path() + " " + backups).exit_code, 0);
  CliResult listed = RunCli("backups " + backups + " --verify --json");
  ASSERT_EQ(listed.exit_code, 0);
  ASSERT_EQ(Lines(listed.out).size(), 2u);
  EXPECT_NE(listed.out.find("\"verified\":\"ok\""), std::string::npos)
      << listed.out;
  CliResult purged = RunCli("backups " + backups + " --purge 1 --json");
  ASSERT_EQ(purged.exit_code, 0);
  ASSERT_EQ(Lines(purged.out).size(), 1u);
  EXPECT_NE(purged.out.find("\"id\":2"), std::string::npos) << purged.out;

  const std::string restored = dir_.Sub("restored");
  ASSERT_EQ(RunCli("restore " + backups + " " + restored).exit_code, 0);
  {
    ASSERT_OK_AND_ASSIGN(auto copy, Store::Open(options_, restored));
    ASSERT_OK_AND_ASSIGN(Turn turn, copy->GetTurn(s.id, 1));
    EXPECT_EQ(turn.output, AssistantOutput("a"));
  }
  // Never over an existing store.
  EXPECT_EQ(RunCli("restore " + backups + " " + restored).exit_code, 1);
  EXPECT_EQ(RunCli("restore " + backups + " " + path()).exit_code, 1);
  EXPECT_EQ(RunCli("backups " + dir_.Sub("none")).exit_code, 1);
  EXPECT_EQ(RunCli("restore " + backups).exit_code, 2);
  Reopen();
}

TEST_F(CliStoreTest, LeasesListsHoldersAndTokens) {
  Session held = MakeSession();
  Session released = MakeSession();
  MakeSession();  // Never leased: not listed.
  // Far past the system clock the command reads, so still held then.
  clock_->Set(4'000'000'000'000);
  ASSERT_OK(store_->AcquireLease(held.id, "worker-7", std::chrono::hours(1))
                .status());
  ASSERT_OK_AND_ASSIGN(Lease gone, store_->AcquireLease(
                                       released.id, "worker-2",
                                       std::chrono::hours(1)));
  ASSERT_OK(store_->ReleaseLease(released.id, gone.token));
  Close();
  CliResult table = RunCli("leases " + path());
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("worker-7"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(2 leased sessions)"), std::string::npos);
  CliResult json = RunCli("leases " + path() + " --json");
  ASSERT_EQ(Lines(json.out).size(), 2u);
  EXPECT_NE(json.out.find("\"owner\":\"worker-7\",\"token\":1,\"state\":\"held\""),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"state\":\"released\""), std::string::npos);
  Reopen();
}

TEST_F(CliStoreTest, DumpExitsThreeOnACorruptRecordAndListsTheRest) {
  Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kTurns),
                        internal::TurnKey(s.id, 1), "garbage!")
                  .ok());
  Close();
  CliResult dump = RunCli("dump " + path());
  EXPECT_EQ(dump.exit_code, 3);
  EXPECT_NE(dump.out.find("\"cf\":\"sessions\""), std::string::npos);
  EXPECT_EQ(RunCli("show " + path() + " " + s.id.ToString()).exit_code, 3);
  Reopen();
}

// --- Usage, costs, budgets and alerts ---

// A JSON value, parsed strictly (RFC 8259) so that a test fails on any
// malformed output.
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  std::string text;  // kNumber: the literal; kString: the decoded text.
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  // The field `key` of an object; null when absent.
  const Json& operator[](const std::string& key) const {
    static const Json kAbsent;
    auto it = fields.find(key);
    return it == fields.end() ? kAbsent : it->second;
  }
  // A number's value; -1 for anything else, which no expectation uses.
  int64_t Int() const {
    if (kind != kNumber) return -1;
    try {
      return std::stoll(text);
    } catch (...) {
      return -1;
    }
  }
  std::string Str() const { return kind == kString ? text : "(not a string)"; }
};

class JsonParser {
 public:
  // The single JSON value that is all of `text`; nullopt if it is not one.
  static std::optional<Json> Parse(std::string_view text) {
    JsonParser p(text);
    Json value;
    if (!p.Value(&value, 0)) return std::nullopt;
    p.Blanks();
    if (p.pos_ != text.size()) return std::nullopt;
    return value;
  }

 private:
  explicit JsonParser(std::string_view in) : in_(in) {}

  bool Eat(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  void Blanks() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' ||
                                 in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Digits() {
    const size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool Number(std::string* out) {
    const size_t start = pos_;
    Eat('-');
    if (!Eat('0') && !Digits()) return false;
    if (Eat('.') && !Digits()) return false;
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    *out = std::string(in_.substr(start, pos_ - start));
    return true;
  }
  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > in_.size()) return false;
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = in_[pos_++];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) return false;
      *out = *out * 16 + d;
    }
    return true;
  }
  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | cp >> 6));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | cp >> 12));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | cp >> 18));
      out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t low;
            if (!Literal("\\u") || !Hex4(&low) || low < 0xdc00 ||
                low >= 0xe000) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return false;
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool Value(Json* out, int depth) {
    if (depth > 64) return false;
    Blanks();
    if (pos_ >= in_.size()) return false;
    switch (in_[pos_]) {
      case '{':
        ++pos_;
        out->kind = Json::kObject;
        Blanks();
        if (Eat('}')) return true;
        do {
          Blanks();
          std::string key;
          if (!String(&key)) return false;
          Blanks();
          if (!Eat(':')) return false;
          Json field;
          if (!Value(&field, depth + 1)) return false;
          // Duplicate keys are legal JSON but never what the tool means.
          if (!out->fields.emplace(std::move(key), std::move(field)).second) {
            return false;
          }
          Blanks();
        } while (Eat(','));
        return Eat('}');
      case '[':
        ++pos_;
        out->kind = Json::kArray;
        Blanks();
        if (Eat(']')) return true;
        do {
          out->items.emplace_back();
          if (!Value(&out->items.back(), depth + 1)) return false;
          Blanks();
        } while (Eat(','));
        return Eat(']');
      case '"':
        out->kind = Json::kString;
        return String(&out->text);
      case 't':
        out->kind = Json::kBool;
        out->boolean = true;
        return Literal("true");
      case 'f':
        out->kind = Json::kBool;
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        out->kind = Json::kNumber;
        return Number(&out->text);
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// Each line of `out` as a JSON object; fails the test on any line that is
// not exactly one.
std::vector<Json> JsonLines(const std::string& out) {
  std::vector<Json> objects;
  for (const std::string& line : Lines(out)) {
    std::optional<Json> value = JsonParser::Parse(line);
    EXPECT_TRUE(value && value->kind == Json::kObject)
        << "not one JSON object: " << line;
    if (value) objects.push_back(std::move(*value));
  }
  return objects;
}

// Parses RFC 4180 CSV strictly: every record ends with CRLF, the last one
// too; a field holding a comma, quote, CR or LF is quoted, quotes doubled;
// a quote or line break anywhere else is an error. nullopt on any violation.
std::optional<std::vector<std::vector<std::string>>> ParseCsv(
    std::string_view in) {
  std::vector<std::vector<std::string>> records;
  size_t i = 0;
  while (i < in.size()) {
    std::vector<std::string> record;
    while (true) {
      std::string field;
      if (i < in.size() && in[i] == '"') {
        ++i;
        while (true) {
          if (i >= in.size()) return std::nullopt;
          if (in[i] == '"') {
            if (i + 1 < in.size() && in[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          field.push_back(in[i++]);
        }
      } else {
        while (i < in.size() && in[i] != ',' && in[i] != '\r') {
          if (in[i] == '"' || in[i] == '\n') return std::nullopt;
          field.push_back(in[i++]);
        }
      }
      record.push_back(std::move(field));
      if (i < in.size() && in[i] == ',') {
        ++i;
        continue;
      }
      if (in.substr(i, 2) != "\r\n") return std::nullopt;
      i += 2;
      break;
    }
    records.push_back(std::move(record));
  }
  return records;
}

TEST(CliParsersTest, RejectMalformedJsonAndCsv) {
  // The checkers below are only as good as their parsers.
  EXPECT_TRUE(JsonParser::Parse(R"({"a":[1,-2.5e3,"x\"\u00e9"],"b":null})"));
  EXPECT_EQ(
      JsonParser::Parse(R"({"s":"\u00e9\ud83d\ude00"})")->fields["s"].text,
      "\xc3\xa9\xf0\x9f\x98\x80");
  for (const char* bad :
       {R"({"a":1,})", R"({"a":01})", R"({"a":"x)", "{\"a\":\"\n\"}",
        R"({"a":1}{)", R"({"a":1,"a":2})", R"({a:1})", R"({"a":.5})"}) {
    EXPECT_FALSE(JsonParser::Parse(bad)) << bad;
  }
  auto csv = ParseCsv("a,\"b,\"\"c\"\"\r\nd\",\r\n");
  ASSERT_TRUE(csv);
  ASSERT_EQ(csv->size(), 1u);
  EXPECT_EQ((*csv)[0], (std::vector<std::string>{"a", "b,\"c\"\r\nd", ""}));
  for (const char* bad :
       {"a,b\n", "a,b", "a,\"b\r\n", "a\"b\r\n", "\"a\"b\r\n"}) {
    EXPECT_FALSE(ParseCsv(bad)) << bad;
  }
}

// A store with prices, three sessions of two agents, usage over two UTC days
// and a budget whose soft threshold was crossed. Closed when a test starts,
// so that the command opens it as the only process.
class CliUsageTest : public StoreTest {
 protected:
  // Names that CSV must quote, and JSON and tables must carry intact.
  static constexpr std::string_view kAcme = "acme \"pro\", v2";
  static constexpr std::string_view kOdd = "unpriced\nmodel";
  // 2023-11-14T22:13:20Z, the test clock's start.
  static constexpr int64_t kDay1Ms = 1'700'000'000'000;

  void SetUp() override {
    StoreTest::SetUp();
    // $3 / $15 / $0.30 / $3.75 per million tokens.
    ASSERT_OK(store_
                  ->SetPrice({std::string(kAcme), 3'000'000, 15'000'000,
                              300'000, 3'750'000})
                  .status());
    ASSERT_OK(store_->SetPrice({"mini", 1'000'000, 2'000'000, 0, 0}).status());
    s1_ = Create("support", {"prod", "eu"});
    s2_ = Create("support", {"prod"});
    s3_ = Create("research", {});
    BudgetSpec budget;
    budget.scope = UsageScope::kAgent;
    budget.name = "support";
    budget.period = UsagePeriod::kLifetime;
    budget.limit_micros = 30'000;  // Soft at $0.024, hard at $0.03.
    ASSERT_OK(store_->SetBudget(budget).status());

    // Day 1. 1000*3 + 200*15 + 4000*0.3 = 7200; saved 4000*(3-0.3) = 10800.
    Record(s1_, "msg-1", kAcme, "chat", {1000, 200, 4000, 0});
    // 500*1 + 100*2 = 700.
    Record(s1_, "msg-2", "mini", "summarise", {500, 100, 0, 0});
    // 2000*3 + 1000*15 = 21000: agent support reaches 28900, past soft.
    Record(s2_, "msg-3", kAcme, "chat", {2000, 1000, 0, 0});
    // Day 2.
    clock_->Advance(24 * 3600 * 1000);
    Record(s3_, "msg-4", kOdd, "chat", {10, 10, 0, 0});  // Unpriced: 0.
    Record(s3_, "msg-5", "mini", "embed", {20, 5, 0, 0}, 12'345);
    Close();
  }

  Session Create(const std::string& agent, std::vector<std::string> tags) {
    SessionSpec spec;
    spec.agent = agent;
    spec.model = "mini";
    spec.tags = std::move(tags);
    auto s = store_->CreateSession(spec);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : Session{};
  }

  void Record(const Session& s, std::string message_id, std::string_view model,
              std::string operation, TokenCounts tokens,
              std::optional<int64_t> cost = {}) {
    UsageSpec spec;
    spec.message_id = std::move(message_id);
    spec.model = std::string(model);
    spec.operation = std::move(operation);
    spec.tokens = tokens;
    spec.cost_micros = cost;
    auto r = store_->RecordUsage(s.id, spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(r->duplicate);
  }

  static bool Has(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
  }

  Session s1_, s2_, s3_;
};

TEST_F(CliUsageTest, CostsByModelIsCsvWithAHeaderAndTheRightNumbers) {
  CliResult r = RunCli("costs " + path() + " --by model --csv");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto csv = ParseCsv(r.out);
  ASSERT_TRUE(csv) << "not RFC 4180 CSV:\n" << r.out;
  const std::vector<std::vector<std::string>> expected = {
      {"name", "records", "input", "output", "cache_read", "cache_write",
       "cost_micros", "saved_micros"},
      // Ordered by name.
      {std::string(kAcme), "2", "3000", "1200", "4000", "0", "28200", "10800"},
      {"mini", "2", "520", "105", "0", "0", "13045", "0"},
      {std::string(kOdd), "1", "10", "10", "0", "0", "0", "0"},
  };
  EXPECT_EQ(*csv, expected) << r.out;
  // Quoting is what made the names come back whole.
  EXPECT_TRUE(Has(r.out, "\"acme \"\"pro\"\", v2\",2,")) << r.out;
  EXPECT_TRUE(Has(r.out, "\"unpriced\nmodel\",1,")) << r.out;

  CliResult table = RunCli("costs " + path() + " --by model");
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_TRUE(Has(table.out, "acme \"pro\", v2")) << table.out;
  EXPECT_TRUE(Has(table.out, "$0.028200")) << table.out;
  EXPECT_TRUE(Has(table.out, "$0.010800")) << table.out;
  EXPECT_TRUE(Has(table.out, "unpriced model")) << table.out;  // Folded.
  EXPECT_TRUE(Has(table.out, "(3 models)")) << table.out;
  // Aligned: every row as wide as the header, the money right-aligned.
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 5u) << table.out;
  EXPECT_EQ(lines[0].rfind("MODEL", 0), 0u) << table.out;
  EXPECT_EQ(lines[1].size(), lines[0].size()) << table.out;
  EXPECT_EQ(lines[2].size(), lines[0].size()) << table.out;
  EXPECT_TRUE(lines[2].ends_with("$0.013045  $0.000000")) << table.out;
}

TEST_F(CliUsageTest, CostsJsonIsOneObjectPerRow) {
  CliResult r = RunCli("costs " + path() + " --by model --json");
  ASSERT_EQ(r.exit_code, 0);
  const std::vector<Json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_EQ(rows[0]["name"].Str(), kAcme);
  EXPECT_EQ(rows[0]["records"].Int(), 2);
  EXPECT_EQ(rows[0]["input"].Int(), 3000);
  EXPECT_EQ(rows[0]["output"].Int(), 1200);
  EXPECT_EQ(rows[0]["cache_read"].Int(), 4000);
  EXPECT_EQ(rows[0]["cache_write"].Int(), 0);
  EXPECT_EQ(rows[0]["cost_micros"].Int(), 28200);
  EXPECT_EQ(rows[0]["saved_micros"].Int(), 10800);
  EXPECT_EQ(rows[1]["name"].Str(), "mini");
  EXPECT_EQ(rows[1]["cost_micros"].Int(), 13045);
  EXPECT_EQ(rows[2]["name"].Str(), kOdd);

  // Each scope has its own rows: s1 is tagged prod and eu, s2 prod.
  CliResult tags = RunCli("costs " + path() + " --by tag --json");
  ASSERT_EQ(tags.exit_code, 0);
  const std::vector<Json> tag_rows = JsonLines(tags.out);
  ASSERT_EQ(tag_rows.size(), 2u) << tags.out;
  EXPECT_EQ(tag_rows[0]["name"].Str(), "eu");
  EXPECT_EQ(tag_rows[0]["cost_micros"].Int(), 7900);
  EXPECT_EQ(tag_rows[1]["name"].Str(), "prod");
  EXPECT_EQ(tag_rows[1]["cost_micros"].Int(), 28900);

  CliResult agents = RunCli("costs " + path() + " --by agent --csv");
  ASSERT_EQ(agents.exit_code, 0);
  auto agent_csv = ParseCsv(agents.out);
  ASSERT_TRUE(agent_csv) << agents.out;
  ASSERT_EQ(agent_csv->size(), 3u) << agents.out;
  EXPECT_EQ((*agent_csv)[1][0], "research");
  EXPECT_EQ((*agent_csv)[1][6], "12345");
  EXPECT_EQ((*agent_csv)[2][0], "support");
  EXPECT_EQ((*agent_csv)[2][6], "28900");

  CliResult sessions = RunCli("costs " + path() + " --by session --json");
  ASSERT_EQ(sessions.exit_code, 0);
  std::map<std::string, int64_t> by_session;
  for (const Json& row : JsonLines(sessions.out)) {
    by_session[row["name"].Str()] = row["cost_micros"].Int();
  }
  EXPECT_EQ(by_session,
            (std::map<std::string, int64_t>{{s1_.id.ToString(), 7900},
                                            {s2_.id.ToString(), 21000},
                                            {s3_.id.ToString(), 12345}}));

  CliResult ops = RunCli("costs " + path() + " --by operation");
  ASSERT_EQ(ops.exit_code, 0);
  EXPECT_TRUE(Has(ops.out, "summarise")) << ops.out;
  EXPECT_TRUE(Has(ops.out, "(3 operations)")) << ops.out;
}

TEST_F(CliUsageTest, CostsByDayHasARowPerUtcDay) {
  CliResult table = RunCli("costs " + path() + " --by day");
  ASSERT_EQ(table.exit_code, 0);
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 4u) << table.out;
  EXPECT_EQ(lines[0].rfind("DAY", 0), 0u) << table.out;
  EXPECT_EQ(lines[1].rfind("2023-11-14", 0), 0u) << table.out;
  EXPECT_TRUE(lines[1].ends_with("$0.028900  $0.010800")) << table.out;
  EXPECT_EQ(lines[2].rfind("2023-11-15", 0), 0u) << table.out;
  EXPECT_EQ(lines[3], "(2 days)");

  CliResult csv = RunCli("costs " + path() + " --by day --csv");
  ASSERT_EQ(csv.exit_code, 0);
  auto parsed = ParseCsv(csv.out);
  ASSERT_TRUE(parsed) << csv.out;
  EXPECT_EQ(
      *parsed,
      (std::vector<std::vector<std::string>>{
          {"name", "records", "input", "output", "cache_read", "cache_write",
           "cost_micros", "saved_micros"},
          {"2023-11-14", "3", "3500", "1300", "4000", "0", "28900", "10800"},
          {"2023-11-15", "2", "30", "15", "0", "0", "12345", "0"}}));
}

TEST_F(CliUsageTest, UsageListsASessionsRecordsThenItsTotals) {
  const std::string id = s1_.id.ToString();
  CliResult table = RunCli("usage " + path() + " --session " + id);
  ASSERT_EQ(table.exit_code, 0);
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_GE(lines.size(), 3u) << table.out;
  EXPECT_EQ(lines[0].rfind("SEQ  TURN  MESSAGE ID", 0), 0u) << table.out;
  EXPECT_TRUE(Has(lines[1], "msg-1")) << table.out;
  EXPECT_TRUE(Has(lines[1], "acme \"pro\", v2")) << table.out;
  EXPECT_TRUE(Has(lines[1], "$0.007200  priced")) << table.out;
  EXPECT_TRUE(Has(lines[2], "msg-2")) << table.out;
  EXPECT_TRUE(Has(lines[2], "summarise")) << table.out;
  EXPECT_TRUE(Has(table.out, "(2 usage records)")) << table.out;
  EXPECT_TRUE(Has(table.out, "session " + id)) << table.out;
  EXPECT_TRUE(Has(table.out, "cost                $0.007900")) << table.out;
  EXPECT_FALSE(Has(table.out, "msg-3")) << table.out;

  CliResult json = RunCli("usage " + path() + " --session " + id + " --json");
  ASSERT_EQ(json.exit_code, 0);
  const std::vector<Json> objects = JsonLines(json.out);
  ASSERT_EQ(objects.size(), 3u) << json.out;
  EXPECT_EQ(objects[0]["session"].Str(), id);
  EXPECT_EQ(objects[0]["seq"].Int(), 1);
  EXPECT_EQ(objects[0]["message_id"].Str(), "msg-1");
  EXPECT_EQ(objects[0]["model"].Str(), kAcme);
  EXPECT_EQ(objects[0]["cache_read"].Int(), 4000);
  EXPECT_EQ(objects[0]["cost_micros"].Int(), 7200);
  EXPECT_EQ(objects[0]["saved_micros"].Int(), 10800);
  EXPECT_EQ(objects[0]["cost_source"].Str(), "priced");
  EXPECT_EQ(objects[0]["recorded_ms"].Int(), kDay1Ms);
  EXPECT_EQ(objects[1]["seq"].Int(), 2);
  EXPECT_EQ(objects[1]["operation"].Str(), "summarise");
  // Then the session's totals.
  EXPECT_EQ(objects[2]["scope"].Str(), "session");
  EXPECT_EQ(objects[2]["name"].Str(), id);
  EXPECT_EQ(objects[2]["records"].Int(), 2);
  EXPECT_EQ(objects[2]["cost_micros"].Int(), 7900);

  CliResult s3 =
      RunCli("usage " + path() + " --session " + s3_.id.ToString() + " --json");
  ASSERT_EQ(s3.exit_code, 0);
  const std::vector<Json> s3_objects = JsonLines(s3.out);
  ASSERT_EQ(s3_objects.size(), 3u) << s3.out;
  EXPECT_EQ(s3_objects[0]["cost_source"].Str(), "unpriced");
  EXPECT_EQ(s3_objects[1]["cost_source"].Str(), "host");
  EXPECT_EQ(s3_objects[1]["cost_micros"].Int(), 12345);
}

TEST_F(CliUsageTest, UsageWithoutASessionGivesTheStoresLifetimeTotals) {
  CliResult table = RunCli("usage " + path());
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out,
            "records             5\n"
            "input tokens        3530\n"
            "output tokens       1315\n"
            "cache-read tokens   4000\n"
            "cache-write tokens  0\n"
            "cost                $0.041245\n"
            "saved by caching    $0.010800\n"
            "cache hit ratio     53.1%\n");  // 4000 / (3530 + 4000)
  CliResult json = RunCli("usage " + path() + " --json");
  ASSERT_EQ(json.exit_code, 0);
  const std::vector<Json> objects = JsonLines(json.out);
  ASSERT_EQ(objects.size(), 1u) << json.out;
  EXPECT_EQ(objects[0]["scope"].Str(), "store");
  EXPECT_EQ(objects[0]["records"].Int(), 5);
  EXPECT_EQ(objects[0]["cost_micros"].Int(), 41245);
  EXPECT_EQ(objects[0]["cache_hit_ratio"].text, "0.5312");
}

TEST_F(CliUsageTest, BudgetsAndAlertsShowTheCrossedThreshold) {
  CliResult budgets = RunCli("budgets " + path());
  ASSERT_EQ(budgets.exit_code, 0);
  const std::vector<std::string> lines = Lines(budgets.out);
  ASSERT_EQ(lines.size(), 3u) << budgets.out;
  EXPECT_EQ(lines[0].rfind("SCOPE", 0), 0u) << budgets.out;
  for (std::string_view cell : {"agent", "support", "lifetime", "$0.030000",
                                "80/100/120%", "$0.028900", "96.3%", "no"}) {
    EXPECT_TRUE(Has(lines[1], cell)) << cell << " in\n" << budgets.out;
  }
  EXPECT_EQ(lines[2], "(1 budget)");
  CliResult budgets_json = RunCli("budgets " + path() + " --json");
  ASSERT_EQ(budgets_json.exit_code, 0);
  const std::vector<Json> b = JsonLines(budgets_json.out);
  ASSERT_EQ(b.size(), 1u) << budgets_json.out;
  EXPECT_EQ(b[0]["scope"].Str(), "agent");
  EXPECT_EQ(b[0]["name"].Str(), "support");
  EXPECT_EQ(b[0]["period"].Str(), "lifetime");
  EXPECT_EQ(b[0]["limit_micros"].Int(), 30000);
  EXPECT_EQ(b[0]["soft_percent"].Int(), 80);
  EXPECT_EQ(b[0]["spent_micros"].Int(), 28900);
  EXPECT_EQ(b[0]["percent"].text, "96.33");
  EXPECT_EQ(b[0]["blocked"].kind, Json::kBool);
  EXPECT_FALSE(b[0]["blocked"].boolean);

  CliResult alerts = RunCli("alerts " + path());
  ASSERT_EQ(alerts.exit_code, 0);
  const std::vector<std::string> alert_lines = Lines(alerts.out);
  ASSERT_EQ(alert_lines.size(), 3u) << alerts.out;
  for (std::string_view cell :
       {std::string_view("2023-11-14T22:13:20.000Z"), std::string_view("soft"),
        std::string_view("support"), std::string_view("$0.028900"),
        std::string_view("$0.024000")}) {
    EXPECT_TRUE(Has(alert_lines[1], cell)) << cell << " in\n" << alerts.out;
  }
  EXPECT_TRUE(alert_lines[1].ends_with(s2_.id.ToString())) << alerts.out;
  EXPECT_EQ(alert_lines[2], "(1 alert)");
  CliResult alerts_json = RunCli("alerts " + path() + " --json");
  ASSERT_EQ(alerts_json.exit_code, 0);
  const std::vector<Json> a = JsonLines(alerts_json.out);
  ASSERT_EQ(a.size(), 1u) << alerts_json.out;
  EXPECT_EQ(a[0]["seq"].Int(), 1);
  EXPECT_EQ(a[0]["raised"].Str(), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(a[0]["raised_ms"].Int(), kDay1Ms);
  EXPECT_EQ(a[0]["scope"].Str(), "agent");
  EXPECT_EQ(a[0]["name"].Str(), "support");
  EXPECT_EQ(a[0]["threshold"].Str(), "soft");
  EXPECT_EQ(a[0]["threshold_micros"].Int(), 24000);
  EXPECT_EQ(a[0]["spent_micros"].Int(), 28900);
  EXPECT_EQ(a[0]["session"].Str(), s2_.id.ToString());
}

TEST_F(CliUsageTest, BadArgumentsExitTwo) {
  const std::string store = path();
  EXPECT_EQ(RunCli("costs " + store + " --by model --json --csv").exit_code, 2);
  EXPECT_EQ(RunCli("costs " + store + " --csv --by day --json").exit_code, 2);
  EXPECT_EQ(RunCli("costs " + store).exit_code, 2);  // No --by.
  EXPECT_EQ(RunCli("costs " + store + " --by planet").exit_code, 2);
  EXPECT_EQ(RunCli("sessions " + store + " --csv").exit_code, 2);
  EXPECT_EQ(RunCli("usage " + store + " --session nope").exit_code, 2);
  EXPECT_EQ(RunCli("budgets " + store + " extra").exit_code, 2);
  // Well formed, but no such session: an error, not a usage mistake.
  EXPECT_EQ(RunCli("usage " + store + " --session " +
                   SessionId::Generate(1).ToString())
                .exit_code,
            1);
}

TEST_F(CliUsageTest, DumpDecodesTheUsageFamilies) {
  CliResult usage = RunCli("dump " + path() + " --cf usage");
  ASSERT_EQ(usage.exit_code, 0);
  const std::vector<Json> records = JsonLines(usage.out);
  ASSERT_EQ(records.size(), 5u) << usage.out;
  EXPECT_EQ(records[0]["cf"].Str(), "usage");
  std::map<std::string, int64_t> cost_by_message;
  for (const Json& r : records) {
    EXPECT_EQ(r["key"]["seq"].Int(), r["value"]["seq"].Int());
    cost_by_message[r["value"]["message_id"].Str()] =
        r["value"]["cost_micros"].Int();
  }
  EXPECT_EQ(cost_by_message,
            (std::map<std::string, int64_t>{{"msg-1", 7200},
                                            {"msg-2", 700},
                                            {"msg-3", 21000},
                                            {"msg-4", 0},
                                            {"msg-5", 12345}}));

  CliResult ids = RunCli("dump " + path() + " --cf usage_ids");
  ASSERT_EQ(ids.exit_code, 0);
  const std::vector<Json> refs = JsonLines(ids.out);
  ASSERT_EQ(refs.size(), 5u) << ids.out;
  EXPECT_EQ(refs[2]["key"]["message_id"].Str(), "msg-3");
  EXPECT_EQ(refs[2]["value"]["session"].Str(), s2_.id.ToString());
  EXPECT_EQ(refs[2]["value"]["seq"].Int(), 1);

  CliResult totals = RunCli("dump " + path() + " --cf usage_totals");
  ASSERT_EQ(totals.exit_code, 0);
  bool saw_store_lifetime = false;
  for (const Json& t : JsonLines(totals.out)) {
    if (t["key"]["scope"].Str() == "store" &&
        t["key"]["period"].Str() == "lifetime") {
      saw_store_lifetime = true;
      EXPECT_EQ(t["value"]["records"].Int(), 5);
      EXPECT_EQ(t["value"]["cost_micros"].Int(), 41245);
    }
  }
  EXPECT_TRUE(saw_store_lifetime) << totals.out;

  CliResult alerts = RunCli("dump " + path() + " --cf alerts");
  ASSERT_EQ(alerts.exit_code, 0);
  const std::vector<Json> a = JsonLines(alerts.out);
  ASSERT_EQ(a.size(), 1u) << alerts.out;
  EXPECT_EQ(a[0]["key"]["threshold"].Str(), "soft");
  EXPECT_EQ(a[0]["key"]["name"].Str(), "support");
  EXPECT_EQ(a[0]["value"]["spent_micros"].Int(), 28900);

  CliResult meta = RunCli("dump " + path() + " --cf meta");
  ASSERT_EQ(meta.exit_code, 0);
  int prices = 0, budgets = 0;
  for (const Json& m : JsonLines(meta.out)) {
    if (m["key"]["name"].Str() == "price/") {
      ++prices;
      if (m["key"]["model"].Str() == kAcme) {
        EXPECT_EQ(m["value"]["input"].Int(), 3'000'000);
      }
    } else if (m["key"]["name"].Str() == "budget/") {
      ++budgets;
      EXPECT_EQ(m["value"]["limit_micros"].Int(), 30000);
    }
  }
  EXPECT_EQ(prices, 2) << meta.out;
  EXPECT_EQ(budgets, 1) << meta.out;

  // A damaged usage record is reported, the others still dumped.
  Reopen();
  auto* impl = static_cast<internal::StoreImpl*>(store_.get());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kUsage),
                        internal::NumberedKey(s1_.id, 1), "garbage!")
                  .ok());
  ASSERT_TRUE(impl->db()
                  ->Put(rocksdb::WriteOptions(),
                        impl->handle(internal::Cf::kUsageIds), "msg-x", "short")
                  .ok());
  Close();
  CliResult damaged = RunCli("dump " + path() + " --cf usage");
  EXPECT_EQ(damaged.exit_code, 3);
  EXPECT_EQ(JsonLines(damaged.out).size(), 4u) << damaged.out;
  EXPECT_EQ(RunCli("dump " + path() + " --cf usage_ids").exit_code, 3);
}

TEST_F(CliUsageTest, UsageCommandsNeverWriteToTheStore) {
  const auto before = Snapshot(path());
  const std::string id = s1_.id.ToString();
  for (const std::string& args :
       {"usage " + path(), "usage " + path() + " --session " + id,
        "costs " + path() + " --by model",
        "costs " + path() + " --by day --csv",
        "costs " + path() + " --by tag --json", "budgets " + path(),
        "alerts " + path(), "dump " + path() + " --cf usage_totals"}) {
    EXPECT_EQ(RunCli(args).exit_code, 0) << args;
  }
  EXPECT_EQ(Snapshot(path()), before);
}

}  // namespace
}  // namespace agentlog::testing
