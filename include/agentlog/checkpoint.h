#ifndef AGENTLOG_CHECKPOINT_H_
#define AGENTLOG_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agentlog/export.h"
#include "agentlog/session_id.h"

namespace agentlog {

// How a checkpoint payload is stored. Values are persistent; never renumber.
enum class CheckpointCodec : uint8_t {
  kNone = 0,  // As given: LZ4 would not have shrunk it.
  kLz4 = 1,   // LZ4-compressed by agentlog.
};

// "none" or "lz4".
AGENTLOG_EXPORT std::string_view CheckpointCodecName(CheckpointCodec codec);

// What a host supplies to save a checkpoint. The payload is opaque: any bytes
// the host serialises its agent's state to. The fields are views, so that a
// payload of megabytes is not copied on the way in: the bytes they point to
// must outlive the call (assign named strings, not temporaries).
struct CheckpointSpec {
  // At most Options::max_checkpoint_bytes; may be empty.
  std::string_view payload;
  // The version this one was derived from, if any; it must be an existing
  // version number of the session (it may since have been pruned).
  std::optional<uint64_t> parent;
  // Opaque host bytes; at most Options::max_metadata_bytes.
  std::string_view metadata;
};

// A stored checkpoint version, without its payload.
struct CheckpointInfo {
  SessionId session;
  uint64_t version = 0;  // 1, 2, 3... per session.
  std::optional<uint64_t> parent;
  int64_t created_ms = 0;     // Unix milliseconds.
  uint64_t raw_bytes = 0;     // Payload size.
  uint64_t stored_bytes = 0;  // Size on disk after agentlog's compression.
  CheckpointCodec codec = CheckpointCodec::kNone;
  uint64_t checksum = 0;  // XXH3-64 of the payload; verified on every read.
  std::string metadata;

  friend bool operator==(const CheckpointInfo&,
                         const CheckpointInfo&) = default;
};

// A checkpoint version with its payload, checksum verified.
struct Checkpoint {
  CheckpointInfo info;
  std::string payload;
};

}  // namespace agentlog

#endif  // AGENTLOG_CHECKPOINT_H_
