#include "record_codec.h"

#include <capnp/serialize.h>
#include <fmt/format.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>
#include <cstring>

#include "checkpoint.capnp.h"
#include "keys.h"
#include "session.capnp.h"
#include "turn.capnp.h"
#include "usage.capnp.h"

namespace agentlog::internal {
namespace {

constexpr int kNestingLimit = 16;

capnp::ReaderOptions LimitsFor(size_t bytes) {
  capnp::ReaderOptions options;
  // A well-formed record visits each word about once; twice the size (plus
  // slack for tiny messages) stops amplification without refusing honest
  // records.
  options.traversalLimitInWords = bytes / sizeof(capnp::word) * 2 + 1024;
  options.nestingLimit = kNestingLimit;
  return options;
}

capnp::Data::Reader AsData(std::string_view s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}
capnp::Text::Reader AsText(std::string_view s) { return {s.data(), s.size()}; }
std::string ToString(capnp::Text::Reader t) { return {t.begin(), t.size()}; }
std::string_view AsView(capnp::Text::Reader t) { return {t.begin(), t.size()}; }
std::string ToString(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

void SetTokens(schema::TokenCounts::Builder b, const TokenCounts& t) {
  b.setInput(t.input);
  b.setOutput(t.output);
  b.setCacheRead(t.cache_read);
  b.setCacheWrite(t.cache_write);
}

TokenCounts GetTokens(schema::TokenCounts::Reader r) {
  return {r.getInput(), r.getOutput(), r.getCacheRead(), r.getCacheWrite()};
}

// Enum values from disk are checked against the range this build knows: a
// value past it is either corruption or a newer writer, and either way not
// something to guess about.
template <typename Out, typename In>
bool MapEnum(In in, Out max, Out* out) {
  const auto raw = static_cast<uint16_t>(in);
  if (raw > static_cast<uint16_t>(max)) return false;
  *out = static_cast<Out>(raw);
  return true;
}

// Builds records in a per-thread first segment instead of a fresh zeroed
// allocation each time; Cap'n Proto zeroes what it used on destruction, and
// falls back to malloc for records that outgrow it.
constexpr size_t kScratchWords = 4096;  // 32 KiB a thread.

kj::ArrayPtr<capnp::word> Scratch() {
  thread_local capnp::word scratch[kScratchWords] = {};
  return kj::arrayPtr(scratch, kScratchWords);
}

// Serialises `message` in the flat format into one exactly-sized buffer.
EncodedRecord Flatten(capnp::MallocMessageBuilder& message) {
  std::string bytes(
      capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word),
      '\0');
  kj::ArrayOutputStream out(kj::arrayPtr(
      reinterpret_cast<kj::byte*>(bytes.data()), bytes.size()));
  capnp::writeMessage(out, message);
  return EncodedRecord(std::move(bytes));
}

void SetMessages(capnp::List<schema::Message>::Builder list,
                 std::span<const Message> messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    auto b = list[i];
    b.setRole(static_cast<schema::Role>(m.role));
    b.setContent(AsText(m.content));
    if (!m.tool_call_id.empty()) b.setToolCallId(AsText(m.tool_call_id));
    if (!m.tool_name.empty()) b.setToolName(AsText(m.tool_name));
  }
}

bool GetMessages(capnp::List<schema::Message>::Reader list,
                 std::vector<Message>* out) {
  out->clear();
  out->reserve(list.size());
  for (auto r : list) {
    Message m;
    if (!MapEnum(r.getRole(), Role::kTool, &m.role)) return false;
    m.content = ToString(r.getContent());
    m.tool_call_id = ToString(r.getToolCallId());
    m.tool_name = ToString(r.getToolName());
    out->push_back(std::move(m));
  }
  return true;
}

// Runs `decode` on the record's root, turning any malformation (including
// Cap'n Proto exceptions) into Corruption naming the record. `name` is
// called only on error: the happy path formats nothing.
template <typename T, typename Name, typename Fn>
Status DecodeInto(RecordReader& reader, std::string_view bytes,
                  const Name& name, T* value, Fn decode) {
  const Status opened = reader.Open(bytes);
  if (!opened.ok()) {
    return Status::Corruption(fmt::format("{} {}", name(), opened.message()));
  }
  std::string problem;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 if (!decode(reader.message(), value, &problem)) {
                   if (problem.empty()) problem = "field out of range";
                 }
               })) {
    problem = e->getDescription().cStr();
  }
  if (!problem.empty()) {
    return Status::Corruption(
        fmt::format("{} does not decode: {}", name(), problem));
  }
  return Status::OK();
}

template <typename T, typename Name, typename Fn>
Result<T> DecodeRecord(std::string_view bytes, const Name& name, Fn decode) {
  RecordReader reader;
  T value;
  const Status decoded = DecodeInto(reader, bytes, name, &value, decode);
  if (!decoded.ok()) return decoded;
  return value;
}

}  // namespace

Status RecordReader::Open(std::string_view bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::Corruption(fmt::format(
        "does not decode: {} bytes is not a whole number of 8-byte words",
        bytes.size()));
  }
  kj::ArrayPtr<const capnp::word> words(
      reinterpret_cast<const capnp::word*>(bytes.data()),
      bytes.size() / sizeof(capnp::word));
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) != 0) {
    kj::Array<capnp::word>& copy = scratch_ != nullptr ? *scratch_ : copy_;
    if (copy.size() < words.size()) {
      copy =
          kj::heapArray<capnp::word>(std::max(words.size(), copy.size() * 2));
    }
    std::memcpy(copy.begin(), bytes.data(), bytes.size());
    words = copy.slice(0, words.size());
  }
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 reader_.emplace(words, LimitsFor(bytes.size()));
               })) {
    return Status::Corruption(
        fmt::format("does not decode: {}", e->getDescription().cStr()));
  }
  return Status::OK();
}

std::string SessionRecordName(const SessionId& id) {
  return "sessions/" + id.ToString();
}

std::string TurnRecordName(const SessionId& id, uint64_t number) {
  return fmt::format("turns/{}/{}", id.ToString(), number);
}

namespace {

// The age floors may stand one past the last record (everything pruned),
// never further: the next record is numbered last + 1 and must be kept.
bool CheckAgeFloors(uint64_t oldest_turn, uint64_t last_turn,
                    uint64_t oldest_usage, uint64_t last_usage,
                    std::string* problem) {
  // No store numbers anywhere near 2^63 turns or records: a count that high
  // is damage, and readers would wrap computing last + 1.
  constexpr uint64_t kMaxCount = uint64_t{1} << 62;
  if (last_turn > kMaxCount || last_usage > kMaxCount) {
    *problem = fmt::format(
        "last turn {} or last usage record {} is past 2^62", last_turn,
        last_usage);
    return false;
  }
  if (oldest_turn > last_turn + 1) {
    *problem = fmt::format("turn floor {} is past the last turn {} + 1",
                           oldest_turn, last_turn);
    return false;
  }
  if (oldest_usage > last_usage + 1) {
    *problem = fmt::format("usage floor {} is past the last usage record {} + 1",
                           oldest_usage, last_usage);
    return false;
  }
  return true;
}

}  // namespace

EncodedRecord EncodeSession(const Session& s) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::Session>();
  b.setAgent(AsText(s.agent));
  b.setModel(AsText(s.model));
  b.setTitle(AsText(s.title));
  auto tags = b.initTags(s.tags.size());
  for (size_t i = 0; i < s.tags.size(); ++i) tags.set(i, AsText(s.tags[i]));
  b.setMetadata(AsData(s.metadata));
  b.setStatus(static_cast<schema::SessionStatus>(s.status));
  b.setCreatedMs(s.created_ms);
  b.setLastActiveMs(s.last_active_ms);
  b.setContextWindow(s.context_window);
  b.setPinned(s.pinned);
  b.setLastTurn(s.turn_count);
  b.setCompletedTurns(s.completed_turns);
  b.setFailedTurns(s.failed_turns);
  SetTokens(b.initTokens(), s.tokens);
  b.setCostMicros(s.cost_micros);
  auto processing = b.initProcessingTurns(s.processing_turns.size());
  for (size_t i = 0; i < s.processing_turns.size(); ++i) {
    processing.set(i, s.processing_turns[i]);
  }
  b.setLastCheckpoint(s.last_checkpoint);
  b.setCheckpointFloor(s.oldest_checkpoint);
  b.setCheckpointKeepLast(s.checkpoint_keep_last);
  if (!s.lease.owner.empty()) b.setLeaseOwner(AsText(s.lease.owner));
  b.setLeaseToken(s.lease.token);
  b.setLeaseAcquiredMs(s.lease.acquired_ms);
  b.setLeaseExpiresMs(s.lease.expires_ms);
  b.setEchoChecked(s.echo.checked);
  b.setEchoExact(s.echo.exact);
  b.setEchoNear(s.echo.near);
  b.setEchoSkipped(s.echo.skipped);
  b.setLastUsageSeq(s.usage_records);
  b.setContextTokens(s.context_tokens);
  b.setTurnFloor(s.oldest_turn);
  b.setUsageFloor(s.oldest_usage);
  return Flatten(message);
}

Result<Session> DecodeSession(const SessionId& id, std::string_view bytes) {
  return DecodeRecord<Session>(
      bytes, [&] { return SessionRecordName(id); },
      [&](capnp::MessageReader& message, Session* s, std::string* problem) {
        auto r = message.getRoot<schema::Session>();
        s->id = id;
        s->agent = ToString(r.getAgent());
        s->model = ToString(r.getModel());
        s->title = ToString(r.getTitle());
        for (auto tag : r.getTags()) s->tags.push_back(ToString(tag));
        s->metadata = ToString(r.getMetadata());
        if (!MapEnum(r.getStatus(), SessionStatus::kDeleted, &s->status)) {
          *problem = fmt::format("unknown session status {}",
                                 static_cast<int>(r.getStatus()));
          return false;
        }
        s->created_ms = r.getCreatedMs();
        s->last_active_ms = r.getLastActiveMs();
        s->context_window = r.getContextWindow();
        s->pinned = r.getPinned();
        s->turn_count = r.getLastTurn();
        s->completed_turns = r.getCompletedTurns();
        s->failed_turns = r.getFailedTurns();
        s->tokens = GetTokens(r.getTokens());
        s->cost_micros = r.getCostMicros();
        for (uint64_t n : r.getProcessingTurns()) {
          s->processing_turns.push_back(n);
        }
        s->last_checkpoint = r.getLastCheckpoint();
        s->oldest_checkpoint = r.getCheckpointFloor();
        s->checkpoint_keep_last = r.getCheckpointKeepLast();
        s->lease.session = id;
        s->lease.owner = ToString(r.getLeaseOwner());
        s->lease.token = r.getLeaseToken();
        s->lease.acquired_ms = r.getLeaseAcquiredMs();
        s->lease.expires_ms = r.getLeaseExpiresMs();
        s->echo = {.checked = r.getEchoChecked(),
                   .exact = r.getEchoExact(),
                   .near = r.getEchoNear(),
                   .skipped = r.getEchoSkipped()};
        s->usage_records = r.getLastUsageSeq();
        s->context_tokens = r.getContextTokens();
        s->oldest_turn = r.getTurnFloor();
        s->oldest_usage = r.getUsageFloor();
        if (s->oldest_checkpoint > s->last_checkpoint) {
          *problem = fmt::format("checkpoint floor {} is past the last version {}",
                                 s->oldest_checkpoint, s->last_checkpoint);
          return false;
        }
        return CheckAgeFloors(s->oldest_turn, s->turn_count, s->oldest_usage,
                              s->usage_records, problem);
      });
}

// Reads what DecodeSession reads, in its order, without copying: every
// pointer field is still fetched (which is what validates it), so the two
// fail on the same records with the same problem.
Result<SessionView> SessionViewDecoder::Decode(const SessionId& id,
                                               std::string_view bytes) {
  RecordReader reader(&scratch_);
  SessionView view;
  const Status decoded = DecodeInto(
      reader, bytes, [&] { return SessionRecordName(id); }, &view,
      [&](capnp::MessageReader& message, SessionView* s, std::string* problem) {
        auto r = message.getRoot<schema::Session>();
        s->id = id;
        s->agent = AsView(r.getAgent());
        s->model = AsView(r.getModel());
        s->title = AsView(r.getTitle());
        tags_.clear();
        for (auto tag : r.getTags()) tags_.push_back(AsView(tag));
        s->tags = tags_;
        s->metadata_bytes = r.getMetadata().size();
        if (!MapEnum(r.getStatus(), SessionStatus::kDeleted, &s->status)) {
          *problem = fmt::format("unknown session status {}",
                                 static_cast<int>(r.getStatus()));
          return false;
        }
        s->last_active_ms = r.getLastActiveMs();
        s->pinned = r.getPinned();
        s->tokens = GetTokens(r.getTokens()).total();
        s->cost_micros = r.getCostMicros();
        processing_turns_.clear();
        for (uint64_t n : r.getProcessingTurns()) {
          processing_turns_.push_back(n);
        }
        s->processing_turns = processing_turns_;
        const uint64_t last_checkpoint = r.getLastCheckpoint();
        s->oldest_checkpoint = r.getCheckpointFloor();
        static_cast<void>(r.getLeaseOwner());
        s->usage_records = r.getLastUsageSeq();
        s->oldest_turn = r.getTurnFloor();
        s->oldest_usage = r.getUsageFloor();
        if (s->oldest_checkpoint > last_checkpoint) {
          *problem =
              fmt::format("checkpoint floor {} is past the last version {}",
                          s->oldest_checkpoint, last_checkpoint);
          return false;
        }
        return CheckAgeFloors(s->oldest_turn, r.getLastTurn(), s->oldest_usage,
                              s->usage_records, problem);
      });
  if (!decoded.ok()) return decoded;
  return view;
}

EncodedRecord EncodeTurn(const Turn& t) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::Turn>();
  b.setNumber(t.number);
  if (!t.idempotency_key.empty())
    b.setIdempotencyKey(AsData(t.idempotency_key));
  b.setStatus(static_cast<schema::TurnStatus>(t.status));
  SetMessages(b.initInput(t.input.size()), t.input);
  if (!t.output.empty()) SetMessages(b.initOutput(t.output.size()), t.output);
  b.setInputDigest(
      capnp::Data::Reader(t.input_digest.data(), t.input_digest.size()));
  if (!t.error.empty()) b.setError(AsText(t.error));
  b.setStartedMs(t.started_ms);
  b.setFinishedMs(t.finished_ms);
  SetTokens(b.initTokens(), t.usage.tokens);
  b.setCostMicros(t.usage.cost_micros);
  b.setEchoKind(static_cast<schema::EchoKind>(t.echo.kind));
  b.setEchoTurn(t.echo.turn);
  b.setEchoSimilarity(t.echo.similarity);
  return Flatten(message);
}

Result<TurnAge> DecodeTurnAge(const SessionId& id, std::string_view bytes) {
  return DecodeRecord<TurnAge>(
      bytes, [&] { return fmt::format("turns/{}", id.ToString()); },
      [&](capnp::MessageReader& message, TurnAge* t, std::string* problem) {
        auto r = message.getRoot<schema::Turn>();
        t->number = r.getNumber();
        if (!MapEnum(r.getStatus(), TurnStatus::kFailed, &t->status)) {
          *problem = fmt::format("unknown turn status {}",
                                 static_cast<int>(r.getStatus()));
          return false;
        }
        t->finished_ms = r.getFinishedMs();
        return true;
      });
}

Result<Turn> DecodeTurn(const SessionId& id, std::string_view bytes) {
  // The number is not known until decoded; name the record by session only
  // and let callers that know the key give the full name.
  return DecodeRecord<Turn>(
      bytes, [&] { return fmt::format("turns/{}", id.ToString()); },
      [&](capnp::MessageReader& message, Turn* t, std::string* problem) {
        auto r = message.getRoot<schema::Turn>();
        t->session = id;
        t->number = r.getNumber();
        t->idempotency_key = ToString(r.getIdempotencyKey());
        if (!MapEnum(r.getStatus(), TurnStatus::kFailed, &t->status)) {
          *problem = fmt::format("unknown turn status {}",
                                 static_cast<int>(r.getStatus()));
          return false;
        }
        if (!GetMessages(r.getInput(), &t->input) ||
            !GetMessages(r.getOutput(), &t->output)) {
          *problem = "unknown message role";
          return false;
        }
        auto digest = r.getInputDigest();
        if (digest.size() != t->input_digest.size()) {
          *problem = fmt::format("input digest is {} bytes; expected {}",
                                 digest.size(), t->input_digest.size());
          return false;
        }
        std::memcpy(t->input_digest.data(), digest.begin(), digest.size());
        t->error = ToString(r.getError());
        t->started_ms = r.getStartedMs();
        t->finished_ms = r.getFinishedMs();
        t->usage.tokens = GetTokens(r.getTokens());
        t->usage.cost_micros = r.getCostMicros();
        if (!MapEnum(r.getEchoKind(), EchoKind::kSkipped, &t->echo.kind)) {
          *problem = fmt::format("unknown echo kind {}",
                                 static_cast<int>(r.getEchoKind()));
          return false;
        }
        t->echo.turn = r.getEchoTurn();
        t->echo.similarity = r.getEchoSimilarity();
        return true;
      });
}

std::string CheckpointRecordName(const SessionId& id, uint64_t version) {
  return fmt::format("checkpoints/{}/{}", id.ToString(), version);
}

EncodedRecord EncodeCheckpointHeader(const CheckpointInfo& c) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::CheckpointHeader>();
  b.setVersion(c.version);
  b.setParent(c.parent.value_or(0));
  b.setCreatedMs(c.created_ms);
  b.setRawBytes(c.raw_bytes);
  b.setStoredBytes(c.stored_bytes);
  b.setCodec(static_cast<schema::CheckpointCodec>(c.codec));
  b.setXxh3(c.checksum);
  if (!c.metadata.empty()) b.setMetadata(AsData(c.metadata));
  return Flatten(message);
}

Result<CheckpointInfo> DecodeCheckpointHeader(const SessionId& id,
                                              uint64_t version,
                                              std::string_view bytes) {
  return DecodeRecord<CheckpointInfo>(
      bytes, [&] { return CheckpointRecordName(id, version); },
      [&](capnp::MessageReader& message, CheckpointInfo* c,
          std::string* problem) {
        auto r = message.getRoot<schema::CheckpointHeader>();
        c->session = id;
        c->version = r.getVersion();
        if (c->version != version) {
          *problem = fmt::format("holds version {}", c->version);
          return false;
        }
        if (r.getParent() != 0) c->parent = r.getParent();
        c->created_ms = r.getCreatedMs();
        c->raw_bytes = r.getRawBytes();
        c->stored_bytes = r.getStoredBytes();
        if (!MapEnum(r.getCodec(), CheckpointCodec::kLz4, &c->codec)) {
          *problem = fmt::format("unknown checkpoint codec {}",
                                 static_cast<int>(r.getCodec()));
          return false;
        }
        if (c->codec == CheckpointCodec::kNone &&
            c->stored_bytes != c->raw_bytes) {
          *problem = "uncompressed payload with stored size != raw size";
          return false;
        }
        c->checksum = r.getXxh3();
        c->metadata = ToString(r.getMetadata());
        return true;
      });
}

std::string UsageRecordName(const SessionId& id, uint64_t seq) {
  return fmt::format("usage/{}/{}", id.ToString(), seq);
}

EncodedRecord EncodeUsageRecord(const UsageRecord& u) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::UsageRecord>();
  b.setSeq(u.seq);
  b.setTurn(u.turn);
  if (!u.message_id.empty()) b.setMessageId(AsText(u.message_id));
  b.setModel(AsText(u.model));
  b.setOperation(AsText(u.operation));
  SetTokens(b.initTokens(), u.tokens);
  b.setCostMicros(u.cost_micros);
  b.setSavedMicros(u.saved_micros);
  b.setCostSource(static_cast<schema::CostSource>(u.cost_source));
  b.setPriceVersion(u.price_version);
  b.setRecordedMs(u.recorded_ms);
  return Flatten(message);
}

Result<UsageRecord> DecodeUsageRecord(const SessionId& id, uint64_t seq,
                                      std::string_view bytes) {
  return DecodeRecord<UsageRecord>(
      bytes, [&] { return UsageRecordName(id, seq); },
      [&](capnp::MessageReader& message, UsageRecord* u,
          std::string* problem) {
        auto r = message.getRoot<schema::UsageRecord>();
        u->session = id;
        u->seq = r.getSeq();
        if (u->seq != seq) {
          *problem = fmt::format("holds seq {}", u->seq);
          return false;
        }
        u->turn = r.getTurn();
        u->message_id = ToString(r.getMessageId());
        u->model = ToString(r.getModel());
        u->operation = ToString(r.getOperation());
        u->tokens = GetTokens(r.getTokens());
        u->cost_micros = r.getCostMicros();
        u->saved_micros = r.getSavedMicros();
        if (!MapEnum(r.getCostSource(), CostSource::kUnpriced,
                     &u->cost_source)) {
          *problem = fmt::format("unknown cost source {}",
                                 static_cast<int>(r.getCostSource()));
          return false;
        }
        u->price_version = r.getPriceVersion();
        u->recorded_ms = r.getRecordedMs();
        return true;
      });
}

EncodedRecord EncodePrice(const PriceVersion& p) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::Price>();
  b.setModel(AsText(p.price.model));
  b.setVersion(p.version);
  b.setEffectiveMs(p.effective_ms);
  b.setSetMs(p.set_ms);
  b.setInput(p.price.input);
  b.setOutput(p.price.output);
  b.setCacheRead(p.price.cache_read);
  b.setCacheWrite(p.price.cache_write);
  return Flatten(message);
}

Result<PriceVersion> DecodePrice(std::string_view key, std::string_view bytes) {
  return DecodeRecord<PriceVersion>(
      bytes, [&] { return fmt::format("meta/{}", Hex(key)); },
      [&](capnp::MessageReader& message, PriceVersion* p, std::string*) {
        auto r = message.getRoot<schema::Price>();
        p->price.model = ToString(r.getModel());
        p->version = r.getVersion();
        p->effective_ms = r.getEffectiveMs();
        p->set_ms = r.getSetMs();
        p->price.input = r.getInput();
        p->price.output = r.getOutput();
        p->price.cache_read = r.getCacheRead();
        p->price.cache_write = r.getCacheWrite();
        return true;
      });
}

EncodedRecord EncodeBudget(const StoredBudget& budget) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::Budget>();
  const BudgetSpec& spec = budget.spec;
  b.setScope(static_cast<schema::UsageScope>(spec.scope));
  b.setName(AsText(spec.name));
  b.setPeriod(static_cast<schema::UsagePeriod>(spec.period));
  b.setLimitMicros(spec.limit_micros);
  b.setSoftPercent(spec.soft_percent);
  b.setHardPercent(spec.hard_percent);
  b.setEmergencyPercent(spec.emergency_percent);
  b.setLiftedThroughSeq(budget.lifted_through_seq);
  b.setCreatedMs(budget.created_ms);
  b.setGeneration(budget.generation);
  return Flatten(message);
}

Result<StoredBudget> DecodeBudget(std::string_view key,
                                  std::string_view bytes) {
  return DecodeRecord<StoredBudget>(
      bytes, [&] { return fmt::format("meta/{}", Hex(key)); },
      [&](capnp::MessageReader& message, StoredBudget* budget,
          std::string* problem) {
        auto r = message.getRoot<schema::Budget>();
        BudgetSpec& spec = budget->spec;
        if (!MapEnum(r.getScope(), UsageScope::kOperation, &spec.scope) ||
            !MapEnum(r.getPeriod(), UsagePeriod::kMonth, &spec.period)) {
          *problem = "unknown scope or period";
          return false;
        }
        spec.name = ToString(r.getName());
        spec.limit_micros = r.getLimitMicros();
        spec.soft_percent = r.getSoftPercent();
        spec.hard_percent = r.getHardPercent();
        spec.emergency_percent = r.getEmergencyPercent();
        budget->lifted_through_seq = r.getLiftedThroughSeq();
        budget->created_ms = r.getCreatedMs();
        budget->generation = r.getGeneration();
        return true;
      });
}

EncodedRecord EncodeAlert(const BudgetAlert& a) {
  capnp::MallocMessageBuilder message(Scratch());
  auto b = message.initRoot<schema::Alert>();
  b.setSeq(a.seq);
  b.setScope(static_cast<schema::UsageScope>(a.scope));
  b.setName(AsText(a.name));
  b.setPeriod(static_cast<schema::UsagePeriod>(a.period));
  b.setPeriodStartMs(a.period_start_ms);
  b.setThreshold(static_cast<schema::BudgetThreshold>(a.threshold));
  b.setLimitMicros(a.limit_micros);
  b.setThresholdMicros(a.threshold_micros);
  b.setSpentMicros(a.spent_micros);
  b.setSession(capnp::Data::Reader(a.session.bytes().data(), SessionId::kBytes));
  b.setRaisedMs(a.raised_ms);
  b.setBudgetGeneration(a.budget_generation);
  return Flatten(message);
}

Result<BudgetAlert> DecodeAlert(std::string_view key, std::string_view bytes) {
  return DecodeRecord<BudgetAlert>(
      bytes, [&] { return fmt::format("alerts/{}", Hex(key)); },
      [&](capnp::MessageReader& message, BudgetAlert* a,
          std::string* problem) {
        auto r = message.getRoot<schema::Alert>();
        a->seq = r.getSeq();
        if (!MapEnum(r.getScope(), UsageScope::kOperation, &a->scope) ||
            !MapEnum(r.getPeriod(), UsagePeriod::kMonth, &a->period) ||
            !MapEnum(r.getThreshold(), BudgetThreshold::kEmergency,
                     &a->threshold)) {
          *problem = "unknown scope, period or threshold";
          return false;
        }
        a->name = ToString(r.getName());
        a->period_start_ms = r.getPeriodStartMs();
        a->limit_micros = r.getLimitMicros();
        a->threshold_micros = r.getThresholdMicros();
        a->spent_micros = r.getSpentMicros();
        const capnp::Data::Reader session = r.getSession();
        if (session.size() != SessionId::kBytes) {
          *problem = fmt::format("session is {} bytes", session.size());
          return false;
        }
        std::array<uint8_t, SessionId::kBytes> raw;
        std::memcpy(raw.data(), session.begin(), raw.size());
        a->session = SessionId::FromBytes(raw);
        a->raised_ms = r.getRaisedMs();
        a->budget_generation = r.getBudgetGeneration();
        return true;
      });
}

}  // namespace agentlog::internal
