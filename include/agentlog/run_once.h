#ifndef AGENTLOG_RUN_ONCE_H_
#define AGENTLOG_RUN_ONCE_H_

#include <cstdint>
#include <string>

namespace agentlog {

// What Store::RunOnce found or did for a key.
struct RunOnceOutcome {
  // True for the call that ran the operation; false when an earlier run,
  // still within its TTL, answered.
  bool ran = false;
  // The result the run recorded.
  std::string result;
  int64_t recorded_ms = 0;  // Unix milliseconds.
  int64_t expires_ms = 0;   // The key may run again from then on.
};

}  // namespace agentlog

#endif  // AGENTLOG_RUN_ONCE_H_
