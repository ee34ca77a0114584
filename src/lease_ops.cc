// Session leases of StoreImpl. The lease lives in the session record, so
// acquiring, renewing and releasing are session mutations like any other
// (under the session's lock, one batch, durable per WriteOptions), and the
// fencing check of every other write (MutateSession) reads the current token
// from the same record it is about to rewrite: a stale token can never slip
// in between check and write.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {
namespace {

Status NotTheLease(const SessionId& id, uint64_t token, const Lease& lease) {
  if (lease.owner.empty()) {
    return Status::Conflict(fmt::format(
        "lease {} of session {} was released; acquire a new one", token,
        id.ToString()));
  }
  return Status::Conflict(fmt::format(
      "lease {} of session {} is not the current one; '{}' holds lease {}",
      token, id.ToString(), lease.owner, lease.token));
}

}  // namespace

void StoreImpl::WakeLeaseWaiters() {
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    ++lease_releases_;
  }
  lease_cv_.notify_all();
}

Result<Lease> StoreImpl::AcquireLease(const SessionId& id,
                                      std::string_view owner,
                                      std::chrono::milliseconds ttl,
                                      std::chrono::milliseconds wait_timeout,
                                      const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateLeaseOwner(options_, owner));
  AGENTLOG_RETURN_IF_ERROR(ValidateLeaseTtl(ttl));
  AGENTLOG_RETURN_IF_ERROR(ValidateLeaseWait(wait_timeout));
  const auto deadline = std::chrono::steady_clock::now() + wait_timeout;
  for (;;) {
    uint64_t releases;
    {
      std::lock_guard<std::mutex> lock(lease_mu_);
      releases = lease_releases_;
    }
    Lease lease;
    std::optional<Lease> holder;  // Set when another owner holds it...
    Status busy;                  // ...with the error that says so.
    auto mutation = [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
      const int64_t now = Now();
      if (s.lease.held(now) && s.lease.owner != owner) {
        // Write nothing and keep the cached session (an error would drop
        // it, and a waiter would reload it on every wake-up).
        holder = s.lease;
        busy = Status::Busy(fmt::format(
            "session {} is leased to '{}' (lease {}) for another {} ms",
            id.ToString(), s.lease.owner, s.lease.token,
            s.lease.expires_ms - now));
        return false;
      }
      // An expired lease needs no clean-up: taking it is enough.
      s.lease.owner = std::string(owner);
      ++s.lease.token;
      s.lease.acquired_ms = now;
      s.lease.expires_ms = now + ttl.count();
      lease = s.lease;
      lease.session = id;
      return true;
    };
    AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation));
    if (!holder) return lease;
    // Wait for a release, the holder's expiry or the deadline. (The expiry
    // is on the store's clock; with an injected clock that does not move
    // with time, only releases and the deadline end the wait.)
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return busy;
    // Capped by the wait (at most a day): an expiry centuries away, as a
    // damaged record may hold, would overflow the time point and wake the
    // wait at once, again and again until the deadline.
    const auto expiry =
        now + std::chrono::milliseconds(std::clamp<int64_t>(
                  holder->expires_ms - Now(), 1, wait_timeout.count()));
    std::unique_lock<std::mutex> lock(lease_mu_);
    if (lease_releases_ != releases) continue;  // Released meanwhile.
    lease_cv_.wait_until(lock, std::min(deadline, expiry));
  }
}

Result<Lease> StoreImpl::RenewLease(const SessionId& id, uint64_t token,
                                    std::chrono::milliseconds ttl,
                                    const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateLeaseTtl(ttl));
  Lease lease;
  auto mutation = [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
    if (s.lease.token != token || s.lease.owner.empty()) {
      return NotTheLease(id, token, s.lease);
    }
    s.lease.expires_ms = Now() + ttl.count();
    lease = s.lease;
    lease.session = id;
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation));
  return lease;
}

Status StoreImpl::ReleaseLease(const SessionId& id, uint64_t token,
                               const WriteOptions& wo) {
  auto mutation = [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
    if (s.lease.token != token || s.lease.owner.empty()) {
      return NotTheLease(id, token, s.lease);
    }
    s.lease.owner.clear();  // Writes with its token are refused from now.
    return true;
  };
  // Letting go is allowed on an archived session too.
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, true, mutation));
  WakeLeaseWaiters();
  return Status::OK();
}

Status StoreImpl::ForceReleaseLease(const SessionId& id,
                                    const WriteOptions& wo) {
  bool free_already = false;
  auto mutation = [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
    free_already = s.lease.owner.empty();
    if (free_already) return false;
    s.lease.owner.clear();
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, true, mutation));
  if (free_already) return MakeReplayDurable(wo);
  WakeLeaseWaiters();
  return Status::OK();
}

Result<Lease> StoreImpl::GetLease(const SessionId& id) {
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id));
  return session.lease;
}

}  // namespace agentlog::internal
