// The retention framework: decisions reach compaction filters only once
// durable, filters drop what decisions cover, and Compact gives the space
// back, blob files included.

#include <rocksdb/db.h>

#include <random>
#include <string>

#include "column_families.h"
#include "keys.h"
#include "retention.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::RetentionDecisions;
using internal::SessionFloors;
using internal::StoreImpl;

uint64_t FloorOf(RetentionDecisions& decisions, const SessionId& id) {
  const SessionFloors* floors = decisions.Current()->Find(id);
  return floors == nullptr ? 0 : floors->checkpoint;
}

TEST(RetentionDecisionsTest, PendingDecisionsWaitForTheSyncThatCoversThem) {
  RetentionDecisions decisions;
  const SessionId a = SessionId::Generate(1);
  const SessionId b = SessionId::Generate(2);
  decisions.Durable(a, {.checkpoint = 5});
  EXPECT_EQ(FloorOf(decisions, a), 5u);

  const SessionId c = SessionId::Generate(3);
  decisions.Pending(b, {.checkpoint = 3});
  EXPECT_EQ(FloorOf(decisions, b), 0u);
  const uint64_t ticket = decisions.BeforeSync();
  decisions.Pending(c, {.checkpoint = 9});  // Written after the sync began.
  decisions.AfterSync(ticket);
  EXPECT_EQ(FloorOf(decisions, b), 3u);
  EXPECT_EQ(FloorOf(decisions, c), 0u);
  EXPECT_EQ(decisions.pending_count(), 1u);
  decisions.AfterSync(decisions.BeforeSync());
  EXPECT_EQ(FloorOf(decisions, c), 9u);
  EXPECT_EQ(decisions.pending_count(), 0u);

  // A session deciding faster than the WAL syncs is not starved: the
  // decision a sync covers takes effect, newer ones wait for the next.
  decisions.Pending(b, {.checkpoint = 5});
  uint64_t sync = decisions.BeforeSync();
  decisions.Pending(b, {.checkpoint = 6});
  decisions.Pending(b, {.checkpoint = 7});
  EXPECT_EQ(decisions.pending_count(), 1u);  // Bounded: one entry a session.
  decisions.AfterSync(sync);
  EXPECT_EQ(FloorOf(decisions, b), 5u);
  sync = decisions.BeforeSync();
  decisions.Pending(b, {.checkpoint = 8});
  decisions.AfterSync(sync);
  EXPECT_EQ(FloorOf(decisions, b), 7u);
  decisions.AfterSync(decisions.BeforeSync());
  EXPECT_EQ(FloorOf(decisions, b), 8u);
  EXPECT_EQ(decisions.pending_count(), 0u);
}

TEST(RetentionDecisionsTest, FloorsOnlyRiseAndSnapshotsAreImmutable) {
  RetentionDecisions decisions;
  const SessionId a = SessionId::Generate(1);
  decisions.Durable(a, {.checkpoint = 7});
  const auto before = decisions.Current();
  decisions.Durable(a, {.checkpoint = 4});
  EXPECT_EQ(FloorOf(decisions, a), 7u);
  decisions.Durable(a, {.checkpoint = 8});
  EXPECT_EQ(FloorOf(decisions, a), 8u);
  EXPECT_EQ(before->Find(a)->checkpoint, 7u);  // Held by a running filter.
  decisions.Forget(a);
  EXPECT_EQ(decisions.Current()->Find(a), nullptr);
  EXPECT_EQ(decisions.Current()->size(), 0u);
}

class RetentionTest : public StoreTest {
 protected:
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  uint64_t Property(Cf cf, const std::string& name) {
    uint64_t v = 0;
    EXPECT_TRUE(impl().db()->GetIntProperty(impl().handle(cf), name, &v));
    return v;
  }
  // Live SST plus blob bytes of the whole store.
  uint64_t LiveBytes() {
    uint64_t total = 0;
    for (size_t i = 1; i < static_cast<size_t>(Cf::kCount); ++i) {
      total += Property(static_cast<Cf>(i), "rocksdb.live-sst-files-size");
      total += Property(static_cast<Cf>(i), "rocksdb.live-blob-file-size");
    }
    return total;
  }
  uint64_t Dropped(Cf cf) {
    auto info = store_->Info();
    EXPECT_TRUE(info.ok());
    for (const ColumnFamilyInfo& c : info->column_families) {
      if (c.name == internal::CfName(cf)) return c.retention_dropped;
    }
    return 0;
  }
  // Reads past agentlog's floor check, straight from RocksDB.
  bool RawExists(Cf cf, const SessionId& id, uint64_t version) {
    std::string value;
    const rocksdb::Status s =
        impl().db()->Get(rocksdb::ReadOptions(), impl().handle(cf),
                         internal::CheckpointKey(id, version), &value);
    EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
    return s.ok();
  }
};

// 200 versions of 1 MiB with keep-last 10: after Compact the store holds
// about 10 versions' worth of bytes, and the compaction filter dropped the
// rest (RocksDB itself no longer has them).
TEST_F(RetentionTest, CompactReclaimsPrunedVersionsThroughTheFilter) {
  constexpr size_t kVersion = 1 << 20;
  constexpr uint64_t kVersions = 200;
  options_.checkpoint_keep_last = 10;
  options_.write_buffer_bytes = 16 << 20;
  Reopen();
  const Session s = MakeSession();
  // Incompressible, so that stored bytes are the raw bytes.
  std::mt19937_64 rng(42);
  std::string payload(kVersion, '\0');
  for (size_t i = 0; i + 8 <= payload.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(payload.data() + i, &v, 8);
  }
  for (uint64_t v = 1; v <= kVersions; ++v) {
    std::memcpy(payload.data(), &v, sizeof(v));
    CheckpointSpec spec;
    spec.payload = payload;
    ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  }
  // Written bytes reached disk before anything was dropped: the flushes
  // wrote blob files for the older versions.
  ASSERT_OK(store_->Compact());

  const uint64_t live = LiveBytes();
  EXPECT_LE(live, 12 * kVersion) << "live SST + blob bytes after Compact";
  EXPECT_GE(live, 10 * kVersion);
  // Every pruned version went through the filter in both families, once:
  // nothing else deletes them...
  EXPECT_EQ(Dropped(Cf::kCheckpointData), kVersions - 10);
  EXPECT_EQ(Dropped(Cf::kCheckpoints), kVersions - 10);
  // ...and RocksDB no longer has them; the kept ones are intact.
  for (uint64_t v = 1; v <= kVersions - 10; ++v) {
    ASSERT_FALSE(RawExists(Cf::kCheckpointData, s.id, v)) << v;
    ASSERT_FALSE(RawExists(Cf::kCheckpoints, s.id, v)) << v;
  }
  for (uint64_t v = kVersions - 9; v <= kVersions; ++v) {
    ASSERT_OK_AND_ASSIGN(Checkpoint c, store_->GetCheckpoint(s.id, v));
    uint64_t stamp = 0;
    std::memcpy(&stamp, c.payload.data(), sizeof(stamp));
    EXPECT_EQ(stamp, v);
  }
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());

  Reopen();
  EXPECT_LE(LiveBytes(), 12 * kVersion);
  ASSERT_OK(store_->GetCheckpoint(s.id, kVersions - 9).status());
}

// Under kBuffered (or kNone) a decision is in the WAL but not yet synced;
// the filter must not act on it until a sync makes it durable.
TEST_F(RetentionTest, UnsyncedDecisionsDoNotReachTheFilter) {
  options_.checkpoint_keep_last = 1;
  options_.durability = Durability::kNone;
  // The WAL syncer would promote the decisions at its first tick; keep
  // that a minute away so that only this test's own syncs do.
  options_.sync_interval = std::chrono::seconds(60);
  Reopen();
  const Session s = MakeSession();
  for (uint64_t v = 1; v <= 3; ++v) {
    CheckpointSpec spec;
    const std::string payload = "state " + std::to_string(v);
    spec.payload = payload;
    ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  }
  // Readers honour the decision at once...
  EXPECT_TRUE(store_->GetCheckpoint(s.id, 2).status().IsNotFound());
  // ...but a compaction now (not through Compact, which syncs first) keeps
  // the records: a power loss could still undo the decision.
  EXPECT_EQ(impl().retention().pending_count(), 1u);  // One session.
  for (Cf cf : {Cf::kCheckpoints, Cf::kCheckpointData}) {
    ASSERT_TRUE(impl()
                    .db()
                    ->CompactRange(rocksdb::CompactRangeOptions(),
                                   impl().handle(cf), nullptr, nullptr)
                    .ok());
  }
  EXPECT_TRUE(RawExists(Cf::kCheckpoints, s.id, 1));
  EXPECT_TRUE(RawExists(Cf::kCheckpointData, s.id, 1));
  EXPECT_EQ(Dropped(Cf::kCheckpoints), 0u);
  EXPECT_EQ(Dropped(Cf::kCheckpointData), 0u);

  ASSERT_OK(store_->SyncWal());
  EXPECT_EQ(impl().retention().pending_count(), 0u);
  ASSERT_OK(store_->Compact());
  EXPECT_FALSE(RawExists(Cf::kCheckpoints, s.id, 1));
  EXPECT_FALSE(RawExists(Cf::kCheckpointData, s.id, 2));
  EXPECT_TRUE(RawExists(Cf::kCheckpointData, s.id, 3));
  EXPECT_EQ(Dropped(Cf::kCheckpoints), 2u);
}

// Decisions found at open are in effect for the filters at once.
TEST_F(RetentionTest, DecisionsSurviveReopen) {
  options_.checkpoint_keep_last = 2;
  Reopen();
  const Session s = MakeSession();
  for (uint64_t v = 1; v <= 5; ++v) {
    CheckpointSpec spec;
    const std::string payload(100, static_cast<char>('a' + v));
    spec.payload = payload;
    ASSERT_OK(store_->PutCheckpoint(s.id, spec).status());
  }
  Reopen();
  const SessionFloors* floors =
      impl().retention().Current()->Find(s.id);
  ASSERT_NE(floors, nullptr);
  EXPECT_EQ(floors->checkpoint, 4u);
  ASSERT_OK(store_->Compact());
  EXPECT_FALSE(RawExists(Cf::kCheckpointData, s.id, 3));
  EXPECT_TRUE(RawExists(Cf::kCheckpointData, s.id, 4));
}

}  // namespace
}  // namespace agentlog::testing
