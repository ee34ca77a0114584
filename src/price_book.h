#ifndef AGENTLOG_SRC_PRICE_BOOK_H_
#define AGENTLOG_SRC_PRICE_BOOK_H_

// The price table in memory: every version of every model's price, loaded
// from `meta` at open and kept in step by Store::SetPrice.
//
// Thread-safe.

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/usage.h"

namespace agentlog::internal {

class PriceBook {
 public:
  // The version in effect at `ms`: the one with the latest effective time
  // not after `ms` (the higher version on a tie); nullopt when none is.
  std::optional<PriceVersion> At(std::string_view model, int64_t ms) const;
  // The number the next version of `model` gets.
  uint32_t NextVersion(std::string_view model) const;
  // Adds a version (at open, and after SetPrice wrote it).
  void Add(const PriceVersion& price);
  // Every version, by model and version.
  std::vector<PriceVersion> All() const;

 private:
  mutable std::shared_mutex mu_;
  // Versions of each model in version order.
  std::map<std::string, std::vector<PriceVersion>, std::less<>> prices_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_PRICE_BOOK_H_
