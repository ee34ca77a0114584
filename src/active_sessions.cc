#include "active_sessions.h"

#include <fmt/format.h>

#include <algorithm>

#include "status_macros.h"

namespace agentlog {

SessionHandle::SessionHandle(SessionHandle&& other) noexcept
    : registry_(std::move(other.registry_)), session_(other.session_) {}

SessionHandle& SessionHandle::operator=(SessionHandle&& other) noexcept {
  if (this != &other) {
    Release();
    registry_ = std::move(other.registry_);
    session_ = other.session_;
  }
  return *this;
}

SessionHandle::~SessionHandle() { Release(); }

void SessionHandle::Release(SessionOutcome outcome) {
  if (registry_ == nullptr) return;
  registry_->Release(session_, outcome);
  registry_.reset();
}

namespace internal {

Status ActiveSessions::RefuseIfDraining() const {
  if (draining_) {
    return Status::ShuttingDown(
        "the store is shutting down: no new sessions or session handles");
  }
  return Status::OK();
}

Status ActiveSessions::CheckAccepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return RefuseIfDraining();
}

Status ActiveSessions::BeginCreate() {
  std::lock_guard<std::mutex> lock(mu_);
  AGENTLOG_RETURN_IF_ERROR(RefuseIfDraining());
  ++creating_;
  return Status::OK();
}

void ActiveSessions::EndCreate() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --creating_;
  }
  released_cv_.notify_all();
}

Result<SessionHandle> ActiveSessions::Acquire(const SessionId& id) {
  const int64_t now = clock_->NowMillis();
  std::lock_guard<std::mutex> lock(mu_);
  AGENTLOG_RETURN_IF_ERROR(RefuseIfDraining());
  if (held_.contains(id)) {
    return Status::Busy(fmt::format(
        "session {} already has an active handle; release it first",
        id.ToString()));
  }
  if (held_.size() >= max_active_) {
    ++rejected_capacity_;
    return Status::ResourceExhausted(fmt::format(
        "{} sessions are active, Options::max_active_sessions is {}; release "
        "a handle first",
        held_.size(), max_active_));
  }
  held_.emplace(id, now);
  peak_ = std::max<uint64_t>(peak_, held_.size());
  return SessionHandle(shared_from_this(), id);
}

void ActiveSessions::Release(const SessionId& id, SessionOutcome outcome) {
  const int64_t now = clock_->NowMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return;
    // A clock that stepped back counts as no time, not as years.
    held_ms_total_ += static_cast<uint64_t>(std::max<int64_t>(0, now - it->second));
    held_.erase(it);
    switch (outcome) {
      case SessionOutcome::kCompleted:
        ++completed_;
        break;
      case SessionOutcome::kFailed:
        ++failed_;
        break;
      case SessionOutcome::kTimedOut:
        ++timed_out_;
        break;
    }
  }
  released_cv_.notify_all();
}

bool ActiveSessions::IsActive(const SessionId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.contains(id) || protected_.contains(id);
}

void ActiveSessions::Protect(const SessionId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  protected_.insert(id);
}

void ActiveSessions::Unprotect(const SessionId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  protected_.erase(id);
}

ShutdownReport ActiveSessions::Drain(std::chrono::milliseconds timeout) {
  ShutdownReport report;
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  report.active_at_start = held_.size();
  const uint64_t released_before = completed_ + failed_ + timed_out_;
  // Steady time: a wall clock stepping must not stretch or cut the wait.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  report.timeout_reached = !released_cv_.wait_until(
      lock, deadline, [this] { return held_.empty(); });
  released_cv_.wait(lock, [this] { return creating_ == 0; });
  report.active_at_end = held_.size();
  report.completed_during_shutdown =
      completed_ + failed_ + timed_out_ - released_before;
  report.still_active.reserve(held_.size());
  for (const auto& [id, acquired] : held_) report.still_active.push_back(id);
  std::sort(report.still_active.begin(), report.still_active.end());
  return report;
}

SessionLifecycle ActiveSessions::Figures() const {
  SessionLifecycle f;
  f.created = created_.load(std::memory_order_relaxed);
  f.evicted = evicted_.load(std::memory_order_relaxed);
  f.rejected_for_metadata_size =
      rejected_metadata_.load(std::memory_order_relaxed);
  f.metadata_bytes = static_cast<uint64_t>(
      std::max<int64_t>(0, metadata_bytes_.load(std::memory_order_relaxed)));
  std::lock_guard<std::mutex> lock(mu_);
  f.completed = completed_;
  f.failed = failed_;
  f.timed_out = timed_out_;
  f.rejected_for_capacity = rejected_capacity_;
  f.active = held_.size();
  f.peak_active = peak_;
  f.held_ms_total = held_ms_total_;
  return f;
}

}  // namespace internal
}  // namespace agentlog
