// Backups with RocksDB's BackupEngine: StoreImpl::Backup and the functions
// of backup.h that work on a backup directory alone.

#include "agentlog/backup.h"

#include <fmt/format.h>
#include <rocksdb/utilities/backup_engine.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <system_error>

#include "private_file_system.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"

namespace agentlog {
namespace internal {
namespace {

namespace fs = std::filesystem;

// Creates `dir` (and parents) with mode 0700 when missing: a backup holds
// the same private data as the store.
Status MakePrivateDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::OK();
  fs::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) {
    return Status::IOError(fmt::format("cannot create directory '{}': {}", dir,
                                       ec ? ec.message() : "chmod failed"));
  }
  return Status::OK();
}

BackupInfo FromEngineInfo(const rocksdb::BackupInfo& in) {
  BackupInfo out;
  out.id = in.backup_id;
  out.timestamp_s = in.timestamp;
  out.bytes = in.size;
  out.files = in.number_files;
  return out;
}

// An exclusive hold on a backup directory for the writers of BackupEngine
// (backup, purge): RocksDB allows one at a time, across processes too, and
// a purge's garbage collection would delete a running backup's new files.
class BackupDirLock {
 public:
  ~BackupDirLock() {
    if (fd_ >= 0) ::close(fd_);  // Releases the flock.
  }
  Status Acquire(const std::string& dir) {
    const std::string path = dir + "/agentlog.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      return Status::IOError(fmt::format("cannot open '{}': {}", path,
                                         std::strerror(errno)));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::Busy(fmt::format(
          "another backup or purge is running in '{}'", dir));
    }
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

Status NoBackups(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir + "/meta", ec)) {
    return Status::NotFound(fmt::format("no backups in '{}'", dir));
  }
  return Status::OK();
}

// A read-only backup engine over an existing backup directory. Restored
// files are created 0600 through the private Env.
class EngineReader {
 public:
  Status Open(std::string_view backup_dir) {
    dir_ = std::string(backup_dir);
    AGENTLOG_RETURN_IF_ERROR(NoBackups(dir_));
    env_ = NewPrivateEnv();
    rocksdb::BackupEngineOptions options(dir_, env_.get());
    rocksdb::BackupEngineReadOnly* engine = nullptr;
    AGENTLOG_RETURN_IF_ERROR(FromRocksDB(
        rocksdb::BackupEngineReadOnly::Open(options, env_.get(), &engine),
        "open backup directory '" + dir_ + "'"));
    engine_.reset(engine);
    return Status::OK();
  }
  rocksdb::BackupEngineReadOnly* operator->() { return engine_.get(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine_;
};

// A writable backup engine, opened under the directory's lock.
struct EngineWriter {
  BackupDirLock lock;
  std::unique_ptr<rocksdb::Env> env;
  std::unique_ptr<rocksdb::BackupEngine> engine;

  Status Open(const std::string& dir, int threads) {
    AGENTLOG_RETURN_IF_ERROR(lock.Acquire(dir));
    env = NewPrivateEnv();
    rocksdb::BackupEngineOptions options(dir, env.get());
    options.max_background_operations = threads;
    rocksdb::BackupEngine* raw = nullptr;
    AGENTLOG_RETURN_IF_ERROR(
        FromRocksDB(rocksdb::BackupEngine::Open(options, env.get(), &raw),
                    "open backup directory '" + dir + "'"));
    engine.reset(raw);
    return Status::OK();
  }
};

}  // namespace

Result<BackupInfo> StoreImpl::Backup(std::string_view backup_dir) {
  const std::string dir(backup_dir);
  if (dir.empty()) return Status::InvalidArgument("backup_dir is empty");
  std::lock_guard<std::mutex> lock(backup_mu_);
  AGENTLOG_RETURN_IF_ERROR(MakePrivateDirectory(dir));
  EngineWriter writer;
  AGENTLOG_RETURN_IF_ERROR(writer.Open(dir, options_.background_jobs));
  rocksdb::BackupEngine* engine = writer.engine.get();
  // No flush first: the live WAL is copied up to its current end, so the
  // backup holds every write acknowledged before this call without forcing
  // memtables to disk. Deletion of obsolete files is held off meanwhile.
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = false;
  rocksdb::BackupID id = 0;
  AGENTLOG_RETURN_IF_ERROR(
      FromRocksDB(engine->CreateNewBackupWithMetadata(
                      create, db_.get(),
                      fmt::format("agentlog format {}", report_.format_version),
                      &id),
                  "back up store '" + path_ + "' into '" + dir + "'"));
  rocksdb::BackupInfo info;
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(engine->GetBackupInfo(id, &info),
                                       "read the new backup's description"));
  return FromEngineInfo(info);
}

}  // namespace internal

Result<std::vector<BackupInfo>> ListBackups(std::string_view backup_dir) {
  internal::EngineReader engine;
  AGENTLOG_RETURN_IF_ERROR(engine.Open(backup_dir));
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  std::vector<BackupInfo> out;
  for (const auto& info : infos) out.push_back(internal::FromEngineInfo(info));
  return out;
}

Status VerifyBackup(std::string_view backup_dir, uint32_t id) {
  internal::EngineReader engine;
  AGENTLOG_RETURN_IF_ERROR(engine.Open(backup_dir));
  return internal::FromRocksDB(
      engine->VerifyBackup(id, /*verify_with_checksum=*/true),
      fmt::format("verify backup {} in '{}'", id, engine.dir()));
}

Status PurgeBackups(std::string_view backup_dir, uint32_t keep) {
  if (keep == 0) {
    return Status::InvalidArgument(
        "keep is 0; at least the newest backup must be kept");
  }
  const std::string dir(backup_dir);
  AGENTLOG_RETURN_IF_ERROR(internal::NoBackups(dir));
  internal::EngineWriter writer;
  AGENTLOG_RETURN_IF_ERROR(writer.Open(dir, 1));
  return internal::FromRocksDB(writer.engine->PurgeOldBackups(keep),
                               fmt::format("purge backups in '{}'", dir));
}

Status RestoreBackup(std::string_view backup_dir, std::optional<uint32_t> id,
                     std::string_view target_dir) {
  namespace fs = std::filesystem;
  const std::string target(target_dir);
  if (target.empty()) return Status::InvalidArgument("target_dir is empty");
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_empty(target, ec)) {
    return Status::AlreadyExists(fmt::format(
        "restore target '{}' is not empty; a restore never overwrites a "
        "store: choose a new directory",
        target));
  }
  internal::EngineReader engine;
  AGENTLOG_RETURN_IF_ERROR(engine.Open(backup_dir));
  AGENTLOG_RETURN_IF_ERROR(internal::MakePrivateDirectory(target));
  const std::string context =
      fmt::format("restore backup {} of '{}' into '{}'",
                  id ? std::to_string(*id) : "latest", engine.dir(), target);
  const rocksdb::IOStatus s =
      id ? engine->RestoreDBFromBackup(*id, target, target)
         : engine->RestoreDBFromLatestBackup(target, target);
  if (!s.ok()) {
    // Leave no half-restored store behind to be mistaken for a whole one.
    fs::remove_all(target, ec);
  }
  return internal::FromRocksDB(s, context);
}

}  // namespace agentlog
