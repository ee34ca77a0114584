// Helpers shared by the commands of `agentlog`.

#include "command_util.h"

#include <fmt/format.h>
#include <time.h>

#include <charconv>

namespace agentlog::tools {

uint64_t ParseCount(const std::string& name, const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw UsageError{
        fmt::format("--{} takes a whole number; got '{}'", name, text)};
  }
  return value;
}

SessionId ParseSession(const Args& args) {
  if (args.positional.empty()) throw UsageError{"a SESSION id is required"};
  Result<SessionId> id = SessionId::Parse(args.positional[0]);
  if (!id.ok()) throw UsageError{id.status().message()};
  return *id;
}

namespace {

// The UTC calendar time of `ms`, and its milliseconds past the second
// (rounding down, also before 1970).
struct tm UtcTime(int64_t ms, int* millis) {
  int64_t secs = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    --secs;
  }
  const time_t t = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&t, &tm);
  if (millis != nullptr) *millis = static_cast<int>(rest);
  return tm;
}

}  // namespace

std::string Timestamp(int64_t ms) {
  if (ms <= 0) return "-";
  const struct tm tm = UtcTime(ms, nullptr);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
}

std::string IsoTimestamp(int64_t ms) {
  int millis = 0;
  const struct tm tm = UtcTime(ms, &millis);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, millis);
}

std::string Date(int64_t ms) {
  const struct tm tm = UtcTime(ms, nullptr);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday);
}

std::string Dollars(int64_t micros) {
  // Unsigned, so that the most negative value has a magnitude too.
  const uint64_t magnitude = micros < 0 ? 0 - static_cast<uint64_t>(micros)
                                        : static_cast<uint64_t>(micros);
  return fmt::format("{}${}.{:06}", micros < 0 ? "-" : "",
                     magnitude / 1'000'000, magnitude % 1'000'000);
}

std::string Bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", n)
                   : fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::string Preview(std::string_view text, size_t width) {
  std::string out;
  size_t points = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xc0) != 0x80) {
      if (points == width) {
        out += "…";
        break;
      }
      ++points;
    }
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' '
                                                      : static_cast<char>(c));
  }
  return out;
}

}  // namespace agentlog::tools
