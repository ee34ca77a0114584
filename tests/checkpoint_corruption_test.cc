// Damaged checkpoints are detected and named: a payload that does not match
// its checksum, a truncated payload, and flipped bytes in a blob file.

#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "column_families.h"
#include "keys.h"
#include "record_codec.h"
#include "store_impl.h"
#include "test_util.h"

namespace agentlog::testing {
namespace {

namespace fs = std::filesystem;
using internal::Cf;
using internal::StoreImpl;

std::string RandomPayload(size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(bytes, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class CheckpointCorruptionTest : public StoreTest {
 protected:
  StoreImpl& impl() { return static_cast<StoreImpl&>(*store_); }

  uint64_t Put(const SessionId& id, const std::string& payload) {
    CheckpointSpec spec;
    spec.payload = payload;
    auto put = store_->PutCheckpoint(id, spec);
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    return put.ok() ? put->version : 0;
  }

  // The test hook: overwrites the stored payload of a version behind
  // agentlog's back, as a bad disk or a bug would.
  void OverwritePayload(const SessionId& id, uint64_t version,
                        const std::string& stored) {
    ASSERT_TRUE(impl()
                    .db()
                    ->Put(rocksdb::WriteOptions(),
                          impl().handle(Cf::kCheckpointData),
                          internal::CheckpointKey(id, version), stored)
                    .ok());
  }

  // The problems Verify lists for `cf`.
  std::vector<VerifyProblem> ProblemsIn(Cf cf) {
    auto report = store_->Verify();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    std::vector<VerifyProblem> out;
    if (!report.ok()) return out;
    for (const VerifyProblem& p : report->problems) {
      if (p.column_family == internal::CfName(cf)) out.push_back(p);
    }
    return out;
  }
};

TEST_F(CheckpointCorruptionTest, PayloadNotMatchingItsChecksumIsCorruption) {
  const Session s = MakeSession();
  const std::string good = RandomPayload(5000, 1);
  Put(s.id, good);
  Put(s.id, good);
  std::string bad = good;
  bad[2500] ^= 0x01;  // Same size, one bit off.
  OverwritePayload(s.id, 1, bad);

  const Status st = store_->GetCheckpoint(s.id, 1).status();
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  const std::string name = "checkpoints/" + s.id.ToString() + "/1";
  EXPECT_NE(st.message().find(name), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.message();
  ASSERT_OK(store_->GetCheckpoint(s.id, 2).status());  // The other is fine.

  const auto problems = ProblemsIn(Cf::kCheckpointData);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].key, s.id.ToString() + "/1");
  EXPECT_NE(problems[0].what.find("checksum"), std::string::npos);
}

TEST_F(CheckpointCorruptionTest, TruncatedOrUndecodablePayloadIsCorruption) {
  const Session s = MakeSession();
  const std::string text(100'000, 'a');  // Compresses: stored as LZ4.
  Put(s.id, text);
  Put(s.id, text);
  ASSERT_OK_AND_ASSIGN(Checkpoint c, store_->GetCheckpoint(s.id, 1));
  ASSERT_EQ(c.info.codec, CheckpointCodec::kLz4);
  std::string stored;
  ASSERT_TRUE(impl()
                  .db()
                  ->Get(rocksdb::ReadOptions(),
                        impl().handle(Cf::kCheckpointData),
                        internal::CheckpointKey(s.id, 1), &stored)
                  .ok());
  OverwritePayload(s.id, 1, stored.substr(0, stored.size() - 3));
  std::string garbled = stored;
  for (size_t i = 0; i < garbled.size(); i += 7) garbled[i] ^= 0x5a;
  OverwritePayload(s.id, 2, garbled);

  for (uint64_t v : {1, 2}) {
    const Status st = store_->GetCheckpoint(s.id, v).status();
    EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
    EXPECT_NE(st.message().find(s.id.ToString() + "/" + std::to_string(v)),
              std::string::npos);
  }
  EXPECT_EQ(ProblemsIn(Cf::kCheckpointData).size(), 2u);
}

// A damaged header must not make a read allocate what it claims.
TEST_F(CheckpointCorruptionTest, ImpossibleRawSizeIsCorruptionNotAnAllocation) {
  const Session s = MakeSession();
  Put(s.id, std::string(100'000, 'z'));  // Stored as a small LZ4 block.
  ASSERT_OK_AND_ASSIGN(Checkpoint c, store_->GetCheckpoint(s.id, 1));
  CheckpointInfo lying = c.info;
  lying.raw_bytes = uint64_t{1} << 40;
  const internal::EncodedRecord header = internal::EncodeCheckpointHeader(lying);
  ASSERT_TRUE(impl()
                  .db()
                  ->Put(rocksdb::WriteOptions(), impl().handle(Cf::kCheckpoints),
                        internal::CheckpointKey(s.id, 1),
                        rocksdb::Slice(header.bytes()))
                  .ok());
  const Status st = store_->GetCheckpoint(s.id, 1).status();
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("impossible"), std::string::npos);
}

TEST_F(CheckpointCorruptionTest, MissingPayloadOrHeaderIsReportedByVerify) {
  const Session s = MakeSession();
  Put(s.id, "first");
  Put(s.id, "second");
  ASSERT_TRUE(impl()
                  .db()
                  ->Delete(rocksdb::WriteOptions(),
                           impl().handle(Cf::kCheckpointData),
                           internal::CheckpointKey(s.id, 1))
                  .ok());
  ASSERT_TRUE(impl()
                  .db()
                  ->Delete(rocksdb::WriteOptions(),
                           impl().handle(Cf::kCheckpoints),
                           internal::CheckpointKey(s.id, 2))
                  .ok());
  EXPECT_EQ(store_->GetCheckpoint(s.id, 1).status().code(), Code::kCorruption);
  EXPECT_EQ(store_->GetCheckpoint(s.id, 2).status().code(), Code::kCorruption);
  ASSERT_OK_AND_ASSIGN(VerifyReport report, store_->Verify());
  std::vector<std::string> found;
  for (const VerifyProblem& p : report.problems) {
    found.push_back(p.column_family + " " + p.key + " " + p.what);
  }
  ASSERT_EQ(found.size(), 3u) << ::testing::PrintToString(found);
  EXPECT_NE(found[0].find("checkpoints " + s.id.ToString()), std::string::npos);
  EXPECT_NE(found[1].find("/2 payload without a header"), std::string::npos);
  EXPECT_NE(found[2].find("/1 header without a payload"), std::string::npos);
}

// Flipped bytes inside a blob file, in a copy of the store: reads of the
// damaged version fail with Corruption naming it, Verify lists it, the
// other versions still read.
TEST_F(CheckpointCorruptionTest, FlippedBytesInABlobFileAreCorruption) {
  const Session s = MakeSession();
  constexpr size_t kBytes = 256 << 10;
  for (uint64_t v = 1; v <= 3; ++v) Put(s.id, RandomPayload(kBytes, v));
  ASSERT_OK(store_->Compact());  // Payloads now live in blob files.
  Close();

  const std::string copy = dir_.Sub("copy");
  fs::copy(path(), copy, fs::copy_options::recursive);
  std::vector<fs::path> blobs;
  for (const auto& entry : fs::directory_iterator(copy)) {
    if (entry.path().extension() == ".blob") blobs.push_back(entry.path());
  }
  ASSERT_EQ(blobs.size(), 1u) << "one blob file after Compact";
  // Damage the middle of the file: the second of three payloads.
  {
    std::fstream f(blobs[0], std::ios::in | std::ios::out | std::ios::binary);
    const auto size = static_cast<std::streamoff>(fs::file_size(blobs[0]));
    for (std::streamoff at = size / 2; at < size / 2 + 64; at += 8) {
      f.seekg(at);
      char c = 0;
      f.read(&c, 1);
      f.seekp(at);
      c = static_cast<char>(c ^ 0xff);
      f.write(&c, 1);
    }
  }

  ASSERT_OK_AND_ASSIGN(store_, Store::Open(options_, copy));
  const Status st = store_->GetCheckpoint(s.id, 2).status();
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("checkpoints/" + s.id.ToString() + "/2"),
            std::string::npos)
      << st.message();
  ASSERT_OK(store_->GetCheckpoint(s.id, 1).status());
  ASSERT_OK(store_->GetCheckpoint(s.id, 3).status());
  const auto problems = ProblemsIn(Cf::kCheckpointData);
  ASSERT_FALSE(problems.empty());
  bool named = false;
  for (const VerifyProblem& p : problems) {
    named = named || p.key == s.id.ToString() + "/2";
  }
  EXPECT_TRUE(named) << problems[0].key << ": " << problems[0].what;
}

}  // namespace
}  // namespace agentlog::testing
