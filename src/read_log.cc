#include "read_log.h"

#include <algorithm>
#include <functional>

namespace agentlog::internal {

ReadLog::Shard& ReadLog::ShardFor(const SessionId& id) {
  return shards_[std::hash<SessionId>()(id) % kShards];
}

const ReadLog::Shard& ReadLog::ShardFor(const SessionId& id) const {
  return shards_[std::hash<SessionId>()(id) % kShards];
}

void ReadLog::Note(const SessionId& id, int64_t ms) {
  Shard& shard = ShardFor(id);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.latest.find(id);
  if (it != shard.latest.end()) {
    it->second = std::max(it->second, ms);
    return;
  }
  // Full: a read of a session the log does not hold yet waits for the next
  // drain. The check races with other shards, overshooting by a few at most.
  if (size() >= kMaxSessions) return;
  shard.latest.emplace(id, ms);
  size_.fetch_add(1, std::memory_order_relaxed);
}

std::optional<int64_t> ReadLog::Latest(const SessionId& id) const {
  const Shard& shard = ShardFor(id);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.latest.find(id);
  if (it == shard.latest.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<SessionId, int64_t>> ReadLog::Take() {
  std::vector<std::pair<SessionId, int64_t>> out;
  out.reserve(size());
  for (Shard& shard : shards_) {
    std::unordered_map<SessionId, int64_t> taken;
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      taken.swap(shard.latest);
      size_.fetch_sub(taken.size(), std::memory_order_relaxed);
    }
    out.insert(out.end(), taken.begin(), taken.end());
  }
  return out;
}

}  // namespace agentlog::internal
