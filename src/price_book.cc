#include "price_book.h"

#include <algorithm>
#include <mutex>

namespace agentlog::internal {

std::optional<PriceVersion> PriceBook::At(std::string_view model,
                                          int64_t ms) const {
  std::shared_lock lock(mu_);
  const auto it = prices_.find(model);
  if (it == prices_.end()) return std::nullopt;
  const PriceVersion* best = nullptr;
  for (const PriceVersion& p : it->second) {
    if (p.effective_ms <= ms &&
        (best == nullptr || p.effective_ms >= best->effective_ms)) {
      best = &p;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

uint32_t PriceBook::NextVersion(std::string_view model) const {
  std::shared_lock lock(mu_);
  const auto it = prices_.find(model);
  return it == prices_.end() ? 1 : it->second.back().version + 1;
}

void PriceBook::Add(const PriceVersion& price) {
  std::unique_lock lock(mu_);
  std::vector<PriceVersion>& versions = prices_[price.price.model];
  const auto at = std::upper_bound(
      versions.begin(), versions.end(), price.version,
      [](uint32_t v, const PriceVersion& p) { return v < p.version; });
  versions.insert(at, price);
}

std::vector<PriceVersion> PriceBook::All() const {
  std::shared_lock lock(mu_);
  std::vector<PriceVersion> out;
  for (const auto& [model, versions] : prices_) {
    out.insert(out.end(), versions.begin(), versions.end());
  }
  return out;
}

}  // namespace agentlog::internal
