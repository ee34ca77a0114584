#ifndef AGENTLOG_SRC_COLUMN_FAMILIES_H_
#define AGENTLOG_SRC_COLUMN_FAMILIES_H_

// The column families of a store and how each is tuned (docs/format.md).

#include <rocksdb/cache.h>
#include <rocksdb/options.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string_view>

#include "agentlog/options.h"

namespace agentlog::internal {

// Indexes into StoreImpl's handle array. Names are persistent.
enum class Cf : uint8_t {
  kDefault = 0,  // Required by RocksDB; unused.
  kSessions,     // session id -> Session
  kTurns,        // session id, turn number -> Turn
  kIdempotency,  // session id, key bytes -> turn number (u64 BE)
  kInputs,       // session id, input digest, turn number -> empty
  kMeta,         // name -> store-wide values: format_version, prices
                 // (price/...), budgets (budget/...), totals_closed_at
  kCheckpoints,  // session id, version -> CheckpointHeader
  kCheckpointData,  // session id, version -> stored payload bytes (BlobDB)
  kRunOnce,      // key bytes -> expires ms, recorded ms (u64 BE), result
  kUsage,        // session id, seq -> UsageRecord
  kUsageIds,     // message id -> session id, seq
  kUsageTotals,  // scope, period, period index, name -> counters (merged);
                 // 0xff, session id -> totals mark (last usage seq, u64 BE)
  kAlerts,       // scope, period, period index, threshold, budget
                 // generation, name -> Alert
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(Cf::kCount)>
    kCfNames = {"default", "sessions",    "turns",
                "idempotency", "inputs",  "meta",
                "checkpoints", "checkpoint_data", "run_once",
                "usage",       "usage_ids", "usage_totals",
                "alerts"};

// The families whose keys start with a session id: everything of a session
// but its record.
inline constexpr std::array<Cf, 6> kPerSessionCfs = {
    Cf::kTurns,       Cf::kIdempotency,     Cf::kInputs,
    Cf::kCheckpoints, Cf::kCheckpointData, Cf::kUsage};

// Payloads at least this large go to blob files; smaller ones stay in SSTs.
inline constexpr uint64_t kMinBlobBytes = 4096;

inline std::string_view CfName(Cf cf) {
  return kCfNames[static_cast<size_t>(cf)];
}
std::optional<Cf> CfFromName(std::string_view name);

// Whether the families that take memtable insert hints (sessions, usage,
// usage_ids) use them yet. A store sets it once DB::Open has replayed the
// WAL: a WAL written before `usage` took hints (format 9 and earlier) may
// hold range deletions in it, and RocksDB 7.8 cannot insert one into a
// memtable that takes hints (facebook/rocksdb#5118: Debian's build aborts
// on an assertion; without assertions the skip list is corrupted). No
// write since deletes a range in those families.
using InsertHintsOn = std::atomic<bool>;

// Options of one column family; `cache` is the store's shared block cache,
// `retention` the compaction filter factory that applies retention decisions
// to it (null for families retention does not cover), `hints_on` the switch
// of its memtable insert hints (null: none).
rocksdb::ColumnFamilyOptions ColumnFamilyOptionsFor(
    Cf cf, const Options& options, const std::shared_ptr<rocksdb::Cache>& cache,
    std::shared_ptr<rocksdb::CompactionFilterFactory> retention = nullptr,
    std::shared_ptr<const InsertHintsOn> hints_on = nullptr);

// The store-wide RocksDB options derived from `options`.
rocksdb::DBOptions DbOptionsFor(const Options& options);

// Meta keys.
inline constexpr std::string_view kFormatVersionKey = "format_version";
// Written by a clean close, after the last flush of the totals: the RocksDB
// sequence number of this very write (u64 BE). While it is still the
// store's latest sequence number nothing was written since, so every
// session's totals mark covers all its usage records and open need not
// read the marks. Any later write makes it stale; a library that does not
// know it never reads it, so it needs no format version.
inline constexpr std::string_view kTotalsClosedAtKey = "totals_closed_at";
// The on-disk format this library writes. Bump it (and write a migration in
// store_open.cc) for every incompatible change; compatible schema evolution
// does not need a bump. History:
//   1: sessions, turns, idempotency, inputs, meta.
//   2: checkpoints and checkpoint_data; checkpoint fields in Session (a
//      library that knows only 1 would lose them when rewriting a session).
//   3: lease fields in Session (likewise).
//   4: run_once (a library that knows only 3 would open it without its
//      expiry filter).
//   5: echo verdicts in Turn and their counts in Session (a library that
//      knows only 4 would lose them when rewriting a record).
//   6: usage, usage_ids, usage_totals (with its merge operator) and alerts;
//      usage fields in Session; prices and budgets in meta.
//   7: totals marks in usage_totals; totals reach it in batches, so that a
//      library that knows only 6 would count the records past a mark
//      nowhere.
//   8: eviction stubs in sessions and retention filters on every
//      per-session family (a library that knows only 7 would read a stub
//      as a live session and never drop its records).
//   9: turn and usage floors in Session (retention by age; a library that
//      knows only 8 would lose them when rewriting a session, and show
//      pruned turns until compaction dropped them).
//  10: message ids reach usage_ids in batches with the totals, covered by
//      the same marks (a library that knows only 9 would not see the ids
//      of the records past a mark, and count those records again).
inline constexpr uint32_t kFormatVersion = 10;

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_COLUMN_FAMILIES_H_
