#include "periodic_task.h"

namespace agentlog::internal {

PeriodicTask::PeriodicTask(std::function<void()> task,
                           std::chrono::milliseconds interval)
    : task_(std::move(task)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

PeriodicTask::~PeriodicTask() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PeriodicTask::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    task_();
    lock.lock();
  }
}

}  // namespace agentlog::internal
