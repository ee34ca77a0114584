#include "record_json.h"

#include <capnp/compat/json.h>
#include <fmt/format.h>
#include <kj/exception.h>

#include "checkpoint.capnp.h"
#include "json_writer.h"
#include "keys.h"
#include "record_codec.h"
#include "session.capnp.h"
#include "turn.capnp.h"
#include "usage_json.h"
#include "usage_keys.h"
#include "usage_period.h"
#include "usage_totals.h"

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

// A record whose key says other than its value: the key is rebuilt from the
// value and compared, as the key encodings have no parser of their own.
Status KeyMismatch(Cf cf, std::string_view key) {
  return Status::Corruption(fmt::format("{} key {} does not match its record",
                                        internal::CfName(cf),
                                        internal::Hex(key)));
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
      if (key.starts_with(internal::kPriceKeyPrefix)) {
        Result<PriceVersion> p = internal::DecodePrice(key, value);
        if (!p.ok()) return p.status();
        if (internal::PriceKey(p->price.model, p->version) != key) {
          return KeyMismatch(cf, key);
        }
        k.Add("name", internal::kPriceKeyPrefix)
            .Add("model", p->price.model)
            .Add("version", static_cast<uint64_t>(p->version));
        v = PriceJson(*p);
        break;
      }
      if (key.starts_with(internal::kBudgetKeyPrefix)) {
        Result<internal::StoredBudget> b = internal::DecodeBudget(key, value);
        if (!b.ok()) return b.status();
        const BudgetSpec& spec = b->spec;
        if (internal::BudgetKey(spec.scope, spec.period, spec.name) != key) {
          return KeyMismatch(cf, key);
        }
        k.Add("name", internal::kBudgetKeyPrefix)
            .Add("scope", UsageScopeName(spec.scope))
            .Add("period", UsagePeriodName(spec.period))
            .Add("budget", spec.name);
        JsonObject o;
        v = AddBudgetSpec(o, spec)
                .Add("generation", b->generation)
                .Add("created_ms", b->created_ms)
                .Add("lifted_through_seq", b->lifted_through_seq)
                .Finish();
        break;
      }
      k.Add("name", key);
      if ((key == internal::kFormatVersionKey ||
           key == internal::kTotalsClosedAtKey) &&
          value.size() == 8) {
        v = std::to_string(internal::DecodeU64(value));
      } else {
        std::string hex;
        AppendJsonString(&hex, internal::Hex(value));
        v = hex;
      }
      break;
    }
    case Cf::kUsage: {
      auto parsed = internal::ParseNumberedKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("session", parsed->session.ToString()).Add("seq", parsed->number);
      Result<UsageRecord> u =
          internal::DecodeUsageRecord(parsed->session, parsed->number, value);
      if (!u.ok()) return u.status();
      v = UsageRecordJson(*u);
      break;
    }
    case Cf::kUsageIds: {
      auto ref = internal::DecodeUsageRef(value);
      if (!ref) {
        return Status::Corruption(fmt::format("{} value of key {} is malformed",
                                              internal::CfName(cf),
                                              internal::Hex(key)));
      }
      k.Add("message_id", key);
      v = JsonObject()
              .Add("session", ref->session.ToString())
              .Add("seq", ref->seq)
              .Finish();
      break;
    }
    case Cf::kUsageTotals: {
      if (auto marked = internal::ParseTotalsMarkKey(key)) {
        const std::optional<uint64_t> mark = internal::DecodeTotalsMark(value);
        if (!mark) {
          return Status::Corruption(fmt::format(
              "{}/mark/{} is {} bytes; expected 8", internal::CfName(cf),
              marked->ToString(), value.size()));
        }
        k.Add("mark", marked->ToString());
        v = JsonObject().Add("totals_through_seq", *mark).Finish();
        break;
      }
      auto parsed = internal::ParseTotalsKey(key);
      if (!parsed) return BadKey(cf, key);
      k.Add("scope", UsageScopeName(parsed->scope))
          .Add("period", UsagePeriodName(parsed->period))
          .Add("period_index", static_cast<uint64_t>(parsed->index))
          .Add("name", parsed->name);
      Result<UsageTotals> totals = internal::DecodeTotals(
          value,
          fmt::format("{}/{}", internal::CfName(cf), internal::Hex(key)));
      if (!totals.ok()) return totals.status();
      JsonObject o;
      v = AddTotals(o, *totals).Finish();
      break;
    }
    case Cf::kAlerts: {
      Result<BudgetAlert> a = internal::DecodeAlert(key, value);
      if (!a.ok()) return a.status();
      const uint32_t index =
          internal::PeriodIndex(a->period, a->period_start_ms);
      if (internal::AlertKey(a->scope, a->period, index, a->threshold,
                             a->budget_generation, a->name) != key) {
        return KeyMismatch(cf, key);
      }
      k.Add("scope", UsageScopeName(a->scope))
          .Add("period", UsagePeriodName(a->period))
          .Add("period_index", static_cast<uint64_t>(index))
          .Add("threshold", BudgetThresholdName(a->threshold))
          .Add("budget_generation", a->budget_generation)
          .Add("name", a->name);
      v = AlertJson(*a);
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
