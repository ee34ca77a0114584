#ifndef AGENTLOG_SRC_USAGE_TOTALS_H_
#define AGENTLOG_SRC_USAGE_TOTALS_H_

// The counters of `usage_totals` and the merge operator that keeps them.
// Every usage record adds its counters to each of its scopes' totals; the
// sums reach `usage_totals` as RocksDB merges (totals_buffer.h), so totals
// are never read on the write path and reading one is a point lookup
// whatever the number of records.

#include <rocksdb/merge_operator.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "agentlog/result.h"
#include "agentlog/usage.h"

namespace agentlog::internal {

// Fixed width: seven 64-bit little-endian counters (records, the four token
// kinds, cost, saving).
inline constexpr size_t kTotalsValueBytes = 56;

std::string EncodeTotals(const UsageTotals& totals);
// Corruption naming `what` unless `value` is kTotalsValueBytes long.
Result<UsageTotals> DecodeTotals(std::string_view value, std::string_view what);
// Adds with wrap-around: per-record limits keep real sums far from it.
void AddTotals(UsageTotals& sum, const UsageTotals& add);

// The associative merge operator of `usage_totals` ("agentlog.totals.v1").
// A value or operand of the wrong size fails the merge, which RocksDB
// reports as Corruption on reads and compaction.
std::shared_ptr<rocksdb::MergeOperator> NewTotalsMergeOperator();

// The totals changes of one write, one entry per key however many records
// touch it.
class TotalsDeltas {
 public:
  void Add(std::string key, const UsageTotals& delta) {
    AddTotals(deltas_[std::move(key)], delta);
  }
  bool empty() const { return deltas_.empty(); }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [key, delta] : deltas_) f(key, delta);
  }

 private:
  std::map<std::string, UsageTotals> deltas_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_TOTALS_H_
