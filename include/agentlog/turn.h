#ifndef AGENTLOG_TURN_H_
#define AGENTLOG_TURN_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/echo.h"
#include "agentlog/export.h"
#include "agentlog/session.h"
#include "agentlog/session_id.h"

namespace agentlog {

// Who wrote a message. Values are persistent; never renumber.
enum class Role : uint8_t {
  kSystem = 0,
  kUser = 1,
  kAssistant = 2,
  kTool = 3,
};

// "system", "user", "assistant" or "tool".
AGENTLOG_EXPORT std::string_view RoleName(Role role);

// One message of a turn's input or output. Text fields must be valid UTF-8.
struct Message {
  Role role = Role::kUser;
  std::string content;
  std::string tool_call_id;  // Set on tool calls and tool results.
  std::string tool_name;

  friend bool operator==(const Message&, const Message&) = default;
};

// Where a turn is in its life. Values are persistent; never renumber.
enum class TurnStatus : uint8_t {
  kProcessing = 0,  // Begun, not yet completed or failed.
  kCompleted = 1,   // Final.
  kFailed = 2,      // Final.
};

// "processing", "completed" or "failed".
AGENTLOG_EXPORT std::string_view TurnStatusName(TurnStatus status);

// XXH3-128 of a turn's normalised input (see ComputeInputDigest), big-endian.
using InputDigest = std::array<uint8_t, 16>;

// The digest by which duplicate inputs are found. Normalisation: in every
// message's content, leading and trailing white space is removed and each
// inner run of white space becomes one space; roles, tool-call ids and tool
// names are hashed as they are, each field length-prefixed so that no two
// different inputs share an encoding. Case is kept.
AGENTLOG_EXPORT InputDigest ComputeInputDigest(std::span<const Message> input);

// What a completed turn consumed.
struct TurnUsage {
  TokenCounts tokens;  // Each at most 2^40.
  // Integer micro-dollars, 0 to 2^50. Given to CompleteTurn or AppendTurn,
  // 0 means "price the tokens" with the session's model's price (a model
  // without one costs 0); the stored turn holds the cost recorded.
  int64_t cost_micros = 0;
};

// A stored turn.
struct Turn {
  SessionId session;
  uint64_t number = 0;          // 1, 2, 3... per session, without gaps.
  std::string idempotency_key;  // Empty when the turn was begun without one.
  TurnStatus status = TurnStatus::kProcessing;
  std::vector<Message> input;
  std::vector<Message> output;
  InputDigest input_digest{};
  std::string error;        // Set when failed.
  int64_t started_ms = 0;   // Unix milliseconds.
  int64_t finished_ms = 0;  // 0 while processing.
  TurnUsage usage;
  // Completed turns: how the response compared with the session's recent
  // ones when it completed (echo detection).
  EchoVerdict echo;
};

// What BeginTurn returns.
struct BeginTurnResult {
  Turn turn;
  // True when the idempotency key named an existing turn, which `turn` is;
  // nothing was written.
  bool replayed = false;
};

// A turn by session and number.
struct TurnRef {
  SessionId session;
  uint64_t number = 0;
  friend bool operator==(const TurnRef&, const TurnRef&) = default;
};

// Which turns ListTurns returns.
struct TurnListOptions {
  // Inclusive range of turn numbers; `last` 0 means up to the newest.
  uint64_t first = 1;
  uint64_t last = 0;
  // When non-zero, only the newest `last_n` turns of the range.
  size_t last_n = 0;
  // Newest first instead of oldest first.
  bool newest_first = false;
};

}  // namespace agentlog

#endif  // AGENTLOG_TURN_H_
