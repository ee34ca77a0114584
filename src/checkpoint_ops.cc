// Checkpoint operations of StoreImpl. A version is two records under one
// key: its header in `checkpoints` and its stored payload in
// `checkpoint_data`, so that listing versions and retention never read
// payloads. The session record counts versions and holds the retention
// decision (the floor: the oldest version kept).

#include <fmt/format.h>

#include <algorithm>

#include "checkpoint_payload.h"
#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {
namespace {

// The oldest version to keep once `last` exists and `keep` are kept.
uint64_t FloorFor(uint64_t last, uint64_t keep) {
  return last > keep ? last - keep + 1 : (last == 0 ? 0 : 1);
}

}  // namespace

Status StoreImpl::AddCheckpoint(Session& s, rocksdb::WriteBatch& batch,
                                const EncodedPayload& payload,
                                const CheckpointSpec& spec,
                                CheckpointInfo* info) {
  if (spec.parent && *spec.parent > s.last_checkpoint) {
    return Status::InvalidArgument(fmt::format(
        "CheckpointSpec::parent is {}; session {} has versions up to {}",
        *spec.parent, s.id.ToString(), s.last_checkpoint));
  }
  info->session = s.id;
  info->version = s.last_checkpoint + 1;
  info->parent = spec.parent;
  info->created_ms = Now();
  info->raw_bytes = payload.raw_bytes();
  info->stored_bytes = payload.stored().size();
  info->codec = payload.codec();
  info->checksum = payload.checksum();
  info->metadata = std::string(spec.metadata);

  const std::string key = CheckpointKey(s.id, info->version);
  const EncodedRecord header = EncodeCheckpointHeader(*info);
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
      batch.Put(handle(Cf::kCheckpoints), key, rocksdb::Slice(header.bytes())),
      "batch checkpoint header"));
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
      batch.Put(handle(Cf::kCheckpointData), key,
                rocksdb::Slice(payload.stored().data(), payload.stored().size())),
      "batch checkpoint payload"));
  s.last_checkpoint = info->version;
  const uint32_t keep = s.checkpoint_keep_last != 0
                            ? s.checkpoint_keep_last
                            : options_.checkpoint_keep_last;
  // The retention decision, durable with the version that makes it.
  s.oldest_checkpoint =
      std::max(s.oldest_checkpoint, FloorFor(s.last_checkpoint, keep));
  return Status::OK();
}

void StoreImpl::PublishFloors(const Session& session, const WriteOptions& wo) {
  // Floor 1 drops nothing; no need to track the session. (Publishing after
  // the lock is released can re-add a session a concurrent DeleteSession
  // just forgot; its range deletion covers everything, so the stale entry
  // costs a few bytes until the next open and drops nothing wrongly.)
  if (session.oldest_checkpoint <= 1) return;
  PublishDecision(session.id, {.checkpoint = session.oldest_checkpoint}, wo);
}

void StoreImpl::PublishDecision(const SessionId& id,
                                const SessionFloors& floors,
                                const WriteOptions& wo) {
  if (DurabilityOf(wo) == Durability::kSync) {
    retention_->Durable(id, floors);
  } else {
    retention_->Pending(id, floors);
    // After Pending, so that the sync this asks for covers it (kNone
    // included: compaction must not wait for a reopen to reclaim).
    syncer_->MarkDirty();
  }
}

Result<CheckpointInfo> StoreImpl::PutCheckpoint(const SessionId& id,
                                                const CheckpointSpec& spec,
                                                const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateCheckpointSpec(options_, spec));
  // Compress and hash before taking the session's lock.
  const EncodedPayload payload(spec.payload);
  CheckpointInfo info;
  Session session;
  auto mutation = [&](Session& s, rocksdb::WriteBatch& batch) -> Result<bool> {
    AGENTLOG_RETURN_IF_ERROR(AddCheckpoint(s, batch, payload, spec, &info));
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation, &session,
                                         payload.stored().size() + 1024));
  PublishFloors(session, wo);
  return info;
}

Result<TurnWithCheckpoint> StoreImpl::CompleteTurnWithCheckpoint(
    const SessionId& id, uint64_t number, std::span<const Message> output,
    const TurnUsage& usage, const CheckpointSpec& spec,
    const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateMessages(options_, output, "output", false));
  AGENTLOG_RETURN_IF_ERROR(ValidateUsage(usage));
  AGENTLOG_RETURN_IF_ERROR(ValidateCheckpointSpec(options_, spec));
  const EncodedPayload payload(spec.payload);
  TurnWithCheckpoint out;
  Session session;
  auto add_checkpoint = [&](Session& s, rocksdb::WriteBatch& batch) {
    return AddCheckpoint(s, batch, payload, spec, &out.checkpoint);
  };
  const AlsoWrite checkpoint = add_checkpoint;
  const std::optional<UsageSpec> usage_spec = ImplicitUsage(usage);
  AGENTLOG_ASSIGN_OR_RETURN(
      out.turn,
      CompleteValidated(
          id, number, output,
          usage_spec ? std::span(&*usage_spec, 1) : std::span<const UsageSpec>(),
          wo,
          &checkpoint, &session, payload.stored().size() + 4096));
  PublishFloors(session, wo);
  return out;
}

Result<Session> StoreImpl::SetCheckpointRetention(const SessionId& id,
                                                  uint32_t keep_last,
                                                  const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(ValidateKeepLast(keep_last));
  Session session;
  auto mutation = [&](Session& s, rocksdb::WriteBatch&) -> Result<bool> {
    s.checkpoint_keep_last = keep_last;
    const uint32_t keep =
        keep_last != 0 ? keep_last : options_.checkpoint_keep_last;
    s.oldest_checkpoint =
        std::max(s.oldest_checkpoint, FloorFor(s.last_checkpoint, keep));
    return true;
  };
  AGENTLOG_RETURN_IF_ERROR(MutateSession(id, wo, false, mutation, &session));
  PublishFloors(session, wo);
  return session;
}

Result<Checkpoint> StoreImpl::GetCheckpoint(const SessionId& id,
                                            std::optional<uint64_t> version) {
  NoteRead(id);
  const ReadView view(*this);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session,
                            LoadSession(id, view.snapshot()));
  const uint64_t v = version.value_or(session.last_checkpoint);
  if (v == 0 || v > session.last_checkpoint) {
    return Status::NotFound(
        session.last_checkpoint == 0
            ? fmt::format("session {} has no checkpoints", id.ToString())
            : fmt::format("checkpoint {} of session {} does not exist; the "
                          "latest is {}",
                          v, id.ToString(), session.last_checkpoint));
  }
  auto pruned = [&](uint64_t oldest) {
    return Status::NotFound(fmt::format(
        "checkpoint {} of session {} was pruned by retention; the oldest kept "
        "is {}",
        v, id.ToString(), oldest));
  };
  if (v < session.oldest_checkpoint) return pruned(session.oldest_checkpoint);

  // Compaction filters ignore snapshots: a record can vanish under this
  // read if a newer decision pruned it meanwhile. Then it is pruned, not
  // corrupt.
  auto missing = [&](std::string_view what) -> Status {
    Result<Session> now = LoadSession(id);
    if (now.status().IsNotFound()) return now.status();  // Deleted meanwhile.
    if (now.ok() && v < now->oldest_checkpoint) {
      return pruned(now->oldest_checkpoint);
    }
    return Status::Corruption(fmt::format(
        "{}: {} is missing", CheckpointRecordName(id, v), what));
  };
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  const std::string key = CheckpointKey(id, v);
  Checkpoint out;
  {
    rocksdb::PinnableSlice header;
    const rocksdb::Status s =
        db_->Get(ro, handle(Cf::kCheckpoints), key, &header);
    if (s.IsNotFound()) return missing("its header");
    AGENTLOG_RETURN_IF_ERROR(
        FromRocksDB(s, "read " + CheckpointRecordName(id, v)));
    AGENTLOG_ASSIGN_OR_RETURN(out.info,
                              DecodeCheckpointHeader(id, v, header.ToStringView()));
  }
  // The payload's XXH3 is checked end to end below, so RocksDB's own CRC32c
  // of the block or blob would check the same bytes twice; Debian's RocksDB
  // computes it in software, at about the cost of the LZ4 decompression
  // (docs/benchmarks.md). Verify still runs both.
  ro.verify_checksums = false;
  rocksdb::PinnableSlice stored;
  const rocksdb::Status s =
      db_->Get(ro, handle(Cf::kCheckpointData), key, &stored);
  if (s.IsNotFound()) return missing("its payload");
  if (!s.ok()) {
    // RocksDB's own checksums (block or blob record) failed: name the
    // version, not only the file.
    return FromRocksDB(s, "read payload of " + CheckpointRecordName(id, v));
  }
  AGENTLOG_RETURN_IF_ERROR(
      DecodePayload(out.info, stored.ToStringView(), &out.payload));
  return out;
}

Result<std::vector<CheckpointInfo>> StoreImpl::ListCheckpoints(
    const SessionId& id) {
  NoteRead(id);
  const ReadView view(*this);
  AGENTLOG_ASSIGN_OR_RETURN(const Session session,
                            LoadSession(id, view.snapshot()));
  std::vector<CheckpointInfo> out;
  if (session.last_checkpoint == 0) return out;
  const std::string begin = CheckpointKey(id, session.oldest_checkpoint);
  const std::string end = CheckpointKey(id, session.last_checkpoint + 1);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handle(Cf::kCheckpoints)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const auto key = ParseNumberedKey(it->key().ToStringView());
    if (!key || key->session != id) {
      return Status::Corruption(fmt::format(
          "checkpoints key {} is not (session, version)",
          Hex(it->key().ToStringView())));
    }
    AGENTLOG_ASSIGN_OR_RETURN(
        CheckpointInfo info,
        DecodeCheckpointHeader(id, key->number, it->value().ToStringView()));
    out.push_back(std::move(info));
  }
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
      it->status(), "scan checkpoints of session " + id.ToString()));
  return out;
}

}  // namespace agentlog::internal
