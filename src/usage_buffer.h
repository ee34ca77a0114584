#ifndef AGENTLOG_SRC_TOTALS_BUFFER_H_
#define AGENTLOG_SRC_TOTALS_BUFFER_H_

// Usage totals acknowledged but not yet written to `usage_totals`.
//
// Merging every record's totals into `usage_totals` in the record's own
// batch (eleven merges or more into the same hot keys per record) made
// recording usage cost as much again as the turn it belongs to
// (docs/benchmarks.md). Instead a write's totals are added here once the
// write is acknowledged, still under the session's lock, and Flush writes
// them to `usage_totals` every kFlushRecords records or kFlushIntervalMs,
// whichever comes first: one merge per row touched, in one batch with a
// mark per session touched naming the last usage seq of that session the
// totals on disk include.
//
// Adding is kept to a few additions: a write's deltas join its session's
// pending deltas (TotalsDeltas, grouped by model, operation and period), and
// are spread over the rows they reach (eleven keys or more per group) only
// when a flush or a read needs the rows.
//
// The usage records are the journal: open adds to this buffer every record
// past its session's mark (StoreImpl::Recover), so the totals agree with the
// records after any crash, and a read-only opener sees what a writer had not
// flushed yet. That needs a session's records added in seq order (callers
// hold the session's lock), and its records past the mark counted under the
// scopes it has now: a session's agent and tags change, and it is deleted,
// only after FlushSession.
//
// Reads see the rows on disk plus what is pending as one state: Flush writes
// and clears under the mutex under which a reader takes its snapshot and its
// copy of what is pending.
//
// Thread-safe. Lock order: a session's stripe lock, then this buffer's.

#include <rocksdb/db.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/session_id.h"
#include "agentlog/usage.h"
#include "usage_totals.h"

namespace agentlog::internal {

class TotalsBuffer {
 public:
  // Records after which a flush is due; bounds what open replays. Large
  // because a flush costs a memtable insert per row (hundreds of rows for
  // a few dozen sessions, about a millisecond): at 1,024 records it was a
  // few per cent of every usage write (docs/benchmarks.md).
  static constexpr uint64_t kFlushRecords = 8192;
  // Time (of the store's clock) after which a flush is due at the next
  // write.
  static constexpr int64_t kFlushIntervalMs = 1000;

  // `cf` is `usage_totals` of `db`. A read-only buffer never writes: what a
  // reader replayed stays in memory.
  TotalsBuffer(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
               bool writable);

  // Adds the totals of `records` acknowledged usage records of `session`
  // (whose agent and tags are `agent` and `tags`), the last of them
  // `through_seq`, at `now_ms`. Returns whether a flush is due.
  bool Add(const SessionId& session, std::string_view agent,
           const std::vector<std::string>& tags, const TotalsDeltas& deltas,
           uint64_t through_seq, uint64_t records, int64_t now_ms);

  // Writes everything pending to `usage_totals` (unsynced: the records it
  // sums are the durable part). On failure nothing pending is dropped.
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

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const bool writable_;

  std::mutex mu_;
  std::map<std::string, UsageTotals> rows_;       // Guarded by mu_.
  std::map<SessionId, PendingSession> sessions_;  // Guarded by mu_.
  uint64_t records_ = 0;                         // Guarded by mu_.
  int64_t first_pending_ms_ = -1;  // Guarded by mu_; -1: nothing pending.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_TOTALS_BUFFER_H_
