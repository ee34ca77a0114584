#ifndef AGENTLOG_SRC_PRICING_H_
#define AGENTLOG_SRC_PRICING_H_

// Cost arithmetic (issue 4): exact, integer, overflow-checked.

#include <cstdint>

#include "agentlog/result.h"
#include "agentlog/session.h"
#include "agentlog/status.h"
#include "agentlog/usage.h"

namespace agentlog::internal {

// The largest price of one kind: $1,000,000 per million tokens, a dollar a
// token, far above any model's and low enough that tokens (< 2^64) times
// four prices fits in 128 bits.
inline constexpr int64_t kMaxPricePerMillion = 1'000'000'000'000;

// InvalidArgument naming the field unless every price is 0 to
// kMaxPricePerMillion and the model name is non-empty.
Status ValidatePrice(const ModelPrice& price);

// The cost of `tokens` at `price` in micro-dollars:
// round_half_up(sum(tokens_k * price_k) / 1,000,000).
// InvalidArgument when the price is invalid (ValidatePrice) or the result
// would not fit an int64.
Result<int64_t> CostMicros(const ModelPrice& price, const TokenCounts& tokens);

// What `cache_read` tokens saved against paying the input price for them:
// round_half_up(cache_read * (input - cache_read price) / 1,000,000), 0
// when caching is not cheaper. Saturates at INT64_MAX.
int64_t CacheSavingMicros(const ModelPrice& price, uint64_t cache_read);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_PRICING_H_
