#include "totals_buffer.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <memory>

#include "keys.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "usage_keys.h"

namespace agentlog::internal {

struct TotalsBuffer::View {
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

TotalsBuffer::TotalsBuffer(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                           bool writable)
    : db_(db), cf_(cf), writable_(writable) {}

bool TotalsBuffer::Add(const SessionId& session, std::string_view agent,
                       const std::vector<std::string>& tags,
                       const TotalsDeltas& deltas, uint64_t through_seq,
                       uint64_t records, int64_t now_ms) {
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
  records_ += records;
  return writable_ && (records_ >= kFlushRecords ||
                       now_ms - first_pending_ms_ >= kFlushIntervalMs);
}

void TotalsBuffer::Spread() {
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

Status TotalsBuffer::Flush() {
  std::lock_guard lock(mu_);
  if (!writable_ || sessions_.empty()) return Status::OK();
  Spread();
  rocksdb::WriteBatch batch;
  for (const auto& [key, delta] : rows_) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Merge(cf_, key, EncodeTotals(delta)), "batch usage totals"));
  }
  for (const auto& [session, pending] : sessions_) {
    std::string value;
    AppendU64(&value, pending.through_seq);
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(cf_, TotalsMarkKey(session), value), "batch totals mark"));
  }
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(db_->Write(rocksdb::WriteOptions(), &batch),
                  "write usage totals"));
  rows_.clear();
  sessions_.clear();
  records_ = 0;
  first_pending_ms_ = -1;
  return Status::OK();
}

Status TotalsBuffer::FlushSession(const SessionId& session) {
  {
    std::lock_guard lock(mu_);
    if (!sessions_.contains(session)) return Status::OK();
  }
  // Nothing of the session comes in between: the caller holds its lock.
  return Flush();
}

TotalsBuffer::View TotalsBuffer::Capture(std::string_view key, bool prefix) {
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

Result<UsageTotals> TotalsBuffer::Read(const std::string& key) {
  const View view = Capture(key, false);
  const auto pending = view.pending.find(key);
  UsageTotals totals =
      pending == view.pending.end() ? UsageTotals{} : pending->second;
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot;
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db_->Get(ro, cf_, key, &value);
  if (s.IsNotFound()) return totals;
  if (!s.ok()) return FromRocksDB(s, "read usage totals");
  AGENTLOG_ASSIGN_OR_RETURN(
      const UsageTotals stored,
      DecodeTotals(value.ToStringView(),
                   fmt::format("usage_totals/{}", Hex(key))));
  AddTotals(totals, stored);
  return totals;
}

Result<std::vector<std::pair<std::string, UsageTotals>>> TotalsBuffer::Scan(
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
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
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
