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
// outlive the power; when it asks for kBuffered, the write must be left to
// the background sync as the call's own write would be.

#include <rocksdb/file_system.h>

#include <algorithm>
#include <atomic>
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
// each file it creates the bytes appended before its last sync began (bytes
// appended while a sync runs, as RocksDB's writers may, are not counted).
// What it does not model, none of which the calls under test depend on:
// directory entries (creations, renames and deletions count as durable at
// once) and files reopened or reused rather than created (RocksDB 7.8 does
// neither with the options agentlog sets).
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

    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      return Appended(target()->Append(data, options, dbg), data.size());
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      return Appended(target()->Append(data, options, info, dbg), data.size());
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      const uint64_t before = appended_.load();
      return Synced(target()->Sync(options, dbg), before);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      const uint64_t before = appended_.load();
      return Synced(target()->Fsync(options, dbg), before);
    }

   private:
    rocksdb::IOStatus Appended(rocksdb::IOStatus s, size_t bytes) {
      if (s.ok()) appended_ += bytes;
      return s;
    }
    rocksdb::IOStatus Synced(rocksdb::IOStatus s, uint64_t bytes) {
      if (s.ok()) {
        std::lock_guard lock(fs_->mu_);
        uint64_t& synced = fs_->synced_[Canonical(fname_)];
        synced = std::max(synced, bytes);
      }
      return s;
    }

    SyncTrackingFileSystem* const fs_;
    const std::string fname_;
    std::atomic<uint64_t> appended_{0};
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
    const std::string copy = dir_.Sub("after-" + std::to_string(++copies_));
    fs_->CopyAsAfterPowerLoss(dir_.Sub("db"), copy);
    Result<std::unique_ptr<Store>> opened = Store::Open(Options(), copy);
    EXPECT_OK(opened.status());
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  TempDir dir_;
  std::shared_ptr<SyncTrackingFileSystem> fs_ =
      std::make_shared<SyncTrackingFileSystem>();
  std::unique_ptr<Store> store_;
  SessionId session_;
  int copies_ = 0;
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
  {
    std::unique_ptr<Store> before = AfterPowerLoss();
    ASSERT_NE(before, nullptr);
    EXPECT_TRUE(before->GetTurnByKey(session_, "k").status().IsNotFound());
  }
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
  {
    std::unique_ptr<Store> before = AfterPowerLoss();
    ASSERT_NE(before, nullptr);
    ASSERT_OK_AND_ASSIGN(const std::vector<UsageRecord> none,
                         before->ListUsage(session_));
    EXPECT_TRUE(none.empty());
  }
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
  {
    std::unique_ptr<Store> before = AfterPowerLoss();
    ASSERT_NE(before, nullptr);
    EXPECT_TRUE(before->GetRunOnce("charge").status().IsNotFound());
  }
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
  {
    std::unique_ptr<Store> before = AfterPowerLoss();
    ASSERT_NE(before, nullptr);
    ASSERT_OK_AND_ASSIGN(const Lease held, before->GetLease(session_));
    EXPECT_EQ(held.owner, "worker-1");
  }
  ASSERT_OK(store_->ForceReleaseLease(session_, kSynced));

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const Lease stored, after->GetLease(session_));
  EXPECT_TRUE(stored.owner.empty()) << ::testing::PrintToString(stored);
}

TEST_F(PowerLossTest, ABudgetSetAgainIsAsDurableAsTheCallAsked) {
  BudgetSpec spec;
  spec.scope = UsageScope::kStore;
  spec.period = UsagePeriod::kDay;
  spec.limit_micros = 1'000'000;
  ASSERT_OK(store_->SetBudget(spec, kUnsynced).status());
  {
    std::unique_ptr<Store> before = AfterPowerLoss();
    ASSERT_NE(before, nullptr);
    ASSERT_OK_AND_ASSIGN(const std::vector<BudgetStatus> none,
                         before->ListBudgets());
    EXPECT_TRUE(none.empty());
  }
  ASSERT_OK(store_->SetBudget(spec, kSynced).status());

  std::unique_ptr<Store> after = AfterPowerLoss();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(const std::vector<BudgetStatus> budgets,
                       after->ListBudgets());
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spec, spec);
}

// Under kBuffered a replay does not fsync: it leaves the earlier write to
// the background sync, as a buffered write of its own would (WalSyncerTest
// shows that sync follows a mark).
TEST(ReplayDurabilityTest, AReplayUnderBufferedDurabilityAwaitsTheWalSync) {
  TempDir dir;
  Options options;
  options.sync_interval = std::chrono::minutes(1);  // No sync in between.
  Result<std::unique_ptr<Store>> opened = Store::Open(options, dir.Sub("db"));
  ASSERT_OK(opened.status());
  std::unique_ptr<Store> store = std::move(opened).value();
  auto* impl = static_cast<internal::StoreImpl*>(store.get());
  auto operation = []() -> Result<std::string> {
    return std::string("charged");
  };
  ASSERT_OK(store->RunOnce("charge", std::chrono::hours(1), operation,
                           kUnsynced)
                .status());
  EXPECT_FALSE(impl->TEST_WalSyncPending());

  constexpr WriteOptions kBuffered{.durability = Durability::kBuffered};
  ASSERT_OK_AND_ASSIGN(
      const RunOnceOutcome again,
      store->RunOnce("charge", std::chrono::hours(1), operation, kBuffered));
  ASSERT_FALSE(again.ran);
  EXPECT_TRUE(impl->TEST_WalSyncPending());
}

}  // namespace
}  // namespace agentlog
