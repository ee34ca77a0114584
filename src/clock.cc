#include "agentlog/clock.h"

#include <chrono>

namespace agentlog {
namespace {

class SystemClockImpl final : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

std::shared_ptr<Clock> SystemClock() {
  static const auto* clock =
      new std::shared_ptr<Clock>(std::make_shared<SystemClockImpl>());
  return *clock;
}

}  // namespace agentlog
