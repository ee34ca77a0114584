#ifndef AGENTLOG_BENCH_TURN_WRITERS_H_
#define AGENTLOG_BENCH_TURN_WRITERS_H_

// The ways turn_append_bench commits one turn, each with 512 bytes of user
// text in, 512 bytes of assistant text out, token usage and an idempotency
// key (docs/benchmarks.md):
//   agentlog  Store::AppendTurn: one WriteBatch of turn, idempotency key,
//             input digest, usage record and session totals, after
//             agentlog's own reads (session, idempotency key) and checks.
//   rocksdb   one WriteBatch of the same five keys with the byte sizes
//             agentlog writes, and nothing else: the floor for agentlog.
//             (agentlog's usage totals, buffered and written once per
//             1,024 records, are not in it.)
//   sqlite    WAL mode; BEGIN IMMEDIATE; SELECT turn_count; INSERT turn;
//             UPDATE session; COMMIT, with prepared statements.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace agentlog::bench {

inline constexpr size_t kMessageBytes = 512;
// Turn text per commit: one user and one assistant message.
inline constexpr int64_t kTurnTextBytes = 2 * kMessageBytes;

// One store or database shared by the writer threads of a benchmark run;
// each thread writes the turns of its own session (and, for SQLite, through
// its own connection).
//
// Thread safety: Append may run concurrently for different `thread`s, never
// for the same one.
class TurnWriter {
 public:
  virtual ~TurnWriter() = default;
  // Commits turn `n` (1, 2, ...) of the session of `thread`, one commit.
  // On failure returns false and sets `error`.
  virtual bool Append(int thread, uint64_t n, std::string* error) = 0;
};

// Opens a writer over a new database in directory `dir` for writer threads
// 0 .. threads-1. With `synced` every commit fsyncs before it returns;
// without, the commit reaches the WAL (the OS page cache) unsynced.
// Returns nullptr and sets `error` when it cannot.
using OpenTurnWriterFn = std::unique_ptr<TurnWriter> (*)(const std::string& dir,
                                                         bool synced,
                                                         int threads,
                                                         std::string* error);
std::unique_ptr<TurnWriter> OpenAgentlogWriter(const std::string& dir,
                                               bool synced, int threads,
                                               std::string* error);
std::unique_ptr<TurnWriter> OpenRocksDbWriter(const std::string& dir,
                                              bool synced, int threads,
                                              std::string* error);
std::unique_ptr<TurnWriter> OpenSqliteWriter(const std::string& dir,
                                             bool synced, int threads,
                                             std::string* error);

// Bytes of the encoded turn and session records that one append writes
// (agentlog's own encoding, which the raw RocksDB writer copies).
struct RecordSizes {
  size_t turn = 0;
  size_t session = 0;
};
RecordSizes SampleRecordSizes();

}  // namespace agentlog::bench

#endif  // AGENTLOG_BENCH_TURN_WRITERS_H_
