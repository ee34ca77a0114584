#include "private_file_system.h"

#include <rocksdb/file_system.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

namespace agentlog::internal {
namespace {

constexpr mode_t kFileMode = 0600;

class PrivateFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit PrivateFileSystem(std::shared_ptr<rocksdb::FileSystem> target)
      : FileSystemWrapper(std::move(target)) {}

  const char* Name() const override { return "AgentlogPrivateFileSystem"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Restrict(fname,
                    target()->NewWritableFile(fname, options, result, dbg));
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Restrict(fname,
                    target()->ReopenWritableFile(fname, options, result, dbg));
  }

  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Restrict(fname, target()->ReuseWritableFile(fname, old_fname,
                                                       options, result, dbg));
  }

  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return Restrict(fname,
                    target()->NewRandomRWFile(fname, options, result, dbg));
  }

 private:
  // chmod by name right after creation: the descriptor is buried in the
  // POSIX file object, and no other process can open the file in between
  // because the store directory itself is 0700.
  static rocksdb::IOStatus Restrict(const std::string& fname,
                                    rocksdb::IOStatus s) {
    if (s.ok() && ::chmod(fname.c_str(), kFileMode) != 0) {
      return rocksdb::IOStatus::IOError("chmod 0600", fname);
    }
    return s;
  }
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewPrivateEnv(
    std::shared_ptr<rocksdb::FileSystem> base) {
  return rocksdb::NewCompositeEnv(
      std::make_shared<PrivateFileSystem>(std::move(base)));
}

bool RestrictFilesIn(const std::string& dir) {
  std::error_code ec;
  bool ok = true;
  // increment(ec), not a range-for, whose ++ throws on an error of the
  // listing.
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    // RocksDB's background threads may delete an obsolete file (an old WAL
    // or blob file) between the listing and the chmod: gone is fine.
    std::error_code vanished;  // Not an error of the listing.
    if (it->is_regular_file(vanished) &&
        ::chmod(it->path().c_str(), kFileMode) != 0 && errno != ENOENT) {
      ok = false;
    }
  }
  return ok && !ec;
}

}  // namespace agentlog::internal
