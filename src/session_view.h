#ifndef AGENTLOG_SRC_SESSION_VIEW_H_
#define AGENTLOG_SRC_SESSION_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "agentlog/session.h"
#include "agentlog/session_id.h"

namespace agentlog::internal {

// What the recovery scan and the session index need of a session record,
// read in place (SessionViewDecoder, record_codec.h): no Session is built
// and no string copied. The strings and spans borrow from the record's
// bytes and from the decoder; they are valid until the decoder's next
// Decode.
struct SessionView {
  SessionId id;
  SessionStatus status = SessionStatus::kActive;
  std::string_view agent;
  std::string_view model;
  std::string_view title;
  std::span<const std::string_view> tags;
  int64_t last_active_ms = 0;
  int64_t cost_micros = 0;
  uint64_t tokens = 0;  // Session::tokens.total().
  bool pinned = false;
  std::span<const uint64_t> processing_turns;
  uint64_t oldest_checkpoint = 0;
  uint64_t usage_records = 0;
  uint64_t oldest_turn = 0;
  uint64_t oldest_usage = 0;
  size_t metadata_bytes = 0;  // Session::metadata.size().
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SESSION_VIEW_H_
