#ifndef AGENTLOG_SRC_RECORD_CODEC_H_
#define AGENTLOG_SRC_RECORD_CODEC_H_

// Cap'n Proto encoding of the records in schema/*.capnp to and from the
// public structs. Decoding treats the bytes as untrusted: traversal and
// nesting limits apply, and any malformation becomes Corruption naming the
// column family and key.

#include <capnp/common.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/checkpoint.h"
#include "agentlog/result.h"
#include "agentlog/session.h"
#include "agentlog/turn.h"
#include "agentlog/usage.h"
#include "budget_ledger.h"
#include "session_view.h"

namespace agentlog::internal {

// An encoded record: the flat (unpacked) Cap'n Proto message, segment
// table first.
class EncodedRecord {
 public:
  explicit EncodedRecord(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string_view bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Holds untrusted bytes word-aligned and reads them as a message. The bytes
// are copied only when they are not 8-byte aligned: into `scratch` when
// given (grown as needed, for a caller decoding many records), else into a
// copy of its own. Lives on the stack.
class RecordReader {
 public:
  RecordReader() = default;
  explicit RecordReader(kj::Array<capnp::word>* scratch) : scratch_(scratch) {}
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Errors: Corruption whose message says what is wrong ("does not decode:
  // ..."); the caller prefixes the record's name.
  Status Open(std::string_view bytes);
  // REQUIRES: Open returned OK.
  capnp::MessageReader& message() { return *reader_; }

 private:
  kj::Array<capnp::word>* scratch_ = nullptr;
  kj::Array<capnp::word> copy_;
  std::optional<capnp::FlatArrayMessageReader> reader_;
};

// The session id lives in the key; the value holds everything else.
EncodedRecord EncodeSession(const Session& session);
Result<Session> DecodeSession(const SessionId& id, std::string_view bytes);

// Decodes session records into SessionViews, for a scan over many: no
// Session is built, and its buffers are reused from record to record. It
// validates what DecodeSession validates, in the same order, so a record is
// Corruption here exactly when DecodeSession says so, with the same message.
//
// Not thread-safe: one decoder per scanning thread.
class SessionViewDecoder {
 public:
  SessionViewDecoder() = default;
  SessionViewDecoder(const SessionViewDecoder&) = delete;
  SessionViewDecoder& operator=(const SessionViewDecoder&) = delete;

  // The view of the record `bytes` of session `id`. It borrows from `bytes`
  // and from this decoder: valid until the next Decode, while `bytes` is.
  // Errors: Corruption, as DecodeSession.
  Result<SessionView> Decode(const SessionId& id, std::string_view bytes);

 private:
  kj::Array<capnp::word> scratch_;
  std::vector<std::string_view> tags_;
  std::vector<uint64_t> processing_turns_;
};

EncodedRecord EncodeTurn(const Turn& turn);
Result<Turn> DecodeTurn(const SessionId& id, std::string_view bytes);
// What retention by age needs of a turn, without copying its messages.
struct TurnAge {
  uint64_t number = 0;
  TurnStatus status = TurnStatus::kProcessing;
  int64_t finished_ms = 0;
};
Result<TurnAge> DecodeTurnAge(const SessionId& id, std::string_view bytes);

// The header of a checkpoint version (the `checkpoints` column family); the
// payload is stored apart (checkpoint_payload.h).
EncodedRecord EncodeCheckpointHeader(const CheckpointInfo& info);
// Corruption also when the header names another version than its key.
Result<CheckpointInfo> DecodeCheckpointHeader(const SessionId& id,
                                              uint64_t version,
                                              std::string_view bytes);

// Usage records (`usage`), keyed by session and seq; Corruption also when
// the record holds another seq than its key.
EncodedRecord EncodeUsageRecord(const UsageRecord& usage);
Result<UsageRecord> DecodeUsageRecord(const SessionId& id, uint64_t seq,
                                      std::string_view bytes);
// Price versions and budgets (`meta`) and alerts (`alerts`); `key` names
// the record in errors.
EncodedRecord EncodePrice(const PriceVersion& price);
Result<PriceVersion> DecodePrice(std::string_view key, std::string_view bytes);
EncodedRecord EncodeBudget(const StoredBudget& budget);
Result<StoredBudget> DecodeBudget(std::string_view key,
                                  std::string_view bytes);
EncodedRecord EncodeAlert(const BudgetAlert& alert);
Result<BudgetAlert> DecodeAlert(std::string_view key, std::string_view bytes);

// "sessions/<id>", "turns/<id>/<n>", "checkpoints/<id>/<v>", "usage/<id>/<s>":
// how records are named in messages.
std::string SessionRecordName(const SessionId& id);
std::string TurnRecordName(const SessionId& id, uint64_t number);
std::string CheckpointRecordName(const SessionId& id, uint64_t version);
std::string UsageRecordName(const SessionId& id, uint64_t seq);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RECORD_CODEC_H_
