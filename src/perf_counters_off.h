#ifndef AGENTLOG_SRC_PERF_COUNTERS_OFF_H_
#define AGENTLOG_SRC_PERF_COUNTERS_OFF_H_

#include <rocksdb/perf_level.h>

namespace agentlog::internal {

// Turns RocksDB's per-thread perf counting off for the scope, and back to
// the thread's previous level after.
//
// RocksDB counts every key comparison of a thread in its PerfContext unless
// told not to (PerfLevel::kEnableCount is the default). In Debian's shared
// librocksdb a count is two calls to __tls_get_addr and one to the context's
// TLS init function; a memtable insert compares a key a dozen times or more,
// and on the turn path that was about a tenth of the instructions
// (docs/benchmarks.md). agentlog reads no PerfContext, so its write paths
// run with counting off. A host that reads its own threads' PerfContext
// sees its own RocksDB calls counted as before, and agentlog's not at all.
class PerfCountersOff {
 public:
  PerfCountersOff() : was_(rocksdb::GetPerfLevel()) {
    if (was_ != rocksdb::PerfLevel::kDisable) {
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    }
  }
  ~PerfCountersOff() {
    if (was_ != rocksdb::PerfLevel::kDisable) rocksdb::SetPerfLevel(was_);
  }
  PerfCountersOff(const PerfCountersOff&) = delete;
  PerfCountersOff& operator=(const PerfCountersOff&) = delete;

 private:
  const rocksdb::PerfLevel was_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_PERF_COUNTERS_OFF_H_
