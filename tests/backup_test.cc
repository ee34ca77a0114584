// Backup and restore: consistent while writers run, incremental, verified,
// purged, and restored only into an empty directory.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace agentlog::testing {
namespace {

namespace fs = std::filesystem;

// Some states stay inline in SST blocks, some go to blob files: random
// letters, which LZ4 cannot shrink much.
std::string StateFor(int writer, uint64_t n) {
  std::mt19937_64 rng(n * 8 + static_cast<uint64_t>(writer));
  std::string out = "writer " + std::to_string(writer) + " state " +
                    std::to_string(n) + " ";
  out.resize(out.size() + 1000 + (n * 7919) % 20'000);
  for (size_t i = 40; i < out.size(); ++i) {
    out[i] = static_cast<char>('a' + rng() % 26);
  }
  return out;
}

class BackupTest : public StoreTest {
 protected:
  std::string backups() const { return dir_.Sub("backups"); }
};

// Four threads append turns and checkpoints while a backup is taken. The
// restored store opens, verifies clean, and holds every write acknowledged
// before the backup began.
TEST_F(BackupTest, BackupUnderWritersHoldsEverythingAcknowledgedBefore) {
  options_.durability = Durability::kBuffered;
  options_.checkpoint_keep_last = 1'000'000;  // Keep every version.
  Reopen();
  constexpr int kWriters = 4;
  std::vector<Session> sessions;
  for (int w = 0; w < kWriters; ++w) sessions.push_back(MakeSession());

  // acked[w] = the number of turns (and checkpoints) writer w had
  // acknowledged; read before the backup starts.
  std::array<std::atomic<uint64_t>, kWriters> acked{};
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      const SessionId id = sessions[w].id;
      for (uint64_t n = 1; !stop.load(); ++n) {
        const std::string key = "k" + std::to_string(n);
        auto begun = store_->BeginTurn(id, key, UserInput(key));
        const std::string state = StateFor(w, n);
        CheckpointSpec spec;
        spec.payload = state;
        auto done = begun.ok() ? store_->CompleteTurnWithCheckpoint(
                                     id, begun->turn.number, OutputFor(key),
                                     UsageFor(key), spec)
                               : Result<TurnWithCheckpoint>(begun.status());
        if (!done.ok()) {
          ADD_FAILURE() << done.status().ToString();
          failed = true;
          return;
        }
        acked[w].store(n);
      }
    });
  }
  // Let every writer get going, then back up twice (the second one is
  // incremental) while they run.
  for (int w = 0; w < kWriters; ++w) {
    while (acked[w].load() < 20 && !failed.load()) std::this_thread::yield();
  }
  std::array<uint64_t, kWriters> before{};
  for (int w = 0; w < kWriters; ++w) before[w] = acked[w].load();
  ASSERT_OK_AND_ASSIGN(BackupInfo first, store_->Backup(backups()));
  // Move what is written so far into SST and blob files (writers going
  // on), so that the second backup copies those as well as the WAL.
  ASSERT_OK(store_->Compact());
  for (int w = 0; w < kWriters; ++w) {
    while (acked[w].load() < before[w] + 20 && !failed.load()) {
      std::this_thread::yield();
    }
  }
  for (int w = 0; w < kWriters; ++w) before[w] = acked[w].load();
  ASSERT_OK_AND_ASSIGN(BackupInfo second, store_->Backup(backups()));
  stop = true;
  for (std::thread& t : writers) t.join();
  ASSERT_FALSE(failed.load());
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(second.id, 2u);

  ASSERT_OK_AND_ASSIGN(auto listed, ListBackups(backups()));
  ASSERT_EQ(listed.size(), 2u);
  bool has_blob = false, has_sst = false;
  for (const auto& e : fs::recursive_directory_iterator(backups())) {
    has_blob |= e.path().extension() == ".blob";
    has_sst |= e.path().extension() == ".sst";
  }
  EXPECT_TRUE(has_blob && has_sst) << "the backup copied only the WAL";
  EXPECT_EQ(listed[1].id, second.id);
  ASSERT_OK(VerifyBackup(backups(), second.id));

  const std::string restored = dir_.Sub("restored");
  ASSERT_OK(RestoreBackup(backups(), std::nullopt, restored));
  Close();
  ASSERT_OK_AND_ASSIGN(auto copy, Store::Open(options_, restored));
  ASSERT_OK_AND_ASSIGN(VerifyReport report, copy->Verify());
  EXPECT_TRUE(report.clean()) << report.problems[0].what;
  for (int w = 0; w < kWriters; ++w) {
    const SessionId id = sessions[w].id;
    ASSERT_OK_AND_ASSIGN(Session s, copy->GetSession(id));
    EXPECT_GE(s.turn_count, before[w]);
    EXPECT_GE(s.last_checkpoint, before[w]);
    for (uint64_t n = 1; n <= before[w]; ++n) {
      ASSERT_OK_AND_ASSIGN(Turn turn, copy->GetTurn(id, n));
      ASSERT_EQ(turn.status, TurnStatus::kCompleted) << w << "/" << n;
      ASSERT_OK_AND_ASSIGN(Checkpoint c, copy->GetCheckpoint(id, n));
      ASSERT_EQ(c.payload, StateFor(w, n)) << w << "/" << n;
    }
  }
}

TEST_F(BackupTest, IncrementalBackupsPurgeAndRestoreAnOlderOne) {
  const Session s = MakeSession();
  CheckpointSpec spec;
  const std::string one(100'000, '1');
  spec.payload = one;
  ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  ASSERT_OK(store_->Compact());  // Files the next backups share.
  ASSERT_OK_AND_ASSIGN(BackupInfo first, store_->Backup(backups()));
  const std::string two(100'000, '2');
  spec.payload = two;
  ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  ASSERT_OK_AND_ASSIGN(BackupInfo second, store_->Backup(backups()));
  ASSERT_OK_AND_ASSIGN(BackupInfo third, store_->Backup(backups()));

  // Shared files are stored once: the backup directory is far smaller than
  // the sum of the backups.
  uint64_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(backups())) {
    if (e.is_regular_file()) on_disk += e.file_size();
  }
  EXPECT_LT(on_disk, first.bytes + second.bytes + third.bytes);

  // Restore the first backup: it has only version 1.
  const std::string restored = dir_.Sub("old");
  ASSERT_OK(RestoreBackup(backups(), first.id, restored));
  {
    ASSERT_OK_AND_ASSIGN(auto old, Store::Open(options_, restored));
    ASSERT_OK_AND_ASSIGN(Checkpoint latest, old->GetCheckpoint(s.id));
    EXPECT_EQ(latest.info.version, 1u);
    EXPECT_EQ(latest.payload, one);
  }

  ASSERT_OK(PurgeBackups(backups(), 1));
  ASSERT_OK_AND_ASSIGN(auto left, ListBackups(backups()));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, third.id);
  EXPECT_TRUE(VerifyBackup(backups(), first.id).IsNotFound());
  EXPECT_EQ(PurgeBackups(backups(), 0).code(), Code::kInvalidArgument);
}

// BackupEngine allows one writer per directory, across processes: a backup
// or purge while another holds the directory's lock gets Busy.
TEST_F(BackupTest, OneWriterPerBackupDirectory) {
  MakeSession();
  ASSERT_OK(store_->Backup(backups()).status());
  const int fd = ::open((backups() + "/agentlog.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // As another process would.
  EXPECT_EQ(store_->Backup(backups()).status().code(), Code::kBusy);
  EXPECT_EQ(PurgeBackups(backups(), 1).code(), Code::kBusy);
  // Readers are not held up.
  ASSERT_OK_AND_ASSIGN(auto listed, ListBackups(backups()));
  EXPECT_EQ(listed.size(), 1u);
  ::close(fd);
  ASSERT_OK(store_->Backup(backups()).status());
}

TEST_F(BackupTest, RestoreRefusesANonEmptyTargetAndDamageIsFound) {
  MakeSession();
  ASSERT_OK(store_->Compact());  // So that the backup holds SST files.
  ASSERT_OK_AND_ASSIGN(BackupInfo b, store_->Backup(backups()));

  const std::string target = dir_.Sub("busy");
  fs::create_directories(target);
  std::ofstream(target + "/precious") << "do not overwrite";
  const Status refused = RestoreBackup(backups(), b.id, target);
  EXPECT_EQ(refused.code(), Code::kAlreadyExists);
  EXPECT_TRUE(fs::exists(target + "/precious"));
  // Nor over the live store.
  EXPECT_EQ(RestoreBackup(backups(), b.id, path()).code(),
            Code::kAlreadyExists);

  EXPECT_TRUE(ListBackups(dir_.Sub("nothing")).status().IsNotFound());
  EXPECT_TRUE(RestoreBackup(dir_.Sub("nothing"), std::nullopt, dir_.Sub("x"))
                  .IsNotFound());

  // Damage a file of the backup: VerifyBackup names the problem.
  fs::path victim;
  for (const auto& e : fs::recursive_directory_iterator(backups())) {
    if (e.is_regular_file() && e.path().extension() == ".sst") victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.write("XXXX", 4);
  }
  const Status damaged = VerifyBackup(backups(), b.id);
  EXPECT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.code(), Code::kCorruption) << damaged.ToString();
}

}  // namespace
}  // namespace agentlog::testing
