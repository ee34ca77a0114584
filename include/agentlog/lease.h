#ifndef AGENTLOG_LEASE_H_
#define AGENTLOG_LEASE_H_

#include <cstdint>
#include <string>

#include "agentlog/session_id.h"

namespace agentlog {

// The lease on a session (Store::AcquireLease): one worker at a time.
struct Lease {
  SessionId session;
  // The holder; empty when the lease was released (or never taken).
  std::string owner;
  // The fencing token of the newest lease on this session: 1, 2, 3... It
  // only grows, across release, expiry and restart. A write carrying an
  // older token (WriteOptions::fencing_token) is refused.
  uint64_t token = 0;
  int64_t acquired_ms = 0;  // Unix milliseconds; 0 when never leased.
  int64_t expires_ms = 0;   // The holder's lease ends then.

  // True when `owner` holds the lease at `now_ms`.
  bool held(int64_t now_ms) const {
    return !owner.empty() && now_ms < expires_ms;
  }

  friend bool operator==(const Lease&, const Lease&) = default;
};

}  // namespace agentlog

#endif  // AGENTLOG_LEASE_H_
