#ifndef AGENTLOG_SRC_KEYS_H_
#define AGENTLOG_SRC_KEYS_H_

// Key encodings of every column family (docs/format.md). Integers are
// fixed-width big-endian so that RocksDB's byte order is the logical order,
// and every per-session key starts with the 16-byte session id so that one
// session's records are one contiguous range (and share a prefix Bloom
// filter).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agentlog/session_id.h"
#include "agentlog/turn.h"

namespace agentlog::internal {

inline constexpr size_t kSessionPrefixBytes = SessionId::kBytes;

void AppendU64(std::string* out, uint64_t v);
// REQUIRES: bytes.size() >= 8.
uint64_t DecodeU64(std::string_view bytes);

// sessions: id.
std::string SessionKey(const SessionId& id);
// turns, checkpoints and checkpoint_data: id, then the turn number or the
// checkpoint version.
std::string NumberedKey(const SessionId& id, uint64_t number);
inline std::string TurnKey(const SessionId& id, uint64_t number) {
  return NumberedKey(id, number);
}
inline std::string CheckpointKey(const SessionId& id, uint64_t version) {
  return NumberedKey(id, version);
}
// idempotency: id, the key's bytes.
std::string IdempotencyKey(const SessionId& id, std::string_view key);
// inputs: id, input digest, turn number. The first key under (id, digest)
// is the first turn that had this input.
std::string InputKey(const SessionId& id, const InputDigest& digest,
                     uint64_t number);
std::string InputPrefix(const SessionId& id, const InputDigest& digest);

// [begin, end) covering every key of `id` in a per-session column family.
std::string SessionRangeBegin(const SessionId& id);
std::string SessionRangeEnd(const SessionId& id);

// Decoders for keys read back from disk; nullopt when malformed.
std::optional<SessionId> ParseSessionKey(std::string_view key);
// The session of any per-session key. REQUIRES: key.size() >= 16.
SessionId SessionIdFromKeyPrefix(std::string_view key);
struct ParsedNumberedKey {
  SessionId session;
  uint64_t number = 0;
};
std::optional<ParsedNumberedKey> ParseNumberedKey(std::string_view key);
struct ParsedIdempotencyKey {
  SessionId session;
  std::string_view key;
};
std::optional<ParsedIdempotencyKey> ParseIdempotencyKey(std::string_view key);
struct ParsedInputKey {
  SessionId session;
  InputDigest digest{};
  uint64_t number = 0;
};
std::optional<ParsedInputKey> ParseInputKey(std::string_view key);

// Lower-case hex of arbitrary bytes, for messages about keys.
std::string Hex(std::string_view bytes);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_KEYS_H_
