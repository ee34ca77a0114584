#ifndef AGENTLOG_SEARCH_H_
#define AGENTLOG_SEARCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agentlog/session.h"
#include "agentlog/session_id.h"

namespace agentlog {

// The order of Store::Search results. Every order is total: sessions with
// equal keys follow their ids.
enum class SessionSort : uint8_t {
  kCreated = 0,     // Creation order (session ids are time-ordered).
  kLastActive = 1,  // Session::last_active_ms.
  kCost = 2,        // Session::cost_micros.
};

// A search over the store's in-memory session index (Store::Search). Every
// filter given must hold; filters left empty match everything. Ranges are
// half-open, [from, before) for times, inclusive for cost and tokens.
struct SessionQuery {
  std::vector<std::string> all_tags;  // Tagged with every one of these.
  std::vector<std::string> any_tags;  // With at least one (when not empty).
  std::vector<std::string> no_tags;   // With none of these.
  // Empty: active and idle sessions; archived ones only when named here.
  std::vector<SessionStatus> statuses;
  std::optional<std::string> agent;
  std::optional<std::string> model;
  std::optional<int64_t> created_from_ms;
  std::optional<int64_t> created_before_ms;
  std::optional<int64_t> active_from_ms;  // On Session::last_active_ms.
  std::optional<int64_t> active_before_ms;
  std::optional<int64_t> min_cost_micros;
  std::optional<int64_t> max_cost_micros;
  std::optional<uint64_t> min_tokens;  // On Session::tokens.total().
  std::optional<uint64_t> max_tokens;
  std::string title_prefix;  // Byte-wise; empty matches every title.

  SessionSort sort = SessionSort::kCreated;
  bool descending = false;
  // At most this many results; 0 means no limit.
  size_t limit = 100;
  // Empty for the first page; else a SessionPage::next_cursor from the same
  // query. A cursor names a position in the order, not a result: it stays
  // valid while sessions are added, changed or deleted, and a session whose
  // sort key moves past it may be seen twice or not at all.
  std::string cursor;
};

// A search result: what the index holds of a session. Store::GetSession
// reads the rest.
struct SessionSummary {
  SessionId id;
  std::string agent;
  std::string model;
  std::vector<std::string> tags;
  SessionStatus status = SessionStatus::kActive;
  bool pinned = false;
  int64_t created_ms = 0;
  int64_t last_active_ms = 0;
  int64_t cost_micros = 0;
  uint64_t tokens = 0;  // Session::tokens.total().

  friend bool operator==(const SessionSummary&,
                         const SessionSummary&) = default;
};

struct SessionPage {
  std::vector<SessionSummary> sessions;
  // Non-empty when more sessions match: pass it as SessionQuery::cursor.
  std::string next_cursor;
};

// How many sessions were created how long ago (Store::Stats).
struct AgeBucket {
  int64_t younger_than_ms = 0;  // 0: the last bucket, with every older one.
  uint64_t sessions = 0;
};

// Counts over the sessions in the index (Store::Stats).
struct SessionStats {
  uint64_t sessions = 0;
  std::vector<std::pair<SessionStatus, uint64_t>> by_status;
  // Names with their counts, most sessions first.
  std::vector<std::pair<std::string, uint64_t>> by_agent;
  std::vector<std::pair<std::string, uint64_t>> by_model;
  std::vector<std::pair<std::string, uint64_t>> by_tag;
  // By creation age: under an hour, a day, a week, 30 days, 365 days, older.
  std::vector<AgeBucket> by_age;
  // Memory the index holds (vectors by capacity, bitmaps by their
  // serialized size, name dictionaries estimated).
  uint64_t index_bytes = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_SEARCH_H_
