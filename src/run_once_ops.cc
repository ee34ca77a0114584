// Run-once keys of StoreImpl. A record in `run_once` says an operation ran:
// its expiry (u64 BE, first, where the expiry compaction filter reads it),
// when it was recorded (u64 BE) and the result bytes. Within this process,
// callers of one key are serialised while its operation runs; the store is
// held by one process at a time, so that is all the exclusion needed.

#include <fmt/format.h>

#include <condition_variable>
#include <exception>

#include "keys.h"
#include "rocksdb_status.h"
#include "status_macros.h"
#include "store_impl.h"
#include "validation.h"

namespace agentlog::internal {

// A key whose operation is running; callers of the same key wait for it.
struct StoreImpl::RunningOnce {
  bool done = false;   // Guarded by run_once_mu_.
  Status unrecorded;   // Set when done: the run's record could not be
                       // written. Guarded by run_once_mu_.
  std::condition_variable cv;
};

namespace {

constexpr size_t kRunOnceHeaderBytes = 16;

std::string EncodeRunOnce(const RunOnceOutcome& outcome) {
  std::string value;
  value.reserve(kRunOnceHeaderBytes + outcome.result.size());
  AppendU64(&value, static_cast<uint64_t>(outcome.expires_ms));
  AppendU64(&value, static_cast<uint64_t>(outcome.recorded_ms));
  value.append(outcome.result);
  return value;
}

}  // namespace

Result<RunOnceOutcome> StoreImpl::GetRunOnce(std::string_view key) {
  AGENTLOG_RETURN_IF_ERROR(ValidateRunOnceKey(options_, key));
  rocksdb::ColumnFamilyHandle* cf = handle(Cf::kRunOnce);
  auto not_found = [&] {
    return Status::NotFound(
        fmt::format("run-once key {} has no unexpired run", Hex(key)));
  };
  if (cf == nullptr) return not_found();
  rocksdb::PinnableSlice value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key), &value);
  if (s.IsNotFound()) return not_found();
  AGENTLOG_RETURN_IF_ERROR(FromRocksDB(s, "read run-once key " + Hex(key)));
  const std::string_view bytes = value.ToStringView();
  if (bytes.size() < kRunOnceHeaderBytes) {
    return Status::Corruption(fmt::format("run_once/{} is {} bytes", Hex(key),
                                          bytes.size()));
  }
  RunOnceOutcome outcome;
  outcome.expires_ms = static_cast<int64_t>(DecodeU64(bytes));
  outcome.recorded_ms = static_cast<int64_t>(DecodeU64(bytes.substr(8)));
  // Expired is gone, whether or not compaction has dropped it yet.
  if (outcome.expires_ms <= Now()) return not_found();
  outcome.result = std::string(bytes.substr(kRunOnceHeaderBytes));
  return outcome;
}

Result<RunOnceOutcome> StoreImpl::RunOnce(
    std::string_view key, std::chrono::milliseconds ttl,
    const std::function<Result<std::string>()>& operation,
    const WriteOptions& wo) {
  AGENTLOG_RETURN_IF_ERROR(CheckWritable());
  AGENTLOG_RETURN_IF_ERROR(ValidateRunOnceKey(options_, key));
  AGENTLOG_RETURN_IF_ERROR(ValidateRunOnceTtl(ttl));
  if (!operation) return Status::InvalidArgument("operation is empty");
  auto mine = std::make_shared<RunningOnce>();
  {
    std::unique_lock<std::mutex> lock(run_once_mu_);
    for (;;) {
      auto running = running_once_.find(key);
      if (running == running_once_.end()) break;
      std::shared_ptr<RunningOnce> other = running->second;
      other->cv.wait(lock, [&] { return other->done; });
      // The run we waited for happened but could not be recorded: report
      // that rather than run the operation a second time.
      if (!other->unrecorded.ok()) return other->unrecorded;
    }
    running_once_.emplace(std::string(key), mine);
  }
  // Whatever happens below, wake the waiters; they look again.
  Status unrecorded;
  struct Finish {
    StoreImpl* store;
    std::string_view key;
    RunningOnce* mine;
    Status* unrecorded;
    ~Finish() {
      std::lock_guard<std::mutex> lock(store->run_once_mu_);
      mine->done = true;
      mine->unrecorded = std::move(*unrecorded);
      store->running_once_.erase(store->running_once_.find(key));
      mine->cv.notify_all();
    }
  } finish{this, key, mine.get(), &unrecorded};

  // The key is ours: read outside the lock whether a run is on record.
  Result<RunOnceOutcome> recorded = GetRunOnce(key);
  if (recorded.ok()) AGENTLOG_RETURN_IF_ERROR(MakeReplayDurable(wo));
  if (recorded.ok() || !recorded.status().IsNotFound()) return recorded;

  // The host's code must not throw through agentlog's API, nor leave the
  // key marked running for ever.
  Result<std::string> result = Status::FailedPrecondition("not run");
  try {
    result = operation();
  } catch (const std::exception& e) {
    return Status::FailedPrecondition(fmt::format(
        "the operation of run-once key {} threw: {}", Hex(key), e.what()));
  } catch (...) {
    return Status::FailedPrecondition(fmt::format(
        "the operation of run-once key {} threw", Hex(key)));
  }
  if (!result.ok()) return result.status();  // The next caller runs it.
  if (result->size() > options_.max_run_once_result_bytes) {
    unrecorded = Status::InvalidArgument(fmt::format(
        "the result of run-once key {} is {} bytes; limit is {} "
        "(Options::max_run_once_result_bytes); the operation ran, but "
        "nothing is recorded",
        Hex(key), result->size(), options_.max_run_once_result_bytes));
    return Status(unrecorded);  // A copy: Finish hands it on.
  }
  RunOnceOutcome outcome;
  outcome.ran = true;
  outcome.recorded_ms = Now();
  outcome.expires_ms = outcome.recorded_ms + ttl.count();
  outcome.result = std::move(result).value();
  rocksdb::WriteBatch batch;
  unrecorded = FromRocksDB(
      batch.Put(handle(Cf::kRunOnce), rocksdb::Slice(key),
                EncodeRunOnce(outcome)),
      "batch run-once key");
  if (unrecorded.ok()) {
    unrecorded = FromRocksDB(WriteRaw(&batch, wo),
                             "record run-once key " + Hex(key));
  }
  if (!unrecorded.ok()) return Status(unrecorded);  // A copy: Finish hands it on.
  return outcome;
}

}  // namespace agentlog::internal
