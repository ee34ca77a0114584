#ifndef AGENTLOG_SRC_USAGE_INBOX_H_
#define AGENTLOG_SRC_USAGE_INBOX_H_

// Acknowledged usage writes queued for the in-memory accounting: the totals
// and message ids of UsageBuffer and the windows of RateWindows.
//
// Adding a write to those costs cache misses in maps of thousands of
// entries, about a microsecond of the ten a usage record adds to a
// completion (docs/benchmarks.md). The writer queues the write here
// instead, a few copies into memory it touched a moment ago, and the
// buffer's flusher thread applies a batch of them at a time (usage_buffer.h
// says when, and how readers see the queued ones).
//
// One inbox is one batch. Its strings and arrays live in an arena that
// starts in a fixed block and is reset, not freed, when the batch has been
// applied: in the steady state queuing allocates nothing. Its message ids
// are found by a small open-addressing table of their hashes.
//
// Not thread-safe: UsageBuffer guards each inbox.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/session_id.h"
#include "agentlog/usage.h"
#include "usage_keys.h"

namespace agentlog::internal {

class UsageInbox {
 public:
  // One usage record of a queued write (duplicates are never queued).
  struct Record {
    std::string_view model;
    std::string_view operation;
    std::string_view message_id;  // Empty: none.
    uint64_t seq = 0;
    int64_t recorded_ms = 0;
    uint64_t tokens = 0;  // All four kinds.
    UsageTotals delta;    // What it adds to each row of its scopes.
  };
  // One acknowledged write: its session, the scopes the session spends in
  // (its agent and tags when written), and its records, in seq order.
  struct Write {
    SessionId session;
    std::string_view agent;
    std::span<const std::string_view> tags;
    std::span<const Record> records;
    uint64_t through_seq = 0;  // The session's last usage seq after it.
    int64_t now_ms = 0;
  };

  UsageInbox();
  UsageInbox(const UsageInbox&) = delete;
  UsageInbox& operator=(const UsageInbox&) = delete;

  // Queues the records among `results` that are not duplicates, of
  // `session` spending as `agent` and `tags`, at `now_ms`. Nothing is
  // queued when all are duplicates.
  void Add(const SessionId& session, std::string_view agent,
           std::span<const std::string> tags,
           std::span<const RecordUsageResult> results, uint64_t through_seq,
           int64_t now_ms);

  // The record carrying `message_id` (whose MessageIdHash is `hash`), if
  // queued here.
  std::optional<UsageRef> FindId(std::string_view message_id,
                                 uint64_t hash) const;

  // The queued writes, in the order they were added.
  std::span<const Write> writes() const { return writes_; }
  uint64_t records() const { return records_; }
  bool empty() const { return writes_.empty(); }

  // Forgets every write, keeping the memory for the next batch.
  void Clear();

 private:
  struct Id {
    uint64_t hash;
    std::string_view message_id;
    UsageRef ref;
  };
  // Bytes of the arena's first block, reused batch after batch: room for
  // a few hundred records, more than a batch usually gathers.
  static constexpr size_t kArenaBlockBytes = 64 << 10;
  static constexpr size_t kFirstSlots = 1024;  // A power of two.

  std::string_view Copy(std::string_view text);
  // The slot where `hash` is, or the empty one where it would go.
  size_t Probe(uint64_t hash, std::string_view message_id) const;
  // Doubles the table, keeping it at most half full.
  void Grow();

  const std::unique_ptr<std::byte[]> block_;
  std::pmr::monotonic_buffer_resource arena_;
  std::vector<Write> writes_;
  std::vector<Id> ids_;
  // Index into ids_ plus one; 0 is empty.
  std::vector<uint32_t> slots_;
  uint64_t records_ = 0;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_INBOX_H_
