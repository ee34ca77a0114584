#ifndef AGENTLOG_LIFECYCLE_H_
#define AGENTLOG_LIFECYCLE_H_

// Active sessions, their handles, lifecycle figures and graceful shutdown.

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/session_id.h"

namespace agentlog {

namespace internal {
class ActiveSessions;
}  // namespace internal

// How the work a handle covered ended (SessionHandle::Release). Values are
// persistent in hosts' metrics; never renumber.
enum class SessionOutcome : uint8_t {
  kCompleted = 0,
  kFailed = 1,
  kTimedOut = 2,
};

// A host's claim that it is working on a session (Store::AcquireSession).
// While held, the session counts against Options::max_active_sessions and is
// never evicted; releasing it frees the slot and wakes a waiting Shutdown.
//
// Movable, not copyable. Destroying a held handle releases it as
// kCompleted. A handle may outlive its store: releasing it then only drops
// it. Not thread-safe: one handle, one thread at a time (distinct handles
// may be used from any threads).
class AGENTLOG_EXPORT SessionHandle {
 public:
  SessionHandle() = default;
  SessionHandle(SessionHandle&& other) noexcept;
  SessionHandle& operator=(SessionHandle&& other) noexcept;
  SessionHandle(const SessionHandle&) = delete;
  SessionHandle& operator=(const SessionHandle&) = delete;
  ~SessionHandle();

  const SessionId& session() const { return session_; }
  // False once released (or moved from, or default constructed).
  bool held() const { return registry_ != nullptr; }
  // Ends the claim, counting it with `outcome`. Does nothing when not held.
  void Release(SessionOutcome outcome = SessionOutcome::kCompleted);

 private:
  friend class internal::ActiveSessions;
  SessionHandle(std::shared_ptr<internal::ActiveSessions> registry,
                const SessionId& session)
      : registry_(std::move(registry)), session_(session) {}

  std::shared_ptr<internal::ActiveSessions> registry_;
  SessionId session_;
};

// Figures on sessions and handles since the store was opened (not kept
// across restarts, like every counter of Store::Metrics).
struct SessionLifecycle {
  uint64_t created = 0;  // Sessions created.
  // Sessions evicted (Options::max_sessions, evict_inactive_after).
  uint64_t evicted = 0;
  // Handles released, by outcome.
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t timed_out = 0;
  // AcquireSession refused for Options::max_active_sessions.
  uint64_t rejected_for_capacity = 0;
  // CreateSession or UpdateSession refused for Options::max_metadata_bytes.
  uint64_t rejected_for_metadata_size = 0;
  uint64_t active = 0;       // Handles held now.
  uint64_t peak_active = 0;  // The most held at once.
  // Total milliseconds of the released handles, by the store's clock.
  uint64_t held_ms_total = 0;
  // Metadata bytes of every session in the store (exact: counted at open,
  // kept in step by every write).
  uint64_t metadata_bytes = 0;

  uint64_t released() const { return completed + failed + timed_out; }
  // Shares of the released handles, 0 when none was released.
  double success_rate() const { return Share(completed); }
  double error_rate() const { return Share(failed); }
  double timeout_rate() const { return Share(timed_out); }
  // Mean time a released handle was held, 0 when none was released.
  double average_duration_ms() const {
    return released() == 0 ? 0.0
                           : static_cast<double>(held_ms_total) /
                                 static_cast<double>(released());
  }

 private:
  double Share(uint64_t n) const {
    return released() == 0 ? 0.0
                           : static_cast<double>(n) /
                                 static_cast<double>(released());
  }
};

// What Store::EnforceRetention evicted and pruned.
struct RetentionRun {
  // For Options::evict_inactive_after, by status: active, idle, archived.
  uint64_t inactive_active = 0;
  uint64_t inactive_idle = 0;
  uint64_t inactive_archived = 0;
  // For Options::max_sessions.
  uint64_t over_limit = 0;
  // For Options::max_bytes.
  uint64_t over_bytes = 0;
  // Stubs of earlier evictions removed, compaction having dropped every
  // record of their sessions (not counted in total()).
  uint64_t stubs_dropped = 0;
  // Records pruned by age (Options::turn_max_age, usage_max_age,
  // checkpoint_max_age), and the sessions they were pruned from (not
  // counted in total()).
  uint64_t turns_pruned = 0;
  uint64_t usage_pruned = 0;
  uint64_t checkpoints_pruned = 0;
  uint64_t sessions_pruned = 0;

  // Sessions evicted.
  uint64_t total() const {
    return inactive_active + inactive_idle + inactive_archived + over_limit +
           over_bytes;
  }
};

// What Store::Shutdown did. The figures of the end are taken after the wait
// for handles (which the timeout bounds) and the wait for creations in
// flight (which it does not), so `timeout_reached` may be true while
// `active_at_end` is 0: a handle released in between.
struct ShutdownReport {
  std::chrono::microseconds duration{0};
  uint64_t active_at_start = 0;
  uint64_t active_at_end = 0;
  // Handles released while Shutdown waited, whatever their outcome.
  uint64_t completed_during_shutdown = 0;
  // True when the timeout ended the wait with handles still held.
  bool timeout_reached = false;
  // The sessions whose handles were still held, in id order.
  std::vector<SessionId> still_active;
};

}  // namespace agentlog

#endif  // AGENTLOG_LIFECYCLE_H_
