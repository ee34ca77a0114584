// Checkpoints: versions, parents, payload codecs, keep-last-N retention, the
// atomic turn + checkpoint commit, and errors.

#include <rocksdb/db.h>
#include <rocksdb/transaction_log.h>

#include <random>
#include <string>

#include "column_families.h"
#include "keys.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

using internal::Cf;
using internal::StoreImpl;

// Text-like bytes that LZ4 roughly halves.
std::string TextPayload(size_t bytes, uint64_t seed) {
  static constexpr std::string_view kWords[] = {
      "agent", "state", "step", "tool", "call", "result", "plan", "graph",
      "node", "edge", "scratchpad", "memory", "value", "{\"k\":", "42,", "\n"};
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(bytes + 16);
  while (out.size() < bytes) {
    out += kWords[rng() % std::size(kWords)];
    out += ' ';
    if (rng() % 4 == 0) out += std::to_string(rng() % 100000);
  }
  out.resize(bytes);
  return out;
}

// Bytes LZ4 cannot shrink.
std::string RandomPayload(size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(bytes, '\0');
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

class CheckpointTest : public StoreTest {
 protected:
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  CheckpointInfo Put(const SessionId& id, const std::string& payload,
                     std::optional<uint64_t> parent = std::nullopt) {
    CheckpointSpec spec;
    spec.payload = payload;
    spec.parent = parent;
    auto put = store_->PutCheckpoint(id, spec);
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    return put.ok() ? *put : CheckpointInfo{};
  }

  // The versions ListCheckpoints reports.
  std::vector<uint64_t> Versions(const SessionId& id) {
    auto list = store_->ListCheckpoints(id);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    std::vector<uint64_t> out;
    if (list.ok()) {
      for (const CheckpointInfo& c : *list) out.push_back(c.version);
    }
    return out;
  }
};

TEST_F(CheckpointTest, VersionsCountUpWithParentsAndLatestIsNewest) {
  const Session s = MakeSession();
  const std::string p1 = TextPayload(100'000, 1);
  const std::string p2 = TextPayload(100'000, 2);
  const std::string p3 = TextPayload(50, 3);
  EXPECT_EQ(Put(s.id, p1).version, 1u);
  CheckpointSpec spec;
  spec.payload = p2;
  spec.parent = 1;
  spec.metadata = "step=2";
  ASSERT_OK_AND_ASSIGN(CheckpointInfo v2, store_->PutCheckpoint(s.id, spec));
  EXPECT_EQ(v2.version, 2u);
  EXPECT_EQ(v2.parent, std::optional<uint64_t>(1));
  EXPECT_EQ(v2.metadata, "step=2");
  EXPECT_EQ(Put(s.id, p3, 1).version, 3u);

  ASSERT_OK_AND_ASSIGN(Checkpoint latest, store_->GetCheckpoint(s.id));
  EXPECT_EQ(latest.info.version, 3u);
  EXPECT_EQ(latest.payload, p3);
  EXPECT_EQ(latest.info.parent, std::optional<uint64_t>(1));
  ASSERT_OK_AND_ASSIGN(Checkpoint first, store_->GetCheckpoint(s.id, 1));
  EXPECT_EQ(first.payload, p1);
  EXPECT_FALSE(first.info.parent.has_value());
  ASSERT_OK_AND_ASSIGN(Checkpoint second, store_->GetCheckpoint(s.id, 2));
  EXPECT_EQ(second.payload, p2);
  EXPECT_EQ(second.info, v2);

  ASSERT_OK_AND_ASSIGN(auto list, store_->ListCheckpoints(s.id));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1], v2);
  EXPECT_EQ(list[0].raw_bytes, p1.size());
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.last_checkpoint, 3u);
  EXPECT_EQ(after.oldest_checkpoint, 1u);

  Reopen();
  ASSERT_OK_AND_ASSIGN(Checkpoint reread, store_->GetCheckpoint(s.id, 2));
  EXPECT_EQ(reread.payload, p2);
  EXPECT_EQ(Versions(s.id), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(CheckpointTest, CompressesOnlyWhenItShrinksAndChecksumsRawBytes) {
  const Session s = MakeSession();
  const std::string text = TextPayload(1 << 20, 7);
  const std::string noise = RandomPayload(1 << 20, 7);
  const CheckpointInfo compressed = Put(s.id, text);
  EXPECT_EQ(compressed.codec, CheckpointCodec::kLz4);
  EXPECT_LT(compressed.stored_bytes, text.size() * 3 / 4);
  EXPECT_EQ(compressed.raw_bytes, text.size());
  const CheckpointInfo stored = Put(s.id, noise);
  EXPECT_EQ(stored.codec, CheckpointCodec::kNone);
  EXPECT_EQ(stored.stored_bytes, noise.size());
  const CheckpointInfo empty = Put(s.id, "");
  EXPECT_EQ(empty.raw_bytes, 0u);
  EXPECT_NE(compressed.checksum, stored.checksum);

  ASSERT_OK_AND_ASSIGN(Checkpoint a, store_->GetCheckpoint(s.id, 1));
  EXPECT_EQ(a.payload, text);
  ASSERT_OK_AND_ASSIGN(Checkpoint b, store_->GetCheckpoint(s.id, 2));
  EXPECT_EQ(b.payload, noise);
  ASSERT_OK_AND_ASSIGN(Checkpoint c, store_->GetCheckpoint(s.id, 3));
  EXPECT_EQ(c.payload, "");
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
}

TEST_F(CheckpointTest, KeepLastPrunesAtOnceAndAfterReopen) {
  options_.checkpoint_keep_last = 3;
  Reopen();
  const Session s = MakeSession();
  for (uint64_t v = 1; v <= 5; ++v) Put(s.id, TextPayload(1000, v));
  for (uint64_t v : {1, 2}) {
    const auto got = store_->GetCheckpoint(s.id, v);
    EXPECT_TRUE(got.status().IsNotFound()) << got.status().ToString();
    EXPECT_NE(got.status().message().find("pruned"), std::string::npos);
  }
  EXPECT_EQ(Versions(s.id), (std::vector<uint64_t>{3, 4, 5}));
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.oldest_checkpoint, 3u);

  Reopen();
  EXPECT_TRUE(store_->GetCheckpoint(s.id, 2).status().IsNotFound());
  EXPECT_EQ(Versions(s.id), (std::vector<uint64_t>{3, 4, 5}));
  ASSERT_OK_AND_ASSIGN(Checkpoint v3, store_->GetCheckpoint(s.id, 3));
  EXPECT_EQ(v3.payload, TextPayload(1000, 3));
  // A version pruned from the list may still be named as a parent.
  EXPECT_EQ(Put(s.id, "next", 1).parent, std::optional<uint64_t>(1));
}

TEST_F(CheckpointTest, PerSessionOverrideAndItsLimits) {
  options_.checkpoint_keep_last = 3;
  Reopen();
  const Session a = MakeSession("a");
  const Session b = MakeSession("b");
  ASSERT_OK_AND_ASSIGN(Session set, store_->SetCheckpointRetention(a.id, 2));
  EXPECT_EQ(set.checkpoint_keep_last, 2u);
  for (uint64_t v = 1; v <= 5; ++v) {
    Put(a.id, "a" + std::to_string(v));
    Put(b.id, "b" + std::to_string(v));
  }
  EXPECT_EQ(Versions(a.id), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Versions(b.id), (std::vector<uint64_t>{3, 4, 5}));

  // Lowering prunes at once; raising never brings versions back.
  ASSERT_OK(store_->SetCheckpointRetention(b.id, 1).status());
  EXPECT_EQ(Versions(b.id), (std::vector<uint64_t>{5}));
  ASSERT_OK(store_->SetCheckpointRetention(b.id, 10).status());
  EXPECT_EQ(Versions(b.id), (std::vector<uint64_t>{5}));
  Put(b.id, "b6");
  EXPECT_EQ(Versions(b.id), (std::vector<uint64_t>{5, 6}));

  // 0 returns to the store default, which survives reopen.
  ASSERT_OK(store_->SetCheckpointRetention(a.id, 0).status());
  Reopen();
  for (uint64_t v = 6; v <= 8; ++v) Put(a.id, "a" + std::to_string(v));
  EXPECT_EQ(Versions(a.id), (std::vector<uint64_t>{6, 7, 8}));

  const Status too_many =
      store_->SetCheckpointRetention(a.id, 1'000'001).status();
  EXPECT_EQ(too_many.code(), Code::kInvalidArgument);
  EXPECT_NE(too_many.message().find("keep_last"), std::string::npos);
}

// Completing a turn and saving the state after it is one WriteBatch: the WAL
// holds them as one record, so a crash keeps both or neither.
TEST_F(CheckpointTest, TurnCompletionAndCheckpointAreOneCommit) {
  const Session s = MakeSession();
  ASSERT_OK_AND_ASSIGN(BeginTurnResult begun,
                       store_->BeginTurn(s.id, "k1", UserInput("hi")));
  const uint64_t before = impl().db()->GetLatestSequenceNumber();
  CheckpointSpec spec;
  const std::string state = TextPayload(10'000, 9);
  spec.payload = state;
  ASSERT_OK_AND_ASSIGN(
      TurnWithCheckpoint done,
      store_->CompleteTurnWithCheckpoint(s.id, begun.turn.number,
                                         AssistantOutput("hello"), {}, spec));
  EXPECT_EQ(done.turn.status, TurnStatus::kCompleted);
  EXPECT_EQ(done.checkpoint.version, 1u);

  std::unique_ptr<rocksdb::TransactionLogIterator> wal;
  ASSERT_TRUE(impl().db()->GetUpdatesSince(before + 1, &wal).ok());
  ASSERT_TRUE(wal->Valid());
  rocksdb::BatchResult batch = wal->GetBatch();
  EXPECT_EQ(batch.sequence, before + 1);
  // Turn, checkpoint header, checkpoint payload, session: one batch.
  EXPECT_EQ(batch.writeBatchPtr->Count(), 4u);
  wal->Next();
  EXPECT_FALSE(wal->Valid());

  // A checkpoint the write refuses leaves the turn as it was.
  ASSERT_OK_AND_ASSIGN(BeginTurnResult second,
                       store_->BeginTurn(s.id, "k2", UserInput("again")));
  spec.parent = 7;
  const auto refused = store_->CompleteTurnWithCheckpoint(
      s.id, second.turn.number, AssistantOutput("x"), {}, spec);
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("parent"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Turn still, store_->GetTurn(s.id, second.turn.number));
  EXPECT_EQ(still.status, TurnStatus::kProcessing);
  ASSERT_OK_AND_ASSIGN(Session after, store_->GetSession(s.id));
  EXPECT_EQ(after.last_checkpoint, 1u);

  Reopen();
  ASSERT_OK_AND_ASSIGN(Checkpoint reread, store_->GetCheckpoint(s.id));
  EXPECT_EQ(reread.payload, state);
  ASSERT_OK_AND_ASSIGN(Turn turn, store_->GetTurn(s.id, 1));
  EXPECT_EQ(turn.status, TurnStatus::kCompleted);
}

TEST_F(CheckpointTest, BadCallsAreRefusedAndWriteNothing) {
  options_.max_checkpoint_bytes = 1000;
  Reopen();
  const Session s = MakeSession();
  Put(s.id, "v1");
  const uint64_t sequence = impl().db()->GetLatestSequenceNumber();

  const std::string big(1001, 'x');
  CheckpointSpec spec;
  spec.payload = big;
  Status st = store_->PutCheckpoint(s.id, spec).status();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("CheckpointSpec::payload"), std::string::npos);
  EXPECT_NE(st.message().find("max_checkpoint_bytes"), std::string::npos);

  spec.payload = "ok";
  spec.parent = 0;
  EXPECT_EQ(store_->PutCheckpoint(s.id, spec).status().code(),
            Code::kInvalidArgument);
  spec.parent = 2;
  st = store_->PutCheckpoint(s.id, spec).status();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("CheckpointSpec::parent"), std::string::npos);
  spec.parent.reset();
  const std::string metadata(options_.max_metadata_bytes + 1, 'm');
  spec.metadata = metadata;
  st = store_->PutCheckpoint(s.id, spec).status();
  EXPECT_NE(st.message().find("CheckpointSpec::metadata"), std::string::npos);
  spec.metadata = "";

  EXPECT_TRUE(
      store_->PutCheckpoint(SessionId::Generate(1), spec).status().IsNotFound());
  EXPECT_EQ(impl().db()->GetLatestSequenceNumber(), sequence);

  ASSERT_OK(store_->ArchiveSession(s.id));
  EXPECT_EQ(store_->PutCheckpoint(s.id, spec).status().code(),
            Code::kFailedPrecondition);
  // Reading an archived session's checkpoints is fine.
  ASSERT_OK(store_->GetCheckpoint(s.id).status());

  const Session none = MakeSession();
  st = store_->GetCheckpoint(none.id).status();
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("no checkpoints"), std::string::npos);
  EXPECT_TRUE(store_->GetCheckpoint(s.id, 0).status().IsNotFound());
  st = store_->GetCheckpoint(s.id, 2).status();
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("does not exist"), std::string::npos);
  EXPECT_TRUE(store_->ListCheckpoints(SessionId::Generate(1)).status().IsNotFound());
}

TEST_F(CheckpointTest, DeletingASessionDeletesItsCheckpoints) {
  const Session s = MakeSession();
  Put(s.id, "one");
  Put(s.id, "two");
  ASSERT_OK(store_->ArchiveSession(s.id));
  ASSERT_OK(store_->DeleteSession(s.id));
  EXPECT_TRUE(store_->GetCheckpoint(s.id).status().IsNotFound());
  for (Cf cf : {Cf::kCheckpoints, Cf::kCheckpointData}) {
    std::string value;
    EXPECT_TRUE(impl()
                    .db()
                    ->Get(rocksdb::ReadOptions(), impl().handle(cf),
                          internal::CheckpointKey(s.id, 1), &value)
                    .IsNotFound());
  }
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean());
}

TEST_F(CheckpointTest, ClearingTurnsKeepsCheckpoints) {
  const Session s = MakeSession();
  ASSERT_OK(store_->AppendTurn(s.id, "k", UserInput("q"), AssistantOutput("a"))
                .status());
  Put(s.id, "state one");
  Put(s.id, "state two");
  ASSERT_OK(store_->ClearTurns(s.id));
  EXPECT_EQ(Versions(s.id), (std::vector<uint64_t>{1, 2}));
  ASSERT_OK_AND_ASSIGN(Checkpoint latest, store_->GetCheckpoint(s.id));
  EXPECT_EQ(latest.payload, "state two");
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  EXPECT_TRUE(report.clean()) << report.problems[0].what;
}

// A store written by format 1 (before checkpoints) opens, gains the new
// column families and is stamped with the current format.
TEST_F(CheckpointTest, FormatOneStoreIsMigrated) {
  const Session s = MakeSession();
  std::string one;
  internal::AppendU64(&one, 1);
  ASSERT_TRUE(impl()
                  .db()
                  ->Put(rocksdb::WriteOptions(), impl().handle(Cf::kMeta),
                        internal::kFormatVersionKey, one)
                  .ok());
  Reopen();
  EXPECT_EQ(store_->recovery_report().format_version, internal::kFormatVersion);
  std::string stamp;
  ASSERT_TRUE(impl()
                  .db()
                  ->Get(rocksdb::ReadOptions(), impl().handle(Cf::kMeta),
                        internal::kFormatVersionKey, &stamp)
                  .ok());
  EXPECT_EQ(internal::DecodeU64(stamp), internal::kFormatVersion);
  EXPECT_EQ(Put(s.id, "state").version, 1u);
}

}  // namespace
}  // namespace agentlog::testing
