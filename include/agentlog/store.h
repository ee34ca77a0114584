#ifndef AGENTLOG_STORE_H_
#define AGENTLOG_STORE_H_

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/backup.h"
#include "agentlog/checkpoint.h"
#include "agentlog/echo.h"
#include "agentlog/export.h"
#include "agentlog/lease.h"
#include "agentlog/lifecycle.h"
#include "agentlog/metrics.h"
#include "agentlog/options.h"
#include "agentlog/result.h"
#include "agentlog/run_once.h"
#include "agentlog/search.h"
#include "agentlog/session.h"
#include "agentlog/session_id.h"
#include "agentlog/status.h"
#include "agentlog/turn.h"
#include "agentlog/usage.h"

namespace agentlog {

// What Store::Open found and did.
struct RecoveryReport {
  // Session records found: live sessions plus records that did not decode
  // (corrupt_records); eviction stubs excluded. (StoreInfo::sessions
  // excludes the corrupt ones too.)
  uint64_t sessions = 0;
  // Turns a crash (or a host that never finished them) left processing,
  // ordered by session and number. The host may resume them (CompleteTurn)
  // or give up on them (FailTurn).
  std::vector<TurnRef> processing_turns;
  // Session records that did not decode, each described with its key. The
  // store opens anyway so that it can be inspected; reads of those sessions
  // fail with Corruption. Run Verify for a full check.
  std::vector<std::string> corrupt_records;
  // Usage records whose totals were not yet in `usage_totals` (written
  // before a crash, or by a live writer a read-only opener follows), added
  // to the totals from the records themselves.
  uint64_t usage_records_replayed = 0;
  // The RocksDB sequence number after WAL replay.
  uint64_t last_sequence = 0;
  // On-disk format version of the store (after any migration).
  uint32_t format_version = 0;
  // True when the store was created by this open.
  bool created = false;
  // Wall time Open took.
  std::chrono::microseconds duration{0};
};

// How a store was opened.
enum class AccessMode : uint8_t {
  kReadWrite = 0,
  // Read-only; no other process held the store.
  kReadOnly = 1,
  // Read-only RocksDB secondary instance following a live primary process.
  kSecondary = 2,
};

// A description of a store for operators (agentlog info).
struct StoreInfo {
  std::string path;
  AccessMode mode = AccessMode::kReadWrite;
  uint32_t format_version = 0;
  // Sessions in the store as the index counts them: evicted sessions and
  // records that do not decode (RecoveryReport::corrupt_records) excluded.
  uint64_t sessions = 0;
  uint64_t last_sequence = 0;
  std::vector<ColumnFamilyInfo> column_families;
};

// One problem Verify found.
struct VerifyProblem {
  std::string column_family;
  std::string key;  // Printable: session id text and numbers, or hex.
  std::string what;
};

// What Verify checked and found.
struct VerifyReport {
  uint64_t records_checked = 0;
  std::vector<VerifyProblem> problems;
  bool clean() const { return problems.empty(); }
};

// What CompleteTurnWithCheckpoint wrote.
struct TurnWithCheckpoint {
  Turn turn;
  CheckpointInfo checkpoint;
};

// What CompleteTurnWithUsage wrote.
struct TurnWithUsage {
  Turn turn;
  // One per UsageSpec, in order; duplicates as RecordUsage reports them.
  std::vector<RecordUsageResult> usage;
};

// An agentlog store: durable sessions and their turns in one directory.
//
// Thread safety: every method may be called from any number of threads at
// once. Writes to one session are serialised; writes to different sessions
// proceed in parallel, and synced writes share fsyncs.
//
// Errors: no method throws. Each returns Status or Result<T>; bad input gets
// InvalidArgument naming the field and the limit, and nothing is written.
// A store opened read-only refuses writes with FailedPrecondition.
class AGENTLOG_EXPORT Store {
 public:
  // Opens (creating, unless told not to) the store in directory `path` for
  // reading and writing. Replays the WAL and builds the recovery report.
  // Errors: InvalidArgument (options, an empty path, a path that is not a
  // directory), NotFound (no store at `path` and Options::create_if_missing
  // is off), AlreadyExists (a store is there and Options::error_if_exists
  // is set), Busy (another process holds the store), FailedPrecondition
  // (format newer than this library, checked after RocksDB's own open has
  // replayed the WAL; or a RocksDB directory that is not an agentlog
  // store), Corruption, IOError, ResourceExhausted (the system refused a
  // thread or memory).
  static Result<std::unique_ptr<Store>> Open(const Options& options,
                                             std::string_view path);

  // Opens an existing store for reading only: plainly when no process holds
  // it, or as a RocksDB secondary instance catching up with the process that
  // does. Never writes to the store directory.
  // Errors: InvalidArgument (options, an empty path), NotFound (no store at
  // `path`), FailedPrecondition (format newer than this library, or not an
  // agentlog store), Corruption, IOError, ResourceExhausted (as Open).
  static Result<std::unique_ptr<Store>> OpenReadOnly(const Options& options,
                                                     std::string_view path);

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Closes the store: syncs the WAL and flushes the memtables, so that the
  // next open replays nothing. Every acknowledged write survives; in-flight
  // calls must have returned. Destroy a store before `exit` runs static
  // destructors (RocksDB's own statics may be gone by then).
  virtual ~Store() = default;

  virtual const RecoveryReport& recovery_report() const = 0;
  virtual AccessMode access_mode() const = 0;

  // --- Sessions ---

  // Creates a session with a new time-ordered id.
  // Errors: InvalidArgument, ShuttingDown (Shutdown was called).
  virtual Result<Session> CreateSession(const SessionSpec& spec,
                                        const WriteOptions& wo = {}) = 0;
  // Errors: NotFound.
  virtual Result<Session> GetSession(const SessionId& id) = 0;
  // Sessions in id order.
  virtual Result<std::vector<Session>> ListSessions(
      const SessionListOptions& options = {}) = 0;
  // Sessions matching `query`, in its order, from the in-memory index (no
  // disk reads, except a title prefix longer than 7 bytes, which reads the
  // titles of the sessions whose first 7 bytes match). The index holds every
  // acknowledged write; a read-only or secondary store's index is the
  // store as it was at open. Errors: InvalidArgument (query or cursor);
  // with a long title prefix, IOError or Corruption from reading a title.
  virtual Result<SessionPage> Search(const SessionQuery& query) = 0;
  // Counts over the sessions in the index, and its memory.
  virtual Result<SessionStats> Stats() = 0;
  // Applies `update`. Errors: NotFound, FailedPrecondition (archived),
  // InvalidArgument.
  virtual Result<Session> UpdateSession(const SessionId& id,
                                        const SessionUpdate& update,
                                        const WriteOptions& wo = {}) = 0;
  // Adds tags not yet present / removes the given ones.
  virtual Result<Session> TagSession(const SessionId& id,
                                     std::span<const std::string> tags,
                                     const WriteOptions& wo = {}) = 0;
  virtual Result<Session> UntagSession(const SessionId& id,
                                       std::span<const std::string> tags,
                                       const WriteOptions& wo = {}) = 0;
  // Moves last-active to now.
  virtual Status TouchSession(const SessionId& id,
                              const WriteOptions& wo = {}) = 0;
  // Archived sessions are read-only until unarchived (to idle).
  // Errors: FailedPrecondition when already in the target state.
  virtual Status ArchiveSession(const SessionId& id,
                                const WriteOptions& wo = {}) = 0;
  virtual Status UnarchiveSession(const SessionId& id,
                                  const WriteOptions& wo = {}) = 0;
  // Deletes the session and all its records in one atomic write; they read
  // as NotFound at once and their space is reclaimed by compaction.
  // Errors: NotFound, Busy (a SessionHandle holds it, or its creation has
  // not returned).
  virtual Status DeleteSession(const SessionId& id,
                               const WriteOptions& wo = {}) = 0;

  // --- Active sessions and shutdown ---

  // Claims `session` for work until the handle is released (RAII): it
  // counts against Options::max_active_sessions and is never evicted while
  // held. One handle per session at a time. Writes do not require a handle;
  // a host that wants exclusive workers across processes uses leases.
  // Errors: NotFound, FailedPrecondition (archived; read-only store),
  // Busy (the session has a handle), ResourceExhausted (max_active_sessions
  // handles are held), ShuttingDown.
  virtual Result<SessionHandle> AcquireSession(const SessionId& session) = 0;
  // Lifecycle counters and figures since open (lifecycle.h).
  virtual SessionLifecycle Lifecycle() = 0;
  // Stops taking new work and makes what was done durable: from the call on,
  // CreateSession and AcquireSession get ShuttingDown (every other call
  // still works, so that the holders of handles can finish), and retention
  // stops: no background pass, and EnforceRetention evicts nothing. Waits
  // up to `timeout` for every handle to be released, then, without a limit,
  // for the creations whose write is in flight (one write each), then syncs
  // the WAL and flushes the memtables whatever the wait's outcome, and
  // reports. May be called again (it waits again); the store still needs
  // destroying.
  // Errors: InvalidArgument (timeout negative or over a day), IOError
  // (sync or flush; the report is lost, the refusal of new work stays).
  virtual Result<ShutdownReport> Shutdown(
      std::chrono::milliseconds timeout) = 0;

  // --- Retention and eviction ---

  // Writes the reads noted since the last pass as activity
  // (Options::reads_count_as_activity), evicts now what
  // Options::evict_inactive_after, max_sessions and max_bytes say must go
  // (the store also does so in the background, and for max_sessions on
  // creation), prunes the turns, usage records and checkpoint versions
  // Options::turn_max_age, usage_max_age and checkpoint_max_age say are too
  // old, and removes the stubs of earlier evictions that compaction has
  // finished.
  // An evicted session reads as NotFound at once and leaves the index; its
  // turns, checkpoints and usage records are dropped by compaction (Compact
  // does it at once); its spending stays in the usage totals. Pinned
  // sessions and those held through a SessionHandle are never evicted.
  // Errors: FailedPrecondition (read-only), IOError.
  virtual Result<RetentionRun> EnforceRetention() = 0;

  // --- Turns ---

  // Begins the next turn of `session` with `input`, status processing.
  // With a non-empty `idempotency_key` that already names a turn of this
  // session, returns that turn (replayed = true) and writes nothing.
  // Errors: NotFound, FailedPrecondition (archived), InvalidArgument,
  // BudgetExceeded (a budget of the session's scopes reached its hard
  // threshold or is blocked).
  virtual Result<BeginTurnResult> BeginTurn(const SessionId& session,
                                            std::string_view idempotency_key,
                                            std::span<const Message> input,
                                            const WriteOptions& wo = {}) = 0;
  // Completes a processing turn with its output and usage; adds the usage to
  // the session's totals in the same write. Usage that is not all zero
  // becomes a usage record (see "Usage, cost and budgets" below):
  // usage.cost_micros 0 means "price it" from the store's price table.
  // Never refused by a budget: the turn was begun, the model answered.
  // With Options::detect_echoes, also judges the output against the
  // session's recent responses and records the verdict (Turn::echo).
  // Errors: NotFound, FailedPrecondition (not processing, archived),
  // InvalidArgument, Conflict (a fencing token that is not the lease's, or
  // an exact echo refused through WriteOptions::refuse_exact_echo).
  virtual Result<Turn> CompleteTurn(const SessionId& session, uint64_t number,
                                    std::span<const Message> output,
                                    const TurnUsage& usage = {},
                                    const WriteOptions& wo = {}) = 0;
  // Fails a processing turn with `error` (required, non-empty).
  virtual Result<Turn> FailTurn(const SessionId& session, uint64_t number,
                                std::string_view error,
                                const WriteOptions& wo = {}) = 0;
  // Begins and completes a turn in one atomic write: the way to log a turn
  // that already happened. Idempotency and budgets as in BeginTurn; usage,
  // echo detection and their errors as in CompleteTurn.
  virtual Result<BeginTurnResult> AppendTurn(const SessionId& session,
                                             std::string_view idempotency_key,
                                             std::span<const Message> input,
                                             std::span<const Message> output,
                                             const TurnUsage& usage = {},
                                             const WriteOptions& wo = {}) = 0;

  // Errors: NotFound (session or turn).
  virtual Result<Turn> GetTurn(const SessionId& session, uint64_t number) = 0;
  virtual Result<Turn> GetTurnByKey(const SessionId& session,
                                    std::string_view idempotency_key) = 0;
  virtual Result<std::vector<Turn>> ListTurns(
      const SessionId& session, const TurnListOptions& options = {}) = 0;
  // The first turn of `session` whose input had this digest, if any.
  virtual Result<std::optional<uint64_t>> FindInput(
      const SessionId& session, const InputDigest& digest) = 0;
  // Removes the newest turn (whatever its status) and undoes its share of the
  // session's totals. Errors: NotFound when the session has no turns.
  virtual Result<Turn> PopTurn(const SessionId& session,
                               const WriteOptions& wo = {}) = 0;
  // Removes every turn; numbering starts again at 1.
  virtual Status ClearTurns(const SessionId& session,
                            const WriteOptions& wo = {}) = 0;

  // --- Checkpoints ---

  // Saves the next version (1, 2, 3...) of the session's checkpoint. The
  // payload is LZ4-compressed when that shrinks it and its XXH3-64 is kept to
  // verify every read. When the new version makes older ones surplus to the
  // session's keep-last-N, they read as NotFound from this call on, and
  // compaction reclaims their space.
  // Errors: NotFound, FailedPrecondition (archived), InvalidArgument (payload
  // or metadata too large, parent not an existing version).
  virtual Result<CheckpointInfo> PutCheckpoint(const SessionId& session,
                                               const CheckpointSpec& spec,
                                               const WriteOptions& wo = {}) = 0;
  // Version `version`, or the latest when it is empty, with its payload
  // verified against its checksum.
  // Errors: NotFound (the session, a version never written or pruned),
  // Corruption naming session and version.
  virtual Result<Checkpoint> GetCheckpoint(
      const SessionId& session,
      std::optional<uint64_t> version = std::nullopt) = 0;
  // The versions that can be read, oldest first, without payloads.
  virtual Result<std::vector<CheckpointInfo>> ListCheckpoints(
      const SessionId& session) = 0;
  // Sets how many versions `session` keeps (1 to 1,000,000); 0 returns it to
  // Options::checkpoint_keep_last. Lowering it prunes at once; raising it
  // never brings pruned versions back.
  virtual Result<Session> SetCheckpointRetention(
      const SessionId& session, uint32_t keep_last,
      const WriteOptions& wo = {}) = 0;
  // CompleteTurn and PutCheckpoint in one atomic write: after a crash both
  // are on disk or neither is. Errors: as the two calls.
  virtual Result<TurnWithCheckpoint> CompleteTurnWithCheckpoint(
      const SessionId& session, uint64_t number,
      std::span<const Message> output, const TurnUsage& usage,
      const CheckpointSpec& checkpoint, const WriteOptions& wo = {}) = 0;

  // --- Leases: one worker at a time per session ---

  // Gives `owner` the lease on `session` until now + `ttl`, with a fencing
  // token greater than every token this session had before (persisted, so
  // it keeps growing across restarts). A lease that expired frees itself:
  // the next acquirer gets it with no clean-up. While another owner holds
  // an unexpired lease, waits up to `wait_timeout` (0: not at all) for it
  // to be released or to expire; a release wakes waiters at once. Acquiring
  // again as the holder renews with a new token. Lease writes are as durable
  // as WriteOptions says: keep kSync (the default) for them if tokens must
  // never be reissued after a power loss.
  // Errors: NotFound, Busy (still held when the wait ended),
  // FailedPrecondition (archived), InvalidArgument (owner empty or longer
  // than Options::max_lease_owner_bytes, ttl outside 1 ms to 1 day,
  // wait_timeout negative or over a day).
  virtual Result<Lease> AcquireLease(
      const SessionId& session, std::string_view owner,
      std::chrono::milliseconds ttl,
      std::chrono::milliseconds wait_timeout = std::chrono::milliseconds(0),
      const WriteOptions& wo = {}) = 0;
  // Moves the end of the lease with fencing token `token` to now + `ttl`.
  // A lease that expired but that nobody took since can be renewed.
  // Errors: Conflict (`token` is not the current lease's, or it was
  // released), InvalidArgument (ttl).
  virtual Result<Lease> RenewLease(const SessionId& session, uint64_t token,
                                   std::chrono::milliseconds ttl,
                                   const WriteOptions& wo = {}) = 0;
  // Ends the lease with fencing token `token`. Errors: Conflict as above.
  virtual Status ReleaseLease(const SessionId& session, uint64_t token,
                              const WriteOptions& wo = {}) = 0;
  // Ends whatever lease the session has (an operator's tool, for a holder
  // that is gone for good). Writes carrying its token are refused from now
  // on, as after any release.
  virtual Status ForceReleaseLease(const SessionId& session,
                                   const WriteOptions& wo = {}) = 0;
  // The session's lease as stored: owner (empty when free), token, expiry.
  // Lease::held(now) says whether someone holds it.
  virtual Result<Lease> GetLease(const SessionId& session) = 0;

  // --- Run-once keys ---

  // Runs `operation` at most once per `key` within `ttl` (a tool call that
  // charges a card, an e-mail): the first caller runs it and its result is
  // recorded, durably per `wo`; a caller that comes while it runs waits for
  // it, and any caller until `ttl` has passed gets the recorded result
  // (ran = false) without running anything. If the operation fails (or
  // throws: FailedPrecondition), nothing is recorded and its error is
  // returned; the next caller runs it. If it ran but its result cannot be
  // recorded, that error goes to the caller and to those waiting for it.
  // Across a crash during the operation the guarantee is at least once:
  // record and operation cannot be one atomic step. Expired keys read as
  // absent at once and are dropped by a compaction filter. `operation` must
  // not call RunOnce with the same key (it would wait for itself).
  // WriteOptions::fencing_token does not apply (keys are not sessions).
  // Errors: InvalidArgument (key empty or longer than
  // Options::max_idempotency_key_bytes; ttl outside 1 ms to 365 days; a
  // result over Options::max_run_once_result_bytes, in which case the
  // operation did run but nothing is recorded), the operation's own error.
  virtual Result<RunOnceOutcome> RunOnce(
      std::string_view key, std::chrono::milliseconds ttl,
      const std::function<Result<std::string>()>& operation,
      const WriteOptions& wo = {}) = 0;
  // The recorded run of `key`, without running anything.
  // Errors: NotFound (never run, or expired).
  virtual Result<RunOnceOutcome> GetRunOnce(std::string_view key) = 0;

  // --- Echo detection: a session repeating its own responses ---

  // How `text` compares with the session's recent responses (the last
  // Options::echo_window completed turns not skipped as too short), writing
  // nothing: kExact with the newest turn of the same text once case and
  // white space are folded; else kNear with the most similar turn whose
  // estimated Jaccard similarity of word 3-shingles reaches
  // Options::echo_near_threshold; else kNew. kSkipped when `text` is
  // shorter than Options::echo_min_chars. Completing a turn records the
  // same verdict in Turn::echo and counts it in Session::echo. The window
  // stays in memory for recently written sessions and is rebuilt from the
  // turn log when it is not (after an open, for one).
  // Errors: NotFound, FailedPrecondition (Options::detect_echoes is false),
  // InvalidArgument (text over Options::max_turn_content_bytes or not
  // UTF-8).
  virtual Result<EchoVerdict> CheckEcho(const SessionId& session,
                                        std::string_view text) = 0;
  // How often the session repeated itself (Session::echo). Errors: NotFound.
  virtual Result<EchoStats> GetEchoStats(const SessionId& session) = 0;

  // --- Usage, cost and budgets ---
  //
  // Every model call's usage is a record of the `usage` column family,
  // priced when recorded, deduplicated by message id, and added to the
  // totals of its scopes (store, session, agent, each tag, model, operation)
  // per period (lifetime, UTC day, UTC month) before the call returns; after
  // a crash, open adds any record whose totals were not yet written, so
  // totals always equal the sum of the records in the store. Totals
  // are a ledger: popping or clearing turns, or deleting a session, takes
  // nothing back out of them. CompleteTurn and AppendTurn record the
  // TurnUsage they are given (when not all zero) as one usage record with
  // the session's model and operation "turn", priced unless it has a cost.
  //
  // Budgets (BudgetSpec) are checked by every call that begins a turn or
  // records usage in their scopes: a scope whose spending reached a hard
  // threshold refuses them with BudgetExceeded, writing nothing.

  // Stores a new version of `price.model`'s price, in effect from
  // `effective_ms` (default: now) for usage recorded from then on.
  // Errors: InvalidArgument (a price over kMaxPricePerMillion, 10^12
  // micro-dollars per million tokens; an empty or too long model).
  virtual Result<PriceVersion> SetPrice(
      const ModelPrice& price, std::optional<int64_t> effective_ms = {},
      const WriteOptions& wo = {}) = 0;
  // Every version of every model's price, by model and version.
  virtual Result<std::vector<PriceVersion>> ListPrices() = 0;

  // Records one call's usage, not tied to a turn. A message id already
  // recorded anywhere in the store returns that record (duplicate = true)
  // and writes nothing. Unknown models are recorded at cost 0
  // (CostSource::kUnpriced), never refused.
  // Errors: NotFound, FailedPrecondition (archived), InvalidArgument,
  // BudgetExceeded, Conflict (fencing).
  virtual Result<RecordUsageResult> RecordUsage(const SessionId& session,
                                                const UsageSpec& usage,
                                                const WriteOptions& wo = {}) = 0;
  // Completes a processing turn with `output` and the usage of the calls
  // that produced it, all in one atomic write. The turn's TurnUsage is the
  // sum of the records written (duplicates excluded).
  // Errors: as CompleteTurn and RecordUsage.
  virtual Result<TurnWithUsage> CompleteTurnWithUsage(
      const SessionId& session, uint64_t number,
      std::span<const Message> output, std::span<const UsageSpec> usage,
      const WriteOptions& wo = {}) = 0;
  // The session's usage records, oldest first. Errors: NotFound.
  virtual Result<std::vector<UsageRecord>> ListUsage(
      const SessionId& session) = 0;
  // The totals of one scope in the period containing `at_ms` (default:
  // now); zeros when nothing was recorded. One point read. The name is as
  // in UsageTotalsRow: empty for the store, the id's text for a session.
  // Errors: InvalidArgument (scope or period unknown; day and month totals
  // are kept only for store, session, agent and tag; `at_ms` before 1970
  // or after 9999).
  virtual Result<UsageTotals> GetUsageTotals(
      UsageScope scope, std::string_view name,
      UsagePeriod period = UsagePeriod::kLifetime,
      std::optional<int64_t> at_ms = {}) = 0;
  // Every scope's totals of one kind in one kind of period, ordered by
  // period start, then name. Errors: InvalidArgument as above.
  virtual Result<std::vector<UsageTotalsRow>> ListUsageTotals(
      UsageScope scope, UsagePeriod period) = 0;

  // Sets (creates or replaces) the budget of spec.scope / spec.name in
  // spec.period. Setting the spec a budget has changes nothing. A changed
  // spec keeps the period's spending and the alerts already recorded, but
  // raises its thresholds afresh (a new generation) and lifts an emergency
  // block. A new budget (or one set again after RemoveBudget) reads its
  // period's spending from the totals, which lack the calls in flight at
  // that moment (at most one per writing thread): its spending lacks them
  // until the next open reads the totals again.
  // Errors: InvalidArgument (scope not store, session, agent or tag; name;
  // limit outside 1 to 2^62; thresholds not strictly rising).
  virtual Result<BudgetStatus> SetBudget(const BudgetSpec& spec,
                                         const WriteOptions& wo = {}) = 0;
  // Errors: NotFound, InvalidArgument.
  virtual Status RemoveBudget(UsageScope scope, std::string_view name,
                              UsagePeriod period,
                              const WriteOptions& wo = {}) = 0;
  // Every budget with its current period's spending.
  virtual Result<std::vector<BudgetStatus>> ListBudgets() = 0;
  // Unblocks a budget whose emergency threshold was crossed. Its spending
  // is unchanged: the hard threshold still applies.
  // Errors: NotFound, FailedPrecondition (not blocked).
  virtual Result<BudgetStatus> LiftBudgetBlock(UsageScope scope,
                                               std::string_view name,
                                               UsagePeriod period,
                                               const WriteOptions& wo = {}) = 0;
  // Every alert ever raised, oldest first.
  virtual Result<std::vector<BudgetAlert>> ListAlerts() = 0;
  // A budget's burn rate over the last `window` (1 hour to 31 days, read
  // from day totals: whole UTC days, today included) and where it leads.
  // Errors: NotFound, InvalidArgument.
  virtual Result<BudgetProjection> ProjectBudget(
      UsageScope scope, std::string_view name, UsagePeriod period,
      std::chrono::hours window) = 0;

  // Whether `estimated_tokens` more would fit the session's context window
  // after its current context (Session::context_tokens).
  // Errors: NotFound, FailedPrecondition (the session's context window is
  // unknown: 0), InvalidArgument (estimated_tokens over 2^40).
  virtual Result<ContextPrediction> PredictOverflow(
      const SessionId& session, uint64_t estimated_tokens) = 0;
  // Whether usage recorded in the scope over the last `window` (by this
  // process: the window is kept in memory) is below `max_tokens` and
  // `max_requests` (0: no limit), and if not, how long until it will be.
  // Older usage is kept in coarser buckets of time: the counts may include
  // usage from up to 1/64 of the window before its start, never less than
  // the window holds, and the wait is at most that much longer than exact.
  // Errors: InvalidArgument (window outside 1 ms to
  // Options::max_rate_window, both maxima 0).
  virtual Result<RateDecision> CheckRate(UsageScope scope,
                                         std::string_view name,
                                         std::chrono::milliseconds window,
                                         uint64_t max_tokens,
                                         uint64_t max_requests) = 0;

  // --- Whole store ---

  // Carries out every retention decision now instead of in the background:
  // syncs the WAL, then compacts every column family so that retention
  // filters see every file and blob garbage collection returns the space of
  // dropped payloads, then deletes the stubs of evicted sessions none of
  // whose records is left. Blocks until done; reads and writes go on
  // meanwhile.
  virtual Status Compact() = 0;
  // Backs the whole store up into `backup_dir` (created, mode 0700, when
  // missing) while reads and writes go on. The backup holds every write
  // acknowledged before the call began. Incremental: files the directory
  // already holds are not copied again. Concurrent calls are serialised.
  // Errors: InvalidArgument (`backup_dir` is empty), Busy (another backup
  // or purge, from any process, holds the directory's lock), IOError.
  virtual Result<BackupInfo> Backup(std::string_view backup_dir) = 0;

  // Figures for operators.
  virtual Result<StoreInfo> Info() = 0;
  // Memory the store holds, by part, against Options::memory_budget_bytes.
  // With a budget it also checks the thresholds: crossings go to
  // Options::memory_listener before it returns (unless another thread is
  // delivering already), and an emergency starts a flush of the memtables.
  // Never waits for a writer.
  virtual Result<MemoryReport> MemoryUsage() = 0;
  // Lifecycle counters, memory (checked as by MemoryUsage), sessions by
  // status, retention and column families in one struct (PrometheusText
  // renders it). Cheap: RocksDB properties and in-memory counts, no scan.
  virtual Result<StoreMetrics> Metrics() = 0;
  // Decodes every record of every column family (with Cap'n Proto traversal
  // limits) and checks the cross-record invariants; lists every problem.
  virtual Result<VerifyReport> Verify() = 0;
  // Fsyncs the WAL: every write so far becomes durable against power loss.
  virtual Status SyncWal() = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_STORE_H_
