#include "usage_buffer.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "keys.h"
#include "perf_counters_off.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "usage_keys.h"

namespace agentlog::internal {

struct UsageBuffer::View {
  rocksdb::DB* db = nullptr;
  const rocksdb::Snapshot* snapshot = nullptr;
  std::map<std::string, UsageTotals> pending;
  // The rows of the flush in flight, and one of its sessions with the mark
  // the flush writes for it; nullopt when no flush was in flight.
  std::map<std::string, UsageTotals> in_flight;
  std::optional<std::pair<SessionId, uint64_t>> in_flight_mark;

  View() = default;
  View(View&& other) noexcept
      : db(other.db),
        snapshot(std::exchange(other.snapshot, nullptr)),
        pending(std::move(other.pending)),
        in_flight(std::move(other.in_flight)),
        in_flight_mark(other.in_flight_mark) {}
  View& operator=(View&&) = delete;
  ~View() {
    if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
  }
};

namespace {

// Copies into `out` the row of `key` in `rows`, or with `prefix` every row
// whose key starts with `key`.
void CopyRows(const std::map<std::string, UsageTotals>& rows,
              std::string_view key, bool prefix,
              std::map<std::string, UsageTotals>& out) {
  if (!prefix) {
    if (const auto it = rows.find(std::string(key)); it != rows.end()) {
      out.insert(*it);
    }
    return;
  }
  for (auto it = rows.lower_bound(std::string(key));
       it != rows.end() && it->first.starts_with(key); ++it) {
    out.insert(*it);
  }
}

}  // namespace

void UsageBuffer::Generation::TakeIn(Generation& older) {
  for (const auto& [key, delta] : older.rows) AddTotals(rows[key], delta);
  // A session pending in both keeps its newer entry: the later mark, and
  // the scopes its unspread deltas count in (older's are spread already).
  for (auto& [session, pending] : older.sessions) {
    sessions.try_emplace(session, std::move(pending));
  }
  // Copied: the nodes of `older` live in its arena.
  for (const auto& [id, ref] : older.ids) ids.try_emplace(id, ref);
  id_filter.Merge(older.id_filter);
  records += older.records;
  if (older.first_ms >= 0 && (first_ms < 0 || older.first_ms < first_ms)) {
    first_ms = older.first_ms;
  }
}

UsageBuffer::UsageBuffer(rocksdb::DB* db,
                         rocksdb::ColumnFamilyHandle* totals_cf,
                         rocksdb::ColumnFamilyHandle* ids_cf,
                         RateWindows* rates, bool writable)
    : db_(db),
      totals_cf_(totals_cf),
      ids_cf_(ids_cf),
      rates_(rates),
      writable_(writable),
      inbox_(std::make_unique<UsageInbox>()),
      draining_(std::make_unique<UsageInbox>()),
      pending_(std::make_unique<Generation>()),
      flushing_(std::make_unique<Generation>()) {
  if (writable_) flusher_ = std::thread([this] { RunFlusher(); });
}

UsageBuffer::~UsageBuffer() { StopFlusher(); }

void UsageBuffer::StopFlusher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

void UsageBuffer::RunFlusher() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || flush_wanted_ || drain_wanted_; });
    if (stop_) return;
    const bool drain = std::exchange(drain_wanted_, false);
    const bool flush = flush_wanted_;
    lock.unlock();
    if (drain) Drain();
    // A failed flush keeps everything pending; the next due write asks for
    // another (the records are the durable part, and open replays them).
    // Out of memory here ends the process, as anywhere on a store thread:
    // the totals on disk stay what their marks say, and the next open
    // replays the rest, where carrying on could count a delta twice.
    if (flush) FlushPending().IgnoreError();
    lock.lock();
  }
}

bool UsageBuffer::Enqueue(const SessionId& session, std::string_view agent,
                          std::span<const std::string> tags,
                          std::span<const RecordUsageResult> results,
                          uint64_t through_seq, int64_t now_ms) {
  bool wake = false;
  uint64_t queued = 0;
  {
    std::lock_guard lock(inbox_mu_);
    inbox_->Add(session, agent, tags, results, through_seq, now_ms);
    if (inbox_->empty()) return false;
    queued = inbox_->records();
    if (!drain_asked_ &&
        (queued >= kDrainRecords ||
         now_ms - inbox_->writes().front().now_ms >= kFlushIntervalMs)) {
      drain_asked_ = wake = true;
    }
  }
  if (wake && writable_) {
    std::lock_guard lock(mu_);
    drain_wanted_ = true;
    wake_.notify_one();
  }
  return queued >= kMaxQueuedRecords;
}

void UsageBuffer::Drain() {
  std::lock_guard drain_lock(drain_mu_);
  {
    std::lock_guard lock(inbox_mu_);
    if (inbox_->empty()) return;
    std::swap(inbox_, draining_);  // draining_ was empty.
    drain_asked_ = false;
  }
  bool flush = false;
  for (const UsageInbox::Write& write : draining_->writes()) {
    flush |= Apply(write);
  }
  {
    // Only now: until the records are in pending_, FindId finds their ids
    // here.
    std::lock_guard lock(inbox_mu_);
    draining_->Clear();
  }
  if (flush) FlushPending().IgnoreError();
}

bool UsageBuffer::Apply(const UsageInbox::Write& write) noexcept {
  apply_deltas_.clear();
  apply_ids_.clear();
  for (const UsageInbox::Record& r : write.records) {
    apply_deltas_.Add(r.model, r.operation, r.recorded_ms, r.delta);
    if (!r.message_id.empty()) apply_ids_.push_back({r.message_id, r.seq});
  }
  bool flush;
  {
    std::lock_guard lock(mu_);
    flush = AddLocked(write.session, write.agent, write.tags, apply_deltas_,
                      apply_ids_, write.through_seq, write.records.size(),
                      write.now_ms);
  }
  if (rates_ != nullptr) {
    // The session's scopes, then each record's model and operation.
    const std::string id_text = write.session.ToString();
    std::vector<SpendScope> scopes =
        SessionScopes(id_text, write.agent, write.tags);
    const size_t session_scopes = scopes.size();
    for (const UsageInbox::Record& r : write.records) {
      scopes.resize(session_scopes);
      scopes.push_back({UsageScope::kModel, r.model});
      scopes.push_back({UsageScope::kOperation, r.operation});
      rates_->Record(scopes, write.now_ms, r.tokens);
    }
  }
  return flush;
}

void UsageBuffer::AddReplayed(const SessionId& session, std::string_view agent,
                              std::span<const std::string> tags,
                              const TotalsDeltas& deltas,
                              std::span<const NewId> ids, uint64_t through_seq,
                              uint64_t records) {
  std::lock_guard lock(mu_);
  // Open flushes what it replayed; no need to ask whether it is due.
  static_cast<void>(
      AddLocked(session, agent, tags, deltas, ids, through_seq, records, 0));
}

template <typename Tags>
bool UsageBuffer::AddLocked(const SessionId& session, std::string_view agent,
                            const Tags& tags, const TotalsDeltas& deltas,
                            std::span<const NewId> ids, uint64_t through_seq,
                            uint64_t records, int64_t now_ms) {
  Generation& g = *pending_;
  if (g.first_ms < 0) g.first_ms = now_ms;
  auto [it, added] = g.sessions.try_emplace(session);
  PendingSession& pending = it->second;
  if (added) {
    // Fixed until the session's next flush (see the class comment).
    pending.agent = agent;
    pending.tags.assign(tags.begin(), tags.end());
  }
  pending.deltas.Add(deltas);
  pending.through_seq = through_seq;
  for (const NewId& id : ids) {
    g.ids.try_emplace(std::pmr::string(id.message_id, &g.arena),
                      UsageRef{session, id.seq});
    g.id_filter.Add(MessageIdHash(id.message_id));
  }
  g.records += records;
  if (!writable_) return false;
  if (!flush_wanted_ && (g.records >= kFlushRecords ||
                         now_ms - g.first_ms >= kFlushIntervalMs)) {
    flush_wanted_ = true;
    wake_.notify_one();
  }
  return g.records >= kMaxPendingRecords;
}

std::optional<UsageRef> UsageBuffer::FindId(std::string_view message_id,
                                            uint64_t hash) {
  {
    std::lock_guard lock(inbox_mu_);
    for (const UsageInbox* inbox : {inbox_.get(), draining_.get()}) {
      if (auto ref = inbox->FindId(message_id, hash)) return ref;
    }
  }
  std::lock_guard lock(mu_);
  for (const Generation* g : {pending_.get(), flushing_.get()}) {
    if (!g->id_filter.MayContain(hash)) continue;
    if (const auto it = g->ids.find(message_id); it != g->ids.end()) {
      return it->second;
    }
  }
  return std::nullopt;
}

std::vector<const UsageBuffer::IdMap::value_type*> UsageBuffer::SortedIds(
    std::initializer_list<const IdMap*> maps) {
  std::vector<const IdMap::value_type*> sorted;
  for (const IdMap* ids : maps) {
    for (const auto& id : *ids) sorted.push_back(&id);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  return sorted;
}

std::vector<std::pair<std::string, UsageRef>> UsageBuffer::PendingIds() {
  Drain();
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, UsageRef>> ids;
  for (const auto* id : SortedIds({&pending_->ids, &flushing_->ids})) {
    ids.emplace_back(id->first, id->second);
  }
  return ids;
}

void UsageBuffer::Spread() {
  for (auto& [session, pending] : pending_->sessions) {
    if (pending.deltas.empty()) continue;
    const std::string id_text = session.ToString();
    pending.deltas.ForEachRow(
        SessionScopes(id_text, pending.agent, pending.tags),
        [&](const std::string& key, const UsageTotals& delta) {
          AddTotals(pending_->rows[key], delta);
        });
    pending.deltas.clear();
  }
}

Status UsageBuffer::Write(const Generation& g) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, delta] : g.rows) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Merge(totals_cf_, key, EncodeTotals(delta)),
        "batch usage totals"));
  }
  // In key order: each insert then starts where the last one ended.
  for (const auto* id : SortedIds({&g.ids})) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(ids_cf_, std::string_view(id->first),
                  EncodeUsageRef(id->second.session, id->second.seq)),
        "batch usage id"));
  }
  // Settle relies on these being in the same batch as the rows.
  for (const auto& [session, pending] : g.sessions) {
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(totals_cf_, TotalsMarkKey(session),
                  EncodeTotalsMark(pending.through_seq)),
        "batch totals mark"));
  }
  const PerfCountersOff perf_counters_off;
  return FromRocksDB(db_->Write(rocksdb::WriteOptions(), &batch),
                     "write usage totals");
}

Status UsageBuffer::Flush() {
  Drain();
  return FlushPending();
}

Status UsageBuffer::FlushPending() {
  if (!writable_) return Status::OK();
  std::lock_guard flush_lock(flush_mu_);
  {
    std::lock_guard lock(mu_);
    flush_wanted_ = false;
    if (pending_->empty()) return Status::OK();
    Spread();
    std::swap(pending_, flushing_);  // flushing_ was empty.
  }
  const Status written = Write(*flushing_);
  std::unique_ptr<Generation> done = std::make_unique<Generation>();
  {
    std::lock_guard lock(mu_);
    if (!written.ok()) pending_->TakeIn(*flushing_);
    std::swap(done, flushing_);
  }
  // `done` (thousands of message ids) is freed on return, outside the
  // mutex every usage write takes.
  return written;
}

Status UsageBuffer::FlushSession(const SessionId& session) {
  Drain();
  {
    std::lock_guard lock(mu_);
    if (!pending_->sessions.contains(session) &&
        !flushing_->sessions.contains(session)) {
      return Status::OK();
    }
  }
  // Nothing of the session comes in between: the caller holds its lock.
  // Flush waits for the flush in flight, which, should it fail, leaves the
  // session pending for this one.
  return FlushPending();
}

UsageBuffer::View UsageBuffer::Capture(std::string_view key, bool prefix) {
  Drain();
  View view;
  view.db = db_;
  std::lock_guard lock(mu_);
  Spread();
  // A read-only store does not change under its reader; a writable one
  // changes only by flushes, whose generations are copied here with it.
  if (writable_) view.snapshot = db_->GetSnapshot();
  CopyRows(pending_->rows, key, prefix, view.pending);
  if (!flushing_->empty()) {
    const auto& [session, pending] = *flushing_->sessions.begin();
    view.in_flight_mark.emplace(session, pending.through_seq);
    CopyRows(flushing_->rows, key, prefix, view.in_flight);
  }
  return view;
}

Status UsageBuffer::Settle(View& view) {
  if (!view.in_flight_mark) return Status::OK();
  const auto& [session, through_seq] = *view.in_flight_mark;
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot;
  rocksdb::PinnableSlice mark;
  const rocksdb::Status s =
      db_->Get(ro, totals_cf_, TotalsMarkKey(session), &mark);
  if (!s.ok() && !s.IsNotFound()) {
    return FromRocksDB(s, "read totals mark");
  }
  if (s.ok()) {
    const std::optional<uint64_t> on_disk =
        DecodeTotalsMark(mark.ToStringView());
    if (!on_disk) {
      return Status::Corruption(fmt::format(
          "usage_totals/mark/{} is {} bytes; expected 8", session.ToString(),
          mark.size()));
    }
    // The flush in flight writes this mark; no flush before it wrote one as
    // high (the generation holds records of the session past its mark).
    if (*on_disk >= through_seq) return Status::OK();
  }
  for (const auto& [key, delta] : view.in_flight) {
    AddTotals(view.pending[key], delta);
  }
  return Status::OK();
}

Result<UsageTotals> UsageBuffer::Read(const std::string& key) {
  View view = Capture(key, false);
  AGENTLOG_RETURN_IF_ERROR(Settle(view));
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
  AGENTLOG_RETURN_IF_ERROR(Settle(view));
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
