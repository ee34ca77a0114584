#ifndef AGENTLOG_STATUS_H_
#define AGENTLOG_STATUS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "agentlog/export.h"

namespace agentlog {

// The outcome class of a call. Values are stable across releases (they appear
// in logs and exit codes); never renumber.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,     // The caller's input breaks a documented limit.
  kNotFound = 2,            // No such session, turn, or record.
  kAlreadyExists = 3,       // The thing to create exists.
  kFailedPrecondition = 4,  // The call is not valid in the current state.
  kResourceExhausted = 5,   // A configured capacity, or the system's
                            // threads or memory, is used up.
  kBudgetExceeded = 6,      // A spending budget refuses the call.
  kConflict = 7,            // A concurrent or stale writer lost.
  kCorruption = 8,          // Bytes on disk do not decode or verify.
  kIOError = 9,             // The file system failed.
  kBusy = 10,               // Retry later.
  kShuttingDown = 11,       // The store is closing.
};

// Returns the name of `code`, e.g. "NotFound".
AGENTLOG_EXPORT std::string_view CodeName(Code code);

// The result of an operation that returns no value: OK, or an error code with
// a message naming the field, the value and the limit involved.
//
// A Status is a value; copying it is cheap when it is OK (no allocation).
// Distinct objects may be used from different threads.
class [[nodiscard]] AGENTLOG_EXPORT Status {
 public:
  // An OK status.
  Status() = default;

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status AlreadyExists(std::string message) {
    return Status(Code::kAlreadyExists, std::move(message));
  }
  static Status FailedPrecondition(std::string message) {
    return Status(Code::kFailedPrecondition, std::move(message));
  }
  static Status ResourceExhausted(std::string message) {
    return Status(Code::kResourceExhausted, std::move(message));
  }
  static Status BudgetExceeded(std::string message) {
    return Status(Code::kBudgetExceeded, std::move(message));
  }
  static Status Conflict(std::string message) {
    return Status(Code::kConflict, std::move(message));
  }
  static Status Corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message));
  }
  static Status IOError(std::string message) {
    return Status(Code::kIOError, std::move(message));
  }
  static Status Busy(std::string message) {
    return Status(Code::kBusy, std::move(message));
  }
  static Status ShuttingDown(std::string message) {
    return Status(Code::kShuttingDown, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // The message; empty when OK. Valid as long as this Status is.
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsAlreadyExists() const { return code_ == Code::kAlreadyExists; }
  bool IsFailedPrecondition() const {
    return code_ == Code::kFailedPrecondition;
  }
  bool IsResourceExhausted() const { return code_ == Code::kResourceExhausted; }
  bool IsBudgetExceeded() const { return code_ == Code::kBudgetExceeded; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsShuttingDown() const { return code_ == Code::kShuttingDown; }

  // "OK", or "<CodeName>: <message>".
  std::string ToString() const;

  // Says in code that an error is deliberately dropped.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace agentlog

#endif  // AGENTLOG_STATUS_H_
