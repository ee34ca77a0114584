#ifndef AGENTLOG_TOOLS_USAGE_JSON_H_
#define AGENTLOG_TOOLS_USAGE_JSON_H_

// JSON of the usage, cost and budget records, shared by `agentlog usage`,
// `costs`, `budgets`, `alerts` and `dump`. Money is in integer micro-dollars
// (fields ending _micros); times are Unix milliseconds (_ms), with an ISO
// 8601 twin where a person reads them.

#include <string>

#include "agentlog/usage.h"
#include "json_writer.h"

namespace agentlog::tools {

// Adds records, input, output, cache_read, cache_write, cost_micros and
// saved_micros to `o`.
JsonObject& AddTotals(JsonObject& o, const UsageTotals& totals);

// Adds scope, name, period, limit_micros and the three thresholds' percents.
JsonObject& AddBudgetSpec(JsonObject& o, const BudgetSpec& spec);

std::string UsageRecordJson(const UsageRecord& record);
std::string AlertJson(const BudgetAlert& alert);
std::string PriceJson(const PriceVersion& price);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_USAGE_JSON_H_
