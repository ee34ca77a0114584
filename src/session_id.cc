#include "agentlog/session_id.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <random>
#include <thread>

namespace agentlog {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Crockford decoding: case-insensitive, I/L read as 1 and O as 0; -1 for
// characters outside the alphabet (including U).
int DecodeChar(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  switch (c) {
    case 'I':
    case 'L':
      return 1;
    case 'O':
      return 0;
    default:
      break;
  }
  for (int i = 10; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

// 128 bits held as two 64-bit halves, big-endian order (hi first).
struct U128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
};

U128 Load(const std::array<uint8_t, SessionId::kBytes>& b) {
  U128 v;
  for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | b[i];
  for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | b[i];
  return v;
}

std::array<uint8_t, SessionId::kBytes> Store(U128 v) {
  std::array<uint8_t, SessionId::kBytes> b;
  for (int i = 7; i >= 0; --i, v.hi >>= 8) b[i] = v.hi & 0xff;
  for (int i = 15; i >= 8; --i, v.lo >>= 8) b[i] = v.lo & 0xff;
  return b;
}

// A generator seeded from the kernel's entropy. getentropy reports a
// failure where std::random_device would throw (no source of entropy, as in
// some sandboxes); the seed then comes from what differs between threads and
// processes: the clocks, the process and thread, and an address.
std::mt19937_64 SeededGenerator() {
  std::array<uint64_t, 4> seed{};
  if (::getentropy(seed.data(), sizeof(seed)) != 0) {
    seed[0] = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    seed[1] = static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count());
    seed[2] = (static_cast<uint64_t>(::getpid()) << 32) ^
              std::hash<std::thread::id>()(std::this_thread::get_id());
    seed[3] = reinterpret_cast<uintptr_t>(&seed);
  }
  std::seed_seq seq{
      static_cast<uint32_t>(seed[0]), static_cast<uint32_t>(seed[0] >> 32),
      static_cast<uint32_t>(seed[1]), static_cast<uint32_t>(seed[1] >> 32),
      static_cast<uint32_t>(seed[2]), static_cast<uint32_t>(seed[2] >> 32),
      static_cast<uint32_t>(seed[3]), static_cast<uint32_t>(seed[3] >> 32)};
  return std::mt19937_64(seq);
}

}  // namespace

SessionId SessionId::Generate(int64_t unix_ms) {
  thread_local std::mt19937_64 rng = SeededGenerator();
  const uint64_t ms = static_cast<uint64_t>(unix_ms) & ((1ULL << 48) - 1);
  const uint64_t r1 = rng();
  const uint64_t r2 = rng();
  U128 v;
  v.hi = (ms << 16) | (r1 & 0xffff);
  v.lo = r2;
  return FromBytes(Store(v));
}

Result<SessionId> SessionId::Parse(std::string_view text) {
  if (text.size() != kTextLength) {
    return Status::InvalidArgument(fmt::format(
        "session id '{}' is {} characters; a session id is {} Crockford "
        "base32 characters",
        text.substr(0, 64), text.size(), kTextLength));
  }
  U128 v;
  for (size_t i = 0; i < kTextLength; ++i) {
    const int d = DecodeChar(text[i]);
    if (d < 0) {
      return Status::InvalidArgument(fmt::format(
          "session id '{}' has '{}' at position {}, which is not Crockford "
          "base32",
          text, text[i], i));
    }
    if (i == 0 && d > 7) {
      // 26 characters carry 130 bits; the first may only use the low 3.
      return Status::InvalidArgument(fmt::format(
          "session id '{}' starts with '{}'; the first character of a "
          "128-bit id is 0-7",
          text, text[0]));
    }
    v.hi = (v.hi << 5) | (v.lo >> 59);
    v.lo = (v.lo << 5) | static_cast<uint64_t>(d);
  }
  return FromBytes(Store(v));
}

std::string SessionId::ToString() const {
  U128 v = Load(bytes_);
  std::string out(kTextLength, '0');
  for (size_t i = kTextLength; i-- > 0;) {
    out[i] = kAlphabet[v.lo & 31];
    v.lo = (v.lo >> 5) | (v.hi << 59);
    v.hi >>= 5;
  }
  return out;
}

int64_t SessionId::timestamp_ms() const {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes_[i];
  return ms;
}

}  // namespace agentlog
