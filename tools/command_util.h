#ifndef AGENTLOG_TOOLS_COMMAND_UTIL_H_
#define AGENTLOG_TOOLS_COMMAND_UTIL_H_

// Helpers shared by the commands of `agentlog`: argument parsing, turning
// store errors into exits, and the formats of tables.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/result.h"
#include "agentlog/session_id.h"
#include "commands.h"

namespace agentlog::tools {

// Throws StoreError: main prints it and exits 1 (3 for corruption).
[[noreturn]] inline void Fail(Status status) {
  throw StoreError{std::move(status)};
}

template <typename T>
T Check(Result<T> result) {
  if (!result.ok()) Fail(result.status());
  return std::move(result).value();
}

inline void Check(const Status& status) {
  if (!status.ok()) Fail(status);
}

// The value of --name as a whole number; UsageError otherwise.
uint64_t ParseCount(const std::string& name, const std::string& text);
// The value of --name as a point in time, in Unix milliseconds: a UTC date
// or time ("2026-11-24", "2026-11-24T07:03:06Z"), a time that long before
// `now_ms` ("90m", "12h", "7d"), or Unix milliseconds. UsageError otherwise.
int64_t ParseTime(const std::string& name, const std::string& text,
                  int64_t now_ms);
// The value of --name as dollars ("1.25", "$0.000001") in micro-dollars.
int64_t ParseDollars(const std::string& name, const std::string& text);
// The value of --name as a comma-separated list.
std::vector<std::string> ParseList(const std::string& text);
// The first positional argument as a session id; UsageError otherwise.
SessionId ParseSession(const Args& args);

// "2026-11-24 07:03:06Z"; "-" for 0.
std::string Timestamp(int64_t ms);
// ISO 8601 in UTC to the millisecond: "2026-11-24T07:03:06.123Z".
std::string IsoTimestamp(int64_t ms);
// The UTC date of `ms`: "2026-11-24".
std::string Date(int64_t ms);
// "$1.234567"; "-$0.000001" below zero.
std::string Dollars(int64_t micros);
// "1.5 MiB".
std::string Bytes(uint64_t n);
// One line of `text` for tables: newlines folded, cut to `width` characters
// (counting UTF-8 code points, cutting only between them).
std::string Preview(std::string_view text, size_t width);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_COMMAND_UTIL_H_
