#include "budget_ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "status_macros.h"
#include "uint128.h"
#include "usage_keys.h"
#include "usage_period.h"

namespace agentlog::internal {
namespace {

constexpr BudgetThreshold kThresholds[] = {
    BudgetThreshold::kSoft, BudgetThreshold::kHard, BudgetThreshold::kEmergency};

uint8_t Bit(BudgetThreshold t) { return 1u << static_cast<uint8_t>(t); }

// "agent 'triage' (day)", "the store (month)".
std::string Describe(const BudgetSpec& spec) {
  if (spec.scope == UsageScope::kStore) {
    return fmt::format("the store's {} budget", UsagePeriodName(spec.period));
  }
  return fmt::format("the {} budget of {} '{}'", UsagePeriodName(spec.period),
                     UsageScopeName(spec.scope), spec.name);
}

}  // namespace

int64_t ThresholdMicros(const BudgetSpec& spec, BudgetThreshold threshold) {
  uint32_t percent = spec.hard_percent;
  if (threshold == BudgetThreshold::kSoft) percent = spec.soft_percent;
  if (threshold == BudgetThreshold::kEmergency) percent = spec.emergency_percent;
  // Round up: spending reaches 80 % of 1 micro-dollar only at 1.
  // Validated limits are positive.
  const Uint128 product =
      static_cast<Uint128>(static_cast<uint64_t>(spec.limit_micros)) *
      percent;
  const Uint128 micros = (product + 99) / 100;
  return micros > static_cast<Uint128>(
                      std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(micros);
}

BudgetLedger::Entry& BudgetLedger::EntryFor(const std::string& key,
                                            const BudgetSpec& spec) {
  const auto [it, added] = entries_.try_emplace(key);
  if (added) {
    ++kinds_[KindSlot(spec.scope, spec.period)];
    count_.store(entries_.size(), std::memory_order_release);
  }
  return it->second;
}

void BudgetLedger::Load(const StoredBudget& budget) {
  std::lock_guard lock(mu_);
  const std::string key =
      BudgetKey(budget.spec.scope, budget.spec.period, budget.spec.name);
  EntryFor(key, budget.spec).stored = budget;
  last_generation_ = std::max(last_generation_, budget.generation);
}

void BudgetLedger::NoteAlert(const BudgetAlert& alert) {
  std::lock_guard lock(mu_);
  last_alert_seq_ = std::max(last_alert_seq_, alert.seq);
  last_generation_ = std::max(last_generation_, alert.budget_generation);
  if (alert.threshold != BudgetThreshold::kEmergency) return;
  const auto it =
      entries_.find(BudgetKey(alert.scope, alert.period, alert.name));
  if (it != entries_.end() &&
      it->second.stored.generation == alert.budget_generation) {
    it->second.last_emergency_seq =
        std::max(it->second.last_emergency_seq, alert.seq);
  }
}

Status BudgetLedger::NotFound(UsageScope scope, std::string_view name,
                              UsagePeriod period) const {
  if (scope == UsageScope::kStore) {
    return Status::NotFound(fmt::format("the store has no {} budget",
                                        UsagePeriodName(period)));
  }
  return Status::NotFound(fmt::format("no {} budget for {} '{}'",
                                      UsagePeriodName(period),
                                      UsageScopeName(scope), name));
}

Status BudgetLedger::Refresh(Entry& e, int64_t now_ms) {
  const BudgetSpec& spec = e.stored.spec;
  const uint32_t index = PeriodIndex(spec.period, now_ms);
  if (e.period_loaded && e.index >= index) return Status::OK();
  AGENTLOG_ASSIGN_OR_RETURN(
      const int64_t spent,
      reader_->SpentIn(spec.scope, spec.name, spec.period, index));
  uint8_t fired = 0;
  for (BudgetThreshold t : kThresholds) {
    AGENTLOG_ASSIGN_OR_RETURN(
        const bool raised,
        reader_->AlertRaised(AlertKey(spec.scope, spec.period, index, t,
                                      e.stored.generation, spec.name)));
    if (raised) fired |= Bit(t);
  }
  e.period_loaded = true;
  e.index = index;
  e.spent = spent;
  e.loaded_by = e.stored.generation;
  e.fired = fired;
  return Status::OK();
}

Status BudgetLedger::Applicable(
    std::span<const SpendScope> scopes, int64_t now_ms, bool enforce,
    bool override_hard,
    std::vector<std::pair<const std::string*, Entry*>>* out) {
  static constexpr UsagePeriod kPeriods[] = {
      UsagePeriod::kLifetime, UsagePeriod::kDay, UsagePeriod::kMonth};
  for (const SpendScope& scope : scopes) {
    for (UsagePeriod period : kPeriods) {
      if (kinds_[KindSlot(scope.scope, period)] == 0) continue;
      const auto it = entries_.find(BudgetKey(scope.scope, period, scope.name));
      if (it == entries_.end()) continue;
      Entry& e = it->second;
      AGENTLOG_RETURN_IF_ERROR(Refresh(e, now_ms));
      if (out != nullptr) out->emplace_back(&it->first, &e);
      if (!enforce) continue;
      if (e.last_emergency_seq > e.stored.lifted_through_seq) {
        return Status::BudgetExceeded(fmt::format(
            "{} is blocked: spending crossed its emergency threshold ({} % of "
            "{} micro-dollars); an operator must lift the block "
            "(Store::LiftBudgetBlock)",
            Describe(e.stored.spec), e.stored.spec.emergency_percent,
            e.stored.spec.limit_micros));
      }
      const int64_t hard = ThresholdMicros(e.stored.spec, BudgetThreshold::kHard);
      if (!override_hard && PeriodIndex(period, now_ms) == e.index &&
          e.spent >= hard) {
        return Status::BudgetExceeded(fmt::format(
            "{} has spent {} of its {} micro-dollar hard threshold ({} % of "
            "{}); WriteOptions::override_budget lets a call through",
            Describe(e.stored.spec), e.spent, hard,
            e.stored.spec.hard_percent, e.stored.spec.limit_micros));
      }
    }
  }
  return Status::OK();
}

Status BudgetLedger::Check(std::span<const SpendScope> scopes, int64_t now_ms,
                           bool override_hard) {
  if (empty()) return Status::OK();
  std::lock_guard lock(mu_);
  return Applicable(scopes, now_ms, true, override_hard, nullptr);
}

Result<BudgetLedger::Admission> BudgetLedger::Admit(
    std::span<const SpendScope> scopes, int64_t cost, int64_t now_ms,
    bool enforce, bool override_hard, const SessionId& session) {
  Admission a;
  if (empty()) return a;
  std::lock_guard lock(mu_);
  std::vector<std::pair<const std::string*, Entry*>> budgets;
  AGENTLOG_RETURN_IF_ERROR(
      Applicable(scopes, now_ms, enforce, override_hard, &budgets));
  a.ledger_ = this;
  a.cost_ = cost;
  for (auto& [key, e] : budgets) {
    const BudgetSpec& spec = e->stored.spec;
    if (PeriodIndex(spec.period, now_ms) != e->index) continue;  // A past period.
    Admission::Charge charge{.key = *key,
                             .generation = e->stored.generation,
                             .loaded_by = e->loaded_by,
                             .index = e->index,
                             .prior_emergency = e->last_emergency_seq};
    // Costs are bounded per call (validation.h); saturating keeps even an
    // absurd total from wrapping round below the thresholds.
    if (__builtin_add_overflow(e->spent, cost, &e->spent)) {
      e->spent = std::numeric_limits<int64_t>::max();
    }
    for (BudgetThreshold t : kThresholds) {
      const int64_t threshold = ThresholdMicros(spec, t);
      if ((e->fired & Bit(t)) != 0 || e->spent < threshold) continue;
      e->fired |= Bit(t);
      charge.fired |= Bit(t);
      BudgetAlert alert{.seq = ++last_alert_seq_,
                        .scope = spec.scope,
                        .name = spec.name,
                        .period = spec.period,
                        .period_start_ms = PeriodStartMs(spec.period, e->index),
                        .threshold = t,
                        .limit_micros = spec.limit_micros,
                        .threshold_micros = threshold,
                        .spent_micros = e->spent,
                        .session = session,
                        .raised_ms = now_ms,
                        .budget_generation = e->stored.generation};
      if (t == BudgetThreshold::kEmergency) e->last_emergency_seq = alert.seq;
      a.alerts_.push_back(std::move(alert));
    }
    a.charges_.push_back(std::move(charge));
  }
  return a;
}

BudgetLedger::Admission& BudgetLedger::Admission::operator=(
    Admission&& other) noexcept {
  if (this != &other) {
    Rollback();
    ledger_ = std::exchange(other.ledger_, nullptr);
    cost_ = other.cost_;
    charges_ = std::move(other.charges_);
    alerts_ = std::move(other.alerts_);
  }
  return *this;
}

void BudgetLedger::Admission::Rollback() {
  if (ledger_ != nullptr) std::exchange(ledger_, nullptr)->Undo(*this);
}

void BudgetLedger::Undo(Admission& a) {
  std::lock_guard lock(mu_);
  for (const Admission::Charge& c : a.charges_) {
    const auto it = entries_.find(c.key);
    if (it == entries_.end() || it->second.index != c.index) {
      continue;  // Its period ended, or the budget was removed since.
    }
    Entry& e = it->second;
    if (e.loaded_by == c.loaded_by &&
        e.spent != std::numeric_limits<int64_t>::max()) {
      e.spent -= a.cost_;
    }
    // The alerts of another generation are not this charge's.
    if (e.stored.generation != c.generation) continue;
    e.fired &= static_cast<uint8_t>(~c.fired);
    if ((c.fired & Bit(BudgetThreshold::kEmergency)) != 0) {
      e.last_emergency_seq = c.prior_emergency;
    }
  }
}

BudgetStatus BudgetLedger::StatusOf(const Entry& e) const {
  return BudgetStatus{
      .spec = e.stored.spec,
      .generation = e.stored.generation,
      .period_start_ms = PeriodStartMs(e.stored.spec.period, e.index),
      .spent_micros = e.spent,
      .blocked = e.last_emergency_seq > e.stored.lifted_through_seq};
}

Result<BudgetStatus> BudgetLedger::Set(const BudgetSpec& spec, int64_t now_ms,
                                       Persist persist) {
  std::lock_guard lock(mu_);
  const std::string key = BudgetKey(spec.scope, spec.period, spec.name);
  const auto it = entries_.find(key);
  if (it != entries_.end() && it->second.stored.spec == spec) {
    // Hosts set their budgets at every start: that must not lift a block
    // or let thresholds fire again.
    AGENTLOG_RETURN_IF_ERROR(Refresh(it->second, now_ms));
    return StatusOf(it->second);
  }
  // Above every generation any alert in the store belongs to, so that a
  // budget removed and set again starts afresh too.
  const StoredBudget stored{
      .spec = spec,
      .created_ms = it != entries_.end() ? it->second.stored.created_ms
                                         : now_ms,
      .generation = std::max(last_generation_, last_alert_seq_) + 1};
  AGENTLOG_RETURN_IF_ERROR(persist(key, &stored));
  last_generation_ = stored.generation;
  Entry& e = EntryFor(key, spec);
  // The period's spending carries over: read again from the totals, it
  // would miss the calls admitted whose usage is not in them yet.
  e = Entry{.stored = stored,
            .period_loaded = e.period_loaded,
            .index = e.index,
            .spent = e.spent,
            .loaded_by = e.loaded_by};
  AGENTLOG_RETURN_IF_ERROR(Refresh(e, now_ms));
  return StatusOf(e);
}

Status BudgetLedger::Remove(UsageScope scope, std::string_view name,
                            UsagePeriod period, Persist persist) {
  std::lock_guard lock(mu_);
  const std::string key = BudgetKey(scope, period, name);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound(scope, name, period);
  AGENTLOG_RETURN_IF_ERROR(persist(key, nullptr));
  entries_.erase(it);
  --kinds_[KindSlot(scope, period)];
  count_.store(entries_.size(), std::memory_order_release);
  return Status::OK();
}

Result<BudgetStatus> BudgetLedger::Lift(UsageScope scope,
                                        std::string_view name,
                                        UsagePeriod period, int64_t now_ms,
                                        Persist persist) {
  std::lock_guard lock(mu_);
  const std::string key = BudgetKey(scope, period, name);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound(scope, name, period);
  Entry& e = it->second;
  if (e.last_emergency_seq <= e.stored.lifted_through_seq) {
    return Status::FailedPrecondition(
        fmt::format("{} is not blocked", Describe(e.stored.spec)));
  }
  // Covers an emergency alert whose write is still in flight too: its seq
  // is already taken.
  StoredBudget stored = e.stored;
  stored.lifted_through_seq = e.last_emergency_seq;
  AGENTLOG_RETURN_IF_ERROR(persist(key, &stored));
  e.stored = stored;
  AGENTLOG_RETURN_IF_ERROR(Refresh(e, now_ms));
  return StatusOf(e);
}

Result<BudgetStatus> BudgetLedger::Get(UsageScope scope, std::string_view name,
                                       UsagePeriod period, int64_t now_ms) {
  std::lock_guard lock(mu_);
  const std::string key = BudgetKey(scope, period, name);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound(scope, name, period);
  AGENTLOG_RETURN_IF_ERROR(Refresh(it->second, now_ms));
  return StatusOf(it->second);
}

Result<std::vector<BudgetStatus>> BudgetLedger::List(int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<BudgetStatus> out;
  out.reserve(entries_.size());
  for (auto& [key, e] : entries_) {
    AGENTLOG_RETURN_IF_ERROR(Refresh(e, now_ms));
    out.push_back(StatusOf(e));
  }
  return out;
}

}  // namespace agentlog::internal
