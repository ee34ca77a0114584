#include "checkpoint_payload.h"

#include <fmt/format.h>
#include <lz4.h>
#include <xxhash.h>

#include "record_codec.h"

namespace agentlog::internal {
namespace {

// Options::max_checkpoint_bytes allows at most this much.
constexpr uint64_t kMaxRawBytes = uint64_t{1} << 30;

}  // namespace

uint64_t PayloadChecksum(std::string_view raw) {
  return XXH3_64bits(raw.data(), raw.size());
}

EncodedPayload::EncodedPayload(std::string_view raw)
    : checksum_(PayloadChecksum(raw)), raw_bytes_(raw.size()), stored_(raw) {
  // Options cap payloads at 1 GiB, well inside LZ4's input limit.
  const int bound = LZ4_compressBound(static_cast<int>(raw.size()));
  if (raw.empty() || bound <= 0) return;
  compressed_.resize(static_cast<size_t>(bound));
  const int n = LZ4_compress_default(raw.data(), compressed_.data(),
                                     static_cast<int>(raw.size()), bound);
  if (n <= 0 || static_cast<size_t>(n) >= raw.size()) {
    compressed_ = std::string();  // Does not pay: store the bytes as given.
    return;
  }
  compressed_.resize(static_cast<size_t>(n));
  compressed_.shrink_to_fit();
  codec_ = CheckpointCodec::kLz4;
  stored_ = compressed_;
}

Status DecodePayload(const CheckpointInfo& info, std::string_view stored,
                     std::string* out) {
  auto corrupt = [&](std::string what) {
    return Status::Corruption(fmt::format(
        "{}: {}", CheckpointRecordName(info.session, info.version), what));
  };
  if (stored.size() != info.stored_bytes) {
    return corrupt(fmt::format("payload is {} bytes; the header says {}",
                               stored.size(), info.stored_bytes));
  }
  if (info.codec == CheckpointCodec::kLz4) {
    // An LZ4 block expands at most 255x; a header claiming more is damaged,
    // and must not make this allocate gigabytes before the decoder says so.
    if (info.raw_bytes > kMaxRawBytes ||
        info.raw_bytes > stored.size() * 255 + 16) {
      return corrupt(fmt::format(
          "raw size {} is impossible for a {}-byte LZ4 block", info.raw_bytes,
          stored.size()));
    }
    out->resize(info.raw_bytes);
    const int n = LZ4_decompress_safe(stored.data(), out->data(),
                                      static_cast<int>(stored.size()),
                                      static_cast<int>(out->size()));
    if (n < 0 || static_cast<uint64_t>(n) != info.raw_bytes) {
      out->clear();
      return corrupt("LZ4 block does not decode to the recorded size");
    }
  } else {
    out->assign(stored);
  }
  const uint64_t checksum = PayloadChecksum(*out);
  if (checksum != info.checksum) {
    out->clear();
    return corrupt(fmt::format(
        "checksum mismatch: payload hashes to {:016x}, the header says {:016x}",
        checksum, info.checksum));
  }
  return Status::OK();
}

}  // namespace agentlog::internal
