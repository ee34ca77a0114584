#ifndef AGENTLOG_SRC_USAGE_KEYS_H_
#define AGENTLOG_SRC_USAGE_KEYS_H_

// Keys of the usage families and of the usage entries of `meta`
// (docs/format.md). Usage records themselves are keyed like turns:
// NumberedKey(session, seq).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agentlog/session_id.h"
#include "agentlog/usage.h"

namespace agentlog::internal {

// A scope's totals in one period: scope byte, period byte, period index
// (u32 BE), then the scope's name. Ordered by scope, period, time, name.
struct TotalsKey {
  UsageScope scope = UsageScope::kStore;
  UsagePeriod period = UsagePeriod::kLifetime;
  uint32_t index = 0;  // PeriodIndex.
  std::string_view name;
};
std::string EncodeTotalsKey(const TotalsKey& key);
// The prefix of every key of `scope` in `period`.
std::string TotalsPrefix(UsageScope scope, UsagePeriod period);
// nullopt when malformed; the name points into `key`.
std::optional<TotalsKey> ParseTotalsKey(std::string_view key);

// A session's totals mark, in `usage_totals`: 0xff, then the session id (16
// bytes); its value is a u64 BE usage seq. The totals on disk include the
// session's usage records up to that seq (usage_buffer.h); the byte sorts
// marks after every row, by session id.
inline constexpr char kTotalsMarkByte = '\xff';
std::string TotalsMarkKey(const SessionId& session);
// nullopt unless `key` is a mark key.
std::optional<SessionId> ParseTotalsMarkKey(std::string_view key);
// A mark's value: the seq through which the totals include the session's
// records.
std::string EncodeTotalsMark(uint64_t through_seq);
// nullopt unless `value` is 8 bytes.
std::optional<uint64_t> DecodeTotalsMark(std::string_view value);

// A budget, in `meta`: "budget/", scope byte, period byte, name.
std::string BudgetKey(UsageScope scope, UsagePeriod period,
                      std::string_view name);
inline constexpr std::string_view kBudgetKeyPrefix = "budget/";

// An alert, in `alerts`: scope byte, period byte, period index (u32 BE),
// threshold byte, budget generation (u64 BE), name. At most one per
// budget generation, period and threshold.
std::string AlertKey(UsageScope scope, UsagePeriod period, uint32_t index,
                     BudgetThreshold threshold, uint64_t generation,
                     std::string_view name);

// A price version, in `meta`: "price/", model length (u32 BE), model,
// version (u32 BE). Every version of a model is one contiguous range.
std::string PriceKey(std::string_view model, uint32_t version);
inline constexpr std::string_view kPriceKeyPrefix = "price/";

// The value of a `usage_ids` entry: the record's session id and seq.
std::string EncodeUsageRef(const SessionId& session, uint64_t seq);
struct UsageRef {
  SessionId session;
  uint64_t seq = 0;
};
std::optional<UsageRef> DecodeUsageRef(std::string_view value);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_KEYS_H_
