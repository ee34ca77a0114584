#include "record_json.h"

#include <capnp/compat/json.h>
#include <fmt/format.h>
#include <kj/exception.h>

#include "json_writer.h"
#include "keys.h"
#include "record_codec.h"
#include "checkpoint.capnp.h"
#include "session.capnp.h"
#include "turn.capnp.h"

namespace agentlog::tools {
namespace {

using internal::Cf;

// Encodes the root of `bytes` as `T` with the schema's JSON annotations.
template <typename T>
Result<std::string> CapnpToJson(std::string_view bytes, std::string what) {
  internal::RecordReader reader;
  const Status opened = reader.Open(bytes);
  if (!opened.ok()) {
    return Status::Corruption(fmt::format("{} {}", what, opened.message()));
  }
  std::string json;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 capnp::JsonCodec codec;
                 codec.handleByAnnotation<T>();
                 kj::String text = codec.encode(reader.message().getRoot<T>());
                 json.assign(text.cStr(), text.size());
               })) {
    return Status::Corruption(fmt::format("{} does not decode: {}", what,
                                          e->getDescription().cStr()));
  }
  return json;
}

Status BadKey(Cf cf, std::string_view key) {
  return Status::Corruption(fmt::format(
      "{} key {} is malformed", internal::CfName(cf), internal::Hex(key)));
}

}  // namespace

Result<std::string> RecordToJson(Cf cf, std::string_view key,
                                 std::string_view value) {
  JsonObject out;
  out.Add("cf", internal::CfName(cf));
  JsonObject k;
  Result<std::string> v = std::string("null");
  switch (cf) {
    case Cf::kSessions: {
      auto id = internal::ParseSessionKey(key);
      if (!id) return BadKey(cf, key);
      k.Add("session", id->ToString());
      v = CapnpToJson<schema::Session>(value, internal::SessionRecordName(*id));
      break;
    }
    case Cf::kTurns: {
      auto parsed = internal::ParseNumberedKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString()).Add("turn", parsed->number);
      v = CapnpToJson<schema::Turn>(
          value, internal::TurnRecordName(parsed->session, parsed->number));
      break;
    }
    case Cf::kIdempotency: {
      auto parsed = internal::ParseIdempotencyKey(key);
      if (!parsed || value.size() != 8) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString()).Add("key", parsed->key);
      v = JsonObject().Add("turn", internal::DecodeU64(value)).Finish();
      break;
    }
    case Cf::kInputs: {
      auto parsed = internal::ParseInputKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString())
          .Add("digest",
               internal::Hex(std::string_view(
                   reinterpret_cast<const char*>(parsed->digest.data()),
                   parsed->digest.size())))
          .Add("turn", parsed->number);
      break;
    }
    case Cf::kCheckpoints: {
      auto parsed = internal::ParseNumberedKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString())
          .Add("version", parsed->number);
      v = CapnpToJson<schema::CheckpointHeader>(
          value,
          internal::CheckpointRecordName(parsed->session, parsed->number));
      break;
    }
    case Cf::kCheckpointData: {
      // Payloads can be megabytes: the dump gives their size, and
      // `agentlog checkpoint` extracts one, verified.
      auto parsed = internal::ParseNumberedKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString())
          .Add("version", parsed->number);
      v = JsonObject()
              .Add("stored_bytes", static_cast<uint64_t>(value.size()))
              .Finish();
      break;
    }
    case Cf::kMeta: {
      k.Add("name", key);
      if (key == internal::kFormatVersionKey && value.size() == 8) {
        v = std::to_string(internal::DecodeU64(value));
      } else {
        std::string hex;
        AppendJsonString(&hex, internal::Hex(value));
        v = hex;
      }
      break;
    }
    default: {
      std::string hex_key, hex_value;
      AppendJsonString(&hex_key, internal::Hex(key));
      AppendJsonString(&hex_value, internal::Hex(value));
      out.AddRaw("key", hex_key).AddRaw("value", hex_value);
      return out.Finish();
    }
  }
  if (!v.ok()) return v.status();
  out.AddRaw("key", k.Finish()).AddRaw("value", *v);
  return out.Finish();
}

}  // namespace agentlog::tools
