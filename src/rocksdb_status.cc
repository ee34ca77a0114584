#include "rocksdb_status.h"

#include <fmt/format.h>

namespace agentlog::internal {

Status FromRocksDB(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::OK();
  std::string message = fmt::format("{}: {}", context, s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return Status::NotFound(std::move(message));
    case rocksdb::Status::kCorruption:
      return Status::Corruption(std::move(message));
    case rocksdb::Status::kInvalidArgument:
    case rocksdb::Status::kNotSupported:
      return Status::InvalidArgument(std::move(message));
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
      return Status::Busy(std::move(message));
    case rocksdb::Status::kShutdownInProgress:
      return Status::ShuttingDown(std::move(message));
    case rocksdb::Status::kIOError:
      // RocksDB reports a LOCK held by another process as an IOError.
      if (s.ToString().find("lock") != std::string::npos) {
        return Status::Busy(std::move(message));
      }
      return Status::IOError(std::move(message));
    default:
      return Status::IOError(std::move(message));
  }
}

}  // namespace agentlog::internal
