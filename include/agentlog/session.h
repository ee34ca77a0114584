#ifndef AGENTLOG_SESSION_H_
#define AGENTLOG_SESSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/echo.h"
#include "agentlog/export.h"
#include "agentlog/lease.h"
#include "agentlog/session_id.h"

namespace agentlog {

// A session's lifecycle state. Values are persistent; never renumber.
enum class SessionStatus : uint8_t {
  kActive = 0,    // Open for work (the state of a new session).
  kIdle = 1,      // Open for work, not recently used.
  kArchived = 2,  // Read-only; writes get FailedPrecondition.
  kEvicted = 3,   // Removed by eviction policy.
  kDeleted = 4,   // Removed by an explicit delete.
};

// "active", "idle", "archived", "evicted" or "deleted".
AGENTLOG_EXPORT std::string_view SessionStatusName(SessionStatus status);

// Token counts by kind.
struct TokenCounts {
  uint64_t input = 0;
  uint64_t output = 0;
  uint64_t cache_read = 0;
  uint64_t cache_write = 0;

  uint64_t total() const { return input + output + cache_read + cache_write; }
  friend bool operator==(const TokenCounts&, const TokenCounts&) = default;
};

// What a host supplies to create a session. Every field is checked against
// the limits in Options before anything is written.
struct SessionSpec {
  // The agent that owns the session. Required; at most
  // Options::max_name_bytes, valid UTF-8.
  std::string agent;
  // The model it talks to. Optional; at most Options::max_name_bytes.
  std::string model;
  // A human title. Optional; at most Options::max_title_bytes.
  std::string title;
  // Labels for search. Each non-empty, at most Options::max_tag_bytes, at most
  // Options::max_tags of them; duplicates are merged, order is kept.
  std::vector<std::string> tags;
  // Opaque host bytes; at most Options::max_metadata_bytes.
  std::string metadata;
  // The model's context window in tokens; 0 when unknown.
  uint64_t context_window = 0;
  // Pinned sessions are never evicted.
  bool pinned = false;
};

// A stored session.
struct Session {
  SessionId id;
  std::string agent;
  std::string model;
  std::string title;
  std::vector<std::string> tags;
  std::string metadata;
  SessionStatus status = SessionStatus::kActive;
  int64_t created_ms = 0;      // Unix milliseconds.
  // Unix milliseconds; moves with every write, and with reads when
  // Options::reads_count_as_activity (written lazily: see there).
  int64_t last_active_ms = 0;
  uint64_t context_window = 0;
  bool pinned = false;

  // Totals kept in the same atomic write as the turns they count.
  uint64_t turn_count = 0;  // Turns numbered 1..turn_count exist.
  uint64_t completed_turns = 0;
  uint64_t failed_turns = 0;
  TokenCounts tokens;       // Sum over completed turns.
  int64_t cost_micros = 0;  // Sum over completed turns, micro-dollars.
  // Turns still processing, ascending.
  std::vector<uint64_t> processing_turns;

  // Checkpoints: versions oldest_checkpoint..last_checkpoint can be read
  // (both 0 when the session has none).
  uint64_t last_checkpoint = 0;
  uint64_t oldest_checkpoint = 0;
  // Versions this session keeps; 0 means Options::checkpoint_keep_last.
  uint32_t checkpoint_keep_last = 0;

  // The lease (Store::AcquireLease); lease.session is this session's id.
  Lease lease;

  // Counts of its turns' echo verdicts (Store::EchoStats).
  EchoStats echo;

  // Usage records of the session (Store::RecordUsage), numbered
  // 1..usage_records.
  uint64_t usage_records = 0;
  // The newest usage record's prompt and response tokens: the context the
  // session's next call sends again (Store::PredictOverflow).
  uint64_t context_tokens = 0;

  // Retention by age (Options::turn_max_age, usage_max_age): turns
  // oldest_turn..turn_count and usage records oldest_usage..usage_records
  // can be read; older ones were pruned. 0 or 1: none pruned. The totals
  // above still count what was pruned.
  uint64_t oldest_turn = 0;
  uint64_t oldest_usage = 0;
};

// A partial update of a session; fields left empty are unchanged. Limits as
// in SessionSpec.
struct SessionUpdate {
  std::optional<std::string> title;
  std::optional<std::vector<std::string>> tags;  // Replaces every tag.
  std::optional<std::string> metadata;
  std::optional<uint64_t> context_window;
  std::optional<bool> pinned;
};

// Pagination over sessions in id (creation time) order.
struct SessionListOptions {
  // Start after this id; the zero id starts at the beginning.
  SessionId after;
  // At most this many sessions; 0 means no limit.
  size_t limit = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_SESSION_H_
