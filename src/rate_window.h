#ifndef AGENTLOG_SRC_RATE_WINDOW_H_
#define AGENTLOG_SRC_RATE_WINDOW_H_

// Recent usage per scope, for Store::CheckRate: the tokens and requests of
// every usage record in each of its scopes, for the last
// Options::max_rate_window. In memory only (a restart starts every window
// empty).
//
// A scope's usage is kept in buckets of time, exact for the recent past and
// coarser the older it is: a bucket never spans more than 1/kPrecision of
// its age. A window of any length then sums exactly but for the one bucket
// its start may cut, which is counted whole, so that an answer errs only
// towards refusing, by at most 1/kPrecision of the window (in the wait it
// names, too). In exchange a scope holds O(kPrecision * log(horizon / 1 ms))
// buckets however many records it sees: a busy store's scopes used to keep
// 16 bytes per record for the whole horizon, over 5 GB at 20,000 records a
// second with the default hour.
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agentlog/usage.h"
#include "budget_ledger.h"

namespace agentlog::internal {

class RateWindows {
 public:
  // A bucket spans at most 1/kPrecision of its age.
  static constexpr int64_t kPrecision = 64;

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

  // Bytes held, approximately: for the store's memory report.
  uint64_t MemoryBytes();
  // Buckets held by the window of `scope` and `name`: for tests.
  size_t BucketsForTesting(UsageScope scope, std::string_view name);

 private:
  // The records of [first_ms, last_ms].
  struct Bucket {
    int64_t first_ms;
    int64_t last_ms;
    uint64_t tokens;
    uint64_t requests;
  };
  struct Window {
    // By time, oldest first. A vector, not a deque: new buckets go at the
    // end, compaction shrinks it in place, and buckets leave from the front
    // only as they age past the horizon (a few at a time: by then each
    // spans up to 1/kPrecision of it), so it stops allocating once grown,
    // where a deque allocated and freed a block every few records of each
    // scope.
    std::vector<Bucket> buckets;
    size_t compact_at = kFirstCompaction;
  };
  // Buckets a window may hold before it is first compacted; after each
  // compaction, twice what is left, so compacting costs O(1) a record.
  static constexpr size_t kFirstCompaction = 64;

  void Add(Window& window, int64_t ms, uint64_t tokens);
  // Merges neighbouring buckets as far as their age allows.
  static void Compact(Window& window, int64_t now_ms);
  void Prune(Window& window, int64_t now_ms) const;

  const int64_t horizon_ms_;
  std::mutex mu_;
  // By scope byte and name (WindowKey); hashed, as every usage record
  // looks up five or more. Guarded by mu_.
  std::unordered_map<std::string, Window> windows_;
  static constexpr uint64_t kSweepEvery = 4096;
  uint64_t records_since_sweep_ = 0;  // Guarded by mu_.
  std::string key_buffer_;            // Guarded by mu_; see WindowKey.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RATE_WINDOW_H_
