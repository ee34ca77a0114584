// Store::Verify: decode every record and check the invariants that tie the
// column families together.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "checkpoint_payload.h"
#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "usage_keys.h"
#include "usage_totals.h"

namespace agentlog::internal {

// Records of a session whose eviction awaits compaction: not problems,
// and not checked.
bool OfEvicted(Cf cf, std::string_view key,
               const std::set<SessionId>& evicted) {
  if (evicted.empty() || key.size() < SessionId::kBytes) return false;
  switch (cf) {
    case Cf::kTurns:
    case Cf::kIdempotency:
    case Cf::kInputs:
    case Cf::kCheckpoints:
    case Cf::kCheckpointData:
    case Cf::kUsage:
      return evicted.contains(SessionIdFromKeyPrefix(key));
    default:
      return false;
  }
}

struct SessionFacts {
  uint64_t turn_count = 0;
  std::vector<uint64_t> processing;  // From the session record.
  uint64_t last_checkpoint = 0;
  uint64_t oldest_checkpoint = 0;
  uint64_t turns_seen = 0;
  std::vector<uint64_t> processing_seen;  // From the turn records.
  uint64_t checkpoints_seen = 0;          // Kept versions with a header.
  EchoStats echo;                         // From the session record.
  EchoStats echo_seen;                    // Summed over the turn records.
  uint64_t usage_records = 0;             // From the session record.
  uint64_t usage_seen = 0;
  // Age floors, from the session record: records below them await
  // compaction and are not checked.
  uint64_t oldest_turn = 0;
  uint64_t oldest_usage = 0;

  // The turns and usage records the session record says are kept.
  uint64_t turns_kept() const {
    return turn_count + 1 - std::max<uint64_t>(oldest_turn, 1);
  }
  uint64_t usage_kept() const {
    return usage_records + 1 - std::max<uint64_t>(oldest_usage, 1);
  }
};

namespace {

std::string VersionName(const SessionId& id, uint64_t version) {
  return fmt::format("{}/{}", id.ToString(), version);
}

}  // namespace

// Checks every checkpoint version retention keeps: its header decodes, its
// payload decodes and matches the header's checksum, and the versions of each
// session are complete. Versions below a session's floor are pruned records
// awaiting compaction and are skipped.
Status StoreImpl::VerifyCheckpoints(const rocksdb::ReadOptions& ro,
                                    std::map<SessionId, SessionFacts>& sessions,
                                    const std::set<SessionId>& evicted,
                                    VerifyReport& report) {
  rocksdb::ColumnFamilyHandle* headers_cf = handle(Cf::kCheckpoints);
  rocksdb::ColumnFamilyHandle* data_cf = handle(Cf::kCheckpointData);
  if (headers_cf == nullptr || data_cf == nullptr) return Status::OK();
  auto problem = [&](Cf cf, std::string key, std::string what) {
    report.problems.push_back(
        {std::string(CfName(cf)), std::move(key), std::move(what)});
  };
  // Compaction filters do not respect snapshots: a version pruned after
  // this scan's snapshot may vanish under it. Before calling a missing
  // record a problem, ask whether the store still keeps it.
  auto pruned_now = [&](const SessionId& id, uint64_t version) {
    Result<Session> now = LoadSession(id);
    return now.status().IsNotFound() ||
           (now.ok() && version < now->oldest_checkpoint);
  };
  // True when (id, version) is a version retention keeps; records a
  // problem when it is beyond the session or the session is gone.
  auto kept = [&](Cf cf, const ParsedNumberedKey& key) {
    if (evicted.contains(key.session)) return false;
    auto it = sessions.find(key.session);
    if (it == sessions.end()) {
      problem(cf, VersionName(key.session, key.number),
              "session does not exist");
      return false;
    }
    if (key.number == 0 || key.number > it->second.last_checkpoint) {
      problem(cf, VersionName(key.session, key.number),
              fmt::format("beyond the session's last version {}",
                          it->second.last_checkpoint));
      return false;
    }
    return key.number >= it->second.oldest_checkpoint;
  };

  // Headers of kept versions, by key, until their payload is checked.
  std::map<std::string, CheckpointInfo> unchecked;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, headers_cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++report.records_checked;
      const std::string_view k = it->key().ToStringView();
      const auto key = ParseNumberedKey(k);
      if (!key) {
        problem(Cf::kCheckpoints, Hex(k), "key is not (session, version)");
        continue;
      }
      if (!kept(Cf::kCheckpoints, *key)) continue;
      Result<CheckpointInfo> info = DecodeCheckpointHeader(
          key->session, key->number, it->value().ToStringView());
      if (!info.ok()) {
        problem(Cf::kCheckpoints, VersionName(key->session, key->number),
                info.status().message());
        continue;
      }
      ++sessions[key->session].checkpoints_seen;
      info->metadata.clear();  // Not needed; keep the map small.
      unchecked.emplace(std::string(k), std::move(*info));
    }
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(it->status(), "scan checkpoints"));
  }
  for (const auto& [id, facts] : sessions) {
    const uint64_t expected =
        facts.last_checkpoint == 0
            ? 0
            : facts.last_checkpoint - std::max<uint64_t>(facts.oldest_checkpoint, 1) + 1;
    if (facts.checkpoints_seen != expected &&
        !(facts.checkpoints_seen < expected &&
          pruned_now(id, facts.last_checkpoint - facts.checkpoints_seen)) &&
        !GoneNow(id)) {
      problem(Cf::kCheckpoints, id.ToString(),
              fmt::format("session keeps versions {}..{} but {} headers exist",
                          facts.oldest_checkpoint, facts.last_checkpoint,
                          facts.checkpoints_seen));
    }
  }

  // Each payload is read once, in one pass. RocksDB's blob and block
  // checksums and the payload's own XXH3 are all checked on the way.
  std::string payload;
  auto check = [&](const std::string& k, std::string_view stored) {
    auto it = unchecked.find(k);
    const auto key = ParseNumberedKey(k);
    if (it == unchecked.end()) {
      if (!key) {
        problem(Cf::kCheckpointData, Hex(k), "key is not (session, version)");
      } else if (kept(Cf::kCheckpointData, *key) &&
                 !pruned_now(key->session, key->number)) {
        problem(Cf::kCheckpointData, VersionName(key->session, key->number),
                "payload without a header");
      }
      return;
    }
    const Status decoded = DecodePayload(it->second, stored, &payload);
    if (!decoded.ok()) {
      problem(Cf::kCheckpointData, VersionName(key->session, key->number),
              decoded.message());
    }
    unchecked.erase(it);
  };
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, data_cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++report.records_checked;
    check(it->key().ToString(), it->value().ToStringView());
  }
  if (!it->status().ok()) {
    // A damaged blob or block stops the scan. Say so, then read what the
    // scan did not reach one version at a time, naming each bad one.
    problem(Cf::kCheckpointData, "(scan)", it->status().ToString());
  }
  for (auto entry = unchecked.begin(); entry != unchecked.end();) {
    const std::string k = entry->first;
    const ParsedNumberedKey key = *ParseNumberedKey(k);
    ++entry;  // `check` erases the entry it checks.
    rocksdb::PinnableSlice stored;
    const rocksdb::Status s = db_->Get(ro, data_cf, k, &stored);
    if (s.ok()) {
      check(k, stored.ToStringView());
      continue;
    }
    if (!s.IsNotFound() || !pruned_now(key.session, key.number)) {
      problem(Cf::kCheckpointData, VersionName(key.session, key.number),
              s.IsNotFound() ? "header without a payload" : s.ToString());
    }
    unchecked.erase(k);
  }
  return Status::OK();
}

Result<VerifyReport> StoreImpl::Verify() {
  VerifyReport report;
  // Before the snapshot: every record a pending id names is then in it.
  const std::vector<std::pair<std::string, UsageRef>> pending_ids =
      usage_buffer_ != nullptr
          ? usage_buffer_->PendingIds()
          : std::vector<std::pair<std::string, UsageRef>>();
  const ReadView view(*this);
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  ro.verify_checksums = true;
  ro.total_order_seek = true;
  ro.fill_cache = false;

  auto problem = [&](Cf cf, std::string key, std::string what) {
    report.problems.push_back(
        {std::string(CfName(cf)), std::move(key), std::move(what)});
  };
  // Evicted sessions, whose records await compaction (filled first, by the
  // scan of `sessions`).
  std::set<SessionId> evicted;
  // Calls `fn(key, value)` for every record of `cf`.
  auto scan = [&](Cf cf, auto fn) -> Status {
    rocksdb::ColumnFamilyHandle* h = handle(cf);
    if (h == nullptr) return Status::OK();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++report.records_checked;
      if (OfEvicted(cf, it->key().ToStringView(), evicted)) continue;
      fn(it->key().ToStringView(), it->value().ToStringView());
    }
    return FromRocksDB(it->status(), fmt::format("scan {}", CfName(cf)));
  };

  std::map<SessionId, SessionFacts> sessions;
  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kSessions, [&](std::string_view k, std::string_view v) {
        const auto id = ParseSessionKey(k);
        if (!id)
          return problem(Cf::kSessions, Hex(k), "key is not a session id");
        Result<Session> s = DecodeSession(*id, v);
        if (!s.ok())
          return problem(Cf::kSessions, id->ToString(), s.status().message());
        if (s->status == SessionStatus::kEvicted) {
          evicted.insert(*id);
          return;
        }
        sessions[*id] = {.turn_count = s->turn_count,
                         .processing = s->processing_turns,
                         .last_checkpoint = s->last_checkpoint,
                         .oldest_checkpoint = s->oldest_checkpoint,
                         .echo = s->echo,
                         .usage_records = s->usage_records,
                         .oldest_turn = s->oldest_turn,
                         .oldest_usage = s->oldest_usage};
      }));

  AGENTLOG_RETURN_IF_ERROR(scan(Cf::kTurns, [&](std::string_view k,
                                                std::string_view v) {
    const auto key = ParseNumberedKey(k);
    if (!key) return problem(Cf::kTurns, Hex(k), "key is not (session, turn)");
    const std::string name =
        fmt::format("{}/{}", key->session.ToString(), key->number);
    Result<Turn> t = DecodeTurn(key->session, v);
    if (!t.ok()) return problem(Cf::kTurns, name, t.status().message());
    if (t->number != key->number) {
      return problem(Cf::kTurns, name, fmt::format("holds turn {}", t->number));
    }
    auto it = sessions.find(key->session);
    if (it == sessions.end())
      return problem(Cf::kTurns, name, "session does not exist");
    if (key->number < it->second.oldest_turn) return;  // Pruned by age.
    if (key->number > it->second.turn_count) {
      return problem(Cf::kTurns, name,
                     fmt::format("beyond the session's last turn {}",
                                 it->second.turn_count));
    }
    ++it->second.turns_seen;
    if (t->status == TurnStatus::kProcessing) {
      it->second.processing_seen.push_back(key->number);
    }
    EchoStats& echo = it->second.echo_seen;
    switch (t->echo.kind) {
      case EchoKind::kNone:
        break;
      case EchoKind::kSkipped:
        ++echo.skipped;
        break;
      case EchoKind::kExact:
      case EchoKind::kNear:
        if (t->echo.turn == 0 || t->echo.turn >= t->number) {
          problem(Cf::kTurns, name,
                  fmt::format("echoes turn {}, which is not an earlier turn",
                              t->echo.turn));
        }
        echo.exact += t->echo.kind == EchoKind::kExact;
        echo.near += t->echo.kind == EchoKind::kNear;
        [[fallthrough]];
      case EchoKind::kNew:
        ++echo.checked;
        break;
    }
  }));

  for (const auto& [id, facts] : sessions) {
    if ((facts.turns_seen != facts.turns_kept() ||
         facts.processing != facts.processing_seen) &&
        (GoneNow(id) || TurnsPrunedSince(id, facts.oldest_turn))) {
      continue;
    }
    if (facts.turns_seen != facts.turns_kept()) {
      problem(Cf::kTurns, id.ToString(),
              fmt::format("session has turns {}..{} but {} turn records",
                          std::max<uint64_t>(facts.oldest_turn, 1),
                          facts.turn_count, facts.turns_seen));
    }
    if (facts.processing != facts.processing_seen) {
      problem(Cf::kSessions, id.ToString(),
              "processing turn list disagrees with the turn records");
    }
    // (With a turn missing or unreadable, reported above, they cannot; nor
    // once turns were pruned, whose verdicts the counts keep.)
    if (facts.turns_seen == facts.turn_count && facts.oldest_turn <= 1 &&
        facts.echo != facts.echo_seen) {
      problem(Cf::kSessions, id.ToString(),
              fmt::format("echo counts (checked {}, exact {}, near {}, "
                          "skipped {}) disagree with the turn records' "
                          "verdicts ({}, {}, {}, {})",
                          facts.echo.checked, facts.echo.exact,
                          facts.echo.near, facts.echo.skipped,
                          facts.echo_seen.checked, facts.echo_seen.exact,
                          facts.echo_seen.near, facts.echo_seen.skipped));
    }
  }

  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kIdempotency, [&](std::string_view k, std::string_view v) {
        const auto key = ParseIdempotencyKey(k);
        if (!key) return problem(Cf::kIdempotency, Hex(k), "key is too short");
        const std::string name =
            fmt::format("{}/{}", key->session.ToString(), Hex(key->key));
        if (v.size() != 8)
          return problem(Cf::kIdempotency, name, "value is not a u64");
        auto it = sessions.find(key->session);
        // The key of a pruned turn awaits compaction.
        if (it != sessions.end() && DecodeU64(v) < it->second.oldest_turn) {
          return;
        }
        if (it == sessions.end() || DecodeU64(v) > it->second.turn_count ||
            DecodeU64(v) == 0) {
          problem(Cf::kIdempotency, name, "names a turn that does not exist");
        }
      }));

  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kInputs, [&](std::string_view k, std::string_view) {
        const auto key = ParseInputKey(k);
        if (!key) return problem(Cf::kInputs, Hex(k), "key is malformed");
        auto it = sessions.find(key->session);
        if (it != sessions.end() && key->number < it->second.oldest_turn) {
          return;  // Of a pruned turn: awaits compaction.
        }
        if (it == sessions.end() || key->number > it->second.turn_count ||
            key->number == 0) {
          problem(Cf::kInputs,
                  fmt::format("{}/{}", key->session.ToString(), key->number),
                  "names a turn that does not exist");
        }
      }));

  AGENTLOG_RETURN_IF_ERROR(VerifyCheckpoints(ro, sessions, evicted, report));

  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kRunOnce, [&](std::string_view k, std::string_view v) {
        if (k.empty() || v.size() < 16) {
          problem(Cf::kRunOnce, Hex(k),
                  fmt::format("value is {} bytes; expected at least 16",
                              v.size()));
        }
      }));

  AGENTLOG_RETURN_IF_ERROR(
      VerifyUsage(ro, sessions, evicted, pending_ids, report));

  // RocksDB's own block checksums over every SST file.
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(db_->VerifyChecksum(ro), "verify SST checksums"));
  return report;
}

// Checks the usage families: every record decodes under its key and belongs
// to a session that counts it; every message id names a record (unless its
// session was deleted, which keeps the id counted); every totals mark
// belongs to a session and is within its records; every total, alert,
// price and budget decodes.
Status StoreImpl::VerifyUsage(
    const rocksdb::ReadOptions& ro, std::map<SessionId, SessionFacts>& sessions,
    const std::set<SessionId>& evicted,
    std::span<const std::pair<std::string, UsageRef>> pending_ids,
    VerifyReport& report) {
  auto problem = [&](Cf cf, std::string key, std::string what) {
    report.problems.push_back(
        {std::string(CfName(cf)), std::move(key), std::move(what)});
  };
  auto scan = [&](Cf cf, std::string_view prefix, auto fn) -> Status {
    rocksdb::ColumnFamilyHandle* h = handle(cf);
    if (h == nullptr) return Status::OK();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      ++report.records_checked;
      if (OfEvicted(cf, it->key().ToStringView(), evicted)) continue;
      fn(it->key().ToStringView(), it->value().ToStringView());
    }
    return FromRocksDB(it->status(), fmt::format("scan {}", CfName(cf)));
  };

  std::map<std::pair<SessionId, uint64_t>, std::string> message_ids;
  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kUsage, "", [&](std::string_view k, std::string_view v) {
        const auto key = ParseNumberedKey(k);
        if (!key) return problem(Cf::kUsage, Hex(k), "key is not (session, seq)");
        const std::string name =
            fmt::format("{}/{}", key->session.ToString(), key->number);
        Result<UsageRecord> u = DecodeUsageRecord(key->session, key->number, v);
        if (!u.ok()) return problem(Cf::kUsage, name, u.status().message());
        auto it = sessions.find(key->session);
        if (it == sessions.end()) {
          return problem(Cf::kUsage, name, "session does not exist");
        }
        if (key->number < it->second.oldest_usage) return;  // Pruned by age.
        if (key->number == 0 || key->number > it->second.usage_records) {
          return problem(Cf::kUsage, name,
                         fmt::format("beyond the session's last usage record {}",
                                     it->second.usage_records));
        }
        ++it->second.usage_seen;
        if (!u->message_id.empty()) {
          message_ids[{key->session, key->number}] = u->message_id;
        }
      }));
  for (const auto& [id, facts] : sessions) {
    if (facts.usage_seen != facts.usage_kept() && !GoneNow(id) &&
        !UsagePrunedSince(id, facts.oldest_usage)) {
      problem(Cf::kUsage, id.ToString(),
              fmt::format("session has usage records {}..{} but {} are stored",
                          std::max<uint64_t>(facts.oldest_usage, 1),
                          facts.usage_records, facts.usage_seen));
    }
  }
  // A message id, on disk or still pending, names the record carrying it.
  auto check_id = [&](std::string_view k, const UsageRef& ref,
                      std::string_view where) {
    if (!sessions.contains(ref.session)) return;  // Deleted: still counted.
    // Pruned by age: still counted.
    if (ref.seq < sessions.at(ref.session).oldest_usage) return;
    const auto it = message_ids.find({ref.session, ref.seq});
    if (it == message_ids.end() || it->second != k) {
      problem(Cf::kUsageIds, Hex(k),
              fmt::format("{}names usage record {}/{}, which does not carry "
                          "this message id",
                          where, ref.session.ToString(), ref.seq));
    }
  };
  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kUsageIds, "", [&](std::string_view k, std::string_view v) {
        const auto ref = DecodeUsageRef(v);
        if (!ref) return problem(Cf::kUsageIds, Hex(k), "value is not (session, seq)");
        check_id(k, *ref, "");
      }));
  for (const auto& [id, ref] : pending_ids) {
    ++report.records_checked;
    check_id(id, ref, "pending (not yet written) and ");
  }
  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kUsageTotals, "", [&](std::string_view k, std::string_view v) {
        if (const auto marked = ParseTotalsMarkKey(k)) {
          const std::string name = "mark/" + marked->ToString();
          const std::optional<uint64_t> mark = DecodeTotalsMark(v);
          if (!mark) {
            return problem(Cf::kUsageTotals, name,
                           fmt::format("value is {} bytes; expected 8",
                                       v.size()));
          }
          const auto it = sessions.find(*marked);
          if (it == sessions.end()) {
            return problem(Cf::kUsageTotals, name, "session does not exist");
          }
          if (*mark > it->second.usage_records) {
            problem(Cf::kUsageTotals, name,
                    fmt::format("marks usage record {}, beyond the session's "
                                "last {}",
                                *mark, it->second.usage_records));
          }
          return;
        }
        if (!ParseTotalsKey(k)) {
          return problem(Cf::kUsageTotals, Hex(k), "key is malformed");
        }
        const Status totals = DecodeTotals(v, "value").status();
        if (!totals.ok()) problem(Cf::kUsageTotals, Hex(k), totals.message());
      }));
  AGENTLOG_RETURN_IF_ERROR(
      scan(Cf::kAlerts, "", [&](std::string_view k, std::string_view v) {
        const Status alert = DecodeAlert(k, v).status();
        if (!alert.ok()) problem(Cf::kAlerts, Hex(k), alert.message());
      }));
  AGENTLOG_RETURN_IF_ERROR(scan(
      Cf::kMeta, kPriceKeyPrefix, [&](std::string_view k, std::string_view v) {
        const Status price = DecodePrice(k, v).status();
        if (!price.ok()) problem(Cf::kMeta, Hex(k), price.message());
      }));
  return scan(
      Cf::kMeta, kBudgetKeyPrefix, [&](std::string_view k, std::string_view v) {
        const Status budget = DecodeBudget(k, v).status();
        if (!budget.ok()) problem(Cf::kMeta, Hex(k), budget.message());
      });
}

}  // namespace agentlog::internal
