#include "column_families.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <string>
#include <utility>

#include "keys.h"
#include "usage_totals.h"

namespace agentlog::internal {

std::optional<Cf> CfFromName(std::string_view name) {
  for (size_t i = 0; i < kCfNames.size(); ++i) {
    if (kCfNames[i] == name) return static_cast<Cf>(i);
  }
  return std::nullopt;
}

namespace {

// Memtable Bloom filters, as a fraction of the write buffer: 0.02 of the
// default 32 MiB is about 12 bits a key when a memtable is full of the
// small entries that take one (about 75 bytes each in `idempotency` and
// `usage_ids`), under 1% false positives. A larger filter only spreads each
// probe over more memory the caches cannot hold.
constexpr double kMemtableBloomRatio = 0.02;

// The prefix a memtable insert hint is kept per: the first `bytes` of the
// key, once `on` is set; before, no key is in its domain and RocksDB
// inserts without a hint.
class InsertHintPrefix final : public rocksdb::SliceTransform {
 public:
  InsertHintPrefix(size_t bytes, std::shared_ptr<const InsertHintsOn> on)
      : bytes_(bytes),
        name_("agentlog.InsertHintPrefix." + std::to_string(bytes)),
        on_(std::move(on)) {}

  const char* Name() const override { return name_.c_str(); }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), bytes_);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= bytes_ && on_->load(std::memory_order_relaxed);
  }

 private:
  const size_t bytes_;
  const std::string name_;
  const std::shared_ptr<const InsertHintsOn> on_;
};

}  // namespace

rocksdb::ColumnFamilyOptions ColumnFamilyOptionsFor(
    Cf cf, const Options& options, const std::shared_ptr<rocksdb::Cache>& cache,
    std::shared_ptr<rocksdb::CompactionFilterFactory> retention,
    std::shared_ptr<const InsertHintsOn> hints_on) {
  // Memtable insert hints kept per the first `bytes` of the key, if the
  // store gave a switch for them.
  auto hint_per =
      [&](size_t bytes) -> std::shared_ptr<const rocksdb::SliceTransform> {
    if (hints_on == nullptr) return nullptr;
    return std::make_shared<InsertHintPrefix>(bytes, hints_on);
  };
  rocksdb::ColumnFamilyOptions cfo;
  cfo.write_buffer_size = options.write_buffer_bytes;
  // Turn bodies are text and compress well; keys and small records too.
  cfo.compression = rocksdb::kLZ4Compression;
  cfo.bottommost_compression = rocksdb::kZSTD;
  if (retention != nullptr) {
    cfo.compaction_filter_factory = std::move(retention);
    // Cold files would otherwise keep what retention dropped until
    // something else compacts them.
    cfo.periodic_compaction_seconds =
        static_cast<uint64_t>(options.retention_compaction_period.count());
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));

  switch (cf) {
    case Cf::kUsage:
      // A session's usage records are numbered 1, 2, 3...: each one goes
      // right after the session's previous one, and the hint saves the
      // search from the top of the skip list (a cache miss per level) on
      // the usage path. No range deletions in this family: see kSessions.
      cfo.memtable_insert_with_hint_prefix_extractor =
          hint_per(kSessionPrefixBytes);
      // Read by scans of a session and, for a duplicate message id, one
      // point read: no memtable Bloom filter, which every record would
      // otherwise pay for on the usage path.
      cfo.prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(kSessionPrefixBytes));
      table.whole_key_filtering = true;
      break;
    case Cf::kTurns:
    case Cf::kIdempotency:
    case Cf::kInputs:
    case Cf::kCheckpoints:
      // Every per-session key starts with the session id: a prefix Bloom
      // filter in each file makes "everything of one session" a cheap
      // bounded scan.
      cfo.prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(kSessionPrefixBytes));
      table.whole_key_filtering = true;
      if (cf == Cf::kIdempotency) {
        // Every append with a key looks it up first, and almost always
        // misses: a memtable Bloom filter answers that without a search of
        // the skip list. The other three go without one: their point reads
        // mostly hit (a session's recent turns are in the memtable), and
        // the filter cost every insert a write to a random line of it
        // (about 4% of an append, docs/benchmarks.md).
        cfo.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
        cfo.memtable_whole_key_filtering = true;
      }
      break;
    case Cf::kSessions:
      // Every write to a session rewrites its record: inserting next to
      // the record's previous version skips the search from the top of the
      // memtable's skip list. Never with range deletions: RocksDB 7.8
      // shares a memtable's hints between its point and range-deletion
      // skip lists (facebook/rocksdb#5118, fixed upstream in #12558), which
      // is why the per-session families where DeleteSession or ClearTurns
      // delete ranges go without; `usage` is deleted key by key instead
      // (and WALs from before that are replayed with hints off:
      // InsertHintsOn).
      cfo.memtable_insert_with_hint_prefix_extractor =
          hint_per(kSessionPrefixBytes);
      // Every open reads this family whole (the recovery scan): LZ4 at the
      // bottom too, since ZSTD's slower decompression was a fifth of the
      // scan at 10^6 sessions, for about 50 more bytes a session on disk.
      cfo.bottommost_compression = rocksdb::kLZ4Compression;
      break;
    case Cf::kUsageIds:
      // Every usage record with a message id looks it up first, and almost
      // always misses: the memtable's Bloom filter answers that without a
      // search of the skip list.
      cfo.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
      // Ids arrive in batches in key order (usage_buffer.h): one hint for
      // the whole family (an empty prefix) lets each insert start from
      // where the one before it ended rather than from the top of the skip
      // list. Never range-deleted (see kSessions).
      cfo.memtable_insert_with_hint_prefix_extractor = hint_per(0);
      cfo.memtable_whole_key_filtering = true;
      table.whole_key_filtering = true;
      break;
    case Cf::kCheckpointData:
      // Payloads are compressed once, by agentlog (so that the checksum
      // covers what the host gave): RocksDB must not compress them again.
      // Large ones live in blob files, which compaction moves without
      // rewriting; only point reads touch this family.
      cfo.compression = rocksdb::kNoCompression;
      cfo.bottommost_compression = rocksdb::kDisableCompressionOption;
      cfo.enable_blob_files = true;
      cfo.min_blob_size = kMinBlobBytes;
      cfo.blob_compression_type = rocksdb::kNoCompression;
      // A blob file's space comes back only when every blob in it is
      // garbage. Files of at most 64 MiB, and garbage collection that
      // relocates the live blobs out of the oldest quarter of the files
      // (forced once half their bytes are garbage), bound the space pruned
      // versions keep.
      cfo.blob_file_size = 64 << 20;
      cfo.enable_blob_garbage_collection = true;
      cfo.blob_garbage_collection_age_cutoff = 0.25;
      cfo.blob_garbage_collection_force_threshold = 0.5;
      table.whole_key_filtering = true;
      break;
    case Cf::kUsageTotals:
      // Totals are only ever merged on the write path (usage_totals.h),
      // a row at a time by each flush of the totals buffer. Folding a row's
      // operands in the memtable every 8 keeps a read of it a bounded number
      // of operands however many flushes came since the memtable's own. The
      // bound is small because RocksDB counts a row's operands by walking
      // them on every merge: the bound is also what each merge walks. A fold
      // is a full Get inside the write group (RocksDB 7.8), so about one
      // row in eight of a flush may read an SST file while writers wait.
      cfo.merge_operator = NewTotalsMergeOperator();
      cfo.max_successive_merges = 8;
      break;
    default:
      break;
  }
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cfo;
}

rocksdb::DBOptions DbOptionsFor(const Options& options) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = options.background_jobs;
  dbo.bytes_per_sync = 1 << 20;
  // A crash mid-append leaves a torn WAL tail: replay up to it, and refuse
  // (Corruption) only when damage is followed by valid records.
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  dbo.keep_log_file_num = 4;
  // Open flushes what WAL replay recovered before it returns, so retention
  // decisions found at open are durable (store_open.cc relies on it).
  dbo.avoid_flush_during_recovery = false;
  // No WAL recycling (recycle_log_file_num): RocksDB 7.8 turns it off under
  // kPointInTimeRecovery anyway, since a recycled file's stale tail could
  // pass for records after a crash.
  return dbo;
}

}  // namespace agentlog::internal
