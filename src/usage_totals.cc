#include "usage_totals.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
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

// Totals only grow. One that would pass its type's maximum stays there: a
// priced call may cost about 2^62 micro-dollars (validation.h), and a
// wrapped, negative spend would put every budget of its scopes out of
// reach.
template <typename T>
T SaturatingAdd(T a, T b) {
  T sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<T>::max()
                                            : sum;
}

// The counters before these are unsigned (records and tokens); these are
// signed (cost and saving).
constexpr size_t kFirstSignedCounter = 5;
static_assert(kTotalsValueBytes == 7 * 8,
              "AddInto and AddTotals know the counters one by one");

// What AddTotals does, on the encoded counters.
void AddInto(char* sum, const char* add) {
  for (size_t i = 0; i < kTotalsValueBytes / 8; ++i) {
    char* const at = sum + 8 * i;
    const uint64_t a = GetLE(at);
    const uint64_t b = GetLE(add + 8 * i);
    PutLE(at, i < kFirstSignedCounter
                  ? SaturatingAdd(a, b)
                  : static_cast<uint64_t>(SaturatingAdd(
                        static_cast<int64_t>(a), static_cast<int64_t>(b))));
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

UsageTotals RecordTotals(const UsageRecord& u) {
  return {.records = 1,
          .tokens = u.tokens,
          .cost_micros = u.cost_micros,
          .saved_micros = u.saved_micros};
}

void AddTotals(UsageTotals& sum, const UsageTotals& add) {
  sum.records = SaturatingAdd(sum.records, add.records);
  sum.tokens.input = SaturatingAdd(sum.tokens.input, add.tokens.input);
  sum.tokens.output = SaturatingAdd(sum.tokens.output, add.tokens.output);
  sum.tokens.cache_read =
      SaturatingAdd(sum.tokens.cache_read, add.tokens.cache_read);
  sum.tokens.cache_write =
      SaturatingAdd(sum.tokens.cache_write, add.tokens.cache_write);
  sum.cost_micros = SaturatingAdd(sum.cost_micros, add.cost_micros);
  sum.saved_micros = SaturatingAdd(sum.saved_micros, add.saved_micros);
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
