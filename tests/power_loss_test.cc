// What a power loss leaves of a store. kill -9 (crash_test) cannot show it:
// the page cache keeps every byte written. Here the store writes through a
// file system that remembers how much of each file was synced, and a copy of
// the store cut back to that is what the disk would hold had the power
// failed at the moment of the copy.
//
// The calls under test answer from an earlier write without writing (a
// replayed idempotency key, a duplicate message id, a run-once key on
// record, a lease released already). When that write was made with
// Durability::kNone and the call asks for kSync, the answer must not
// outlive the power.

#include <rocksdb/file_system.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store_impl.h"
#include "test_util.h"

namespace agentlog {
namespace {

using testing::TempDir;

// Passes everything to the operating system's file system, and records for
// each file it creates the size it had at its last sync.
class SyncTrackingFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  SyncTrackingFileSystem()
      : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "SyncTrackingFileSystem"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(fname, options, result, dbg);
    if (s.ok()) {
      {
        std::lock_guard lock(mu_);
        synced_[Canonical(fname)] = 0;
      }
      *result = std::make_unique<TrackedFile>(std::move(*result), this, fname);
    }
    return s;
  }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      if (auto it = synced_.find(Canonical(from)); it != synced_.end()) {
        synced_[Canonical(to)] = it->second;
        synced_.erase(it);
      }
    }
    return s;
  }

  // Copies every regular file of `from` into a new directory `to`, each file
  // this file system created cut to the bytes it had at its last sync.
  void CopyAsAfterPowerLoss(const std::string& from, const std::string& to) {
    namespace fs = std::filesystem;
    fs::create_directories(to);
    std::lock_guard lock(mu_);
    for (const fs::directory_entry& entry : fs::directory_iterator(from)) {
      if (!entry.is_regular_file()) continue;
      const fs::path copy = fs::path(to) / entry.path().filename();
      fs::copy_file(entry.path(), copy);
      if (auto it = synced_.find(Canonical(entry.path().string()));
          it != synced_.end() && it->second < fs::file_size(copy)) {
        fs::resize_file(copy, it->second);
      }
    }
  }

 private:
  class TrackedFile final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> file,
                SyncTrackingFileSystem* fs, std::string fname)
        : FSWritableFileOwnerWrapper(std::move(file)),
          fs_(fs),
          fname_(std::move(fname)) {}

    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      return Synced(target()->Sync(options, dbg), options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      return Synced(target()->Fsync(options, dbg), options, dbg);
    }

   private:
    rocksdb::IOStatus Synced(rocksdb::IOStatus s,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) {
      if (s.ok()) {
        const uint64_t size = target()->GetFileSize(options, dbg);
        std::lock_guard lock(fs_->mu_);
        fs_->synced_[Canonical(fname_)] = size;
      }
      return s;
    }

    SyncTrackingFileSystem* const fs_;
    const std::string fname_;
  };

  static std::string Canonical(const std::string& path) {
    return std::filesystem::path(path).lexically_normal().string();
  }

  std::mutex mu_;
  std::map<std::string, uint64_t> synced_;  // Guarded by mu_.
};

constexpr WriteOptions kUnsynced{.durability = Durability::kNone};
constexpr WriteOptions kSynced{.durability = Durability::kSync};

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<internal::StoreImpl>> opened =
        internal::StoreImpl::TEST_OpenOnFileSystem(Options(), dir_.Sub("db"), fs_);
    ASSERT_OK(opened.status());
    store_ = std::move(opened).value();
    SessionSpec spec;
    spec.agent = "agent";
    spec.model = "sonnet";
    ASSERT_OK_AND_ASSIGN(const Session s, store_->CreateSession(spec, kSynced));
    session_ = s.id;
  }

  // The store as a power loss now would leave it, opened.
  std::unique_ptr<Store> AfterPowerLoss() {
    fs_->CopyAsAfterPowerLoss(dir_.Sub("db"), dir_.Sub("after"));
    Result<std::unique_ptr<Store>> opened =
        Store::Open(Options(), dir_.Sub("after"));
    EXPECT_OK(opened.status());
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  TempDir dir_;
  std::shared_ptr<SyncTrackingFileSystem> fs_ =
      std::make_shared<SyncTrackingFileSystem>();
  std::unique_ptr<Store> store_;
  SessionId session_;
};

// The harness itself: without a sync, a kNone write is gone.
TEST_F(PowerLossTest, AnUnsyncedWriteIsLost) {
  ASSERT_OK(store_->BeginTurn(session_, "k", testing::UserInput("hello"),
                              kUnsynced)
                .status());
  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const Session s, after->GetSession(session_));
  EXPECT_EQ(s.turn_count, 0u);
}

TEST_F(PowerLossTest, AReplayedIdempotencyKeyIsAsDurableAsTheReplayAsked) {
  const std::vector<Message> input = testing::UserInput("hello");
  ASSERT_OK(store_->BeginTurn(session_, "k", input, kUnsynced).status());
  ASSERT_OK_AND_ASSIGN(const BeginTurnResult replay,
                       store_->BeginTurn(session_, "k", input, kSynced));
  ASSERT_TRUE(replay.replayed);

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const Turn turn, after->GetTurnByKey(session_, "k"));
  EXPECT_EQ(turn.number, replay.turn.number);
}

TEST_F(PowerLossTest, ADuplicateMessageIdIsAsDurableAsTheDuplicateAsked) {
  UsageSpec spec;
  spec.message_id = "msg_1";
  spec.model = "sonnet";
  spec.tokens.input = 100;
  spec.cost_micros = 7;
  ASSERT_OK(store_->RecordUsage(session_, spec, kUnsynced).status());
  ASSERT_OK_AND_ASSIGN(const RecordUsageResult again,
                       store_->RecordUsage(session_, spec, kSynced));
  ASSERT_TRUE(again.duplicate);

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const std::vector<UsageRecord> records,
                       after->ListUsage(session_));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message_id, "msg_1");
  ASSERT_OK_AND_ASSIGN(
      const UsageTotals totals,
      after->GetUsageTotals(UsageScope::kStore, "", UsagePeriod::kLifetime));
  EXPECT_EQ(totals.cost_micros, 7);
}

TEST_F(PowerLossTest, ARunOnceKeyOnRecordIsAsDurableAsTheCallAsked) {
  int runs = 0;
  auto operation = [&]() -> Result<std::string> {
    ++runs;
    return std::string("charged");
  };
  ASSERT_OK(store_->RunOnce("charge", std::chrono::hours(1), operation,
                            kUnsynced)
                .status());
  ASSERT_OK_AND_ASSIGN(
      const RunOnceOutcome again,
      store_->RunOnce("charge", std::chrono::hours(1), operation, kSynced));
  ASSERT_FALSE(again.ran);
  ASSERT_EQ(runs, 1);

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const RunOnceOutcome recorded,
                       after->GetRunOnce("charge"));
  EXPECT_EQ(recorded.result, "charged");
}

TEST_F(PowerLossTest, ALeaseReleasedAlreadyStaysReleased) {
  ASSERT_OK_AND_ASSIGN(const Lease lease,
                       store_->AcquireLease(session_, "worker-1",
                                            std::chrono::hours(1),
                                            std::chrono::milliseconds(0),
                                            kSynced));
  ASSERT_OK(store_->ReleaseLease(session_, lease.token, kUnsynced));
  ASSERT_OK(store_->ForceReleaseLease(session_, kSynced));

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const Lease stored, after->GetLease(session_));
  EXPECT_TRUE(stored.owner.empty()) << ::testing::PrintToString(stored);
}

}  // namespace
}  // namespace agentlog
