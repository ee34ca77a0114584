#ifndef AGENTLOG_SRC_USAGE_PERIOD_H_
#define AGENTLOG_SRC_USAGE_PERIOD_H_

// Calendar periods (UTC) of usage totals and budgets, numbered so that the
// number goes into keys: the lifetime is 0, a day is its number of days
// since 1970-01-01, a month its number of months since January 1970.

#include <cstdint>

#include "agentlog/usage.h"

namespace agentlog::internal {

// The number of the period of kind `period` that contains `ms`.
uint32_t PeriodIndex(UsagePeriod period, int64_t ms);
// Unix milliseconds at which period `index` begins (0 for the lifetime).
int64_t PeriodStartMs(UsagePeriod period, uint32_t index);
// Unix milliseconds at which it ends (the next one's start); INT64_MAX for
// the lifetime.
int64_t PeriodEndMs(UsagePeriod period, uint32_t index);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_PERIOD_H_
