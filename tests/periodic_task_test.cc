#include "periodic_task.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace agentlog::internal {
namespace {

TEST(PeriodicTaskTest, ARunThatThrowsIsDroppedAndTheNextRunsGoOn) {
  std::mutex mu;
  std::condition_variable ran;
  int runs = 0;  // Guarded by mu.
  PeriodicTask task(
      [&] {
        int run;
        {
          std::lock_guard lock(mu);
          run = ++runs;
        }
        ran.notify_all();
        if (run == 1) throw std::runtime_error("the first run fails");
      },
      std::chrono::milliseconds(1));
  std::unique_lock lock(mu);
  // Without the catch, the first run's exception ends the process. The
  // bound only keeps a broken task from hanging the suite.
  EXPECT_TRUE(ran.wait_for(lock, std::chrono::minutes(1),
                           [&] { return runs >= 3; }));
}

}  // namespace
}  // namespace agentlog::internal
