#include "usage_period.h"

#include <chrono>
#include <limits>

namespace agentlog::internal {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::milliseconds;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr int64_t kMsPerDay = 86'400'000;

// Times before 1970 (a clock gone badly wrong) count in period 0.
int64_t ClampToEpoch(int64_t ms) { return ms < 0 ? 0 : ms; }

}  // namespace

uint32_t PeriodIndex(UsagePeriod period, int64_t ms) {
  ms = ClampToEpoch(ms);
  switch (period) {
    case UsagePeriod::kLifetime:
      return 0;
    case UsagePeriod::kDay:
      return static_cast<uint32_t>(ms / kMsPerDay);
    case UsagePeriod::kMonth: {
      const year_month_day ymd{
          sys_days{days{ms / kMsPerDay}}};
      return static_cast<uint32_t>((static_cast<int>(ymd.year()) - 1970) * 12 +
                                   static_cast<unsigned>(ymd.month()) - 1);
    }
  }
  return 0;
}

int64_t PeriodStartMs(UsagePeriod period, uint32_t index) {
  switch (period) {
    case UsagePeriod::kLifetime:
      return 0;
    case UsagePeriod::kDay:
      return static_cast<int64_t>(index) * kMsPerDay;
    case UsagePeriod::kMonth: {
      const std::chrono::year y{1970 + static_cast<int>(index / 12)};
      const std::chrono::month m{index % 12 + 1};
      const sys_days first{y / m / 1};
      return first.time_since_epoch().count() * kMsPerDay;
    }
  }
  return 0;
}

int64_t PeriodEndMs(UsagePeriod period, uint32_t index) {
  if (period == UsagePeriod::kLifetime) {
    return std::numeric_limits<int64_t>::max();
  }
  return PeriodStartMs(period, index + 1);
}

}  // namespace agentlog::internal
