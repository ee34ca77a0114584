// Store::Verify: decode every record and check the invariants that tie the
// column families together.

#include <fmt/format.h>

#include <map>

#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"

namespace agentlog::internal {
namespace {

struct SessionFacts {
  uint64_t turn_count = 0;
  std::vector<uint64_t> processing;  // From the session record.
  uint64_t turns_seen = 0;
  std::vector<uint64_t> processing_seen;  // From the turn records.
};

}  // namespace

Result<VerifyReport> StoreImpl::Verify() {
  VerifyReport report;
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
  // Calls `fn(key, value)` for every record of `cf`.
  auto scan = [&](Cf cf, auto fn) -> Status {
    rocksdb::ColumnFamilyHandle* h = handle(cf);
    if (h == nullptr) return Status::OK();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++report.records_checked;
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
        sessions[*id] = {s->turn_count, s->processing_turns, 0, {}};
      }));

  AGENTLOG_RETURN_IF_ERROR(scan(Cf::kTurns, [&](std::string_view k,
                                                std::string_view v) {
    const auto key = ParseTurnKey(k);
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
    if (key->number > it->second.turn_count) {
      return problem(Cf::kTurns, name,
                     fmt::format("beyond the session's last turn {}",
                                 it->second.turn_count));
    }
    ++it->second.turns_seen;
    if (t->status == TurnStatus::kProcessing) {
      it->second.processing_seen.push_back(key->number);
    }
  }));

  for (const auto& [id, facts] : sessions) {
    if (facts.turns_seen != facts.turn_count) {
      problem(Cf::kTurns, id.ToString(),
              fmt::format("session has turns 1..{} but {} turn records",
                          facts.turn_count, facts.turns_seen));
    }
    if (facts.processing != facts.processing_seen) {
      problem(Cf::kSessions, id.ToString(),
              "processing turn list disagrees with the turn records");
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
        if (it == sessions.end() || key->number > it->second.turn_count ||
            key->number == 0) {
          problem(Cf::kInputs,
                  fmt::format("{}/{}", key->session.ToString(), key->number),
                  "names a turn that does not exist");
        }
      }));

  // RocksDB's own block checksums over every SST file.
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(db_->VerifyChecksum(ro), "verify SST checksums"));
  return report;
}

}  // namespace agentlog::internal
