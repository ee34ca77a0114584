#ifndef AGENTLOG_SRC_SESSION_SCAN_H_
#define AGENTLOG_SRC_SESSION_SCAN_H_

#include <rocksdb/db.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "agentlog/session_id.h"
#include "agentlog/status.h"

namespace agentlog::internal {

// One record of `sessions`, as the recovery scan reads it.
struct ScannedSession {
  std::string_view key;
  // The record's bytes, 8-byte aligned (Cap'n Proto reads them in place).
  std::string_view value;
  // The session `key` names; nullopt when it is not a session key.
  std::optional<SessionId> id;
};

// Reads every record of `sessions`, in key order, on a thread of its own,
// for the recovery scan: RocksDB's iteration (block reads, decompression)
// is the larger part of an open at 10^6 sessions, and the opening thread
// decodes and indexes the records meanwhile.
//
// The reader copies records into batches (512 KiB, four at most) that the
// opening thread takes in order; a batch is reused once read.
//
// Thread safety: one thread calls Next and status; the reader is private.
class SessionScan {
 public:
  // Starts the reader on `sessions` with `options`. `db` and `sessions`
  // must outlive the scan.
  SessionScan(rocksdb::DB* db, const rocksdb::ReadOptions& options,
              rocksdb::ColumnFamilyHandle* sessions);
  // Stops the reader, where it is, and waits for it.
  ~SessionScan();
  SessionScan(const SessionScan&) = delete;
  SessionScan& operator=(const SessionScan&) = delete;

  // The next record, or null after the last one or when an iterator
  // failed (status says). The record and the bytes it points to are valid
  // until the next call.
  const ScannedSession* Next();
  // After Next returned null: the iterator's error ("scan sessions: ..."),
  // or OK.
  Status status() const;

 private:
  struct Batch;

  // The reader thread: ReadAll, then done_ with its status.
  void Read();
  // Reads every record into batches and hands them over; the iterator's
  // status.
  rocksdb::Status ReadAll();
  // The reader's next empty batch with room for `bytes`, or null when the
  // scan is stopped.
  std::unique_ptr<Batch> TakeEmpty(size_t bytes);
  // Hands a filled batch to Next; false when the scan is stopped.
  bool HandOver(std::unique_ptr<Batch> batch);

  rocksdb::DB* const db_;
  const rocksdb::ReadOptions options_;
  rocksdb::ColumnFamilyHandle* const sessions_;

  mutable std::mutex mu_;
  std::condition_variable filled_;  // A batch in full_, or done_.
  std::condition_variable emptied_;  // A batch in empty_, or stop_.
  // Guarded by mu_:
  std::deque<std::unique_ptr<Batch>> full_;  // In key order.
  std::vector<std::unique_ptr<Batch>> empty_;
  size_t batches_ = 0;  // Allocated so far.
  bool done_ = false;   // The reader has handed over its last batch.
  bool stop_ = false;   // The owner is going: the reader returns.
  Status status_;  // The reader's outcome, once done_.

  std::unique_ptr<Batch> current_;  // Next's; not shared.
  std::thread reader_;              // Last: it uses the members above.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SESSION_SCAN_H_
