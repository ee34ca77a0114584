// Retention by age of StoreImpl: Options::turn_max_age, usage_max_age and
// checkpoint_max_age.
//
// Pruning is a retention decision (docs/architecture.md, "Retention"): the
// session's turn, usage or checkpoint floor rises in its record, in one
// write; readers honour the floors at once, and the filters of `turns`,
// `idempotency` and `inputs` (the turn floor), of `usage` (the usage floor)
// and of `checkpoints` and `checkpoint_data` (the checkpoint floor) drop
// what they cover once the write is durable. Records go oldest first, so a
// floor is all a decision needs: turns up to the first one still
// processing or young enough, usage records and checkpoint versions up to
// the first one young enough (and never the newest version).
//
// A pass looks only at the sessions that can hold something to prune:
// created before the cutoff, and active since the cutoff of the last pass
// that went through their status. A turn ends, and a usage record or a
// checkpoint is written, no later than its session's last activity, so a
// session
// inactive since that cutoff had everything older pruned by that pass (a
// processing turn that stopped it moves the activity when it ends; so do
// unpinning and a change of status). A clock that steps back can leave a
// record younger than its session's activity, to be pruned after the
// session's next write.

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "function_ref.h"
#include "keys.h"
#include "record_codec.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"

namespace agentlog::internal {
namespace {

// Candidates taken from the index per round.
constexpr size_t kPruneBatch = 1024;

constexpr SessionStatus kPrunedStatuses[] = {
    SessionStatus::kActive, SessionStatus::kIdle, SessionStatus::kArchived};

std::chrono::seconds AgeFor(const Options::AgeLimits& limits,
                            SessionStatus status) {
  switch (status) {
    case SessionStatus::kActive:
      return limits.active;
    case SessionStatus::kIdle:
      return limits.idle;
    case SessionStatus::kArchived:
      return limits.archived;
    default:
      return std::chrono::seconds(0);
  }
}

// Records older than `now` - `age` go; nullopt for age 0 (never).
std::optional<int64_t> CutoffFor(std::chrono::seconds age, int64_t now) {
  if (age.count() == 0) return std::nullopt;
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
  // Saturates: a cutoff before the epoch prunes nothing.
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  return now > kMin + ms ? now - ms : kMin;
}

}  // namespace

Status StoreImpl::PruneByAge(RetentionRun* run) {
  const int64_t now = Now();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  using Cutoff = std::optional<int64_t> AgeCutoffs::*;
  static constexpr Cutoff kKinds[] = {
      &AgeCutoffs::turn, &AgeCutoffs::usage, &AgeCutoffs::checkpoint};
  std::lock_guard<std::mutex> lock(age_mu_);
  for (SessionStatus status : kPrunedStatuses) {
    const AgeCutoffs cutoffs{
        .turn = CutoffFor(AgeFor(options_.turn_max_age, status), now),
        .usage = CutoffFor(AgeFor(options_.usage_max_age, status), now),
        .checkpoint =
            CutoffFor(AgeFor(options_.checkpoint_max_age, status), now)};
    AgeCutoffs& through = pruned_through_[static_cast<size_t>(status)];
    // Created before the latest cutoff; active since the earliest cutoff
    // the last full pass applied (for a kind it did not apply: any time).
    bool any = false;
    int64_t created_before = kMin;
    int64_t active_since = std::numeric_limits<int64_t>::max();
    for (Cutoff kind : kKinds) {
      if (!(cutoffs.*kind)) continue;
      any = true;
      created_before = std::max(created_before, *(cutoffs.*kind));
      active_since = std::min(active_since, (through.*kind).value_or(kMin));
    }
    if (!any) continue;
    SessionId after;  // The zero id: from the first session.
    while (true) {
      // A pass cut short is not a full pass: `through` stays.
      if (StopRequested()) return Status::OK();
      const std::vector<SessionId> candidates = index_.AgeCandidates(
          status, after, created_before, active_since, kPruneBatch);
      for (const SessionId& id : candidates) {
        AGENTLOG_RETURN_IF_ERROR(PruneSession(id, status, cutoffs, run));
      }
      if (candidates.size() < kPruneBatch) break;
      after = candidates.back();
    }
    through = cutoffs;
  }
  return Status::OK();
}

Status StoreImpl::PruneSession(const SessionId& id, SessionStatus status,
                               const AgeCutoffs& cutoffs, RetentionRun* run) {
  SessionStripes::Stripe& stripe = stripes_.For(id);
  std::lock_guard<std::mutex> lock(stripe.mu);
  // From the stripe's cache when it is there, but not into it: a pass may
  // visit every session of the store.
  Session* cached = stripe.cache.Find(id);
  Session loaded;
  if (cached == nullptr) {
    Result<Session> read = LoadSession(id);
    if (read.status().IsNotFound()) return Status::OK();  // Gone meanwhile.
    AGENTLOG_RETURN_IF_ERROR(read.status());
    loaded = std::move(read).value();
  }
  const Session& session = cached != nullptr ? *cached : loaded;
  // Pinned or moved to another status since the index was read: another
  // rule applies, or none.
  if (session.pinned || session.status != status) return Status::OK();
  // Floors 0 and 1 both mean "none pruned".
  const uint64_t turn_was = std::max<uint64_t>(session.oldest_turn, 1);
  const uint64_t usage_was = std::max<uint64_t>(session.oldest_usage, 1);
  const uint64_t checkpoint_was =
      std::max<uint64_t>(session.oldest_checkpoint, 1);
  uint64_t turn_floor = turn_was;
  uint64_t usage_floor = usage_was;
  uint64_t checkpoint_floor = checkpoint_was;
  if (cutoffs.turn) {
    AGENTLOG_ASSIGN_OR_RETURN(turn_floor, TurnFloorAt(session, *cutoffs.turn));
  }
  if (cutoffs.usage) {
    AGENTLOG_ASSIGN_OR_RETURN(usage_floor,
                              UsageFloorAt(session, *cutoffs.usage));
  }
  if (cutoffs.checkpoint) {
    AGENTLOG_ASSIGN_OR_RETURN(
        checkpoint_floor, CheckpointFloorAt(session, *cutoffs.checkpoint));
  }
  if (turn_floor == turn_was && usage_floor == usage_was &&
      checkpoint_floor == checkpoint_was) {
    return Status::OK();
  }
  // Open replays the usage records past a session's totals mark, and
  // compaction may drop these: the totals on disk must count them first
  // (this write follows the flush in the WAL, so any sync that makes the
  // decision durable covers the flush too).
  if (usage_floor > usage_was && usage_buffer_ != nullptr) {
    AGENTLOG_RETURN_IF_ERROR(usage_buffer_->FlushSession(id));
  }
  Session pruned = session;
  if (turn_floor > turn_was) pruned.oldest_turn = turn_floor;
  if (usage_floor > usage_was) pruned.oldest_usage = usage_floor;
  if (checkpoint_floor > checkpoint_was) {
    pruned.oldest_checkpoint = checkpoint_floor;
  }
  rocksdb::WriteBatch batch;
  PutSession(&batch, pruned);
  // Not synced, and not activity (last_active_ms stays): a pruning a power
  // loss undoes brings back records the next pass prunes again. The
  // filters act once a later sync covers it (PublishDecision asks for one).
  WriteOptions wo;
  wo.durability = Durability::kNone;
  AGENTLOG_RETURN_IF_ERROR(Write(&batch, wo, id));
  if (cached != nullptr) *cached = std::move(pruned);
  // The echo window may hold pruned turns; rebuilt, it starts at the floor.
  if (turn_floor > turn_was) DropEchoWindow(id);
  PublishDecision(id,
                  {.checkpoint = checkpoint_floor,
                   .turn = turn_floor,
                   .usage = usage_floor},
                  wo);
  run->turns_pruned += turn_floor - turn_was;
  run->usage_pruned += usage_floor - usage_was;
  run->checkpoints_pruned += checkpoint_floor - checkpoint_was;
  ++run->sessions_pruned;
  return Status::OK();
}

namespace {

// The first number from `floor` below `end` whose record of `id` in `cf`
// is not `old`, or `end` when every one is. Corruption when a number in
// between has no record; `what` names the records ("turn", "usage record").
Result<uint64_t> FirstKept(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const SessionId& id,
    uint64_t floor, uint64_t end, std::string_view what,
    FunctionRef<Result<bool>(uint64_t, std::string_view)> old) {
  if (floor >= end) return floor;
  const std::string upper = NumberedKey(id, end);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;  // Old records, read once: keep the cache for reads.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(NumberedKey(id, floor)); it->Valid(); it->Next(), ++floor) {
    const auto key = ParseNumberedKey(it->key().ToStringView());
    if (!key || key->number != floor) break;  // A gap: reported below.
    AGENTLOG_ASSIGN_OR_RETURN(const bool is_old,
                              old(floor, it->value().ToStringView()));
    if (!is_old) return floor;
  }
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(it->status(), fmt::format("scan {}s for age", what)));
  if (floor != end) {
    return Status::Corruption(fmt::format(
        "session {} has {}s up to {} but {} {} is missing", id.ToString(),
        what, end - 1, what, floor));
  }
  return floor;
}

}  // namespace

Result<uint64_t> StoreImpl::TurnFloorAt(const Session& s, int64_t cutoff) {
  return FirstKept(
      db_.get(), handle(Cf::kTurns), s.id,
      std::max<uint64_t>(s.oldest_turn, 1), s.turn_count + 1, "turn",
      [&](uint64_t number, std::string_view value) -> Result<bool> {
        AGENTLOG_ASSIGN_OR_RETURN(const TurnAge turn,
                                  DecodeTurnAge(s.id, value));
        if (turn.number != number) {
          return Status::Corruption(fmt::format(
              "{} holds turn {}", TurnRecordName(s.id, number), turn.number));
        }
        return turn.status != TurnStatus::kProcessing &&
               turn.finished_ms < cutoff;
      });
}

Result<uint64_t> StoreImpl::UsageFloorAt(const Session& s, int64_t cutoff) {
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kUsage);
  const uint64_t floor = std::max<uint64_t>(s.oldest_usage, 1);
  if (cf == nullptr) return floor;
  return FirstKept(
      db_.get(), cf, s.id, floor, s.usage_records + 1, "usage record",
      [&](uint64_t seq, std::string_view value) -> Result<bool> {
        // DecodeUsageRecord checks the record holds the seq of its key.
        AGENTLOG_ASSIGN_OR_RETURN(const UsageRecord record,
                                  DecodeUsageRecord(s.id, seq, value));
        return record.recorded_ms < cutoff;
      });
}

Result<uint64_t> StoreImpl::CheckpointFloorAt(const Session& s,
                                              int64_t cutoff) {
  // Below the newest version, which stays whatever its age: it is the
  // session's state.
  return FirstKept(
      db_.get(), handle(Cf::kCheckpoints), s.id,
      std::max<uint64_t>(s.oldest_checkpoint, 1), s.last_checkpoint,
      "checkpoint version",
      [&](uint64_t version, std::string_view value) -> Result<bool> {
        AGENTLOG_ASSIGN_OR_RETURN(const CheckpointInfo info,
                                  DecodeCheckpointHeader(s.id, version, value));
        return info.created_ms < cutoff;
      });
}

}  // namespace agentlog::internal
