#ifndef AGENTLOG_CLOCK_H_
#define AGENTLOG_CLOCK_H_

#include <cstdint>
#include <memory>

#include "agentlog/export.h"

namespace agentlog {

// The source of wall-clock time for every timestamp agentlog records.
// Tests inject their own to control time. Implementations must be safe to
// call from many threads at once and must not throw (releasing a
// SessionHandle, which is noexcept, reads the clock).
class AGENTLOG_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMillis() const = 0;
};

// The system clock (std::chrono::system_clock). Shared and thread-safe.
AGENTLOG_EXPORT std::shared_ptr<Clock> SystemClock();

}  // namespace agentlog

#endif  // AGENTLOG_CLOCK_H_
