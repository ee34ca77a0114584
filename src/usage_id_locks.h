#ifndef AGENTLOG_SRC_USAGE_ID_LOCKS_H_
#define AGENTLOG_SRC_USAGE_ID_LOCKS_H_

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/usage.h"

namespace agentlog::internal {

// Makes "is this message id recorded?" and "record it" one step across
// sessions: usage with a message id is recorded holding the stripe of each
// of its ids, taken in stripe order (so two writers never wait on each
// other in a cycle) and before the session's stripe lock.
class UsageIdLocks {
 public:
  using Held = std::vector<std::unique_lock<std::mutex>>;

  Held Lock(std::span<const UsageSpec> specs) {
    std::vector<size_t> stripes;
    for (const UsageSpec& spec : specs) {
      if (!spec.message_id.empty()) {
        stripes.push_back(std::hash<std::string_view>()(spec.message_id) %
                          kStripes);
      }
    }
    std::sort(stripes.begin(), stripes.end());
    stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    Held held;
    held.reserve(stripes.size());
    for (size_t i : stripes) held.emplace_back(mutexes_[i].mu);
    return held;
  }

 private:
  static constexpr size_t kStripes = 64;
  struct alignas(64) Padded {
    std::mutex mu;
  };
  std::array<Padded, kStripes> mutexes_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_ID_LOCKS_H_
