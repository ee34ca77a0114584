#include "pricing.h"

#include <fmt/format.h>

#include <limits>

#include "uint128.h"

namespace agentlog::internal {

Status ValidatePrice(const ModelPrice& price) {
  if (price.model.empty()) {
    return Status::InvalidArgument("ModelPrice::model is empty; it is required");
  }
  const struct {
    int64_t value;
    const char* field;
  } kinds[] = {{price.input, "input"},
               {price.output, "output"},
               {price.cache_read, "cache_read"},
               {price.cache_write, "cache_write"}};
  for (const auto& k : kinds) {
    if (k.value < 0 || k.value > kMaxPricePerMillion) {
      return Status::InvalidArgument(fmt::format(
          "ModelPrice::{} of model '{}' is {} micro-dollars per million "
          "tokens; allowed range is 0 to {}",
          k.field, price.model, k.value, kMaxPricePerMillion));
    }
  }
  return Status::OK();
}

Result<int64_t> CostMicros(const ModelPrice& price, const TokenCounts& tokens) {
  // Cheap, and what keeps the sum below from wrapping.
  if (Status s = ValidatePrice(price); !s.ok()) return s;
  // Each product is below 2^64 * 2^40; their sum below 2^106.
  const Uint128 total =
      static_cast<Uint128>(tokens.input) * price.input +
      static_cast<Uint128>(tokens.output) * price.output +
      static_cast<Uint128>(tokens.cache_read) * price.cache_read +
      static_cast<Uint128>(tokens.cache_write) * price.cache_write;
  const Uint128 micros = (total + 500'000) / 1'000'000;
  if (micros > static_cast<Uint128>(
                   std::numeric_limits<int64_t>::max())) {
    return Status::InvalidArgument(fmt::format(
        "the cost of {} input, {} output, {} cache-read and {} cache-write "
        "tokens at the prices of model '{}' would overflow int64 "
        "micro-dollars",
        tokens.input, tokens.output, tokens.cache_read, tokens.cache_write,
        price.model));
  }
  return static_cast<int64_t>(micros);
}

int64_t CacheSavingMicros(const ModelPrice& price, uint64_t cache_read) {
  if (price.input <= price.cache_read || price.cache_read < 0) return 0;
  const Uint128 total =
      static_cast<Uint128>(cache_read) *
      static_cast<uint64_t>(price.input - price.cache_read);
  const Uint128 micros = (total + 500'000) / 1'000'000;
  return micros > static_cast<Uint128>(
                      std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(micros);
}

}  // namespace agentlog::internal
