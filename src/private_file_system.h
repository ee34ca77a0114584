#ifndef AGENTLOG_SRC_PRIVATE_FILE_SYSTEM_H_
#define AGENTLOG_SRC_PRIVATE_FILE_SYSTEM_H_

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>

namespace agentlog::internal {

// An Env whose file system gives every file RocksDB creates mode 0600, so a
// store's contents (conversations, costs) are readable by its owner only.
// Scoped to one store: unlike Env::SetAllowNonOwnerAccess it changes nothing
// for other users of RocksDB in the host process. Files are reached through
// `base`.
std::unique_ptr<rocksdb::Env> NewPrivateEnv(
    std::shared_ptr<rocksdb::FileSystem> base =
        rocksdb::FileSystem::Default());

// Sets mode 0600 on every regular file in `dir`. RocksDB creates its LOCK
// and info LOG outside the FileSystem hooks (and renames old LOGs), so Open
// runs this once after the DB is up; the 0700 directory keeps others out in
// between. Returns false when a chmod failed.
bool RestrictFilesIn(const std::string& dir);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_PRIVATE_FILE_SYSTEM_H_
