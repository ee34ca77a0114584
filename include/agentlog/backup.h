#ifndef AGENTLOG_BACKUP_H_
#define AGENTLOG_BACKUP_H_

// Backups of whole stores, made by Store::Backup with RocksDB's BackupEngine.
// A backup directory holds any number of backups of one store; each backup
// shares the files it has in common with earlier ones (incremental), and
// every file carries a checksum.
//
// These functions work on a backup directory alone: no store need be open.
// Store::Backup and PurgeBackups change a backup directory; each takes the
// directory's lock file (agentlog.lock) and gets Busy while another process
// holds it. Listing, verifying and restoring only read.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/result.h"
#include "agentlog/status.h"

namespace agentlog {

struct BackupInfo {
  uint32_t id = 0;             // 1, 2, 3... within a backup directory.
  int64_t timestamp_s = 0;     // Unix seconds when the backup was taken.
  uint64_t bytes = 0;          // Bytes of the files of this backup.
  uint32_t files = 0;          // Files in this backup.
};

// Backups in `backup_dir`, oldest first. Errors: NotFound (no backup there).
AGENTLOG_EXPORT Result<std::vector<BackupInfo>> ListBackups(
    std::string_view backup_dir);

// Reads every file of backup `id` and checks its size and checksum.
// Errors: NotFound, Corruption naming the file.
AGENTLOG_EXPORT Status VerifyBackup(std::string_view backup_dir, uint32_t id);

// Deletes all but the newest `keep` backups (and files no longer shared).
// Errors: InvalidArgument when keep is 0, Busy while a backup is running.
AGENTLOG_EXPORT Status PurgeBackups(std::string_view backup_dir, uint32_t keep);

// Restores backup `id` (the newest when empty) into `target_dir`, which must
// not exist or be empty: a restore never overwrites a store. The result is a
// complete store that Store::Open opens.
// Errors: NotFound, AlreadyExists (non-empty target), Corruption.
AGENTLOG_EXPORT Status RestoreBackup(std::string_view backup_dir,
                                     std::optional<uint32_t> id,
                                     std::string_view target_dir);

}  // namespace agentlog

#endif  // AGENTLOG_BACKUP_H_
