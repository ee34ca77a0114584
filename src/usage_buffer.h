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
// under the session's lock, and a flush writes them every kFlushRecords
// records or kFlushIntervalMs, whichever comes first: one merge per totals
// row touched and one put per message id (in key order, which the memtable
// inserts cheaply), in one batch with a mark per session touched naming the
// last usage seq of that session both families on disk include.
//
// Writers do not add to it themselves: Enqueue queues an acknowledged
// write in an inbox (usage_inbox.h), and the buffer's thread applies the
// inbox a batch at a time, once kDrainRecords records are queued or
// (checked as writes are queued) the first is kFlushIntervalMs old, to the
// totals and ids here and to the rate windows given to the constructor.
// Anything that must see every acknowledged write drains first: a read of
// totals, a flush, FlushSession, PendingIds, and Store::CheckRate (Drain).
// FindId does not drain: it looks in the inbox, then the one being drained,
// then the generations, the order in which a message id moves (each stage
// drops an id only once the next has it), so that no drain or flush can
// hide one from it. A session's writes are queued under its lock, so they
// are applied in seq order. Should the thread fall kMaxQueuedRecords
// behind, the writer that finds it so drains itself.
//
// Flushes run on the buffer's own thread too. A flush of 8,192 ids is some
// 20 ms of memtable inserts; on the writer that made it due, it held that
// writer, its session, and through the mutex every other usage writer for
// as long. A flush moves what is pending to a second generation, the one
// in flight, and writes it without the mutex; writers go on adding to a
// fresh one. Should the flusher fall kMaxPendingRecords behind, the writer
// that finds it so flushes itself (after the flush in flight): memory stays
// bounded when the disk is slower than the writers.
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
// could replay them). FlushSession waits for the flush in flight.
//
// Reads see the rows on disk plus both generations as one state: a reader
// takes its snapshot and its copies of the generations under the mutex. The
// flush in flight may have committed before that snapshot or not; its
// batch writes the marks of its sessions, so the mark of any one of them,
// read at the snapshot, says which (a generation's mark of a session is
// past any mark of it written before). A message id is looked up in both
// generations before on disk, and a generation is dropped only after its
// write, so that no flush can hide an id.
//
// Thread-safe. Lock order: a session's stripe lock, then drain_mu_, then
// flush_mu_, then mu_; inbox_mu_ is taken with no other of the buffer's
// locks held but drain_mu_.

#include <rocksdb/db.h>

#include <cstdint>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/session_id.h"
#include "agentlog/usage.h"
#include "message_id_filter.h"
#include "rate_window.h"
#include "usage_inbox.h"
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
  // Records pending past which the writer adding them flushes itself: the
  // background flush is that far behind.
  static constexpr uint64_t kMaxPendingRecords = 4 * kFlushRecords;
  // Queued records after which the thread drains the inbox. Small, so that
  // the inbox stays in the caches of the writers filling it.
  static constexpr uint64_t kDrainRecords = 128;
  // Queued records past which the writer queuing them drains the inbox
  // itself: the thread is that far behind.
  static constexpr uint64_t kMaxQueuedRecords = 32 * kDrainRecords;

  // A message id of an acknowledged record, and the record's seq.
  struct NewId {
    std::string_view message_id;
    uint64_t seq = 0;
  };

  // `totals_cf` and `ids_cf` are `usage_totals` and `usage_ids` of `db`;
  // `rates`, if not null, gets every queued record too, and must outlive
  // the buffer. A writable buffer starts its flusher thread. A read-only
  // one never writes: what a reader replayed stays in memory.
  UsageBuffer(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* totals_cf,
              rocksdb::ColumnFamilyHandle* ids_cf, RateWindows* rates,
              bool writable);
  // Stops the flusher (StopFlusher); writes nothing.
  ~UsageBuffer();
  UsageBuffer(const UsageBuffer&) = delete;
  UsageBuffer& operator=(const UsageBuffer&) = delete;

  // Queues the records of an acknowledged write of `session` (whose agent
  // and tags are `agent` and `tags`), those among `results` that are not
  // duplicates, the last of them `through_seq`, recorded at `now_ms`.
  // Wakes the thread when a drain is due. Returns whether the caller must
  // Drain itself (kMaxQueuedRecords). REQUIRES: the session's lock held.
  bool Enqueue(const SessionId& session, std::string_view agent,
               std::span<const std::string> tags,
               std::span<const RecordUsageResult> results,
               uint64_t through_seq, int64_t now_ms);
  // Applies every write queued before the call, flushing as well should
  // that leave kMaxPendingRecords pending.
  void Drain();

  // Adds `records` usage records of `session` replayed by open from disk
  // (whose agent and tags are `agent` and `tags`), the last of them
  // `through_seq`: their totals and the message ids among them.
  void AddReplayed(const SessionId& session, std::string_view agent,
                   std::span<const std::string> tags,
                   const TotalsDeltas& deltas, std::span<const NewId> ids,
                   uint64_t through_seq, uint64_t records);

  // The record that carries `message_id`, if it is queued or pending here
  // (or in the drain or flush in flight). Callers look on disk only when
  // it is not.
  std::optional<UsageRef> FindId(std::string_view message_id) {
    return FindId(message_id, MessageIdHash(message_id));
  }
  // The same, given the id's MessageIdHash.
  std::optional<UsageRef> FindId(std::string_view message_id, uint64_t hash);

  // Every message id pending here, in key order; an id of the flush in
  // flight may be on disk too.
  std::vector<std::pair<std::string, UsageRef>> PendingIds();

  // Writes everything queued or pending to `usage_totals` and `usage_ids`
  // (unsynced: the records are the durable part), after the flush in
  // flight. On failure nothing pending is dropped.
  Status Flush();
  // Flush, if anything of `session` is pending or in flight.
  Status FlushSession(const SessionId& session);
  // Stops the flusher thread once the flush it is running, if any, ends.
  // Flush and FlushSession still write; nothing else does. Idempotent.
  void StopFlusher();

  // The row of `key` (EncodeTotalsKey), on disk plus pending.
  Result<UsageTotals> Read(const std::string& key);
  // Every row whose key starts with `prefix`, in key order.
  Result<std::vector<std::pair<std::string, UsageTotals>>> Scan(
      std::string_view prefix);

 private:
  // A snapshot of the DB and the rows pending or in flight, taken
  // together: the row of `key`, or with `prefix` every row `key` starts.
  struct View;
  View Capture(std::string_view key, bool prefix);
  // Adds the rows of the flush in flight to `view`'s pending ones, unless
  // its snapshot has them already.
  Status Settle(View& view);

  // What a session has pending: the deltas not yet spread over rows, with
  // the scopes they count in, and its mark.
  struct PendingSession {
    std::string agent;
    std::vector<std::string> tags;
    TotalsDeltas deltas;
    uint64_t through_seq = 0;
  };
  // Keys looked up by std::string_view.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const {
      return std::hash<std::string_view>()(id);
    }
  };
  using IdMap = std::pmr::unordered_map<std::pmr::string, UsageRef, IdHash,
                                        std::equal_to<>>;
  // What one flush writes: pending until a flush takes it. Not movable:
  // its ids live in its arena, so the buffer hands generations over by
  // pointer.
  struct Generation {
    std::map<std::string, UsageTotals> rows;
    std::map<SessionId, PendingSession> sessions;
    // Every message id's node and bytes, which live as long as the
    // generation, come from here and go back at once with it. One
    // allocation and one free of each per record, made by the writer and
    // freed by the flusher thousands at a time, had glibc's malloc
    // consolidating the freed chunks on the writer's next large allocation:
    // about a tenth of recording usage (docs/benchmarks.md).
    std::pmr::monotonic_buffer_resource arena;
    IdMap ids{&arena};
    MessageIdFilter id_filter;  // Of `ids`.
    uint64_t records = 0;
    int64_t first_ms = -1;  // -1: nothing pending.

    Generation() = default;
    Generation(const Generation&) = delete;
    Generation& operator=(const Generation&) = delete;
    bool empty() const { return sessions.empty(); }
    // Takes in `older`, a generation whose flush failed.
    void TakeIn(Generation& older);
  };
  // Adds to pending_ what `records` records of `session` add. Returns
  // whether a flush is past due (kMaxPendingRecords). REQUIRES: mu_ held.
  template <typename Tags>
  bool AddLocked(const SessionId& session, std::string_view agent,
                 const Tags& tags, const TotalsDeltas& deltas,
                 std::span<const NewId> ids, uint64_t through_seq,
                 uint64_t records, int64_t now_ms);
  // Applies one queued write; returns whether a flush is past due.
  // noexcept: a drain stopped half way by an exception would leave its
  // batch to be applied again, counting the part already applied twice,
  // so running out of memory here ends the process, as it does anywhere on
  // the buffer's thread. REQUIRES: drain_mu_ held.
  bool Apply(const UsageInbox::Write& write) noexcept;
  // Flush without a drain first.
  Status FlushPending();
  // Adds every session's unspread deltas in pending_ to its rows.
  // REQUIRES: mu_ held.
  void Spread();
  // The ids of `maps` in key order.
  static std::vector<const IdMap::value_type*> SortedIds(
      std::initializer_list<const IdMap*> maps);
  // Writes `g` in one batch.
  Status Write(const Generation& g);
  // The flusher thread's loop.
  void RunFlusher();

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const totals_cf_;
  rocksdb::ColumnFamilyHandle* const ids_cf_;
  RateWindows* const rates_;
  const bool writable_;

  // Held for the whole of a drain: one at a time, in order.
  std::mutex drain_mu_;
  // What Apply reuses from write to write. Guarded by drain_mu_.
  TotalsDeltas apply_deltas_;
  std::vector<NewId> apply_ids_;
  // Writers queue into inbox_; a drain swaps it with the empty draining_,
  // applies that, and empties it. Both never null; the pointers and their
  // contents are guarded by inbox_mu_, but for the drain reading draining_
  // (which no one changes meanwhile) holding drain_mu_ alone.
  std::mutex inbox_mu_;
  std::unique_ptr<UsageInbox> inbox_;
  std::unique_ptr<UsageInbox> draining_;
  bool drain_asked_ = false;  // Of inbox_. Guarded by inbox_mu_.

  // Held for the whole of a flush: one at a time, in order.
  std::mutex flush_mu_;
  std::mutex mu_;
  // Never null.
  std::unique_ptr<Generation> pending_;  // Guarded by mu_.
  // The flush in flight (empty when none); never null. Changed only under
  // flush_mu_ and mu_; the flush reads it holding flush_mu_ alone.
  std::unique_ptr<Generation> flushing_;
  bool flush_wanted_ = false;  // Guarded by mu_.
  bool drain_wanted_ = false;  // Guarded by mu_.
  bool stop_ = false;          // Guarded by mu_.
  std::condition_variable wake_;
  std::thread flusher_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_BUFFER_H_
