#ifndef AGENTLOG_SRC_ROCKSDB_STATUS_H_
#define AGENTLOG_SRC_ROCKSDB_STATUS_H_

#include <rocksdb/status.h>

#include <string_view>

#include "agentlog/status.h"

namespace agentlog::internal {

// Converts a RocksDB status at the boundary. `context` says what was being
// done ("write session 01H...", "open /var/lib/agentlog") and starts the
// message.
Status FromRocksDB(const rocksdb::Status& s, std::string_view context);

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_ROCKSDB_STATUS_H_
