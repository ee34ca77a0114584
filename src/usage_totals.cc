#include "usage_totals.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "usage_keys.h"
#include "usage_period.h"

namespace agentlog::internal {
namespace {

// The counters in their on-disk order.
template <typename Totals, typename F>
void ForEachCounter(Totals& t, F&& f) {
  f(t.records);
  f(t.tokens.input);
  f(t.tokens.output);
  f(t.tokens.cache_read);
  f(t.tokens.cache_write);
  f(t.cost_micros);
  f(t.saved_micros);
}

void PutLE(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
}

uint64_t GetLE(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// Two's-complement addition of the raw counters: what AddTotals does,
// without decoding into the struct.
void AddInto(char* sum, const char* add) {
  for (size_t off = 0; off < kTotalsValueBytes; off += 8) {
    PutLE(sum + off, GetLE(sum + off) + GetLE(add + off));
  }
}

class TotalsMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/,
             const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    if (value.size() != kTotalsValueBytes ||
        (existing_value != nullptr &&
         existing_value->size() != kTotalsValueBytes)) {
      return false;
    }
    if (existing_value == nullptr) {
      new_value->assign(value.data(), value.size());
      return true;
    }
    new_value->assign(existing_value->data(), existing_value->size());
    AddInto(new_value->data(), value.data());
    return true;
  }
  const char* Name() const override { return "agentlog.totals.v1"; }
};

}  // namespace

std::string EncodeTotals(const UsageTotals& totals) {
  std::string out(kTotalsValueBytes, '\0');
  size_t off = 0;
  ForEachCounter(totals, [&](const auto& counter) {
    PutLE(out.data() + off, static_cast<uint64_t>(counter));
    off += 8;
  });
  return out;
}

Result<UsageTotals> DecodeTotals(std::string_view value,
                                 std::string_view what) {
  if (value.size() != kTotalsValueBytes) {
    return Status::Corruption(fmt::format("{} is {} bytes; expected {}", what,
                                          value.size(), kTotalsValueBytes));
  }
  UsageTotals totals;
  size_t off = 0;
  ForEachCounter(totals, [&](auto& counter) {
    counter = static_cast<std::remove_reference_t<decltype(counter)>>(
        GetLE(value.data() + off));
    off += 8;
  });
  return totals;
}

void AddTotals(UsageTotals& sum, const UsageTotals& add) {
  uint64_t addend[kTotalsValueBytes / 8];
  size_t i = 0;
  ForEachCounter(add, [&](const auto& c) { addend[i++] = static_cast<uint64_t>(c); });
  i = 0;
  ForEachCounter(sum, [&](auto& c) {
    c = static_cast<std::remove_reference_t<decltype(c)>>(
        static_cast<uint64_t>(c) + addend[i++]);
  });
}

std::shared_ptr<rocksdb::MergeOperator> NewTotalsMergeOperator() {
  return std::make_shared<TotalsMergeOperator>();
}

void TotalsDeltas::Add(std::string_view model, std::string_view operation,
                       int64_t recorded_ms, const UsageTotals& delta) {
  const uint32_t day = PeriodIndex(UsagePeriod::kDay, recorded_ms);
  const uint32_t month = PeriodIndex(UsagePeriod::kMonth, recorded_ms);
  for (Group& g : groups_) {
    if (g.day == day && g.month == month && g.model == model &&
        g.operation == operation) {
      AddTotals(g.totals, delta);
      return;
    }
  }
  groups_.push_back({.model = std::string(model),
                     .operation = std::string(operation),
                     .day = day,
                     .month = month,
                     .totals = delta});
}

void TotalsDeltas::Add(const TotalsDeltas& other) {
  for (const Group& g : other.groups_) {
    const auto same = std::find_if(
        groups_.begin(), groups_.end(), [&](const Group& mine) {
          return mine.day == g.day && mine.month == g.month &&
                 mine.model == g.model && mine.operation == g.operation;
        });
    if (same != groups_.end()) {
      AddTotals(same->totals, g.totals);
    } else {
      groups_.push_back(g);
    }
  }
}

void TotalsDeltas::ForEachRow(
    std::span<const SpendScope> scopes,
    FunctionRef<void(const std::string& key, const UsageTotals& delta)> row)
    const {
  for (const Group& g : groups_) {
    auto add = [&](UsageScope scope, std::string_view name) {
      row(EncodeTotalsKey({scope, UsagePeriod::kLifetime, 0, name}), g.totals);
      if (HasPeriods(scope)) {
        row(EncodeTotalsKey({scope, UsagePeriod::kDay, g.day, name}),
            g.totals);
        row(EncodeTotalsKey({scope, UsagePeriod::kMonth, g.month, name}),
            g.totals);
      }
    };
    for (const SpendScope& scope : scopes) add(scope.scope, scope.name);
    add(UsageScope::kModel, g.model);
    add(UsageScope::kOperation, g.operation);
  }
}

}  // namespace agentlog::internal
