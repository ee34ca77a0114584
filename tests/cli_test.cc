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
#include <sstream>

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

}  // namespace
}  // namespace agentlog::testing
