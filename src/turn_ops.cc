// Turn operations of StoreImpl: the conversation log.

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {
namespace {

// Adds `usage` to a session's totals, refusing any sum that would overflow.
Status AddToSessionTotals(Session& s, const TurnUsage& usage) {
  const uint64_t* add[] = {&usage.tokens.input, &usage.tokens.output,
                           &usage.tokens.cache_read, &usage.tokens.cache_write};
  uint64_t* sum[] = {&s.tokens.input, &s.tokens.output, &s.tokens.cache_read,
                     &s.tokens.cache_write};
  static constexpr const char* kNames[] = {"input", "output", "cache_read",
                                           "cache_write"};
  uint64_t result[4];
  for (int i = 0; i < 4; ++i) {
    if (__builtin_add_overflow(*sum[i], *add[i], &result[i])) {
      return Status::InvalidArgument(fmt::format(
          "TurnUsage::tokens.{} is {}; the session total {} would overflow "
          "uint64",
          kNames[i], *add[i], *sum[i]));
    }
  }
  int64_t cost;
  if (__builtin_add_overflow(s.cost_micros, usage.cost_micros, &cost)) {
    return Status::InvalidArgument(fmt::format(
        "TurnUsage::cost_micros is {}; the session total {} would overflow "
        "int64",
        usage.cost_micros, s.cost_micros));
  }
  for (int i = 0; i < 4; ++i) *sum[i] = result[i];
  s.cost_micros = cost;
  return Status::OK();
}

// Takes a completed turn's usage back out of the totals (pop).
void SubtractUsage(Session& s, const TurnUsage& usage) {
  s.tokens.input -= std::min(s.tokens.input, usage.tokens.input);
  s.tokens.output -= std::min(s.tokens.output, usage.tokens.output);
  s.tokens.cache_read -= std::min(s.tokens.cache_read, usage.tokens.cache_read);
  s.tokens.cache_write -=
      std::min(s.tokens.cache_write, usage.tokens.cache_write);
  s.cost_micros -= std::min(s.cost_micros, usage.cost_micros);
}

std::string EncodeNumber(uint64_t n) {
  std::string out;
  AppendU64(&out, n);
  return out;
}

// Whether `turns` are exactly first..last, in order.
bool Contiguous(const std::vector<Turn>& turns, uint64_t first,
                uint64_t last) {
  if (first > last) return turns.empty();
  if (turns.size() != last - first + 1) return false;
  for (size_t i = 0; i < turns.size(); ++i) {
    if (turns[i].number != first + i) return false;
  }
  return true;
}

// The first number from `first` on that `turns` (ascending) lacks.
uint64_t MissingTurn(const std::vector<Turn>& turns, uint64_t first) {
  for (const Turn& t : turns) {
    if (t.number != first) return first;
    ++first;
  }
  return first;
}

Status PrunedTurn(const SessionId& id, uint64_t number, uint64_t oldest) {
  return Status::NotFound(fmt::format(
      "turn {} of session {} was pruned by age (Options::turn_max_age); the "
      "oldest turn kept is {}",
      number, id.ToString(), oldest));
}

}  // namespace

Result<BeginTurnResult> StoreImpl::BeginTurn(const SessionId& session,
                                             std::string_view idempotency_key,
                                             std::span<const Message> input,
                                             const WriteOptions& wo) {
  return StartTurn(session, idempotency_key, input, {}, nullptr, nullptr, wo);
}

Result<BeginTurnResult> StoreImpl::AppendTurn(const SessionId& session,
                                              std::string_view idempotency_key,
                                              std::span<const Message> input,
                                              std::span<const Message> output,
                                              const TurnUsage& usage,
                                              const WriteOptions& wo) {
  // Validated first: fingerprinting is the costly part.
  AGENTLOG_RETURN_IF_ERROR(ValidateMessages(options_, output, "output", false));
  const std::optional<EchoFingerprint> echo = FingerprintForEcho(output);
  return StartTurn(session, idempotency_key, input, output, &usage,
                   echo ? &*echo : nullptr, wo);
}

Result<BeginTurnResult> StoreImpl::StartTurn(const SessionId& id,
                                             std::string_view key,
                                             std::span<const Message> input,
                                             std::span<const Message> output,
                                             const TurnUsage* usage,
                                             const EchoFingerprint* echo,
                                             const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateIdempotencyKey(options_, key));
  AGENTLOG_RETURN_IF_ERROR(ValidateMessages(options_, input, "input", true));
  // AppendTurn validated `output` before fingerprinting it.
  if (usage != nullptr) AGENTLOG_RETURN_IF_ERROR(ValidateUsage(*usage));
  const InputDigest digest = ComputeInputDigest(input);
  const std::optional<UsageSpec> implicit_usage =
      usage != nullptr ? ImplicitUsage(*usage) : std::nullopt;
  BeginTurnResult result;
  UsageWrite usage_write;
  auto mutation = [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
    const std::string idem_key = key.empty() ? "" : IdempotencyKey(id, key);
    if (!key.empty()) {
      rocksdb::PinnableSlice existing;
      const rocksdb::Status st =
          db_->Get(rocksdb::ReadOptions(), handle(Cf::kIdempotency), idem_key,
                   &existing);
      if (!st.ok() && !st.IsNotFound()) {
        return FromRocksDB(st, "read idempotency key");
      }
      if (st.ok() && existing.size() != 8) {
        return Status::Corruption(
            fmt::format("idempotency/{}/{} is {} bytes; expected 8",
                        id.ToString(), Hex(key), existing.size()));
      }
      // The key of a turn pruned by age names nothing: it is new again, and
      // the new turn's write replaces it.
      if (st.ok() && DecodeU64(existing.ToStringView()) >= s.oldest_turn) {
        AGENTLOG_ASSIGN_OR_RETURN(
            result.turn, LoadTurn(id, DecodeU64(existing.ToStringView())));
        if (result.turn.input_digest != digest) {
          return Status::Conflict(fmt::format(
              "idempotency_key '{}' already names turn {} of session {}, "
              "which had a different input",
              key, result.turn.number, id.ToString()));
        }
        result.replayed = true;
        return false;
      }
    }
    // Before the work: a refused call should cost little. Usage to record
    // is charged (and checked again) once the batch is built (AdmitUsage).
    AGENTLOG_RETURN_IF_ERROR(CheckBudgets(s, wo));
    Turn& t = result.turn;
    t.session = id;
    t.number = s.turn_count + 1;
    t.idempotency_key = std::string(key);
    t.input.assign(input.begin(), input.end());
    t.input_digest = digest;
    t.started_ms = Now();
    if (usage != nullptr) {
      if (implicit_usage) {
        AGENTLOG_RETURN_IF_ERROR(AddUsage(s, t.number,
                                          std::span(&*implicit_usage, 1), true,
                                          wo, batch, usage_write));
      }
      t.usage = usage_write.sum;
      AGENTLOG_RETURN_IF_ERROR(AddToSessionTotals(s, t.usage));
      t.status = TurnStatus::kCompleted;
      t.output.assign(output.begin(), output.end());
      t.finished_ms = t.started_ms;
      ++s.completed_turns;
      AGENTLOG_RETURN_IF_ERROR(RecordEcho(s, t, echo, wo));
    } else {
      t.status = TurnStatus::kProcessing;
      s.processing_turns.push_back(t.number);
    }
    s.turn_count = t.number;
    const EncodedRecord record = EncodeTurn(t);
    AGENTLOG_RETURN_IF_ERROR(
        FromRocksDB(batch.Put(handle(Cf::kTurns), TurnKey(id, t.number),
                              rocksdb::Slice(record.bytes())),
                    "batch turn"));
    if (!key.empty()) {
      AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
          batch.Put(handle(Cf::kIdempotency), idem_key, EncodeNumber(t.number)),
          "batch idempotency key"));
    }
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        batch.Put(handle(Cf::kInputs), InputKey(id, digest, t.number), ""),
        "batch input digest"));
    return true;
  };
  // Turn record, session record and index keys, with room to spare.
  size_t batch_bytes = 1024 + 2 * key.size();
  for (const Message& m : input) batch_bytes += m.content.size() + 64;
  for (const Message& m : output) batch_bytes += m.content.size() + 64;
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation, nullptr,
                                         batch_bytes, &usage_write));
  FinishUsage(usage_write);
  if (result.replayed) AGENTLOG_RETURN_IF_ERROR(MakeReplayDurable(wo));
  return result;
}

Result<Turn> StoreImpl::FinishTurn(const SessionId& id, uint64_t number,
                                   const WriteOptions& wo,
                                   FunctionRef<Status(Session&, Turn&,
                                                      rocksdb::WriteBatch&)>
                                       finish,
                                   const EchoFingerprint* echo,
                                   const AlsoWrite* also,
                                   Session* session_out, size_t batch_bytes,
                                   UsageWrite* usage) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  Turn turn;
  auto mutation = [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
    AGENTLOG_ASSIGN_OR_RETURN(turn, LoadTurn(id, number));
    if (turn.status != TurnStatus::kProcessing) {
      return Status::FailedPrecondition(fmt::format(
          "turn {} of session {} is {}; only processing turns can be "
          "completed or failed",
          number, id.ToString(), TurnStatusName(turn.status)));
    }
    AGENTLOG_RETURN_IF_ERROR(finish(s, turn, batch));
    if (turn.status == TurnStatus::kCompleted) {
      AGENTLOG_RETURN_IF_ERROR(AddToSessionTotals(s, turn.usage));
      ++s.completed_turns;
      AGENTLOG_RETURN_IF_ERROR(RecordEcho(s, turn, echo, wo));
    } else {
      ++s.failed_turns;
    }
    turn.finished_ms = std::max(turn.started_ms, Now());
    std::erase(s.processing_turns, number);
    const EncodedRecord record = EncodeTurn(turn);
    AGENTLOG_RETURN_IF_ERROR(
        FromRocksDB(batch.Put(handle(Cf::kTurns), TurnKey(id, number),
                              rocksdb::Slice(record.bytes())),
                    "batch turn"));
    if (also != nullptr) AGENTLOG_RETURN_IF_ERROR((*also)(s, batch));
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation, session_out,
                                         batch_bytes, usage));
  return turn;
}

Result<Turn> StoreImpl::CompleteTurn(const SessionId& id, uint64_t number,
                                     std::span<const Message> output,
                                     const TurnUsage& usage,
                                     const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateMessages(options_, output, "output", false));
  AGENTLOG_RETURN_IF_ERROR(ValidateUsage(usage));
  const std::optional<UsageSpec> spec = ImplicitUsage(usage);
  return CompleteValidated(
      id, number, output,
      spec ? std::span(&*spec, 1) : std::span<const UsageSpec>(), wo);
}

Result<Turn> StoreImpl::CompleteValidated(
    const SessionId& id, uint64_t number, std::span<const Message> output,
    std::span<const UsageSpec> usage, const WriteOptions& wo,
    const AlsoWrite* also, Session* session_out, size_t batch_bytes,
    std::vector<RecordUsageResult>* results) {
  const std::optional<EchoFingerprint> echo = FingerprintForEcho(output);
  UsageIdLocks::Held id_locks = LockUsageIds(usage);
  UsageWrite usage_write;
  AGENTLOG_ASSIGN_OR_RETURN(
      Turn turn,
      FinishTurn(
          id, number, wo,
          [&](Session& s, Turn& t, rocksdb::WriteBatch& batch) -> Status {
            t.status = TurnStatus::kCompleted;
            t.output.assign(output.begin(), output.end());
            if (!usage.empty()) {
              AGENTLOG_RETURN_IF_ERROR(
                  AddUsage(s, number, usage, false, wo, batch, usage_write));
            }
            t.usage = usage_write.sum;
            return Status::OK();
          },
          echo ? &*echo : nullptr, also, session_out, batch_bytes,
          &usage_write));
  id_locks.Unlock();
  FinishUsage(usage_write);
  if (results != nullptr) *results = std::move(usage_write.results);
  return turn;
}

Result<Turn> StoreImpl::FailTurn(const SessionId& id, uint64_t number,
                                 std::string_view error,
                                 const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateError(options_, error));
  return FinishTurn(
      id, number, wo,
      [&](Session&, Turn& t, rocksdb::WriteBatch&) {
        t.status = TurnStatus::kFailed;
        t.error = std::string(error);
        return Status::OK();
      },
      nullptr);
}

Result<Turn> StoreImpl::LoadKeptTurn(const SessionId& id, uint64_t number,
                                     const Session& session,
                                     const rocksdb::Snapshot* snapshot) {
  if (number < session.oldest_turn) {
    return PrunedTurn(id, number, session.oldest_turn);
  }
  Result<Turn> turn = LoadTurn(id, number, snapshot);
  if (turn.status().IsNotFound()) {
    // Filters do not respect snapshots: pruned, evicted or deleted since
    // the snapshot, the turn may be gone from under it. Say so, rather
    // than that a turn the session counts is missing.
    AGENTLOG_ASSIGN_OR_RETURN(const Session now, LoadSession(id));
    if (number < now.oldest_turn) {
      return PrunedTurn(id, number, now.oldest_turn);
    }
  }
  return turn;
}

Result<Turn> StoreImpl::GetTurn(const SessionId& id, uint64_t number) {
  NoteRead(id);
  // The session record says whether the session is there (an evicted one's
  // turns may await compaction) and which turns age retention kept.
  const ReadView view(*this);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session,
                            LoadSession(id, view.snapshot()));
  return LoadKeptTurn(id, number, session, view.snapshot());
}

Result<Turn> StoreImpl::GetTurnByKey(const SessionId& id,
                                     std::string_view key) {
  NoteRead(id);
  AGENTLOG_RETURN_IF_ERROR(ValidateIdempotencyKey(options_, key));
  if (key.empty()) {
    return Status::InvalidArgument("idempotency_key is empty; it is required");
  }
  const ReadView view(*this);
  const rocksdb::Snapshot* snapshot = view.snapshot();
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id, snapshot));
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  rocksdb::PinnableSlice value;
  const rocksdb::Status st =
      db_->Get(ro, handle(Cf::kIdempotency), IdempotencyKey(id, key), &value);
  Result<Turn> turn = Status::NotFound(fmt::format(
      "no turn of session {} has idempotency key '{}'", id.ToString(), key));
  if (st.ok() && value.size() == 8) {
    turn = LoadKeptTurn(id, DecodeU64(value.ToStringView()), session, snapshot);
  } else if (st.ok()) {
    turn =
        Status::Corruption(fmt::format("idempotency/{}/{} is {} bytes",
                                       id.ToString(), Hex(key), value.size()));
  } else if (!st.IsNotFound()) {
    turn = FromRocksDB(st, "read idempotency key");
  }
  return turn;
}

Result<std::vector<Turn>> StoreImpl::ListTurns(const SessionId& id,
                                               const TurnListOptions& o) {
  NoteRead(id);
  const ReadView view(*this);
  const rocksdb::Snapshot* snapshot = view.snapshot();

  AGENTLOG_ASSIGN_OR_RETURN(Session session, LoadSession(id, snapshot));
  // Numbering has no gaps above the age floor, so the range is arithmetic
  // on turn_count.
  const uint64_t last =
      o.last == 0 ? session.turn_count : std::min(o.last, session.turn_count);
  uint64_t first = std::max<uint64_t>({o.first, session.oldest_turn, 1});
  if (o.last_n != 0 && last >= o.last_n) {
    first = std::max(first, last - o.last_n + 1);
  }
  std::vector<Turn> out;
  if (first > last) return out;
  // Bounded: the range comes from a record on disk, and the turns are
  // counted as they come.
  out.reserve(std::min<uint64_t>(last - first + 1, 1024));
  const std::string lower = TurnKey(id, first);
  const std::string upper = TurnKey(id, last + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.iterate_upper_bound = &upper_slice;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handle(Cf::kTurns)));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    AGENTLOG_ASSIGN_OR_RETURN(Turn t,
                              DecodeTurn(id, it->value().ToStringView()));
    const auto key = ParseNumberedKey(it->key().ToStringView());
    if (!key || key->number != t.number) {
      return Status::Corruption(fmt::format(
          "turns key {} holds turn {}", Hex(it->key().ToStringView()),
          t.number));
    }
    out.push_back(std::move(t));
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan turns"));
  // Every turn first..last, in order, unless compaction dropped some from
  // under the snapshot (filters do not respect snapshots): the session
  // evicted or deleted since, or the turns below a floor raised since
  // (perhaps past `last`), which are then left out.
  if (!Contiguous(out, first, last)) {
    Result<Session> now = LoadSession(id);
    if (now.status().IsNotFound()) return now.status();
    AGENTLOG_RETURN_IF_ERROR(now.status());
    if (now->oldest_turn > first) {
      first = now->oldest_turn;
      std::erase_if(out, [&](const Turn& t) { return t.number < first; });
    }
    if (!Contiguous(out, first, last)) {
      return Status::Corruption(fmt::format(
          "session {} has turns {}..{} but turn {} is missing", id.ToString(),
          first, last, MissingTurn(out, first)));
    }
  }
  if (o.newest_first) std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<uint64_t>> StoreImpl::FindInput(
    const SessionId& id, const InputDigest& digest) {
  NoteRead(id);
  const ReadView view(*this);
  const rocksdb::Snapshot* snapshot = view.snapshot();
  AGENTLOG_ASSIGN_OR_RETURN(const Session session, LoadSession(id, snapshot));
  const std::string prefix = InputPrefix(id, digest);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handle(Cf::kInputs)));
  // From the oldest turn age retention kept.
  it->Seek(InputKey(id, digest, session.oldest_turn));
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "seek input digest"));
  if (!it->Valid() || !it->key().starts_with(prefix)) {
    return std::optional<uint64_t>();
  }
  const auto parsed = ParseInputKey(it->key().ToStringView());
  if (!parsed) {
    return Status::Corruption(fmt::format("inputs key {} is malformed",
                                          Hex(it->key().ToStringView())));
  }
  return std::optional<uint64_t>(parsed->number);
}

Result<Turn> StoreImpl::PopTurn(const SessionId& id, const WriteOptions& wo) {
  Turn turn;
  auto mutation = [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
    if (s.turn_count == 0) {
      return Status::NotFound(
          fmt::format("session {} has no turns to pop", id.ToString()));
    }
    // Never below the age floor: the next turn would be numbered under it,
    // where the filters drop turns.
    if (s.turn_count < s.oldest_turn) {
      return Status::NotFound(fmt::format(
          "session {} has no turns to pop: turns 1..{} were pruned by age",
          id.ToString(), s.turn_count));
    }
    AGENTLOG_ASSIGN_OR_RETURN(turn, LoadTurn(id, s.turn_count));
    switch (turn.status) {
      case TurnStatus::kProcessing:
        std::erase(s.processing_turns, turn.number);
        break;
      case TurnStatus::kCompleted:
        --s.completed_turns;
        SubtractUsage(s, turn.usage);
        ForgetEcho(s, turn);
        break;
      case TurnStatus::kFailed:
        --s.failed_turns;
        break;
    }
    --s.turn_count;
    batch.Delete(handle(Cf::kTurns), TurnKey(id, turn.number))
        .PermitUncheckedError();
    if (!turn.idempotency_key.empty()) {
      batch
          .Delete(handle(Cf::kIdempotency),
                  IdempotencyKey(id, turn.idempotency_key))
          .PermitUncheckedError();
    }
    batch
        .Delete(handle(Cf::kInputs),
                InputKey(id, turn.input_digest, turn.number))
        .PermitUncheckedError();
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation));
  return turn;
}

Status StoreImpl::ClearTurns(const SessionId& id, const WriteOptions& wo) {
  auto mutation = [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
    // Turns and their indexes only: checkpoints outlive a cleared log.
    DeleteRanges(&batch, id, {Cf::kTurns, Cf::kIdempotency, Cf::kInputs});
    s.turn_count = 0;
    s.completed_turns = 0;
    s.failed_turns = 0;
    s.tokens = {};
    s.cost_micros = 0;
    s.processing_turns.clear();
    s.echo = {};
    DropEchoWindow(id);
    // Numbering starts again at 1, under the old floor: the filters must
    // forget it before any such turn can exist.
    s.oldest_turn = 0;
    retention_->ResetTurnFloor(id);
    return true;
  };
  return MutateSession(id, wo, false, mutation);
}

}  // namespace agentlog::internal
