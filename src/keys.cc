#include "keys.h"

#include <cstring>

namespace agentlog::internal {
namespace {

SessionId IdFrom(std::string_view bytes) {
  std::array<uint8_t, SessionId::kBytes> raw;
  std::memcpy(raw.data(), bytes.data(), raw.size());
  return SessionId::FromBytes(raw);
}

void AppendId(std::string* out, const SessionId& id) {
  out->append(reinterpret_cast<const char*>(id.bytes().data()),
              SessionId::kBytes);
}

}  // namespace

void AppendU64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i, v >>= 8) buf[i] = static_cast<char>(v & 0xff);
  out->append(buf, sizeof buf);
}

uint64_t DecodeU64(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

std::string SessionKey(const SessionId& id) {
  std::string key;
  AppendId(&key, id);
  return key;
}

std::string NumberedKey(const SessionId& id, uint64_t number) {
  std::string key;
  key.reserve(kSessionPrefixBytes + 8);
  AppendId(&key, id);
  AppendU64(&key, number);
  return key;
}

std::string IdempotencyKey(const SessionId& id, std::string_view idem) {
  std::string key;
  key.reserve(kSessionPrefixBytes + idem.size());
  AppendId(&key, id);
  key.append(idem);
  return key;
}

std::string InputPrefix(const SessionId& id, const InputDigest& digest) {
  std::string key;
  key.reserve(kSessionPrefixBytes + digest.size() + 8);
  AppendId(&key, id);
  key.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return key;
}

std::string InputKey(const SessionId& id, const InputDigest& digest,
                     uint64_t number) {
  std::string key = InputPrefix(id, digest);
  AppendU64(&key, number);
  return key;
}

std::string SessionRangeBegin(const SessionId& id) { return SessionKey(id); }

std::string SessionRangeEnd(const SessionId& id) {
  // The 16-byte successor of the id. An all-0xff id would need the
  // timestamp 2^48-1 ms (year 10889), so the increment never wraps for an id
  // that Generate can make; for safety such an id gets a 17th byte.
  std::string end = SessionKey(id);
  for (size_t i = end.size(); i-- > 0;) {
    if (static_cast<uint8_t>(end[i]) != 0xff) {
      end[i] = static_cast<char>(static_cast<uint8_t>(end[i]) + 1);
      end.resize(i + 1);
      end.resize(kSessionPrefixBytes, '\0');
      return end;
    }
  }
  return std::string(kSessionPrefixBytes + 1, '\xff');
}

SessionId SessionIdFromKeyPrefix(std::string_view key) { return IdFrom(key); }

std::optional<SessionId> ParseSessionKey(std::string_view key) {
  if (key.size() != kSessionPrefixBytes) return std::nullopt;
  return IdFrom(key);
}

std::optional<ParsedNumberedKey> ParseNumberedKey(std::string_view key) {
  if (key.size() != kSessionPrefixBytes + 8) return std::nullopt;
  return ParsedNumberedKey{IdFrom(key), DecodeU64(key.substr(kSessionPrefixBytes))};
}

std::optional<ParsedIdempotencyKey> ParseIdempotencyKey(std::string_view key) {
  if (key.size() <= kSessionPrefixBytes) return std::nullopt;
  return ParsedIdempotencyKey{IdFrom(key), key.substr(kSessionPrefixBytes)};
}

std::optional<ParsedInputKey> ParseInputKey(std::string_view key) {
  constexpr size_t kDigest = sizeof(InputDigest);
  if (key.size() != kSessionPrefixBytes + kDigest + 8) return std::nullopt;
  ParsedInputKey parsed;
  parsed.session = IdFrom(key);
  std::memcpy(parsed.digest.data(), key.data() + kSessionPrefixBytes, kDigest);
  parsed.number = DecodeU64(key.substr(kSessionPrefixBytes + kDigest));
  return parsed;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

}  // namespace agentlog::internal
