#ifndef AGENTLOG_SRC_WAL_SYNCER_H_
#define AGENTLOG_SRC_WAL_SYNCER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "periodic_task.h"

namespace agentlog::internal {

// Fsyncs the WAL every `interval` when buffered writes happened since the
// last sync: the power-loss bound of Durability::kBuffered.
//
// Thread-safe: MarkDirty may be called from any thread.
class WalSyncer {
 public:
  // `sync` fsyncs the WAL and says whether it succeeded.
  WalSyncer(std::function<bool()> sync, std::chrono::milliseconds interval);
  // Stops the thread; a final sync is the owner's job.
  ~WalSyncer() = default;
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;

  // Records that a write reached the WAL without an fsync.
  void MarkDirty() { dirty_.store(true, std::memory_order_release); }

  // Whether a write awaits the next sync; for tests.
  bool dirty() const { return dirty_.load(std::memory_order_acquire); }
  // Syncs completed since construction; for tests and metrics.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  void Tick();

  const std::function<bool()> sync_;
  std::atomic<bool> dirty_{false};
  std::atomic<uint64_t> syncs_{0};
  PeriodicTask task_;  // Last: its thread uses the members above.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_WAL_SYNCER_H_
