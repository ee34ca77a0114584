#include "usage_buffer.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>

#include "keys.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "usage_keys.h"

namespace agentlog::internal {

struct UsageBuffer::View {
  rocksdb::DB* db = nullptr;
  const rocksdb::Snapshot* snapshot = nullptr;
  std::map<std::string, UsageTotals> pending;

  View() = default;
  View(View&& other) noexcept
      : db(other.db),
        snapshot(std::exchange(other.snapshot, nullptr)),
        pending(std::move(other.pending)) {}
  View& operator=(View&&) = delete;
  ~View() {
    if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
  }
};

UsageBuffer::UsageBuffer(rocksdb::DB* db,
                         rocksdb::ColumnFamilyHandle* totals_cf,
                         rocksdb::ColumnFamilyHandle* ids_cf, bool writable)
    : db_(db), totals_cf_(totals_cf), ids_cf_(ids_cf), writable_(writable) {}

bool UsageBuffer::Add(const SessionId& session, std::string_view agent,
                      const std::vector<std::string>& tags,
                      const TotalsDeltas& deltas, std::span<const NewId> ids,
                      uint64_t through_seq, uint64_t records, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (first_pending_ms_ < 0) first_pending_ms_ = now_ms;
  auto [it, added] = sessions_.try_emplace(session);
  PendingSession& pending = it->second;
  if (added) {
    // Fixed until the session's next flush (see the class comment).
    pending.agent = agent;
    pending.tags = tags;
  }
  pending.deltas.Add(deltas);
  pending.through_seq = through_seq;
  for (const NewId& id : ids) {
    ids_.try_emplace(std::string(id.message_id), UsageRef{session, id.seq});
  }
  records_ += records;
  return writable_ && (records_ >= kFlushRecords ||
                       now_ms - first_pending_ms_ >= kFlushIntervalMs);
}

std::optional<UsageRef> UsageBuffer::FindId(std::string_view message_id) {
  std::lock_guard lock(mu_);
  const auto it = ids_.find(message_id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::vector<const std::pair<const std::string, UsageRef>*>
UsageBuffer::SortedIds() const {
  std::vector<const std::pair<const std::string, UsageRef>*> ids;
  ids.reserve(ids_.size());
  for (const auto& id : ids_) ids.push_back(&id);
  std::sort(ids.begin(), ids.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  return ids;
}

std::vector<std::pair<std::string, UsageRef>> UsageBuffer::PendingIds() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, UsageRef>> ids;
  for (const auto* id : SortedIds()) ids.push_back(*id);
  return ids;
}

void UsageBuffer::Spread() {
  for (auto& [session, pending] : sessions_) {
    if (pending.deltas.empty()) continue;
    const std::string id_text = session.ToString();
    pending.deltas.ForEachRow(
        SessionScopes(id_text, pending.agent, pending.tags),
        [&](const std::string& key, const UsageTotals& delta) {
          AddTotals(rows_[key], delta);
        });
    pending.deltas.clear();
  }
}

Status UsageBuffer::Flush() {
  std::lock_guard lock(mu_);
  if (!writable_ || sessions_.empty()) return Status::OK();
  Spread();
  rocksdb::WriteBatch batch;
  for (const auto& [key, delta] : rows_) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Merge(totals_cf_, key, EncodeTotals(delta)),
        "batch usage totals"));
  }
  // In key order: each insert then starts where the last one ended.
  for (const auto* id : SortedIds()) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(ids_cf_, id->first,
                  EncodeUsageRef(id->second.session, id->second.seq)),
        "batch usage id"));
  }
  for (const auto& [session, pending] : sessions_) {
    std::string value;
    AppendU64(&value, pending.through_seq);
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(totals_cf_, TotalsMarkKey(session), value),
        "batch totals mark"));
  }
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(db_->Write(rocksdb::WriteOptions(), &batch),
                  "write usage totals"));
  rows_.clear();
  sessions_.clear();
  ids_.clear();
  records_ = 0;
  first_pending_ms_ = -1;
  return Status::OK();
}

Status UsageBuffer::FlushSession(const SessionId& session) {
  {
    std::lock_guard lock(mu_);
    if (!sessions_.contains(session)) return Status::OK();
  }
  // Nothing of the session comes in between: the caller holds its lock.
  return Flush();
}

UsageBuffer::View UsageBuffer::Capture(std::string_view key, bool prefix) {
  View view;
  view.db = db_;
  std::lock_guard lock(mu_);
  Spread();
  // A read-only store does not change under its reader; a writable one
  // changes only by Flush, under mu_.
  if (writable_) view.snapshot = db_->GetSnapshot();
  if (!prefix) {
    if (const auto it = rows_.find(std::string(key)); it != rows_.end()) {
      view.pending.insert(*it);
    }
    return view;
  }
  for (auto it = rows_.lower_bound(std::string(key));
       it != rows_.end() && it->first.starts_with(key); ++it) {
    view.pending.insert(*it);
  }
  return view;
}

Result<UsageTotals> UsageBuffer::Read(const std::string& key) {
  const View view = Capture(key, false);
  const auto pending = view.pending.find(key);
  UsageTotals totals =
      pending == view.pending.end() ? UsageTotals{} : pending->second;
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot;
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db_->Get(ro, totals_cf_, key, &value);
  if (s.IsNotFound()) return totals;
  if (!s.ok()) return FromRocksDB(s, "read usage totals");
  AGENTLOG_ASSIGN_OR_RETURN(
      const UsageTotals stored,
      DecodeTotals(value.ToStringView(),
                   fmt::format("usage_totals/{}", Hex(key))));
  AddTotals(totals, stored);
  return totals;
}

Result<std::vector<std::pair<std::string, UsageTotals>>> UsageBuffer::Scan(
    std::string_view prefix) {
  View view = Capture(prefix, true);
  std::vector<std::pair<std::string, UsageTotals>> out;
  auto pending = view.pending.begin();
  // Rows only pending, ordered before `key` (or all that are left).
  auto pending_before = [&](const std::string_view* key) {
    for (; pending != view.pending.end() &&
           (key == nullptr || pending->first < *key);
         ++pending) {
      out.emplace_back(pending->first, pending->second);
    }
  };
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, totals_cf_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    const std::string_view key = it->key().ToStringView();
    pending_before(&key);
    AGENTLOG_ASSIGN_OR_RETURN(
        UsageTotals totals,
        DecodeTotals(it->value().ToStringView(),
                     fmt::format("usage_totals/{}", Hex(key))));
    if (pending != view.pending.end() && pending->first == key) {
      AddTotals(totals, pending->second);
      ++pending;
    }
    out.emplace_back(std::string(key), totals);
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan usage totals"));
  pending_before(nullptr);
  return out;
}

}  // namespace agentlog::internal
