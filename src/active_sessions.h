#ifndef AGENTLOG_SRC_ACTIVE_SESSIONS_H_
#define AGENTLOG_SRC_ACTIVE_SESSIONS_H_

// The sessions hosts hold handles on (Store::AcquireSession), the lifecycle
// counters, and the wait of a graceful shutdown. In memory only: handles
// end with the process.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "agentlog/clock.h"
#include "agentlog/lifecycle.h"
#include "agentlog/result.h"
#include "agentlog/session_id.h"

namespace agentlog::internal {

// Thread-safe. Shared by the store and its handles, so that a handle may
// outlive the store.
class ActiveSessions : public std::enable_shared_from_this<ActiveSessions> {
 public:
  ActiveSessions(size_t max_active, std::shared_ptr<Clock> clock)
      : max_active_(max_active), clock_(std::move(clock)) {}

  // ShuttingDown once Shutdown began, else OK.
  Status CheckAccepting() const;
  // A creation begins (ShuttingDown once Shutdown began) / has written its
  // session. Drain waits for the writes in flight, so that Shutdown's sync
  // covers them.
  Status BeginCreate();
  void EndCreate();
  // Keeps `id` from eviction while its creation has not returned (another
  // creation at the cap must not evict it before its creator saw it).
  void Protect(const SessionId& id);
  void Unprotect(const SessionId& id);
  // A handle on `id`. REQUIRES: the caller found the session.
  // Errors: ShuttingDown, Busy (a handle on `id` is held),
  // ResourceExhausted (max_active handles are held).
  Result<SessionHandle> Acquire(const SessionId& id);
  // Called by SessionHandle::Release.
  void Release(const SessionId& id, SessionOutcome outcome);
  // Held through a handle, or protected.
  bool IsActive(const SessionId& id) const;

  // Refuses new handles and creations from now on, waits up to `timeout`
  // for the held handles to be released, then for the creations in flight
  // (each one write) to end. Fills everything but `duration`.
  ShutdownReport Drain(std::chrono::milliseconds timeout);

  void CountCreated() { created_.fetch_add(1, std::memory_order_relaxed); }
  void CountEvicted() { evicted_.fetch_add(1, std::memory_order_relaxed); }
  void CountMetadataRejected() {
    rejected_metadata_.fetch_add(1, std::memory_order_relaxed);
  }
  // Moves the metadata bytes of the store's sessions by `delta`.
  void AddMetadataBytes(int64_t delta) {
    metadata_bytes_.fetch_add(delta, std::memory_order_relaxed);
  }

  SessionLifecycle Figures() const;

 private:
  // ShuttingDown once Drain began. REQUIRES: mu_ held.
  Status RefuseIfDraining() const;

  const size_t max_active_;
  const std::shared_ptr<Clock> clock_;

  mutable std::mutex mu_;
  std::condition_variable released_cv_;
  // Held handles and when they were acquired (store clock, ms).
  std::unordered_map<SessionId, int64_t> held_;  // Guarded by mu_.
  bool draining_ = false;                        // Guarded by mu_.
  uint64_t creating_ = 0;                        // Guarded by mu_.
  std::unordered_set<SessionId> protected_;      // Guarded by mu_.
  uint64_t completed_ = 0;                       // Guarded by mu_.
  uint64_t failed_ = 0;                          // Guarded by mu_.
  uint64_t timed_out_ = 0;                       // Guarded by mu_.
  uint64_t rejected_capacity_ = 0;               // Guarded by mu_.
  uint64_t peak_ = 0;                            // Guarded by mu_.
  uint64_t held_ms_total_ = 0;                   // Guarded by mu_.

  std::atomic<uint64_t> created_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> rejected_metadata_{0};
  std::atomic<int64_t> metadata_bytes_{0};
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_ACTIVE_SESSIONS_H_
