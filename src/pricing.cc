#include "pricing.h"

#include <fmt/format.h>

#include <limits>

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
  const unsigned __int128 total =
      static_cast<unsigned __int128>(tokens.input) * price.input +
      static_cast<unsigned __int128>(tokens.output) * price.output +
      static_cast<unsigned __int128>(tokens.cache_read) * price.cache_read +
      static_cast<unsigned __int128>(tokens.cache_write) * price.cache_write;
  const unsigned __int128 micros = (total + 500'000) / 1'000'000;
  if (micros > static_cast<unsigned __int128>(
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

}  // namespace agentlog::internal
