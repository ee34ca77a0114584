#include "wal_syncer.h"

#include <utility>

namespace agentlog::internal {

WalSyncer::WalSyncer(std::function<bool()> sync,
                     std::chrono::milliseconds interval)
    : sync_(std::move(sync)), interval_(interval), thread_([this] { Run(); }) {}

WalSyncer::~WalSyncer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void WalSyncer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    if (!dirty_.exchange(false, std::memory_order_acq_rel)) continue;
    lock.unlock();
    // A failed sync leaves the data in the OS; mark dirty again so the
    // next tick retries rather than silently widening the loss window.
    if (sync_()) {
      syncs_.fetch_add(1, std::memory_order_relaxed);
    } else {
      MarkDirty();
    }
    lock.lock();
  }
}

}  // namespace agentlog::internal
