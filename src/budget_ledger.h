#ifndef AGENTLOG_SRC_BUDGET_LEDGER_H_
#define AGENTLOG_SRC_BUDGET_LEDGER_H_

// Budgets in memory, and the admission of every write that spends.
//
// Exactness under concurrency comes from admitting spend before it is
// written: under the ledger's mutex a write is checked against each budget
// of its scopes and its cost added to their spend at once, so concurrent
// writers see each other's spend whether or not it is on disk yet; should
// the write then fail, its Admission takes the cost back. A budget's spend
// in its current period is read from `usage_totals` when the period first
// comes up (at first use, and at each roll-over), then kept here.
//
// Alerts are raised by the admission whose spend reaches a threshold not yet
// raised in the period; the caller writes them in the same batch as the
// usage. "Raised" is the alert's key existing in `alerts`, so each fires
// once per budget generation, period and threshold, across restarts too.
// A budget's generation changes whenever its limit or thresholds do, so a
// changed budget starts its alerts (and any emergency block) afresh.
//
// Concurrency caveat: a budget that comes into being (a new one, or one set
// again after Remove) reads its period's spend from the totals, which lack
// the writes admitted but not yet acknowledged, and no admission charged
// it. It misses those writes (at most one per writing thread; a write that
// found no budget at all, by empty() without the lock, is one) until the
// next open reads the totals again. Keeping in-flight spend for scopes
// without a budget would put a map update on every usage write for this
// one moment.
//
// Thread-safe. Lock order: a session's stripe lock, then the ledger's.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/session_id.h"
#include "agentlog/usage.h"
#include "function_ref.h"
#include "spend_scope.h"

namespace agentlog::internal {

// A budget as stored in `meta`.
struct StoredBudget {
  BudgetSpec spec;
  int64_t created_ms = 0;
  // Emergency alerts of this generation with seq up to this are lifted.
  uint64_t lifted_through_seq = 0;
  uint64_t generation = 0;
};

// What the ledger reads from the store.
class BudgetReader {
 public:
  virtual ~BudgetReader() = default;
  // Cost in `usage_totals` for the scope in period `index`.
  virtual Result<int64_t> SpentIn(UsageScope scope, std::string_view name,
                                  UsagePeriod period, uint32_t index) = 0;
  // Whether `alerts` holds the alert key.
  virtual Result<bool> AlertRaised(std::string_view alert_key) = 0;
};

class BudgetLedger {
 public:
  explicit BudgetLedger(BudgetReader* reader) : reader_(reader) {}

  // --- Loading (at open, before any other call) ---
  void Load(const StoredBudget& budget);
  void NoteAlert(const BudgetAlert& alert);

  // Spend admitted to the ledger, and the alerts it raised. Unless
  // committed, destruction takes the spend and the alerts back.
  class Admission {
   public:
    Admission() = default;
    Admission(Admission&& other) noexcept { *this = std::move(other); }
    Admission& operator=(Admission&& other) noexcept;
    ~Admission() { Rollback(); }

    // To write in the same batch as the spend, and deliver once durable.
    const std::vector<BudgetAlert>& alerts() const { return alerts_; }
    // The write is acknowledged: keep the spend.
    void Commit() { ledger_ = nullptr; }

   private:
    friend class BudgetLedger;
    struct Charge {
      std::string key;
      uint64_t generation = 0;
      uint64_t loaded_by = 0;          // Entry::loaded_by when charged.
      uint32_t index = 0;
      uint8_t fired = 0;               // Threshold bits this raised.
      uint64_t prior_emergency = 0;    // To restore on rollback.
    };
    void Rollback();

    BudgetLedger* ledger_ = nullptr;
    int64_t cost_ = 0;
    std::vector<Charge> charges_;
    std::vector<BudgetAlert> alerts_;
  };

  // Refuses (BudgetExceeded) work in `scopes` at `now_ms` when a budget of
  // theirs is blocked, or, unless `override_hard`, has reached its hard
  // threshold. For calls that begin work without spending yet.
  Status Check(std::span<const SpendScope> scopes, int64_t now_ms,
               bool override_hard);
  // With `enforce`, Check; then adds `cost` to every budget of `scopes`,
  // raising the alerts it crosses (charged to `session`). Without
  // `enforce` (the completion of a turn already begun), never refuses.
  Result<Admission> Admit(std::span<const SpendScope> scopes, int64_t cost,
                          int64_t now_ms, bool enforce, bool override_hard,
                          const SessionId& session);

  // Management. `persist` writes the budget's new record (null: delete it)
  // under the ledger's lock; memory changes only when it succeeds. Setting
  // a budget to the spec it has changes nothing; any other Set starts a new
  // generation, which keeps the period's spending as charged so far (calls
  // admitted whose usage is not in the totals yet included) and raises its
  // thresholds afresh.
  using Persist = FunctionRef<Status(const std::string& key,
                                     const StoredBudget* budget)>;
  Result<BudgetStatus> Set(const BudgetSpec& spec, int64_t now_ms,
                           Persist persist);
  Status Remove(UsageScope scope, std::string_view name, UsagePeriod period,
                Persist persist);
  Result<BudgetStatus> Lift(UsageScope scope, std::string_view name,
                            UsagePeriod period, int64_t now_ms,
                            Persist persist);
  Result<BudgetStatus> Get(UsageScope scope, std::string_view name,
                           UsagePeriod period, int64_t now_ms);
  Result<std::vector<BudgetStatus>> List(int64_t now_ms);

  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

 private:
  struct Entry {
    StoredBudget stored;
    uint64_t last_emergency_seq = 0;
    bool period_loaded = false;
    uint32_t index = 0;  // Period of `spent` and `fired`.
    int64_t spent = 0;
    // The generation whose Refresh read `spent` from the totals: a charge
    // made since is in `spent` (a changed spec keeps it), one before is
    // not, and only the former may be taken back.
    uint64_t loaded_by = 0;
    uint8_t fired = 0;   // Bit per BudgetThreshold raised in the period.
  };

  // Moves `e` to the period of `now_ms`, loading its spend and alerts.
  Status Refresh(Entry& e, int64_t now_ms);
  // Budgets of `scopes`, refreshed to `now_ms`; with `enforce`, checked as
  // in Check.
  Status Applicable(std::span<const SpendScope> scopes, int64_t now_ms,
                    bool enforce, bool override_hard,
                    std::vector<std::pair<const std::string*, Entry*>>* out);
  Status NotFound(UsageScope scope, std::string_view name,
                  UsagePeriod period) const;
  BudgetStatus StatusOf(const Entry& e) const;
  void Undo(Admission& a);

  // The entry of `key` (of `spec`), counted in kinds_ if new.
  // REQUIRES: mu_ held.
  Entry& EntryFor(const std::string& key, const BudgetSpec& spec);
  // kinds_'s slot of budgets of `scope` over `period`.
  static size_t KindSlot(UsageScope scope, UsagePeriod period) {
    return static_cast<size_t>(scope) * kPeriodCount +
           static_cast<size_t>(period);
  }
  static constexpr size_t kPeriodCount = 3;  // UsagePeriod's values.
  static constexpr size_t kScopeCount = 6;   // UsageScope's values.

  BudgetReader* const reader_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // By BudgetKey. Guarded by mu_.
  // Budgets per scope and period: admission builds and looks up the key of
  // a write's scope in a period only where some budget could match (with
  // one store budget, one key a write instead of eighteen for a session
  // with three tags). Guarded by mu_.
  std::array<uint32_t, kScopeCount * kPeriodCount> kinds_{};
  uint64_t last_alert_seq_ = 0;           // Guarded by mu_.
  uint64_t last_generation_ = 0;          // Guarded by mu_.
  std::atomic<size_t> count_{0};          // entries_.size().
};

// The hard, soft or emergency threshold of `spec` in micro-dollars.
int64_t ThresholdMicros(const BudgetSpec& spec, BudgetThreshold threshold);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_BUDGET_LEDGER_H_
