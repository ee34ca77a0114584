#ifndef AGENTLOG_TESTS_USAGE_ORACLE_H_
#define AGENTLOG_TESTS_USAGE_ORACLE_H_

// The usage totals a store should hold, summed by brute force from its raw
// records, and the totals it does hold, in one comparable shape.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "agentlog/store.h"
#include "usage_period.h"

namespace agentlog::testing {

// What every totals row should be, summed from the raw records.
using TotalsMap =
    std::map<std::tuple<UsageScope, UsagePeriod, int64_t, std::string>,
             UsageTotals>;

inline TotalsMap BruteForce(Store& store) {
  TotalsMap expected;
  auto s = store.ListSessions();
  EXPECT_TRUE(s.ok());
  for (const Session& session : *s) {
    auto records = store.ListUsage(session.id);
    EXPECT_TRUE(records.ok());
    for (const UsageRecord& u : *records) {
      const UsageTotals delta{.records = 1,
                              .tokens = u.tokens,
                              .cost_micros = u.cost_micros,
                              .saved_micros = u.saved_micros};
      auto add = [&](UsageScope scope, const std::string& name, bool periods) {
        std::vector<UsagePeriod> kinds = {UsagePeriod::kLifetime};
        if (periods) kinds = {UsagePeriod::kLifetime, UsagePeriod::kDay,
                              UsagePeriod::kMonth};
        for (UsagePeriod p : kinds) {
          const int64_t start = internal::PeriodStartMs(
              p, internal::PeriodIndex(p, u.recorded_ms));
          UsageTotals& t = expected[{scope, p, start, name}];
          t.records += delta.records;
          t.tokens.input += delta.tokens.input;
          t.tokens.output += delta.tokens.output;
          t.tokens.cache_read += delta.tokens.cache_read;
          t.tokens.cache_write += delta.tokens.cache_write;
          t.cost_micros += delta.cost_micros;
          t.saved_micros += delta.saved_micros;
        }
      };
      add(UsageScope::kStore, "", true);
      add(UsageScope::kSession, session.id.ToString(), true);
      add(UsageScope::kAgent, session.agent, true);
      for (const std::string& tag : session.tags) add(UsageScope::kTag, tag, true);
      add(UsageScope::kModel, u.model, false);
      add(UsageScope::kOperation, u.operation, false);
    }
  }
  return expected;
}

inline TotalsMap Stored(Store& store) {
  TotalsMap stored;
  for (UsageScope scope :
       {UsageScope::kStore, UsageScope::kSession, UsageScope::kAgent,
        UsageScope::kTag, UsageScope::kModel, UsageScope::kOperation}) {
    for (UsagePeriod p :
         {UsagePeriod::kLifetime, UsagePeriod::kDay, UsagePeriod::kMonth}) {
      auto rows = store.ListUsageTotals(scope, p);
      if (scope == UsageScope::kModel || scope == UsageScope::kOperation) {
        if (p != UsagePeriod::kLifetime) {
          EXPECT_EQ(rows.status().code(), Code::kInvalidArgument);
          continue;
        }
      }
      EXPECT_TRUE(rows.ok()) << rows.status().ToString();
      for (const UsageTotalsRow& r : *rows) {
        stored[{r.scope, r.period, r.period_start_ms, r.name}] = r.totals;
      }
    }
  }
  return stored;
}

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTS_USAGE_ORACLE_H_
