#ifndef AGENTLOG_SRC_RECORD_CODEC_H_
#define AGENTLOG_SRC_RECORD_CODEC_H_

// Cap'n Proto encoding of the records in schema/*.capnp to and from the
// public structs. Decoding treats the bytes as untrusted: traversal and
// nesting limits apply, and any malformation becomes Corruption naming the
// column family and key.

#include <capnp/common.h>
#include <capnp/message.h>
#include <kj/array.h>

#include <memory>
#include <string>
#include <string_view>

#include "agentlog/result.h"
#include "agentlog/session.h"
#include "agentlog/turn.h"

namespace agentlog::internal {

// An encoded record: the flat (unpacked, single-frame) Cap'n Proto message.
class EncodedRecord {
 public:
  explicit EncodedRecord(kj::Array<capnp::word> words)
      : words_(kj::mv(words)) {}
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(words_.begin()),
            words_.size() * sizeof(capnp::word)};
  }

 private:
  kj::Array<capnp::word> words_;
};

// Holds untrusted bytes word-aligned and reads them as a message. The bytes
// are copied only when they are not 8-byte aligned.
class RecordReader {
 public:
  // `what` names the record for error messages ("turns/01H.../3").
  static Result<std::unique_ptr<RecordReader>> Open(std::string_view bytes,
                                                    std::string what);
  capnp::MessageReader& message() { return *reader_; }
  const std::string& what() const { return what_; }

 private:
  RecordReader() = default;
  kj::Array<capnp::word> copy_;
  std::unique_ptr<capnp::MessageReader> reader_;
  std::string what_;
};

// The session id lives in the key; the value holds everything else.
EncodedRecord EncodeSession(const Session& session);
Result<Session> DecodeSession(const SessionId& id, std::string_view bytes);

EncodedRecord EncodeTurn(const Turn& turn);
Result<Turn> DecodeTurn(const SessionId& id, std::string_view bytes);

// "sessions/<id>", "turns/<id>/<n>": how records are named in messages.
std::string SessionRecordName(const SessionId& id);
std::string TurnRecordName(const SessionId& id, uint64_t number);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RECORD_CODEC_H_
