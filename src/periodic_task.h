#ifndef AGENTLOG_SRC_PERIODIC_TASK_H_
#define AGENTLOG_SRC_PERIODIC_TASK_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace agentlog::internal {

// Runs `task` on its own thread every `interval` (steady time) until
// destroyed. The destructor waits for a run in progress to end. `task` must
// not throw: on this thread an exception ends the process, which is the
// right end for the one it could throw (std::bad_alloc) rather than to carry
// on with the state it left half changed.
class PeriodicTask {
 public:
  PeriodicTask(std::function<void()> task, std::chrono::milliseconds interval);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  void Run();

  const std::function<void()> task_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_PERIODIC_TASK_H_
