#ifndef AGENTLOG_OPTIONS_H_
#define AGENTLOG_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "agentlog/clock.h"
#include "agentlog/metrics.h"
#include "agentlog/usage.h"

namespace agentlog {

// When a write is acknowledged relative to the disk. Values are persistent in
// configuration files of hosts; never renumber.
enum class Durability : uint8_t {
  // The WAL is fsynced before the call returns. Concurrent writers share one
  // fsync (RocksDB group commit). Survives power loss.
  kSync = 0,
  // The WAL is written before the call returns and fsynced by a background
  // thread every Options::sync_interval. Survives a crash of the process; a
  // power loss can lose at most the last interval.
  kBuffered = 1,
  // The WAL is written but not fsynced for the write; the OS decides.
  // Survives a crash of the process. For tests and caches. (agentlog still
  // fsyncs, at most every sync_interval, before compaction acts on a
  // retention decision such a write made.)
  kNone = 2,
};

// How a store is opened. Options are validated by Store::Open; a field out of
// its range gets InvalidArgument naming the field and the range.
struct Options {
  // --- Opening ---

  // Create the store directory (mode 0700) when it does not exist.
  // Default: true.
  bool create_if_missing = true;
  // Fail with AlreadyExists when the store exists. Default: false.
  bool error_if_exists = false;

  // --- Durability ---

  // Default durability of every write; WriteOptions may override per call.
  // Default: kSync.
  Durability durability = Durability::kSync;
  // With kBuffered, how often the WAL is fsynced. Range: 1 ms to 60 s.
  // Default: 100 ms.
  std::chrono::milliseconds sync_interval{100};

  // --- Limits on records (bad input is refused before anything is written) ---

  // Session metadata bytes. Range: 0 to 16 MiB. Default: 10 KiB.
  size_t max_metadata_bytes = 10 * 1024;
  // Session title bytes. Range: 1 to 64 KiB. Default: 1 KiB.
  size_t max_title_bytes = 1024;
  // Agent and model name bytes. Range: 1 to 4 KiB. Default: 256.
  size_t max_name_bytes = 256;
  // Tags per session. Range: 0 to 1024. Default: 64.
  size_t max_tags = 64;
  // Bytes of one tag. Range: 1 to 1 KiB. Default: 128.
  size_t max_tag_bytes = 128;
  // Idempotency key bytes. Range: 1 to 4 KiB. Default: 256.
  size_t max_idempotency_key_bytes = 256;
  // Messages in one turn's input or output. Range: 1 to 65536. Default: 1024.
  size_t max_messages_per_turn = 1024;
  // Total content bytes of one turn's input or output. Range: 1 byte to
  // 256 MiB. Default: 16 MiB.
  size_t max_turn_content_bytes = 16 << 20;
  // Bytes of a failed turn's error text. Range: 1 to 1 MiB. Default: 64 KiB.
  size_t max_error_bytes = 64 * 1024;
  // Bytes of one checkpoint payload. Range: 1 byte to 1 GiB. Default: 64 MiB.
  size_t max_checkpoint_bytes = 64 << 20;

  // --- Retention ---

  // Checkpoint versions kept per session, unless the session says otherwise
  // (Store::SetCheckpointRetention). Older versions read as NotFound as soon
  // as a newer put makes them surplus, and compaction reclaims their space.
  // A change takes effect for a session at its next put. Range: 1 to
  // 1,000,000. Default: 10.
  uint32_t checkpoint_keep_last = 10;
  // RocksDB recompacts files older than this even when nothing else would, so
  // that retention reclaims space in cold files too. Range: 1 minute to 365
  // days. Default: 1 day.
  std::chrono::seconds retention_compaction_period{24 * 3600};

  // Live sessions (archived ones included) the store keeps. A creation that
  // takes the store past it evicts sessions until it is back at the limit,
  // in least-recently-active order: never a pinned one, one held through a
  // SessionHandle (a lease does not protect it) or one whose creation has
  // not returned; archived ones only after all others, unless
  // evict_archived_first. When every other session is pinned or held the
  // store stays above the limit until the background pass (every
  // retention_check_interval) or a creation finds one to evict; concurrent
  // creations may overshoot it by one each until their evictions land. An
  // evicted session reads as NotFound at once; compaction reclaims its
  // records.
  // 0: no limit. Range: 0 to 2^32. Default: 0.
  uint64_t max_sessions = 0;
  // Bytes the store may hold: its SST and blob files (blob garbage
  // excluded), less what evicted sessions still hold until compaction drops
  // it. Store::EnforceRetention (every retention_check_interval in the
  // background) checks it; when the files and memtables together pass it,
  // the pass flushes the memtables and evicts sessions in the order
  // max_sessions does until the files fit, estimating each session's bytes
  // (RocksDB's size approximation of its key ranges, plus its checkpoint
  // payloads in blob files). Between passes the store grows by what is
  // written. Records that wait for compaction without
  // belonging to an evicted session (deleted sessions, pruned checkpoints,
  // turns rewritten on completion) count until compaction: a pass right
  // after mass deletions may evict more than a pass after Store::Compact.
  // 0: no limit. Range: 0, or 1 MiB to 2^50. Default: 0.
  uint64_t max_bytes = 0;
  // Evict archived sessions before the others. Default: false.
  bool evict_archived_first = false;
  // An age for each status a session can be in. 0: never.
  // Range: 0 to 100 years each.
  struct AgeLimits {
    std::chrono::seconds active{0};
    std::chrono::seconds idle{0};
    std::chrono::seconds archived{0};
  };
  // Sessions of each status whose last activity is older than this are
  // evicted (pinned and held ones never) by Store::EnforceRetention, which
  // the store also runs every retention_check_interval. Default: never.
  AgeLimits evict_inactive_after;
  // Turns older than this (by the time they completed or failed) are
  // pruned from sessions of each status, oldest first, by
  // Store::EnforceRetention: they read as NotFound at once (ListTurns
  // starts after them, their idempotency keys are free again, FindInput
  // no longer finds them) and compaction reclaims them. Pruning stops at
  // the oldest turn still processing. The session's totals (turn counts,
  // tokens, cost, echo counts) keep what the pruned turns counted. Pinned
  // sessions keep every turn. Default: never.
  AgeLimits turn_max_age;
  // Usage records older than this (by the time they were recorded) are
  // pruned likewise: ListUsage starts after them, and compaction reclaims
  // them. Totals and budgets keep what they counted, and their message ids
  // still count as recorded. Default: never.
  AgeLimits usage_max_age;
  // Checkpoint versions older than this (by the time they were put) are
  // pruned likewise, on top of checkpoint_keep_last; a session's newest
  // version is always kept. Default: never.
  AgeLimits checkpoint_max_age;
  // Reads of a session count as activity: GetSession, GetTurn,
  // GetTurnByKey, ListTurns, FindInput, GetCheckpoint, ListCheckpoints and
  // ListUsage move its last_active_ms, so that max_sessions and
  // evict_inactive_after spare the sessions hosts read. Without a write per
  // read: read times are kept in memory and written into the session
  // records by Store::EnforceRetention (every retention_check_interval when
  // a retention policy is set), Store::Shutdown and closing the store. A
  // crash loses the reads since the last of those (the session keeps the
  // activity last written); eviction honours the ones in memory at once.
  // Up to 65,536 sessions' reads are held between two such writes; reads
  // of further sessions count from the next. Default: true.
  bool reads_count_as_activity = true;
  // How often the store runs Store::EnforceRetention in the background
  // (when max_sessions, max_bytes, evict_inactive_after or one of the
  // max ages is set). Range: 1 s to 1 day. Default: 1 minute.
  std::chrono::seconds retention_check_interval{60};

  // Bytes of a result RunOnce records. Range: 0 to 16 MiB. Default: 64 KiB.
  size_t max_run_once_result_bytes = 64 * 1024;
  // Lease owner name bytes. Range: 1 to 4 KiB. Default: 256.
  size_t max_lease_owner_bytes = 256;

  // --- Echo detection (a session repeating its own responses) ---

  // Judge every completed response against the session's recent ones,
  // recording the verdict in the turn (Turn::echo, Session::echo), and
  // answer Store::CheckEcho. Costs each completion its response's
  // fingerprint, about 3 us of CPU per KiB, outside the session's lock.
  // Windows are kept beside the sessions of the write cache (the 2,048 or
  // so most recently used), up to 2 KiB per remembered response: about
  // 40 MiB at worst with the default window. A session outside the cache
  // has its window rebuilt under its lock on next use, reading and
  // fingerprinting up to 4 x echo_window of its newest turns.
  // Default: false.
  bool detect_echoes = false;
  // Responses of each session that completions and Store::CheckEcho compare
  // with: the last N completed turns not skipped as too short, among its
  // last 4N turns. A completion is judged against those numbered before it.
  // Range: 1 to 1000. Default: 10.
  size_t echo_window = 10;
  // Responses shorter than this many code points, after case and white
  // space are folded, are skipped. Range: 0 to 1 MiB. Default: 20.
  size_t echo_min_chars = 20;
  // Estimated Jaccard similarity of word 3-shingles from which a response is
  // a near echo. One changed word in a response of W words gives about
  // (W - 5) / (W + 1): at 0.9, responses of 59 words or more. Range: over 0
  // to 1. Default: 0.9.
  double echo_near_threshold = 0.9;

  // --- Usage and budgets ---

  // Receives every budget alert once the write that raised it is
  // acknowledged (usage.h). Called on the writing thread, outside every
  // lock of the store; it may call the store. An exception it throws is
  // caught and dropped. Default: none (alerts are still recorded:
  // Store::ListAlerts).
  AlertListener alert_listener;
  // Store::PredictOverflow warns from this share of the context window.
  // Range: 1 to 100. Default: 80.
  uint32_t context_warning_percent = 80;
  // The longest window Store::CheckRate accepts; usage is kept in memory
  // for this long. Range: 1 s to 1 day. Default: 1 hour.
  std::chrono::milliseconds max_rate_window{3'600'000};

  // --- Active sessions ---

  // Session handles (Store::AcquireSession) held at once; one more gets
  // ResourceExhausted until a handle is released. Range: 1 to 1,000,000.
  // Default: 100.
  size_t max_active_sessions = 100;

  // --- Resources ---

  // Block cache shared by every column family. Ignored when
  // memory_budget_bytes is set: the budget sizes the cache then.
  // Range: 1 MiB to 1 TiB. Default: 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // Memtable size of each column family. With memory_budget_bytes set, at
  // most a quarter of the memtable limit the budget gives an empty store
  // (and at least 256 KiB):
  // the memtables' Bloom filters are sized from it, so 13 families' empty
  // memtables stay a small part of the limit. Range: 1 MiB to 4 GiB.
  // Default: 32 MiB.
  size_t write_buffer_bytes = 32 << 20;
  // RocksDB background flush and compaction threads. Range: 1 to 64.
  // Default: 2.
  int background_jobs = 2;

  // --- Memory ---

  // Memory the store may hold: block cache, memtables, table readers, the
  // session index and the write cache (MemoryReport). The block cache gets
  // 7/8 of the warning threshold less what the session index and table
  // readers hold at open (at least 1/8 of the budget), and memtables are
  // charged to that cache, limited to half of it; so a store whose cache is
  // full sits below the warning threshold, and crossing it means a part
  // outside the cache grew (the index as sessions are created, memtables a
  // reader pins or a flush has not freed yet) or a single write was larger
  // than the memtable limit. Writes never wait for the budget: the memtable
  // limit triggers flushes. 0: no budget (block_cache_bytes and
  // write_buffer_bytes apply as given; no checks, no events).
  // Range: 0, or 16 MiB to 1 TiB. Default: 0.
  size_t memory_budget_bytes = 0;
  // Share of the budget at which memory_listener gets a kWarning event.
  // Range: over 0 to under 1. Default: 0.8.
  double memory_warning_fraction = 0.8;
  // Share of the budget at which memory_listener gets a kEmergency event
  // and the store starts a flush of every memtable (without waiting for
  // it). Range: over memory_warning_fraction to 1. Default: 0.95.
  double memory_emergency_fraction = 0.95;
  // Receives each crossing of the budget's thresholds (metrics.h): a rise
  // to kWarning and to kEmergency once each, and kNormal when usage falls
  // back below the warning threshold. A threshold fires again only after
  // usage fell below it (a fall below emergency re-arms it silently).
  // Usage is checked every memory_check_interval and by every
  // Store::MemoryUsage and Store::Metrics call. Called outside every lock
  // of the store; it may call the store. An exception it throws is caught
  // and dropped. Default: none (the level is still
  // in MemoryReport::level and the crossings are counted in StoreMetrics).
  MemoryListener memory_listener;
  // How often a store with a budget checks its memory in the background.
  // Range: 10 ms to 1 hour. Default: 1 s.
  std::chrono::milliseconds memory_check_interval{1000};

  // --- Environment ---

  // Source of timestamps. Default: nullptr, meaning SystemClock().
  std::shared_ptr<Clock> clock;
};

// Per-call overrides of write behaviour.
struct WriteOptions {
  // Overrides Options::durability for this call. Default: the store's. A
  // call answered from an earlier write without writing (a replayed
  // idempotency key, a duplicate message id, a run-once key on record, a
  // lease released already, a budget set to the spec it has) makes that
  // write as durable as this asks (under kSync an fsync, whose failure is
  // the call's IOError).
  std::optional<Durability> durability;
  // The fencing token of the lease the caller holds (Store::AcquireLease).
  // A write to a session whose current lease token is another, or whose
  // lease was released, is refused with Conflict and writes nothing: a
  // worker that lost its lease (paused past its TTL, say, while another
  // took the session) cannot overwrite what its successor wrote. Writes
  // without a token are never fenced.
  std::optional<uint64_t> fencing_token;
  // CompleteTurn, CompleteTurnWithCheckpoint and AppendTurn: refuse (with
  // Conflict, writing nothing) a response that exactly repeats one in the
  // session's echo window. Only with Options::detect_echoes; responses too
  // short to judge are never refused. Default: false (the echo is recorded).
  bool refuse_exact_echo = false;
  // Lets a call through a budget's hard threshold (never through an
  // emergency block). Default: false.
  bool override_budget = false;
};

}  // namespace agentlog

#endif  // AGENTLOG_OPTIONS_H_
