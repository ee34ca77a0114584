// PrometheusText: StoreMetrics in the Prometheus text exposition format.

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "agentlog/metrics.h"

namespace agentlog {
namespace {

class Exposition {
 public:
  // Starts a metric family: its HELP and TYPE lines.
  Exposition& Family(std::string_view name, std::string_view type,
                     std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP agentlog_{} {}\n", name,
                   help);
    fmt::format_to(std::back_inserter(out_), "# TYPE agentlog_{} {}\n", name,
                   type);
    name_ = name;
    return *this;
  }
  // A sample of the current family, with an optional single label.
  template <typename T>
  Exposition& Sample(T value, std::string_view label = {},
                     std::string_view label_value = {}) {
    if (label.empty()) {
      fmt::format_to(std::back_inserter(out_), "agentlog_{} {}\n", name_,
                     value);
    } else {
      // Label values here are column-family, status and part names: never
      // a quote, backslash or newline to escape.
      fmt::format_to(std::back_inserter(out_), "agentlog_{}{{{}=\"{}\"}} {}\n",
                     name_, label, label_value, value);
    }
    return *this;
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  std::string_view name_;
};

}  // namespace

std::string PrometheusText(const StoreMetrics& m) {
  const SessionLifecycle& l = m.lifecycle;
  Exposition e;
  e.Family("sessions_created_total", "counter", "Sessions created.")
      .Sample(l.created);
  e.Family("sessions_evicted_total", "counter",
           "Sessions evicted by max_sessions or evict_inactive_after.")
      .Sample(l.evicted);
  e.Family("session_handles_released_total", "counter",
           "Session handles released, by outcome.")
      .Sample(l.completed, "outcome", "completed")
      .Sample(l.failed, "outcome", "failed")
      .Sample(l.timed_out, "outcome", "timed_out");
  e.Family("session_handles_rejected_total", "counter",
           "Session handles refused for max_active_sessions.")
      .Sample(l.rejected_for_capacity);
  e.Family("sessions_rejected_for_metadata_total", "counter",
           "Creations and updates refused for max_metadata_bytes.")
      .Sample(l.rejected_for_metadata_size);
  e.Family("session_handles_active", "gauge", "Session handles held now.")
      .Sample(l.active);
  e.Family("session_handles_peak", "gauge",
           "The most session handles held at once.")
      .Sample(l.peak_active);
  e.Family("session_handle_held_milliseconds_total", "counter",
           "Time released handles were held, by the store's clock.")
      .Sample(l.held_ms_total);
  e.Family("session_metadata_bytes", "gauge",
           "Metadata bytes of every session in the store.")
      .Sample(l.metadata_bytes);
  e.Family("sessions", "gauge", "Live sessions, by status.")
      .Sample(m.sessions_active, "status", "active")
      .Sample(m.sessions_idle, "status", "idle")
      .Sample(m.sessions_archived, "status", "archived");
  e.Family("memory_bytes", "gauge", "Memory held, by part.")
      .Sample(m.memory.block_cache, "part", "block_cache")
      .Sample(m.memory.memtables, "part", "memtables")
      .Sample(m.memory.table_readers, "part", "table_readers")
      .Sample(m.memory.session_index, "part", "session_index")
      .Sample(m.memory.other, "part", "other");
  e.Family("memory_budget_bytes", "gauge",
           "Options::memory_budget_bytes; 0: no budget.")
      .Sample(m.memory.budget);
  e.Family("memory_threshold_bytes", "gauge",
           "The memory budget's thresholds, by level.")
      .Sample(m.memory.warning_bytes, "level", "warning")
      .Sample(m.memory.emergency_bytes, "level", "emergency");
  e.Family("memory_limit_bytes", "gauge",
           "How the budget was split: the block cache's capacity, memtables "
           "included, and the memtables' limit within it.")
      .Sample(m.memory.block_cache_capacity, "part", "block_cache")
      .Sample(m.memory.memtable_limit, "part", "memtables");
  e.Family("memory_level", "gauge",
           "0 below the warning threshold, 1 warning, 2 emergency.")
      .Sample(static_cast<int>(m.memory.level));
  e.Family("memory_threshold_crossings_total", "counter",
           "Rises of memory use to a threshold, by level.")
      .Sample(m.memory_warnings, "level", "warning")
      .Sample(m.memory_emergencies, "level", "emergency");
  e.Family("retention_decisions", "gauge",
           "Sessions with a retention decision the filters act on.")
      .Sample(m.retention_decisions);
  e.Family("retention_decisions_pending", "gauge",
           "Retention decisions awaiting a WAL sync.")
      .Sample(m.retention_decisions_pending);
  struct PerFamily {
    const char* name;
    const char* type;
    const char* help;
    uint64_t ColumnFamilyInfo::*field;
  };
  static constexpr PerFamily kPerFamily[] = {
      {"column_family_estimated_keys", "gauge", "RocksDB's estimate of keys.",
       &ColumnFamilyInfo::estimated_keys},
      {"column_family_sst_bytes", "gauge", "Bytes of live SST files.",
       &ColumnFamilyInfo::sst_bytes},
      {"column_family_blob_bytes", "gauge", "Bytes of live blob files.",
       &ColumnFamilyInfo::blob_bytes},
      {"column_family_memtable_bytes", "gauge",
       "Bytes of active and immutable memtables.",
       &ColumnFamilyInfo::memtable_bytes},
      {"column_family_retention_dropped_total", "counter",
       "Records retention's compaction filters dropped.",
       &ColumnFamilyInfo::retention_dropped},
  };
  for (const PerFamily& f : kPerFamily) {
    e.Family(f.name, f.type, f.help);
    for (const ColumnFamilyInfo& cf : m.column_families) {
      e.Sample(cf.*f.field, "cf", cf.name);
    }
  }
  return e.Take();
}

}  // namespace agentlog
