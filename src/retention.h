#ifndef AGENTLOG_SRC_RETENTION_H_
#define AGENTLOG_SRC_RETENTION_H_

// The retention framework (docs/architecture.md, "Retention"). Dropping data
// is a decision first and a reclamation later:
//   1. the decision is written durably in the session record (for
//      checkpoints: the oldest version kept, its "floor");
//   2. readers honour it at once, because they read the session record;
//   3. compaction filters drop the records it covers. They see decisions
//      only through an immutable RetentionSnapshot, which RetentionDecisions
//      replaces atomically; they never read the database.
// A decision reaches the filters only once the write that made it is on
// disk: a filter acting on a decision a power loss could undo would drop
// records the recovered store still shows.

#include <rocksdb/compaction_filter.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agentlog/clock.h"
#include "agentlog/session_id.h"

namespace agentlog::internal {

// Per-session decisions: records numbered below a floor are dropped by
// compaction (0 drops nothing); every record of an evicted session is.
struct SessionFloors {
  uint64_t checkpoint = 0;  // Checkpoint versions (keep-last-N).
  uint64_t turn = 0;        // Turns, by age; and their keys in idempotency
                            // and inputs.
  uint64_t usage = 0;       // Usage records, by age.
  bool evicted = false;

  // The later of two decisions: floors only rise, eviction is for good.
  void Raise(const SessionFloors& other);
};

// Which floor a column family's filter applies; null for a family whose
// records only go with their session's eviction.
using FloorField = uint64_t SessionFloors::*;

// Where a record's number is, for the floor.
enum class NumberAt : uint8_t {
  kKey,       // The key is (session id, number): turns, usage, checkpoints.
  kInputKey,  // The key is (session id, digest, number): inputs.
  kValue,     // The value is the number (u64 BE): idempotency.
};

// An immutable set of decisions, sorted by session for binary search.
class RetentionSnapshot {
 public:
  explicit RetentionSnapshot(
      std::vector<std::pair<SessionId, SessionFloors>> sorted)
      : entries_(std::move(sorted)) {}

  // nullptr when the session has no decision.
  const SessionFloors* Find(const SessionId& id) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<SessionId, SessionFloors>> entries_;
};

// The store's decisions as compaction filters may act on them.
//
// Thread-safe. Writers report decisions after their write returned;
// compaction threads take snapshots.
class RetentionDecisions {
 public:
  RetentionDecisions();

  // Records a decision whose write is durable (synced, or found at open).
  void Durable(const SessionId& id, const SessionFloors& floors);
  // Records a decision whose write is in the WAL but not yet synced. It
  // takes effect at the first AfterSync whose ticket came after it (or, for
  // a session that decides faster than the WAL syncs, at the one after).
  void Pending(const SessionId& id, const SessionFloors& floors);
  // The session and all its records are gone (deleted by range).
  void Forget(const SessionId& id);
  // The session's turns are gone (deleted by range) and their numbering
  // starts again at 1: the only floor that ever falls. REQUIRES: called
  // before the write that clears them returns, so that no turn numbered
  // under the old floor exists while a compaction may still apply it (a
  // compaction's inputs and its snapshot of the decisions are both taken
  // when it starts).
  void ResetTurnFloor(const SessionId& id);

  // Bracket every WAL sync: `ticket = BeforeSync(); sync; AfterSync(ticket)`
  // makes every decision reported before the ticket durable.
  uint64_t BeforeSync();
  void AfterSync(uint64_t ticket);

  // The decisions now in effect; cheap when nothing changed since the last
  // call, otherwise one copy of the decisions.
  std::shared_ptr<const RetentionSnapshot> Current();

  // Sessions with a decision in effect / awaiting a sync.
  size_t durable_count();
  size_t pending_count();
  // The sessions whose eviction is in effect.
  std::vector<SessionId> DurablyEvicted();
  // The sessions evicted, in effect or awaiting a sync: their records are
  // on disk until compaction drops them.
  std::vector<SessionId> Evicted();

 private:
  struct PendingDecision {
    uint64_t ticket = 0;
    SessionFloors floors;
  };
  // Two slots per session bound the memory of stores that rarely sync
  // without starving a busy session: `first` never changes until a sync
  // covers it, newer decisions merge into `latest`.
  struct PendingSlots {
    PendingDecision first;
    std::optional<PendingDecision> latest;
  };

  std::mutex mu_;
  std::unordered_map<SessionId, SessionFloors> durable_;  // Guarded by mu_.
  std::unordered_map<SessionId, PendingSlots> pending_;  // Guarded by mu_.
  uint64_t next_ticket_ = 1;                            // Guarded by mu_.
  bool changed_ = false;                                // Guarded by mu_.
  uint64_t built_ = 0;      // Snapshots started. Guarded by mu_.
  uint64_t published_ = 0;  // The newest one in current_. Guarded by mu_.
  std::atomic<std::shared_ptr<const RetentionSnapshot>> current_;
};

// A compaction filter factory that counts what its filters drop.
class CountingFilterFactory : public rocksdb::CompactionFilterFactory {
 public:
  // Records dropped by this column family's filters since open.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 protected:
  std::atomic<uint64_t> dropped_{0};
};

// Creates, per compaction, a filter over one per-session column family (keys
// start with the session id) that drops every record of an evicted session
// and, with a floor field, every record numbered below its session's floor.
class RetentionFilterFactory : public CountingFilterFactory {
 public:
  RetentionFilterFactory(std::string cf_name,
                         std::shared_ptr<RetentionDecisions> decisions,
                         FloorField floor, NumberAt number_at = NumberAt::kKey)
      : name_("agentlog.retention." + cf_name),
        decisions_(std::move(decisions)),
        floor_(floor),
        number_at_(number_at) {}

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override;
  const char* Name() const override { return name_.c_str(); }

 private:
  const std::string name_;
  const std::shared_ptr<RetentionDecisions> decisions_;
  const FloorField floor_;
  const NumberAt number_at_;
};

// Creates, per compaction, a filter that drops records whose decision is
// their own expiry: values that start with a Unix-millisecond expiry time
// (u64 BE), dropped once the store's clock has reached it. The decision is
// durable with the record itself, and readers already treat such records
// as absent. Used by `run_once`.
class ExpiryFilterFactory : public CountingFilterFactory {
 public:
  ExpiryFilterFactory(std::string cf_name, std::shared_ptr<Clock> clock)
      : name_("agentlog.expiry." + cf_name), clock_(std::move(clock)) {}

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override;
  const char* Name() const override { return name_.c_str(); }

 private:
  const std::string name_;
  const std::shared_ptr<Clock> clock_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_RETENTION_H_
