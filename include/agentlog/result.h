#ifndef AGENTLOG_RESULT_H_
#define AGENTLOG_RESULT_H_

#include <cassert>
#include <optional>
#include <type_traits>
#include <utility>

#include "agentlog/status.h"

namespace agentlog {

// A value of type T, or the error Status that explains why there is none.
// In the spirit of absl::StatusOr.
//
//   Result<Session> session = store->GetSession(id);
//   if (!session.ok()) return session.status();
//   Use(session->title);
//
// REQUIRES: a Result is never built from an OK Status (there would be no
// value). Accessing the value of an error Result is a programming error
// (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<std::decay_t<T>, Status>,
                "Result<Status> is meaningless; return Status");

  Result(const T& value) : value_(value) {}        // NOLINT: implicit by design
  Result(T&& value) : value_(std::move(value)) {}  // NOLINT
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK Status has no value");
  }

  bool ok() const { return status_.ok(); }
  // OK when there is a value.
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  // REQUIRES: ok().
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The value, or `fallback` when this holds an error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // Says in code that an error is deliberately dropped.
  void IgnoreError() const {}

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace agentlog

#endif  // AGENTLOG_RESULT_H_
