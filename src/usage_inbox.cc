#include "usage_inbox.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "message_id_filter.h"
#include "usage_totals.h"

namespace agentlog::internal {

UsageInbox::UsageInbox()
    : block_(std::make_unique<std::byte[]>(kArenaBlockBytes)),
      arena_(block_.get(), kArenaBlockBytes),
      slots_(kFirstSlots, 0) {}

std::string_view UsageInbox::Copy(std::string_view text) {
  if (text.empty()) return {};
  char* bytes = static_cast<char*>(arena_.allocate(text.size(), 1));
  std::memcpy(bytes, text.data(), text.size());
  return {bytes, text.size()};
}

size_t UsageInbox::Probe(uint64_t hash, std::string_view message_id) const {
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const uint32_t entry = slots_[slot];
    if (entry == 0) return slot;
    const Id& id = ids_[entry - 1];
    if (id.hash == hash && id.message_id == message_id) return slot;
  }
}

void UsageInbox::Grow() {
  std::vector<uint32_t> old(2 * slots_.size(), 0);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (uint32_t entry : old) {
    if (entry == 0) continue;
    size_t slot = ids_[entry - 1].hash & mask;
    while (slots_[slot] != 0) slot = (slot + 1) & mask;
    slots_[slot] = entry;
  }
}

void UsageInbox::Add(const SessionId& session, std::string_view agent,
                     std::span<const std::string> tags,
                     std::span<const RecordUsageResult> results,
                     uint64_t through_seq, int64_t now_ms) {
  // Clear releases the arena without destroying what is in it.
  static_assert(std::is_trivially_destructible_v<Record>);
  const size_t count = static_cast<size_t>(std::count_if(
      results.begin(), results.end(),
      [](const RecordUsageResult& r) { return !r.duplicate; }));
  if (count == 0) return;
  auto* records = static_cast<Record*>(
      arena_.allocate(count * sizeof(Record), alignof(Record)));
  size_t next = 0;
  for (const RecordUsageResult& r : results) {
    if (r.duplicate) continue;
    const UsageRecord& u = r.record;
    Record* out = new (&records[next++]) Record{
        .model = Copy(u.model),
        .operation = Copy(u.operation),
        .message_id = Copy(u.message_id),
        .seq = u.seq,
        .recorded_ms = u.recorded_ms,
        .tokens = u.tokens.total(),
        .delta = RecordTotals(u)};
    if (out->message_id.empty()) continue;
    if (2 * (ids_.size() + 1) > slots_.size()) Grow();
    const uint64_t hash = MessageIdHash(out->message_id);
    uint32_t& slot = slots_[Probe(hash, out->message_id)];
    // A duplicate within the batch was refused before it was written.
    if (slot != 0) continue;
    ids_.push_back({hash, out->message_id, UsageRef{session, u.seq}});
    slot = static_cast<uint32_t>(ids_.size());
  }
  std::string_view* tag_views = nullptr;
  if (!tags.empty()) {
    tag_views = static_cast<std::string_view*>(arena_.allocate(
        tags.size() * sizeof(std::string_view), alignof(std::string_view)));
    for (size_t i = 0; i < tags.size(); ++i) {
      new (&tag_views[i]) std::string_view(Copy(tags[i]));
    }
  }
  writes_.push_back({.session = session,
                     .agent = Copy(agent),
                     .tags = {tag_views, tags.size()},
                     .records = {records, count},
                     .through_seq = through_seq,
                     .now_ms = now_ms});
  records_ += count;
}

std::optional<UsageRef> UsageInbox::FindId(std::string_view message_id,
                                           uint64_t hash) const {
  if (ids_.empty()) return std::nullopt;
  const uint32_t entry = slots_[Probe(hash, message_id)];
  if (entry == 0) return std::nullopt;
  return ids_[entry - 1].ref;
}

void UsageInbox::Clear() {
  writes_.clear();
  ids_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
  records_ = 0;
  arena_.release();
}

}  // namespace agentlog::internal
