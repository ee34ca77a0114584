#ifndef AGENTLOG_SRC_USAGE_ID_LOCKS_H_
#define AGENTLOG_SRC_USAGE_ID_LOCKS_H_

#include <array>
#include <bit>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <utility>

#include "agentlog/usage.h"

namespace agentlog::internal {

// Makes "is this message id recorded?" and "record it" one step across
// sessions: usage with a message id is recorded holding the stripe of each
// of its ids, taken in stripe order (so two writers never wait on each
// other in a cycle) and before the session's stripe lock.
//
// The stripes a call holds are a bit set of one word: taking them costs no
// allocation, which on the usage path is worth having.
class UsageIdLocks {
 public:
  static constexpr size_t kStripes = 64;

  // The stripes of one call, held until Unlock or destruction.
  class Held {
   public:
    Held(Held&& other) noexcept
        : locks_(other.locks_), stripes_(std::exchange(other.stripes_, 0)) {}
    Held& operator=(Held&&) = delete;
    ~Held() { Unlock(); }

    void Unlock() {
      for (; stripes_ != 0; stripes_ &= stripes_ - 1) {
        locks_->mutexes_[std::countr_zero(stripes_)].mu.unlock();
      }
    }

   private:
    friend class UsageIdLocks;
    explicit Held(UsageIdLocks* locks) : locks_(locks) {}

    UsageIdLocks* locks_;
    uint64_t stripes_ = 0;  // Bit i: stripe i is held.
  };

  Held Lock(std::span<const UsageSpec> specs) {
    static_assert(kStripes == 64, "one bit a stripe in a uint64_t");
    uint64_t stripes = 0;
    for (const UsageSpec& spec : specs) {
      if (!spec.message_id.empty()) {
        stripes |= uint64_t{1} << (std::hash<std::string_view>()(
                                       spec.message_id) %
                                   kStripes);
      }
    }
    // In ascending stripe order, each counted held once taken.
    Held held(this);
    for (uint64_t left = stripes; left != 0; left &= left - 1) {
      const uint64_t lowest = left & -left;
      mutexes_[std::countr_zero(lowest)].mu.lock();
      held.stripes_ |= lowest;
    }
    return held;
  }

 private:
  struct alignas(64) Padded {
    std::mutex mu;
  };
  std::array<Padded, kStripes> mutexes_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_USAGE_ID_LOCKS_H_
