#ifndef AGENTLOG_SRC_USAGE_BUFFER_H_
#define AGENTLOG_SRC_USAGE_BUFFER_H_

// What acknowledged usage records add to the two families derived from
// them, `usage_totals` and `usage_ids`, until it is written there.
//
// Merging every record's totals into `usage_totals` in the record's own
// batch (eleven merges or more into the same hot keys per record) made
// recording usage cost as much again as the turn it belongs to, and putting
// its message id into `usage_ids` there cost a memtable insert at a random
// place in a large skip list (docs/benchmarks.md). Instead a write's totals
// and message ids are added here once the write is acknowledged, still
// under the session's lock, and Flush writes them every kFlushRecords
// records or kFlushIntervalMs, whichever comes first: one merge per totals
// row touched and one put per message id (in key order, which the memtable
// inserts cheaply), in one batch with a mark per session touched naming the
// last usage seq of that session both families on disk include.
//
// Adding is kept to a few additions: a write's deltas join its session's
// pending deltas (TotalsDeltas, grouped by model, operation and period), and
// are spread over the rows they reach (eleven keys or more per group) only
// when a flush or a read needs the rows.
//
// The usage records are the journal: open adds to this buffer every record
// past its session's mark (StoreImpl::Recover), so that the totals and the
// message ids agree with the records after any crash, and a read-only
// opener sees what a writer had not flushed yet. That needs a session's
// records added in seq order (callers hold the session's lock), and its
// records past the mark counted under the scopes it has now: a session's
// agent and tags change, it is deleted or evicted, and its oldest records
// are pruned, only after FlushSession (once the records are gone, nothing
// could replay them).
//
// Reads see the rows on disk plus what is pending as one state: Flush writes
// and clears under the mutex under which a reader takes its snapshot and its
// copy of what is pending. A message id is looked up here before on disk,
// so that a flush between the two cannot hide it.
//
// Thread-safe. Lock order: a session's stripe lock, then this buffer's.

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/session_id.h"
#include "agentlog/usage.h"
#include "usage_keys.h"
#include "usage_totals.h"

namespace agentlog::internal {

class UsageBuffer {
 public:
  // Records after which a flush is due; bounds what open replays. Large
  // because a flush costs a memtable insert per row (hundreds of rows for
  // a few dozen sessions, about a millisecond): at 1,024 records it was a
  // few per cent of every usage write (docs/benchmarks.md).
  static constexpr uint64_t kFlushRecords = 8192;
  // Time (of the store's clock) after which a flush is due at the next
  // write.
  static constexpr int64_t kFlushIntervalMs = 1000;

  // A message id of an acknowledged record, and the record's seq.
  struct NewId {
    std::string_view message_id;
    uint64_t seq = 0;
  };

  // `totals_cf` and `ids_cf` are `usage_totals` and `usage_ids` of `db`. A
  // read-only buffer never writes: what a reader replayed stays in memory.
  UsageBuffer(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* totals_cf,
              rocksdb::ColumnFamilyHandle* ids_cf, bool writable);

  // Adds `records` acknowledged usage records of `session` (whose agent and
  // tags are `agent` and `tags`), the last of them `through_seq`, at
  // `now_ms`: their totals and the message ids among them. Returns whether
  // a flush is due.
  bool Add(const SessionId& session, std::string_view agent,
           const std::vector<std::string>& tags, const TotalsDeltas& deltas,
           std::span<const NewId> ids, uint64_t through_seq, uint64_t records,
           int64_t now_ms);

  // The record that carries `message_id`, if it is pending here. Callers
  // look on disk only when it is not.
  std::optional<UsageRef> FindId(std::string_view message_id);

  // Every message id pending here, in key order.
  std::vector<std::pair<std::string, UsageRef>> PendingIds();

  // Writes everything pending to `usage_totals` and `usage_ids` (unsynced:
  // the records are the durable part). On failure nothing pending is
  // dropped.
  Status Flush();
  // Flush, if anything of `session` is pending.
  Status FlushSession(const SessionId& session);

  // The row of `key` (EncodeTotalsKey), on disk plus pending.
  Result<UsageTotals> Read(const std::string& key);
  // Every row whose key starts with `prefix`, in key order.
  Result<std::vector<std::pair<std::string, UsageTotals>>> Scan(
      std::string_view prefix);

 private:
  // A snapshot of the DB and the pending rows it lacks, taken together: the
  // row of `key`, or with `prefix` every row `key` starts.
  struct View;
  View Capture(std::string_view key, bool prefix);

  // What a session has pending: the deltas not yet spread over rows_, with
  // the scopes they count in, and its mark.
  struct PendingSession {
    std::string agent;
    std::vector<std::string> tags;
    TotalsDeltas deltas;
    uint64_t through_seq = 0;
  };
  // Adds every session's unspread deltas to rows_. REQUIRES: mu_ held.
  void Spread();
  // The pending message ids in key order. REQUIRES: mu_ held.
  std::vector<const std::pair<const std::string, UsageRef>*> SortedIds() const;

  // std::string keys looked up by std::string_view.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const {
      return std::hash<std::string_view>()(id);
    }
  };

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const totals_cf_;
  rocksdb::ColumnFamilyHandle* const ids_cf_;
  const bool writable_;

  std::mutex mu_;
  std::map<std::string, UsageTotals> rows_;       // Guarded by mu_.
  std::map<SessionId, PendingSession> sessions_;  // Guarded by mu_.
  std::unordered_map<std::string, UsageRef, IdHash, std::equal_to<>>
      ids_;  // Guarded by mu_.
  uint64_t records_ = 0;                         // Guarded by mu_.
  int64_t first_pending_ms_ = -1;  // Guarded by mu_; -1: nothing pending.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_BUFFER_H_
