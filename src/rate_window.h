#ifndef AGENTLOG_SRC_RATE_WINDOW_H_
#define AGENTLOG_SRC_RATE_WINDOW_H_

// Recent usage per scope, for Store::CheckRate: every usage record's time
// and tokens, in each of its scopes, for the last Options::max_rate_window.
// In memory only (a restart starts every window empty); memory grows with
// the rate of usage records, not their number.
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agentlog/usage.h"
#include "budget_ledger.h"

namespace agentlog::internal {

class RateWindows {
 public:
  explicit RateWindows(std::chrono::milliseconds horizon)
      : horizon_ms_(horizon.count()) {}

  // One usage record of `tokens` at `ms` in each of `scopes`.
  void Record(std::span<const SpendScope> scopes, int64_t ms,
              uint64_t tokens);
  // Whether the scope's usage in (now - window, now] is below both maxima
  // (0: no limit on that count), and if not, the wait until it will be.
  // REQUIRES: window <= the horizon.
  RateDecision Check(UsageScope scope, std::string_view name,
                     std::chrono::milliseconds window, uint64_t max_tokens,
                     uint64_t max_requests, int64_t now_ms);

 private:
  struct Event {
    int64_t ms;
    uint64_t tokens;
  };
  void Prune(std::deque<Event>& events, int64_t now_ms) const;

  const int64_t horizon_ms_;
  std::mutex mu_;
  // By scope byte and name (WindowKey); hashed, as every usage record
  // looks up five or more. Guarded by mu_.
  std::unordered_map<std::string, std::deque<Event>> windows_;
  static constexpr uint64_t kSweepEvery = 4096;
  uint64_t records_since_sweep_ = 0;  // Guarded by mu_.
  std::string key_buffer_;            // Guarded by mu_; see WindowKey.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RATE_WINDOW_H_
