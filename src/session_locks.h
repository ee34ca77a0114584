#ifndef AGENTLOG_SRC_SESSION_LOCKS_H_
#define AGENTLOG_SRC_SESSION_LOCKS_H_

#include <array>
#include <functional>
#include <mutex>

#include "agentlog/session_id.h"

namespace agentlog::internal {

// Serialises writers of one session while writers of different sessions run
// in parallel: a fixed array of mutexes indexed by the id's hash. Two
// sessions may share a stripe; that only costs parallelism, never
// correctness. The lock is held across the read-modify-write of the session
// record and the WAL write, which is what makes turn numbering gap-free.
class SessionLocks {
 public:
  [[nodiscard]] std::unique_lock<std::mutex> Lock(const SessionId& id) {
    return std::unique_lock<std::mutex>(
        stripes_[std::hash<SessionId>()(id) % kStripes].mu);
  }

 private:
  static constexpr size_t kStripes = 256;
  // Padded so that neighbouring stripes do not share a cache line.
  struct alignas(64) Stripe {
    std::mutex mu;
  };
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SESSION_LOCKS_H_
