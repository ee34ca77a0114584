#include "session_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "keys.h"
#include "rocksdb_status.h"

namespace agentlog::internal {
namespace {

constexpr size_t kBatchBytes = 512 << 10;
// Two for the reader to fill while the opening thread reads one or two.
constexpr size_t kMaxBatches = 4;

constexpr size_t Aligned(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

// Records and the bytes they point to. The buffer never grows once
// allocated, so the views stay valid while the batch fills.
struct SessionScan::Batch {
  explicit Batch(size_t capacity)
      : words(new uint64_t[Aligned(capacity) / 8]),
        capacity(Aligned(capacity)) {}

  bool Fits(size_t bytes) const { return used + bytes <= capacity; }
  // Copies `bytes` at the next 8-byte boundary. REQUIRES: Fits.
  std::string_view Copy(std::string_view bytes) {
    char* at = reinterpret_cast<char*>(words.get()) + used;
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    used += Aligned(bytes.size());
    return {at, bytes.size()};
  }
  void Clear() {
    used = 0;
    next = 0;
    records.clear();
  }

  std::unique_ptr<uint64_t[]> words;
  size_t capacity;
  size_t used = 0;
  std::vector<ScannedSession> records;
  size_t next = 0;  // The next record Next returns.
};

SessionScan::SessionScan(rocksdb::DB* db, const rocksdb::ReadOptions& options,
                         rocksdb::ColumnFamilyHandle* sessions)
    : db_(db), options_(options), sessions_(sessions) {
  reader_ = std::thread([this] { Read(); });
}

SessionScan::~SessionScan() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  emptied_.notify_all();
  reader_.join();
}

const ScannedSession* SessionScan::Next() {
  for (;;) {
    if (current_ != nullptr && current_->next < current_->records.size()) {
      return &current_->records[current_->next++];
    }
    std::unique_lock lock(mu_);
    if (current_ != nullptr) {
      current_->Clear();
      empty_.push_back(std::move(current_));
      emptied_.notify_one();
    }
    filled_.wait(lock, [this] { return !full_.empty() || done_; });
    if (full_.empty()) return nullptr;
    current_ = std::move(full_.front());
    full_.pop_front();
  }
}

Status SessionScan::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::unique_ptr<SessionScan::Batch> SessionScan::TakeEmpty(size_t bytes) {
  std::unique_lock lock(mu_);
  emptied_.wait(lock, [this] {
    return stop_ || !empty_.empty() || batches_ < kMaxBatches;
  });
  if (stop_) return nullptr;
  std::unique_ptr<Batch> batch;
  if (!empty_.empty()) {
    batch = std::move(empty_.back());
    empty_.pop_back();
  } else {
    ++batches_;
  }
  lock.unlock();
  // A record larger than a batch gets a batch of its own size.
  if (batch == nullptr || !batch->Fits(bytes)) {
    batch = std::make_unique<Batch>(std::max(bytes, kBatchBytes));
  }
  return batch;
}

bool SessionScan::HandOver(std::unique_ptr<Batch> batch) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return false;
    full_.push_back(std::move(batch));
  }
  filled_.notify_one();
  return true;
}

void SessionScan::Read() {
  Status s;
  // Open waits for done_ whatever happens here. Out of memory for a batch
  // fails the open (nothing is half changed yet) rather than the process.
  try {
    s = FromRocksDB(ReadAll(), "scan sessions");
  } catch (const std::exception& e) {
    s = Status::ResourceExhausted(fmt::format("scan sessions: {}", e.what()));
  }
  {
    std::lock_guard lock(mu_);
    status_ = std::move(s);
    done_ = true;
  }
  filled_.notify_one();
}

rocksdb::Status SessionScan::ReadAll() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options_, sessions_));
  std::unique_ptr<Batch> batch;
  bool stopped = false;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    const std::string_view value = it->value().ToStringView();
    const size_t bytes = Aligned(key.size()) + Aligned(value.size());
    if (batch == nullptr || !batch->Fits(bytes)) {
      if (batch != nullptr && !HandOver(std::move(batch))) {
        stopped = true;
        break;
      }
      batch = TakeEmpty(bytes);
      if (batch == nullptr) {
        stopped = true;
        break;
      }
    }
    ScannedSession& record = batch->records.emplace_back();
    record.key = batch->Copy(key);
    record.value = batch->Copy(value);
    record.id = ParseSessionKey(key);
  }
  if (!stopped && batch != nullptr && !batch->records.empty()) {
    HandOver(std::move(batch));
  }
  return it->status();
}

}  // namespace agentlog::internal
