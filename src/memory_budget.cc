#include "memory_budget.h"

#include <algorithm>

namespace agentlog::internal {
namespace {

constexpr size_t kMinWriteBufferBytes = 256 << 10;

// The part of the budget the block cache (memtables' charge included) may
// fill before parts outside it are counted.
size_t CacheShare(const Options& o) {
  const auto b = static_cast<double>(o.memory_budget_bytes);
  return std::max(static_cast<size_t>(b * o.memory_warning_fraction * 7 / 8),
                  o.memory_budget_bytes / 8);
}

}  // namespace

MemoryPlan PlanMemory(const Options& o, uint64_t outside_bytes) {
  if (o.memory_budget_bytes == 0) {
    return {.block_cache_capacity = o.block_cache_bytes,
            .memtable_limit = 0,
            .write_buffer_bytes = o.write_buffer_bytes};
  }
  const size_t share = CacheShare(o);
  const size_t cache = std::max(
      share > outside_bytes ? share - static_cast<size_t>(outside_bytes) : 0,
      o.memory_budget_bytes / 8);
  // From the empty store's limit, not this one's: a family's memtable size
  // should not depend on how many sessions the store had at open.
  // (write_buffer_bytes is at least 1 MiB: validation.cc.)
  const size_t per_family = std::clamp<size_t>(
      share / 2 / 4, kMinWriteBufferBytes, o.write_buffer_bytes);
  return {.block_cache_capacity = cache,
          .memtable_limit = cache / 2,
          .write_buffer_bytes = per_family};
}

MemoryThresholds::MemoryThresholds(uint64_t budget, double warning_fraction,
                                   double emergency_fraction)
    : budget_(budget),
      warning_bytes_(static_cast<uint64_t>(static_cast<double>(budget) *
                                           warning_fraction)),
      emergency_bytes_(static_cast<uint64_t>(static_cast<double>(budget) *
                                             emergency_fraction)) {}

std::vector<MemoryLevel> MemoryThresholds::Observe(uint64_t usage) {
  std::vector<MemoryLevel> crossed;
  if (budget_ == 0) return crossed;
  if (usage < emergency_bytes_) emergency_ = false;  // Re-armed, silently.
  if (usage < warning_bytes_) {
    if (warned_) crossed.push_back(MemoryLevel::kNormal);
    warned_ = false;
    return crossed;
  }
  if (!warned_) {
    warned_ = true;
    crossed.push_back(MemoryLevel::kWarning);
  }
  if (usage >= emergency_bytes_ && !emergency_) {
    emergency_ = true;
    crossed.push_back(MemoryLevel::kEmergency);
  }
  return crossed;
}

MemoryMonitor::MemoryMonitor(const Options& options, const MemoryPlan& plan)
    : budget_(options.memory_budget_bytes),
      listener_(options.memory_listener),
      thresholds_(options.memory_budget_bytes, options.memory_warning_fraction,
                  options.memory_emergency_fraction),
      plan_(plan) {}

void MemoryMonitor::SetPlan(const MemoryPlan& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  plan_ = plan;
}

bool MemoryMonitor::Check(MemoryReport& report) {
  if (budget_ == 0) return false;
  std::unique_lock<std::mutex> lock(mu_);
  report.budget = budget_;
  report.warning_bytes = thresholds_.warning_bytes();
  report.emergency_bytes = thresholds_.emergency_bytes();
  report.block_cache_capacity = plan_.block_cache_capacity;
  report.memtable_limit = plan_.memtable_limit;
  const std::vector<MemoryLevel> crossed = thresholds_.Observe(report.total());
  report.level = thresholds_.level();
  bool emergency = false;
  for (MemoryLevel level : crossed) {
    if (level == MemoryLevel::kWarning) ++warnings_;
    if (level == MemoryLevel::kEmergency) {
      ++emergencies_;
      emergency = true;
    }
    if (listener_) {
      queue_.push_back({.level = level, .usage = report, .budget = budget_});
    }
  }
  // Whoever is delivering already (another thread, or this one further up
  // the stack when the listener called MemoryUsage) delivers these too, in
  // order after what it has.
  if (delivering_) return emergency;
  delivering_ = true;
  while (!queue_.empty()) {
    const MemoryEvent event = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // Neither out of the store's API (or the background check's thread)
    // nor leaving delivering_ set, which would stop every later event.
    try {
      listener_(event);
    } catch (...) {
    }
    lock.lock();
  }
  delivering_ = false;
  return emergency;
}

uint64_t MemoryMonitor::warnings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return warnings_;
}

uint64_t MemoryMonitor::emergencies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return emergencies_;
}

}  // namespace agentlog::internal
