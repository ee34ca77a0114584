#ifndef AGENTLOG_SRC_STORE_IMPL_H_
#define AGENTLOG_SRC_STORE_IMPL_H_

#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agentlog/store.h"
#include "active_sessions.h"
#include "budget_ledger.h"
#include "checkpoint_payload.h"
#include "column_families.h"
#include "echo.h"
#include "function_ref.h"
#include "memory_budget.h"
#include "periodic_task.h"
#include "price_book.h"
#include "rate_window.h"
#include "read_log.h"
#include "recorded_id_filter.h"
#include "retention.h"
#include "session_index.h"
#include "session_stripes.h"
#include "usage_buffer.h"
#include "usage_id_locks.h"
#include "usage_keys.h"
#include "usage_totals.h"
#include "wal_syncer.h"

namespace agentlog::internal {

struct SessionFacts;  // store_verify.cc

// The Store implementation over RocksDB. Method contracts are in store.h;
// this file is about how: a session's writes happen under its stripe lock as
// read-modify-write of the session record plus the records it governs, all
// in one WriteBatch.
class StoreImpl final : public Store, private BudgetReader {
 public:
  // Used by Store::Open / OpenReadOnly (store_open.cc).
  static Result<std::unique_ptr<StoreImpl>> OpenImpl(const Options& options,
                                                     std::string_view path,
                                                     bool read_only);
  // Store::Open with the store's files reached through `file_system`: a
  // test's, which can show what a power loss would leave.
  static Result<std::unique_ptr<StoreImpl>> TEST_OpenOnFileSystem(
      const Options& options, std::string_view path,
      std::shared_ptr<rocksdb::FileSystem> file_system);
  ~StoreImpl() override;

  const RecoveryReport& recovery_report() const override { return report_; }
  AccessMode access_mode() const override { return mode_; }

  Result<Session> CreateSession(const SessionSpec& spec,
                                const WriteOptions& wo) override;
  Result<Session> GetSession(const SessionId& id) override;
  Result<std::vector<Session>> ListSessions(
      const SessionListOptions& options) override;
  Result<SessionPage> Search(const SessionQuery& query) override;
  Result<SessionStats> Stats() override;
  Result<Session> UpdateSession(const SessionId& id,
                                const SessionUpdate& update,
                                const WriteOptions& wo) override;
  Result<Session> TagSession(const SessionId& id,
                             std::span<const std::string> tags,
                             const WriteOptions& wo) override;
  Result<Session> UntagSession(const SessionId& id,
                               std::span<const std::string> tags,
                               const WriteOptions& wo) override;
  Status TouchSession(const SessionId& id, const WriteOptions& wo) override;
  Status ArchiveSession(const SessionId& id, const WriteOptions& wo) override;
  Status UnarchiveSession(const SessionId& id, const WriteOptions& wo) override;
  Status DeleteSession(const SessionId& id, const WriteOptions& wo) override;

  Result<SessionHandle> AcquireSession(const SessionId& session) override;
  SessionLifecycle Lifecycle() override { return active_->Figures(); }
  Result<ShutdownReport> Shutdown(std::chrono::milliseconds timeout) override;
  Result<RetentionRun> EnforceRetention() override;
  // Deletes the stubs of the evicted sessions compaction has dropped every
  // record of, and forgets their decisions; how many.
  Result<uint64_t> DropEvictionStubs();
  // Whether any per-session family still holds a record of `id`.
  Result<bool> RecordsLeft(const SessionId& id);
  // Set by Shutdown and the destructor: eviction passes stop between
  // sessions, so that neither waits for a whole pass.
  // Writes the read times noted since the last call into the session
  // records (Options::reads_count_as_activity), where they move
  // last_active_ms. Unsynced: a power loss may lose them.
  Status FlushReads();
  bool StopRequested() const {
    return stop_retention_.load(std::memory_order_relaxed);
  }
  // Starts retention_task_ when the options ask for background retention.
  void StartRetentionTask();

  Result<BeginTurnResult> BeginTurn(const SessionId& session,
                                    std::string_view idempotency_key,
                                    std::span<const Message> input,
                                    const WriteOptions& wo) override;
  Result<Turn> CompleteTurn(const SessionId& session, uint64_t number,
                            std::span<const Message> output,
                            const TurnUsage& usage,
                            const WriteOptions& wo) override;
  Result<Turn> FailTurn(const SessionId& session, uint64_t number,
                        std::string_view error,
                        const WriteOptions& wo) override;
  Result<BeginTurnResult> AppendTurn(const SessionId& session,
                                     std::string_view idempotency_key,
                                     std::span<const Message> input,
                                     std::span<const Message> output,
                                     const TurnUsage& usage,
                                     const WriteOptions& wo) override;
  Result<Turn> GetTurn(const SessionId& session, uint64_t number) override;
  Result<Turn> GetTurnByKey(const SessionId& session,
                            std::string_view idempotency_key) override;
  Result<std::vector<Turn>> ListTurns(const SessionId& session,
                                      const TurnListOptions& options) override;
  Result<std::optional<uint64_t>> FindInput(const SessionId& session,
                                            const InputDigest& digest) override;
  Result<Turn> PopTurn(const SessionId& session,
                       const WriteOptions& wo) override;
  Status ClearTurns(const SessionId& session, const WriteOptions& wo) override;

  Result<CheckpointInfo> PutCheckpoint(const SessionId& session,
                                       const CheckpointSpec& spec,
                                       const WriteOptions& wo) override;
  Result<Checkpoint> GetCheckpoint(const SessionId& session,
                                   std::optional<uint64_t> version) override;
  Result<std::vector<CheckpointInfo>> ListCheckpoints(
      const SessionId& session) override;
  Result<Session> SetCheckpointRetention(const SessionId& session,
                                         uint32_t keep_last,
                                         const WriteOptions& wo) override;
  Result<TurnWithCheckpoint> CompleteTurnWithCheckpoint(
      const SessionId& session, uint64_t number,
      std::span<const Message> output, const TurnUsage& usage,
      const CheckpointSpec& checkpoint, const WriteOptions& wo) override;

  Result<Lease> AcquireLease(const SessionId& session, std::string_view owner,
                             std::chrono::milliseconds ttl,
                             std::chrono::milliseconds wait_timeout,
                             const WriteOptions& wo) override;
  Result<Lease> RenewLease(const SessionId& session, uint64_t token,
                           std::chrono::milliseconds ttl,
                           const WriteOptions& wo) override;
  Status ReleaseLease(const SessionId& session, uint64_t token,
                      const WriteOptions& wo) override;
  Status ForceReleaseLease(const SessionId& session,
                           const WriteOptions& wo) override;
  Result<Lease> GetLease(const SessionId& session) override;

  Result<RunOnceOutcome> RunOnce(
      std::string_view key, std::chrono::milliseconds ttl,
      const std::function<Result<std::string>()>& operation,
      const WriteOptions& wo) override;
  Result<RunOnceOutcome> GetRunOnce(std::string_view key) override;

  Result<EchoVerdict> CheckEcho(const SessionId& session,
                                std::string_view text) override;
  Result<EchoStats> GetEchoStats(const SessionId& session) override;

  Result<PriceVersion> SetPrice(const ModelPrice& price,
                                std::optional<int64_t> effective_ms,
                                const WriteOptions& wo) override;
  Result<std::vector<PriceVersion>> ListPrices() override;
  Result<RecordUsageResult> RecordUsage(const SessionId& session,
                                        const UsageSpec& usage,
                                        const WriteOptions& wo) override;
  Result<TurnWithUsage> CompleteTurnWithUsage(const SessionId& session,
                                              uint64_t number,
                                              std::span<const Message> output,
                                              std::span<const UsageSpec> usage,
                                              const WriteOptions& wo) override;
  Result<std::vector<UsageRecord>> ListUsage(const SessionId& session) override;
  Result<UsageTotals> GetUsageTotals(UsageScope scope, std::string_view name,
                                     UsagePeriod period,
                                     std::optional<int64_t> at_ms) override;
  Result<std::vector<UsageTotalsRow>> ListUsageTotals(
      UsageScope scope, UsagePeriod period) override;
  Result<BudgetStatus> SetBudget(const BudgetSpec& spec,
                                 const WriteOptions& wo) override;
  Status RemoveBudget(UsageScope scope, std::string_view name,
                      UsagePeriod period, const WriteOptions& wo) override;
  Result<std::vector<BudgetStatus>> ListBudgets() override;
  Result<BudgetStatus> LiftBudgetBlock(UsageScope scope, std::string_view name,
                                       UsagePeriod period,
                                       const WriteOptions& wo) override;
  Result<std::vector<BudgetAlert>> ListAlerts() override;
  Result<BudgetProjection> ProjectBudget(UsageScope scope,
                                         std::string_view name,
                                         UsagePeriod period,
                                         std::chrono::hours window) override;
  Result<ContextPrediction> PredictOverflow(const SessionId& session,
                                            uint64_t estimated_tokens) override;
  Result<RateDecision> CheckRate(UsageScope scope, std::string_view name,
                                 std::chrono::milliseconds window,
                                 uint64_t max_tokens,
                                 uint64_t max_requests) override;

  Result<StoreInfo> Info() override;
  Result<MemoryReport> MemoryUsage() override;
  Result<StoreMetrics> Metrics() override;
  Result<VerifyReport> Verify() override;
  Status SyncWal() override;
  Status Compact() override;
  Result<BackupInfo> Backup(std::string_view backup_dir) override;

  // --- For the agentlog command and tests ---

  // The handle of `cf`, or nullptr when the store has no such column family
  // (an older store opened read-only).
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const {
    return handles_[static_cast<size_t>(cf)];
  }
  rocksdb::DB* db() const { return db_.get(); }
  // The in-memory session index.
  const SessionIndex& index() const { return index_; }
  // Retention decisions as the compaction filters see them.
  RetentionDecisions& retention() { return *retention_; }
  // Waits until automatic compactions, held back while open scans, are on
  // again (Initialise turns them on from a thread of their own).
  void TEST_WaitForCompactionsEnabled();
  // Waits until the filter of recorded message ids has read `usage_ids`
  // (recorded_id_filter.h); returns whether it answers.
  bool TEST_WaitForRecordedIds();
  // Table and blob bytes from which open holds compactions back while it
  // scans (Initialise). Holding them back costs writers a stall after the
  // open; letting them run cost the open of 10^6 sessions (between 32 and
  // 256 MiB of tables) 0.1 s.
  static constexpr uint64_t kHoldCompactionsFrom = uint64_t{32} << 20;
  // Opens from now on hold compactions back from `table_bytes` on instead.
  static void TEST_SetHoldCompactionsFrom(uint64_t table_bytes);
  // Whether the last open read the totals marks (it skips them when the
  // store is as a clean close left it).
  bool TEST_ReadTotalsMarks() const { return read_totals_marks_; }
  // Whether a write awaits the background WAL sync (Durability::kBuffered).
  bool TEST_WalSyncPending() const {
    return syncer_ != nullptr && syncer_->dirty();
  }

  // A consistent view for a read that spans several records: a RocksDB
  // snapshot on a writable store. A read-only or secondary instance needs
  // none (and a secondary cannot take one): its view only moves when it
  // catches up with the primary, which agentlog does only at open.
  class ReadView {
   public:
    explicit ReadView(const StoreImpl& store)
        : db_(store.db_.get()),
          snapshot_(store.mode_ == AccessMode::kReadWrite ? db_->GetSnapshot()
                                                          : nullptr) {}
    ~ReadView() {
      if (snapshot_ != nullptr) db_->ReleaseSnapshot(snapshot_);
    }
    ReadView(const ReadView&) = delete;
    ReadView& operator=(const ReadView&) = delete;
    const rocksdb::Snapshot* snapshot() const { return snapshot_; }

   private:
    rocksdb::DB* const db_;
    const rocksdb::Snapshot* const snapshot_;
  };

 private:
  // The body of a session mutation: edits `session` and adds the records it
  // governs to `batch`. Returns false to write nothing (a replay).
  using Mutation =
      FunctionRef<Result<bool>(Session& session, rocksdb::WriteBatch& batch)>;

  StoreImpl() = default;

  // OpenImpl, a writable store's files reached through `file_system`.
  static Result<std::unique_ptr<StoreImpl>> OpenOn(
      const Options& options, std::string_view path, bool read_only,
      std::shared_ptr<rocksdb::FileSystem> file_system);
  Status Initialise(const Options& options, std::string_view path,
                    bool read_only,
                    std::shared_ptr<rocksdb::FileSystem> file_system);
  // Reads the format version into the report; refuses a newer one.
  Status CheckFormatVersion();
  // The recovery scan: counts sessions, lists processing turns, hands
  // checkpoint floors to retention and replays usage totals. Writes an older
  // store's upgrade needs go into `upgrade`.
  Status Recover(rocksdb::WriteBatch* upgrade);
  // Writes `upgrade` with the current format version, synced, when the
  // store is older and open for writing.
  Status Upgrade(rocksdb::WriteBatch* upgrade);
  bool ColumnFamilyEmpty(Cf cf);
  // Whether meta/totals_closed_at names the latest sequence number: the
  // store is as a clean close left it, its totals marks all current.
  bool TotalsCurrentSinceClose();
  // Writes meta/totals_closed_at; the destructor's last write, after the
  // totals were flushed.
  void WriteTotalsClosedAt();

  Status CheckWritable() const;
  int64_t Now() const { return clock_->NowMillis(); }
  // Writes `batch`, which changes session `id`, with the durability `wo`
  // asks for (or the store's).
  Status Write(rocksdb::WriteBatch* batch, const WriteOptions& wo,
               const SessionId& id);
  rocksdb::Status WriteRaw(rocksdb::WriteBatch* batch, const WriteOptions& wo);
  // The durability `wo` asks for: its own, or the store's default.
  Durability DurabilityOf(const WriteOptions& wo) const {
    return wo.durability.value_or(options_.durability);
  }
  // For a call that succeeds without writing because an earlier write
  // answers it (a replayed idempotency key, a duplicate message id, a
  // run-once key on record, a lease released already, a budget set to the
  // spec it has): that write may have been made with a weaker durability
  // than `wo` asks of this call, and may still be unsynced in the WAL, so it
  // is made as durable as `wo` asks before the call returns.
  Status MakeReplayDurable(const WriteOptions& wo);
  // Notes a read of `id` for FlushReads.
  void NoteRead(const SessionId& id) {
    if (track_reads_) reads_.Note(id, Now());
  }
  // Reads and decodes. `snapshot` may be null.
  Result<Session> LoadSession(const SessionId& id,
                              const rocksdb::Snapshot* snapshot = nullptr);
  Result<Turn> LoadTurn(const SessionId& id, uint64_t number,
                        const rocksdb::Snapshot* snapshot = nullptr);
  // LoadTurn for a reader of `session` (as read at `snapshot`): NotFound
  // naming the age floor for a turn pruned by age, also when it was pruned
  // after the snapshot.
  Result<Turn> LoadKeptTurn(const SessionId& id, uint64_t number,
                            const Session& session,
                            const rocksdb::Snapshot* snapshot);
  // Under `stripe`'s lock: session `id` from the stripe's cache, loaded
  // into it when not there.
  Result<Session*> CachedSession(SessionStripes::Stripe& stripe,
                                 const SessionId& id);
  // Under the session's lock: load (from the stripe's cache when there),
  // check it is writable (unless `allow_archived`), run `mutation`, admit
  // the usage it added to `usage` (if given: AdmitUsage), stamp
  // last-active, write, copy the result to `out` if given, and queue the
  // records of `usage` for usage_buffer_ before the lock goes.
  // `batch_bytes` is a size hint that saves the batch reallocating.
  struct UsageWrite;
  Status MutateSession(const SessionId& id, const WriteOptions& wo,
                       bool allow_archived, Mutation mutation,
                       Session* out = nullptr, size_t batch_bytes = 0,
                       UsageWrite* usage = nullptr);
  // Adds the put of `session` to `batch`.
  void PutSession(rocksdb::WriteBatch* batch, const Session& session);
  // Adds range deletions of every key of `id` in `families` (per-session
  // families only) to `batch`.
  void DeleteRanges(rocksdb::WriteBatch* batch, const SessionId& id,
                    std::initializer_list<Cf> families);
  // Adds a point deletion of every usage record of `id` on disk to
  // `batch`. REQUIRES: the session's lock held.
  Status DeleteUsageRecords(const SessionId& id, rocksdb::WriteBatch& batch);
  // Adds version s.last_checkpoint + 1 to `batch` and moves the session's
  // checkpoint counters (under its lock); describes it in `info`.
  Status AddCheckpoint(Session& s, rocksdb::WriteBatch& batch,
                       const EncodedPayload& payload,
                       const CheckpointSpec& spec, CheckpointInfo* info);
  // Hands the session's checkpoint floor to the retention filters once the
  // write that set it is durable (now, under kSync).
  void PublishFloors(const Session& session, const WriteOptions& wo);
  // Hands a retention decision about `id`, just written with `wo`, to the
  // filters once that write is durable.
  void PublishDecision(const SessionId& id, const SessionFloors& floors,
                       const WriteOptions& wo);

  // --- Eviction (eviction_ops.cc) ---

  // Evicts `id` under its lock unless it is gone, pinned, held through a
  // handle, or `still_due` says no (the reason it was chosen no longer
  // holds). True when it did.
  Result<bool> EvictSession(const SessionId& id,
                            FunctionRef<bool(const Session&)> still_due);
  // Evicts until the store is within Options::max_sessions; counts what it
  // evicted in `run` (may be null).
  Status EnforceSessionLimit(RetentionRun* run);
  // Whether the LRU policies (max_sessions, max_bytes) pass over `id`:
  // held through a handle, or read since reads were last written.
  bool SpareFromLru(const SessionId& id);
  // Evicts until the store's bytes, less what evicted sessions still hold,
  // are within Options::max_bytes; counts them in `run` (may be null).
  Status EnforceByteLimit(RetentionRun* run);
  // The bytes of the store's SST and blob files, blob garbage excluded.
  Result<uint64_t> StoreBytes();
  // The bytes the records of `id` take in files: RocksDB's estimate for
  // its key ranges, plus its blob payloads as their headers give them.
  Result<uint64_t> SessionBytes(const SessionId& id);
  // Evicts the sessions of `status` inactive for longer than `limit`.
  Result<uint64_t> EvictInactive(SessionStatus status,
                                 std::chrono::seconds limit);

  // --- Retention by age (age_retention_ops.cc) ---

  // Prunes the turns, usage records and checkpoint versions
  // Options::turn_max_age, usage_max_age and checkpoint_max_age say are too
  // old; counts them in `run`.
  Status PruneByAge(RetentionRun* run);
  // The cutoffs of one session status: records older than these go
  // (nullopt: that kind is kept).
  struct AgeCutoffs {
    std::optional<int64_t> turn;
    std::optional<int64_t> usage;
    std::optional<int64_t> checkpoint;
  };
  // Prunes, under its lock, the records of `id` older than `cutoffs`
  // unless it is gone, pinned or no longer of `status`.
  Status PruneSession(const SessionId& id, SessionStatus status,
                      const AgeCutoffs& cutoffs, RetentionRun* run);
  // The first turn of `s` from its floor on that is not final and older
  // than `cutoff`: its new floor.
  Result<uint64_t> TurnFloorAt(const Session& s, int64_t cutoff);
  // Likewise for its usage records, and for its checkpoint versions (never
  // past the newest).
  Result<uint64_t> UsageFloorAt(const Session& s, int64_t cutoff);
  Result<uint64_t> CheckpointFloorAt(const Session& s, int64_t cutoff);
  // Verify's passes over the checkpoint and usage families.
  // True when `id` reads as NotFound now: evicted or deleted after a
  // reader's snapshot, whose records compaction may have dropped under it
  // (filters do not respect snapshots).
  bool GoneNow(const SessionId& id) {
    return LoadSession(id).status().IsNotFound();
  }
  // True when the turn (usage) floor of `id` is above `floor` now: its
  // records below the new floor may be gone from under a reader's
  // snapshot that saw `floor`.
  bool TurnsPrunedSince(const SessionId& id, uint64_t floor) {
    const Result<Session> now = LoadSession(id);
    return now.ok() && now->oldest_turn > floor;
  }
  bool UsagePrunedSince(const SessionId& id, uint64_t floor) {
    const Result<Session> now = LoadSession(id);
    return now.ok() && now->oldest_usage > floor;
  }
  // `evicted`: sessions whose records await compaction, not checked.
  Status VerifyCheckpoints(const rocksdb::ReadOptions& ro,
                           std::map<SessionId, SessionFacts>& sessions,
                           const std::set<SessionId>& evicted,
                           VerifyReport& report);
  Status VerifyUsage(
      const rocksdb::ReadOptions& ro,
      std::map<SessionId, SessionFacts>& sessions,
      const std::set<SessionId>& evicted,
      std::span<const std::pair<std::string, UsageRef>> pending_ids,
      VerifyReport& report);
  // Fsyncs the WAL and makes the retention decisions it covers take effect.
  Status SyncWalAndRetention();
  // Refuses (Conflict) a write whose fencing token is not the session's
  // current lease token.
  static Status CheckFencing(const Session& session, const WriteOptions& wo);
  // Tells AcquireLease calls waiting on a held lease that one was released.
  void WakeLeaseWaiters();
  // The common part of BeginTurn and AppendTurn; `echo` is the
  // fingerprint of `output` when echo detection is on.
  Result<BeginTurnResult> StartTurn(const SessionId& session,
                                    std::string_view idempotency_key,
                                    std::span<const Message> input,
                                    std::span<const Message> output,
                                    const TurnUsage* usage,
                                    const EchoFingerprint* echo,
                                    const WriteOptions& wo);
  // Moves a processing turn to a final state; `echo` is the fingerprint of
  // the response of a completion (null for a failure).
  // With `also`, the records it adds go into the same batch (a checkpoint).
  using AlsoWrite = FunctionRef<Status(Session&, rocksdb::WriteBatch&)>;
  Result<Turn> FinishTurn(const SessionId& session, uint64_t number,
                          const WriteOptions& wo,
                          FunctionRef<Status(Session&, Turn&,
                                             rocksdb::WriteBatch&)> finish,
                          const EchoFingerprint* echo,
                          const AlsoWrite* also = nullptr,
                          Session* session_out = nullptr,
                          size_t batch_bytes = 0,
                          UsageWrite* usage = nullptr);
  // Completes a processing turn with `output` and the usage records of
  // `usage`, already validated: fingerprints the output for echo detection,
  // then FinishTurn. The common part of CompleteTurn,
  // CompleteTurnWithCheckpoint and CompleteTurnWithUsage; `results` (if
  // given) receives what each UsageSpec became.
  Result<Turn> CompleteValidated(
      const SessionId& session, uint64_t number,
      std::span<const Message> output, std::span<const UsageSpec> usage,
      const WriteOptions& wo, const AlsoWrite* also = nullptr,
      Session* session_out = nullptr, size_t batch_bytes = 0,
      std::vector<RecordUsageResult>* results = nullptr);

  // --- Usage (usage_ops.cc) ---

  // The usage of one write, built under the session's lock by AddUsage:
  // what each spec became (queued for usage_buffer_ once the write is
  // acknowledged) and what the turn's TurnUsage sums to; and by AdmitUsage,
  // the spend admitted to the budgets (taken back unless FinishUsage is
  // called).
  struct UsageWrite {
    int64_t now_ms = 0;
    std::vector<RecordUsageResult> results;
    TurnUsage sum;  // Records written (duplicates excluded).
    BudgetLedger::Admission admission;
    uint64_t records = 0;      // Written (duplicates excluded).
    uint64_t through_seq = 0;  // The session's last usage seq after them.
    bool enforce_budgets = false;  // New work, not a completion.
  };
  // A TurnUsage given to CompleteTurn or AppendTurn as a usage spec:
  // nullopt when it is all zero.
  static std::optional<UsageSpec> ImplicitUsage(const TurnUsage& usage);
  // Under the session's lock: adds the records of `specs` for turn `turn`
  // (0: none) of `s` to `batch` (their totals and message ids go to
  // usage_buffer_ once the write is acknowledged: AccountUsage). Budgets
  // are charged later, by AdmitUsage; `enforce_budgets` (new work, not the
  // completion of a turn already begun) says whether they may refuse it.
  Status AddUsage(Session& s, uint64_t turn, std::span<const UsageSpec> specs,
                  bool enforce_budgets, const WriteOptions& wo,
                  rocksdb::WriteBatch& batch, UsageWrite& out);
  // Under the session's lock, once everything else of the write is in
  // `batch`: charges the budgets of `s` with what AddUsage recorded in `w`,
  // refusing (BudgetExceeded) what one forbids, and adds the alerts it
  // raises to `batch`. Last, so that only the write itself can fail after
  // it: an admission rolled back once others were admitted after it would
  // take back an alert whose threshold their spending still crosses.
  Status AdmitUsage(const Session& s, const WriteOptions& wo,
                    rocksdb::WriteBatch& batch, UsageWrite& w);
  // The time usage is recorded at: the clock, but never earlier than any
  // usage time before (open starts it at the latest last activity of any
  // session), so that a clock stepped back, before a restart or not,
  // neither files spending in a period that ended nor leaves budgets
  // unenforced until it catches up.
  int64_t UsageNow();
  // Under the session's lock, before its tags change: open replays the
  // records past a session's totals mark under the tags it has then.
  Status FlushTotalsBeforeRetag(const SessionId& id) {
    return usage_buffer_->FlushSession(id);
  }
  // Under the session's lock (and the id locks), once the write of `w` was
  // acknowledged: queues its records for usage_buffer_, which adds them to
  // the totals, the message ids and the rate windows under the scopes `s`
  // has (draining the queue here should the buffer's thread be behind).
  void AccountUsage(const Session& s, const UsageWrite& w);
  // After the write of `w` was acknowledged: keeps its spend and delivers
  // its alerts. Call with no lock held.
  void FinishUsage(UsageWrite& w);
  // At open: adds the records of `s` after `mark` (the seq the totals and
  // message ids on disk include) to usage_buffer_, read at `snapshot`; what
  // does not decode goes to the recovery report.
  Status ReplayUsage(const Session& s, uint64_t mark,
                     const rocksdb::Snapshot* snapshot);
  // The record `message_id` names, if recorded; of a deleted session only
  // its session, seq and message id.
  Result<std::optional<UsageRecord>> FindUsageById(std::string_view message_id);
  // At the end of a writable open: creates recorded_ids_ and starts its
  // loader.
  void StartRecordedIds();
  // Takes the stripe locks of the message ids of `specs`, having started
  // to read their words of recorded_ids_ for FindUsageById.
  UsageIdLocks::Held LockUsageIds(std::span<const UsageSpec> specs);
  // Refuses (BudgetExceeded) beginning work in `s`'s scopes, per the
  // budgets and `wo`.
  Status CheckBudgets(const Session& s, const WriteOptions& wo);
  // Writes (or, for null, deletes) a budget's record in meta.
  Status PersistBudget(const std::string& key, const StoredBudget* budget,
                       const WriteOptions& wo);
  // Loads prices, budgets and alerts at open.
  Status LoadUsageState();
  // The totals under `key`; zeros when none were recorded.
  Result<UsageTotals> ReadTotals(const TotalsKey& key);
  // BudgetReader.
  Result<int64_t> SpentIn(UsageScope scope, std::string_view name,
                          UsagePeriod period, uint32_t index) override;
  Result<bool> AlertRaised(std::string_view alert_key) override;

  // --- Echo detection (echo_ops.cc) ---

  // The fingerprint of a response, computed before the session's lock is
  // taken; nullopt when echo detection is off.
  std::optional<EchoFingerprint> FingerprintForEcho(
      std::span<const Message> output) const;
  // Under the session's lock, with `s` cached: its echo window, rebuilt from
  // the turn log when not in memory.
  Result<EchoWindow*> EchoWindowFor(const Session& s);
  // Under the session's lock, for turn `t` completing with a response of
  // fingerprint `fp` (ignored when null): judges it against the window,
  // refuses an exact echo if `wo` says so, records the verdict in `t` and
  // `s`, and remembers the response. The window is changed before the
  // write; MutateSession drops the cache entry, window included, should the
  // write fail.
  Status RecordEcho(Session& s, Turn& t, const EchoFingerprint* fp,
                    const WriteOptions& wo);
  // Under the session's lock: takes a removed completed turn's verdict out
  // of `s`'s counts and drops the session's window.
  void ForgetEcho(Session& s, const Turn& removed);
  // Under the session's lock: drops its window, rebuilt on next use. For a
  // change that removes turns; should the write fail, MutateSession drops
  // the whole cache entry anyway.
  void DropEchoWindow(const SessionId& id);

  Options options_;
  std::shared_ptr<Clock> clock_;
  std::string path_;
  AccessMode mode_ = AccessMode::kReadWrite;
  // Set once Open has succeeded. Only then does closing write (the totals,
  // read activity, the clean-close stamp): a store whose open failed may be
  // of a newer format, or half recovered, and its clean-close stamp would
  // tell the next open that every session's totals are current.
  bool open_complete_ = false;
  std::string secondary_dir_;  // Removed on close; empty unless kSecondary.
  RecoveryReport report_;
  bool read_totals_marks_ = false;  // TEST_ReadTotalsMarks.

  // Declared before db_ so that they outlive it.
  std::unique_ptr<rocksdb::Env> env_;
  std::shared_ptr<rocksdb::Cache> block_cache_;  // Shared by every family.
  // With a memory budget: every memtable, charged to block_cache_.
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> owned_handles_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<size_t>(Cf::kCount)>
      handles_{};
  std::unique_ptr<WalSyncer> syncer_;
  // Turns automatic compactions back on after the recovery scan (a
  // writable store), then ends; joined by the destructor before db_ closes.
  std::thread compactions_on_;
  SessionStripes stripes_;
  // Reads not yet written as activity (Options::reads_count_as_activity,
  // on a writable store).
  ReadLog reads_;
  bool track_reads_ = false;
  SessionIndex index_;
  // Handles, lifecycle counters, shutdown. Set by Initialise.
  std::shared_ptr<ActiveSessions> active_;
  // One eviction pass at a time, so that two never pick the same victims
  // or evict twice the excess they both saw.
  std::mutex eviction_mu_;
  // One pass of retention by age at a time; not eviction_mu_, which
  // creations at the max_sessions cap take, while a pass may walk every
  // session.
  std::mutex age_mu_;
  // For each session status, the cutoffs of the last pass of retention by
  // age that went through all its sessions: a session inactive since
  // then has nothing newer to prune. Guarded by age_mu_.
  std::array<AgeCutoffs, 3> pruned_through_;
  // Runs EnforceRetention every Options::retention_check_interval when
  // max_sessions or evict_inactive_after is set.
  std::unique_ptr<PeriodicTask> retention_task_;
  // The memory budget's thresholds (memory_budget.h); set by Initialise.
  // memory_task_ checks them every Options::memory_check_interval when the
  // store has a budget.
  std::unique_ptr<MemoryMonitor> memory_;
  std::unique_ptr<PeriodicTask> memory_task_;
  std::atomic<bool> stop_retention_{false};
  std::mutex shutdown_mu_;  // One Shutdown at a time.
  std::shared_ptr<RetentionDecisions> retention_ =
      std::make_shared<RetentionDecisions>();
  // The retention filter of each family retention covers, else null.
  std::array<std::shared_ptr<CountingFilterFactory>,
             static_cast<size_t>(Cf::kCount)>
      retention_filters_{};
  // Off until DB::Open has replayed the WAL (column_families.h).
  const std::shared_ptr<InsertHintsOn> insert_hints_on_ =
      std::make_shared<InsertHintsOn>(false);
  // RunOnce: keys whose operation is running now, each with what its
  // waiters wait on. Guarded by run_once_mu_.
  struct RunningOnce;
  std::mutex run_once_mu_;
  std::map<std::string, std::shared_ptr<RunningOnce>, std::less<>>
      running_once_;
  std::mutex backup_mu_;  // One BackupEngine writer at a time.
  // Usage.
  PriceBook prices_;
  std::mutex set_price_mu_;  // Numbers price versions one at a time.
  BudgetLedger budgets_{this};
  std::unique_ptr<RateWindows> rates_;  // Set by Recover.
  std::atomic<int64_t> usage_clock_ms_{0};
  // Set by Recover; feeds rates_, so declared after it.
  std::unique_ptr<UsageBuffer> usage_buffer_;
  UsageIdLocks usage_id_locks_;
  // Every message id counted, once its loader has read `usage_ids`
  // through; null for a store opened read-only. The loader starts at the
  // end of open and is stopped by the destructor before db_ closes.
  std::unique_ptr<RecordedIdFilter> recorded_ids_;
  std::jthread recorded_ids_loader_;
  // AcquireLease waiters sleep on lease_cv_; every release bumps
  // lease_releases_ (guarded by lease_mu_) and wakes them.
  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  uint64_t lease_releases_ = 0;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_STORE_IMPL_H_
