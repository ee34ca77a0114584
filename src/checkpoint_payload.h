#ifndef AGENTLOG_SRC_CHECKPOINT_PAYLOAD_H_
#define AGENTLOG_SRC_CHECKPOINT_PAYLOAD_H_

// Checkpoint payloads as stored in `checkpoint_data`: one LZ4 block when that
// shrinks the bytes, the bytes as given otherwise. The XXH3-64 of the raw
// bytes, kept in the header, is checked after every decode.

#include <cstdint>
#include <string>
#include <string_view>

#include "agentlog/checkpoint.h"
#include "agentlog/status.h"

namespace agentlog::internal {

// A payload ready to be stored.
class EncodedPayload {
 public:
  // Compresses and checksums `raw`, which must outlive this object (it is
  // stored as is when compression does not pay).
  explicit EncodedPayload(std::string_view raw);
  EncodedPayload(const EncodedPayload&) = delete;
  EncodedPayload& operator=(const EncodedPayload&) = delete;

  CheckpointCodec codec() const { return codec_; }
  uint64_t checksum() const { return checksum_; }
  uint64_t raw_bytes() const { return raw_bytes_; }
  // The bytes to store.
  std::string_view stored() const { return stored_; }

 private:
  CheckpointCodec codec_ = CheckpointCodec::kNone;
  uint64_t checksum_ = 0;
  uint64_t raw_bytes_ = 0;
  std::string compressed_;
  std::string_view stored_;
};

// XXH3-64 of a raw payload.
uint64_t PayloadChecksum(std::string_view raw);

// Decodes `stored` as `info` describes it into `out` and verifies size and
// checksum. Errors: Corruption naming the version's record.
Status DecodePayload(const CheckpointInfo& info, std::string_view stored,
                     std::string* out);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_CHECKPOINT_PAYLOAD_H_
