// Helpers shared by the commands of `agentlog`.

#include "command_util.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

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

int64_t ParseTime(const std::string& name, const std::string& text,
                  int64_t now_ms) {
  const auto bad = [&] {
    return UsageError{fmt::format(
        "--{} takes a UTC date or time (2026-11-24, 2026-11-24T07:03:06Z), "
        "an age (90m, 12h, 7d) or Unix milliseconds; got '{}'",
        name, text)};
  };
  int64_t n = 0;
  const char* const first = text.data();
  const char* const last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || n < 0) throw bad();
  if (end == last) return n;
  if (end + 1 == last) {
    int64_t unit = 0;
    switch (*end) {
      case 's': unit = 1000; break;
      case 'm': unit = 60'000; break;
      case 'h': unit = 3'600'000; break;
      case 'd': unit = 86'400'000; break;
      default: throw bad();
    }
    if (n > now_ms / unit) throw bad();
    return now_ms - n * unit;
  }
  struct tm tm = {};
  const char* rest = strptime(text.c_str(), "%Y-%m-%d", &tm);
  if (rest == nullptr) throw bad();
  if (*rest == 'T' || *rest == ' ') {
    rest = strptime(rest + 1, "%H:%M", &tm);
    if (rest != nullptr && *rest == ':') rest = strptime(rest + 1, "%S", &tm);
    if (rest == nullptr) throw bad();
  }
  if (*rest == 'Z') ++rest;
  if (*rest != '\0') throw bad();
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

int64_t ParseDollars(const std::string& name, const std::string& text) {
  std::string_view s = text;
  if (s.starts_with('$')) s.remove_prefix(1);
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  int64_t dollars = 0;
  int64_t micros = 0;
  bool ok = !whole.empty() && whole[0] >= '0' && whole[0] <= '9' &&
            fraction.size() <= 6;
  if (ok) {
    auto [end, ec] =
        std::from_chars(whole.data(), whole.data() + whole.size(), dollars);
    ok = ec == std::errc() && end == whole.data() + whole.size() &&
         dollars >= 0 && dollars <= INT64_MAX / 1'000'000 - 1;
  }
  for (size_t i = 0; ok && i < 6; ++i) {
    const char c = i < fraction.size() ? fraction[i] : '0';
    ok = c >= '0' && c <= '9';
    micros = micros * 10 + (c - '0');
  }
  if (!ok) {
    throw UsageError{fmt::format(
        "--{} takes dollars with at most 6 decimals (1.25, $0.000001); got "
        "'{}'",
        name, text)};
  }
  return dollars * 1'000'000 + micros;
}

std::vector<std::string> ParseList(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    if (comma > at) out.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
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
