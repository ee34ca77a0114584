#include "session_scan.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "keys.h"
#include "test_util.h"

namespace agentlog::internal {
namespace {

using agentlog::testing::TempDir;

// A bare RocksDB with the two families the scan reads.
class SessionScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {"sessions", {}},
        {"usage_totals", {}}};
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(options, dir_.Sub("db"), families, &handles_, &db)
            .ok());
    db_.reset(db);
  }
  void TearDown() override {
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      ASSERT_TRUE(db_->DestroyColumnFamilyHandle(h).ok());
    }
  }
  rocksdb::ColumnFamilyHandle* sessions() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* totals() { return handles_[2]; }

  void Put(rocksdb::ColumnFamilyHandle* cf, const std::string& key,
           const std::string& value) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), cf, key, value).ok());
  }

  // Reads the whole scan and compares it with `expected`, values by key.
  void ExpectScan(const std::map<std::string, std::string>& expected) {
    SessionScan scan(db_.get(), rocksdb::ReadOptions(), sessions());
    auto want = expected.begin();
    size_t n = 0;
    while (const ScannedSession* record = scan.Next()) {
      ASSERT_NE(want, expected.end()) << "record " << n << " is extra";
      EXPECT_EQ(record->key, want->first) << "record " << n;
      EXPECT_EQ(record->value, want->second) << "record " << n;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(record->value.data()) % 8, 0u)
          << "record " << n;
      EXPECT_EQ(record->id, ParseSessionKey(want->first)) << "record " << n;
      ++want;
      ++n;
    }
    EXPECT_EQ(want, expected.end()) << "only " << n << " records";
    EXPECT_TRUE(scan.status().ok()) << scan.status().ToString();
  }

  TempDir dir_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(SessionScanTest, EmptyFamilyEndsAtOnce) { ExpectScan({}); }

TEST_F(SessionScanTest, RecordsComeInKeyOrderAcrossBatches) {
  std::map<std::string, std::string> expected;
  // Another family's keys stay out.
  Put(totals(), "\x01\x02row", "totals");
  for (int i = 0; i < 20'000; ++i) {
    const SessionId id = SessionId::Generate(1'000 + i);
    // Sizes that are not whole words, and now and then a record larger
    // than a batch (512 KiB).
    const std::string value(i % 5'000 == 7 ? (1 << 20) + 3 : 40 + i % 61,
                            static_cast<char>('a' + i % 26));
    expected[SessionKey(id)] = value;
    Put(sessions(), SessionKey(id), value);
    if (i % 4'000 == 2) {
      // Keys that are not session keys, one with an empty value.
      expected[SessionKey(id) + "x"] = "bad key";
      Put(sessions(), SessionKey(id) + "x", "bad key");
      expected[std::string(3, static_cast<char>(i))] = "";
      Put(sessions(), std::string(3, static_cast<char>(i)), "");
    }
  }
  // From the memtable, then from files.
  ExpectScan(expected);
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions(), handles_).ok());
  ExpectScan(expected);
}

TEST_F(SessionScanTest, StopsWhenDroppedBeforeTheEnd) {
  for (int i = 0; i < 20'000; ++i) {
    Put(sessions(), SessionKey(SessionId::Generate(1'000 + i)),
        std::string(100, 'v'));
  }
  for (int read : {0, 1, 5'000}) {
    SessionScan scan(db_.get(), rocksdb::ReadOptions(), sessions());
    for (int i = 0; i < read; ++i) ASSERT_NE(scan.Next(), nullptr);
    // The destructor stops the reader, which may be waiting for room.
  }
}

}  // namespace
}  // namespace agentlog::internal
