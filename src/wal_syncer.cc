#include "wal_syncer.h"

#include <utility>

namespace agentlog::internal {

WalSyncer::WalSyncer(std::function<bool()> sync,
                     std::chrono::milliseconds interval)
    : sync_(std::move(sync)), task_([this] { Tick(); }, interval) {}

void WalSyncer::Tick() {
  if (!dirty_.exchange(false, std::memory_order_acq_rel)) return;
  // A failed sync leaves the data in the OS; mark dirty again so the next
  // tick retries rather than silently widening the loss window.
  if (sync_()) {
    syncs_.fetch_add(1, std::memory_order_relaxed);
  } else {
    MarkDirty();
  }
}

}  // namespace agentlog::internal
