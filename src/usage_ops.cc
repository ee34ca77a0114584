// Usage, cost and budget operations of StoreImpl.

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "keys.h"
#include "message_id_filter.h"
#include "pricing.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "uint128.h"
#include "usage_keys.h"
#include "usage_period.h"
#include "usage_totals.h"
#include "validation.h"

namespace agentlog::internal {
namespace {

constexpr std::string_view kDefaultOperation = "call";
constexpr std::string_view kTurnOperation = "turn";

Status ValidateTotalsQuery(UsageScope scope, UsagePeriod period) {
  if (static_cast<uint8_t>(scope) > static_cast<uint8_t>(UsageScope::kOperation)) {
    return Status::InvalidArgument(fmt::format(
        "usage scope is {}; it must be store, session, agent, tag, model or "
        "operation",
        static_cast<int>(scope)));
  }
  AGENTLOG_RETURN_IF_ERROR(ValidatePeriod(period));
  if (period != UsagePeriod::kLifetime && !HasPeriods(scope)) {
    return Status::InvalidArgument(fmt::format(
        "{} totals are kept for the lifetime only, not per {}",
        UsageScopeName(scope), UsagePeriodName(period)));
  }
  return Status::OK();
}

// Converts a projection to an integer, clamping what a tiny rate against a
// large remainder (or the reverse) makes of it.
int64_t ClampToInt64(double v) {
  constexpr double kMax = 9.2e18;  // Just under INT64_MAX, exactly a double.
  if (!(v > -kMax)) return -static_cast<int64_t>(kMax);
  if (v > kMax) return static_cast<int64_t>(kMax);
  return static_cast<int64_t>(v);
}

Status CheckedAdd(int64_t& sum, int64_t add, std::string_view what) {
  if (__builtin_add_overflow(sum, add, &sum)) {
    return Status::InvalidArgument(
        fmt::format("the {} of this call would overflow int64", what));
  }
  return Status::OK();
}

}  // namespace

std::optional<UsageSpec> StoreImpl::ImplicitUsage(const TurnUsage& usage) {
  if (usage.tokens == TokenCounts{} && usage.cost_micros == 0) {
    return std::nullopt;
  }
  UsageSpec spec;
  spec.operation = std::string(kTurnOperation);
  spec.tokens = usage.tokens;
  if (usage.cost_micros != 0) spec.cost_micros = usage.cost_micros;
  return spec;
}

// --- Prices ---

Result<PriceVersion> StoreImpl::SetPrice(const ModelPrice& price,
                                         std::optional<int64_t> effective_ms,
                                         const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidatePrice(price));
  AGENTLOG_RETURN_IF_ERROR(CheckText(price.model, "ModelPrice::model",
                                     options_.max_name_bytes, "max_name_bytes",
                                     true));
  if (effective_ms && *effective_ms < 0) {
    return Status::InvalidArgument(fmt::format(
        "effective_ms is {}; it must be a Unix time in milliseconds >= 0",
        *effective_ms));
  }
  std::lock_guard lock(set_price_mu_);
  PriceVersion v{.price = price,
                 .version = prices_.NextVersion(price.model),
                 .set_ms = Now()};
  v.effective_ms = effective_ms.value_or(v.set_ms);
  rocksdb::WriteBatch batch;
  const EncodedRecord record = EncodePrice(v);
  batch.Put(handle(Cf::kMeta), PriceKey(price.model, v.version),
            rocksdb::Slice(record.bytes()))
      .PermitUncheckedError();
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(WriteRaw(&batch, wo), "write price of " + price.model));
  prices_.Add(v);
  return v;
}

Result<std::vector<PriceVersion>> StoreImpl::ListPrices() {
  return prices_.All();
}

// --- Recording ---

UsageIdLocks::Held StoreImpl::LockUsageIds(std::span<const UsageSpec> specs) {
  if (recorded_ids_ != nullptr) {
    for (const UsageSpec& spec : specs) {
      if (!spec.message_id.empty()) {
        recorded_ids_->Prefetch(MessageIdHash(spec.message_id));
      }
    }
  }
  return usage_id_locks_.Lock(specs);
}

Result<std::optional<UsageRecord>> StoreImpl::FindUsageById(
    std::string_view message_id) {
  const uint64_t hash = MessageIdHash(message_id);
  // Nearly every id a write asks about is new, and the filter says so
  // without the buffer's locks or a read (recorded_id_filter.h).
  if (recorded_ids_ != nullptr && !recorded_ids_->MayContain(hash)) {
    return std::optional<UsageRecord>();
  }
  // Pending first: a flush in between writes the id before it leaves the
  // buffer (usage_buffer.h).
  std::optional<UsageRef> ref = usage_buffer_->FindId(message_id, hash);
  if (!ref) {
    rocksdb::PinnableSlice ref_bytes;
    const rocksdb::Status s = db_->Get(
        rocksdb::ReadOptions(), handle(Cf::kUsageIds), message_id, &ref_bytes);
    if (s.IsNotFound()) return std::optional<UsageRecord>();
    if (!s.ok()) return FromRocksDB(s, "read usage id");
    ref = DecodeUsageRef(ref_bytes.ToStringView());
    if (!ref) {
      return Status::Corruption(fmt::format(
          "usage_ids/{} is {} bytes; expected 24", Hex(message_id),
          ref_bytes.size()));
    }
  }
  rocksdb::PinnableSlice record;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handle(Cf::kUsage),
                               NumberedKey(ref->session, ref->seq), &record);
  // A record of an evicted session, or one pruned by age, awaits
  // compaction: it is gone already.
  if (s.ok()) {
    Result<Session> owner = LoadSession(ref->session);
    if (!owner.ok() && !owner.status().IsNotFound()) return owner.status();
    if (!owner.ok() || ref->seq < owner->oldest_usage) {
      s = rocksdb::Status::NotFound();
    }
  }
  if (s.IsNotFound()) {
    // Its session was deleted or evicted, or the record pruned; the id
    // still counted once.
    UsageRecord gone;
    gone.session = ref->session;
    gone.seq = ref->seq;
    gone.message_id = std::string(message_id);
    return std::optional<UsageRecord>(std::move(gone));
  }
  if (!s.ok()) {
    return FromRocksDB(s, "read " + UsageRecordName(ref->session, ref->seq));
  }
  AGENTLOG_ASSIGN_OR_RETURN(
      UsageRecord found,
      DecodeUsageRecord(ref->session, ref->seq, record.ToStringView()));
  return std::optional<UsageRecord>(std::move(found));
}

int64_t StoreImpl::UsageNow() {
  const int64_t now = Now();
  int64_t seen = usage_clock_ms_.load(std::memory_order_relaxed);
  while (now > seen && !usage_clock_ms_.compare_exchange_weak(seen, now)) {
  }
  return std::max(now, seen);
}

Status StoreImpl::AddUsage(Session& s, uint64_t turn,
                           std::span<const UsageSpec> specs,
                           bool enforce_budgets, const WriteOptions& wo,
                           rocksdb::WriteBatch& batch, UsageWrite& w) {
  w.now_ms = UsageNow();
  int64_t cost = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const UsageSpec& spec = specs[i];
    w.results.emplace_back();
    if (!spec.message_id.empty()) {
      // Seen earlier in this call, or recorded before: counted once.
      const auto earlier = std::find_if(
          specs.begin(), specs.begin() + i,
          [&](const UsageSpec& e) { return e.message_id == spec.message_id; });
      if (earlier != specs.begin() + i) {
        w.results[i] = {w.results[earlier - specs.begin()].record, true};
        continue;
      }
      AGENTLOG_ASSIGN_OR_RETURN(std::optional<UsageRecord> existing,
                                FindUsageById(spec.message_id));
      if (existing) {
        w.results[i] = {std::move(*existing), true};
        continue;
      }
    }
    UsageRecord& u = w.results[i].record;
    u.session = s.id;
    u.seq = s.usage_records + 1;
    u.turn = turn;
    u.message_id = spec.message_id;
    u.model = spec.model.empty() ? s.model : spec.model;
    u.operation =
        spec.operation.empty() ? std::string(kDefaultOperation) : spec.operation;
    u.tokens = spec.tokens;
    u.recorded_ms = w.now_ms;
    if (spec.cost_micros) {
      u.cost_source = CostSource::kHost;
      u.cost_micros = *spec.cost_micros;
    } else if (const auto price = prices_.At(u.model, w.now_ms)) {
      u.cost_source = CostSource::kPriced;
      u.price_version = price->version;
      AGENTLOG_ASSIGN_OR_RETURN(u.cost_micros,
                                CostMicros(price->price, u.tokens));
      u.saved_micros = CacheSavingMicros(price->price, u.tokens.cache_read);
    } else {
      // Never lose a record for want of a price: flag it instead.
      u.cost_source = CostSource::kUnpriced;
    }
    AGENTLOG_RETURN_IF_ERROR(CheckedAdd(cost, u.cost_micros, "cost"));
    s.usage_records = u.seq;
    if (spec.in_context) s.context_tokens = u.tokens.total();
    w.sum.tokens.input += u.tokens.input;
    w.sum.tokens.output += u.tokens.output;
    w.sum.tokens.cache_read += u.tokens.cache_read;
    w.sum.tokens.cache_write += u.tokens.cache_write;
    w.sum.cost_micros = cost;

    const EncodedRecord record = EncodeUsageRecord(u);
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(handle(Cf::kUsage), NumberedKey(s.id, u.seq),
                  rocksdb::Slice(record.bytes())),
        "batch usage record"));
    // Its totals and message id go to the buffer once the write is
    // acknowledged (AccountUsage).
    ++w.records;
    w.through_seq = u.seq;
  }
  w.enforce_budgets = enforce_budgets;
  return Status::OK();
}

Status StoreImpl::AdmitUsage(const Session& s, const WriteOptions& wo,
                             rocksdb::WriteBatch& batch, UsageWrite& w) {
  // BudgetLedger::Admit admits anything when there are no budgets; the
  // scopes' names would cost an allocation for nothing.
  if (w.records == 0 || budgets_.empty()) return Status::OK();
  const std::string id_text = s.id.ToString();
  const std::vector<SpendScope> scopes =
      SessionScopes(id_text, s.agent, s.tags);
  AGENTLOG_ASSIGN_OR_RETURN(
      w.admission,
      budgets_.Admit(scopes, w.sum.cost_micros, w.now_ms, w.enforce_budgets,
                     wo.override_budget, s.id));
  for (const BudgetAlert& a : w.admission.alerts()) {
    const EncodedRecord record = EncodeAlert(a);
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(handle(Cf::kAlerts),
                  AlertKey(a.scope, a.period,
                           PeriodIndex(a.period, a.period_start_ms),
                           a.threshold, a.budget_generation, a.name),
                  rocksdb::Slice(record.bytes())),
        "batch alert"));
  }
  return Status::OK();
}

void StoreImpl::AccountUsage(const Session& s, const UsageWrite& w) {
  if (w.records == 0) return;
  if (recorded_ids_ != nullptr) {
    // Under the ids' stripe locks still: the next writer of one finds it.
    for (const RecordUsageResult& r : w.results) {
      if (!r.duplicate && !r.record.message_id.empty()) {
        recorded_ids_->Add(MessageIdHash(r.record.message_id));
      }
    }
  }
  if (usage_buffer_->Enqueue(s.id, s.agent, s.tags, w.results, w.through_seq,
                             w.now_ms)) {
    // The buffer's thread is far behind. The records are acknowledged and
    // durable as asked; a flush that fails keeps the totals and ids pending
    // for the next one (and open replays them from the records should none
    // succeed).
    usage_buffer_->Drain();
  }
}

void StoreImpl::FinishUsage(UsageWrite& w) {
  w.admission.Commit();
  if (options_.alert_listener) {
    for (const BudgetAlert& a : w.admission.alerts()) {
      // The write is done and the alert recorded: an exception from the
      // host's listener must neither leave the store's API nor keep the
      // remaining alerts from it.
      try {
        options_.alert_listener(a);
      } catch (...) {
      }
    }
  }
}

Status StoreImpl::CheckBudgets(const Session& s, const WriteOptions& wo) {
  if (budgets_.empty()) return Status::OK();
  const std::string id_text = s.id.ToString();
  return budgets_.Check(SessionScopes(id_text, s.agent, s.tags), UsageNow(),
                        wo.override_budget);
}

Result<RecordUsageResult> StoreImpl::RecordUsage(const SessionId& id,
                                                 const UsageSpec& spec,
                                                 const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateUsageSpec(options_, spec));
  const std::span<const UsageSpec> specs(&spec, 1);
  UsageIdLocks::Held id_locks = LockUsageIds(specs);
  UsageWrite w;
  AGENTLOG_RETURN_IF_ERROR(MutateSession(
      id, wo, false,
      [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
        AGENTLOG_RETURN_IF_ERROR(AddUsage(s, 0, specs, true, wo, batch, w));
        return !w.results[0].duplicate;
      },
      nullptr, 1024, &w));
  id_locks.Unlock();
  FinishUsage(w);
  if (w.results[0].duplicate) AGENTLOG_RETURN_IF_ERROR(MakeReplayDurable(wo));
  return std::move(w.results[0]);
}

Result<TurnWithUsage> StoreImpl::CompleteTurnWithUsage(
    const SessionId& id, uint64_t number, std::span<const Message> output,
    std::span<const UsageSpec> usage, const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateMessages(options_, output, "output", false));
  for (const UsageSpec& spec : usage) {
    AGENTLOG_RETURN_IF_ERROR(ValidateUsageSpec(options_, spec));
  }
  TurnWithUsage out;
  AGENTLOG_ASSIGN_OR_RETURN(
      out.turn, CompleteValidated(id, number, output, usage, wo, nullptr,
                                  nullptr, 0, &out.usage));
  return out;
}

// --- Reading ---

Result<std::vector<UsageRecord>> StoreImpl::ListUsage(const SessionId& id) {
  NoteRead(id);
  const ReadView view(*this);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session,
                            LoadSession(id, view.snapshot()));
  std::vector<UsageRecord> out;
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kUsage);
  if (cf == nullptr) return out;
  const std::string upper = SessionRangeEnd(id);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  ro.iterate_upper_bound = &upper_slice;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
  // From the oldest record age retention kept.
  for (it->Seek(NumberedKey(id, session.oldest_usage)); it->Valid();
       it->Next()) {
    const auto key = ParseNumberedKey(it->key().ToStringView());
    if (!key) {
      return Status::Corruption(fmt::format("usage key {} is malformed",
                                            Hex(it->key().ToStringView())));
    }
    AGENTLOG_ASSIGN_OR_RETURN(
        UsageRecord u,
        DecodeUsageRecord(id, key->number, it->value().ToStringView()));
    out.push_back(std::move(u));
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan usage"));
  return out;
}

Result<UsageTotals> StoreImpl::GetUsageTotals(UsageScope scope,
                                              std::string_view name,
                                              UsagePeriod period,
                                              std::optional<int64_t> at_ms) {
  AGENTLOG_RETURN_IF_ERROR(ValidateTotalsQuery(scope, period));
  // Periods are UTC days and months from 1970 to the end of 9999: outside,
  // a day's index would be cut to 32 bits and name another day.
  constexpr int64_t kEndOf9999Ms = 253'402'300'800'000;
  if (at_ms && (*at_ms < 0 || *at_ms >= kEndOf9999Ms)) {
    return Status::InvalidArgument(fmt::format(
        "at_ms is {}; allowed range is 0 (1970-01-01) to {} (the end of "
        "9999, UTC)",
        *at_ms, kEndOf9999Ms - 1));
  }
  return ReadTotals(
      {scope, period, PeriodIndex(period, at_ms.value_or(Now())), name});
}

Result<UsageTotals> StoreImpl::ReadTotals(const TotalsKey& key) {
  if (usage_buffer_ == nullptr) return UsageTotals{};
  return usage_buffer_->Read(EncodeTotalsKey(key));
}

Result<std::vector<UsageTotalsRow>> StoreImpl::ListUsageTotals(
    UsageScope scope, UsagePeriod period) {
  AGENTLOG_RETURN_IF_ERROR(ValidateTotalsQuery(scope, period));
  std::vector<UsageTotalsRow> out;
  if (usage_buffer_ == nullptr) return out;
  AGENTLOG_ASSIGN_OR_RETURN(const auto rows,
                            usage_buffer_->Scan(TotalsPrefix(scope, period)));
  for (const auto& [key_bytes, totals] : rows) {
    const std::optional<TotalsKey> key = ParseTotalsKey(key_bytes);
    if (!key) {
      return Status::Corruption(fmt::format("usage_totals key {} is malformed",
                                            Hex(key_bytes)));
    }
    out.push_back({.scope = scope,
                   .name = std::string(key->name),
                   .period = period,
                   .period_start_ms = PeriodStartMs(period, key->index),
                   .totals = totals});
  }
  return out;
}

// --- Budgets ---

Result<int64_t> StoreImpl::SpentIn(UsageScope scope, std::string_view name,
                                   UsagePeriod period, uint32_t index) {
  AGENTLOG_ASSIGN_OR_RETURN(const UsageTotals totals,
                            ReadTotals({scope, period, index, name}));
  return totals.cost_micros;
}

Result<bool> StoreImpl::AlertRaised(std::string_view alert_key) {
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kAlerts);
  if (cf == nullptr) return false;
  rocksdb::PinnableSlice value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf, alert_key, &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocksDB(s, "read alert");
  return true;
}

Status StoreImpl::PersistBudget(const std::string& key,
                                const StoredBudget* budget,
                                const WriteOptions& wo) {
  rocksdb::WriteBatch batch;
  if (budget == nullptr) {
    batch.Delete(handle(Cf::kMeta), key).PermitUncheckedError();
  } else {
    const EncodedRecord record = EncodeBudget(*budget);
    batch.Put(handle(Cf::kMeta), key, rocksdb::Slice(record.bytes()))
        .PermitUncheckedError();
  }
  return FromRocksDB(WriteRaw(&batch, wo), "write budget");
}

Result<BudgetStatus> StoreImpl::SetBudget(const BudgetSpec& spec,
                                          const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateBudgetSpec(options_, spec));
  bool wrote = false;
  AGENTLOG_ASSIGN_OR_RETURN(
      BudgetStatus status,
      budgets_.Set(spec, UsageNow(),
                   [&](const std::string& key, const StoredBudget* budget) {
                     wrote = true;
                     return PersistBudget(key, budget, wo);
                   }));
  // The spec it has already: the budget rests on the write that set it.
  if (!wrote) AGENTLOG_RETURN_IF_ERROR(MakeReplayDurable(wo));
  return status;
}

Status StoreImpl::RemoveBudget(UsageScope scope, std::string_view name,
                               UsagePeriod period, const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateBudgetScope(options_, scope, name));
  AGENTLOG_RETURN_IF_ERROR(ValidatePeriod(period));
  return budgets_.Remove(
      scope, name, period,
      [&](const std::string& key, const StoredBudget* budget) {
        return PersistBudget(key, budget, wo);
      });
}

Result<std::vector<BudgetStatus>> StoreImpl::ListBudgets() {
  return budgets_.List(UsageNow());
}

Result<BudgetStatus> StoreImpl::LiftBudgetBlock(UsageScope scope,
                                                std::string_view name,
                                                UsagePeriod period,
                                                const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateBudgetScope(options_, scope, name));
  AGENTLOG_RETURN_IF_ERROR(ValidatePeriod(period));
  return budgets_.Lift(
      scope, name, period, UsageNow(),
      [&](const std::string& key, const StoredBudget* budget) {
        return PersistBudget(key, budget, wo);
      });
}

Result<std::vector<BudgetAlert>> StoreImpl::ListAlerts() {
  std::vector<BudgetAlert> out;
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kAlerts);
  if (cf == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    AGENTLOG_ASSIGN_OR_RETURN(BudgetAlert a,
                              DecodeAlert(it->key().ToStringView(),
                                          it->value().ToStringView()));
    out.push_back(std::move(a));
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan alerts"));
  std::sort(out.begin(), out.end(),
            [](const BudgetAlert& a, const BudgetAlert& b) {
              return a.seq < b.seq;
            });
  return out;
}

Result<BudgetProjection> StoreImpl::ProjectBudget(UsageScope scope,
                                                  std::string_view name,
                                                  UsagePeriod period,
                                                  std::chrono::hours window) {
  AGENTLOG_RETURN_IF_ERROR(ValidateBudgetScope(options_, scope, name));
  AGENTLOG_RETURN_IF_ERROR(ValidatePeriod(period));
  if (window < std::chrono::hours(1) || window > std::chrono::hours(31 * 24)) {
    return Status::InvalidArgument(fmt::format(
        "window is {} hours; allowed range is 1 to 744 (31 days)",
        window.count()));
  }
  const int64_t now = UsageNow();
  BudgetProjection p;
  AGENTLOG_ASSIGN_OR_RETURN(p.status, budgets_.Get(scope, name, period, now));
  // Whole UTC days from the one the window starts in through today.
  constexpr int64_t kMsPerHour = 3'600'000;
  const uint32_t first =
      PeriodIndex(UsagePeriod::kDay, now - window.count() * kMsPerHour);
  const uint32_t today = PeriodIndex(UsagePeriod::kDay, now);
  for (uint32_t d = first; d <= today; ++d) {
    AGENTLOG_ASSIGN_OR_RETURN(const int64_t spent,
                              SpentIn(scope, name, UsagePeriod::kDay, d));
    if (__builtin_add_overflow(p.window_spent_micros, spent,
                               &p.window_spent_micros)) {
      p.window_spent_micros = std::numeric_limits<int64_t>::max();
    }
  }
  const int64_t elapsed_ms =
      std::max<int64_t>(1, now - PeriodStartMs(UsagePeriod::kDay, first));
  p.burn_rate_per_hour = static_cast<double>(p.window_spent_micros) *
                         kMsPerHour / static_cast<double>(elapsed_ms);
  const uint32_t index = PeriodIndex(period, now);
  if (period != UsagePeriod::kLifetime) {
    const double hours_left =
        static_cast<double>(PeriodEndMs(period, index) - now) / kMsPerHour;
    p.projected_period_end_micros =
        ClampToInt64(static_cast<double>(p.status.spent_micros) +
                     p.burn_rate_per_hour * hours_left);
  }
  const int64_t hard = ThresholdMicros(p.status.spec, BudgetThreshold::kHard);
  if (p.status.spent_micros >= hard) {
    p.time_to_hard_limit = std::chrono::milliseconds(0);
  } else if (p.burn_rate_per_hour > 0) {
    p.time_to_hard_limit = std::chrono::milliseconds(ClampToInt64(
        static_cast<double>(hard - p.status.spent_micros) /
        p.burn_rate_per_hour * kMsPerHour));
  }
  return p;
}

// --- Context and rate ---

Result<ContextPrediction> StoreImpl::PredictOverflow(const SessionId& id,
                                                     uint64_t estimated) {
  AGENTLOG_ASSIGN_OR_RETURN(const Session s, LoadSession(id));
  if (s.context_window == 0) {
    return Status::FailedPrecondition(fmt::format(
        "session {} has no context window (0: unknown); set it with "
        "UpdateSession",
        id.ToString()));
  }
  if (estimated > kMaxTokensPerCall) {
    return Status::InvalidArgument(fmt::format(
        "estimated_tokens is {}; limit is {}", estimated, kMaxTokensPerCall));
  }
  ContextPrediction p;
  p.context_window = s.context_window;
  p.current_tokens = s.context_tokens;
  p.estimated_tokens = estimated;
  const uint64_t total = s.context_tokens + estimated;
  p.fits = total <= s.context_window;
  p.overflow_tokens = p.fits ? 0 : total - s.context_window;
  p.warning = static_cast<Uint128>(total) * 100 >=
              static_cast<Uint128>(s.context_window) *
                  options_.context_warning_percent;
  return p;
}

Result<RateDecision> StoreImpl::CheckRate(UsageScope scope,
                                          std::string_view name,
                                          std::chrono::milliseconds window,
                                          uint64_t max_tokens,
                                          uint64_t max_requests) {
  AGENTLOG_RETURN_IF_ERROR(ValidateTotalsQuery(scope, UsagePeriod::kLifetime));
  if (window.count() < 1 || window > options_.max_rate_window) {
    return Status::InvalidArgument(fmt::format(
        "window is {} ms; allowed range is 1 to {} (Options::max_rate_window)",
        window.count(), options_.max_rate_window.count()));
  }
  if (max_tokens == 0 && max_requests == 0) {
    return Status::InvalidArgument(
        "max_tokens and max_requests are both 0; set at least one limit");
  }
  // Every acknowledged record in the windows first.
  if (usage_buffer_ != nullptr) usage_buffer_->Drain();
  return rates_->Check(scope, name, window, max_tokens, max_requests, Now());
}

// --- Open ---

Status StoreImpl::ReplayUsage(const Session& s, uint64_t mark,
                              const rocksdb::Snapshot* snapshot) {
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kUsage);
  if (cf == nullptr || mark >= s.usage_records) return Status::OK();
  const std::string id_text = s.id.ToString();
  TotalsDeltas deltas;
  std::vector<std::pair<std::string, uint64_t>> message_ids;
  uint64_t records = 0;
  uint64_t expected = mark + 1;
  auto missing = [&](uint64_t through) {
    if (expected > through) return;
    report_.corrupt_records.push_back(fmt::format(
        "usage records {} to {} of session {} are missing; its totals lack "
        "them",
        expected, through, id_text));
  };
  const std::string upper = SessionRangeEnd(s.id);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.iterate_upper_bound = &upper_slice;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
  for (it->Seek(NumberedKey(s.id, expected));
       it->Valid() && expected <= s.usage_records; it->Next()) {
    const auto key = ParseNumberedKey(it->key().ToStringView());
    if (!key || key->number > s.usage_records) break;
    missing(key->number - 1);
    expected = key->number + 1;
    Result<UsageRecord> u =
        DecodeUsageRecord(s.id, key->number, it->value().ToStringView());
    if (!u.ok()) {
      report_.corrupt_records.push_back(u.status().message());
      continue;
    }
    deltas.Add(u->model, u->operation, u->recorded_ms, RecordTotals(*u));
    if (!u->message_id.empty()) {
      message_ids.emplace_back(std::move(u->message_id), key->number);
    }
    ++records;
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan usage"));
  missing(s.usage_records);
  report_.usage_records_replayed += records;
  std::vector<UsageBuffer::NewId> ids;
  ids.reserve(message_ids.size());
  for (const auto& [message_id, seq] : message_ids) {
    ids.push_back({message_id, seq});
  }
  usage_buffer_->AddReplayed(s.id, s.agent, s.tags, deltas, ids,
                             s.usage_records, records);
  return Status::OK();
}

Status StoreImpl::LoadUsageState() {
  // A record that does not decode stops a writable open: a budget or price
  // it cannot read, it cannot apply. A read-only open goes on without it
  // (listed in the recovery report) so that an operator can look.
  auto tolerate = [&](const Status& s) {
    if (s.ok() || mode_ == AccessMode::kReadWrite) return s;
    report_.corrupt_records.push_back(s.message());
    return Status::OK();
  };
  auto scan = [&](Cf cf, std::string_view prefix, auto load) -> Status {
    rocksdb::ColumnFamilyHandle* h = handle(cf);
    if (h == nullptr) return Status::OK();
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), h));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      AGENTLOG_RETURN_IF_ERROR(
          tolerate(load(it->key().ToStringView(), it->value().ToStringView())));
    }
    return FromRocksDB(it->status(), fmt::format("scan {}", CfName(cf)));
  };
  AGENTLOG_RETURN_IF_ERROR(scan(
      Cf::kMeta, kBudgetKeyPrefix,
      [&](std::string_view key, std::string_view value) -> Status {
        AGENTLOG_ASSIGN_OR_RETURN(const StoredBudget b, DecodeBudget(key, value));
        budgets_.Load(b);
        return Status::OK();
      }));
  AGENTLOG_RETURN_IF_ERROR(scan(
      Cf::kMeta, kPriceKeyPrefix,
      [&](std::string_view key, std::string_view value) -> Status {
        AGENTLOG_ASSIGN_OR_RETURN(const PriceVersion p, DecodePrice(key, value));
        prices_.Add(p);
        return Status::OK();
      }));
  // Every alert: the newest seq and each budget's newest emergency. Alerts
  // are few (at most three per budget generation and period: a thousand
  // budgets with daily periods make about a million a year, a second of
  // open time; retention of old alerts is future work).
  return scan(Cf::kAlerts, "",
              [&](std::string_view key, std::string_view value) -> Status {
                AGENTLOG_ASSIGN_OR_RETURN(const BudgetAlert a,
                                          DecodeAlert(key, value));
                budgets_.NoteAlert(a);
                return Status::OK();
              });
}

}  // namespace agentlog::internal
