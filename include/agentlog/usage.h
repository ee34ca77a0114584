#ifndef AGENTLOG_USAGE_H_
#define AGENTLOG_USAGE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agentlog/export.h"
#include "agentlog/session.h"
#include "agentlog/session_id.h"

namespace agentlog {

// What one model costs, in integer micro-dollars per million tokens of each
// kind ($3 per million input tokens is input = 3'000'000). Money is never
// floating point: a record's cost is the sum over kinds of tokens times
// price, divided by one million and rounded half up to the micro-dollar,
// computed in 128 bits so that no intermediate overflows.
struct ModelPrice {
  std::string model;
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_write = 0;

  friend bool operator==(const ModelPrice&, const ModelPrice&) = default;
};

// A price as the store keeps it: versions of a model's price are numbered
// 1, 2, 3... and each applies to usage recorded from its effective time on.
struct PriceVersion {
  ModelPrice price;
  uint32_t version = 0;
  int64_t effective_ms = 0;  // Unix milliseconds.
  int64_t set_ms = 0;        // When Store::SetPrice stored it.
};

// What one model call consumed, as the host reports it.
struct UsageSpec {
  // The provider's id of the call (a response or message id): the same id
  // recorded twice anywhere in the store counts once. Empty: no
  // deduplication. At most Options::max_idempotency_key_bytes.
  std::string message_id;
  // The model called; empty means the session's model. At most
  // Options::max_name_bytes, valid UTF-8.
  std::string model;
  // What the call was for ("chat", "embedding", "summarise"...); empty is
  // recorded as "call". At most Options::max_name_bytes, valid UTF-8.
  std::string operation;
  TokenCounts tokens;
  // The cost as the host computed it, in micro-dollars (0 to 2^50). Empty:
  // the store prices the call with the model's price in effect now.
  std::optional<int64_t> cost_micros;
  // The call carried the session's conversation: its four token counts
  // become Session::context_tokens (PredictOverflow). False for calls
  // beside the conversation (an embedding, a classifier).
  bool in_context = true;
};

// Where a usage record's cost came from. Values are persistent.
enum class CostSource : uint8_t {
  kPriced = 0,    // The store's price table.
  kHost = 1,      // UsageSpec::cost_micros.
  kUnpriced = 2,  // No price for the model: recorded with cost 0.
};

// "priced", "host" or "unpriced".
AGENTLOG_EXPORT std::string_view CostSourceName(CostSource source);

// A stored usage record.
struct UsageRecord {
  SessionId session;
  uint64_t seq = 0;   // 1, 2, 3... per session.
  uint64_t turn = 0;  // The turn it was recorded with; 0 for none.
  std::string message_id;
  std::string model;
  std::string operation;
  TokenCounts tokens;
  int64_t cost_micros = 0;
  // What the cache-read tokens would have cost as input tokens, less what
  // they did cost: the money prompt caching saved. 0 unless priced.
  int64_t saved_micros = 0;
  CostSource cost_source = CostSource::kPriced;
  uint32_t price_version = 0;  // kPriced: the PriceVersion used.
  int64_t recorded_ms = 0;     // Unix milliseconds.
};

// What Store::RecordUsage did.
struct RecordUsageResult {
  UsageRecord record;
  // True when the message id was recorded before: `record` is that record
  // and nothing was written. (When that record's session has since been
  // deleted, the id still counts once, and `record` holds only its
  // session, seq and message id.)
  bool duplicate = false;
};

// What usage totals are kept for. Values are persistent.
enum class UsageScope : uint8_t {
  kStore = 0,      // Everything; the name is empty.
  kSession = 1,    // The name is the session id's text.
  kAgent = 2,      // The session's agent.
  kTag = 3,        // Each of the session's tags.
  kModel = 4,      // UsageRecord::model.
  kOperation = 5,  // UsageRecord::operation.
};
AGENTLOG_EXPORT std::string_view UsageScopeName(UsageScope scope);

// Calendar periods in UTC. Values are persistent.
enum class UsagePeriod : uint8_t {
  kLifetime = 0,
  kDay = 1,
  kMonth = 2,
};
AGENTLOG_EXPORT std::string_view UsagePeriodName(UsagePeriod period);

// Sums over usage records.
struct UsageTotals {
  uint64_t records = 0;
  TokenCounts tokens;
  int64_t cost_micros = 0;
  int64_t saved_micros = 0;

  // Cache-read tokens over all prompt tokens (input + cache-read); 0 when
  // there were none.
  double cache_hit_ratio() const {
    const uint64_t prompt = tokens.input + tokens.cache_read;
    return prompt == 0 ? 0.0 : static_cast<double>(tokens.cache_read) / prompt;
  }
  friend bool operator==(const UsageTotals&, const UsageTotals&) = default;
};

// The totals of one scope in one period. Totals are kept for store,
// session, agent and tag in every period, and for model and operation over
// the lifetime.
struct UsageTotalsRow {
  UsageScope scope = UsageScope::kStore;
  std::string name;
  UsagePeriod period = UsagePeriod::kLifetime;
  int64_t period_start_ms = 0;  // 0 for the lifetime.
  UsageTotals totals;
};

// A spending limit on one scope (store, session, agent or tag) in one
// period. Thresholds are percentages of the limit, strictly increasing.
// A budget counts spending recorded since format 6, in its periods,
// including spending recorded before the budget was set.
struct BudgetSpec {
  UsageScope scope = UsageScope::kStore;
  std::string name;  // Empty for kStore; the session id's text for kSession.
  UsagePeriod period = UsagePeriod::kMonth;
  int64_t limit_micros = 0;  // 1 to 2^62.
  // Crossing it raises an alert.
  uint32_t soft_percent = 80;
  // Once spending reaches it, new work in the scope (BeginTurn, AppendTurn,
  // RecordUsage) is refused with BudgetExceeded, unless WriteOptions::
  // override_budget. The call that crosses it is let through, and turns
  // already begun still complete with their usage: usage is what a model
  // already consumed. So recorded spend stays below the hard threshold plus
  // the call that crosses it plus the turns in flight when it did.
  uint32_t hard_percent = 100;
  // Crossing it raises an alert and blocks new work in the scope, overrides
  // included, until Store::LiftBudgetBlock.
  uint32_t emergency_percent = 120;

  friend bool operator==(const BudgetSpec&, const BudgetSpec&) = default;
};

// Budget thresholds. Values are persistent.
enum class BudgetThreshold : uint8_t {
  kSoft = 0,
  kHard = 1,
  kEmergency = 2,
};
AGENTLOG_EXPORT std::string_view BudgetThresholdName(BudgetThreshold t);

// A budget and where its scope stands in the current period.
struct BudgetStatus {
  BudgetSpec spec;
  // Changes whenever the limit or a threshold changes (Store::SetBudget).
  uint64_t generation = 0;
  int64_t period_start_ms = 0;
  int64_t spent_micros = 0;  // In the current period.
  // Blocked by an emergency crossing not yet lifted.
  bool blocked = false;
};

// A threshold crossing, recorded in the same write as the usage that
// crossed it: at most one per budget, period and threshold.
struct BudgetAlert {
  uint64_t seq = 0;  // 1, 2, 3... in the order alerts were raised.
  UsageScope scope = UsageScope::kStore;
  std::string name;
  UsagePeriod period = UsagePeriod::kLifetime;
  int64_t period_start_ms = 0;
  BudgetThreshold threshold = BudgetThreshold::kSoft;
  int64_t limit_micros = 0;
  int64_t threshold_micros = 0;
  int64_t spent_micros = 0;  // Including the usage that crossed it.
  SessionId session;          // Whose usage crossed it.
  int64_t raised_ms = 0;
  uint64_t budget_generation = 0;  // BudgetStatus::generation then.
};

// Receives alerts once the write that raised them is acknowledged (as
// durable as that write's Durability), on the thread that wrote it, with no
// lock of the store held. Delivery is at most once: an alert raised just
// before a crash is on disk (Store::ListAlerts) but may not have been
// delivered.
using AlertListener = std::function<void(const BudgetAlert&)>;

// Spending over a recent window and where it leads.
struct BudgetProjection {
  BudgetStatus status;
  int64_t window_spent_micros = 0;
  // Micro-dollars per hour over the window.
  double burn_rate_per_hour = 0;
  // Current spend plus the burn rate until the period ends; 0 for a
  // lifetime budget.
  int64_t projected_period_end_micros = 0;
  // Until spending reaches the hard threshold at the burn rate: 0 when it
  // has, empty when the rate is 0.
  std::optional<std::chrono::milliseconds> time_to_hard_limit;
};

// Whether a session's next call fits its model's context window.
struct ContextPrediction {
  uint64_t context_window = 0;  // Session::context_window.
  // The latest usage record's prompt and response tokens: what the next
  // call sends again.
  uint64_t current_tokens = 0;
  uint64_t estimated_tokens = 0;  // Added by the next call.
  bool fits = true;
  uint64_t overflow_tokens = 0;   // By how much it does not fit.
  // current + estimated reaches Options::context_warning_percent.
  bool warning = false;
};

// The answer of Store::CheckRate.
struct RateDecision {
  bool allowed = true;
  // When not allowed: how long until enough of the window's usage ages out.
  std::chrono::milliseconds wait{0};
  uint64_t window_tokens = 0;    // Tokens recorded in the window.
  uint64_t window_requests = 0;  // Usage records in the window.
};

}  // namespace agentlog

#endif  // AGENTLOG_USAGE_H_
