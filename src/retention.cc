#include "retention.h"

#include <algorithm>

#include "keys.h"

namespace agentlog::internal {

void SessionFloors::Raise(const SessionFloors& other) {
  checkpoint = std::max(checkpoint, other.checkpoint);
  turn = std::max(turn, other.turn);
  usage = std::max(usage, other.usage);
  evicted = evicted || other.evicted;
}

const SessionFloors* RetentionSnapshot::Find(const SessionId& id) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), id,
      [](const auto& entry, const SessionId& key) { return entry.first < key; });
  if (it == entries_.end() || it->first != id) return nullptr;
  return &it->second;
}

RetentionDecisions::RetentionDecisions()
    : current_(std::make_shared<const RetentionSnapshot>(
          std::vector<std::pair<SessionId, SessionFloors>>{})) {}

void RetentionDecisions::Durable(const SessionId& id,
                                 const SessionFloors& floors) {
  std::lock_guard<std::mutex> lock(mu_);
  durable_[id].Raise(floors);
  changed_ = true;
}

void RetentionDecisions::Pending(const SessionId& id,
                                 const SessionFloors& floors) {
  std::lock_guard<std::mutex> lock(mu_);
  const PendingDecision decision{next_ticket_++, floors};
  auto [it, added] = pending_.try_emplace(id, PendingSlots{decision, {}});
  if (added) return;
  PendingSlots& slots = it->second;
  if (!slots.latest) {
    slots.latest = decision;
  } else {
    slots.latest->ticket = decision.ticket;
    slots.latest->floors.Raise(floors);
  }
}

void RetentionDecisions::Forget(const SessionId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  changed_ |= durable_.erase(id) > 0;
  pending_.erase(id);
}

void RetentionDecisions::ResetTurnFloor(const SessionId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto it = durable_.find(id); it != durable_.end()) {
    changed_ |= it->second.turn != 0;
    it->second.turn = 0;
  }
  if (const auto it = pending_.find(id); it != pending_.end()) {
    it->second.first.floors.turn = 0;
    if (it->second.latest) it->second.latest->floors.turn = 0;
  }
}

uint64_t RetentionDecisions::BeforeSync() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_ticket_++;
}

void RetentionDecisions::AfterSync(uint64_t ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    PendingSlots& slots = it->second;
    // A decision made after the sync began is not covered by it; `latest`
    // is never older than `first`.
    if (slots.first.ticket > ticket) {
      ++it;
      continue;
    }
    SessionFloors& durable = durable_[it->first];
    durable.Raise(slots.first.floors);
    changed_ = true;
    if (slots.latest && slots.latest->ticket <= ticket) {
      durable.Raise(slots.latest->floors);
      slots.latest.reset();
    }
    if (!slots.latest) {
      it = pending_.erase(it);
      continue;
    }
    slots.first = *slots.latest;
    slots.latest.reset();
    ++it;
  }
}

std::shared_ptr<const RetentionSnapshot> RetentionDecisions::Current() {
  std::vector<std::pair<SessionId, SessionFloors>> entries;
  uint64_t build;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Also while another thread is still building: what it publishes may
    // come after this compaction starts, which must not get the old set.
    if (!changed_ && built_ == published_) return current_.load();
    entries.assign(durable_.begin(), durable_.end());
    changed_ = false;
    build = ++built_;
  }
  // Sort outside the lock: writers publishing decisions must not wait for a
  // compaction thread sorting a million sessions.
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  auto snapshot = std::make_shared<const RetentionSnapshot>(std::move(entries));
  std::lock_guard<std::mutex> lock(mu_);
  // Two compactions may build at once; the newer decisions win.
  if (build > published_) {
    current_.store(snapshot);
    published_ = build;
  }
  return current_.load();
}

size_t RetentionDecisions::durable_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_.size();
}

size_t RetentionDecisions::pending_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

std::vector<SessionId> RetentionDecisions::DurablyEvicted() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SessionId> out;
  for (const auto& [id, floors] : durable_) {
    if (floors.evicted) out.push_back(id);
  }
  return out;
}

std::vector<SessionId> RetentionDecisions::Evicted() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SessionId> out;
  for (const auto& [id, floors] : durable_) {
    if (floors.evicted) out.push_back(id);
  }
  for (const auto& [id, slots] : pending_) {
    const bool evicted = slots.first.floors.evicted ||
                         (slots.latest && slots.latest->floors.evicted);
    if (evicted && !(durable_.contains(id) && durable_.at(id).evicted)) {
      out.push_back(id);
    }
  }
  return out;
}

namespace {

class RetentionFilter final : public rocksdb::CompactionFilter {
 public:
  RetentionFilter(std::shared_ptr<const RetentionSnapshot> snapshot,
                  FloorField floor, NumberAt number_at,
                  std::atomic<uint64_t>* dropped)
      : snapshot_(std::move(snapshot)),
        floor_(floor),
        number_at_(number_at),
        dropped_(dropped) {}

  Decision FilterV2(int /*level*/, const rocksdb::Slice& key,
                    ValueType value_type, const rocksdb::Slice& value,
                    std::string* /*new_value*/,
                    std::string* /*skip_until*/) const override {
    if (value_type != ValueType::kValue) return Decision::kKeep;
    return Decide(key.ToStringView(), value.ToStringView());
  }

  // Decides on the key alone where the number is in the key, so that
  // compaction never reads the blob of a record it keeps or drops.
  Decision FilterBlobByKey(int /*level*/, const rocksdb::Slice& key,
                           std::string* /*new_value*/,
                           std::string* /*skip_until*/) const override {
    if (number_at_ == NumberAt::kValue) return Decision::kUndetermined;
    return Decide(key.ToStringView(), {});
  }

  const char* Name() const override { return "agentlog.retention"; }

 private:
  Decision Decide(std::string_view key, std::string_view value) const {
    // A record this filter does not understand is kept: Verify reports it.
    if (key.size() < SessionId::kBytes) return Decision::kKeep;
    const SessionFloors* floors = snapshot_->Find(SessionIdFromKeyPrefix(key));
    if (floors == nullptr) return Decision::kKeep;
    if (!floors->evicted) {
      if (floor_ == nullptr) return Decision::kKeep;
      const std::optional<uint64_t> number = NumberOf(key, value);
      if (!number || *number >= floors->*floor_) return Decision::kKeep;
    }
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return Decision::kRemove;
  }

  std::optional<uint64_t> NumberOf(std::string_view key,
                                   std::string_view value) const {
    switch (number_at_) {
      case NumberAt::kKey:
        if (const auto parsed = ParseNumberedKey(key)) return parsed->number;
        return std::nullopt;
      case NumberAt::kInputKey:
        if (const auto parsed = ParseInputKey(key)) return parsed->number;
        return std::nullopt;
      case NumberAt::kValue:
        if (value.size() == 8) return DecodeU64(value);
        return std::nullopt;
    }
    return std::nullopt;
  }

  const std::shared_ptr<const RetentionSnapshot> snapshot_;
  const FloorField floor_;
  const NumberAt number_at_;
  std::atomic<uint64_t>* const dropped_;
};

// Drops values whose leading u64 BE expiry is at or before `now_ms`.
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  ExpiryFilter(int64_t now_ms, std::atomic<uint64_t>* dropped)
      : now_ms_(now_ms), dropped_(dropped) {}

  Decision FilterV2(int /*level*/, const rocksdb::Slice& /*key*/,
                    ValueType value_type, const rocksdb::Slice& value,
                    std::string* /*new_value*/,
                    std::string* /*skip_until*/) const override {
    // A value too short to hold an expiry is kept: Verify reports it.
    if (value_type != ValueType::kValue || value.size() < 8) {
      return Decision::kKeep;
    }
    const auto expires = static_cast<int64_t>(DecodeU64(value.ToStringView()));
    if (expires > now_ms_) return Decision::kKeep;
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return Decision::kRemove;
  }

  const char* Name() const override { return "agentlog.expiry"; }

 private:
  const int64_t now_ms_;  // One clock reading per compaction.
  std::atomic<uint64_t>* const dropped_;
};

}  // namespace

std::unique_ptr<rocksdb::CompactionFilter>
ExpiryFilterFactory::CreateCompactionFilter(
    const rocksdb::CompactionFilter::Context& /*context*/) {
  return std::make_unique<ExpiryFilter>(clock_->NowMillis(), &dropped_);
}

std::unique_ptr<rocksdb::CompactionFilter>
RetentionFilterFactory::CreateCompactionFilter(
    const rocksdb::CompactionFilter::Context& /*context*/) {
  return std::make_unique<RetentionFilter>(decisions_->Current(), floor_,
                                           number_at_, &dropped_);
}

}  // namespace agentlog::internal
