#ifndef AGENTLOG_SESSION_ID_H_
#define AGENTLOG_SESSION_ID_H_

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agentlog/export.h"
#include "agentlog/result.h"

namespace agentlog {

// A 128-bit session identifier that sorts by creation time: a 48-bit Unix
// millisecond timestamp followed by 80 random bits, big-endian (the ULID
// layout). Its text form is 26 Crockford base32 characters, upper case.
//
// A SessionId is a plain value; all methods are safe from any thread.
class AGENTLOG_EXPORT SessionId {
 public:
  static constexpr size_t kBytes = 16;
  static constexpr size_t kTextLength = 26;

  // The all-zero id. It never names a session.
  constexpr SessionId() = default;

  // A new id for `unix_ms` (taken modulo 2^48) with 80 bits from a
  // per-thread generator seeded by std::random_device.
  static SessionId Generate(int64_t unix_ms);

  // Parses the 26-character text form. Case-insensitive; accepts Crockford's
  // aliases (I and L for 1, O for 0).
  // Errors: InvalidArgument naming the text and what is wrong with it.
  static Result<SessionId> Parse(std::string_view text);

  // The id whose big-endian bytes are `bytes`.
  static SessionId FromBytes(const std::array<uint8_t, kBytes>& bytes) {
    SessionId id;
    id.bytes_ = bytes;
    return id;
  }

  // 26 upper-case Crockford base32 characters.
  std::string ToString() const;
  const std::array<uint8_t, kBytes>& bytes() const { return bytes_; }
  // The creation time encoded in the first 48 bits.
  int64_t timestamp_ms() const;
  bool is_zero() const { return *this == SessionId(); }

  friend auto operator<=>(const SessionId&, const SessionId&) = default;
  friend bool operator==(const SessionId&, const SessionId&) = default;

 private:
  std::array<uint8_t, kBytes> bytes_{};
};

}  // namespace agentlog

template <>
struct std::hash<agentlog::SessionId> {
  size_t operator()(const agentlog::SessionId& id) const noexcept {
    // The last 8 bytes are random, which makes them a good hash already.
    uint64_t h = 0;
    for (size_t i = 8; i < agentlog::SessionId::kBytes; ++i) {
      h = (h << 8) | id.bytes()[i];
    }
    return static_cast<size_t>(h);
  }
};

#endif  // AGENTLOG_SESSION_ID_H_
