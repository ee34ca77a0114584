#include "rate_window.h"

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

void RateWindows::Prune(std::deque<Event>& events, int64_t now_ms) const {
  while (!events.empty() && events.front().ms <= now_ms - horizon_ms_) {
    events.pop_front();
  }
}

void RateWindows::Record(std::span<const SpendScope> scopes, int64_t ms,
                         uint64_t tokens) {
  std::lock_guard lock(mu_);
  for (const SpendScope& s : scopes) {
    const std::string& key = WindowKey(s.scope, s.name, key_buffer_);
    auto it = windows_.find(key);
    if (it == windows_.end()) it = windows_.emplace(key, std::deque<Event>()).first;
    std::deque<Event>& events = it->second;
    Prune(events, ms);
    // Concurrent writers may arrive slightly out of time order; keeping the
    // deque sorted keeps Check's arithmetic right.
    auto at = events.end();
    while (at != events.begin() && std::prev(at)->ms > ms) --at;
    events.insert(at, Event{ms, tokens});
  }
  // Forget scopes whose window emptied: a sweep every kSweepEvery records
  // keeps idle sessions from piling up at a cost amortised to O(1).
  if (++records_since_sweep_ >= kSweepEvery) {
    records_since_sweep_ = 0;
    for (auto it = windows_.begin(); it != windows_.end();) {
      Prune(it->second, ms);
      it = it->second.empty() ? windows_.erase(it) : std::next(it);
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
  std::deque<Event>& events = it->second;
  Prune(events, now_ms);
  const int64_t start = now_ms - window.count();  // Exclusive.
  auto first = events.begin();
  while (first != events.end() && first->ms <= start) ++first;
  for (auto e = first; e != events.end(); ++e) {
    d.window_tokens += e->tokens;
    ++d.window_requests;
  }
  auto over = [&](uint64_t tokens, uint64_t requests) {
    return (max_tokens != 0 && tokens >= max_tokens) ||
           (max_requests != 0 && requests >= max_requests);
  };
  if (!over(d.window_tokens, d.window_requests)) return d;
  d.allowed = false;
  // The oldest events leave the window first: find the one whose leaving
  // brings both counts below their maxima.
  uint64_t tokens = d.window_tokens;
  uint64_t requests = d.window_requests;
  for (auto e = first; e != events.end(); ++e) {
    tokens -= e->tokens;
    --requests;
    if (!over(tokens, requests)) {
      d.wait = std::chrono::milliseconds(e->ms + window.count() - now_ms);
      break;
    }
  }
  return d;
}

}  // namespace agentlog::internal
