#ifndef AGENTLOG_BENCH_CHECKPOINT_STORES_H_
#define AGENTLOG_BENCH_CHECKPOINT_STORES_H_

// The ways checkpoint_bench saves and reads checkpoint versions of one
// session (docs/benchmarks.md):
//   agentlog  Store::PutCheckpoint / GetCheckpoint, kBuffered, keep-last 10:
//             LZ4 and XXH3 on the way in, decompression and verification on
//             the way out.
//   rocksdb   Put / Get of the raw bytes in a column family tuned as
//             agentlog's checkpoint_data (BlobDB, no compression), unsynced
//             WAL: the floor for agentlog.
//   sqlite    WAL mode, synchronous=NORMAL; INSERT of the version and
//             DELETE of versions beyond the last 10 in one transaction,
//             SELECT to read.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace agentlog::bench {

// Versions every store keeps, as agentlog's default keep-last.
inline constexpr uint64_t kKeepLast = 10;

// One database with one session's checkpoints. Not thread-safe: the
// benchmarks are single-threaded.
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  // Saves `payload` as the next version (1, 2, ...), unsynced (the WAL is
  // written before the call returns, fsynced later or never). On failure
  // returns false and sets `error`.
  virtual bool Put(std::string_view payload, std::string* error) = 0;
  // Replaces `*payload` with the bytes of `version`, owned by the caller
  // (as agentlog's Checkpoint::payload is).
  virtual bool Get(uint64_t version, std::string* payload,
                   std::string* error) = 0;
  // Moves what was written from memory and logs into the database files, as
  // they are long after the writes: memtables flushed to blob files, SQLite's
  // WAL checkpointed into the database. Outside any timed loop.
  virtual bool Settle(std::string* error) = 0;
};

// Opens a store over a new database in directory `dir`, or returns nullptr
// and sets `error`.
using OpenCheckpointStoreFn = std::unique_ptr<CheckpointStore> (*)(
    const std::string& dir, std::string* error);
std::unique_ptr<CheckpointStore> OpenAgentlogCheckpoints(const std::string& dir,
                                                         std::string* error);
std::unique_ptr<CheckpointStore> OpenRocksDbCheckpoints(const std::string& dir,
                                                        std::string* error);
std::unique_ptr<CheckpointStore> OpenSqliteCheckpoints(const std::string& dir,
                                                       std::string* error);

}  // namespace agentlog::bench

#endif  // AGENTLOG_BENCH_CHECKPOINT_STORES_H_
