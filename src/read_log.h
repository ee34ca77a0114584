#ifndef AGENTLOG_SRC_READ_LOG_H_
#define AGENTLOG_SRC_READ_LOG_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agentlog/session_id.h"

namespace agentlog::internal {

// When sessions were last read, between the moments StoreImpl writes those
// times into their records (Options::reads_count_as_activity): reads count
// as activity for eviction without a write per read.
//
// Thread-safe; sharded by session so that readers of different sessions
// rarely share a lock.
class ReadLog {
 public:
  // Sessions remembered between two Takes; reads of further sessions are
  // not noted until the next Take. Bounds the log's memory (about 64 bytes
  // a session) when nothing drains it.
  static constexpr size_t kMaxSessions = size_t{1} << 16;

  ReadLog() = default;
  ReadLog(const ReadLog&) = delete;
  ReadLog& operator=(const ReadLog&) = delete;

  // Notes that `id` was read at `ms` (keeps the latest time per session).
  void Note(const SessionId& id, int64_t ms);
  // The latest read of `id` noted since the last Take, if any.
  std::optional<int64_t> Latest(const SessionId& id) const;
  // Every read noted, emptying the log.
  std::vector<std::pair<SessionId, int64_t>> Take();
  // Sessions noted since the last Take.
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<SessionId, int64_t> latest;  // Guarded by mu.
  };
  Shard& ShardFor(const SessionId& id);
  const Shard& ShardFor(const SessionId& id) const;

  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_READ_LOG_H_
