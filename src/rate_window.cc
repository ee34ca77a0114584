#include "rate_window.h"

#include <algorithm>
#include <utility>

namespace agentlog::internal {
namespace {

// Writes the key of the window of `scope` and `name` into `key`, reusing
// its buffer: no allocation per lookup once it has grown.
const std::string& WindowKey(UsageScope scope, std::string_view name,
                             std::string& key) {
  key.assign(1, static_cast<char>(scope));
  key.append(name);
  return key;
}

}  // namespace

void RateWindows::Prune(Window& window, int64_t now_ms) const {
  auto& buckets = window.buckets;
  auto live = buckets.begin();
  while (live != buckets.end() && live->last_ms <= now_ms - horizon_ms_) {
    ++live;
  }
  buckets.erase(buckets.begin(), live);
}

void RateWindows::Compact(Window& window, int64_t now_ms) {
  auto& buckets = window.buckets;
  if (!buckets.empty()) {
    // Greedily from the oldest: a bucket takes in its successor while the
    // two together span at most 1/kPrecision of their age. Ages only grow,
    // so a bucket keeps that bound once it has it.
    size_t kept = 0;
    for (size_t i = 1; i < buckets.size(); ++i) {
      Bucket& last = buckets[kept];
      const Bucket& next = buckets[i];
      const int64_t span = next.last_ms - last.first_ms;
      if (span * kPrecision <= now_ms - next.last_ms) {
        last.last_ms = next.last_ms;
        last.tokens += next.tokens;
        last.requests += next.requests;
      } else {
        buckets[++kept] = next;
      }
    }
    buckets.resize(kept + 1);
  }
  window.compact_at = std::max(kFirstCompaction, 2 * buckets.size());
}

void RateWindows::Add(Window& window, int64_t ms, uint64_t tokens) {
  auto& buckets = window.buckets;
  Prune(window, ms);
  // Concurrent writers may arrive slightly out of time order: the record
  // joins the newest bucket that began at or before it, which keeps the
  // buckets in time order and each record no later than it was.
  auto at = buckets.end();
  while (at != buckets.begin() && std::prev(at)->first_ms > ms) --at;
  if (at != buckets.begin() && std::prev(at)->last_ms >= ms) {
    // Inside a bucket already (the same millisecond, or a late record).
    std::prev(at)->tokens += tokens;
    ++std::prev(at)->requests;
    return;
  }
  buckets.insert(at, Bucket{ms, ms, tokens, 1});
  if (buckets.size() >= window.compact_at) Compact(window, ms);
}

void RateWindows::Record(std::span<const SpendScope> scopes, int64_t ms,
                         uint64_t tokens) {
  std::lock_guard lock(mu_);
  for (const SpendScope& s : scopes) {
    const std::string& key = WindowKey(s.scope, s.name, key_buffer_);
    auto it = windows_.find(key);
    if (it == windows_.end()) it = windows_.emplace(key, Window()).first;
    Add(it->second, ms, tokens);
  }
  // Forget scopes whose window emptied: a sweep every kSweepEvery records
  // keeps idle sessions from piling up at a cost amortised to O(1).
  if (++records_since_sweep_ >= kSweepEvery) {
    records_since_sweep_ = 0;
    for (auto it = windows_.begin(); it != windows_.end();) {
      Prune(it->second, ms);
      it = it->second.buckets.empty() ? windows_.erase(it) : std::next(it);
    }
  }
}

RateDecision RateWindows::Check(UsageScope scope, std::string_view name,
                                std::chrono::milliseconds window,
                                uint64_t max_tokens, uint64_t max_requests,
                                int64_t now_ms) {
  std::lock_guard lock(mu_);
  RateDecision d;
  const auto it = windows_.find(WindowKey(scope, name, key_buffer_));
  if (it == windows_.end()) return d;
  Prune(it->second, now_ms);
  const auto& buckets = it->second.buckets;
  const int64_t start = now_ms - window.count();  // Exclusive.
  // A bucket counts whole if any of it may be inside the window.
  auto first = buckets.begin();
  while (first != buckets.end() && first->last_ms <= start) ++first;
  for (auto b = first; b != buckets.end(); ++b) {
    d.window_tokens += b->tokens;
    d.window_requests += b->requests;
  }
  auto over = [&](uint64_t tokens, uint64_t requests) {
    return (max_tokens != 0 && tokens >= max_tokens) ||
           (max_requests != 0 && requests >= max_requests);
  };
  if (!over(d.window_tokens, d.window_requests)) return d;
  d.allowed = false;
  // The oldest buckets leave the window first, each once its last record
  // has: find the one whose leaving brings both counts below their maxima.
  uint64_t tokens = d.window_tokens;
  uint64_t requests = d.window_requests;
  for (auto b = first; b != buckets.end(); ++b) {
    tokens -= b->tokens;
    requests -= b->requests;
    if (!over(tokens, requests)) {
      d.wait = std::chrono::milliseconds(b->last_ms + window.count() - now_ms);
      break;
    }
  }
  return d;
}

uint64_t RateWindows::MemoryBytes() {
  std::lock_guard lock(mu_);
  // A hash node (its link, cached hash, key and window, with malloc's
  // overhead), then the key's and the buckets' arrays.
  constexpr uint64_t kPerWindow =
      sizeof(std::pair<const std::string, Window>) + 3 * sizeof(void*);
  uint64_t bytes = windows_.bucket_count() * sizeof(void*);
  for (const auto& [key, window] : windows_) {
    bytes += kPerWindow + key.capacity() +
             window.buckets.capacity() * sizeof(Bucket);
  }
  return bytes;
}

size_t RateWindows::BucketsForTesting(UsageScope scope,
                                      std::string_view name) {
  std::lock_guard lock(mu_);
  const auto it = windows_.find(WindowKey(scope, name, key_buffer_));
  return it == windows_.end() ? 0 : it->second.buckets.size();
}

}  // namespace agentlog::internal
