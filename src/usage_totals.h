#ifndef AGENTLOG_SRC_USAGE_TOTALS_H_
#define AGENTLOG_SRC_USAGE_TOTALS_H_

// The counters of `usage_totals` and the merge operator that keeps them.
// Every usage record adds its counters to each of its scopes' totals; the
// sums reach `usage_totals` as RocksDB merges (usage_buffer.h), so totals
// are never read on the write path and reading one is a point lookup
// whatever the number of records.

#include <rocksdb/merge_operator.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/usage.h"
#include "function_ref.h"
#include "spend_scope.h"

namespace agentlog::internal {

// Fixed width: seven 64-bit little-endian counters (records, the four token
// kinds, cost, saving).
inline constexpr size_t kTotalsValueBytes = 56;

std::string EncodeTotals(const UsageTotals& totals);
// Corruption naming `what` unless `value` is kTotalsValueBytes long.
Result<UsageTotals> DecodeTotals(std::string_view value, std::string_view what);
// Adds, each counter saturating at its type's maximum rather than wrapping
// (the merge operator does the same).
void AddTotals(UsageTotals& sum, const UsageTotals& add);

// What one usage record adds to each row of its scopes.
UsageTotals RecordTotals(const UsageRecord& u);

// The associative merge operator of `usage_totals` ("agentlog.totals.v1").
// A value or operand of the wrong size fails the merge, which RocksDB
// reports as Corruption on reads and compaction.
std::shared_ptr<rocksdb::MergeOperator> NewTotalsMergeOperator();

// The totals changes of one session's usage records, grouped by what sets
// apart the rows they reach: model, operation, day and month. A session's
// records seldom differ in those, so adding a record is a few additions to
// one group, and the rows' keys are built only when the deltas are spread
// over them (ForEachRow: by UsageBuffer, once per flush or read, not once
// per record).
class TotalsDeltas {
 public:
  // One record of `model` and `operation` at `recorded_ms`.
  void Add(std::string_view model, std::string_view operation,
           int64_t recorded_ms, const UsageTotals& delta);
  // Everything of `other`.
  void Add(const TotalsDeltas& other);
  bool empty() const { return groups_.empty(); }
  void clear() { groups_.clear(); }

  // Calls `row` with each `usage_totals` key (EncodeTotalsKey) these deltas
  // change, for records of a session spending in `scopes` (SessionScopes),
  // and what they add to it; a key reached by several groups comes once
  // per group.
  void ForEachRow(std::span<const SpendScope> scopes,
                  FunctionRef<void(const std::string& key,
                                   const UsageTotals& delta)>
                      row) const;

 private:
  struct Group {
    std::string model;
    std::string operation;
    uint32_t day = 0;
    uint32_t month = 0;
    UsageTotals totals;
  };
  std::vector<Group> groups_;  // Usually one.
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_TOTALS_H_
